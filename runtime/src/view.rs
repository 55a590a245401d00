//! The view: how a photo of any size becomes a model's fixed input.
//!
//! A photo model is trained on a small view of each photo and must see exactly the
//! same view at run time, from the same decoded pixels, or its bits drift. The rule is
//! therefore part of the model: written into the ONNX metadata (`imsat.view`, see
//! [`View::to_metadata`]) by the trainer and applied here by everything that encodes photos
//! (the CLI, an app, a board without an OS). It is plain arithmetic on decoded pixels, so it
//! is `no_std`; decoding the JPEG is the caller's job.
//!
//! The rule: luma from RGB with integer BT.601 weights, an area-average resize to
//! `rows x cols` (every source pixel counts in proportion to its overlap, so shrinking never
//! aliases), then a [`Contrast`] stretch to a fixed centre and spread, so that brightness and
//! contrast edits barely move the view; a colour view ([`Colour::Ycc`]) adds the two chroma
//! planes, resized the same way and scaled by the luma's gain.
//!
//! A view may add looks at parts of the same photo: its centre ([`View::centre`]), its top
//! and its bottom ([`View::top`], [`View::bottom`]). The model runs on each and the code is
//! the sign of the mean of their logits. Averaging over slightly cropped copies smooths the
//! code where a crop, a small rotation or a box near the border would flip a bit, and a part
//! without the bottom rows does not see a caption there (measured on held-out photos:
//! `models/photo64.md`).

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

/// The parts a view may add, by their metadata names, in view order ([`View::centre`],
/// [`View::top`], [`View::bottom`]).
const PART_NAMES: [&str; 3] = ["centre", "top", "bottom"];

/// A view rule: grayscale (or luma and chroma), area resize to `rows x cols`, then a
/// contrast stretch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub colour: Colour,
    pub rows: usize,
    pub cols: usize,
    pub contrast: Contrast,
    /// A view of the centred part of the photo keeping this percentage of its area
    /// (metadata suffix `+centre85`), after the whole photo's; `None`: none.
    pub centre: Option<u8>,
    /// A view of the photo's top part keeping this percentage of its rows (`+top80`), after
    /// those: a caption, ticker or watermark at the bottom of a photo is not in it.
    pub top: Option<u8>,
    /// A view of the bottom part keeping this percentage of the rows (`+bottom80`), last.
    pub bottom: Option<u8>,
}

/// Which planes a view holds (the first word of the metadata text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// Luma only (`gray`).
    Gray,
    /// Luma, then the two BT.601 chroma planes Cb and Cr (`ycc`), each `rows x cols`. The
    /// chroma planes are centred on 128 and scaled by the luma's contrast gain (at most
    /// [`MAX_CHROMA_GAIN`]), so brightness and contrast edits, which scale an image's chroma
    /// as they scale its luma spread, barely move them; a grayscale copy has flat 128 chroma.
    /// Colour tells apart photos whose luma looks alike (sky, sand, water).
    Ycc,
}

/// The largest gain applied to a chroma plane (a flat, low-contrast photo's luma gain can
/// reach `NORMALIZED_STD / FLAT_STD`; its faint chroma would saturate).
pub const MAX_CHROMA_GAIN: f64 = 4.0;

impl Colour {
    /// The name in the metadata text and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Gray => "gray",
            Colour::Ycc => "ycc",
        }
    }

    /// The rule named `name` ([`Colour::as_str`]).
    pub fn from_name(name: &str) -> Option<Colour> {
        [Colour::Gray, Colour::Ycc]
            .into_iter()
            .find(|c| c.as_str() == name)
    }

    /// Planes per view: 1 (gray) or 3 (luma, Cb, Cr).
    pub fn planes(self) -> usize {
        match self {
            Colour::Gray => 1,
            Colour::Ycc => 3,
        }
    }
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
        "`{METADATA_KEY}` is {text:?}, not like gray-area-32x32-norm, ycc-area-16x16-robust or ycc-area-16x16-robust+centre85+top80"
    )]
    Metadata { text: String },
}

impl View {
    /// The metadata text, e.g. `gray-area-32x32-norm` (`gray-` or `ycc-`; `-raw`, `-norm` or
    /// `-robust`), with `+centre85`, `+top80` and `+bottom80` for the views of parts, in
    /// that order.
    pub fn to_metadata(&self) -> String {
        let mut text = format!(
            "{}-area-{}x{}-{}",
            self.colour.as_str(),
            self.rows,
            self.cols,
            self.contrast.as_str()
        );
        for (name, percent) in self.parts() {
            text.push_str(&format!("+{name}{percent}"));
        }
        text
    }

    /// The views of parts as (metadata name, percentage), in view order.
    fn parts(&self) -> impl Iterator<Item = (&'static str, u8)> {
        PART_NAMES
            .into_iter()
            .zip([self.centre, self.top, self.bottom])
            .filter_map(|(name, p)| p.map(|p| (name, p)))
    }

    /// Parse [`View::to_metadata`]'s text.
    pub fn from_metadata(text: &str) -> Result<View, ViewError> {
        let bad = || ViewError::Metadata { text: text.into() };
        let mut tokens = text.split('+');
        let text = tokens.next().unwrap_or_default();
        let mut percents = [None; PART_NAMES.len()];
        // Each part once, in the order `to_metadata` writes them.
        let mut next = 0;
        for token in tokens {
            let split = token.find(|c: char| c.is_ascii_digit()).ok_or_else(bad)?;
            let (name, digits) = token.split_at(split);
            let percent = digits
                .parse::<u8>()
                .ok()
                .filter(|p| (1..=99).contains(p))
                .ok_or_else(bad)?;
            let at = PART_NAMES[next..]
                .iter()
                .position(|&n| n == name)
                .ok_or_else(bad)?
                + next;
            (percents[at], next) = (Some(percent), at + 1);
        }
        let [centre, top, bottom] = percents;
        let (colour, rest) = text.split_once("-area-").ok_or_else(bad)?;
        let colour = Colour::from_name(colour).ok_or_else(bad)?;
        let (size, mode) = rest.rsplit_once('-').ok_or_else(bad)?;
        let (r, c) = size.split_once('x').ok_or_else(bad)?;
        let dim = |s: &str| s.parse::<usize>().ok().filter(|&d| (1..=4096).contains(&d));
        let (rows, cols) = (dim(r).ok_or_else(bad)?, dim(c).ok_or_else(bad)?);
        let contrast = Contrast::from_name(mode).ok_or_else(bad)?;
        Ok(View {
            colour,
            rows,
            cols,
            contrast,
            centre,
            top,
            bottom,
        })
    }

    /// Values in one view (`planes * rows * cols`): one input row of the model.
    pub fn dim(&self) -> usize {
        self.colour.planes() * self.rows * self.cols
    }

    /// The model's input shape for one view, planes stacked as rows (`imsat.input_shape`):
    /// `[planes * rows, cols]`.
    pub fn input_shape(&self) -> [usize; 2] {
        [self.colour.planes() * self.rows, self.cols]
    }

    /// Views per photo: the whole photo's and one per part.
    pub fn views(&self) -> usize {
        1 + self.parts().count()
    }

    /// This rule with the whole photo's view only (what training items are made with).
    pub fn whole_only(self) -> View {
        View {
            centre: None,
            top: None,
            bottom: None,
            ..self
        }
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
        let mut rects = vec![(0, 0, width, height)];
        rects.extend(self.centre.map(|p| centre_rect(width, height, p)));
        rects.extend(self.top.map(|p| (0, 0, width, kept(height, p))));
        rects.extend(
            self.bottom
                .map(|p| (0, height - kept(height, p), width, kept(height, p))),
        );
        Ok(self
            .resized_planes(pixels, width, channels, &rects)
            .into_iter()
            .flat_map(|planes| self.one_view(planes))
            .collect())
    }

    /// The `(x, y, w, h)` parts of an interleaved image of `width` pixels a row (the whole
    /// photo and its centre), each area-resized to `rows x cols` per plane: luma, then
    /// (colour) the Cb and Cr deviations. Row by row, each pixel is converted once for every
    /// part and each output column sums its pixels, all planes side by side, in the order
    /// [`area_resize`] adds them for a whole plane (so the result is the same to the bit);
    /// then the rows are combined.
    fn resized_planes(
        &self,
        pixels: &[u8],
        width: usize,
        channels: usize,
        rects: &[(usize, usize, usize, usize)],
    ) -> Vec<Vec<Vec<f32>>> {
        let image = (pixels, width, channels);
        match self.colour {
            Colour::Gray => resized::<1>(image, rects, (self.cols, self.rows)),
            Colour::Ycc => resized::<3>(image, rects, (self.cols, self.rows)),
        }
    }

    /// Stretch one view's resized planes (luma first, then any chroma deviations) to bytes.
    fn one_view(&self, planes: Vec<Vec<f32>>) -> Vec<u8> {
        let small = &planes[0];
        let (centre, spread) = match self.contrast {
            Contrast::Raw => (0.0, None),
            Contrast::Norm => normal_spread(small),
            Contrast::Robust => robust_spread(small),
        };
        let mut out = match spread {
            None => small.iter().map(|&v| to_u8(v)).collect(),
            Some(spread) => stretched(small, centre, spread),
        };
        // Chroma follows the luma's gain (1 for raw), capped.
        let gain = spread.map_or(1.0, |s| {
            (NORMALIZED_STD as f64 / s.max(FLAT_STD as f64)).min(MAX_CHROMA_GAIN)
        });
        for small in &planes[1..] {
            out.extend(
                small
                    .iter()
                    .map(|&v| to_u8((128.0 + v as f64 * gain).clamp(0.0, 255.0) as f32)),
            );
        }
        out
    }
}

/// [`View::resized_planes`] for `N` planes (1: luma; 3: luma, Cb, Cr) of `(pixels, width,
/// channels)`, each part resized to `(cols, rows)`.
fn resized<const N: usize>(
    (pixels, width, channels): (&[u8], usize, usize),
    rects: &[(usize, usize, usize, usize)],
    (ow, oh): (usize, usize),
) -> Vec<Vec<Vec<f32>>> {
    // Per part, each output column's pixels are a run: its first index (in the image
    // row) and their weights.
    let runs: Vec<Vec<(usize, Vec<f32>)>> = rects
        .iter()
        .map(|&(x0, _, w, _)| {
            area_weights(w, ow)
                .into_iter()
                .map(|weights| {
                    let first = weights.first().map_or(0, |&(i, _)| i);
                    let len = weights.last().map_or(0, |&(i, _)| i + 1 - first);
                    let mut run = vec![0f32; len];
                    for (i, a) in weights {
                        run[i - first] = a;
                    }
                    (x0 + first, run)
                })
                .collect()
        })
        .collect();
    let mut across: Vec<Vec<f32>> = rects.iter().map(|r| vec![0f32; N * r.3 * ow]).collect();
    let (first_row, last_row) = rects
        .iter()
        .fold((usize::MAX, 0), |(a, b), r| (a.min(r.1), b.max(r.1 + r.3)));
    let mut values = vec![[0f32; N]; width];
    for y in first_row..last_row {
        let row = &pixels[y * width * channels..(y + 1) * width * channels];
        for (v, p) in values.iter_mut().zip(row.chunks_exact(channels)) {
            v[0] = luma(p) as f32;
            if N == 3 {
                (v[1], v[2]) = chroma(p);
            }
        }
        for ((&(_, y0, _, h), columns), sums) in rects.iter().zip(&runs).zip(&mut across) {
            if !(y0..y0 + h).contains(&y) {
                continue;
            }
            let plane = h * ow;
            for (o, (first, run)) in columns.iter().enumerate() {
                let mut sum = [0f32; N];
                for (v, a) in values[*first..*first + run.len()].iter().zip(run) {
                    for k in 0..N {
                        sum[k] += v[k] * a;
                    }
                }
                for (k, s) in sum.into_iter().enumerate() {
                    sums[k * plane + (y - y0) * ow + o] = s;
                }
            }
        }
    }
    rects
        .iter()
        .zip(across)
        .map(|(&(_, _, _, h), sums)| {
            sums.chunks_exact(h * ow)
                .map(|rows_across| down(rows_across, h, ow, oh))
                .collect()
        })
        .collect()
}

/// `percent` of `d` pixels, rounded, at least one.
fn kept(d: usize, percent: u8) -> usize {
    ((d * percent as usize + 50) / 100).clamp(1, d)
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

/// BT.601 chroma deviations (Cb - 128, Cr - 128) with the JFIF integer weights; gray and
/// gray+alpha pixels have none.
fn chroma(p: &[u8]) -> (f32, f32) {
    match p.len() {
        1 | 2 => (0.0, 0.0),
        _ => {
            let (r, g, b) = (p[0] as i32, p[1] as i32, p[2] as i32);
            (
                (-43 * r - 85 * g + 128 * b) as f32 / 256.0,
                (128 * r - 107 * g - 21 * b) as f32 / 256.0,
            )
        }
    }
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

/// Area-average resize of a `w x h` plane to `ow x oh` (separable: columns, then rows); the
/// reference that [`View::resized_planes`] computes in one sweep.
#[cfg(test)]
fn area_resize(src: &[f32], w: usize, h: usize, ow: usize, oh: usize) -> Vec<f32> {
    let wx = area_weights(w, ow);
    let mut across = vec![0f32; h * ow];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for (x, weights) in wx.iter().enumerate() {
            across[y * ow + x] = weights.iter().map(|&(i, a)| row[i] * a).sum();
        }
    }
    down(&across, h, ow, oh)
}

/// The second pass of an area resize: `h` rows of `ow` column sums combined into `oh` rows.
fn down(across: &[f32], h: usize, ow: usize, oh: usize) -> Vec<f32> {
    let mut out = vec![0f32; oh * ow];
    for (y, weights) in area_weights(h, oh).iter().enumerate() {
        for x in 0..ow {
            out[y * ow + x] = weights.iter().map(|&(i, a)| across[i * ow + x] * a).sum();
        }
    }
    out
}

/// The centre and spread of the `norm` stretch: mean and standard deviation.
fn normal_spread(v: &[f32]) -> (f64, Option<f64>) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v
        .iter()
        .map(|&x| (x as f64 - mean) * (x as f64 - mean))
        .sum::<f64>()
        / n;
    (mean, Some(sqrt(var)))
}

/// The centre and spread of the `robust` stretch: the median, and the interquartile range
/// over that of a normal spread (1.349 sigma).
fn robust_spread(v: &[f32]) -> (f64, Option<f64>) {
    let mut sorted = v.to_vec();
    sorted.sort_unstable_by(f32::total_cmp);
    let at = |q: usize| sorted[(sorted.len() * q / 4).min(sorted.len() - 1)] as f64;
    (at(2), Some((at(3) - at(1)) / 1.349))
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
                colour: Colour::Gray,
                rows: 32,
                cols: 32,
                contrast: Contrast::Norm,
                centre: None,
                top: None,
                bottom: None,
            },
            View {
                colour: Colour::Gray,
                rows: 16,
                cols: 24,
                contrast: Contrast::Raw,
                centre: None,
                top: None,
                bottom: None,
            },
            View {
                colour: Colour::Gray,
                rows: 16,
                cols: 16,
                contrast: Contrast::Robust,
                centre: None,
                top: None,
                bottom: None,
            },
            View {
                colour: Colour::Gray,
                rows: 16,
                cols: 16,
                contrast: Contrast::Robust,
                centre: Some(85),
                top: None,
                bottom: None,
            },
            View {
                colour: Colour::Ycc,
                rows: 16,
                cols: 16,
                contrast: Contrast::Robust,
                centre: Some(85),
                top: None,
                bottom: None,
            },
            View {
                colour: Colour::Ycc,
                rows: 16,
                cols: 16,
                contrast: Contrast::Robust,
                centre: Some(85),
                top: Some(80),
                bottom: Some(70),
            },
            View {
                colour: Colour::Gray,
                rows: 16,
                cols: 16,
                contrast: Contrast::Norm,
                centre: None,
                top: Some(80),
                bottom: None,
            },
        ] {
            assert_eq!(View::from_metadata(&v.to_metadata()), Ok(v));
        }
        assert_eq!(
            View::from_metadata("ycc-area-16x16-robust+centre85+top80").map(|v| (
                v.centre,
                v.top,
                v.bottom,
                v.views()
            )),
            Ok((Some(85), Some(80), None, 3))
        );
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
            "gray-area-16x16-robust+top0",
            "gray-area-16x16-robust+top100",
            "gray-area-16x16-robust+top80+centre85",
            "gray-area-16x16-robust+top80+top70",
            "gray-area-16x16-robust+top80+",
            "gray-area-16x16-robust+top",
        ] {
            assert!(View::from_metadata(junk).is_err(), "{junk}");
        }
    }

    /// A 30x20 RGB test photo of varied pixels: (width, height, pixels).
    fn test_photo() -> (usize, usize, Vec<u8>) {
        let (w, h) = (30, 20);
        (w, h, (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect())
    }

    /// A 4x4 robust view of the whole photo only.
    fn one_view(colour: Colour) -> View {
        View {
            colour,
            rows: 4,
            cols: 4,
            contrast: Contrast::Robust,
            centre: None,
            top: None,
            bottom: None,
        }
    }

    /// The centre view is the one-view rule on the centred crop, after the whole photo's;
    /// the logits of the two are averaged per photo.
    #[test]
    fn a_centre_view_is_the_view_of_the_centred_crop() {
        let (w, h, img) = test_photo();
        let one = one_view(Colour::Gray);
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

    /// The top and bottom views are the one-view rule on the top and bottom rows, after the
    /// whole photo's and the centre's.
    #[test]
    fn top_and_bottom_views_are_the_views_of_those_rows() {
        let (w, h, img) = test_photo();
        let one = one_view(Colour::Ycc);
        let four = View {
            centre: Some(64),
            top: Some(80),
            bottom: Some(75),
            ..one
        };
        assert_eq!(four.views(), 4);
        assert_eq!(four.whole_only(), one);
        let rows = |from: usize, count: usize| img[from * w * 3..(from + count) * w * 3].to_vec();
        let views = four.apply(&img, w, h, 3).unwrap();
        let d = one.dim();
        assert_eq!(views.len(), 4 * d);
        assert_eq!(views[..d], one.apply(&img, w, h, 3).unwrap()[..]);
        // 80% of 20 rows from the top: 16; 75% from the bottom: 15, from row 5.
        assert_eq!(
            views[2 * d..3 * d],
            one.apply(&rows(0, 16), w, 16, 3).unwrap()[..]
        );
        assert_eq!(
            views[3 * d..],
            one.apply(&rows(5, 15), w, 15, 3).unwrap()[..]
        );
        assert_ne!(views[2 * d..3 * d], views[3 * d..]);
        // At least one row is kept of a one-row photo.
        assert_eq!(kept(1, 1), 1);
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
            colour: Colour::Gray,
            rows: 4,
            cols: 4,
            contrast: Contrast::Norm,
            centre: None,
            top: None,
            bottom: None,
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
                colour: Colour::Gray,
                rows: h,
                cols: w,
                contrast,
                centre: None,
                top: None,
                bottom: None,
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
            colour: Colour::Gray,
            rows: 4,
            cols: 4,
            contrast: Contrast::Robust,
            centre: None,
            top: None,
            bottom: None,
        };
        assert!(
            flat.apply(&[90; 64], 8, 8, 1)
                .unwrap()
                .iter()
                .all(|&v| v == 128)
        );
    }

    /// A colour view is the gray view followed by the Cb and Cr planes: flat at 128 for a
    /// gray photo, and scaled with the luma's contrast gain, so brightness and contrast edits
    /// barely move them while a change of hue does.
    #[test]
    fn a_colour_view_is_luma_then_chroma() {
        let (w, h) = (24, 16);
        let gray_view = View {
            colour: Colour::Gray,
            rows: 4,
            cols: 4,
            contrast: Contrast::Robust,
            centre: Some(85),
            top: None,
            bottom: None,
        };
        let colour_view = View {
            colour: Colour::Ycc,
            ..gray_view
        };
        assert_eq!(colour_view.dim(), 3 * gray_view.dim());
        assert_eq!(colour_view.input_shape(), [12, 4]);
        // A gradient from blue to magenta with a warm patch.
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                if x < 8 && y < 8 {
                    [200, 120, 60]
                } else {
                    [20 + 8 * x as u8, 40 + 6 * y as u8, 200]
                }
            })
            .collect();
        let gray = gray_view.apply(&rgb, w, h, 3).unwrap();
        let colour = colour_view.apply(&rgb, w, h, 3).unwrap();
        assert_eq!(colour.len(), 2 * colour_view.dim());
        let d = gray_view.dim();
        for v in 0..2 {
            let (g, c) = (
                &gray[v * d..(v + 1) * d],
                &colour[v * 3 * d..(v + 1) * 3 * d],
            );
            assert_eq!(&c[..d], g, "view {v}: the luma plane is the gray view");
        }
        let (cb, cr) = (&colour[d..2 * d], &colour[2 * d..3 * d]);
        assert!(
            cb[12] > 150 && cr[12] < 100,
            "blue corner: Cb {} Cr {}",
            cb[12],
            cr[12]
        );
        assert!(
            cb[0] < 110 && cr[0] > 140,
            "warm patch: Cb {} Cr {}",
            cb[0],
            cr[0]
        );
        // Gray pixels (1, 2 or 3 equal channels) have no chroma.
        let luma_only: Vec<u8> = rgb.chunks(3).map(luma).collect();
        for (pixels, channels) in [
            (luma_only.clone(), 1),
            (luma_only.iter().flat_map(|&v| [v, v, v]).collect(), 3),
        ] {
            let c = colour_view.apply(&pixels, w, h, channels).unwrap();
            assert!(c[d..3 * d].iter().all(|&v| v == 128), "{channels} channels");
        }
        // Darker by 20% (x0.8) and lower contrast (x0.7 about the mean): the chroma planes
        // move by a few levels, against the tens a change of hue makes.
        let edited = |f: &dyn Fn(f32) -> f32| -> Vec<u8> {
            let out: Vec<u8> = rgb.iter().map(|&v| f(v as f32).round() as u8).collect();
            colour_view.apply(&out, w, h, 3).unwrap()[d..3 * d].to_vec()
        };
        let mean = rgb.iter().map(|&v| v as f32).sum::<f32>() / rgb.len() as f32;
        for (name, moved) in [
            ("darker", edited(&|v| v * 0.8)),
            ("contrast", edited(&|v| mean + (v - mean) * 0.7)),
        ] {
            let worst = moved
                .iter()
                .zip(&colour[d..3 * d])
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap();
            assert!(worst <= 4, "{name}: chroma moved by {worst} levels");
        }
    }

    /// The one-sweep resize gives, bit for bit, the planes made whole and resized one by one,
    /// shrinking and enlarging, on the whole image and on its centre at once.
    #[test]
    fn one_sweep_equals_resizing_each_plane() {
        for (w, h, side) in [
            (37, 23, 16),
            (16, 16, 16),
            (3, 2, 16),
            (200, 90, 7),
            (1, 1, 4),
        ] {
            let view = View {
                colour: Colour::Ycc,
                rows: side,
                cols: side + 1,
                contrast: Contrast::Raw,
                centre: None,
                top: None,
                bottom: None,
            };
            let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7919 % 251) as u8).collect();
            // Both parts in one sweep, as `apply` takes them.
            let rects = [(0, 0, w, h), centre_rect(w, h, 60)];
            let all = view.resized_planes(&rgb, w, 3, &rects);
            for (rect, got) in rects.into_iter().zip(all) {
                let (x0, y0, cw, ch) = rect;
                let pixel = |i: usize| {
                    let (x, y) = (x0 + i % cw, y0 + i / cw);
                    &rgb[(y * w + x) * 3..(y * w + x) * 3 + 3]
                };
                let planes: [Vec<f32>; 3] = [
                    (0..cw * ch).map(|i| luma(pixel(i)) as f32).collect(),
                    (0..cw * ch).map(|i| chroma(pixel(i)).0).collect(),
                    (0..cw * ch).map(|i| chroma(pixel(i)).1).collect(),
                ];
                for (k, plane) in planes.iter().enumerate() {
                    let want = area_resize(plane, cw, ch, view.cols, view.rows);
                    assert_eq!(got[k], want, "{w}x{h} {rect:?} plane {k}");
                }
            }
        }
    }

    #[test]
    fn rgb_uses_luma_and_bad_shapes_are_errors() {
        let view = View {
            colour: Colour::Gray,
            rows: 1,
            cols: 1,
            contrast: Contrast::Raw,
            centre: None,
            top: None,
            bottom: None,
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
