//! Photo edits: what a copy detector must see through.
//!
//! The edit SAT ([`crate::sat::SatKind::Edits`]) asks the encoder to give a photo and an
//! edited copy one code, so the list of edits *is* the invariance the hash learns. Edits act on
//! the full-resolution photo, before the model's view shrinks it, as they do in real life.
//! [`EditKind`] names a family a user picks with `--edits`; [`Edit`] is one concrete edit
//! with its parameters; [`random_edit`] draws one (or a composition of two or three).

use std::fmt;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::{self, FilterType};
use image::{ImageFormat, Rgb, RgbImage};
use rand::Rng;

/// A family of edits, as named on the command line and in the model card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EditKind {
    /// JPEG re-save, quality 20-95.
    Jpeg,
    /// Downscale to 25-100% and back.
    Rescale,
    /// Crop keeping 50-100% of the area, at a random position.
    Crop,
    /// Rotation up to +-10 degrees, borders cropped away.
    Rotate,
    /// Brightness x0.7-1.3.
    Brightness,
    /// Contrast x0.6-1.4.
    Contrast,
    /// Grayscale.
    Gray,
    /// Gaussian blur, sigma up to 2.
    Blur,
    /// A caption or logo box over up to 10% of the area.
    Caption,
    /// Horizontal mirror (opt-in: a mirrored photo is often a different picture).
    Flip,
}

impl EditKind {
    /// Every kind, in command-line order.
    pub const ALL: [EditKind; 10] = [
        EditKind::Jpeg,
        EditKind::Rescale,
        EditKind::Crop,
        EditKind::Rotate,
        EditKind::Brightness,
        EditKind::Contrast,
        EditKind::Gray,
        EditKind::Blur,
        EditKind::Caption,
        EditKind::Flip,
    ];

    /// The default family: everything but the mirror.
    pub fn default_family() -> Vec<EditKind> {
        Self::ALL
            .into_iter()
            .filter(|k| *k != EditKind::Flip)
            .collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            EditKind::Jpeg => "jpeg",
            EditKind::Rescale => "rescale",
            EditKind::Crop => "crop",
            EditKind::Rotate => "rotate",
            EditKind::Brightness => "brightness",
            EditKind::Contrast => "contrast",
            EditKind::Gray => "gray",
            EditKind::Blur => "blur",
            EditKind::Caption => "caption",
            EditKind::Flip => "flip",
        }
    }
}

impl std::str::FromStr for EditKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        EditKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = EditKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown edit `{s}` (expected {})", names.join(", "))
            })
    }
}

/// Parse a comma-separated family such as `jpeg,crop,rotate`.
pub fn parse_edit_list(s: &str) -> Result<Vec<EditKind>, String> {
    let mut kinds = Vec::new();
    for part in s.split(',').map(str::trim) {
        // `jpeg,,gray`: a name left out, as `--sat vat,,affine` is refused for.
        if part.is_empty() && s.contains(',') {
            return Err(format!("`{s}` has an empty name between its commas"));
        }
        if part.is_empty() {
            continue;
        }
        let k: EditKind = part.parse()?;
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    if kinds.is_empty() {
        return Err("empty edit list".into());
    }
    Ok(kinds)
}

/// One concrete edit.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    Jpeg {
        quality: u8,
    },
    /// Down to `factor` of each side and back up.
    Rescale {
        factor: f32,
    },
    /// Keep `area` of the photo; `at` places the crop in the slack (0 = left/top, 1 =
    /// right/bottom, 0.5 = centred).
    Crop {
        area: f32,
        at: (f32, f32),
    },
    /// Positive degrees turn the photo clockwise as seen on screen.
    Rotate {
        degrees: f32,
    },
    Brightness {
        factor: f32,
    },
    Contrast {
        factor: f32,
    },
    Gray,
    Blur {
        sigma: f32,
    },
    /// A box over `area` of the photo at `at` (as for crops), with a logo and word strokes.
    Caption {
        area: f32,
        at: (f32, f32),
        seed: u64,
    },
    Flip,
    /// Edits applied in order.
    Chain(Vec<Edit>),
}

impl fmt::Display for Edit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Edit::Jpeg { quality } => write!(f, "jpeg q{quality}"),
            Edit::Rescale { factor } => write!(f, "rescale {:.0}%", factor * 100.0),
            Edit::Crop { area, .. } => write!(f, "crop {:.0}%", area * 100.0),
            Edit::Rotate { degrees } => write!(f, "rotate {degrees:+.1}"),
            Edit::Brightness { factor } => write!(f, "brightness x{factor:.2}"),
            Edit::Contrast { factor } => write!(f, "contrast x{factor:.2}"),
            Edit::Gray => f.write_str("gray"),
            Edit::Blur { sigma } => write!(f, "blur {sigma:.1}"),
            Edit::Caption { area, .. } => write!(f, "caption {:.0}%", area * 100.0),
            Edit::Flip => f.write_str("flip"),
            Edit::Chain(edits) => {
                let parts: Vec<String> = edits.iter().map(|e| e.to_string()).collect();
                f.write_str(&parts.join(" + "))
            }
        }
    }
}

/// One random edit of `kind`, with the ranges documented on [`EditKind`].
pub fn random_of_kind(kind: EditKind, rng: &mut impl Rng) -> Edit {
    let at = |rng: &mut dyn rand::RngCore| (rng.random::<f32>(), rng.random::<f32>());
    match kind {
        EditKind::Jpeg => Edit::Jpeg {
            quality: rng.random_range(20..=95),
        },
        EditKind::Rescale => Edit::Rescale {
            factor: rng.random_range(0.25..=1.0),
        },
        EditKind::Crop => Edit::Crop {
            area: rng.random_range(0.5..=1.0),
            at: at(rng),
        },
        EditKind::Rotate => Edit::Rotate {
            degrees: rng.random_range(-10.0..=10.0),
        },
        EditKind::Brightness => Edit::Brightness {
            factor: rng.random_range(0.7..=1.3),
        },
        EditKind::Contrast => Edit::Contrast {
            factor: rng.random_range(0.6..=1.4),
        },
        EditKind::Gray => Edit::Gray,
        EditKind::Blur => Edit::Blur {
            sigma: rng.random_range(0.3..=2.0),
        },
        EditKind::Caption => Edit::Caption {
            area: rng.random_range(0.02..=0.10),
            at: at(rng),
            seed: rng.random(),
        },
        EditKind::Flip => Edit::Flip,
    }
}

/// A random edit from `family`: one edit (half the time) or a chain of two or three of
/// different kinds.
pub fn random_edit(family: &[EditKind], rng: &mut impl Rng) -> Edit {
    assert!(!family.is_empty(), "an edit family has at least one kind");
    let count = match rng.random_range(0..4) {
        0 | 1 => 1,
        2 => 2,
        _ => 3,
    }
    .min(family.len());
    let kinds = rand::seq::index::sample(rng, family.len(), count);
    let edits: Vec<Edit> = kinds
        .iter()
        .map(|k| random_of_kind(family[k], rng))
        .collect();
    if edits.len() == 1 {
        edits.into_iter().next().expect("one edit")
    } else {
        Edit::Chain(edits)
    }
}

impl Edit {
    /// The edited copy of `img` (a new image; sizes may change, as crops do).
    pub fn apply(&self, img: &RgbImage) -> RgbImage {
        match self {
            Edit::Jpeg { quality } => jpeg(img, *quality),
            Edit::Rescale { factor } => {
                let (w, h) = img.dimensions();
                let small = imageops::resize(
                    img,
                    ((w as f32 * factor).round() as u32).max(1),
                    ((h as f32 * factor).round() as u32).max(1),
                    FilterType::Triangle,
                );
                imageops::resize(&small, w, h, FilterType::Triangle)
            }
            Edit::Crop { area, at } => crop(img, *area, *at),
            Edit::Rotate { degrees } => rotate_cropped(img, *degrees),
            Edit::Brightness { factor } => map_pixels(img, |v| v * factor),
            Edit::Contrast { factor } => {
                let mean = mean_luma(img);
                map_pixels(img, |v| (v - mean) * factor + mean)
            }
            Edit::Gray => {
                let mut out = img.clone();
                for p in out.pixels_mut() {
                    let l = ((77 * p[0] as u32 + 150 * p[1] as u32 + 29 * p[2] as u32 + 128) >> 8)
                        as u8;
                    *p = Rgb([l, l, l]);
                }
                out
            }
            Edit::Blur { sigma } => imageops::blur(img, *sigma),
            Edit::Caption { area, at, seed } => caption(img, *area, *at, *seed),
            Edit::Flip => imageops::flip_horizontal(img),
            Edit::Chain(edits) => edits.iter().fold(img.clone(), |acc, e| e.apply(&acc)),
        }
    }
}

/// Encode as JPEG at `quality` and decode again.
pub fn jpeg(img: &RgbImage, quality: u8) -> RgbImage {
    let mut bytes = Vec::new();
    let encoded =
        JpegEncoder::new_with_quality(&mut bytes, quality.clamp(1, 100)).encode_image(img);
    match encoded.and_then(|_| image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg)) {
        Ok(decoded) => decoded.to_rgb8(),
        // Encoding an in-memory RGB image does not fail; keep the photo if it ever does.
        Err(_) => img.clone(),
    }
}

fn map_pixels(img: &RgbImage, f: impl Fn(f32) -> f32) -> RgbImage {
    let mut out = img.clone();
    for v in out.iter_mut() {
        *v = f(*v as f32).round().clamp(0.0, 255.0) as u8;
    }
    out
}

fn mean_luma(img: &RgbImage) -> f32 {
    let n = (img.width() as f64 * img.height() as f64).max(1.0);
    let sum: f64 = img
        .pixels()
        .map(|p| 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64)
        .sum();
    (sum / n) as f32
}

/// The `area` fraction of `img` with the same aspect, placed at `at` in the slack.
fn crop(img: &RgbImage, area: f32, at: (f32, f32)) -> RgbImage {
    let (w, h) = img.dimensions();
    let side = area.clamp(0.01, 1.0).sqrt();
    let (cw, ch) = (
        ((w as f32 * side).round() as u32).clamp(1, w),
        ((h as f32 * side).round() as u32).clamp(1, h),
    );
    let x = ((w - cw) as f32 * at.0.clamp(0.0, 1.0)).round() as u32;
    let y = ((h - ch) as f32 * at.1.clamp(0.0, 1.0)).round() as u32;
    imageops::crop_imm(img, x, y, cw, ch).to_image()
}

/// Rotate about the centre (bilinear) and keep the largest centred rectangle of the original
/// aspect that holds no border.
fn rotate_cropped(img: &RgbImage, degrees: f32) -> RgbImage {
    let (w, h) = img.dimensions();
    let t = degrees.abs().to_radians();
    let (s, c) = t.sin_cos();
    let (hw, hh) = (w as f32 / 2.0, h as f32 / 2.0);
    // Largest scale of a centred w x h box whose corners stay inside the rotated photo.
    let scale = (hw / (hw * c + hh * s)).min(hh / (hw * s + hh * c));
    let (ow, oh) = (
        ((w as f32 * scale).floor() as u32).max(1),
        ((h as f32 * scale).floor() as u32).max(1),
    );
    let (sin, cos) = degrees.to_radians().sin_cos();
    let mut out = RgbImage::new(ow, oh);
    for (x, y, p) in out.enumerate_pixels_mut() {
        let (dx, dy) = (
            x as f32 + 0.5 - ow as f32 / 2.0,
            y as f32 + 0.5 - oh as f32 / 2.0,
        );
        let sx = cos * dx + sin * dy + hw - 0.5;
        let sy = -sin * dx + cos * dy + hh - 0.5;
        *p = bilinear(img, sx, sy);
    }
    out
}

fn bilinear(img: &RgbImage, x: f32, y: f32) -> Rgb<u8> {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let at =
        |xx: i64, yy: i64| *img.get_pixel(xx.clamp(0, w - 1) as u32, yy.clamp(0, h - 1) as u32);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let (a, b, c, d) = (
        at(x0, y0),
        at(x0 + 1, y0),
        at(x0, y0 + 1),
        at(x0 + 1, y0 + 1),
    );
    let mut out = [0u8; 3];
    for (ch, o) in out.iter_mut().enumerate() {
        let top = a[ch] as f32 * (1.0 - fx) + b[ch] as f32 * fx;
        let bottom = c[ch] as f32 * (1.0 - fx) + d[ch] as f32 * fx;
        *o = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
    }
    Rgb(out)
}

/// A caption box over `area` of the photo: a plain band with a square logo (inset by a fifth
/// of the band's height) and word-like strokes in a contrasting colour.
fn caption(img: &RgbImage, area: f32, at: (f32, f32), seed: u64) -> RgbImage {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (w, h) = img.dimensions();
    // A band about 5 times wider than tall, as captions are.
    let box_area = (w as f32 * h as f32 * area.clamp(0.0, 1.0)).max(1.0);
    let bh = ((box_area / 5.0).sqrt().round() as u32).clamp(1, h);
    let bw = ((box_area / bh as f32).round() as u32).clamp(1, w);
    let x0 = ((w - bw) as f32 * at.0.clamp(0.0, 1.0)) as u32;
    let y0 = ((h - bh) as f32 * at.1.clamp(0.0, 1.0)) as u32;
    let dark = rng.random_bool(0.5);
    let (bg, fg) = if dark {
        (Rgb([20, 20, 24]), Rgb([240, 240, 235]))
    } else {
        (Rgb([245, 245, 240]), Rgb([15, 15, 20]))
    };
    let logo = Rgb([rng.random(), rng.random(), rng.random()]);
    let mut out = img.clone();
    let margin = (bh / 5).max(1);
    for y in y0..y0 + bh {
        for x in x0..x0 + bw {
            let (lx, ly) = (x - x0, y - y0);
            let inner = ly >= margin && ly + margin < bh;
            let colour = if inner && lx >= margin && lx < bh.saturating_sub(margin) {
                logo
            } else if inner && lx >= bh && (lx / (margin + 1)) % 3 != 2 && (lx * 7 / bw) % 4 != 3 {
                fg
            } else {
                bg
            };
            out.put_pixel(x, y, colour);
        }
    }
    out
}

#[cfg(test)]
mod tests;
