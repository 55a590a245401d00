//! Flat patches: the 4-connected pieces of pixels whose neighbourhood is flat, the seeds
//! the colour pass grows boxes from.

use alloc::vec;
use alloc::vec::Vec;

/// The flat patches: 4-connected components of the flat pixels, each with its pixel count,
/// colour sum and bounds `(x0, y0, x1, y1)` (inclusive).
pub(super) struct Patches {
    pub(super) label: Vec<u32>,
    pub(super) size: Vec<usize>,
    pub(super) sum: Vec<[u64; 3]>,
    pub(super) bounds: Vec<(usize, usize, usize, usize)>,
}

impl Patches {
    /// The runs of flat pixels of each row, joined (union-find) to the runs of the row above
    /// that they touch; the patches numbered in the order their first pixel comes.
    pub(super) fn label(flat: &[bool], planes: &[Vec<u8>; 3], w: usize, h: usize) -> Patches {
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
