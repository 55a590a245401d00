//! The area resize of a photo and its parts to the view's size, and the colour planes
//! (BT.601 luma and chroma) it is made of.

use alloc::vec;
use alloc::vec::Vec;

use super::{Colour, View};

impl View {
    /// The `(x, y, w, h)` parts of an interleaved image of `width` pixels a row (the whole
    /// photo and its parts), each area-resized to `rows x cols` per plane: luma, then
    /// (colour) the Cb and Cr deviations. Row by row, each pixel is converted once for all
    /// parts, and each output column sums its pixels, all planes side by side, in the order
    /// the tests' `area_resize` adds them for a whole plane (so the result is the same to the
    /// bit), once for the parts that span the same columns; then the rows are combined.
    pub(super) fn resized_planes(
        &self,
        pixels: &[u8],
        width: usize,
        channels: usize,
        rects: &[(usize, usize, usize, usize)],
    ) -> Vec<Vec<Vec<f32>>> {
        let image = (pixels, width, channels);
        match self.colour {
            Colour::Gray => resized::<1>(image, rects, (self.cols, self.rows)),
            Colour::Ycc => resized::<3>(image, rects, (self.cols, self.rows)),
        }
    }
}

/// [`View::resized_planes`] for `N` planes (1: luma; 3: luma, Cb, Cr) of `(pixels, width,
/// channels)`, each part resized to `(cols, rows)`.
fn resized<const N: usize>(
    (pixels, width, channels): (&[u8], usize, usize),
    rects: &[(usize, usize, usize, usize)],
    (ow, oh): (usize, usize),
) -> Vec<Vec<Vec<f32>>> {
    // Parts that span the same columns (the whole photo, its top, its bottom) share their
    // column sums: each distinct span of columns is summed once a row.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let span_of: Vec<usize> = rects
        .iter()
        .map(|&(x0, _, w, _)| {
            spans.iter().position(|&s| s == (x0, w)).unwrap_or_else(|| {
                spans.push((x0, w));
                spans.len() - 1
            })
        })
        .collect();
    // Per span, each output column's pixels are a run: its first index (in the image row)
    // and their weights, padded with zero weights to the span's longest run (adding a zero
    // product leaves a sum as it is), so that columns can be summed side by side.
    let runs: Vec<Vec<(usize, Vec<f32>)>> = spans
        .iter()
        .map(|&(x0, w)| {
            let columns = area_weights(w, ow);
            let len = columns.iter().map(|c| run_len(c)).max().unwrap_or(0);
            columns
                .into_iter()
                .map(|weights| {
                    let first = weights.first().map_or(0, |&(i, _)| i);
                    let mut run = vec![0f32; len];
                    for (i, a) in weights {
                        run[i - first] = a;
                    }
                    (x0 + first, run)
                })
                .collect()
        })
        .collect();
    let mut across: Vec<Vec<f32>> = rects.iter().map(|r| vec![0f32; N * r.3 * ow]).collect();
    let (first_row, last_row) = rects
        .iter()
        .fold((usize::MAX, 0), |(a, b), r| (a.min(r.1), b.max(r.1 + r.3)));
    // A pixel's values as four lanes (the planes, then zeros), which one vector operation
    // of the CPU scales and adds; then zeros, for the padding of the last columns' runs.
    let pad = runs
        .iter()
        .flatten()
        .map(|(_, run)| run.len())
        .max()
        .unwrap_or(0);
    let mut values = vec![[0f32; 4]; width + pad];
    let mut column_sums = vec![vec![[0f32; 4]; ow]; spans.len()];
    for y in first_row..last_row {
        let row = &pixels[y * width * channels..(y + 1) * width * channels];
        convert_row::<N>(row, channels, &mut values);
        let in_part = |r: usize| (rects[r].1..rects[r].1 + rects[r].3).contains(&y);
        for (s, (columns, out)) in runs.iter().zip(&mut column_sums).enumerate() {
            if !(0..rects.len()).any(|r| span_of[r] == s && in_part(r)) {
                continue;
            }
            // Four columns at a time: each sum is a chain of dependent additions, in the
            // order that fixes its result to the bit; four chains keep the CPU's adders busy.
            let mut quads = columns.chunks_exact(4);
            let mut outs = out.chunks_exact_mut(4);
            for (quad, out) in (&mut quads).zip(&mut outs) {
                out.copy_from_slice(&column_quad(&values, quad));
            }
            for ((first, run), out) in quads.remainder().iter().zip(outs.into_remainder()) {
                *out = column_sum(&values[*first..], run);
            }
        }
        for (r, sums) in across.iter_mut().enumerate() {
            if !in_part(r) {
                continue;
            }
            let (y0, plane) = (rects[r].1, rects[r].3 * ow);
            for (o, sum) in column_sums[span_of[r]].iter().enumerate() {
                for (k, &s) in sum[..N].iter().enumerate() {
                    sums[k * plane + (y - y0) * ow + o] = s;
                }
            }
        }
    }
    rects
        .iter()
        .zip(across)
        .map(|(&(_, _, _, h), sums)| {
            sums.chunks_exact(h * ow)
                .map(|rows_across| down(rows_across, h, ow, oh))
                .collect()
        })
        .collect()
}

/// Pixels a column's area weights span (first to last).
fn run_len(weights: &[(usize, f32)]) -> usize {
    match (weights.first(), weights.last()) {
        (Some(&(a, _)), Some(&(b, _))) => b + 1 - a,
        _ => 0,
    }
}

/// One column's sum over its run: `values` from its first pixel, times `run`, in order.
fn column_sum(values: &[[f32; 4]], run: &[f32]) -> [f32; 4] {
    // Summed in a local, which stays in registers.
    let mut sum = [0f32; 4];
    for (v, a) in values.iter().zip(run) {
        for k in 0..4 {
            sum[k] += v[k] * a;
        }
    }
    sum
}

/// [`column_sum`] of four columns with runs of one length, side by side.
fn column_quad(values: &[[f32; 4]], quad: &[(usize, Vec<f32>)]) -> [[f32; 4]; 4] {
    let len = quad[0].1.len();
    let v: [&[[f32; 4]]; 4] = core::array::from_fn(|c| &values[quad[c].0..quad[c].0 + len]);
    let w: [&[f32]; 4] = core::array::from_fn(|c| &quad[c].1[..len]);
    let mut sum = [[0f32; 4]; 4];
    for j in 0..len {
        for c in 0..4 {
            for k in 0..4 {
                sum[c][k] += v[c][j][k] * w[c][j];
            }
        }
    }
    sum
}

/// One image row of `channels` bytes a pixel to its planes' values: luma, then (`N` = 3)
/// the chroma deviations. RGB rows, what a decoder hands over, get a loop of their own: with
/// the pixel size a constant, [`luma`] and [`chroma`] lose their branch and the compiler
/// vectorizes the loop.
fn convert_row<const N: usize>(row: &[u8], channels: usize, values: &mut [[f32; 4]]) {
    let convert = |v: &mut [f32; 4], p: &[u8]| {
        v[0] = luma(p) as f32;
        if N == 3 {
            (v[1], v[2]) = chroma(p);
        }
    };
    if channels == 3 {
        let (rgb, _) = row.as_chunks::<3>();
        values.iter_mut().zip(rgb).for_each(|(v, p)| convert(v, p));
    } else {
        let pixels = row.chunks_exact(channels);
        values
            .iter_mut()
            .zip(pixels)
            .for_each(|(v, p)| convert(v, p));
    }
}

/// BT.601 chroma deviations (Cb - 128, Cr - 128) with the JFIF integer weights; gray and
/// gray+alpha pixels have none.
pub(super) fn chroma(p: &[u8]) -> (f32, f32) {
    match p.len() {
        1 | 2 => (0.0, 0.0),
        _ => {
            let (r, g, b) = (p[0] as i32, p[1] as i32, p[2] as i32);
            (
                (-43 * r - 85 * g + 128 * b) as f32 / 256.0,
                (128 * r - 107 * g - 21 * b) as f32 / 256.0,
            )
        }
    }
}

/// BT.601 luma with integer weights (77, 150, 29)/256, the same on every target.
pub(super) fn luma(p: &[u8]) -> u8 {
    match p.len() {
        1 | 2 => p[0],
        _ => ((77 * p[0] as u32 + 150 * p[1] as u32 + 29 * p[2] as u32 + 128) >> 8) as u8,
    }
}

/// For each output cell of a `src -> dst` resize along one axis: the source cells it covers
/// and their overlap weights (summing to 1).
fn area_weights(src: usize, dst: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|o| {
            let (lo, hi) = (o as f64 * scale, (o + 1) as f64 * scale);
            let mut w = Vec::new();
            // `lo` is non-negative, so truncation is the floor (`f64::floor` needs std).
            let mut i = lo as usize;
            while (i as f64) < hi && i < src {
                let overlap = (hi.min(i as f64 + 1.0) - lo.max(i as f64)) / scale;
                if overlap > 0.0 {
                    w.push((i, overlap as f32));
                }
                i += 1;
            }
            w
        })
        .collect()
}

/// Area-average resize of a `w x h` plane to `ow x oh` (separable: columns, then rows); the
/// reference that [`View::resized_planes`] computes in one sweep.
#[cfg(test)]
pub(super) fn area_resize(src: &[f32], w: usize, h: usize, ow: usize, oh: usize) -> Vec<f32> {
    let wx = area_weights(w, ow);
    let mut across = vec![0f32; h * ow];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for (x, weights) in wx.iter().enumerate() {
            across[y * ow + x] = weights.iter().map(|&(i, a)| row[i] * a).sum();
        }
    }
    down(&across, h, ow, oh)
}

/// The second pass of an area resize: `h` rows of `ow` column sums combined into `oh` rows.
fn down(across: &[f32], h: usize, ow: usize, oh: usize) -> Vec<f32> {
    let mut out = vec![0f32; oh * ow];
    for (y, weights) in area_weights(h, oh).iter().enumerate() {
        for x in 0..ow {
            out[y * ow + x] = weights.iter().map(|&(i, a)| across[i * ow + x] * a).sum();
        }
    }
    out
}
