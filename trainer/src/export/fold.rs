//! The encoder as plain dense layers: BatchNorm and the convolutional front end folded in,
//! so that both ONNX models and the quantizer see one kind of layer.

use crate::backend::host_values;
use crate::model::Encoder;

/// One dense layer of the folded network, `y = x W + b` (then ReLU when `relu`).
/// `weight` is row-major `[d_in, d_out]`, as burn's Linear.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    pub d_in: usize,
    pub d_out: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub relu: bool,
}

/// The encoder as plain dense layers on *scaled* inputs (x/128 - 1), a convolutional front
/// end written as a dense layer and its pooling folded into the next one
/// ([`crate::conv::ConvFront::toeplitz`]), every BatchNorm folded into its Linear with the
/// running statistics:
/// `W'[:, j] = W[:, j] a_j`, `b'_j = (b_j - mean_j) a_j + beta_j`, `a_j = gamma_j / sqrt(var_j + eps)`.
pub fn fold_layers(model: &Encoder) -> Vec<Dense> {
    let linear = |l: &burn::nn::Linear| {
        let [d_in, d_out] = l.weight.shape().dims::<2>();
        let weight = host_values(l.weight.val());
        let bias = l
            .bias
            .as_ref()
            .map(|b| host_values(b.val()))
            .unwrap_or_else(|| vec![0.0; d_out]);
        (d_in, d_out, weight, bias)
    };
    let mut out = Vec::new();
    for (layer, bn) in model.hidden.iter().zip(&model.norms) {
        let (d_in, d_out, w, b) = linear(layer);
        let gamma = host_values(bn.gamma.val());
        let beta = host_values(bn.beta.val());
        let mean = host_values(bn.running_mean.value());
        let var = host_values(bn.running_var.value());
        let a: Vec<f64> = (0..d_out)
            .map(|j| gamma[j] as f64 / (var[j] as f64 + bn.epsilon).sqrt())
            .collect();
        let weight = w
            .chunks_exact(d_out)
            .flat_map(|row| row.iter().zip(&a).map(|(&v, &s)| (v as f64 * s) as f32))
            .collect();
        let bias = (0..d_out)
            .map(|j| ((b[j] as f64 - mean[j] as f64) * a[j] + beta[j] as f64) as f32)
            .collect();
        out.push(Dense {
            d_in,
            d_out,
            weight,
            bias,
            relu: true,
        });
    }
    let (d_in, d_out, weight, bias) = linear(&model.output);
    out.push(Dense {
        d_in,
        d_out,
        weight,
        bias,
        relu: false,
    });
    if let Some(front) = &model.conv {
        // The pooling moves into the layer after it, and the convolution goes first.
        front.fold_next(&mut out[0]);
        out.insert(0, front.toeplitz());
    }
    out
}

/// Run folded layers on `n` scaled rows in f32 (reference and calibration).
/// Returns the output of every layer (after ReLU for hidden layers).
pub fn forward_layers(layers: &[Dense], x: &[f32], n: usize) -> Vec<Vec<f32>> {
    let mut outs: Vec<Vec<f32>> = Vec::with_capacity(layers.len());
    for (i, l) in layers.iter().enumerate() {
        let input = if i == 0 { x } else { &outs[i - 1][..] };
        let mut y = Vec::with_capacity(n * l.d_out);
        for row in input.chunks_exact(l.d_in).take(n) {
            let mut acc = l.bias.clone();
            for (&v, w) in row.iter().zip(l.weight.chunks_exact(l.d_out)) {
                if v != 0.0 {
                    acc.iter_mut().zip(w).for_each(|(a, &w)| *a += v * w);
                }
            }
            if l.relu {
                acc.iter_mut().for_each(|a| *a = a.max(0.0));
            }
            y.extend(acc);
        }
        outs.push(y);
    }
    outs
}
