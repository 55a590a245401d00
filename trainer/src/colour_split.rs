//! Colour bits beside gray bits: how a photo hash uses colour and still finds grayscale
//! copies.
//!
//! A colour view ([`imsat_runtime::view::Colour::Ycc`]) tells apart photos whose luma looks
//! alike (sky, sand, water) and holds under crops and rotations, but a grayscale copy has no
//! colour left: an encoder free to use chroma in every bit put such copies 17 bits away from
//! their originals (held-out photos, 0.24 of them found at FPR 1e-3). The split keeps the
//! code's first `outputs - bits` bits on luma alone: the first `channels - kernels`
//! convolution kernels see only the luma plane and only their pooled features reach those
//! bits, so a grayscale copy can move only the last `bits` (about half of them, at random).
//! The edit SAT does not ask those colour bits of a grayscale copy
//! ([`ColourSplit::sat_weights`]).
//!
//! The structure is a pattern of zero weights, kept by the optimizer (`Adam::hold`); the
//! export needs nothing new (the zeros are weights like any other).

use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::conv::{ConvSpec, counts_or_none};
use crate::model::Encoder;
use crate::train::adam::Adam;

/// The last `bits` of the code may see chroma, through the last `kernels` convolution
/// kernels; every other bit and kernel sees luma only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColourSplit {
    pub kernels: usize,
    pub bits: usize,
}

impl ColourSplit {
    /// `none`, or `kernels,bits` (e.g. `4,12`).
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        let Some(v) = counts_or_none(s, "kernels,bits")? else {
            return Ok(None);
        };
        match v[..] {
            [kernels, bits] => Ok(Some(ColourSplit { kernels, bits })),
            _ => Err(format!("`{s}` needs two numbers: kernels,bits (e.g. 4,12)")),
        }
    }

    /// Check against the front end and the code width: at least one kernel and bit each side.
    pub fn check(&self, conv: &ConvSpec, outputs: usize) -> Result<(), String> {
        if self.kernels == 0 || self.kernels >= conv.channels {
            return Err(format!(
                "{} colour kernels of {}: at least 1, and fewer than the front end's",
                self.kernels, conv.channels
            ));
        }
        if self.bits == 0 || self.bits >= outputs {
            return Err(format!(
                "{} colour bits of {outputs}: at least 1, and fewer than the code's",
                self.bits
            ));
        }
        Ok(())
    }

    /// 0/1 masks of the convolution weights (`[channels, planes, k, k]`) and of the output
    /// layer's (`[channels * grid^2, outputs]`, burn's `[in, out]`).
    pub fn masks(&self, conv: &ConvSpec, planes: usize, outputs: usize) -> (Vec<f32>, Vec<f32>) {
        let (c_n, kk, g2) = (
            conv.channels,
            conv.kernel * conv.kernel,
            conv.grid * conv.grid,
        );
        let luma_kernels = c_n - self.kernels;
        let luma_bits = outputs - self.bits;
        let conv_mask = (0..c_n * planes * kk)
            .map(|i| {
                let (c, p) = (i / (planes * kk), i / kk % planes);
                f32::from(u8::from(c >= luma_kernels || p == 0))
            })
            .collect();
        let out_mask = (0..c_n * g2 * outputs)
            .map(|i| {
                let (c, bit) = (i / outputs / g2, i % outputs);
                f32::from(u8::from(bit >= luma_bits || c < luma_kernels))
            })
            .collect();
        (conv_mask, out_mask)
    }

    /// Zero the masked weights of `model` (which must have a front end on `planes` planes and
    /// no hidden layer) and have `optim` keep them at zero.
    pub(crate) fn apply(&self, mut model: Encoder, optim: &mut Adam, planes: usize) -> Encoder {
        let outputs = model.output_dim();
        let Some(front) = model.conv.as_mut() else {
            return model;
        };
        let (conv_mask, out_mask) = self.masks(&front.spec(), planes, outputs);
        front.conv.weight = masked(front.conv.weight.clone(), conv_mask, optim);
        for head in std::iter::once(&mut model.output).chain(model.extra_heads.iter_mut()) {
            head.weight = masked(head.weight.clone(), out_mask.clone(), optim);
        }
        model
    }

    /// The edit SAT's weight per sample and bit (`[rows, outputs]` row-major): 0 on the colour
    /// bits of grayscale copies, 1 elsewhere.
    pub fn sat_weights(&self, grayscale: &[bool], outputs: usize) -> Vec<f32> {
        let luma_bits = outputs - self.bits;
        grayscale
            .iter()
            .flat_map(|&g| (0..outputs).map(move |b| f32::from(u8::from(!g || b < luma_bits))))
            .collect()
    }
}

/// As `--colour-split` takes it: `kernels,bits`.
impl std::fmt::Display for ColourSplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{}", self.kernels, self.bits)
    }
}

/// `param` times `mask`, still a trainable leaf, held at those zeros by `optim`.
fn masked<const D: usize>(
    param: Param<Tensor<D>>,
    mask: Vec<f32>,
    optim: &mut Adam,
) -> Param<Tensor<D>> {
    optim.hold(param.id, mask.clone());
    param.map(|t| {
        let m = Tensor::<1>::from_data(TensorData::new(mask.clone(), [mask.len()]), &t.device())
            .reshape(t.shape());
        t.mul(m).detach().require_grad()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{host_values, training_device};
    use crate::model::Norm;
    use crate::train::predict_logits;
    use burn::module::Module;

    #[test]
    fn parse_and_check() {
        assert_eq!(ColourSplit::parse("none"), Ok(None));
        let s = ColourSplit::parse("4,12").unwrap().unwrap();
        assert_eq!(
            s,
            ColourSplit {
                kernels: 4,
                bits: 12
            }
        );
        assert_eq!(s.to_string(), "4,12");
        assert!(ColourSplit::parse("4").is_err());
        let conv = ConvSpec {
            channels: 12,
            kernel: 3,
            stride: 2,
            grid: 4,
        };
        assert!(s.check(&conv, 64).is_ok());
        assert!(
            ColourSplit {
                kernels: 12,
                bits: 12
            }
            .check(&conv, 64)
            .is_err()
        );
        assert!(
            ColourSplit {
                kernels: 4,
                bits: 64
            }
            .check(&conv, 64)
            .is_err()
        );
        assert!(
            ColourSplit {
                kernels: 0,
                bits: 8
            }
            .check(&conv, 64)
            .is_err()
        );
    }

    /// A front end of `channels` 3x3 kernels at stride 2 pooled to 2x2 on a colour view of
    /// 8x8 (three planes), no hidden layer, `outputs` bits in `heads` heads, with `split`
    /// applied (its held weights given to `optim`).
    fn split_encoder(
        channels: usize,
        split: ColourSplit,
        outputs: usize,
        heads: usize,
        optim: &mut Adam,
    ) -> Encoder {
        let conv = ConvSpec {
            channels,
            kernel: 3,
            stride: 2,
            grid: 2,
        };
        let model = Encoder::build(
            3 * 8 * 8,
            Some((conv, [3, 8, 8])),
            &[],
            outputs,
            heads,
            &training_device(),
        );
        split.apply(model, optim, 3)
    }

    /// The masks in burn's own layouts: after `apply`, kernel `c`'s weights on plane `p`
    /// are zero exactly when `c` is a luma kernel and `p` a chroma plane, and the weights
    /// from kernel `c`'s pooled cells to bit `b` (in every head) exactly when `c` is a colour
    /// kernel and `b` a luma bit. Seven kernels, three of them colour, so that the counts
    /// differ from other arithmetic on them (7 - 3 against 7 / 3).
    #[test]
    fn masks_cut_chroma_from_luma_kernels_and_colour_kernels_from_luma_bits() {
        training_device().seed(5);
        let (planes, outputs) = (3, 9);
        let split = ColourSplit {
            kernels: 3,
            bits: 4,
        };
        let model = split_encoder(7, split, outputs, 2, &mut Adam::new(1e-8));
        let (luma_kernels, luma_bits) = (4, 5);
        let zero = |t: Tensor<2>| host_values(t.abs().sum()) == [0.0];
        let kernels = model.conv.as_ref().expect("a front end").conv.weight.val();
        for c in 0..7 {
            for p in 0..planes {
                let w = kernels.clone().slice([c..c + 1, p..p + 1]).reshape([1, 9]);
                assert_eq!(zero(w), c < luma_kernels && p > 0, "kernel {c}, plane {p}");
            }
        }
        let cells = 4;
        for head in std::iter::once(&model.output).chain(&model.extra_heads) {
            let w = head.weight.val();
            assert_eq!(w.dims(), [7 * cells, outputs]);
            for c in 0..7 {
                for bit in 0..outputs {
                    let from_c = w.clone().slice([c * cells..(c + 1) * cells, bit..bit + 1]);
                    let cut = c >= luma_kernels && bit < luma_bits;
                    assert_eq!(zero(from_c), cut, "kernel {c} to bit {bit}");
                }
            }
        }
    }

    /// With the masks applied, and after Adam steps on a loss that touches every weight,
    /// a view whose chroma is flattened moves only the colour bits' logits.
    #[test]
    fn gray_inputs_move_only_the_colour_bits() {
        let device = training_device();
        device.seed(3);
        let (planes, side, outputs) = (3, 8, 10);
        let split = ColourSplit {
            kernels: 2,
            bits: 4,
        };
        let mut optim = Adam::new(1e-8);
        let mut model = split_encoder(6, split, outputs, 1, &mut optim);
        let dim = planes * side * side;
        let n = 6;
        let x: Vec<f32> = (0..n * dim)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        for _ in 0..3 {
            let xb = Tensor::<2>::from_data(TensorData::new(x.clone(), [n, dim]), &device);
            let loss = model.forward(xb, Norm::Train).square().mean();
            let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(0.05, model, grads);
        }
        let mut gray = x.clone();
        for row in gray.chunks_mut(dim) {
            row[side * side..].fill(0.0);
        }
        let inference = model.valid();
        let (a, b) = (
            predict_logits(&inference, &x, n).unwrap(),
            predict_logits(&inference, &gray, n).unwrap(),
        );
        let luma_bits = outputs - split.bits;
        for (r, (ra, rb)) in a.chunks(outputs).zip(b.chunks(outputs)).enumerate() {
            for bit in 0..outputs {
                let moved = (ra[bit] - rb[bit]).abs();
                if bit < luma_bits {
                    assert!(moved < 1e-5, "row {r}, luma bit {bit} moved by {moved}");
                }
            }
        }
        let colour_moved: f32 = a
            .chunks(outputs)
            .zip(b.chunks(outputs))
            .map(|(ra, rb)| {
                (luma_bits..outputs)
                    .map(|k| (ra[k] - rb[k]).abs())
                    .sum::<f32>()
            })
            .sum();
        assert!(colour_moved > 1e-3, "the colour bits see chroma");
        assert_eq!(
            split.sat_weights(&[false, true], 10),
            [[1.0; 10].as_slice(), &[1.0; 6], &[0.0; 4]].concat()
        );
    }
}
