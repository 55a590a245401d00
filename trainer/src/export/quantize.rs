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
    /// Per-tensor weight scale.
    pub weight_scale: f32,
    /// Scale of this layer's u8 input.
    pub input_scale: f32,
    /// `input_scale * weight_scale`.
    pub multiplier: f32,
    /// Bias in the output domain (for the first layer it also holds the `-1` of the scaling).
    pub bias: Vec<f32>,
    pub relu: bool,
}

fn symmetric_i8(w: &[f32]) -> (Vec<i8>, f32) {
    let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let q = w
        .iter()
        .map(|&v| (v / scale).round().clamp(-127.0, 127.0) as i8)
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
        let (weight, weight_scale) = symmetric_i8(&l.weight);
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
                .map(|(&b, &c)| (b as f64 - weight_scale as f64 * c as f64) as f32)
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
        out.push(QuantDense {
            d_in: l.d_in,
            d_out: l.d_out,
            weight,
            weight_scale,
            input_scale,
            multiplier: input_scale * weight_scale,
            bias,
            relu: l.relu,
        });
    }
    Ok(out)
}
