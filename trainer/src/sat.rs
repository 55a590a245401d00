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
    use crate::backend::host_values;
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

    const ALL: [SatKind; 5] = [
        SatKind::Vat,
        SatKind::Rpt,
        SatKind::Affine,
        SatKind::Neighbour,
        SatKind::Edits,
    ];

    /// Each kind's name parses back to it (the model card and `--sat` use the names), and
    /// only the image edits need pixels (feature vectors are refused for those alone).
    #[test]
    fn names_round_trip_and_only_image_edits_need_pixels() {
        let names: Vec<&str> = ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, ["vat", "rpt", "affine", "neighbour", "edits"]);
        for kind in ALL {
            assert_eq!(kind.as_str().parse::<SatKind>(), Ok(kind));
            let image_edit = matches!(kind, SatKind::Affine | SatKind::Edits);
            assert_eq!(kind.needs_pixels(), image_edit, "{kind:?}");
        }
        for alias in ["neighbor", "nbr"] {
            assert_eq!(alias.parse::<SatKind>(), Ok(SatKind::Neighbour));
        }
    }

    /// Rows of unit norm whose components are those of a uniform direction (mean 0, each
    /// coordinate's square 1/dim on average, rows uncorrelated); fixed by the seed whatever
    /// the number of threads, different for another seed, and different between the rows
    /// each parallel task draws (its stream mixed into the seed, for seeds of all zeros and
    /// all ones too). No columns: no values, and no panic.
    #[test]
    fn random_directions_are_uniform_unit_rows_fixed_by_the_seed() {
        let device = crate::backend::training_device();
        let (rows, dim) = (4_000, 24);
        let draw = |seed: u64| host_values(random_directions([rows, dim], seed, &device));
        let d = draw(5);
        assert_eq!(d.len(), rows * dim);
        for row in d.chunks_exact(dim) {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        }
        for j in 0..dim {
            let column = d.iter().skip(j).step_by(dim);
            let (mean, square) = column.fold((0f64, 0f64), |(m, s), &v| {
                (m + v as f64 / rows as f64, s + (v * v) as f64 / rows as f64)
            });
            // Standard errors: 1/sqrt(dim * rows) for the mean, ~0.0046 for the square.
            assert!(mean.abs() < 0.015, "column {j}: mean {mean}");
            assert!(
                (square * dim as f64 - 1.0).abs() < 0.1,
                "column {j}: {square}"
            );
        }
        let dots = d
            .chunks_exact(dim)
            .zip(d.chunks_exact(dim).skip(1))
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() as f64);
        let mean_dot = dots.sum::<f64>() / (rows - 1) as f64;
        assert!(
            mean_dot.abs() < 0.01,
            "consecutive rows correlate: {mean_dot}"
        );

        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(one_thread.install(|| draw(5)), d);
        assert_eq!(draw(5), d);
        assert_ne!(draw(6), d);
        for seed in [0, u64::MAX] {
            let d = draw(seed);
            let row = |i: usize| &d[i * dim..(i + 1) * dim];
            let tasks = DIRECTION_ROWS_PER_TASK;
            assert_ne!(row(0), row(tasks), "seed {seed}: two tasks draw alike");
            assert_ne!(row(tasks), row(2 * tasks), "seed {seed}");
        }
        assert!(host_values(random_directions([3, 0], 1, &device)).is_empty());
    }

    /// The source coordinates the distortion reads for each output pixel of `n` images of
    /// `rows x cols`: the outputs of a row ramp and a column ramp (offset by 100 from the
    /// background's -1) under the same draws, which bilinear sampling of a linear function
    /// returns exactly wherever the four pixels it reads lie inside the image.
    fn source_coordinates(
        n: usize,
        (rows, cols): (usize, usize),
        range: AffineRange,
        seed: u64,
    ) -> Vec<(Vec<f32>, Vec<f32>)> {
        let ramp = |f: &dyn Fn(usize, usize) -> f32| -> Vec<f32> {
            let one: Vec<f32> = (0..rows * cols).map(|i| f(i / cols, i % cols)).collect();
            one.repeat(n)
        };
        let run = |batch: Vec<f32>| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            affine_distort(&batch, rows, cols, range, &mut rng)
        };
        let sy = run(ramp(&|r, _| 100.0 + r as f32));
        let sx = run(ramp(&|_, c| 100.0 + c as f32));
        let dim = rows * cols;
        let back = |v: &[f32]| v.iter().map(|x| x - 100.0).collect::<Vec<f32>>();
        (sy.chunks_exact(dim).zip(sx.chunks_exact(dim)))
            .map(|(y, x)| (back(y), back(x)))
            .collect()
    }

    /// One image's map, read off its source coordinates: the linear part `[[a1, a2], [b1,
    /// b2]]` (source row and column per output row and column) and the source of the pixel
    /// `at`, checked to be affine over the pixels within `radius` of the centre.
    fn fitted_map(
        (sy, sx): &(Vec<f32>, Vec<f32>),
        (rows, cols): (usize, usize),
        at: (usize, usize),
        radius: f32,
    ) -> ([[f32; 2]; 2], (f32, f32)) {
        let v = |m: &Vec<f32>, r: usize, c: usize| m[r * cols + c];
        let (r0, c0) = at;
        let l = [
            [
                v(sy, r0 + 1, c0) - v(sy, r0, c0),
                v(sy, r0, c0 + 1) - v(sy, r0, c0),
            ],
            [
                v(sx, r0 + 1, c0) - v(sx, r0, c0),
                v(sx, r0, c0 + 1) - v(sx, r0, c0),
            ],
        ];
        let (cy, cx) = ((rows as f32 - 1.0) / 2.0, (cols as f32 - 1.0) / 2.0);
        for r in 0..rows {
            for c in 0..cols {
                if (r as f32 - cy).hypot(c as f32 - cx) > radius {
                    continue;
                }
                let (dr, dc) = (r as f32 - r0 as f32, c as f32 - c0 as f32);
                let want_y = v(sy, r0, c0) + l[0][0] * dr + l[0][1] * dc;
                let want_x = v(sx, r0, c0) + l[1][0] * dr + l[1][1] * dc;
                assert!(
                    (v(sy, r, c) - want_y).abs() < 2e-3,
                    "({r}, {c}): not affine"
                );
                assert!(
                    (v(sx, r, c) - want_x).abs() < 2e-3,
                    "({r}, {c}): not affine"
                );
            }
        }
        (l, (v(sy, r0, c0), v(sx, r0, c0)))
    }

    /// Every image's map is a rotation by at most `degrees` about the centre, scaled by
    /// `1 +- scale`, then shifted by at most `shift` pixels (here `shift` times 24/48 of
    /// the reference side) each way: read back from ramps on a 24x32 image, where swapping
    /// rows and columns or moving the centre shows. Over 60 images the draws reach near
    /// both ends of each range.
    #[test]
    fn the_distortion_is_a_rotation_scaling_and_shift_within_its_ranges() {
        let shape = (24, 32);
        let (cy, cx) = (11.5f32, 15.5f32);
        for (reference_side, shift) in [(None, 2.0f32), (Some(48.0), 1.0)] {
            let range = AffineRange {
                degrees: 15.0,
                scale: 0.1,
                shift: 2.0,
                shear: 0.0,
                thickness: 0.0,
                reference_side,
            };
            let mut draws = Vec::new();
            for map in source_coordinates(60, shape, range, 3) {
                // Within 6 pixels of the centre every source lies inside the image:
                // (6 + 2 sqrt 2) / 0.9 < 10.5.
                let (l, (y0, x0)) = fitted_map(&map, shape, (12, 16), 6.0);
                assert!((l[0][0] - l[1][1]).abs() < 1e-4, "{l:?}: not a rotation");
                assert!((l[0][1] + l[1][0]).abs() < 1e-4, "{l:?}: not a rotation");
                let (a, b) = (l[0][0], l[1][0]);
                let scale = 1.0 / a.hypot(b);
                let angle = b.atan2(a).to_degrees();
                // The shift t: the source of p is L (p - centre - t) + centre.
                let (dy, dx) = (y0 - cy, x0 - cx);
                let det = a * a + b * b;
                let (uy, ux) = ((a * dy + b * dx) / det, (-b * dy + a * dx) / det);
                let (ty, tx) = (12.0 - cy - uy, 16.0 - cx - ux);
                assert!((0.9 - 1e-4..=1.1 + 1e-4).contains(&scale), "scale {scale}");
                assert!(angle.abs() <= 15.0 + 1e-3, "angle {angle}");
                assert!(ty.abs().max(tx.abs()) <= shift + 1e-3, "shift {ty}, {tx}");
                draws.push([angle / 15.0, (scale - 1.0) / 0.1, ty / shift, tx / shift]);
                // Where the map reads a whole pixel or more outside the image, the
                // background (-1, here -101 after the ramps' offset) fills in.
                for r in 0..24 {
                    for c in 0..32 {
                        let (dr, dc) = (r as f32 - 12.0, c as f32 - 16.0);
                        let sy = y0 + l[0][0] * dr + l[0][1] * dc;
                        let sx = x0 + l[1][0] * dr + l[1][1] * dc;
                        if sy < -1.0 || sx < -1.0 || sy > 24.0 || sx > 32.0 {
                            let i = r * 32 + c;
                            assert_eq!((map.0[i], map.1[i]), (-101.0, -101.0), "({r}, {c})");
                        }
                    }
                }
            }
            for k in 0..4 {
                let (lo, hi) = draws
                    .iter()
                    .fold((0f32, 0f32), |(l, h), d| (l.min(d[k]), h.max(d[k])));
                assert!(lo < -0.8 && hi > 0.8, "draw {k} spans {lo}..{hi}");
            }
        }
    }

    /// A shear alone keeps each row and moves it sideways in proportion to its distance from
    /// the centre row, by at most `shear` columns per row either way.
    #[test]
    fn a_shear_slants_rows_about_the_centre() {
        let shape = (24, 32);
        let range = AffineRange {
            degrees: 0.0,
            scale: 0.0,
            shift: 0.0,
            shear: 0.3,
            thickness: 0.0,
            reference_side: None,
        };
        let mut slants = Vec::new();
        for map in source_coordinates(40, shape, range, 4) {
            let (l, (y0, x0)) = fitted_map(&map, shape, (12, 16), 6.0);
            assert!(
                (l[0][0] - 1.0).abs() < 1e-4 && l[0][1].abs() < 1e-4,
                "{l:?}"
            );
            assert!((l[1][1] - 1.0).abs() < 1e-4, "{l:?}");
            // Row 12 is half a row below the centre (11.5).
            assert!((y0 - 12.0).abs() < 1e-4);
            assert!((x0 - (16.0 + l[1][0] * 0.5)).abs() < 1e-4, "{x0}");
            slants.push(-l[1][0]);
        }
        assert!(slants.iter().all(|h| h.abs() <= 0.3 + 1e-4));
        let (lo, hi) = (
            slants.iter().copied().fold(0f32, f32::min),
            slants.iter().copied().fold(0f32, f32::max),
        );
        assert!(lo < -0.2 && hi > 0.2, "{lo}..{hi}");
    }

    /// With `thickness` p, a share p of the images is dilated or eroded (half each) over
    /// the 3x3 cross, the outside counting as background.
    #[test]
    fn strokes_thicken_or_thin_over_the_cross() {
        let (rows, cols, n): (usize, usize, usize) = (9, 7, 200);
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let batch: Vec<f32> = (0..n * rows * cols)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        // By brute force: the pixels within Manhattan distance 1, and the background where
        // that cross leaves the image.
        let morph = |img: &[f32], thicker: bool| -> Vec<f32> {
            (0..rows * cols)
                .map(|i| {
                    let (r, c) = (i / cols, i % cols);
                    let mut near: Vec<f32> = (0..rows * cols)
                        .filter(|&j| (j / cols).abs_diff(r) + (j % cols).abs_diff(c) <= 1)
                        .map(|j| img[j])
                        .collect();
                    if near.len() < 5 {
                        near.push(-1.0);
                    }
                    let (first, rest) = near.split_first().unwrap();
                    rest.iter()
                        .fold(*first, |a, &b| if thicker { a.max(b) } else { a.min(b) })
                })
                .collect()
        };
        for (p, expected) in [(1.0, n), (0.5, n / 2)] {
            let range = AffineRange {
                degrees: 0.0,
                scale: 0.0,
                shift: 0.0,
                shear: 0.0,
                thickness: p,
                reference_side: None,
            };
            let out = affine_distort(&batch, rows, cols, range, &mut rng);
            let dim = rows * cols;
            let (mut thicker, mut thinner) = (0usize, 0usize);
            for (src, dst) in batch.chunks_exact(dim).zip(out.chunks_exact(dim)) {
                let close = |want: &[f32]| dst.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5);
                if close(&morph(src, true)) {
                    thicker += 1;
                } else if close(&morph(src, false)) {
                    thinner += 1;
                } else {
                    assert!(close(src), "neither kept, dilated nor eroded");
                }
            }
            let changed = thicker + thinner;
            // Binomial: standard deviation 7 of 200 at p = 0.5, and of each half.
            assert!(changed.abs_diff(expected) <= 25, "p {p}: {changed} of {n}");
            assert!(
                thicker.abs_diff(thinner) <= 40,
                "{thicker} thicker, {thinner} thinner"
            );
        }
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
