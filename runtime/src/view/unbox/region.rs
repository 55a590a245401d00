//! Rules on the rectangle of a grown region: its edge, its outermost lines, its holes.

use alloc::vec::Vec;

use super::{BoxRect, PARTS, RING};

/// Whether the outermost pixels of the rectangle `(x0, y0, bw, bh)` of a `w`-wide image are
/// [`RING`] in `region`: a box whose logo or lettering reaches its edge leaves holes that are
/// open to the border, but its edge is still the box's colour almost all the way round.
pub(super) fn ring_of(
    region: &[bool],
    w: usize,
    x0: usize,
    y0: usize,
    bw: usize,
    bh: usize,
) -> bool {
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
pub(super) fn trim(region: &[bool], w: usize, (x, y, bw, bh): BoxRect) -> BoxRect {
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
pub(super) fn holes(
    region: &[bool],
    mut seen: Vec<bool>,
    w: usize,
    (x0, y0, bw, bh): BoxRect,
) -> usize {
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
pub(super) fn spread(
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
