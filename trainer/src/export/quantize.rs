//! Post-training quantization of the folded layers: symmetric int8 weights rounded by GPTQ
//! ([`super::gptq`]), u8 activations with scales calibrated on training rows, and each
//! layer's mean rounding error on those rows moved into its bias.

use nalgebra::DMatrix;

use super::gptq::{gptq_round, matrix};
use super::{Dense, ExportError};

/// One layer of the int8 model: `y = (a_u8 . W_i8) * multiplier + bias`, with `a_u8` the
/// layer input quantized at `input_scale` (zero point 0).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantDense {
    pub d_in: usize,
    pub d_out: usize,
    /// Row-major `[d_in, d_out]`, symmetric (-127..=127).
    pub weight: Vec<i8>,
    /// One weight scale per output column: a column of small weights keeps its resolution
    /// beside a column of large ones (per-tensor scales flipped 0.1% more code bits of the
    /// photo hash).
    pub weight_scale: Vec<f32>,
    /// Scale of this layer's u8 input.
    pub input_scale: f32,
    /// `input_scale * weight_scale[j]` per output.
    pub multiplier: Vec<f32>,
    /// Bias in the output domain (for the first layer it also holds the `-1` of the scaling).
    pub bias: Vec<f32>,
    pub relu: bool,
}

/// One symmetric int8 scale per column of a row-major `[d_in, d_out]` matrix: its largest
/// magnitude maps to 127.
fn column_scales(w: &[f32], d_out: usize) -> Vec<f32> {
    let mut max = vec![0f32; d_out];
    for row in w.chunks_exact(d_out) {
        max.iter_mut()
            .zip(row)
            .for_each(|(m, v)| *m = m.max(v.abs()));
    }
    max.iter()
        .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 })
        .collect()
}

/// Widest layer input GPTQ rounds: it factors a `d_in x d_in` matrix (cubic time, on one
/// thread: a 16384-wide layer took over 7 minutes); wider layers round each weight to its
/// nearest step.
pub const GPTQ_MAX_INPUTS: usize = 4096;

/// Each weight's nearest int8 step at its column's scale (row-major `[d_in, d_out]`).
fn nearest_steps(w: &[f32], scale: &[f32]) -> Vec<i8> {
    w.chunks_exact(scale.len())
        .flat_map(|row| {
            row.iter()
                .zip(scale)
                .map(|(v, s)| (v / s).round().clamp(-127.0, 127.0) as i8)
        })
        .collect()
}

/// Quantize folded layers. `calibration` holds `n` scaled rows (x/128 - 1); each hidden
/// activation gets the scale `max / 255` over those rows. Layer by layer, the weights are
/// rounded by GPTQ on the inputs the int8 model gives that layer (the earlier layers already
/// quantized), and the mean difference between the f32 and the int8 layer's outputs on the
/// calibration rows is added to the bias (bias correction: rounding errors that do not
/// cancel move every output the same way).
pub fn quantize_layers(
    layers: &[Dense],
    calibration: &[f32],
    n: usize,
) -> Result<Vec<QuantDense>, ExportError> {
    let Some(first) = layers.first() else {
        return Err(ExportError::Invalid("the model has no layers".into()));
    };
    if n == 0 || calibration.len() < n * first.d_in {
        return Err(ExportError::Invalid(format!(
            "calibration needs at least one row of {} values",
            first.d_in
        )));
    }
    // The current layer's inputs on the calibration rows: in the f32 model, and in the int8
    // model (the pixels enter both exactly).
    let mut float_in = matrix(calibration, n, first.d_in);
    let mut quant_in = float_in.clone();
    // Pixels p enter as u8 exactly: x = p/128 - 1.
    let mut input_scale = 1.0 / 128.0;
    let mut out = Vec::with_capacity(layers.len());
    for (i, l) in layers.iter().enumerate() {
        let weight_scale = column_scales(&l.weight, l.d_out);
        let w = matrix(&l.weight, l.d_in, l.d_out);
        let weight = if l.d_in <= GPTQ_MAX_INPUTS {
            gptq_round(&w, &weight_scale, &quant_in)?
        } else {
            nearest_steps(&l.weight, &weight_scale)
        };
        let dequantized = DMatrix::from_fn(l.d_in, l.d_out, |k, j| {
            weight[k * l.d_out + j] as f64 * weight_scale[j] as f64
        });
        let mut float_out = &float_in * &w;
        let mut quant_out = &quant_in * &dequantized;
        let bias: Vec<f64> = (0..l.d_out)
            .map(|j| {
                let shift = (float_out.column(j).sum() - quant_out.column(j).sum()) / n as f64;
                l.bias[j] as f64 + shift
            })
            .collect();
        for (j, (&f, &q)) in l.bias.iter().zip(&bias).enumerate() {
            float_out.column_mut(j).add_scalar_mut(f as f64);
            quant_out.column_mut(j).add_scalar_mut(q);
        }
        out.push(QuantDense {
            d_in: l.d_in,
            d_out: l.d_out,
            multiplier: weight_scale.iter().map(|s| input_scale * s).collect(),
            bias: if i == 0 {
                // x.Wq*s = (s/128) p.Wq - s colsum(Wq): fold the second term into the bias.
                (0..l.d_out)
                    .map(|j| {
                        let colsum: i64 = (0..l.d_in).map(|k| weight[k * l.d_out + j] as i64).sum();
                        (bias[j] - weight_scale[j] as f64 * colsum as f64) as f32
                    })
                    .collect()
            } else {
                bias.iter().map(|&b| b as f32).collect()
            },
            weight,
            weight_scale,
            input_scale,
            relu: l.relu,
        });
        if i + 1 < layers.len() {
            if l.relu {
                float_out.apply(|v| *v = v.max(0.0));
            }
            let max = float_out.max();
            input_scale = if max > 0.0 && max.is_finite() {
                (max / 255.0) as f32
            } else {
                1.0
            };
            // As the int8 model hands it on: QuantizeLinear to u8 (which also does the ReLU).
            let s = input_scale as f64;
            quant_out.apply(|v| *v = (*v / s).round().clamp(0.0, 255.0) * s);
            float_in = float_out;
            quant_in = quant_out;
        }
    }
    Ok(out)
}
