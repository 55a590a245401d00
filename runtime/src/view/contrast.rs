//! The contrast stretch of a view: its gray levels to a fixed centre and spread, so that
//! brightness and contrast edits barely move it; chroma planes follow the luma's gain.

use alloc::vec::Vec;

use super::{View, sqrt};

/// Standard deviation of a normalized view, in gray levels (mean 128: +-2.6 sigma fit in u8).
pub const NORMALIZED_STD: f32 = 48.0;

/// Contrast below this (gray levels of standard deviation) is treated as flat, so the noise
/// of a blank photo is not stretched into a pattern.
const FLAT_STD: f32 = 2.0;

/// The largest gain applied to a chroma plane (a flat, low-contrast photo's luma gain can
/// reach `NORMALIZED_STD / FLAT_STD`; its faint chroma would saturate).
pub const MAX_CHROMA_GAIN: f64 = 4.0;

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

impl View {
    /// Stretch one view's resized planes (luma first, then any chroma deviations) to bytes.
    pub(super) fn one_view(&self, planes: Vec<Vec<f32>>) -> Vec<u8> {
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

fn to_u8(v: f32) -> u8 {
    // `as` saturates; adding 0.5 rounds the non-negative values.
    (v + 0.5) as u8
}
