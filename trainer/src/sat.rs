//! Self-Augmented Training: the prediction for an augmented input should match the
//! prediction for the original. Each kind below produces an augmented batch; the trainer
//! adds `KL(p(x) || p(augmented x))` for each kind in use.
//!
//! - VAT: the virtual adversarial direction (one power iteration), radius `eps_i` per sample.
//! - RPT: a random direction of the same radius.
//! - Affine: a small random rotation, scaling and shift of the image.
//! - Neighbour: one of the sample's nearest neighbours in the data, standing in for an
//!   augmentation the data itself provides.
//! - Edits: an edited copy of a photo (photo models), from a precomputed bank.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::loss::{Task, kl_divergence};
use crate::model::{Encoder, Norm};

/// One kind of self-augmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SatKind {
    Vat,
    Rpt,
    Affine,
    Neighbour,
    /// A random edited copy of the photo (JPEG, crop, rotation, ...; see [`crate::edits`]),
    /// drawn from the bank a [`crate::photo_set::PhotoSet`] holds.
    Edits,
}

impl SatKind {
    /// The name `--sat` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            SatKind::Vat => "vat",
            SatKind::Rpt => "rpt",
            SatKind::Affine => "affine",
            SatKind::Neighbour => "neighbour",
            SatKind::Edits => "edits",
        }
    }

    /// Whether this augmentation works on images (affine distortions, photo edits) and so
    /// cannot apply to feature vectors.
    pub fn needs_pixels(self) -> bool {
        matches!(self, SatKind::Affine | SatKind::Edits)
    }
}

impl std::str::FromStr for SatKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "vat" => Ok(SatKind::Vat),
            "rpt" => Ok(SatKind::Rpt),
            "affine" => Ok(SatKind::Affine),
            "neighbour" | "neighbor" | "nbr" => Ok(SatKind::Neighbour),
            "edits" => Ok(SatKind::Edits),
            other => Err(format!(
                "unknown SAT kind `{other}` (expected vat, rpt, affine, neighbour or edits)"
            )),
        }
    }
}

/// Parse a comma-separated list such as `vat,affine`.
pub fn parse_sat_list(s: &str) -> Result<Vec<SatKind>, String> {
    let mut kinds: Vec<SatKind> = Vec::new();
    for p in s.split(',') {
        let kind: SatKind = p.trim().parse()?;
        // Named twice, a term would count twice.
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if kinds.is_empty() {
        return Err("empty SAT list".into());
    }
    Ok(kinds)
}

/// Unit-norm rows: `d / ||d||` per sample.
pub fn normalize_rows(d: Tensor<2>) -> Tensor<2> {
    let norm = d.clone().square().sum_dim(1).add_scalar(1e-12).sqrt();
    d.div(norm)
}

/// Rows drawn per parallel task in [`random_directions`]: fixed, so that the directions depend
/// on the seed alone, not on the number of threads.
const DIRECTION_ROWS_PER_TASK: usize = 16;

/// Random unit directions `[B, D]`: i.i.d. standard normal components, each row scaled to norm
/// 1 as [`normalize_rows`] does, drawn on the host in parallel from `seed`. (burn's
/// `Tensor::random` draws on one thread, 4% of a training step at the paper's settings.)
pub fn random_directions([rows, dim]: [usize; 2], seed: u64, device: &Device) -> Tensor<2> {
    let mut values = vec![0f32; rows * dim];
    if dim > 0 {
        values
            .par_chunks_mut(DIRECTION_ROWS_PER_TASK * dim)
            .enumerate()
            .for_each(|(task, chunk)| {
                let stream = (task as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let mut rng = SmallRng::seed_from_u64(seed ^ stream);
                for row in chunk.chunks_mut(dim) {
                    for v in row.iter_mut() {
                        *v = rng.sample(StandardNormal);
                    }
                    let norm = (row.iter().map(|v| v * v).sum::<f32>() + 1e-12).sqrt();
                    row.iter_mut().for_each(|v| *v /= norm);
                }
            });
    }
    Tensor::from_data(TensorData::new(values, [rows, dim]), device)
}

/// The virtual adversarial perturbation `eps_i * g_i / ||g_i||` for batch `x`, where `g` is the
/// gradient of `KL(p(x) || p(x + xi d))` at a random unit `d` (one power iteration), summed
/// over the encoder's heads. `targets` holds each head's detached clean logits and `eps` the
/// per-sample radius `[B, 1]`; `seed` draws the starting direction.
pub fn vat_perturbation(
    task: Task,
    model: &Encoder,
    x: &Tensor<2>,
    targets: &[Tensor<2>],
    eps: &Tensor<2>,
    xi: f64,
    seed: u64,
) -> Tensor<2> {
    let device = x.device();
    let d = random_directions(x.dims(), seed, &device).require_grad();
    // Only the gradient with respect to `d` is needed: a parameter-frozen copy skips the
    // weight gradients of this backward pass.
    let frozen = model.clone().no_grad();
    let probes = frozen.forward_heads(x.clone().add(d.clone().mul_scalar(xi)), Norm::BatchOnly);
    let kl = targets
        .iter()
        .zip(probes)
        .map(|(t, p)| kl_divergence(task, t.clone(), p))
        .reduce(|a, b| a.add(b))
        .expect("at least one head");
    let grads = kl.backward();
    let g = d
        .grad(&grads)
        .expect("the probe direction is a tracked leaf")
        .autodiff();
    normalize_rows(g).mul(eps.clone()).detach()
}

/// A random perturbation of radius `eps_i` per sample, drawn from `seed`.
pub fn random_perturbation(x: &Tensor<2>, eps: &Tensor<2>, seed: u64) -> Tensor<2> {
    random_directions(x.dims(), seed, &x.device()).mul(eps.clone())
}

/// Parameters of the random affine distortion.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct AffineRange {
    /// Maximum rotation in degrees (either way).
    pub degrees: f32,
    /// Maximum relative scale change (0.1 = 0.9x to 1.1x).
    pub scale: f32,
    /// Maximum shift in pixels (either axis).
    pub shift: f32,
    /// Maximum horizontal shear (slant), as dx/dy.
    #[serde(default)]
    pub shear: f32,
    /// Probability of thickening or thinning the strokes (3x3 grey dilation or erosion).
    #[serde(default)]
    pub thickness: f32,
    /// The image side that `shift` and the stroke change are meant for. On images whose
    /// shorter side `s` differs, the shift is scaled by `s / reference_side`, so that it moves
    /// a digit by the same fraction of its size (2 pixels are 7% of a 28x28 digit but 25% of
    /// an 8x8 one), and below `reference_side` the stroke change is off: a one-pixel dilation
    /// cannot shrink with the image, and on 8x8 digits even blended in at 8/28 it cost 0.2
    /// of accuracy (README, Generality). `None` (configs written before this field) keeps
    /// the sizes in the data's own pixels.
    #[serde(default)]
    pub reference_side: Option<f32>,
}

impl Default for AffineRange {
    fn default() -> Self {
        AffineRange {
            degrees: 15.0,
            scale: 0.1,
            shift: 2.0,
            shear: 0.0,
            thickness: 0.0,
            reference_side: Some(MNIST_SIDE),
        }
    }
}

/// The side of the images the default distortion sizes were measured on (MNIST, 28x28).
pub const MNIST_SIDE: f32 = 28.0;

/// Distort each image of a batch (scaled values, background `-1`) with a random affine map,
/// bilinear sampling. `rows x cols` is the image shape. Runs on the host, per batch.
pub fn affine_distort(
    batch: &[f32],
    rows: usize,
    cols: usize,
    range: AffineRange,
    rng: &mut impl Rng,
) -> Vec<f32> {
    let dim = rows * cols;
    let mut out = vec![-1.0f32; batch.len()];
    let (cy, cx) = ((rows as f32 - 1.0) / 2.0, (cols as f32 - 1.0) / 2.0);
    // 1 exactly at the reference side, so those images see the unscaled sizes bit for bit.
    let size = range
        .reference_side
        .map_or(1.0, |side| rows.min(cols) as f32 / side);
    let shift = range.shift * size;
    for (src, dst) in batch.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
        let angle = rng
            .random_range(-range.degrees..=range.degrees)
            .to_radians();
        let scale = 1.0 + rng.random_range(-range.scale..=range.scale);
        let (ty, tx) = (
            rng.random_range(-shift..=shift),
            rng.random_range(-shift..=shift),
        );
        let shear = if range.shear > 0.0 {
            rng.random_range(-range.shear..=range.shear)
        } else {
            0.0
        };
        // Inverse map: output pixel -> source coordinate.
        let (sin, cos) = angle.sin_cos();
        for r in 0..rows {
            for c in 0..cols {
                let (y, x) = (r as f32 - cy - ty, c as f32 - cx - tx);
                let x = x - shear * y;
                let sy = (cos * y - sin * x) / scale + cy;
                let sx = (sin * y + cos * x) / scale + cx;
                dst[r * cols + c] = bilinear(src, rows, cols, sy, sx);
            }
        }
        if range.thickness > 0.0 && size >= 1.0 && rng.random_bool(range.thickness.min(1.0) as f64)
        {
            let thicker = rng.random_bool(0.5);
            morph_cross(dst, rows, cols, thicker);
        }
    }
    out
}

/// Grey dilation (`thicker`) or erosion over the 3x3 cross, in place.
fn morph_cross(img: &mut [f32], rows: usize, cols: usize, thicker: bool) {
    let src = img.to_vec();
    let at = |r: isize, c: isize| {
        if r < 0 || c < 0 || r >= rows as isize || c >= cols as isize {
            -1.0
        } else {
            src[r as usize * cols + c as usize]
        }
    };
    for r in 0..rows as isize {
        for c in 0..cols as isize {
            let v = [
                at(r, c),
                at(r - 1, c),
                at(r + 1, c),
                at(r, c - 1),
                at(r, c + 1),
            ];
            let pick = if thicker {
                v.iter().copied().fold(f32::MIN, f32::max)
            } else {
                v.iter().copied().fold(f32::MAX, f32::min)
            };
            img[r as usize * cols + c as usize] = pick;
        }
    }
}

fn bilinear(img: &[f32], rows: usize, cols: usize, y: f32, x: f32) -> f32 {
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = (y - y0, x - x0);
    let at = |yy: f32, xx: f32| {
        if yy < 0.0 || xx < 0.0 || yy >= rows as f32 || xx >= cols as f32 {
            -1.0
        } else {
            img[yy as usize * cols + xx as usize]
        }
    };
    let top = at(y0, x0) * (1.0 - fx) + at(y0, x0 + 1.0) * fx;
    let bottom = at(y0 + 1.0, x0) * (1.0 - fx) + at(y0 + 1.0, x0 + 1.0) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Build a `[B, D]` tensor from host rows.
pub fn tensor_from_rows(values: Vec<f32>, rows: usize, device: &burn::tensor::Device) -> Tensor<2> {
    let d = values.len() / rows.max(1);
    Tensor::from_data(TensorData::new(values, [rows, d]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn identity_affine_keeps_the_image() {
        let img: Vec<f32> = (0..28 * 28).map(|v| (v % 17) as f32 / 8.0 - 1.0).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let zero = AffineRange {
            degrees: 0.0,
            scale: 0.0,
            shift: 0.0,
            shear: 0.0,
            thickness: 0.0,
            reference_side: None,
        };
        let out = affine_distort(&img, 28, 28, zero, &mut rng);
        for (a, b) in img.iter().zip(&out) {
            assert!((a - b).abs() < 1e-5);
        }
        let moved = affine_distort(&img, 28, 28, AffineRange::default(), &mut rng);
        assert!(img.iter().zip(&moved).any(|(a, b)| (a - b).abs() > 0.1));
    }

    #[test]
    fn sizes_scale_with_the_image_and_not_at_28x28() {
        let img: Vec<f32> = (0..3 * 28 * 28)
            .map(|v| (v % 13) as f32 / 6.0 - 1.0)
            .collect();
        let range = AffineRange {
            shear: 0.6,
            thickness: 1.0,
            ..AffineRange::default()
        };
        let unscaled = AffineRange {
            reference_side: None,
            ..range
        };
        let run = |r: AffineRange, rows: usize, cols: usize| {
            let n = 3 * rows * cols;
            affine_distort(
                &img[..n],
                rows,
                cols,
                r,
                &mut rand::rngs::StdRng::seed_from_u64(7),
            )
        };
        // At the reference side the scaling is the identity, bit for bit.
        let (a, b) = (run(range, 28, 28), run(unscaled, 28, 28));
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
        // On 8x8 images the shift shrinks to 8/28 of its size and the stroke change is off.
        let (a, b) = (run(range, 8, 8), run(unscaled, 8, 8));
        assert!(a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 0.01));
        let zero = AffineRange {
            degrees: 0.0,
            scale: 0.0,
            shear: 0.0,
            ..range
        };
        let moved = |r| {
            run(r, 8, 8)
                .iter()
                .zip(&img)
                .map(|(x, y)| (x - y).abs())
                .sum::<f32>()
        };
        assert!(
            moved(zero)
                < 0.5
                    * moved(AffineRange {
                        reference_side: None,
                        ..zero
                    })
        );
    }

    #[test]
    fn sat_list_parses_and_rejects() {
        assert_eq!(
            parse_sat_list("vat,affine").unwrap(),
            vec![SatKind::Vat, SatKind::Affine]
        );
        assert!(parse_sat_list("vat,bogus").unwrap_err().contains("bogus"));
        // A kind named twice is one term, not two.
        assert_eq!(
            parse_sat_list("vat, vat,affine").unwrap(),
            vec![SatKind::Vat, SatKind::Affine]
        );
    }
}
