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

use alloc::vec;
use alloc::vec::Vec;

mod edges;

/// The working copy's longest side, at most (the photo is box-averaged by an integer factor).
pub const WORK_SIDE: usize = 256;
/// Levels a flat patch may vary by, per channel, over a 3x3 neighbourhood.
const FLAT: u8 = 12;
/// Levels from the box's colour a pixel of the box may be, per channel.
const NEAR: f32 = 24.0;
/// Flat patches tried as seeds, largest first.
const SEEDS: usize = 12;
/// The part of a box's outermost pixels that must be its colour, where its content reaches
/// the edge ([`ring_of`]).
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
    let (x1, y1) = ((x + w + grow).min(width), (y + h + grow).min(height));
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

/// The working copy: RGB, `w x h`, each pixel the mean of an `f x f` block of the photo.
struct Work {
    w: usize,
    h: usize,
    /// Red, green and blue planes, `w * h` each.
    planes: [Vec<u8>; 3],
}

impl Work {
    fn new(pixels: &[u8], width: usize, channels: usize, f: usize, w: usize, h: usize) -> Work {
        match channels {
            1 => Self::average::<1>(pixels, width, f, w, h),
            2 => Self::average::<2>(pixels, width, f, w, h),
            3 => Self::average::<3>(pixels, width, f, w, h),
            _ => Self::average::<4>(pixels, width, f, w, h),
        }
    }

    /// The `f x f` block means of an image of `C` bytes a pixel (gray for fewer than 3).
    fn average<const C: usize>(pixels: &[u8], width: usize, f: usize, w: usize, h: usize) -> Work {
        let n = (f * f) as u32;
        let mut planes = [vec![0u8; w * h], vec![0u8; w * h], vec![0u8; w * h]];
        if f == 2 && C >= 3 {
            // The common case (a photo of 257 to 512 pixels a side): two rows at a time.
            for by in 0..h {
                let r0 = &pixels[2 * by * width * C..][..2 * w * C];
                let r1 = &pixels[(2 * by + 1) * width * C..][..2 * w * C];
                for c in 0..3 {
                    let out = &mut planes[c][by * w..][..w];
                    for ((o, p), q) in out
                        .iter_mut()
                        .zip(r0.chunks_exact(2 * C))
                        .zip(r1.chunks_exact(2 * C))
                    {
                        *o = ((p[c] as u32 + p[C + c] as u32 + q[c] as u32 + q[C + c] as u32 + 2)
                            / 4) as u8;
                    }
                }
            }
            return Work { w, h, planes };
        }
        let mut acc = vec![[0u32; 3]; w];
        for by in 0..h {
            acc.iter_mut().for_each(|a| *a = [0; 3]);
            for y in by * f..(by + 1) * f {
                let row = &pixels[y * width * C..][..w * f * C];
                for (a, block) in acc.iter_mut().zip(row.chunks_exact(C * f)) {
                    for p in block.chunks_exact(C) {
                        if C >= 3 {
                            a[0] += p[0] as u32;
                            a[1] += p[1] as u32;
                            a[2] += p[2] as u32;
                        } else {
                            a[0] += p[0] as u32;
                        }
                    }
                }
            }
            for (x, a) in acc.iter().enumerate() {
                let m = |s: u32| ((s + n / 2) / n) as u8;
                for c in 0..3 {
                    planes[c][by * w + x] = m(a[if C >= 3 { c } else { 0 }]);
                }
            }
        }
        Work { w, h, planes }
    }

    /// Whether each pixel's 3x3 neighbourhood (within the image) varies by at most [`FLAT`]
    /// levels in every channel: per channel plane, the max and min of three rows, then of
    /// three columns (slices side by side, so the compiler vectorizes them).
    fn flat(&self) -> Vec<bool> {
        let (w, h) = (self.w, self.h);
        let mut flat = vec![true; w * h];
        let (mut vmax, mut vmin) = (vec![0u8; w], vec![0u8; w]);
        let (mut hmax, mut hmin) = (vec![0u8; w], vec![0u8; w]);
        for plane in &self.planes {
            for y in 0..h {
                let (lo, hi) = (y.saturating_sub(1), (y + 1).min(h - 1));
                let (a, b, d) = (
                    &plane[lo * w..][..w],
                    &plane[y * w..][..w],
                    &plane[hi * w..][..w],
                );
                for x in 0..w {
                    vmax[x] = a[x].max(b[x]).max(d[x]);
                    vmin[x] = a[x].min(b[x]).min(d[x]);
                }
                hmax.copy_from_slice(&vmax);
                hmin.copy_from_slice(&vmin);
                for x in 1..w {
                    hmax[x] = hmax[x].max(vmax[x - 1]);
                    hmin[x] = hmin[x].min(vmin[x - 1]);
                }
                for x in 0..w - 1 {
                    hmax[x] = hmax[x].max(vmax[x + 1]);
                    hmin[x] = hmin[x].min(vmin[x + 1]);
                }
                for (x, o) in flat[y * w..][..w].iter_mut().enumerate() {
                    *o &= hmax[x] - hmin[x] <= FLAT;
                }
            }
        }
        flat
    }

    /// The box grown from the first of the largest flat patches (at most [`SEEDS`], one a
    /// colour) whose region is one.
    fn find_by_colour(&self) -> Option<BoxRect> {
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

    /// The size rules of a box `(x, y, bw, bh)`; `partial`: of a part of one (its area and
    /// extent only bound it from below).
    fn fits(&self, x: usize, y: usize, bw: usize, bh: usize, partial: bool) -> bool {
        let (w, h) = (self.w as f32, self.h as f32);
        let area = (bw * bh) as f32;
        let small_enough = area <= 0.15 * w * h && bw as f32 <= 0.9 * w && bh as f32 <= 0.5 * h;
        if partial {
            return small_enough;
        }
        let aspect = bw as f32 / bh.max(1) as f32;
        let edges = [x == 0, y == 0, x + bw == self.w, y + bh == self.h]
            .iter()
            .filter(|&&e| e)
            .count();
        small_enough && area >= 0.01 * w * h && (NARROWEST..=12.0).contains(&aspect) && edges <= 1
    }

    /// Whether a box is as wide as a caption (see [`WIDE`]).
    fn wide(bw: usize, bh: usize) -> bool {
        bw as f32 >= WIDE * bh as f32
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
        // longer fit gives the answer of a fill run to its end.
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
        // Standing out: the pixels two steps outside each side not at an edge (checked
        // first: it is the cheaper test).
        let mut outline: Vec<usize> = Vec::new();
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

    /// The box with its frame: each side moved out over the lines just outside it that are
    /// one colour and differ from the line beyond them (at most [`FRAME`] of them), so that an
    /// outlined box is filled from beyond its outline, not from it.
    fn with_frame(&self, (x, y, bw, bh): BoxRect) -> BoxRect {
        let (w, h) = (self.w, self.h);
        // The lines k = 1, 2, ... outside one side, as long as they are in the image.
        let out = |room: usize, line: &dyn Fn(usize) -> Vec<usize>| {
            let mut k = 0;
            while k < FRAME.min(room) {
                let Some(colour) = self.one_colour(&line(k + 1)) else {
                    break;
                };
                let beyond = (k + 1 < room).then(|| self.mean_colour(&line(k + 2)));
                if beyond.is_some_and(|b| far(&b, &colour) <= NEAR) {
                    break;
                }
                k += 1;
            }
            k
        };
        let top = out(y, &|k| (x..x + bw).map(|c| (y - k) * w + c).collect());
        let bottom = out(h - y - bh, &|k| {
            (x..x + bw).map(|c| (y + bh - 1 + k) * w + c).collect()
        });
        let left = out(x, &|k| (y..y + bh).map(|r| r * w + x - k).collect());
        let right = out(w - x - bw, &|k| {
            (y..y + bh).map(|r| r * w + x + bw - 1 + k).collect()
        });
        (x - left, y - top, bw + left + right, bh + top + bottom)
    }

    /// The mean colour of the pixels `line` (indices into the planes).
    fn mean_colour(&self, line: &[usize]) -> [f32; 3] {
        let n = line.len().max(1) as f32;
        [0, 1, 2].map(|c| line.iter().map(|&i| self.planes[c][i] as f32).sum::<f32>() / n)
    }

    /// The mean colour of `line` when 90% of its pixels are within [`NEAR`] of it.
    fn one_colour(&self, line: &[usize]) -> Option<[f32; 3]> {
        let colour = self.mean_colour(line);
        let near = line
            .iter()
            .filter(|&&i| (0..3).all(|c| (self.planes[c][i] as f32 - colour[c]).abs() <= NEAR))
            .count();
        (near as f32 >= 0.9 * line.len() as f32).then_some(colour)
    }
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

/// The flat patches: 4-connected components of the flat pixels, each with its pixel count,
/// colour sum and bounds `(x0, y0, x1, y1)` (inclusive).
struct Patches {
    label: Vec<u32>,
    size: Vec<usize>,
    sum: Vec<[u64; 3]>,
    bounds: Vec<(usize, usize, usize, usize)>,
}

impl Patches {
    /// The runs of flat pixels of each row, joined (union-find) to the runs of the row above
    /// that they touch; the patches numbered in the order their first pixel comes.
    fn label(flat: &[bool], planes: &[Vec<u8>; 3], w: usize, h: usize) -> Patches {
        // Runs as (row, first x, end x).
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        let mut row_start = Vec::with_capacity(h + 1);
        for y in 0..h {
            row_start.push(runs.len());
            let row = &flat[y * w..][..w];
            let mut x = 0;
            while x < w {
                if row[x] {
                    let start = x;
                    while x < w && row[x] {
                        x += 1;
                    }
                    runs.push((y, start, x));
                } else {
                    x += 1;
                }
            }
        }
        row_start.push(runs.len());
        let mut parent: Vec<u32> = (0..runs.len() as u32).collect();
        for y in 1..h {
            let (mut a, a_end) = (row_start[y - 1], row_start[y]);
            for b in row_start[y]..row_start[y + 1] {
                let (_, bs, be) = runs[b];
                while a < a_end && runs[a].2 <= bs {
                    a += 1;
                }
                let mut k = a;
                while k < a_end && runs[k].1 < be {
                    join(&mut parent, b, k);
                    k += 1;
                }
            }
        }
        let mut label = vec![u32::MAX; w * h];
        let mut id_of = vec![u32::MAX; runs.len()];
        let (mut size, mut sum, mut bounds) = (Vec::new(), Vec::new(), Vec::new());
        for (r, &(y, xs, xe)) in runs.iter().enumerate() {
            let root = root(&mut parent, r) as usize;
            if id_of[root] == u32::MAX {
                id_of[root] = size.len() as u32;
                size.push(0usize);
                sum.push([0u64; 3]);
                bounds.push((xs, y, xe - 1, y));
            }
            let id = id_of[root];
            label[y * w + xs..y * w + xe].fill(id);
            let id = id as usize;
            size[id] += xe - xs;
            for c in 0..3 {
                sum[id][c] += planes[c][y * w + xs..y * w + xe]
                    .iter()
                    .map(|&v| v as u64)
                    .sum::<u64>();
            }
            let b = &mut bounds[id];
            *b = (b.0.min(xs), b.1.min(y), b.2.max(xe - 1), b.3.max(y));
        }
        Patches {
            label,
            size,
            sum,
            bounds,
        }
    }
}

/// The root of `i`'s set, halving the path on the way.
fn root(parent: &mut [u32], mut i: usize) -> u32 {
    while parent[i] as usize != i {
        let up = parent[parent[i] as usize];
        parent[i] = up;
        i = up as usize;
    }
    i as u32
}

/// Put `a` and `b` in one set (the lower root leads).
fn join(parent: &mut [u32], a: usize, b: usize) {
    let (ra, rb) = (root(parent, a), root(parent, b));
    let (lo, hi) = (ra.min(rb), ra.max(rb));
    parent[hi as usize] = lo;
}

/// The least level of 0..=255 at or above `x`.
fn level_at_least(x: f32) -> u8 {
    if x <= 0.0 {
        return 0;
    }
    let t = x as u32;
    (if (t as f32) < x { t + 1 } else { t }).min(255) as u8
}

/// The greatest level of 0..=255 at or below `x` (0 below it).
fn level_at_most(x: f32) -> u8 {
    if x <= 0.0 {
        return 0;
    }
    (x as u32).min(255) as u8
}

/// The largest per-channel difference of two colours.
fn far(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    (0..3).map(|c| (a[c] - b[c]).abs()).fold(0.0, f32::max)
}

/// Whether the outermost pixels of the rectangle `(x0, y0, bw, bh)` of a `w`-wide image are
/// [`RING`] in `region`: a box whose logo or lettering reaches its edge leaves holes that are
/// open to the border, but its edge is still the box's colour almost all the way round.
fn ring_of(region: &[bool], w: usize, x0: usize, y0: usize, bw: usize, bh: usize) -> bool {
    let (x1, y1) = (x0 + bw - 1, y0 + bh - 1);
    let rows = (x0..=x1).flat_map(|x| [y0 * w + x, y1 * w + x]);
    let cols = (y0 + 1..y1).flat_map(|y| [y * w + x0, y * w + x1]);
    let inside = rows.chain(cols).filter(|&i| region[i]).count();
    let ring = 2 * bw + 2 * bh.saturating_sub(2);
    inside as f32 >= RING * ring as f32
}

/// The rectangle `(x, y, bw, bh)` of a `w`-wide image less its outermost lines, side by side
/// and line by line, while they are under an eighth in `region`: a pixel or two of the photo
/// beside a box, near its colour after JPEG, or a post or a neck of its colour touching it,
/// reach past the box, and their lines would count as its edge.
fn trim(region: &[bool], w: usize, (x, y, bw, bh): BoxRect) -> BoxRect {
    let sparse = |line: &mut dyn Iterator<Item = usize>, n: usize| {
        8 * line.filter(|&i| region[i]).count() < n
    };
    let (mut x0, mut y0, mut x1, mut y1) = (x, y, x + bw - 1, y + bh - 1);
    while y1 > y0 + 2 && sparse(&mut (x0..=x1).map(|c| y0 * w + c), x1 + 1 - x0) {
        y0 += 1;
    }
    while y1 > y0 + 2 && sparse(&mut (x0..=x1).map(|c| y1 * w + c), x1 + 1 - x0) {
        y1 -= 1;
    }
    while x1 > x0 + 2 && sparse(&mut (y0..=y1).map(|r| r * w + x0), y1 + 1 - y0) {
        x0 += 1;
    }
    while x1 > x0 + 2 && sparse(&mut (y0..=y1).map(|r| r * w + x1), y1 + 1 - y0) {
        x1 -= 1;
    }
    (x0, y0, x1 + 1 - x0, y1 + 1 - y0)
}

/// The holes of the box `(x0, y0, bw, bh)` of a `w`-wide image: 4-connected pieces of its
/// pixels neither in `region` nor in `seen` (`bw x bh`: those open to its border, marked
/// further as the pieces are counted), counted up to [`PARTS`].
fn holes(region: &[bool], mut seen: Vec<bool>, w: usize, (x0, y0, bw, bh): BoxRect) -> usize {
    let mut parts = 0;
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for start in 0..bw * bh {
        if seen[start] || region[(y0 + start / bw) * w + x0 + start % bw] {
            continue;
        }
        parts += 1;
        if parts == PARTS {
            break;
        }
        seen[start] = true;
        stack.push((start % bw, start / bw));
        spread(region, w, (x0, y0, bw, bh), &mut seen, &mut stack);
    }
    parts
}

/// Mark in `mark` (`bw x bh`) every pixel of the box `(x0, y0, bw, bh)` of a `w`-wide image
/// that is outside `region` and 4-connected outside it to a pixel on `stack` (those already
/// marked); the stack is left empty.
fn spread(
    region: &[bool],
    w: usize,
    (x0, y0, bw, bh): BoxRect,
    mark: &mut [bool],
    stack: &mut Vec<(usize, usize)>,
) {
    while let Some((x, y)) = stack.pop() {
        for (jx, jy) in neighbours(x, y, bw, bh) {
            let j = jy * bw + jx;
            if !mark[j] && !region[(y0 + jy) * w + x0 + jx] {
                mark[j] = true;
                stack.push((jx, jy));
            }
        }
    }
}

/// The 4-neighbours of `(x, y)` within `w x h`.
fn neighbours(x: usize, y: usize, w: usize, h: usize) -> impl Iterator<Item = (usize, usize)> {
    [
        (x > 0).then(|| (x - 1, y)),
        (x + 1 < w).then(|| (x + 1, y)),
        (y > 0).then(|| (x, y - 1)),
        (y + 1 < h).then(|| (x, y + 1)),
    ]
    .into_iter()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w x h` RGB photo-like image: smooth gradients under a fine texture, so that no
    /// large patch is one colour.
    fn photo(w: usize, h: usize) -> Vec<u8> {
        let mut px = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let t = ((x * 7 + y * 13) % 23) as i32 * 3 - 33;
                let g = [
                    60 + (x * 120 / w) as i32,
                    80 + (y * 100 / h) as i32,
                    140 - ((x + y) * 60 / (w + h)) as i32,
                ];
                px.extend(g.map(|v| (v + t).clamp(0, 255) as u8));
            }
        }
        px
    }

    /// Paste a caption box at `(x, y)` of `bw x bh`: a plain dark band with a square logo
    /// and light strokes for letters, as a caption or a watermark plate.
    fn paste_box(px: &mut [u8], w: usize, (x, y, bw, bh): BoxRect) {
        let m = (bh / 5).max(1);
        for yy in y..y + bh {
            for xx in x..x + bw {
                let (lx, ly) = (xx - x, yy - y);
                let inner = ly >= m && ly + m < bh;
                let c = if inner && lx >= m && lx < bh - m {
                    [200, 40, 40]
                } else if inner && lx >= bh && (lx / (m + 1)) % 3 != 2 && lx + m < bw {
                    [240, 240, 235]
                } else {
                    [20, 20, 24]
                };
                px[(yy * w + xx) * 3..][..3].copy_from_slice(&c);
            }
        }
    }

    /// Paint the rectangle `(x, y, bw, bh)` of a `w`-wide RGB image one colour.
    fn paint(px: &mut [u8], w: usize, (x, y, bw, bh): BoxRect, colour: [u8; 3]) {
        for row in y..y + bh {
            for p in px[(row * w + x) * 3..(row * w + x + bw) * 3].chunks_exact_mut(3) {
                p.copy_from_slice(&colour);
            }
        }
    }

    fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&p, &q)| (p as f64 - q as f64).abs())
            .sum::<f64>()
            / a.len() as f64
    }

    #[test]
    fn a_caption_box_is_found_and_filled_wherever_it_sits() {
        let (w, h) = (384, 256);
        let original = photo(w, h);
        // Top, middle and bottom; about 5% of the area, 4-5 times wider than tall.
        for rect in [(40, 12, 150, 34), (150, 110, 160, 32), (200, 200, 150, 36)] {
            let mut boxed = original.clone();
            paste_box(&mut boxed, w, rect);
            assert_found_and_filled(&original, &boxed, w, h, rect);
        }
    }

    /// `boxed` (`original` with a box pasted over `rect`) has its box found, to within the
    /// working copy's step (2 pixels at 384), and filled in: far closer to its original than
    /// with the box.
    #[track_caller]
    fn assert_found_and_filled(original: &[u8], boxed: &[u8], w: usize, h: usize, rect: BoxRect) {
        let (filled, found) = unbox(boxed, w, h, 3).expect("the box is found");
        for (a, b) in [
            (found.0, rect.0),
            (found.1, rect.1),
            (found.0 + found.2, rect.0 + rect.2),
            (found.1 + found.3, rect.1 + rect.3),
        ] {
            assert!(a.abs_diff(b) <= 2, "{found:?} for {rect:?}");
        }
        let (before, after) = (
            mean_abs_diff(boxed, original),
            mean_abs_diff(&filled, original),
        );
        assert!(after < before / 3.0, "{rect:?}: {before} -> {after}");
    }

    #[test]
    fn a_box_with_pixels_of_its_colour_just_beyond_it_is_found() {
        let (w, h) = (384, 256);
        let original = photo(w, h);
        let rect = (150, 110, 160, 32);
        // A 2x2 block of the box's colour touching its top and one touching its bottom (as
        // JPEG leaves beside a dark box on a dark photo), or a strip of it 6 pixels wide and
        // 14 tall on its top (a dark post behind the box): lines of the working copy that are
        // almost all photo, not the box's edge.
        let blocks = [(200, 108, 2, 2), (250, 142, 2, 2)];
        let strip = [(220, 96, 6, 14)];
        for spots in [&blocks[..], &strip[..]] {
            let mut boxed = original.clone();
            paste_box(&mut boxed, w, rect);
            for &spot in spots {
                paint(&mut boxed, w, spot, [20, 20, 24]);
            }
            // By its colour, not only by its edges.
            let f = work_factor(w, h);
            let work = Work::new(&boxed, w, 3, f, w / f, h / f);
            assert!(work.find_by_colour().is_some(), "{spots:?}");
            assert_found_and_filled(&original, &boxed, w, h, rect);
        }
    }

    /// Paste [`paste_box`] inside a frame `frame` pixels wide of another colour, with its
    /// logo reaching the top of the band (a hole open to its edge).
    fn paste_framed_box(px: &mut [u8], w: usize, (x, y, bw, bh): BoxRect, frame: usize) {
        paint(px, w, (x, y, bw, bh), [40, 180, 60]);
        let inner = (x + frame, y + frame, bw - 2 * frame, bh - 2 * frame);
        paste_box(px, w, inner);
        let m = (inner.3 / 5).max(1);
        paint(
            px,
            w,
            (inner.0 + m, inner.1, 2 * m, inner.3 / 2),
            [200, 40, 40],
        );
    }

    #[test]
    fn an_outlined_box_is_filled_from_beyond_its_outline() {
        let (w, h) = (384, 256);
        let original = photo(w, h);
        // About 10% of the area: the band inside the frame has plain margins as wide as
        // those of the boxes above.
        for rect in [(40, 12, 200, 50), (150, 100, 200, 48), (180, 196, 190, 52)] {
            let mut boxed = original.clone();
            paste_framed_box(&mut boxed, w, rect, 3);
            // The outline is part of the box.
            assert_found_and_filled(&original, &boxed, w, h, rect);
        }
    }

    /// Paste [`paste_box`], then ramp its band from dark at the top to gray at the bottom
    /// (a gradient plate: no colour region to grow, only its edges).
    fn paste_gradient_box(px: &mut [u8], w: usize, (x, y, bw, bh): BoxRect) {
        paste_box(px, w, (x, y, bw, bh));
        for yy in y..y + bh {
            let level = (20 + (yy - y) * 90 / bh) as u8;
            for xx in x..x + bw {
                let p = &mut px[(yy * w + xx) * 3..][..3];
                if p == [20, 20, 24] {
                    p.copy_from_slice(&[level, level, level.saturating_add(4)]);
                }
            }
        }
    }

    #[test]
    fn a_gradient_box_is_found_by_its_edges() {
        let (w, h) = (384, 256);
        // A bright photo, which the plate's every row stands out from.
        let original: Vec<u8> = photo(w, h).iter().map(|&v| v.saturating_add(70)).collect();
        for rect in [(40, 12, 200, 50), (150, 100, 200, 48), (180, 190, 190, 52)] {
            let mut boxed = original.clone();
            paste_gradient_box(&mut boxed, w, rect);
            // By its edges: the colour pass finds no region of one colour in it.
            let f = work_factor(w, h);
            let work = Work::new(&boxed, w, 3, f, w / f, h / f);
            assert!(work.find_by_edges().is_some(), "{rect:?}");
            assert_found_and_filled(&original, &boxed, w, h, rect);
        }
    }

    /// Paste a square plate at `(x, y)`, `side` a side: dark, with `pieces` of light content
    /// (1: a logo alone; 2: a logo above a word, as a logo plate).
    fn paste_square_plate(
        px: &mut [u8],
        w: usize,
        (x, y): (usize, usize),
        side: usize,
        pieces: usize,
    ) {
        let m = side / 6;
        for yy in y..y + side {
            for xx in x..x + side {
                let (lx, ly) = (xx - x, yy - y);
                let logo =
                    (side / 3..2 * side / 3).contains(&lx) && (m..m + side / 3).contains(&ly);
                let word = pieces >= 2
                    && (m..side - m).contains(&lx)
                    && (side - 2 * m..side - m).contains(&ly);
                let c = if logo {
                    [200, 40, 40]
                } else if word {
                    [240, 240, 235]
                } else {
                    [20, 20, 24]
                };
                px[(yy * w + xx) * 3..][..3].copy_from_slice(&c);
            }
        }
    }

    #[test]
    fn a_square_plate_is_a_box_when_it_holds_a_logo_and_a_word() {
        let (w, h) = (384, 256);
        let original = photo(w, h);
        for (x, y) in [(30, 20), (170, 90), (300, 180)] {
            let mut boxed = original.clone();
            paste_square_plate(&mut boxed, w, (x, y), 70, 2);
            assert_found_and_filled(&original, &boxed, w, h, (x, y, 70, 70));
            // A logo alone, or nothing (a window, a tile): not a box.
            for pieces in [0, 1] {
                let mut plain = original.clone();
                paste_square_plate(&mut plain, w, (x, y), 70, pieces);
                assert_eq!(
                    find_box(&plain, w, h, 3),
                    None,
                    "{pieces} pieces at {x}, {y}"
                );
            }
        }
        // A plate cut by the photo's edge: not one.
        let mut cut = original.clone();
        paste_square_plate(&mut cut, w, (170, 0), 70, 2);
        assert_eq!(find_box(&cut, w, h, 3), None);
    }

    #[test]
    fn photos_without_a_box_are_left_alone() {
        let (w, h) = (384, 256);
        assert_eq!(find_box(&photo(w, h), w, h, 3), None);
        // One colour, and a sky over the whole width: larger than any caption.
        assert_eq!(find_box(&vec![128; w * h * 3], w, h, 3), None);
        let mut sky = photo(w, h);
        for p in sky[..w * 60 * 3].chunks_exact_mut(3) {
            p.copy_from_slice(&[150, 190, 230]);
        }
        assert_eq!(find_box(&sky, w, h, 3), None);
        // Too small to judge, and pixels that are not the image they are said to be.
        assert_eq!(find_box(&[0, 0, 0, 255, 255, 255], 2, 1, 3), None);
        let mut boxed = photo(w, h);
        paste_box(&mut boxed, w, (40, 12, 150, 34));
        assert_eq!(find_box(&boxed[1..], w, h, 3), None);
        assert_eq!(find_box(&boxed, w, h, 5), None);
        assert_eq!(find_box(&boxed, usize::MAX, 2, 3), None);
        let before = boxed.clone();
        fill_box(&mut boxed, w, h, 3, (w, 0, 10, 10), 1);
        fill_box(&mut boxed, w + 1, h, 3, (0, 0, 10, 10), 1);
        assert_eq!(boxed, before);
    }

    #[test]
    fn gray_and_rgba_photos_and_large_ones() {
        // A gray copy (one channel) and an RGBA one (alpha kept as it was).
        let (w, h) = (384, 256);
        let mut rgb = photo(w, h);
        paste_box(&mut rgb, w, (40, 12, 150, 34));
        let gray: Vec<u8> = rgb.chunks_exact(3).map(|p| p[1]).collect();
        assert!(find_box(&gray, w, h, 1).is_some());
        let rgba: Vec<u8> = rgb
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 7])
            .collect();
        let (filled, _) = unbox(&rgba, w, h, 4).expect("found");
        assert!(filled.chunks_exact(4).all(|p| p[3] == 7));
        // Four times the size: the same box, four times the coordinates, within the step.
        let (w4, h4) = (w * 4, h * 4);
        let big: Vec<u8> = (0..h4)
            .flat_map(|y| (0..w4).flat_map(move |x| [x / 4, y / 4]))
            .collect::<Vec<_>>()
            .chunks_exact(2)
            .flat_map(|xy| rgb[(xy[1] * w + xy[0]) * 3..][..3].to_vec())
            .collect();
        let found = find_box(&big, w4, h4, 3).expect("found on the large photo");
        assert!(
            found.0.abs_diff(160) <= 8 && found.1.abs_diff(48) <= 8,
            "{found:?}"
        );
    }

    #[test]
    fn a_box_at_the_top_edge_is_filled_from_below() {
        let (w, h) = (8, 6);
        let mut px: Vec<u8> = (0..w * h).flat_map(|i| [(i % w * 10) as u8; 3]).collect();
        fill_box(&mut px, w, h, 3, (2, 0, 3, 2), 0);
        for x in 2..5 {
            // Rows 0 and 1 take row 2's value.
            assert_eq!(px[x * 3], px[(2 * w + x) * 3]);
            assert_eq!(px[(w + x) * 3], px[(2 * w + x) * 3]);
        }
    }
}
