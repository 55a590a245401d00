//! The encoder network: an MLP `d - h1 - ... - out` with BatchNorm + ReLU after each hidden
//! Linear, as in the IMSAT reference code.

use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor, activation::relu, module::batch_norm_train};

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
    pub hidden: Vec<Linear>,
    pub norms: Vec<BatchNorm>,
    pub output: Linear,
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
        let mut d_in = input;
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
            hidden: layers,
            norms,
            output: linear(d_in, output, 1e-4, device),
        }
    }

    /// Input width (e.g. 784).
    pub fn input_dim(&self) -> usize {
        let layer = self.hidden.first().unwrap_or(&self.output);
        layer.weight.shape().dims::<2>()[0]
    }

    /// Output width (K classes or M bits).
    pub fn output_dim(&self) -> usize {
        self.output.weight.shape().dims::<2>()[1]
    }

    /// Logits for a batch of scaled inputs `[B, d]` (x/128 - 1).
    pub fn forward(&self, x: Tensor<2>, norm: Norm) -> Tensor<2> {
        let mut h = x;
        for (layer, bn) in self.hidden.iter().zip(&self.norms) {
            h = layer.forward(h);
            h = match norm {
                Norm::Train => bn.forward(h),
                Norm::BatchOnly => {
                    batch_norm_train(h, bn.gamma.val(), bn.beta.val(), BN_EPSILON).output
                }
            };
            h = relu(h);
        }
        self.output.forward(h)
    }
}
