//! The second way a caption box is found: by its four edges, for a box that is not one
//! colour (a gradient plate, a translucent banner) and so gives the colour region of
//! [`Work::find_by_colour`] nothing to grow from.
//!
//! A box here is a rectangle on the working copy whose top and bottom rows and left and
//! right columns are edges (a step of at least [`STEP`] levels in some channel, within a
//! pixel) along at least [`COVER`] of their length, whose top edge is one run of such steps
//! (so a horizon or a roof line across the photo, wider than a box, is none), and which
//! differs from the photo [`BEYOND`] steps outside it on at least [`APART`] of its outline:
//! a window of a fence or a railing has edges all round but the same background inside and
//! beyond its bars. Of several, the largest (an outlined box's outer edge, not its inner).
//! It runs only where the colour region found nothing, and costs about 5 us on a 384-px photo
//! (bench `photo_end_to_end/unbox_find_box`).
//!
//! Measured on the 182 bundled photos with Pillow's captions at random positions
//! (`models/photo64-experiments.md`, 2026-12-04, before the colour pass's trim), it finds 39
//! gradient and 15 translucent boxes of 182 that the colour region missed, 53 outlined ones and
//! 24 of random colours; on those photos' protocol edits without a caption one box in all (a
//! brightened copy, `trainer/tests/unbox.rs`) and none on Pillow's 3,094; on 195 photographs
//! from GCompris (testing only) none on the originals and 3 on 3,315 edited copies (a
//! colonnade, the Eiffel tower's first platform).

use alloc::vec;
use alloc::vec::Vec;

use super::{BoxRect, Work};

/// Levels (in some channel) a step between neighbours must span to be an edge.
const STEP: u8 = 40;
/// The part of each side that must be edge.
const COVER: f32 = 0.85;
/// How far outside the box the photo it covers is compared with its inside, in pixels.
const BEYOND: usize = 4;
/// The part of the outline where the inside and the photo beyond it differ by [`STEP`].
const APART: f32 = 0.75;

impl Work {
    /// The largest rectangle with edges all round (the module's rule), if any.
    pub(super) fn find_by_edges(&self) -> Option<BoxRect> {
        let (w, h) = (self.w, self.h);
        if w < 2 * BEYOND + 3 || h < 2 * BEYOND + 3 {
            return None;
        }
        let row_edge = self.row_edges();
        // An edge within a pixel: between rows y - 1 and y or between y and y + 1 (columns
        // likewise).
        let near_row =
            |x: usize, y: usize| row_edge[y * w + x] || (y + 1 < h && row_edge[(y + 1) * w + x]);
        let col_step = |x: usize, y: usize| {
            let (i, j) = (y * w + x, y * w + x - 1);
            self.planes
                .iter()
                .map(|p| p[i].abs_diff(p[j]))
                .max()
                .unwrap_or(0)
                >= STEP
        };
        let near_col = |x: usize, y: usize| col_step(x, y) || (x + 1 < w && col_step(x + 1, y));
        let min_width = (w / 8).max(3);
        let mut best: Option<BoxRect> = None;
        // Edge counts down the left and right columns of a run (prefix sums from its top).
        let (mut left, mut right) = (Vec::with_capacity(h + 1), Vec::with_capacity(h + 1));
        for top in BEYOND..h - BEYOND {
            let edges = &row_edge[top * w..(top + 1) * w];
            let mut x = 0;
            while x < w {
                if !edges[x] {
                    x += 1;
                    continue;
                }
                // One run of the top edge, gaps of a pixel bridged: columns a..=b.
                let a = x;
                let mut b = x;
                while b + 1 < w && (edges[b + 1] || (b + 2 < w && edges[b + 2])) {
                    b += 1;
                }
                x = b + 1;
                let bw = b + 1 - a;
                if bw < min_width || a < BEYOND || b + BEYOND >= w {
                    continue;
                }
                left.clear();
                right.clear();
                left.push(0u32);
                right.push(0u32);
                // The bottom edge: between rows bottom - 1 and bottom.
                for bottom in top + 1..h - BEYOND + 1 {
                    let y = bottom - 1;
                    left.push(left[bottom - 1 - top] + near_col(a, y) as u32);
                    right.push(right[bottom - 1 - top] + near_col(b + 1, y) as u32);
                    let bh = bottom - top;
                    if bh < 3 {
                        continue;
                    }
                    // Taller only makes it narrower.
                    if !Self::wide(bw, bh) {
                        break;
                    }
                    if !self.fits(a, top, bw, bh, false) {
                        if !self.fits(a, top, bw, bh, true) {
                            break;
                        }
                        continue;
                    }
                    let cover = |n: u32| n as f32 >= COVER * bh as f32;
                    if best.is_some_and(|(_, _, w0, h0)| w0 * h0 >= bw * bh)
                        || !cover(left[bh])
                        || !cover(right[bh])
                    {
                        continue;
                    }
                    let bottom_edge = (a..=b).filter(|&c| near_row(c, bottom)).count();
                    if (bottom_edge as f32) < COVER * bw as f32
                        || !self.stands_out((a, top, bw, bh))
                    {
                        continue;
                    }
                    best = Some((a, top, bw, bh));
                }
            }
        }
        best
    }

    /// Whether each pixel differs from the one above it by [`STEP`] in some channel: a plane
    /// and a row at a time, so that the compiler vectorizes it.
    pub(super) fn row_edges(&self) -> Vec<bool> {
        let (w, h) = (self.w, self.h);
        let mut edge = vec![false; w * h];
        let mut step = vec![0u8; w];
        for y in 1..h {
            step.fill(0);
            for plane in &self.planes {
                let (above, row) = (&plane[(y - 1) * w..y * w], &plane[y * w..(y + 1) * w]);
                for ((s, &p), &q) in step.iter_mut().zip(above).zip(row) {
                    *s = (*s).max(p.abs_diff(q));
                }
            }
            for (e, &s) in edge[y * w..(y + 1) * w].iter_mut().zip(&step) {
                *e = s >= STEP;
            }
        }
        edge
    }

    /// Whether the inside of `rect` (a pixel in from each side) differs by [`STEP`] from the
    /// photo [`BEYOND`] pixels outside it on at least [`APART`] of its outline.
    pub(super) fn stands_out(&self, (x, y, bw, bh): BoxRect) -> bool {
        let w = self.w;
        let at = |x: usize, y: usize| y * w + x;
        let (x1, y1) = (x + bw - 1, y + bh - 1);
        // (inside, beyond) pairs of pixels, two a column and two a row.
        let columns = (x..=x1).flat_map(|c| {
            [
                (at(c, y + 1), at(c, y - BEYOND)),
                (at(c, y1 - 1), at(c, y1 + BEYOND)),
            ]
        });
        let rows = (y..=y1).flat_map(|r| {
            [
                (at(x + 1, r), at(x - BEYOND, r)),
                (at(x1 - 1, r), at(x1 + BEYOND, r)),
            ]
        });
        let apart = columns
            .chain(rows)
            .filter(|&(i, o)| self.planes.iter().map(|p| p[i].abs_diff(p[o])).max() >= Some(STEP))
            .count();
        apart as f32 >= APART * (2 * (bw + bh)) as f32
    }
}
