//! The caption fill's fast steps against textbook references on random images: the working
//! copy's block means, its flat pixels, its row edges, the flat patches' labels, and the
//! level bounds of the colour region. Each fast step was written for speed (a two-row path,
//! sliding maxima, union-find over runs); each reference computes the definition pixel by
//! pixel.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use super::colour::{level_at_least, level_at_most, outline};
use super::patches::Patches;
use super::region::{holes, ring_of, trim};
use super::{BoxRect, FLAT, FRAME, NARROWEST, Work};
use crate::test_rng::XorShift;

/// Random pixels in a narrow band of levels, so that flat neighbourhoods and edges both
/// occur: each value is `base` plus 0 to `spread` levels.
fn pixels(rng: &mut XorShift, len: usize, base: u8, spread: u64) -> Vec<u8> {
    (0..len)
        .map(|_| base + (rng.next() % (spread + 1)) as u8)
        .collect()
}

/// The working copy by its definition: each pixel the mean of its `f x f` block, rounded
/// half up, per channel (a gray image's one channel in all three planes).
fn block_means(px: &[u8], width: usize, channels: usize, f: usize) -> [Vec<u8>; 3] {
    let height = px.len() / (width * channels);
    let (w, h) = (width / f, height / f);
    let n = (f * f) as u32;
    let plane = |c: usize| -> Vec<u8> {
        let c = if channels >= 3 { c } else { 0 };
        (0..w * h)
            .map(|i| {
                let (bx, by) = (i % w, i / w);
                let mut s = 0u32;
                for y in by * f..(by + 1) * f {
                    for x in bx * f..(bx + 1) * f {
                        s += u32::from(px[(y * width + x) * channels + c]);
                    }
                }
                ((s + n / 2) / n) as u8
            })
            .collect()
    };
    [plane(0), plane(1), plane(2)]
}

#[test]
fn the_working_copy_is_the_block_means_of_every_channel_layout() {
    let mut rng = XorShift(0x5eed_0001);
    for channels in 1..=4 {
        for f in 1..=4 {
            for (width, height) in [(13, 9), (16, 12), (7, 21)] {
                let (w, h) = (width / f, height / f);
                if w == 0 || h == 0 {
                    continue;
                }
                let px = pixels(&mut rng, width * height * channels, 0, 255);
                let work = Work::new(&px, width, channels, f, w, h);
                assert_eq!((work.w, work.h), (w, h));
                assert_eq!(
                    work.planes,
                    block_means(&px, width, channels, f),
                    "{channels} channels, factor {f}, {width}x{height}"
                );
            }
        }
    }
}

/// The 4-connected neighbours of pixel `i` of a `w x h` image, within it: the step the flood
/// fills of these references take.
fn four_neighbours(i: usize, w: usize, h: usize) -> impl Iterator<Item = usize> {
    let (x, y) = (i % w, i / w);
    [
        (x > 0).then(|| i - 1),
        (x + 1 < w).then(|| i + 1),
        (y > 0).then(|| i - w),
        (y + 1 < h).then(|| i + w),
    ]
    .into_iter()
    .flatten()
}

/// A working copy of random planes (levels `base..=base + spread`).
fn random_work(rng: &mut XorShift, w: usize, h: usize, spread: u64) -> Work {
    let planes = [0, 1, 2].map(|_| pixels(rng, w * h, 100, spread));
    Work { w, h, planes }
}

#[test]
fn flat_pixels_are_those_whose_3x3_neighbourhood_varies_by_at_most_flat_levels() {
    let mut rng = XorShift(0x5eed_0002);
    for (w, h, spread) in [
        (1, 1, 30),
        (1, 7, 16),
        (9, 1, 16),
        (2, 2, 14),
        (17, 11, 15),
        (23, 19, 14),
    ] {
        let work = random_work(&mut rng, w, h, spread);
        let expected: Vec<bool> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as isize, (i / w) as isize);
                work.planes.iter().all(|p| {
                    let near = (-1..=1).flat_map(|dy| (-1..=1).map(move |dx| (x + dx, y + dy)));
                    let levels: Vec<u8> = near
                        .filter(|&(nx, ny)| {
                            (0..w as isize).contains(&nx) && (0..h as isize).contains(&ny)
                        })
                        .map(|(nx, ny)| p[ny as usize * w + nx as usize])
                        .collect();
                    levels.iter().max().unwrap() - levels.iter().min().unwrap() <= FLAT
                })
            })
            .collect();
        let flat = work.flat();
        assert_eq!(flat, expected, "{w}x{h}");
        // Both kinds occur, so the comparison says something.
        if w * h > 100 {
            assert!(
                flat.iter().any(|&f| f) && flat.iter().any(|&f| !f),
                "{w}x{h}"
            );
        }
    }
}

#[test]
fn row_edges_are_steps_of_at_least_40_levels_from_the_pixel_above() {
    let mut rng = XorShift(0x5eed_0003);
    for (w, h) in [(1, 1), (1, 9), (12, 2), (31, 17)] {
        let work = random_work(&mut rng, w, h, 80);
        let expected: Vec<bool> = (0..w * h)
            .map(|i| i >= w && work.planes.iter().any(|p| p[i].abs_diff(p[i - w]) >= 40))
            .collect();
        let edges = work.row_edges();
        assert_eq!(edges, expected, "{w}x{h}");
        if w * h > 100 {
            assert!(edges.iter().any(|&e| e) && edges.iter().any(|&e| !e));
        }
    }
}

#[test]
fn flat_patches_are_the_4_connected_pieces_numbered_by_their_first_pixel() {
    let mut rng = XorShift(0x5eed_0004);
    for (w, h, percent) in [
        (1, 1, 100),
        (9, 1, 60),
        (1, 9, 60),
        (16, 16, 55),
        (40, 30, 62),
    ] {
        let flat: Vec<bool> = (0..w * h).map(|_| rng.next() % 100 < percent).collect();
        let planes = [0, 1, 2].map(|_| pixels(&mut rng, w * h, 0, 255));
        let patches = Patches::label(&flat, &planes, w, h);
        // Flood fill from each unlabelled flat pixel in raster order.
        let mut label = vec![u32::MAX; w * h];
        let (mut size, mut sum, mut bounds) = (Vec::new(), Vec::new(), Vec::new());
        for start in 0..w * h {
            if !flat[start] || label[start] != u32::MAX {
                continue;
            }
            let id = size.len() as u32;
            let (mut n, mut s, mut b) = (0usize, [0u64; 3], (w, h, 0, 0));
            let mut queue = VecDeque::from([start]);
            label[start] = id;
            while let Some(i) = queue.pop_front() {
                let (x, y) = (i % w, i / w);
                n += 1;
                for c in 0..3 {
                    s[c] += u64::from(planes[c][i]);
                }
                b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
                for j in four_neighbours(i, w, h) {
                    if flat[j] && label[j] == u32::MAX {
                        label[j] = id;
                        queue.push_back(j);
                    }
                }
            }
            size.push(n);
            sum.push(s);
            bounds.push(b);
        }
        assert_eq!(patches.label, label, "{w}x{h}");
        assert_eq!(patches.size, size, "{w}x{h}");
        assert_eq!(patches.sum, sum, "{w}x{h}");
        assert_eq!(patches.bounds, bounds, "{w}x{h}");
        if w * h > 100 {
            // Pieces of many shapes: several, some joined only through a row below.
            assert!(size.len() > 5 && size.iter().any(|&n| n > 10), "{size:?}");
        }
    }
}

#[test]
fn level_bounds_are_the_nearest_whole_levels_inside_0_to_255() {
    let mut values: Vec<f32> = (-40..=1060).map(|q| q as f32 / 4.0).collect();
    values.extend([
        -1e9,
        -0.0,
        1e-7,
        0.999_999,
        254.999_98,
        255.000_02,
        1e9,
        f32::MAX,
    ]);
    for x in values {
        let at_least = (0..=255u8).find(|&l| f32::from(l) >= x).unwrap_or(255);
        let at_most = (0..=255u8).rev().find(|&l| f32::from(l) <= x).unwrap_or(0);
        assert_eq!(level_at_least(x), at_least, "at least {x}");
        assert_eq!(level_at_most(x), at_most, "at most {x}");
    }
}

#[test]
fn the_outline_is_the_pixels_two_steps_outside_each_side_within_the_image() {
    let (w, h) = (12, 9);
    let rects = [
        (2, 2, 9, 6),
        (3, 3, 5, 4),
        (0, 0, 11, 8),
        (1, 4, 10, 4),
        (2, 0, 2, 8),
        (5, 1, 7, 7),
        (0, 2, 9, 2),
    ];
    for (x0, y0, x1, y1) in rects {
        let mut got = outline(w, h, (x0, y0, x1, y1));
        got.sort_unstable();
        let (x0, y0, x1, y1) = (x0 as isize, y0 as isize, x1 as isize, y1 as isize);
        let expected: Vec<usize> = (0..w * h)
            .filter(|&i| {
                let (x, y) = ((i % w) as isize, (i / w) as isize);
                let across = (x0..=x1).contains(&x) && (y == y0 - 2 || y == y1 + 2);
                let down = (y0..=y1).contains(&y) && (x == x0 - 2 || x == x1 + 2);
                across || down
            })
            .collect();
        assert_eq!(got, expected, "{:?}", (x0, y0, x1, y1));
    }
}

/// The edge pass's rule as its documentation states it, by trying every rectangle: the top
/// row a run of row edges (steps of 40 levels from the row above; gaps of one pixel bridged),
/// whole, at least an eighth of the width (3 pixels) and 4 pixels from the sides; every
/// height from 3 rows to 4 rows above the bottom; 1.5 to 12 times wider than tall, 1% to 15%
/// of the image, at most 90% of its width and half its height; left, right and bottom sides
/// edges within a pixel along 85% of their length; the pixel a step inside each side unlike
/// the one 4 pixels outside on 75% of the outline. The largest wins; of equal ones, the
/// first in the order top, left, height.
fn edges_by_brute_force(work: &Work) -> Option<BoxRect> {
    let (w, h) = (work.w, work.h);
    let px = |x: usize, y: usize| [0, 1, 2].map(|c| work.planes[c][y * w + x]);
    let unlike = |p: [u8; 3], q: [u8; 3]| (0..3).any(|c| p[c].abs_diff(q[c]) >= 40);
    // Edges between rows y - 1 and y, and between columns x - 1 and x.
    let row_edge = |x: usize, y: usize| y >= 1 && y < h && unlike(px(x, y - 1), px(x, y));
    let col_edge = |x: usize, y: usize| x >= 1 && x < w && unlike(px(x - 1, y), px(x, y));
    let mut best: Option<BoxRect> = None;
    for top in 4..h.saturating_sub(4) {
        // The runs of the top row: edge columns, split where two in a row are not edges.
        let columns: Vec<usize> = (0..w).filter(|&x| row_edge(x, top)).collect();
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for &x in &columns {
            match runs.last_mut() {
                Some((_, b)) if x - *b <= 2 => *b = x,
                _ => runs.push((x, x)),
            }
        }
        for (a, b) in runs {
            let bw = b + 1 - a;
            if bw < (w / 8).max(3) || a < 4 || b + 4 >= w {
                continue;
            }
            for bh in 3..=(h - 4 - top) {
                let (fw, fh, area) = (bw as f32, bh as f32, (bw * bh) as f32);
                let (wf, hf) = (w as f32, h as f32);
                let shape = fw >= 1.5 * fh
                    && fw <= 12.0 * fh
                    && area >= 0.01 * wf * hf
                    && area <= 0.15 * wf * hf
                    && fw <= 0.9 * wf
                    && fh <= 0.5 * hf;
                if !shape {
                    continue;
                }
                let bottom = top + bh;
                let rows = top..bottom;
                let left = rows
                    .clone()
                    .filter(|&y| col_edge(a, y) || col_edge(a + 1, y))
                    .count();
                let right = rows
                    .filter(|&y| col_edge(b + 1, y) || col_edge(b + 2, y))
                    .count();
                let under = (a..=b)
                    .filter(|&x| row_edge(x, bottom) || row_edge(x, bottom + 1))
                    .count();
                let covered = |n: usize, of: usize| n as f32 >= 0.85 * of as f32;
                if !covered(left, bh) || !covered(right, bh) || !covered(under, bw) {
                    continue;
                }
                let last = bottom - 1;
                let mut pairs = Vec::new();
                for x in a..=b {
                    pairs.push(((x, top + 1), (x, top - 4)));
                    pairs.push(((x, last - 1), (x, last + 4)));
                }
                for y in top..=last {
                    pairs.push(((a + 1, y), (a - 4, y)));
                    pairs.push(((b - 1, y), (b + 4, y)));
                }
                let apart = pairs
                    .iter()
                    .filter(|&&((x, y), (u, v))| unlike(px(x, y), px(u, v)))
                    .count();
                if (apart as f32) < 0.75 * pairs.len() as f32 {
                    continue;
                }
                if best.is_none_or(|(_, _, w0, h0)| w0 * h0 < bw * bh) {
                    best = Some((a, top, bw, bh));
                }
            }
        }
    }
    best
}

/// A `w x h` working copy of a smooth background (levels 90 to 110, or a ramp) with up to three planted
/// rectangles: a plate of one colour or a gradient, sometimes a side left open, sometimes
/// an outline around it.
fn planted(rng: &mut XorShift, w: usize, h: usize) -> Work {
    let mut work = random_work(rng, w, h, 0);
    // Half of them on a ramp from dark at the top to light at the bottom (under 40 levels a
    // row, so no edge), where which row lies beyond a side matters.
    let ramp = rng.next().is_multiple_of(2);
    for plane in &mut work.planes {
        for (i, v) in plane.iter_mut().enumerate() {
            let level = if ramp { (i / w * 200 / h) as u8 } else { 90 };
            *v = level + (rng.next() % 21) as u8;
        }
    }
    let mut draw = |rng: &mut XorShift, x0: usize, y0: usize, bw: usize, bh: usize| {
        let dark = rng.next().is_multiple_of(2);
        let gradient = rng.next().is_multiple_of(3);
        let open_side = rng.next() % 4;
        let open = rng.next().is_multiple_of(3);
        for y in y0..(y0 + bh).min(h) {
            for x in x0..(x0 + bw).min(w) {
                let t = ((y - y0) * 60 / bh.max(1)) as u8;
                let base = if dark { 15 } else { 200 };
                let v = if gradient { base + t / 2 } else { base };
                let on_side = [y == y0, x == x0 + bw - 1, y == y0 + bh - 1, x == x0];
                if open && on_side[open_side as usize] && (x + y) % 2 == 0 {
                    continue;
                }
                for (c, plane) in work.planes.iter_mut().enumerate() {
                    plane[y * w + x] = v.saturating_add(c as u8 * 10);
                }
            }
        }
    };
    for _ in 0..1 + rng.next() % 3 {
        let bw = 3 + (rng.next() % (w as u64 / 2)) as usize;
        let bh = 2 + (rng.next() % (h as u64 / 3)) as usize;
        let x0 = (rng.next() % (w - bw.min(w - 1)) as u64) as usize;
        let y0 = (rng.next() % (h - bh.min(h - 1)) as u64) as usize;
        if rng.next().is_multiple_of(4) && bw > 6 && bh > 4 {
            // An outline: a plate inside a plate.
            draw(rng, x0, y0, bw, bh);
            draw(rng, x0 + 2, y0 + 2, bw - 4, bh - 4);
        } else {
            draw(rng, x0, y0, bw, bh);
        }
    }
    work
}

#[test]
fn the_edge_pass_finds_the_rectangle_that_trying_every_one_finds() {
    let mut rng = XorShift(0x5eed_0005);
    let (mut found, mut none) = (0, 0);
    for i in 0..600 {
        let (w, h) = (13 + i % 40, 13 + (i * 7) % 29);
        let work = planted(&mut rng, w, h);
        let expected = edges_by_brute_force(&work);
        assert_eq!(work.find_by_edges(), expected, "image {i}, {w}x{h}");
        if let Some(rect) = expected {
            assert!(work.stands_out(rect));
            found += 1;
        } else {
            none += 1;
        }
    }
    // Both outcomes, many times over.
    assert!(found > 100 && none > 100, "{found} found, {none} not");
    // The fewest rows a box fits in: 4 above it, 3 of it, 4 below it.
    let mut low = 0;
    for i in 0..200 {
        let (w, h) = (20 + i % 40, 11 + i % 2);
        let work = planted(&mut rng, w, h);
        let expected = edges_by_brute_force(&work);
        assert_eq!(work.find_by_edges(), expected, "image {i}, {w}x{h}");
        low += usize::from(h == 11 && expected.is_some());
    }
    assert!(low > 0, "no box found 11 rows high");
    // Working copies too small for a box: none, and no arithmetic past their edges.
    for (w, h) in [(3, 3), (3, 40), (40, 3), (12, 12), (11, 30), (30, 11)] {
        let work = planted(&mut rng, w, h);
        assert_eq!(work.find_by_edges(), None, "{w}x{h}");
    }
}

#[test]
fn the_ring_is_the_part_of_a_rectangles_outermost_pixels_in_the_region() {
    let mut rng = XorShift(0x5eed_0006);
    let (w, h) = (20, 16);
    let (mut held, mut not) = (0, 0);
    for _ in 0..400 {
        // Regions mostly in, so that both answers come up.
        let region: Vec<bool> = (0..w * h).map(|_| rng.next() % 100 < 88).collect();
        let bw = 2 + (rng.next() % (w as u64 - 2)) as usize;
        let bh = 2 + (rng.next() % (h as u64 - 2)) as usize;
        let x0 = (rng.next() % (w - bw + 1) as u64) as usize;
        let y0 = (rng.next() % (h - bh + 1) as u64) as usize;
        let border: Vec<usize> = (y0..y0 + bh)
            .flat_map(|y| (x0..x0 + bw).map(move |x| (x, y)))
            .filter(|&(x, y)| x == x0 || y == y0 || x == x0 + bw - 1 || y == y0 + bh - 1)
            .map(|(x, y)| y * w + x)
            .collect();
        let inside = border.iter().filter(|&&i| region[i]).count();
        let expected = inside as f32 >= 0.85 * border.len() as f32;
        assert_eq!(
            ring_of(&region, w, x0, y0, bw, bh),
            expected,
            "{bw}x{bh} at {x0}, {y0}: {inside} of {}",
            border.len()
        );
        if expected {
            held += 1;
        } else {
            not += 1;
        }
    }
    assert!(held > 50 && not > 50, "{held} held, {not} not");
}

/// Trimming as a search: the first row from the top with at least an eighth of its pixels
/// in the region (at most the third row from the bottom), then the last such row from the
/// bottom (at least two rows below the top), then the first and last such columns over
/// those rows, likewise.
fn trim_by_search(region: &[bool], w: usize, (x, y, bw, bh): BoxRect) -> BoxRect {
    let dense = |n: usize, of: usize| n * 8 >= of;
    let row = |r: usize, (a, b): (usize, usize)| (a..=b).filter(|&c| region[r * w + c]).count();
    let col = |c: usize, (a, b): (usize, usize)| (a..=b).filter(|&r| region[r * w + c]).count();
    let (x1, y1) = (x + bw - 1, y + bh - 1);
    let top = (y..=y1 - 2)
        .find(|&r| dense(row(r, (x, x1)), bw))
        .unwrap_or(y1 - 2);
    let bottom = (top + 2..=y1)
        .rev()
        .find(|&r| dense(row(r, (x, x1)), bw))
        .unwrap_or(top + 2);
    let rows = (top, bottom);
    let tall = bottom + 1 - top;
    let left = (x..=x1 - 2)
        .find(|&c| dense(col(c, rows), tall))
        .unwrap_or(x1 - 2);
    let right = (left + 2..=x1)
        .rev()
        .find(|&c| dense(col(c, rows), tall))
        .unwrap_or(left + 2);
    (left, top, right + 1 - left, bottom + 1 - top)
}

#[test]
fn trimming_drops_the_outer_lines_under_an_eighth_in_the_region() {
    let mut rng = XorShift(0x5eed_0007);
    let (w, h) = (30, 24);
    let mut trimmed = 0;
    for _ in 0..400 {
        // A dense core with sparse pixels (and a post) around it.
        let (cx, cy) = (
            3 + (rng.next() % 10) as usize,
            3 + (rng.next() % 8) as usize,
        );
        let (cw, ch) = (
            3 + (rng.next() % 14) as usize,
            3 + (rng.next() % 10) as usize,
        );
        let post = (rng.next() % w as u64) as usize;
        let region: Vec<bool> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let core = (cx..cx + cw).contains(&x) && (cy..cy + ch).contains(&y);
                core && rng.next() % 10 < 9 || x == post || rng.next() % 100 < 6
            })
            .collect();
        let bw = 3 + (rng.next() % (w as u64 - 3)) as usize;
        let bh = 3 + (rng.next() % (h as u64 - 3)) as usize;
        let x = (rng.next() % (w - bw + 1) as u64) as usize;
        let y = (rng.next() % (h - bh + 1) as u64) as usize;
        let got = trim(&region, w, (x, y, bw, bh));
        assert_eq!(
            got,
            trim_by_search(&region, w, (x, y, bw, bh)),
            "{bw}x{bh} at {x}, {y}"
        );
        trimmed += usize::from(got != (x, y, bw, bh));
    }
    assert!(trimmed > 100, "{trimmed} rectangles trimmed");
}

#[test]
fn holes_are_the_pieces_outside_the_region_not_yet_seen_counted_to_two() {
    let mut rng = XorShift(0x5eed_0008);
    let (w, h) = (24, 18);
    let mut counts = [0; 3];
    for k in 0..400 {
        // From a few pixels outside the region to many.
        let density = [80, 96, 99, 100][k % 4];
        let region: Vec<bool> = (0..w * h).map(|_| rng.next() % 100 < density).collect();
        let bw = 2 + (rng.next() % (w as u64 - 2)) as usize;
        let bh = 2 + (rng.next() % (h as u64 - 2)) as usize;
        let x0 = (rng.next() % (w - bw + 1) as u64) as usize;
        let y0 = (rng.next() % (h - bh + 1) as u64) as usize;
        let seen: Vec<bool> = (0..bw * bh).map(|_| rng.next() % 100 < 30).collect();
        // Flood fill of the pixels neither in the region nor seen, piece by piece.
        let free = |i: usize| !seen[i] && !region[(y0 + i / bw) * w + x0 + i % bw];
        let mut piece = vec![false; bw * bh];
        let mut pieces = 0;
        for start in 0..bw * bh {
            if !free(start) || piece[start] {
                continue;
            }
            pieces += 1;
            let mut queue = VecDeque::from([start]);
            piece[start] = true;
            while let Some(i) = queue.pop_front() {
                for j in four_neighbours(i, bw, bh) {
                    if free(j) && !piece[j] {
                        piece[j] = true;
                        queue.push_back(j);
                    }
                }
            }
        }
        let got = holes(&region, seen, w, (x0, y0, bw, bh));
        assert_eq!(
            got,
            pieces.min(2),
            "{bw}x{bh} at {x0}, {y0}: {pieces} pieces"
        );
        counts[got] += 1;
    }
    assert!(
        counts.iter().all(|&n| n > 30),
        "{counts:?} with 0, 1, 2 pieces"
    );
}

/// The size rules by their words, in f64: at most 15% of the area, 90% of the width and half
/// the height; a whole box also at least 1% of the area, `NARROWEST` to 12 times as wide as
/// tall, touching at most one edge. `None` where a bound is met exactly (f32 and f64 may
/// round such a tie either way).
fn fits_by_definition(w: usize, h: usize, (x, y, bw, bh): BoxRect, partial: bool) -> Option<bool> {
    let (wf, hf, area) = (w as f64, h as f64, (bw * bh) as f64);
    let aspect = bw as f64 / bh as f64;
    let bounds = [
        (area, 0.15 * wf * hf),
        (bw as f64, 0.9 * wf),
        (bh as f64, 0.5 * hf),
        (area, 0.01 * wf * hf),
        (aspect, f64::from(NARROWEST)),
        (aspect, 12.0),
    ];
    if bounds.iter().any(|&(v, b)| (v - b).abs() < 1e-6 * b) {
        return None;
    }
    let small_enough = area <= 0.15 * wf * hf && bw as f64 <= 0.9 * wf && bh as f64 <= 0.5 * hf;
    let edges = [x == 0, y == 0, x + bw == w, y + bh == h];
    let whole = area >= 0.01 * wf * hf
        && (f64::from(NARROWEST)..=12.0).contains(&aspect)
        && edges.iter().filter(|&&e| e).count() <= 1;
    Some(small_enough && (partial || whole))
}

#[test]
fn the_size_rules_are_those_their_words_give_for_every_box() {
    let (mut checked, mut ties, mut fit) = (0, 0, [0usize; 2]);
    for (w, h) in [(23, 17), (40, 9), (12, 31), (60, 24)] {
        let work = Work {
            w,
            h,
            planes: [vec![0; w * h], vec![0; w * h], vec![0; w * h]],
        };
        for y in 0..h {
            for x in 0..w {
                for bh in 1..=h - y {
                    for bw in 1..=w - x {
                        for partial in [false, true] {
                            let rect = (x, y, bw, bh);
                            match fits_by_definition(w, h, rect, partial) {
                                None => ties += 1,
                                Some(want) => {
                                    assert_eq!(
                                        work.fits(x, y, bw, bh, partial),
                                        want,
                                        "{rect:?} partial {partial} in {w}x{h}"
                                    );
                                    checked += 1;
                                    fit[usize::from(partial)] += usize::from(want);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    // Both kinds of answer, for whole boxes and parts, and few ties left out.
    assert!(fit[0] > 1000 && fit[1] > fit[0], "{fit:?} of {checked}");
    assert!(ties * 10 < checked, "{ties} ties of {checked}");
}

/// A box's frame on planted outlines: each side of an 8x4 box gets 0, 1 or 2 lines of
/// outline (each of its own gray, far from the next), clipped by the image, on a plain
/// background. Taken into the box, by the rule's words: the lines just outside a side, up to
/// [`FRAME`] and the image's edge, while each differs from the line beyond it (or has none).
#[test]
fn the_frame_is_the_outline_lines_that_differ_from_the_line_beyond() {
    const BACKGROUND: u8 = 100;
    const OUTLINE: [u8; 2] = [30, 160];
    let mut rng = XorShift(0x5eed_f4a3);
    let (w, h, bw, bh) = (20, 14, 8, 4);
    let mut grown = [0usize; FRAME + 1];
    for _ in 0..3000 {
        let x = (rng.next() % (w - bw + 1) as u64) as usize;
        let y = (rng.next() % (h - bh + 1) as u64) as usize;
        // Outline lines of the top, bottom, left and right sides.
        let lines: [usize; 4] = core::array::from_fn(|_| (rng.next() % 3) as usize);
        let mut plane = vec![BACKGROUND; w * h];
        for r in y..y + bh {
            plane[r * w + x..r * w + x + bw].fill(220);
        }
        let rooms = [y, h - y - bh, x, w - x - bw];
        for (side, (&n, &room)) in lines.iter().zip(&rooms).enumerate() {
            for k in 1..=n.min(room) {
                let at: Vec<usize> = match side {
                    0 => (x..x + bw).map(|c| (y - k) * w + c).collect(),
                    1 => (x..x + bw).map(|c| (y + bh - 1 + k) * w + c).collect(),
                    2 => (y..y + bh).map(|r| r * w + x - k).collect(),
                    _ => (y..y + bh).map(|r| r * w + x + bw - 1 + k).collect(),
                };
                at.into_iter().for_each(|i| plane[i] = OUTLINE[k - 1]);
            }
        }
        // The grays of the lines outside each side, from the box out to the image's edge.
        let want: [usize; 4] = core::array::from_fn(|side| {
            let (n, room) = (lines[side], rooms[side]);
            let gray = |k: usize| if k <= n { OUTLINE[k - 1] } else { BACKGROUND };
            let mut k = 0;
            while k < FRAME.min(room) && (k + 1 == room || gray(k + 1) != gray(k + 2)) {
                k += 1;
            }
            k
        });
        let work = Work {
            w,
            h,
            planes: [plane.clone(), plane.clone(), plane],
        };
        let [top, bottom, left, right] = want;
        assert_eq!(
            work.with_frame((x, y, bw, bh)),
            (x - left, y - top, bw + left + right, bh + top + bottom),
            "box at ({x}, {y}), outline lines {lines:?}"
        );
        want.iter().for_each(|&k| grown[k] += 1);
    }
    assert!(
        grown.iter().all(|&n| n > 500),
        "sides grown by 0, 1, 2: {grown:?}"
    );
}
