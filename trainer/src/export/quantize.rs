//! Post-training quantization of the folded layers: symmetric int8 weights, u8 activations
//! with scales calibrated on training rows.

use super::{Dense, ExportError, forward_layers};

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

/// Symmetric int8 weights of a row-major `[d_in, d_out]` matrix, one scale per column.
fn symmetric_i8_columns(w: &[f32], d_out: usize) -> (Vec<i8>, Vec<f32>) {
    let mut max = vec![0f32; d_out];
    for row in w.chunks_exact(d_out) {
        max.iter_mut()
            .zip(row)
            .for_each(|(m, v)| *m = m.max(v.abs()));
    }
    let scale: Vec<f32> = max
        .iter()
        .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 })
        .collect();
    let q = w
        .chunks_exact(d_out)
        .flat_map(|row| {
            row.iter()
                .zip(&scale)
                .map(|(&v, &s)| (v / s).round().clamp(-127.0, 127.0) as i8)
        })
        .collect();
    (q, scale)
}

/// Quantize folded layers. `calibration` holds `n` scaled rows (x/128 - 1); each hidden
/// activation gets the scale `max / 255` over those rows.
pub fn quantize_layers(
    layers: &[Dense],
    calibration: &[f32],
    n: usize,
) -> Result<Vec<QuantDense>, ExportError> {
    if layers.is_empty() {
        return Err(ExportError::Invalid("the model has no layers".into()));
    }
    if n == 0 || calibration.len() < n * layers[0].d_in {
        return Err(ExportError::Invalid(format!(
            "calibration needs at least one row of {} values",
            layers[0].d_in
        )));
    }
    let acts = forward_layers(&layers[..layers.len() - 1], calibration, n);
    let mut out = Vec::with_capacity(layers.len());
    for (i, l) in layers.iter().enumerate() {
        let (weight, weight_scale) = symmetric_i8_columns(&l.weight, l.d_out);
        let (input_scale, bias) = if i == 0 {
            // Pixels p enter as u8 exactly: x = p/128 - 1, so
            // x.Wq*s = (s/128) p.Wq - s colsum(Wq): fold the second term into the bias.
            let mut colsum = vec![0i64; l.d_out];
            for row in weight.chunks_exact(l.d_out) {
                colsum
                    .iter_mut()
                    .zip(row)
                    .for_each(|(c, &w)| *c += w as i64);
            }
            let bias = l
                .bias
                .iter()
                .zip(&colsum)
                .zip(&weight_scale)
                .map(|((&b, &c), &s)| (b as f64 - s as f64 * c as f64) as f32)
                .collect();
            (1.0 / 128.0, bias)
        } else {
            let max = acts[i - 1].iter().fold(0f32, |m, &v| m.max(v));
            let scale = if max > 0.0 && max.is_finite() {
                max / 255.0
            } else {
                1.0
            };
            (scale, l.bias.clone())
        };
        let multiplier = weight_scale.iter().map(|s| input_scale * s).collect();
        out.push(QuantDense {
            d_in: l.d_in,
            d_out: l.d_out,
            weight,
            weight_scale,
            input_scale,
            multiplier,
            bias,
            relu: l.relu,
        });
    }
    Ok(out)
}
