//! A picture at a glance: plain or not, colour or gray, from the means of a coarse grid.
//!
//! A photo model's view stretches the contrast of what it is given, so every plain picture
//! (a fill of one colour, a blank frame) becomes the same flat view and gets one code,
//! whatever its colour: black, white and red frames would be copies of each other. Dedup
//! links a plain picture only with plain pictures of its colour, and never with a picture
//! that has detail. Which copy to keep also looks here: a colour copy over a gray one.

/// The grid (at most `PLAIN_GRID` x `PLAIN_GRID` cells) whose cell means are compared: pixel
/// noise averages out in a cell, so a noisy fill is plain, and a photo's detail does not.
pub const PLAIN_GRID: usize = 32;

/// The luma variance of the cell means (squared 8-bit levels) under which a picture is plain.
pub const PLAIN_VARIANCE: f64 = 1.0;

/// The variance above which a picture has detail; between the two (a gradient sky, a dim
/// frame) plainness says nothing and the codes decide.
pub const DETAIL_VARIANCE: f64 = 16.0;

/// Two plain pictures are copies when each channel's mean falls in the same band of this
/// many levels (0-15, 16-31, ...), or within [`PLAIN_NOISE`] of the other's: bands, not a
/// distance alone, so that no chain of fills a few levels apart joins black and gray in one
/// group.
pub const PLAIN_BAND: u8 = 16;

/// Levels a channel's mean moves when a plain picture is saved again (JPEG at quality 90
/// moves a fill by a level or two): copies across a band's edge. A chain from one band to
/// the next then needs fills within these levels on both sides of each edge between them.
pub const PLAIN_NOISE: u8 = 3;

/// The mean chroma (largest channel difference of a cell, averaged) above which a picture is
/// in colour: a gray picture saved as RGB has none, or a level of compression noise.
pub const COLOUR_LEVELS: f64 = 2.0;

/// How flat a picture is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flatness {
    /// One colour (each channel's mean): the cells vary by less than [`PLAIN_VARIANCE`].
    Plain([u8; 3]),
    /// Nearly flat: between [`PLAIN_VARIANCE`] and [`DETAIL_VARIANCE`].
    Faint,
    /// Detail: above [`DETAIL_VARIANCE`].
    Detailed,
}

/// What a glance at a picture tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Glance {
    /// Plain, faint or detailed ([`PLAIN_VARIANCE`], [`DETAIL_VARIANCE`]).
    pub flatness: Flatness,
    /// In colour ([`COLOUR_LEVELS`]).
    pub colour: bool,
}

/// A glance at `width x height` interleaved 8-bit RGB pixels; `None` when `rgb` does not hold
/// them (or holds none).
pub fn glance(rgb: &[u8], width: usize, height: usize) -> Option<Glance> {
    let n = width.checked_mul(height)?;
    if n == 0 || n.checked_mul(3)? != rgb.len() {
        return None;
    }
    let (gw, gh) = (width.min(PLAIN_GRID), height.min(PLAIN_GRID));
    let col_cell: alloc::vec::Vec<usize> = (0..width).map(|x| x * gw / width).collect();
    let mut sums = alloc::vec![[0u64; 4]; gw * gh];
    for (y, row) in rgb.chunks_exact(3 * width).enumerate() {
        let cells = &mut sums[(y * gh / height) * gw..][..gw];
        for (px, &c) in row.chunks_exact(3).zip(&col_cell) {
            let cell = &mut cells[c];
            cell[0] += u64::from(px[0]);
            cell[1] += u64::from(px[1]);
            cell[2] += u64::from(px[2]);
            cell[3] += 1;
        }
    }
    let (mut total, mut y_sum, mut y_squares, mut chroma) = ([0u64; 3], 0f64, 0f64, 0f64);
    for cell in &sums {
        let count = cell[3] as f64;
        let [r, g, b] = [0, 1, 2].map(|k| cell[k] as f64 / count);
        let y = 0.299 * r + 0.587 * g + 0.114 * b;
        y_sum += y;
        y_squares += y * y;
        chroma += (r - g).abs().max((g - b).abs()).max((r - b).abs());
        for (t, s) in total.iter_mut().zip(cell) {
            *t += s;
        }
    }
    let cells = sums.len() as f64;
    let mean = y_sum / cells;
    let variance = y_squares / cells - mean * mean;
    let n = n as u64;
    let flatness = if variance < PLAIN_VARIANCE {
        // Each mean is at most 255: the cast keeps it.
        Flatness::Plain(total.map(|s| ((s + n / 2) / n) as u8))
    } else if variance <= DETAIL_VARIANCE {
        Flatness::Faint
    } else {
        Flatness::Detailed
    };
    Some(Glance {
        flatness,
        colour: chroma / cells > COLOUR_LEVELS,
    })
}

/// What flatness says of a candidate pair: `None` where it says nothing (neither is plain, or
/// one is faint: the codes and their checks decide); else whether both are plain with every
/// channel in one band ([`PLAIN_BAND`]) or within [`PLAIN_NOISE`] levels.
pub fn plain_pair(a: Flatness, b: Flatness) -> Option<bool> {
    match (a, b) {
        (Flatness::Plain(a), Flatness::Plain(b)) => Some(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x / PLAIN_BAND == y / PLAIN_BAND || x.abs_diff(*y) <= PLAIN_NOISE),
        ),
        (Flatness::Plain(_), Flatness::Detailed) | (Flatness::Detailed, Flatness::Plain(_)) => {
            Some(false)
        }
        _ => None,
    }
}
