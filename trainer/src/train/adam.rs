//! Adam as one fused, parallel pass per parameter tensor.
//!
//! The arithmetic is burn's `Adam` (and Chainer's, which the reference code uses):
//! `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`, and
//! `p -= lr * m * c / (sqrt(v) + eps * sqrt(1 - b2^t))` with `c = sqrt(1 - b2^t) / (1 - b1^t)`.
//! burn runs it as a dozen whole-tensor operations on one thread, 4% of a training step at
//! the paper's settings and more once the matrix products use two cores; here each element
//! is read and written once, on every core.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use rayon::prelude::*;

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// Adam's first and second moments of one parameter tensor.
struct Moments {
    m: Vec<f32>,
    v: Vec<f32>,
    steps: i32,
}

/// The optimizer: its settings and the moments of every parameter it has updated.
pub struct Adam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    moments: HashMap<ParamId, Moments>,
    /// Weights held at zero (multiplied by these 0/1 masks after every update): a
    /// structure the optimizer must keep, e.g. bits that may not see some inputs.
    masks: HashMap<ParamId, Vec<f32>>,
}

impl Adam {
    /// Adam with `beta_1` 0.9, `beta_2` 0.999 and the given epsilon (burn's and Chainer's
    /// defaults but epsilon).
    pub fn new(epsilon: f32) -> Self {
        Adam {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon,
            moments: HashMap::new(),
            masks: HashMap::new(),
        }
    }

    /// Keep the parameter `id` multiplied by `mask` (0 or 1 per element) after every update.
    pub fn hold(&mut self, id: ParamId, mask: Vec<f32>) {
        self.masks.insert(id, mask);
    }

    /// One update of every parameter of `module` that has a gradient in `grads`.
    pub fn step<M: Module>(&mut self, lr: f64, module: M, grads: GradientsParams) -> M {
        module.map(&mut Update {
            adam: self,
            lr: lr as f32,
            grads,
        })
    }

    /// Update `p` in place from its gradient `g`, keeping the moments under `id`.
    fn update(&mut self, id: ParamId, lr: f32, p: &mut [f32], g: &[f32]) {
        let (b1, b2) = (self.beta_1, self.beta_2);
        let moments = self.moments.entry(id).or_insert_with(|| Moments {
            m: vec![0.0; p.len()],
            v: vec![0.0; p.len()],
            steps: 0,
        });
        moments.steps += 1;
        let t = moments.steps;
        let bias_2 = (1.0 - b2.powi(t)).sqrt();
        let step = lr * bias_2 / (1.0 - b1.powi(t));
        let eps = self.epsilon * bias_2;
        p.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(moments.m.par_chunks_mut(CHUNK))
            .zip(moments.v.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m), v)| {
                for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                    *m = b1 * *m + (1.0 - b1) * g;
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    *p -= step * *m / (v.sqrt() + eps);
                }
            });
    }
}

/// The module walk of one step.
struct Update<'a> {
    adam: &'a mut Adam,
    lr: f32,
    grads: GradientsParams,
}

impl ModuleMapper for Update<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let require_grad = tensor.is_require_grad();
        let inner = tensor.inner();
        let device = inner.device();
        let shape = inner.shape();
        let mut values = inner.into_data().convert::<f32>();
        let grad = grad.into_data().convert::<f32>();
        let (p, g) = (
            values.as_mut_slice::<f32>().expect("f32 parameter"),
            grad.as_slice::<f32>().expect("f32 gradient"),
        );
        assert_eq!(p.len(), g.len(), "a gradient of its parameter's shape");
        self.adam.update(id, self.lr, p, g);
        if let Some(mask) = self.adam.masks.get(&id) {
            p.iter_mut().zip(mask).for_each(|(v, m)| *v *= m);
        }
        let mut updated = Tensor::from_inner(Tensor::from_data(values, &device));
        if require_grad {
            updated = updated.require_grad();
        }
        debug_assert_eq!(updated.shape(), shape);
        Param::from_mapped_value(id, updated, mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{host_values, training_device};
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::AdamConfig;
    use burn::tensor::Distribution;

    /// Three steps on one linear layer: the fused pass gives burn's `Adam`'s parameters.
    #[test]
    fn matches_burns_adam() {
        let device = training_device();
        device.seed(7);
        let layer: Linear = LinearConfig::new(300, 70).init(&device);
        let x = Tensor::<2>::random([16, 300], Distribution::Normal(0.0, 1.0), &device);
        let loss = |l: &Linear| l.forward(x.clone()).square().mean();
        let initial = layer.weight.val();
        let (mut ours, mut theirs) = (layer.clone(), layer);
        let mut fused = Adam::new(1e-8);
        let mut reference = AdamConfig::new().with_epsilon(1e-8).init();
        for _ in 0..3 {
            let g = GradientsParams::from_grads(loss(&ours).backward(), &ours);
            ours = fused.step(0.01, ours, g);
            let g = GradientsParams::from_grads(loss(&theirs).backward(), &theirs);
            theirs = reference.step(0.01, theirs, g);
        }
        let (a, b) = (
            host_values(ours.weight.val()),
            host_values(theirs.weight.val()),
        );
        let worst = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-6, "largest difference {worst}");
        // The parameters moved, and stay trainable.
        assert!(ours.weight.val().is_require_grad());
        let start = host_values(initial);
        assert!(a.iter().zip(&start).any(|(p, q)| (p - q).abs() > 1e-3));
    }

    /// A held parameter's masked entries are zero after every step (they start non-zero)
    /// and the others move; an optimizer that holds nothing zeroes nothing.
    #[test]
    fn held_weights_stay_at_zero() {
        let device = training_device();
        device.seed(3);
        let layer: Linear = LinearConfig::new(6, 4).init(&device);
        let x = Tensor::<2>::random([8, 6], Distribution::Normal(0.0, 1.0), &device);
        let loss = |l: &Linear| l.forward(x.clone()).square().mean();
        let mask: Vec<f32> = (0..24)
            .map(|i| if i % 3 == 0 { 0.0 } else { 1.0 })
            .collect();
        let start = host_values(layer.weight.val());
        assert!(start.iter().all(|&v| v != 0.0));
        let mut adam = Adam::new(1e-8);
        adam.hold(layer.weight.id, mask.clone());
        let (mut held, mut free) = (layer.clone(), layer);
        let mut plain = Adam::new(1e-8);
        for step in 0..3 {
            let g = GradientsParams::from_grads(loss(&held).backward(), &held);
            held = adam.step(0.01, held, g);
            let g = GradientsParams::from_grads(loss(&free).backward(), &free);
            free = plain.step(0.01, free, g);
            let w = host_values(held.weight.val());
            for (i, (&v, &m)) in w.iter().zip(&mask).enumerate() {
                if m == 0.0 {
                    assert_eq!(v, 0.0, "step {step}: held weight {i} is {v}");
                } else {
                    assert!((v - start[i]).abs() > 1e-4, "step {step}: weight {i} still");
                }
            }
        }
        // Without the hold, no weight is zeroed.
        assert!(host_values(free.weight.val()).iter().all(|&v| v != 0.0));
    }
}
