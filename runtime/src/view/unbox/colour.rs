//! The first way a caption box is found: as a region of one colour grown from one of the
//! largest flat patches, whose rectangle it fills (the rules in the module above).

use alloc::vec;
use alloc::vec::Vec;

use super::patches::Patches;
use super::region::{holes, ring_of, spread, trim};
use super::work::far;
use super::{BoxRect, NEAR, PARTS, SEEDS, Work};

impl Work {
    /// The box grown from the first of the largest flat patches (at most [`SEEDS`], one a
    /// colour) whose region is one.
    pub(super) fn find_by_colour(&self) -> Option<BoxRect> {
        let (w, h) = (self.w, self.h);
        let n = w * h;
        let flat = self.flat();
        let patches = Patches::label(&flat, &self.planes, w, h);
        // Patches of at least 0.3% of the photo, largest first.
        let mut order: Vec<usize> = (0..patches.size.len())
            .filter(|&p| patches.size[p] as f32 >= 0.003 * n as f32)
            .collect();
        order.sort_by(|&a, &b| patches.size[b].cmp(&patches.size[a]).then(a.cmp(&b)));
        let mut tried: Vec<[f32; 3]> = Vec::new();
        for &p in order.iter().take(SEEDS) {
            let size = patches.size[p];
            let colour = patches.sum[p].map(|s| s as f32 / size as f32);
            if tried.iter().any(|t| far(t, &colour) < 8.0) {
                continue;
            }
            tried.push(colour);
            // The region grown from the patch holds it: a patch already too large for a box
            // gives none.
            let (px0, py0, px1, py1) = patches.bounds[p];
            if !self.fits(px0, py0, px1 + 1 - px0, py1 + 1 - py0, true) {
                continue;
            }
            if let Some(rect) = self.grow(&patches.label, p, patches.bounds[p], &colour) {
                return Some(rect);
            }
        }
        None
    }

    /// The one-colour region grown from patch `p` (within `bounds`; every pixel near
    /// `colour`, 4-connected to a pixel of the patch), if it is a box.
    fn grow(
        &self,
        label: &[u32],
        p: usize,
        bounds: (usize, usize, usize, usize),
        colour: &[f32; 3],
    ) -> Option<BoxRect> {
        let (w, h) = (self.w, self.h);
        // Within NEAR of `colour` in every channel, as whole levels.
        let (lo, hi) = (
            colour.map(|c| level_at_least(c - NEAR)),
            colour.map(|c| level_at_most(c + NEAR)),
        );
        let near = |i: usize| {
            let p = [self.planes[0][i], self.planes[1][i], self.planes[2][i]];
            (0..3).all(|c| p[c] >= lo[c] && p[c] <= hi[c])
        };
        // A scanline fill: each popped seed takes the whole run of near pixels through it,
        // then seeds the runs of near pixels above and below. Any order gives the region,
        // the whole 4-connected set, and its bounds only grow, so stopping once they no
        // longer fit rejects what a fill run to its end would have rejected before the trim
        // below: a region that outgrows a box is none, even where its outer lines are
        // sparse (a long post of its colour; the edge pass may still find the box).
        let mut region = vec![false; w * h];
        let (px0, py0, px1, py1) = bounds;
        // Seeds: the patch's pixels near the colour, the first of each run of them (a run
        // is one span of the fill).
        let mut stack: Vec<(usize, usize)> = Vec::new();
        for y in py0..=py1 {
            push_run_starts(&mut stack, y, px0..=px1, |x| {
                label[y * w + x] == p as u32 && near(y * w + x)
            });
        }
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        while let Some((x, y)) = stack.pop() {
            let row = y * w;
            if region[row + x] {
                continue;
            }
            let (mut l, mut r) = (x, x);
            while l > 0 && !region[row + l - 1] && near(row + l - 1) {
                l -= 1;
            }
            while r + 1 < w && !region[row + r + 1] && near(row + r + 1) {
                r += 1;
            }
            region[row + l..=row + r].fill(true);
            if l < x0 || r > x1 || y < y0 || y > y1 {
                (x0, y0, x1, y1) = (x0.min(l), y0.min(y), x1.max(r), y1.max(y));
                // Grown past what a box may be (a sky, a wall): no box, and no need to go on.
                if !self.fits(x0, y0, x1 + 1 - x0, y1 + 1 - y0, true) {
                    return None;
                }
            }
            for ny in [y.wrapping_sub(1), y + 1] {
                if ny < h {
                    let open = |x: usize| !region[ny * w + x] && near(ny * w + x);
                    push_run_starts(&mut stack, ny, l..=r, open);
                }
            }
        }
        if x0 > x1 {
            return None;
        }
        let (x0, y0, bw, bh) = trim(&region, w, (x0, y0, x1 + 1 - x0, y1 + 1 - y0));
        let (x1, y1) = (x0 + bw - 1, y0 + bh - 1);
        if !self.fits(x0, y0, bw, bh, false) {
            return None;
        }
        // Standing out (checked first: it is the cheaper test).
        let outline = outline(w, h, (x0, y0, x1, y1));
        let apart = outline.iter().filter(|&&i| !near(i)).count();
        if outline.is_empty() || (apart as f32) < 0.7 * outline.len() as f32 {
            return None;
        }
        // Filled to 92% with its holes: the pixels of the rectangle outside the region that
        // reach its border are what the region leaves open.
        let mut open = vec![false; bw * bh];
        let mut stack: Vec<(usize, usize)> = Vec::new();
        for y in 0..bh {
            for x in 0..bw {
                let border = x == 0 || y == 0 || x == bw - 1 || y == bh - 1;
                if border && !region[(y0 + y) * w + x0 + x] {
                    open[y * bw + x] = true;
                    stack.push((x, y));
                }
            }
        }
        spread(&region, w, (x0, y0, bw, bh), &mut open, &mut stack);
        let n_open = open.iter().filter(|&&o| o).count();
        if ((bw * bh - n_open) as f32) < 0.92 * (bw * bh) as f32
            && !ring_of(&region, w, x0, y0, bw, bh)
        {
            return None;
        }
        if !Self::wide(bw, bh)
            && (x0 == 0
                || y0 == 0
                || x1 + 1 == w
                || y1 + 1 == h
                || holes(&region, open, w, (x0, y0, bw, bh)) < PARTS)
        {
            return None;
        }
        Some(self.with_frame((x0, y0, bw, bh)))
    }
}

/// The pixels (indices into a `w x h` image) two steps outside each side of the rectangle
/// `(x0, y0)..=(x1, y1)`, for the sides not within two pixels of the image's edge: the
/// photo a box stands out from, past a pixel that JPEG may have blurred into it.
pub(super) fn outline(
    w: usize,
    h: usize,
    (x0, y0, x1, y1): (usize, usize, usize, usize),
) -> Vec<usize> {
    let mut outline = Vec::new();
    if y0 > 1 {
        outline.extend((x0..=x1).map(|x| (y0 - 2) * w + x));
    }
    if y1 + 2 < h {
        outline.extend((x0..=x1).map(|x| (y1 + 2) * w + x));
    }
    if x0 > 1 {
        outline.extend((y0..=y1).map(|y| y * w + x0 - 2));
    }
    if x1 + 2 < w {
        outline.extend((y0..=y1).map(|y| y * w + x1 + 2));
    }
    outline
}

/// Push `(x, y)` for the first `x` of each run of `xs` where `inside` holds: one seed a span
/// of the scanline fill.
fn push_run_starts(
    stack: &mut Vec<(usize, usize)>,
    y: usize,
    xs: core::ops::RangeInclusive<usize>,
    mut inside: impl FnMut(usize) -> bool,
) {
    let mut in_run = false;
    for x in xs {
        let now = inside(x);
        if now && !in_run {
            stack.push((x, y));
        }
        in_run = now;
    }
}

/// The least level of 0..=255 at or above `x` (255 above it).
pub(super) fn level_at_least(x: f32) -> u8 {
    if x <= 0.0 {
        return 0;
    }
    if x >= 255.0 {
        // Also where `x as u32` saturates at u32::MAX, which has no next level.
        return 255;
    }
    let t = x as u32;
    (if (t as f32) < x { t + 1 } else { t }) as u8
}

/// The greatest level of 0..=255 at or below `x` (0 below it).
pub(super) fn level_at_most(x: f32) -> u8 {
    if x <= 0.0 {
        return 0;
    }
    (x as u32).min(255) as u8
}
