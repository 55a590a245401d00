//! Caption boxes: a solid rectangle pasted over a photo (a caption, a logo plate, a ticker)
//! is found and filled in from the rows above and below it before the view is made
//! (`+unbox` in the view's metadata, [`View::unbox`](super::View::unbox)).
//!
//! Why: a box over 5% of a photo is the largest structure a 16x16 view sees on a plain photo,
//! and it moved a learned code further than any other moderate edit, most of all where no
//! part of the view leaves it out (above the bottom quarter). Filled in, the copy looks like
//! its original again; a photo without such a box is left as it is.
//!
//! What counts as a box, judged on a working copy of at most [`WORK_SIDE`] pixels a side (an
//! integer box-average of the photo, so the rule is the same at any size): a region of one
//! colour (every channel within 24 levels of it), grown from a flat patch (3x3 neighbourhoods
//! that vary by at most 12 levels), whose bounding rectangle (less outermost lines under an
//! eighth in the region: pixels of the photo near the box's colour) it fills to at least 92%
//! counting the holes in it (the lettering and the logo), or, where lettering or a logo reaches
//! the box's edge, 85% of whose outermost pixels are the region; the rectangle covers 1% to 15%
//! of the photo, is 1.5 to 12 times wider than tall (0.6 to 1.5, a logo plate, when what it
//! holds is in at least two pieces, a logo and a word, and it touches no edge), at most 90% of
//! the width and half the height, touches at most one edge, and differs from the pixels two
//! steps outside it on at least 70% of its outline. A sky above a straight horizon spans the
//! width, and a wall or a sign is seldom one colour inside a sharp rectangle: on the 182
//! bundled photos no box is found, on their JPEG, rescale, crop, rotation, brightness,
//! contrast, gray, blur and flip copies at most one a kind, and on their caption copies 71%
//! (`trainer/tests/unbox.rs`). A frame around the box (an outline of another colour: up to two
//! lines of the working copy, each one colour and unlike the line beyond it) is part of the
//! box, so that the fill starts beyond it. Where no region of one colour is a box, a rectangle
//! with edges all round may be (`unbox/edges.rs`: a gradient plate, a translucent banner).

use alloc::vec::Vec;

mod colour;
mod edges;
mod patches;
#[cfg(test)]
mod reference_tests;
mod region;
#[cfg(test)]
mod tests;
mod work;

use work::Work;

/// The working copy's longest side, at most (the photo is box-averaged by an integer factor).
pub const WORK_SIDE: usize = 256;
/// Levels a flat patch may vary by, per channel, over a 3x3 neighbourhood.
const FLAT: u8 = 12;
/// Levels from the box's colour a pixel of the box may be, per channel.
const NEAR: f32 = 24.0;
/// Flat patches tried as seeds, largest first.
const SEEDS: usize = 12;
/// The part of a box's outermost pixels that must be its colour, where its content reaches
/// the edge ([`region::ring_of`]).
const RING: f32 = 0.85;
/// The most lines of one colour around a box taken in as its frame ([`Work::with_frame`]).
const FRAME: usize = 2;
/// Boxes less wide than this (a square logo plate, down to [`NARROWEST`]) must hold content in
/// at least [`PARTS`] separate pieces (a logo and a word's letters) and touch no edge: a window
/// or a tile of one colour holds none, a toy block's letter one, and a window of glass blocks
/// cut by the photo's edge is not a plate.
const WIDE: f32 = 1.5;
/// The narrowest box, width over height.
const NARROWEST: f32 = 0.6;
/// Pieces of content a box narrower than [`WIDE`] holds, at least.
const PARTS: usize = 2;

/// A box found on a photo: `(x, y, width, height)` in the photo's pixels.
pub type BoxRect = (usize, usize, usize, usize);

/// The caption box on an interleaved `width x height` image of `channels` bytes a pixel (1
/// gray, 2 gray+alpha, 3 RGB, 4 RGBA), if it has one; `None` also for pixels that are not such
/// an image ([`View::apply`](super::View::apply) names that error).
pub fn find_box(pixels: &[u8], width: usize, height: usize, channels: usize) -> Option<BoxRect> {
    if !is_image(pixels, width, height, channels) {
        return None;
    }
    let f = work_factor(width, height);
    let (w, h) = (width / f, height / f);
    if w < 3 || h < 3 {
        return None;
    }
    let work = Work::new(pixels, width, channels, f, w, h);
    let (x0, y0, bw, bh) = work.find_by_colour().or_else(|| work.find_by_edges())?;
    let x1 = ((x0 + bw) * f).min(width);
    let y1 = ((y0 + bh) * f).min(height);
    Some((x0 * f, y0 * f, x1 - x0 * f, y1 - y0 * f))
}

/// The image with its caption box ([`find_box`]) filled in ([`fill_box`], grown by one pixel
/// of the working copy a side, to take the box's edge and JPEG's ringing with it), and the
/// box; `None` when it has none.
pub fn unbox(
    pixels: &[u8],
    width: usize,
    height: usize,
    channels: usize,
) -> Option<(Vec<u8>, BoxRect)> {
    let rect = find_box(pixels, width, height, channels)?;
    let mut filled = pixels.to_vec();
    let grow = work_factor(width, height);
    fill_box(&mut filled, width, height, channels, rect, grow);
    Some((filled, rect))
}

/// Whether `pixels` hold an interleaved `width x height` image of 1 to 4 channels.
fn is_image(pixels: &[u8], width: usize, height: usize, channels: usize) -> bool {
    (1..=4).contains(&channels)
        && width
            .checked_mul(height)
            .and_then(|p| p.checked_mul(channels))
            == Some(pixels.len())
}

/// The integer factor the working copy is box-averaged by.
fn work_factor(width: usize, height: usize) -> usize {
    width.max(height).div_ceil(WORK_SIDE).max(1)
}

/// Fill `rect` (grown by `grow` pixels a side, within the image) of an interleaved image from
/// the row above it and the row below it, linearly down each column; where the box touches
/// the top or the bottom edge, from the other row alone. Colour channels only (alpha stays).
/// Pixels that are not such an image, or a rectangle outside it, are left as they are.
pub fn fill_box(
    pixels: &mut [u8],
    width: usize,
    height: usize,
    channels: usize,
    rect: BoxRect,
    grow: usize,
) {
    let (x, y, w, h) = rect;
    if !is_image(pixels, width, height, channels) || x >= width || y >= height {
        return;
    }
    let (x0, y0) = (x.saturating_sub(grow), y.saturating_sub(grow));
    let end = |at: usize, side: usize| at.saturating_add(side).saturating_add(grow);
    let (x1, y1) = (end(x, w).min(width), end(y, h).min(height));
    if y0 == 0 && y1 == height {
        return;
    }
    let colours = if channels >= 3 { 3 } else { 1 };
    let above = if y0 > 0 { y0 - 1 } else { y1 };
    let below = if y1 < height { y1 } else { y0 - 1 };
    let span = (y1 - y0 + 1) as f32;
    for col in x0..x1 {
        for c in 0..colours {
            let a = pixels[(above * width + col) * channels + c] as f32;
            let b = pixels[(below * width + col) * channels + c] as f32;
            for row in y0..y1 {
                let t = (row - y0 + 1) as f32 / span;
                let v = a * (1.0 - t) + b * t;
                pixels[(row * width + col) * channels + c] = (v + 0.5) as u8;
            }
        }
    }
}
