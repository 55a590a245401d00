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
