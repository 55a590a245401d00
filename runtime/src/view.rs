//! The view: how a photo of any size becomes a model's fixed input.
//!
//! A photo model is trained on a small grayscale view of each photo and must see exactly the
//! same view at run time, from the same decoded pixels, or its bits drift. The rule is
//! therefore part of the model: written into the ONNX metadata (`imsat.view`, see
//! [`View::to_metadata`]) by the trainer and applied here by everything that encodes photos
//! (the CLI, an app, a board without an OS). It is plain arithmetic on decoded pixels, so it
//! is `no_std`; decoding the JPEG is the caller's job.
//!
//! The rule: luma from RGB with integer BT.601 weights, an area-average resize to
//! `rows x cols` (every source pixel counts in proportion to its overlap, so shrinking never
//! aliases), then a [`Contrast`] stretch to a fixed centre and spread, so that brightness and
//! contrast edits barely move the view.
//!
//! A view may add a second look at the same photo, its centre ([`View::centre`]): the model
//! runs on both and the code is the sign of the mean of the two logits. Averaging over a
//! slightly cropped copy smooths the code where a crop, a small rotation or a box near the
//! border would flip a bit (measured on held-out photos: `models/photo64.md`).

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// The metadata key that holds a model's view (absent on digit models, which take images
/// already at their input size).
pub const METADATA_KEY: &str = "imsat.view";

/// Standard deviation of a normalized view, in gray levels (mean 128: +-2.6 sigma fit in u8).
pub const NORMALIZED_STD: f32 = 48.0;

/// Contrast below this (gray levels of standard deviation) is treated as flat, so the noise
/// of a blank photo is not stretched into a pattern.
const FLAT_STD: f32 = 2.0;

/// A view rule: grayscale, area resize to `rows x cols`, then a contrast stretch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub rows: usize,
    pub cols: usize,
    pub contrast: Contrast,
    /// A second view of the centred part of the photo keeping this percentage of its area
    /// (metadata suffix `+centre85`), after the whole photo's; `None`: one view.
    pub centre: Option<u8>,
}

/// How a view's gray levels are stretched (the last word of the metadata text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contrast {
    /// As resized (`raw`).
    Raw,
    /// Mean 128, standard deviation [`NORMALIZED_STD`] (`norm`).
    Norm,
    /// Median 128 and the interquartile range of a standard deviation of
    /// [`NORMALIZED_STD`] (`robust`): a caption box or a logo over 5% of a low-contrast photo
    /// inflates its standard deviation several times, squashing the rest of the view, but
    /// barely moves its quartiles. Where more than half of the view is one flat colour (flat
    /// graphics) the quartiles meet and the gain is the largest, `NORMALIZED_STD / FLAT_STD`.
    Robust,
}

impl Contrast {
    /// Every rule.
    pub const ALL: [Contrast; 3] = [Contrast::Raw, Contrast::Norm, Contrast::Robust];

    /// The name in the metadata text and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Contrast::Raw => "raw",
            Contrast::Norm => "norm",
            Contrast::Robust => "robust",
        }
    }

    /// The rule named `name` ([`Contrast::as_str`]).
    pub fn from_name(name: &str) -> Option<Contrast> {
        Contrast::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// Why a view could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    #[error("image has zero size ({width}x{height})")]
    Empty { width: usize, height: usize },
    #[error("{channels} channels per pixel (expected 1 gray, 2 gray+alpha, 3 RGB or 4 RGBA)")]
    Channels { channels: usize },
    #[error("{len} bytes is not a {width}x{height} image of {channels} channels")]
    Size {
        len: usize,
        width: usize,
        height: usize,
        channels: usize,
    },
    #[error(
        "`{METADATA_KEY}` is {text:?}, not like gray-area-32x32-norm or gray-area-16x16-robust+centre85"
    )]
    Metadata { text: String },
}

impl View {
    /// The metadata text, e.g. `gray-area-32x32-norm` (`-raw`, `-norm` or `-robust`), with
    /// `+centre85` for a second, centre view.
    pub fn to_metadata(&self) -> String {
        let centre = match self.centre {
            Some(p) => format!("+centre{p}"),
            None => String::new(),
        };
        format!(
            "gray-area-{}x{}-{}{centre}",
            self.rows,
            self.cols,
            self.contrast.as_str()
        )
    }

    /// Parse [`View::to_metadata`]'s text.
    pub fn from_metadata(text: &str) -> Result<View, ViewError> {
        let bad = || ViewError::Metadata { text: text.into() };
        let (text, centre) = match text.split_once('+') {
            None => (text, None),
            Some((base, extra)) => {
                let percent = extra
                    .strip_prefix("centre")
                    .and_then(|p| p.parse::<u8>().ok())
                    .filter(|p| (1..=99).contains(p))
                    .ok_or_else(bad)?;
                (base, Some(percent))
            }
        };
        let rest = text.strip_prefix("gray-area-").ok_or_else(bad)?;
        let (size, mode) = rest.rsplit_once('-').ok_or_else(bad)?;
        let (r, c) = size.split_once('x').ok_or_else(bad)?;
        let dim = |s: &str| s.parse::<usize>().ok().filter(|&d| (1..=4096).contains(&d));
        let (rows, cols) = (dim(r).ok_or_else(bad)?, dim(c).ok_or_else(bad)?);
        let contrast = Contrast::from_name(mode).ok_or_else(bad)?;
        Ok(View {
            rows,
            cols,
            contrast,
            centre,
        })
    }

    /// Values in one view (`rows * cols`): one input row of the model.
    pub fn dim(&self) -> usize {
        self.rows * self.cols
    }

    /// Views per photo: 2 with a centre view, else 1.
    pub fn views(&self) -> usize {
        1 + self.centre.is_some() as usize
    }

    /// The views of an interleaved `width x height` image with `channels` bytes per pixel
    /// (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; alpha is ignored): [`View::views`] model rows
    /// of [`View::dim`] bytes, the whole photo's first. Run the model on each and average
    /// the logits ([`mean_over_views`]) before taking signs or the argmax.
    pub fn apply(
        &self,
        pixels: &[u8],
        width: usize,
        height: usize,
        channels: usize,
    ) -> Result<Vec<u8>, ViewError> {
        if width == 0 || height == 0 {
            return Err(ViewError::Empty { width, height });
        }
        if !(1..=4).contains(&channels) {
            return Err(ViewError::Channels { channels });
        }
        if Some(pixels.len())
            != width
                .checked_mul(height)
                .and_then(|p| p.checked_mul(channels))
        {
            return Err(ViewError::Size {
                len: pixels.len(),
                width,
                height,
                channels,
            });
        }
        let gray: Vec<f32> = pixels
            .chunks_exact(channels)
            .map(|p| luma(p) as f32)
            .collect();
        let mut out = self.one_view(&gray, width, height);
        if let Some(percent) = self.centre {
            let (x, y, w, h) = centre_rect(width, height, percent);
            let part: Vec<f32> = gray
                .chunks_exact(width)
                .skip(y)
                .take(h)
                .flat_map(|row| &row[x..x + w])
                .copied()
                .collect();
            out.extend(self.one_view(&part, w, h));
        }
        Ok(out)
    }

    /// Resize and stretch one gray plane.
    fn one_view(&self, gray: &[f32], width: usize, height: usize) -> Vec<u8> {
        let small = area_resize(gray, width, height, self.cols, self.rows);
        match self.contrast {
            Contrast::Raw => small.iter().map(|&v| to_u8(v)).collect(),
            Contrast::Norm => normalized(&small),
            Contrast::Robust => robust_normalized(&small),
        }
    }
}

/// The centred rectangle `(x, y, width, height)` keeping `percent` of a `width x height`
/// image's area at its aspect: each side scaled by sqrt(percent / 100) and rounded, the
/// margins split evenly (an odd pixel goes to the first), at least one pixel.
pub fn centre_rect(width: usize, height: usize, percent: u8) -> (usize, usize, usize, usize) {
    let side = sqrt(percent as f64 / 100.0);
    let scaled = |d: usize| ((d as f64 * side + 0.5) as usize).clamp(1, d);
    let (w, h) = (scaled(width), scaled(height));
    ((width - w).div_ceil(2), (height - h).div_ceil(2), w, h)
}

/// The mean over each photo's `views` consecutive rows of `logits` (`outputs` per row): the
/// logits of a photo under a multi-view [`View`]. One view returns the logits as they are.
pub fn mean_over_views(logits: &[f32], views: usize, outputs: usize) -> Vec<f32> {
    if views <= 1 {
        return logits.to_vec();
    }
    logits
        .chunks_exact(views * outputs)
        .flat_map(|photo| {
            (0..outputs).map(move |j| {
                (0..views).map(|v| photo[v * outputs + j]).sum::<f32>() / views as f32
            })
        })
        .collect()
}

/// BT.601 luma with integer weights (77, 150, 29)/256, the same on every target.
fn luma(p: &[u8]) -> u8 {
    match p.len() {
        1 | 2 => p[0],
        _ => ((77 * p[0] as u32 + 150 * p[1] as u32 + 29 * p[2] as u32 + 128) >> 8) as u8,
    }
}

fn to_u8(v: f32) -> u8 {
    // `as` saturates; adding 0.5 rounds the non-negative values.
    (v + 0.5) as u8
}

/// For each output cell of a `src -> dst` resize along one axis: the source cells it covers
/// and their overlap weights (summing to 1).
fn area_weights(src: usize, dst: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|o| {
            let (lo, hi) = (o as f64 * scale, (o + 1) as f64 * scale);
            let mut w = Vec::new();
            // `lo` is non-negative, so truncation is the floor (`f64::floor` needs std).
            let mut i = lo as usize;
            while (i as f64) < hi && i < src {
                let overlap = (hi.min(i as f64 + 1.0) - lo.max(i as f64)) / scale;
                if overlap > 0.0 {
                    w.push((i, overlap as f32));
                }
                i += 1;
            }
            w
        })
        .collect()
}

/// Area-average resize of a `w x h` plane to `ow x oh` (separable: columns, then rows).
fn area_resize(src: &[f32], w: usize, h: usize, ow: usize, oh: usize) -> Vec<f32> {
    let (wx, wy) = (area_weights(w, ow), area_weights(h, oh));
    let mut across = vec![0f32; h * ow];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for (x, weights) in wx.iter().enumerate() {
            across[y * ow + x] = weights.iter().map(|&(i, a)| row[i] * a).sum();
        }
    }
    let mut out = vec![0f32; oh * ow];
    for (y, weights) in wy.iter().enumerate() {
        for x in 0..ow {
            out[y * ow + x] = weights.iter().map(|&(i, a)| across[i * ow + x] * a).sum();
        }
    }
    out
}

/// Stretch to mean 128 and standard deviation [`NORMALIZED_STD`], clamped to u8.
fn normalized(v: &[f32]) -> Vec<u8> {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v
        .iter()
        .map(|&x| (x as f64 - mean) * (x as f64 - mean))
        .sum::<f64>()
        / n;
    stretched(v, mean, sqrt(var))
}

/// Stretch so that the median lands on 128 and the interquartile range on that of a normal
/// spread of standard deviation [`NORMALIZED_STD`] (1.349 sigma), clamped to u8.
fn robust_normalized(v: &[f32]) -> Vec<u8> {
    let mut sorted = v.to_vec();
    sorted.sort_unstable_by(f32::total_cmp);
    let at = |q: usize| sorted[(sorted.len() * q / 4).min(sorted.len() - 1)] as f64;
    stretched(v, at(2), (at(3) - at(1)) / 1.349)
}

/// Map `centre` to 128 and a `spread` (at least [`FLAT_STD`]) to [`NORMALIZED_STD`] levels,
/// clamped to u8.
fn stretched(v: &[f32], centre: f64, spread: f64) -> Vec<u8> {
    let gain = NORMALIZED_STD as f64 / spread.max(FLAT_STD as f64);
    v.iter()
        .map(|&x| to_u8((128.0 + (x as f64 - centre) * gain).clamp(0.0, 255.0) as f32))
        .collect()
}

/// Square root by Newton's method (`core` has no `f64::sqrt` without std); exact to the last
/// bits for the variances seen here, and the same on every target.
fn sqrt(x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let mut r = if x > 1.0 { x / 2.0 } else { 1.0 };
    for _ in 0..64 {
        let next = 0.5 * (r + x / r);
        if next == r {
            break;
        }
        r = next;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_rejects_junk() {
        for v in [
            View {
                rows: 32,
                cols: 32,
                contrast: Contrast::Norm,
                centre: None,
            },
            View {
                rows: 16,
                cols: 24,
                contrast: Contrast::Raw,
                centre: None,
            },
            View {
                rows: 16,
                cols: 16,
                contrast: Contrast::Robust,
                centre: None,
            },
            View {
                rows: 16,
                cols: 16,
                contrast: Contrast::Robust,
                centre: Some(85),
            },
        ] {
            assert_eq!(View::from_metadata(&v.to_metadata()), Ok(v));
        }
        for junk in [
            "",
            "gray-area-32x32",
            "gray-area-0x32-norm",
            "rgb-area-32x32-norm",
            "gray-area-32x32-fancy",
            "gray-area-16x16-robust+centre",
            "gray-area-16x16-robust+centre0",
            "gray-area-16x16-robust+centre100",
            "gray-area-16x16-robust+middle85",
        ] {
            assert!(View::from_metadata(junk).is_err(), "{junk}");
        }
    }

    /// The centre view is the one-view rule on the centred crop, after the whole photo's;
    /// the logits of the two are averaged per photo.
    #[test]
    fn a_centre_view_is_the_view_of_the_centred_crop() {
        let (w, h) = (30, 20);
        let img: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
        let one = View {
            rows: 4,
            cols: 4,
            contrast: Contrast::Robust,
            centre: None,
        };
        let two = View {
            centre: Some(64),
            ..one
        };
        assert_eq!((one.views(), two.views()), (1, 2));
        // 64% of the area: sides x0.8, 24x16 at (3, 2).
        assert_eq!(centre_rect(w, h, 64), (3, 2, 24, 16));
        assert_eq!(centre_rect(31, 3, 81), (2, 0, 28, 3));
        assert_eq!(centre_rect(1, 1, 1), (0, 0, 1, 1));
        let crop: Vec<u8> = img
            .chunks_exact(w * 3)
            .skip(2)
            .take(16)
            .flat_map(|row| &row[3 * 3..(3 + 24) * 3])
            .copied()
            .collect();
        let both = two.apply(&img, w, h, 3).unwrap();
        assert_eq!(both.len(), 2 * 16);
        assert_eq!(both[..16], one.apply(&img, w, h, 3).unwrap()[..]);
        assert_eq!(both[16..], one.apply(&crop, 24, 16, 3).unwrap()[..]);
        assert_ne!(both[..16], both[16..]);
        // Two photos of two views of three outputs.
        let logits = [
            1.0, -2.0, 0.5, 3.0, 2.0, -1.5, -1.0, -1.0, 4.0, 0.0, 1.0, 2.0,
        ];
        assert_eq!(
            mean_over_views(&logits, 2, 3),
            [2.0, 0.0, -0.5, -0.5, 0.0, 3.0]
        );
        assert_eq!(mean_over_views(&logits, 1, 3), logits);
    }

    #[test]
    fn area_resize_averages_blocks_exactly() {
        // 4x4 -> 2x2: each output is the mean of a 2x2 block.
        let src: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let out = area_resize(&src, 4, 4, 2, 2);
        assert_eq!(out, [2.5, 4.5, 10.5, 12.5]);
        // 3 -> 2 along one axis: weights 2/3,1/3 and 1/3,2/3.
        let out = area_resize(&[0.0, 3.0, 6.0], 3, 1, 2, 1);
        assert!((out[0] - 1.0).abs() < 1e-5 && (out[1] - 5.0).abs() < 1e-5);
    }

    #[test]
    fn normalization_ignores_brightness_and_contrast() {
        let view = View {
            rows: 4,
            cols: 4,
            contrast: Contrast::Norm,
            centre: None,
        };
        let img: Vec<u8> = (0..64).map(|v| (v * 3 % 200) as u8 + 20).collect();
        let a = view.apply(&img, 8, 8, 1).unwrap();
        let brighter: Vec<u8> = img.iter().map(|&v| v / 2 + 60).collect();
        let b = view.apply(&brighter, 8, 8, 1).unwrap();
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.abs_diff(*y) <= 2),
            "{a:?} {b:?}"
        );
        let mean = a.iter().map(|&v| v as f64).sum::<f64>() / 16.0;
        assert!((mean - 128.0).abs() < 1.0);
        // A flat image stays flat instead of amplifying rounding noise.
        let flat = view.apply(&[90; 64], 8, 8, 1).unwrap();
        assert!(flat.iter().all(|&v| v == 128));
    }

    /// A bright box over 5% of a low-contrast image squashes the rest of a `norm` view but
    /// leaves a `robust` view's other pixels within a few levels; both ignore brightness.
    #[test]
    fn robust_normalization_shrugs_off_a_caption_box() {
        let (w, h) = (20, 20);
        let img: Vec<u8> = (0..w * h).map(|i| (100 + (i * 7) % 23) as u8).collect();
        let mut boxed = img.clone();
        boxed[..w].fill(250); // the top row: 5% of the pixels
        let moved = |contrast| {
            let view = View {
                rows: h,
                cols: w,
                contrast,
                centre: None,
            };
            let (a, b) = (
                view.apply(&img, w, h, 1).unwrap(),
                view.apply(&boxed, w, h, 1).unwrap(),
            );
            let brighter: Vec<u8> = img.iter().map(|&v| v + 40).collect();
            let c = view.apply(&brighter, w, h, 1).unwrap();
            assert!(a.iter().zip(&c).all(|(x, y)| x.abs_diff(*y) <= 1));
            a[w..]
                .iter()
                .zip(&b[w..])
                .map(|(x, y)| x.abs_diff(*y) as f64)
                .sum::<f64>()
                / (a.len() - w) as f64
        };
        let (norm, robust) = (moved(Contrast::Norm), moved(Contrast::Robust));
        assert!(norm > 20.0 && robust < 6.0, "norm {norm}, robust {robust}");
        let flat = View {
            rows: 4,
            cols: 4,
            contrast: Contrast::Robust,
            centre: None,
        };
        assert!(
            flat.apply(&[90; 64], 8, 8, 1)
                .unwrap()
                .iter()
                .all(|&v| v == 128)
        );
    }

    #[test]
    fn rgb_uses_luma_and_bad_shapes_are_errors() {
        let view = View {
            rows: 1,
            cols: 1,
            contrast: Contrast::Raw,
            centre: None,
        };
        assert_eq!(view.apply(&[255, 0, 0], 1, 1, 3).unwrap(), [77]);
        assert_eq!(view.apply(&[0, 255, 0, 9], 1, 1, 4).unwrap(), [149]);
        assert!(matches!(
            view.apply(&[], 0, 5, 1),
            Err(ViewError::Empty { .. })
        ));
        assert!(matches!(
            view.apply(&[1, 2], 1, 1, 3),
            Err(ViewError::Size { .. })
        ));
        assert!(matches!(
            view.apply(&[1; 5], 1, 1, 5),
            Err(ViewError::Channels { .. })
        ));
        assert_eq!(sqrt(2.25), 1.5);
    }
}
