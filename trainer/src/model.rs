//! The encoder network: an MLP `d - h1 - ... - out` with BatchNorm + ReLU after each hidden
//! Linear, as in the IMSAT reference code, optionally behind a convolutional front end
//! ([`crate::conv`], photo hashes).

use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor, activation::relu};

use crate::conv::{ConvFront, ConvSpec};

/// BatchNorm epsilon, shared by training and export (BN folding must use the same value).
pub const BN_EPSILON: f64 = 1e-5;

/// How BatchNorm normalizes in a forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    /// Batch statistics, and the running statistics are updated (the clean training pass).
    /// On a model from `.valid()` this uses the running statistics instead.
    Train,
    /// Batch statistics without touching the running statistics (perturbed SAT passes).
    BatchOnly,
}

#[derive(Module, Debug)]
pub struct Encoder {
    /// Convolution, ReLU and pooling before the hidden layers (photo hashes), if any.
    pub conv: Option<ConvFront>,
    pub hidden: Vec<Linear>,
    pub norms: Vec<BatchNorm>,
    /// The output layer (K clusters or M bits).
    pub output: Linear,
    /// Candidate output layers trained beside `output` on the same hidden layers, each from
    /// its own random start; training keeps the one with the lowest loss as `output`, so a
    /// trained encoder has none.
    pub extra_heads: Vec<Linear>,
}

/// Reference init: weights N(0, variance s / fan_in), zero biases.
fn linear(d_in: usize, d_out: usize, s: f64, device: &Device) -> Linear {
    let mut layer = LinearConfig::new(d_in, d_out)
        .with_initializer(Initializer::Normal {
            mean: 0.0,
            std: (s / d_in as f64).sqrt(),
        })
        .init(device);
    layer.bias = Some(Initializer::Zeros.init([d_out], device));
    layer
}

impl Encoder {
    /// A fresh encoder `input - hidden... - output` initialised as the reference
    /// (s = 0.1 for hidden layers, s = 1e-4 for the output layer).
    pub fn new(input: usize, hidden: &[usize], output: usize, device: &Device) -> Self {
        Self::with_heads(input, hidden, output, 1, device)
    }

    /// Like [`Encoder::new`], with `heads` output layers (at least one).
    pub fn with_heads(
        input: usize,
        hidden: &[usize],
        output: usize,
        heads: usize,
        device: &Device,
    ) -> Self {
        Self::build(input, None, hidden, output, heads, device)
    }

    /// Like [`Encoder::with_heads`], behind a convolutional front end on `[planes, rows,
    /// cols]` inputs when `conv` is given (`input` is then their product).
    pub fn build(
        input: usize,
        conv: Option<(ConvSpec, [usize; 3])>,
        hidden: &[usize],
        output: usize,
        heads: usize,
        device: &Device,
    ) -> Self {
        let conv = conv.map(|(spec, shape)| ConvFront::new(spec, shape, device));
        let mut d_in = conv.as_ref().map_or(input, ConvFront::output_dim);
        let mut layers = Vec::new();
        let mut norms = Vec::new();
        for &h in hidden {
            layers.push(linear(d_in, h, 0.1, device));
            norms.push(
                BatchNormConfig::new(h)
                    .with_epsilon(BN_EPSILON)
                    .init(device),
            );
            d_in = h;
        }
        Encoder {
            conv,
            hidden: layers,
            norms,
            output: linear(d_in, output, 1e-4, device),
            extra_heads: (1..heads.max(1))
                .map(|_| linear(d_in, output, 1e-4, device))
                .collect(),
        }
    }

    /// Number of output layers (1 + extra heads).
    pub fn heads(&self) -> usize {
        1 + self.extra_heads.len()
    }

    /// The encoder with head `h` as its only output layer.
    pub(crate) fn keep_head(mut self, h: usize) -> Self {
        if h > 0 && h <= self.extra_heads.len() {
            self.output = self.extra_heads.swap_remove(h - 1);
        }
        self.extra_heads.clear();
        self
    }

    /// Input width (e.g. 784).
    pub fn input_dim(&self) -> usize {
        if let Some(c) = &self.conv {
            return c.input_dim();
        }
        let layer = self.hidden.first().unwrap_or(&self.output);
        layer.weight.shape().dims::<2>()[0]
    }

    /// Output width (K classes or M bits).
    pub fn output_dim(&self) -> usize {
        self.output.weight.shape().dims::<2>()[1]
    }

    /// Logits of the output layer for a batch of scaled inputs `[B, d]` (x/128 - 1).
    pub fn forward(&self, x: Tensor<2>, norm: Norm) -> Tensor<2> {
        self.output.forward(self.features(x, norm))
    }

    /// Logits of every head (the output layer first), sharing one pass through the hidden
    /// layers.
    pub fn forward_heads(&self, x: Tensor<2>, norm: Norm) -> Vec<Tensor<2>> {
        let h = self.features(x, norm);
        std::iter::once(&self.output)
            .chain(&self.extra_heads)
            .map(|head| head.forward(h.clone()))
            .collect()
    }

    /// The last hidden layer's activations.
    fn features(&self, x: Tensor<2>, norm: Norm) -> Tensor<2> {
        let mut h = match &self.conv {
            Some(c) => c.forward(x),
            None => x,
        };
        for (layer, bn) in self.hidden.iter().zip(&self.norms) {
            h = layer.forward(h);
            h = match norm {
                // On an inference model (`.valid()`): the running statistics.
                Norm::Train if !h.device().is_autodiff() => bn.forward(h),
                Norm::Train => {
                    let (out, mean, var) = batch_norm_2d(h, bn);
                    let m = bn.momentum;
                    let blend = |running: Tensor<1>, batch: Tensor<1>| {
                        running
                            .mul_scalar(1.0 - m)
                            .add(batch.detach().mul_scalar(m))
                            .detach()
                    };
                    bn.running_mean
                        .update(blend(bn.running_mean.value_sync(), mean));
                    bn.running_var
                        .update(blend(bn.running_var.value_sync(), var));
                    out
                }
                Norm::BatchOnly => batch_norm_2d(h, bn).0,
            };
            h = relu(h);
        }
        h
    }
}

/// BatchNorm of `[B, C]` with the batch's statistics, as plain 2-D tensor ops: the output,
/// the batch mean and the (biased) batch variance per channel. burn's generic
/// `batch_norm_train` reshapes through `[C, B]`, copying the activations in both passes;
/// this form reduces along the batch axis in place (the same arithmetic).
fn batch_norm_2d(h: Tensor<2>, bn: &BatchNorm) -> (Tensor<2>, Tensor<1>, Tensor<1>) {
    let mean = h.clone().mean_dim(0);
    let centered = h.sub(mean.clone());
    let var = centered.clone().square().mean_dim(0);
    let scale = var
        .clone()
        .add_scalar(BN_EPSILON)
        .sqrt()
        .recip()
        .mul(bn.gamma.val().unsqueeze_dim(0));
    let out = centered.mul(scale).add(bn.beta.val().unsqueeze_dim(0));
    (out, mean.squeeze_dim(0), var.squeeze_dim(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{host_values, inference_device};
    use burn::tensor::{Distribution, Tensor};

    /// The 2-D BatchNorm gives burn's `batch_norm_train`: output, mean and variance.
    #[test]
    fn batch_norm_2d_matches_burns_batch_norm_train() {
        let device = inference_device();
        device.seed(3);
        let mut bn = BatchNormConfig::new(5).init(&device);
        bn.gamma = burn::module::Param::from_tensor(Tensor::random(
            [5],
            Distribution::Normal(1.0, 0.5),
            &device,
        ));
        bn.beta = burn::module::Param::from_tensor(Tensor::random(
            [5],
            Distribution::Normal(0.0, 1.0),
            &device,
        ));
        let h = Tensor::<2>::random([7, 5], Distribution::Normal(2.0, 3.0), &device);
        let (out, mean, var) = batch_norm_2d(h.clone(), &bn);
        let r =
            burn::tensor::module::batch_norm_train(h, bn.gamma.val(), bn.beta.val(), BN_EPSILON);
        let v = host_values::<2>;
        let pairs = [
            (v(out), v(r.output)),
            (v(mean.unsqueeze_dim(0)), v(r.mean.unsqueeze_dim(0))),
            (v(var.unsqueeze_dim(0)), v(r.variance.unsqueeze_dim(0))),
        ];
        for (ours, theirs) in pairs {
            assert_eq!(ours.len(), theirs.len());
            for (a, b) in ours.iter().zip(&theirs) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn keep_head_keeps_that_heads_outputs() {
        let device = inference_device();
        let enc = Encoder::with_heads(6, &[5], 3, 4, &device);
        assert_eq!(enc.heads(), 4);
        let x = Tensor::<2>::random([7, 6], Distribution::Normal(0.0, 1.0), &device);
        let all = enc.forward_heads(x.clone(), Norm::Train);
        assert_eq!(all.len(), 4);
        let kept = enc.keep_head(2);
        assert_eq!(kept.heads(), 1);
        let (a, b) = (
            host_values(kept.forward(x, Norm::Train)),
            host_values(all[2].clone()),
        );
        assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-6));
        // Heads start apart: head 2 is not head 0.
        let first = host_values(all[0].clone());
        assert!(first.iter().zip(&b).any(|(p, q)| (p - q).abs() > 1e-7));
        // Head 0, or a head past the last, keeps the output layer.
        for h in [0, 4] {
            let enc = Encoder {
                extra_heads: enc_heads(&device),
                ..Encoder::new(6, &[5], 3, &device)
            };
            let want = host_values(enc.output.weight.val());
            let kept = enc.keep_head(h);
            assert_eq!(kept.heads(), 1, "head {h}");
            assert_eq!(host_values(kept.output.weight.val()), want, "head {h}");
        }
    }

    /// Widths read from the layers: the first hidden layer's input, the output layer's when
    /// there is no hidden layer, the front end's planes of pixels when there is one.
    #[test]
    fn widths_come_from_the_first_and_last_layers() {
        let device = inference_device();
        let mlp = Encoder::new(6, &[5, 4], 3, &device);
        assert_eq!((mlp.input_dim(), mlp.output_dim()), (6, 3));
        let linear = Encoder::new(7, &[], 2, &device);
        assert_eq!((linear.input_dim(), linear.output_dim()), (7, 2));
        let spec = ConvSpec {
            channels: 4,
            kernel: 3,
            stride: 2,
            grid: 2,
        };
        let conv = Encoder::build(192, Some((spec, [3, 8, 8])), &[], 5, 1, &device);
        assert_eq!((conv.input_dim(), conv.output_dim()), (192, 5));
        assert_eq!(conv.output.weight.dims(), [16, 5]);
    }

    /// A clean training pass (`Norm::Train` on the training device) moves each BatchNorm's
    /// running statistics one momentum step (0.1) towards the batch's mean and biased
    /// variance, computed here on the host; a perturbed pass (`BatchOnly`) and a pass of the
    /// inference model leave them.
    #[test]
    fn training_passes_move_the_running_statistics() {
        let device = crate::backend::training_device();
        device.seed(4);
        let enc = Encoder::new(3, &[4], 2, &device);
        let x = Tensor::<2>::random([16, 3], Distribution::Normal(0.5, 2.0), &device);
        let h = host_values(enc.hidden[0].forward(x.clone()));
        let running = |e: &Encoder| {
            let bn = &e.norms[0];
            (
                host_values(bn.running_mean.value_sync()),
                host_values(bn.running_var.value_sync()),
            )
        };
        let _ = enc.forward(x.clone(), Norm::BatchOnly);
        assert_eq!(running(&enc), (vec![0.0; 4], vec![1.0; 4]));
        let _ = enc.forward(x.clone(), Norm::Train);
        let (mean, var) = running(&enc);
        for j in 0..4 {
            let col: Vec<f64> = h.chunks(4).map(|r| f64::from(r[j])).collect();
            let m = col.iter().sum::<f64>() / 16.0;
            let v = col.iter().map(|c| (c - m).powi(2)).sum::<f64>() / 16.0;
            assert!((f64::from(mean[j]) - 0.1 * m).abs() < 1e-5, "mean {j}");
            assert!(
                (f64::from(var[j]) - (0.9 + 0.1 * v)).abs() < 1e-5,
                "var {j}"
            );
        }
        let inference = enc.valid();
        let before = running(&inference);
        let _ = inference.forward(x.inner(), Norm::Train);
        assert_eq!(running(&inference), before);
    }

    /// Three extra output layers for a 5-wide hidden layer.
    fn enc_heads(device: &Device) -> Vec<Linear> {
        (0..3).map(|_| linear(5, 3, 1e-4, device)).collect()
    }

    /// The reference initialisation: weights of variance `s / fan_in` (0.1 for hidden
    /// layers, 1e-4 for the output), zero biases; BatchNorm at gamma 1, beta 0.
    #[test]
    fn layers_start_at_the_reference_scales() {
        let device = inference_device();
        device.seed(9);
        let enc = Encoder::new(400, &[300], 200, &device);
        let std = |l: &Linear| {
            let w = host_values(l.weight.val());
            (w.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / w.len() as f64).sqrt()
        };
        for (layer, want) in [
            (&enc.hidden[0], (0.1f64 / 400.0).sqrt()),
            (&enc.output, (1e-4f64 / 300.0).sqrt()),
        ] {
            let got = std(layer);
            assert!((got / want - 1.0).abs() < 0.02, "{got} against {want}");
            let bias = host_values(layer.bias.as_ref().expect("a bias").val());
            assert!(bias.iter().all(|&b| b == 0.0));
        }
        assert!(
            host_values(enc.norms[0].gamma.val())
                .iter()
                .all(|&g| g == 1.0)
        );
        assert_eq!(enc.norms[0].epsilon, BN_EPSILON);
    }
}
