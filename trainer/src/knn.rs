//! Nearest-neighbour distances, for VAT's per-sample radius and the neighbour SAT term.
//!
//! Squared distances come from a blocked matrix product `||a||^2 + ||b||^2 - 2 a.b`
//! (multithreaded sgemm), never from a per-pair loop.

use indicatif::ProgressBar;

/// The `k` nearest neighbours of every point (itself excluded), nearest first.
#[derive(Debug, Clone)]
pub struct Neighbours {
    pub k: usize,
    /// `ids[i*k..(i+1)*k]`: the neighbours of point i.
    pub ids: Vec<u32>,
    /// Matching Euclidean distances.
    pub distances: Vec<f32>,
}

impl Neighbours {
    /// Distance from point i to its k-th nearest neighbour.
    pub fn kth_distance(&self, i: usize) -> f32 {
        self.distances[i * self.k + self.k - 1]
    }

    pub fn of(&self, i: usize) -> &[u32] {
        &self.ids[i * self.k..(i + 1) * self.k]
    }
}

/// Rows per block of the distance matrix: 1024 x n floats at a time.
const BLOCK: usize = 1024;

/// Exact k nearest neighbours of each of the `n` rows of `x` (`n x d`, row-major).
///
/// # Panics
/// If `d` is 0 or `x` is not `n` rows of `d` (the trainer checks its data before).
pub fn nearest_neighbours(
    x: &[f32],
    n: usize,
    d: usize,
    k: usize,
    progress: &ProgressBar,
) -> Neighbours {
    assert!(d > 0 && x.len() == n * d, "x must be n x d, d at least 1");
    let k = k.min(n.saturating_sub(1));
    let norms: Vec<f32> = x
        .chunks_exact(d)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect();
    let mut ids = vec![0u32; n * k];
    let mut distances = vec![0f32; n * k];
    let mut dots = vec![0f32; BLOCK * n];
    progress.set_length(n as u64);
    for start in (0..n).step_by(BLOCK) {
        let rows = BLOCK.min(n - start);
        // dots[r, j] = x[start + r] . x[j]
        unsafe {
            matrixmultiply::sgemm(
                rows,
                d,
                n,
                1.0,
                x[start * d..].as_ptr(),
                d as isize,
                1,
                x.as_ptr(),
                1,
                d as isize,
                0.0,
                dots.as_mut_ptr(),
                n as isize,
                1,
            );
        }
        for r in 0..rows {
            let i = start + r;
            let row = &dots[r * n..(r + 1) * n];
            // Bounded insertion keeps the k best (distance, id) pairs: one pass, no allocation.
            let best_d = &mut distances[i * k..(i + 1) * k];
            let best_i = &mut ids[i * k..(i + 1) * k];
            best_d.fill(f32::INFINITY);
            best_i.fill(u32::MAX);
            for (j, (&dot, &nj)) in row.iter().zip(&norms).enumerate() {
                let d2 = (norms[i] + nj - 2.0 * dot).max(0.0);
                if j == i || k == 0 || d2 >= best_d[k - 1] {
                    continue;
                }
                let mut slot = k - 1;
                while slot > 0 && best_d[slot - 1] > d2 {
                    best_d[slot] = best_d[slot - 1];
                    best_i[slot] = best_i[slot - 1];
                    slot -= 1;
                }
                best_d[slot] = d2;
                best_i[slot] = j as u32;
            }
            best_d.iter_mut().for_each(|v| *v = v.sqrt());
        }
        progress.inc(rows as u64);
    }
    progress.finish_and_clear();
    Neighbours { k, ids, distances }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distances, ids, `of` and `kth_distance` against brute force for every point (1,500
    /// points: two blocks of rows), and `k` cut to the `n - 1` other points there are.
    #[test]
    fn matches_brute_force_on_random_points() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (n, d, k) = (1500, 13, 5);
        let x: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let dist = |i: usize, j: usize| -> f32 {
            let s: f32 = (0..d).map(|c| (x[i * d + c] - x[j * d + c]).powi(2)).sum();
            s.sqrt()
        };
        let nn = nearest_neighbours(&x, n, d, k, &ProgressBar::hidden());
        assert_eq!((nn.k, nn.ids.len(), nn.distances.len()), (k, n * k, n * k));
        for i in 0..n {
            let mut all: Vec<f32> = (0..n).filter(|&j| j != i).map(|j| dist(i, j)).collect();
            all.sort_by(f32::total_cmp);
            let ids = nn.of(i);
            assert_eq!(ids, &nn.ids[i * k..(i + 1) * k]);
            for (s, want) in all.iter().take(k).enumerate() {
                let j = ids[s] as usize;
                assert!(j != i && j < n, "point {i} slot {s}: id {j}");
                // The id's own distance, not only the stored one, is the s-th smallest.
                assert!((dist(i, j) - want).abs() < 1e-3, "point {i} slot {s}");
                assert!(
                    (nn.distances[i * k + s] - want).abs() < 1e-3,
                    "point {i} slot {s}"
                );
            }
            assert_eq!(nn.kth_distance(i), nn.distances[i * k + k - 1]);
        }
        // Three points, k = 5: each keeps its two others, nearest first.
        let line = [0.0, 1.0, 3.0];
        let nn = nearest_neighbours(&line, 3, 1, 5, &ProgressBar::hidden());
        assert_eq!((nn.k, nn.ids.as_slice()), (2, &[1, 2, 0, 2, 1, 0][..]));
        assert_eq!(nn.distances, [1.0, 3.0, 1.0, 2.0, 2.0, 3.0]);
        assert_eq!((nn.kth_distance(0), nn.kth_distance(1)), (3.0, 2.0));
    }
}
