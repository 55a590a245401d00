//! One dense int8 layer, with its weights laid out once, at load, for every kernel.

use alloc::vec;
use alloc::vec::Vec;

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
    /// Transposed weights `[d_out][stride]`, zero padded (the generic kernel).
    pub(crate) wt: Vec<i8>,
    /// The weights packed for `vpdpbusd`: for each block of 16 outputs, for each group of
    /// 4 inputs, 64 bytes: output `c` of the block holds its 4 weights at bytes `4c..4c+4`.
    /// The NEON kernels read this layout too.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    pub(crate) packed: Vec<i8>,
    /// The weights as i16 pairs for `vpmaddwd`: for each block of 8 outputs, for each pair
    /// of inputs, 16 values: output `c` of the block holds its 2 weights at `2c..2c+2`.
    #[cfg(target_arch = "x86_64")]
    pub(crate) packed16: Vec<i16>,
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

impl Layer {
    /// A layer from the ONNX weight matrix `wq` (i8 as bytes, row-major `[d_in][d_out]`).
    pub(crate) fn new(
        wq: &[u8],
        d_in: usize,
        d_out: usize,
        multiplier: Vec<f32>,
        bias: Vec<f32>,
    ) -> Layer {
        debug_assert_eq!(wq.len(), d_in * d_out);
        debug_assert_eq!(multiplier.len(), d_out);
        let stride = d_in.div_ceil(PAD) * PAD;
        // Rows padded to a multiple of 4 outputs for the 4-column kernels.
        let mut wt = vec![0i8; d_out.div_ceil(4) * 4 * stride];
        for (k, row) in wq.chunks_exact(d_out).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                wt[j * stride + k] = v as i8;
            }
        }
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        let packed = {
            let groups = stride / 4;
            let mut packed = vec![0i8; d_out.div_ceil(16) * groups * 64];
            for (k, row) in wq.chunks_exact(d_out).enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    packed[((j / 16) * groups + k / 4) * 64 + (j % 16) * 4 + k % 4] = v as i8;
                }
            }
            packed
        };
        #[cfg(target_arch = "x86_64")]
        let packed16 = {
            let pairs = stride / 2;
            let mut packed16 = vec![0i16; d_out.div_ceil(8) * pairs * 16];
            for (k, row) in wq.chunks_exact(d_out).enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    packed16[((j / 8) * pairs + k / 2) * 16 + (j % 8) * 2 + k % 2] = v as i8 as i16;
                }
            }
            packed16
        };
        #[cfg(target_arch = "aarch64")]
        let offset = (0..d_out)
            .map(|j| {
                wq.iter()
                    .skip(j)
                    .step_by(d_out)
                    .fold(0i32, |s, &v| s.wrapping_add(v as i8 as i32))
                    .wrapping_mul(128)
            })
            .collect();
        Layer {
            d_in,
            stride,
            d_out,
            wt,
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            packed,
            #[cfg(target_arch = "x86_64")]
            packed16,
            #[cfg(target_arch = "aarch64")]
            offset,
            multiplier,
            bias,
            next_inv_scale: None,
        }
    }
}
