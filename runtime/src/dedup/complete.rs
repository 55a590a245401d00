//! Complete linkage over linked pairs: groups in which every two rows are linked.
//!
//! The pairs are taken closest first; two groups merge when every pair across them is
//! linked (looked up in each row's sorted neighbour list). Groups only grow, so a pair of
//! groups that failed to merge fails forever after under the same ids, and is remembered.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

/// Each row's group id (a row's own index while it is alone) after complete linkage of the
/// linked `pairs` `(distance, i, j)`, `i < j < n`, each pair once.
pub(super) fn groups(n: usize, mut pairs: Vec<(u32, u32, u32)>) -> Vec<u32> {
    pairs.sort_unstable();
    let neighbours = Neighbours::new(n, &pairs);
    let mut group_of: Vec<u32> = (0..n as u32).collect();
    let mut members: Vec<Vec<u32>> = (0..n as u32).map(|i| alloc::vec![i]).collect();
    let mut failed: BTreeSet<(u32, u32)> = BTreeSet::new();
    for &(_, i, j) in &pairs {
        let (a, b) = (group_of[i as usize], group_of[j as usize]);
        let key = (a.min(b), a.max(b));
        if a == b || failed.contains(&key) {
            continue;
        }
        let (ma, mb) = (&members[a as usize], &members[b as usize]);
        // A row of one group must be linked to the rest of it and all of the other.
        let needed = ma.len() + mb.len() - 1;
        let all_linked = ma
            .iter()
            .chain(mb)
            .all(|&r| neighbours.of(r).len() >= needed)
            && ma
                .iter()
                .all(|&r| mb.iter().all(|&s| neighbours.linked(r, s)));
        if !all_linked {
            failed.insert(key);
            continue;
        }
        let (big, small) = if ma.len() >= mb.len() { (a, b) } else { (b, a) };
        let moved = core::mem::take(&mut members[small as usize]);
        for &r in &moved {
            group_of[r as usize] = big;
        }
        members[big as usize].extend(moved);
    }
    group_of
}

/// Every row's linked rows, sorted (compressed rows).
struct Neighbours {
    start: Vec<usize>,
    rows: Vec<u32>,
}

impl Neighbours {
    fn new(n: usize, pairs: &[(u32, u32, u32)]) -> Self {
        let mut start = alloc::vec![0usize; n + 1];
        for &(_, i, j) in pairs {
            start[i as usize + 1] += 1;
            start[j as usize + 1] += 1;
        }
        for k in 0..n {
            start[k + 1] += start[k];
        }
        let mut next = start.clone();
        let mut rows = alloc::vec![0u32; start[n]];
        for &(_, i, j) in pairs {
            for (from, to) in [(i, j), (j, i)] {
                rows[next[from as usize]] = to;
                next[from as usize] += 1;
            }
        }
        for k in 0..n {
            rows[start[k]..start[k + 1]].sort_unstable();
        }
        Neighbours { start, rows }
    }

    fn of(&self, r: u32) -> &[u32] {
        &self.rows[self.start[r as usize]..self.start[r as usize + 1]]
    }

    fn linked(&self, r: u32, s: u32) -> bool {
        self.of(r).binary_search(&s).is_ok()
    }
}
