//! Pictures people would rather look at than read: dedup contact sheets (here, every build),
//! and the training and evaluation reports' curves (`reports`, with the `train` feature).

#[cfg(feature = "train")]
mod reports;

use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context;
use imsat_runtime::atomic_file::write_atomic;
use plotters::prelude::*;
use plotters::style::register_font;

#[cfg(feature = "train")]
pub use reports::{copy_detection_roc, retrieval_grid, training_curves};

/// The font of every picture's text, bundled (DejaVu Sans, `assets/fonts`, its licence beside
/// it), so that a machine without fonts or fontconfig draws the same pictures.
static SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Register [`SANS`] as `sans-serif`, the family every picture names, once.
fn register_sans() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok =
        *REGISTERED.get_or_init(|| register_font("sans-serif", FontStyle::Normal, SANS).is_ok());
    anyhow::ensure!(ok, "the bundled font (DejaVu Sans) could not be read");
    Ok(())
}

/// The pictures imsat draws, each marked as what it is: a command replaces only a picture of
/// its own kind (an ROC plot never replaces a run's training curves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Picture {
    /// `imsat dedup --sheet`.
    DedupSheet,
    /// `imsat eval --task copy-detection --plot`.
    CopyDetectionRoc,
    /// A training run's `curves.png`.
    TrainingCurves,
    /// A hashing run's retrieval grid.
    RetrievalGrid,
}

impl Picture {
    /// Every kind.
    pub const ALL: [Picture; 4] = [
        Picture::DedupSheet,
        Picture::CopyDetectionRoc,
        Picture::TrainingCurves,
        Picture::RetrievalGrid,
    ];

    /// What the picture is, in words (its mark's text after `imsat `).
    pub fn name(self) -> &'static str {
        match self {
            Picture::DedupSheet => "dedup sheet",
            Picture::CopyDetectionRoc => "copy-detection ROC plot",
            Picture::TrainingCurves => "training curves",
            Picture::RetrievalGrid => "retrieval grid",
        }
    }

    /// The text of its `Software` chunk: `imsat dedup sheet`, ...
    fn mark(self) -> String {
        format!("imsat {}", self.name())
    }
}

/// Render into an RGB buffer, then save it as PNG, marked as `what`, through a temporary
/// file.
fn save_png(
    path: &Path,
    what: Picture,
    (w, h): (u32, u32),
    draw: impl FnOnce(&mut [u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    register_sans()?;
    let mut buf = vec![255u8; (w * h * 3) as usize];
    draw(&mut buf)?;
    let png = png_bytes(w, h, &buf, what).context("encoding the picture as PNG")?;
    write_atomic(path, &png).with_context(|| format!("writing {}", path.display()))
}

/// The keyword of the chunk that marks a PNG as drawn by imsat (its text: [`Picture::mark`]).
const MARK_KEYWORD: &str = "Software";

/// An RGB picture as PNG bytes, its mark in a `tEXt` chunk right after the header.
fn png_bytes(w: u32, h: u32, rgb: &[u8], what: Picture) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.add_text_chunk(MARK_KEYWORD.to_string(), what.mark())?;
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

/// Whether `start`, the first bytes of a PNG file, holds the mark of `what` in a `tEXt` chunk
/// before its pixels: a picture of that kind imsat drew, which a new one may replace.
pub fn drawn_by_imsat(start: &[u8], what: Picture) -> bool {
    let mark = [MARK_KEYWORD.as_bytes(), b"\0", what.mark().as_bytes()].concat();
    // Chunks after the 8-byte signature: length (big-endian), type, data, CRC.
    let mut at = 8;
    while let Some(head) = start.get(at..at + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let data = start.get(at + 8..(at + 8).saturating_add(len));
        match &head[4..] {
            b"IDAT" => return false,
            b"tEXt" if data == Some(mark.as_slice()) => return true,
            _ => at = at.saturating_add(12).saturating_add(len),
        }
    }
    false
}

/// Thumbnails of a dedup sheet fit in this box (pixels), beside a label column.
const SHEET_THUMB: (u32, u32) = (128, 96);
const SHEET_LABEL: u32 = 130;
const SHEET_GAP: u32 = 6;
const SHEET_HEADER: u32 = 34;

/// Thumbnails drawn per group; the printed list names every member.
pub const SHEET_PER_GROUP: usize = 8;

/// The size of a dedup sheet of `groups` rows: (width, height).
fn dedup_sheet_size(groups: usize) -> (u32, u32) {
    let w = SHEET_LABEL + SHEET_PER_GROUP as u32 * (SHEET_THUMB.0 + SHEET_GAP) + SHEET_GAP;
    let h = SHEET_HEADER + groups as u32 * (SHEET_THUMB.1 + SHEET_GAP) + SHEET_GAP;
    (w, h)
}

/// An image as a dedup sheet shows it: scaled to fit the thumbnail box. Made as each image is
/// decoded, so a sheet holds at most [`SHEET_PER_GROUP`] thumbnails a group, never the photos.
pub fn sheet_thumb(img: &image::DynamicImage) -> image::RgbImage {
    img.thumbnail(SHEET_THUMB.0, SHEET_THUMB.1).to_rgb8()
}

/// Near-duplicate groups as a contact sheet: one row per group, labelled with its number in
/// the printed list, its size and its diameter, then its first images (`thumbs[g]`, at most
/// [`SHEET_PER_GROUP`], each from [`sheet_thumb`]): a folder's groups are checked by eye far
/// faster than by reading file names, before anything is deleted. `sizes[g]` is the whole
/// group's size, `diameters[g]` the largest Hamming distance within it, `total` the number of
/// groups found (more than `thumbs` when capped).
pub fn dedup_sheet(
    path: &Path,
    thumbs: &[Vec<image::RgbImage>],
    sizes: &[usize],
    diameters: &[u32],
    total: usize,
) -> anyhow::Result<()> {
    let (w, h) = dedup_sheet_size(thumbs.len());
    let row_y = |g: usize| SHEET_HEADER + g as u32 * (SHEET_THUMB.1 + SHEET_GAP);
    save_png(path, Picture::DedupSheet, (w, h), |buf| {
        // Pixels first, straight into the buffer; then the labels on top.
        let mut canvas = image::ImageBuffer::<image::Rgb<u8>, &mut [u8]>::from_raw(w, h, &mut *buf)
            .context("sheet buffer size")?;
        for (g, row) in thumbs.iter().enumerate() {
            for (k, t) in row.iter().take(SHEET_PER_GROUP).enumerate() {
                let x0 = SHEET_LABEL + k as u32 * (SHEET_THUMB.0 + SHEET_GAP);
                image::imageops::replace(&mut canvas, t, x0.into(), row_y(g).into());
            }
        }
        let root = BitMapBackend::with_buffer(buf, (w, h)).into_drawing_area();
        let shown = if thumbs.len() < total {
            format!(" (the first {} shown)", thumbs.len())
        } else {
            String::new()
        };
        let title = match total {
            0 => "no near-duplicate groups".to_string(),
            _ => format!(
                "{total} near-duplicate groups{shown}: the first {SHEET_PER_GROUP} images of each"
            ),
        };
        root.draw(&Text::new(title, (10, 8), ("sans-serif", 18)))?;
        for (g, (&size, &diameter)) in sizes.iter().zip(diameters).enumerate().take(thumbs.len()) {
            let y = row_y(g) as i32;
            root.draw(&Text::new(
                format!("group {}", g + 1),
                (10, y + 30),
                ("sans-serif", 16),
            ))?;
            root.draw(&Text::new(
                format!("{size} images"),
                (10, y + 52),
                ("sans-serif", 14),
            ))?;
            root.draw(&Text::new(
                match diameter {
                    1 => String::from("up to 1 bit apart"),
                    d => format!("up to {d} bits apart"),
                },
                (10, y + 70),
                ("sans-serif", 12),
            ))?;
            if g > 0 {
                let y = y - SHEET_GAP as i32 / 2;
                root.draw(&PathElement::new(
                    vec![(0, y), (w as i32, y)],
                    RGBColor(200, 200, 200),
                ))?;
            }
        }
        root.present()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A picture imsat draws carries its mark and decodes as drawn; a PNG another program
    /// wrote (here `image`'s encoder), or one cut short before the mark, does not.
    #[test]
    fn pictures_imsat_draws_are_marked_and_others_are_not() {
        let rgb: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7) as u8).collect();
        let ours = png_bytes(4, 3, &rgb, Picture::DedupSheet).unwrap();
        assert!(drawn_by_imsat(&ours, Picture::DedupSheet));
        assert!(drawn_by_imsat(&ours[..70], Picture::DedupSheet));
        assert!(!drawn_by_imsat(&ours[..60], Picture::DedupSheet));
        // Each picture replaces only its own kind: a plot never a run's curves.
        let curves = png_bytes(4, 3, &rgb, Picture::TrainingCurves).unwrap();
        assert!(drawn_by_imsat(&curves, Picture::TrainingCurves));
        assert!(!drawn_by_imsat(&curves, Picture::CopyDetectionRoc));
        assert!(!drawn_by_imsat(&ours, Picture::CopyDetectionRoc));
        let decoded = image::load_from_memory(&ours).unwrap().to_rgb8();
        assert_eq!(decoded.into_raw(), rgb);
        let mut theirs = Vec::new();
        image::RgbImage::from_raw(4, 3, rgb)
            .unwrap()
            .write_to(
                &mut std::io::Cursor::new(&mut theirs),
                image::ImageFormat::Png,
            )
            .unwrap();
        assert!(!drawn_by_imsat(&theirs, Picture::DedupSheet));
        // Another program's text chunk, or the mark's words after the pixels, is no mark.
        let mut other = png_bytes(4, 3, &[0; 36], Picture::DedupSheet).unwrap();
        let at = other.windows(5).position(|w| w == b"imsat").unwrap();
        other[at] = b'J';
        assert!(!drawn_by_imsat(&other, Picture::DedupSheet));
    }

    #[test]
    fn a_sheet_thumbnail_fits_the_box_keeping_the_shape() {
        let thumb = |w, h| {
            let t = sheet_thumb(&image::DynamicImage::new_rgb8(w, h));
            (t.width(), t.height())
        };
        // A phone photo, a portrait, a digit scaled up as the model sees it.
        assert_eq!(thumb(4000, 2250), (128, 72));
        assert_eq!(thumb(300, 1000), (29, 96));
        assert_eq!(thumb(28, 28), (96, 96));
    }
}
