//! Brute-force definitions of the searches: every distance computed, sorted, filtered;
//! every pair compared for near-duplicate groups. Slow on purpose and obviously right,
//! they are what every test of the fast paths (scan, batched scan, multi-index hashing,
//! dedup, the index read in place, the CLI) compares against. Public so that an app can
//! check its own build the same way; not part of the stable API.

use alloc::vec::Vec;

use crate::code::Codes;
use crate::hamming::distance;
use crate::search::Neighbor;

/// Every row with its distance to `query`, sorted by `(distance, row)`.
pub fn by_distance(codes: &Codes, query: &[u64]) -> Vec<Neighbor> {
    let mut all: Vec<Neighbor> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| Neighbor {
            distance: distance(c, query),
            id: i as u64,
        })
        .collect();
    all.sort();
    all
}

/// The `k` nearest rows (ties to the lower row).
pub fn knn(codes: &Codes, query: &[u64], k: usize) -> Vec<Neighbor> {
    let mut all = by_distance(codes, query);
    all.truncate(k);
    all
}

/// Every row within `radius`, by `(distance, row)`.
pub fn radius(codes: &Codes, query: &[u64], radius: u32) -> Vec<Neighbor> {
    let mut all = by_distance(codes, query);
    all.retain(|n| n.distance <= radius);
    all
}

/// Near-duplicate groups at radius `r`: the connected components (of two or more rows) of
/// the graph with an edge between every two rows within `r`, by repeated relabelling over
/// all pairs; rows ascending in a group, groups by their first row.
pub fn groups(codes: &Codes, r: u32) -> Vec<Vec<u64>> {
    let n = codes.len();
    let mut label: Vec<usize> = (0..n).collect();
    loop {
        let mut changed = false;
        for (i, a) in codes.iter().enumerate() {
            for (j, b) in codes.iter().enumerate() {
                if label[j] < label[i] && distance(a, b) <= r {
                    label[i] = label[j];
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    (0..n)
        .map(|first| {
            (0..n)
                .filter(|&i| label[i] == first)
                .map(|i| i as u64)
                .collect::<Vec<_>>()
        })
        .filter(|g| g.len() > 1)
        .collect()
}

/// Near-duplicate groups of complete linkage at radius `r`: every pair within `r` taken by
/// `(distance, row, row)`, two groups merged when every pair across them is within `r`,
/// checked by recomputing every distance; the groups ordered as [`groups`] orders them.
pub fn complete_groups(codes: &Codes, r: u32) -> Vec<Vec<u64>> {
    let n = codes.len();
    let code = |i: usize| codes.get(i).unwrap_or_default();
    let mut pairs: Vec<(u32, usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .map(|(i, j)| (distance(code(i), code(j)), i, j))
        .filter(|&(d, _, _)| d <= r)
        .collect();
    pairs.sort();
    let mut label: Vec<usize> = (0..n).collect();
    for (_, i, j) in pairs {
        let (a, b) = (label[i], label[j]);
        if a == b {
            continue;
        }
        let all_within = (0..n).filter(|&x| label[x] == a).all(|x| {
            (0..n)
                .filter(|&y| label[y] == b)
                .all(|y| distance(code(x), code(y)) <= r)
        });
        if all_within {
            for l in label.iter_mut().filter(|l| **l == b) {
                *l = a;
            }
        }
    }
    let mut out: Vec<Vec<u64>> = Vec::new();
    for first in 0..n {
        if (0..first).any(|i| label[i] == label[first]) {
            continue;
        }
        let g: Vec<u64> = (0..n)
            .filter(|&i| label[i] == label[first])
            .map(|i| i as u64)
            .collect();
        if g.len() > 1 {
            out.push(g);
        }
    }
    out
}
