//! One dense int8 layer, with its weights laid out, at load, for the kernel that runs them.

use alloc::vec;
use alloc::vec::Vec;

use super::kernels::Kernel;

/// Activations and weights are padded to a multiple of this (zeros add nothing).
pub(crate) const PAD: usize = 64;

/// `y = (a · W) * multiplier + bias`, `a` u8 activations, `W` i8 weights, the sum exact in
/// i32; then either quantized to u8 for the next layer or returned as f32 logits. The
/// multiplier is per output (per-column weight scales), one value repeated for a model
/// written with a single scale.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub(crate) d_in: usize,
    /// `d_in` rounded up to [`PAD`].
    pub(crate) stride: usize,
    pub(crate) d_out: usize,
    pub(crate) weights: Weights,
    /// `128 * sum(w)` per output, wrapping (`d_out` values): the NEON kernels multiply
    /// `a - 128` by the weights and add this back.
    #[cfg(target_arch = "aarch64")]
    pub(crate) offset: Vec<i32>,
    /// `d_out` values.
    pub(crate) multiplier: Vec<f32>,
    pub(crate) bias: Vec<f32>,
    /// `1 / scale` of the u8 quantization of this layer's output (hidden layers).
    pub(crate) next_inv_scale: Option<f32>,
}

/// A layer's weights in the one layout its kernel reads: a model holds a single copy of
/// them (RAM is what a board runs out of), laid out again when the kernel is changed.
/// Every layout is zero padded to the layer's `stride` inputs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Weights {
    /// Transposed, `[d_out][stride]`: the portable kernel.
    Rows(Vec<i8>),
    /// For `vpdpbusd` and the NEON kernels: for each block of 16 outputs, for each group of
    /// 4 inputs, 64 bytes: output `c` of the block holds its 4 weights at bytes `4c..4c+4`.
    Quads(Vec<i8>),
    /// For AVX2's `vpmaddwd`, as i16: for each block of 8 outputs, for each pair of inputs,
    /// 16 values: output `c` of the block holds its 2 weights at `2c..2c+2`.
    Pairs(Vec<i16>),
}

/// Where each layout keeps the weight from input `k` to output `j` of a layer whose rows
/// hold `stride` inputs: one formula per layout, for laying weights out and reading them
/// back.
fn rows_at(stride: usize, k: usize, j: usize) -> usize {
    j * stride + k
}

/// See [`rows_at`]; also how a NEON kernel test packs its block.
pub(crate) fn quads_at(stride: usize, k: usize, j: usize) -> usize {
    ((j / 16) * (stride / 4) + k / 4) * 64 + (j % 16) * 4 + k % 4
}

/// See [`rows_at`].
fn pairs_at(stride: usize, k: usize, j: usize) -> usize {
    ((j / 8) * (stride / 2) + k / 2) * 16 + (j % 8) * 2 + k % 2
}

impl Weights {
    /// The layout `kernel` reads of a `d_in x d_out` matrix, `w(k, j)` the weight from input
    /// `k` to output `j`.
    fn lay_out(
        kernel: Kernel,
        d_in: usize,
        d_out: usize,
        stride: usize,
        w: impl Fn(usize, usize) -> i8,
    ) -> Weights {
        let each = |put: &mut dyn FnMut(usize, usize, i8)| {
            for k in 0..d_in {
                for j in 0..d_out {
                    put(k, j, w(k, j));
                }
            }
        };
        match kernel {
            Kernel::Generic => {
                let mut rows = vec![0i8; d_out * stride];
                each(&mut |k, j, v| rows[rows_at(stride, k, j)] = v);
                Weights::Rows(rows)
            }
            Kernel::Vnni | Kernel::Neon | Kernel::Dotprod => {
                let mut quads = vec![0i8; d_out.div_ceil(16) * 16 * stride];
                each(&mut |k, j, v| quads[quads_at(stride, k, j)] = v);
                Weights::Quads(quads)
            }
            Kernel::Avx2 => {
                let mut pairs = vec![0i16; d_out.div_ceil(8) * 8 * stride];
                each(&mut |k, j, v| pairs[pairs_at(stride, k, j)] = v.into());
                Weights::Pairs(pairs)
            }
        }
    }

    /// The weight from input `k` to output `j` (`stride` the layer's).
    fn get(&self, stride: usize, k: usize, j: usize) -> i8 {
        match self {
            Weights::Rows(rows) => rows[rows_at(stride, k, j)],
            Weights::Quads(quads) => quads[quads_at(stride, k, j)],
            // Laid out from i8 values: the cast gives them back.
            Weights::Pairs(pairs) => pairs[pairs_at(stride, k, j)] as i8,
        }
    }

    /// Whether this is the layout `kernel` reads.
    fn suits(&self, kernel: Kernel) -> bool {
        matches!(
            (self, kernel),
            (Weights::Rows(_), Kernel::Generic)
                | (
                    Weights::Quads(_),
                    Kernel::Vnni | Kernel::Neon | Kernel::Dotprod
                )
                | (Weights::Pairs(_), Kernel::Avx2)
        )
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Weights::Rows(v) | Weights::Quads(v) => v.len(),
            Weights::Pairs(v) => v.len() * core::mem::size_of::<i16>(),
        }
    }
}

impl Layer {
    /// A layer from the ONNX weight matrix `wq` (bytes, row-major `[d_in][d_out]`, each
    /// weight `signed(byte)`: int8 or u8 with a zero point), laid out for `kernel`.
    pub(crate) fn new(
        wq: &[u8],
        signed: fn(u8) -> i8,
        d_in: usize,
        d_out: usize,
        multiplier: Vec<f32>,
        bias: Vec<f32>,
        kernel: Kernel,
    ) -> Layer {
        debug_assert_eq!(wq.len(), d_in * d_out);
        debug_assert_eq!(multiplier.len(), d_out);
        let stride = d_in.div_ceil(PAD) * PAD;
        let weights = Weights::lay_out(kernel, d_in, d_out, stride, |k, j| {
            signed(wq[k * d_out + j])
        });
        #[cfg(target_arch = "aarch64")]
        let offset = (0..d_out)
            .map(|j| {
                wq.iter()
                    .skip(j)
                    .step_by(d_out)
                    .fold(0i32, |s, &v| s.wrapping_add(i32::from(signed(v))))
                    .wrapping_mul(128)
            })
            .collect();
        Layer {
            d_in,
            stride,
            d_out,
            weights,
            #[cfg(target_arch = "aarch64")]
            offset,
            multiplier,
            bias,
            next_inv_scale: None,
        }
    }

    /// Lay the weights out again for `kernel`, where they are in another kernel's layout
    /// (the old layout is dropped once the new one is made).
    pub(crate) fn lay_out_for(&mut self, kernel: Kernel) {
        if self.weights.suits(kernel) {
            return;
        }
        let (old, stride) = (&self.weights, self.stride);
        let new = Weights::lay_out(kernel, self.d_in, self.d_out, stride, |k, j| {
            old.get(stride, k, j)
        });
        self.weights = new;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every layout gives back every weight it was made of, padding aside, and any layout
    /// laid out again for another kernel is that kernel's layout of the same matrix.
    #[test]
    fn every_layout_holds_the_same_weights() {
        let (d_in, d_out) = (70, 21); // padded inputs, partial blocks of 4, 8 and 16
        let wq: Vec<u8> = (0..d_in * d_out).map(|i| (i * 37 % 256) as u8).collect();
        let kernels = [Kernel::Generic, Kernel::Avx2, Kernel::Vnni, Kernel::Neon];
        let new = |kernel| {
            let (multiplier, bias) = (vec![1.0; d_out], vec![0.0; d_out]);
            Layer::new(&wq, |b| b as i8, d_in, d_out, multiplier, bias, kernel)
        };
        for kernel in kernels {
            let layer = new(kernel);
            assert!(layer.weights.suits(kernel));
            for k in 0..d_in {
                for j in 0..d_out {
                    assert_eq!(
                        layer.weights.get(layer.stride, k, j),
                        wq[k * d_out + j] as i8,
                        "{} ({k}, {j})",
                        kernel.name()
                    );
                }
            }
            for other in kernels {
                let mut moved = layer.clone();
                moved.lay_out_for(other);
                assert_eq!(
                    moved.weights,
                    new(other).weights,
                    "{} to {}",
                    kernel.name(),
                    other.name()
                );
            }
        }
    }
}
