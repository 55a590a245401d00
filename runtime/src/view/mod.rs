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
//! `models/photo64-experiments.md`).
//!
//! The files: the view rule and its parts here, its metadata text in `metadata.rs`, the
//! area resize and the colour planes in `resize.rs`, the contrast stretch in `contrast.rs`.

mod alpha;
mod contrast;
mod metadata;
mod resize;
#[cfg(test)]
mod tests;
pub mod unbox;

pub use contrast::{Contrast, MAX_CHROMA_GAIN, NORMALIZED_STD};

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// The metadata key that holds a model's view (absent on digit models, which take images
/// already at their input size).
pub const METADATA_KEY: &str = "imsat.view";

/// The parts a view may add, by their metadata names, in view order ([`View::centre`],
/// [`View::top`], [`View::bottom`]).
const PART_NAMES: [&str; 3] = ["centre", "top", "bottom"];

/// A view rule: grayscale (or luma and chroma), area resize to `rows x cols`, then a
/// contrast stretch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// Luma only, or luma and chroma planes.
    pub colour: Colour,
    /// Rows of each plane, 1 to [`MAX_VIEW_SIDE`].
    pub rows: usize,
    /// Columns of each plane, 1 to [`MAX_VIEW_SIDE`].
    pub cols: usize,
    /// How the resized luma is stretched to a fixed centre and spread.
    pub contrast: Contrast,
    /// A view of the centred part of the photo keeping this percentage of its area
    /// (metadata suffix `+centre85`), after the whole photo's; `None`: none.
    pub centre: Option<u8>,
    /// A view of the photo's top part keeping this percentage of its rows (`+top80`), after
    /// those: a caption, ticker or watermark at the bottom of a photo is not in it.
    pub top: Option<u8>,
    /// A view of the bottom part keeping this percentage of the rows (`+bottom80`), last.
    pub bottom: Option<u8>,
    /// Fill in a caption box pasted over the photo before the views are made (`+unbox`,
    /// [`unbox`]): a copy with a caption then looks like its original again, wherever the
    /// box sits.
    pub unbox: bool,
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

/// The largest side of a view, in pixels (what `imsat.view` may say).
pub const MAX_VIEW_SIDE: usize = 4096;

/// Why a view could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// The image has no pixels.
    #[error("image has zero size ({width}x{height})")]
    Empty {
        /// Width given.
        width: usize,
        /// Height given.
        height: usize,
    },
    /// Not 1 to 4 bytes per pixel.
    #[error("{channels} channels per pixel (expected 1 gray, 2 gray+alpha, 3 RGB or 4 RGBA)")]
    Channels {
        /// Channels given.
        channels: usize,
    },
    /// The buffer does not hold exactly the image it is said to be.
    #[error("{len} bytes is not a {width}x{height} image of {channels} channels")]
    Size {
        /// Bytes given.
        len: usize,
        /// Width given.
        width: usize,
        /// Height given.
        height: usize,
        /// Channels given.
        channels: usize,
    },
    /// [`View::apply`] on a view built by hand whose sides or part percentages are out of
    /// range (metadata that says so is refused as [`ViewError::Metadata`]).
    #[error(
        "a {rows}x{cols} view with parts {parts:?}: sides are 1 to {MAX_VIEW_SIDE} pixels and \
         part percentages 1 to 99"
    )]
    Shape {
        /// The view's rows.
        rows: usize,
        /// The view's columns.
        cols: usize,
        /// Its centre, top and bottom percentages.
        parts: [Option<u8>; 3],
    },
    /// The metadata text is not a view rule.
    #[error(
        "`{METADATA_KEY}` is {text:?}, not like gray-area-32x32-norm, ycc-area-16x16-robust or ycc-area-16x16-robust+centre75+top80+bottom80+unbox"
    )]
    Metadata {
        /// The text read.
        text: String,
    },
}

impl View {
    /// The views of parts as (metadata name, percentage), in view order.
    pub(super) fn parts(&self) -> impl Iterator<Item = (&'static str, u8)> {
        PART_NAMES
            .into_iter()
            .zip([self.centre, self.top, self.bottom])
            .filter_map(|(name, p)| p.map(|p| (name, p)))
    }

    /// Sides of 1 to [`MAX_VIEW_SIDE`] pixels and parts of 1 to 99%: what the metadata may
    /// say, and what [`View::apply`] can make.
    pub(super) fn check_shape(&self) -> Result<(), ViewError> {
        let parts = [self.centre, self.top, self.bottom];
        let side = 1..=MAX_VIEW_SIDE;
        if side.contains(&self.rows)
            && side.contains(&self.cols)
            && parts.iter().flatten().all(|p| (1..=99).contains(p))
        {
            return Ok(());
        }
        Err(ViewError::Shape {
            rows: self.rows,
            cols: self.cols,
            parts,
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

    /// The fewest pixels on a photo's shorter side that this view is made from in full: 16
    /// per cell, so that each cell's area average still spans hundreds of pixels. A decoder
    /// may hand over a large photo shrunk to this (a JPEG's DCT scaling does it for free):
    /// `imsat encode` decodes large JPEGs so, the bundled 384-px photos whole.
    pub fn min_source_side(&self) -> u32 {
        // Saturating: a hand-built view wider than any photo asks for the largest side.
        u32::try_from(self.rows.max(self.cols)).map_or(u32::MAX, |side| side.saturating_mul(16))
    }

    /// Views per photo: the whole photo's and one per part.
    pub fn views(&self) -> usize {
        1 + self.parts().count()
    }

    /// This rule with the whole photo's view only (training items are made with it, and
    /// without the caption fill: `imsat_trainer::photo_set::build_photo_set`).
    pub fn whole_only(self) -> View {
        View {
            centre: None,
            top: None,
            bottom: None,
            ..self
        }
    }

    /// The views of an interleaved `width x height` image with `channels` bytes per pixel
    /// (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; a transparent picture is composited onto
    /// white, and alpha that is 0 everywhere is read as opaque): [`View::views`] model rows
    /// of [`View::dim`] bytes, the whole photo's first. Run the model on each and average
    /// the logits ([`mean_over_views`]) before taking signs or the argmax. The pixels are
    /// the picture upright, with any EXIF orientation applied, as `imsat` decodes photos.
    pub fn apply(
        &self,
        pixels: &[u8],
        width: usize,
        height: usize,
        channels: usize,
    ) -> Result<Vec<u8>, ViewError> {
        // The fields are public: a view built by hand is held to what its metadata allows.
        self.check_shape()?;
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
        // Seen as a viewer shows it: transparency composited onto white.
        let flat = alpha::onto_white(pixels, channels);
        let (pixels, channels) = match &flat {
            Some(flat) => (&flat[..], channels - 1),
            None => (pixels, channels),
        };
        let unboxed = if self.unbox {
            unbox::unbox(pixels, width, height, channels)
        } else {
            None
        };
        let pixels = unboxed.as_ref().map_or(pixels, |(filled, _)| filled);
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
}

/// `percent` of `d` pixels, rounded, at least one.
fn kept(d: usize, percent: u8) -> usize {
    ((d * percent as usize + 50) / 100).clamp(1, d)
}

/// The centred rectangle `(x, y, width, height)` keeping `percent` of a `width x height`
/// image's area at its aspect: each side scaled by sqrt(percent / 100) and rounded, the
/// margins split evenly (an odd pixel goes to the first), at least one pixel (none of an
/// empty side).
pub fn centre_rect(width: usize, height: usize, percent: u8) -> (usize, usize, usize, usize) {
    let side = sqrt(percent as f64 / 100.0);
    let scaled = |d: usize| ((d as f64 * side + 0.5) as usize).clamp(1, d.max(1)).min(d);
    let (w, h) = (scaled(width), scaled(height));
    ((width - w).div_ceil(2), (height - h).div_ceil(2), w, h)
}

/// The mean over each photo's `views` consecutive rows of `logits` (`outputs` per row): the
/// logits of a photo under a multi-view [`View`]. One view (or no outputs) returns the logits
/// as they are; values past the last whole photo are left out.
pub fn mean_over_views(logits: &[f32], views: usize, outputs: usize) -> Vec<f32> {
    if views <= 1 || outputs == 0 {
        return logits.to_vec();
    }
    // A photo's rows longer than any slice: no whole photo.
    let Some(photo_len) = views.checked_mul(outputs) else {
        return Vec::new();
    };
    logits
        .chunks_exact(photo_len)
        .flat_map(|photo| {
            (0..outputs).map(move |j| {
                (0..views).map(|v| photo[v * outputs + j]).sum::<f32>() / views as f32
            })
        })
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
