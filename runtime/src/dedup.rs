//! Near-duplicate groups: codes linked by chains of distance <= r.
//!
//! Every pair within `r` is found by a radius query per code (through multi-index hashing
//! when its tables are cheaper than a scan, which is the case for small `r`), and the pairs
//! are merged with union-find. The all-pairs fallback still halves the work by comparing
//! each code only with later ones, using the vectorised block kernel.

use alloc::vec::Vec;

use crate::code::Codes;
use crate::error::{Error, Result};
use crate::mih::{Mih, Probe};
use crate::search;
use crate::soft_code::{SoftCheck, SoftCodes};

/// Union-find over rows with path halving and union by size.
struct Sets {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl Sets {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
            size: alloc::vec![1; n],
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) {
        let (a, b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        let (big, small) = if self.size[a as usize] >= self.size[b as usize] {
            (a, b)
        } else {
            (b, a)
        };
        self.parent[small as usize] = big;
        self.size[big as usize] += self.size[small as usize];
    }
}

/// How to find the pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))] // the forced variants are for tests
pub(crate) enum PairSearch {
    Auto,
    AllPairs,
    MultiIndex,
}

/// Groups of rows whose codes are linked by chains of distance <= `r` (single linkage).
/// Each group lists its rows ascending, groups are ordered by their first row, and codes
/// with no neighbour within `r` are left out.
pub fn dedup(codes: &Codes, r: u32) -> Result<Vec<Vec<u64>>> {
    dedup_with(codes, r, PairSearch::Auto, &mut |_, _| true)
}

/// Like [`dedup`], but a pair of rows within `r` is linked only if `confirm(i, j)` agrees:
/// the codes find the candidates fast, and the caller checks them on the original data.
/// Semantic codes (IMSAT hashes) give similar images of one class the same code, so a check
/// on the images themselves is what tells a copy from a look-alike.
pub fn dedup_confirmed(
    codes: &Codes,
    r: u32,
    mut confirm: impl FnMut(usize, usize) -> bool,
) -> Result<Vec<Vec<u64>>> {
    dedup_with(codes, r, PairSearch::Auto, &mut confirm)
}

/// Like [`dedup`] with a photo model's [`SoftCheck`]: the pairs within `check.radius` are
/// linked when their soft codes (`soft`, one per code) are within `check.max_distance`.
pub fn dedup_soft(codes: &Codes, soft: &SoftCodes, check: SoftCheck) -> Result<Vec<Vec<u64>>> {
    if soft.len() != codes.len() {
        return Err(Error::SoftCount {
            soft: soft.len(),
            codes: codes.len(),
        });
    }
    if soft.bits() != codes.bits() {
        return Err(Error::BitsMismatch {
            expected: codes.bits(),
            got: soft.bits(),
        });
    }
    dedup_confirmed(codes, check.radius, |i, j| check.confirms(soft, i, j))
}

pub(crate) fn dedup_with(
    codes: &Codes,
    r: u32,
    how: PairSearch,
    confirm: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Vec<Vec<u64>>> {
    let n = codes.len();
    if n > u32::MAX as usize {
        return Err(crate::error::Error::TooManyCodes(n));
    }
    let mut sets = Sets::new(n);
    let wpc = codes.words_per_code();
    let mih = match how {
        PairSearch::AllPairs => None,
        PairSearch::MultiIndex => Some(Mih::new(codes)?),
        // Tables cost about a scan of the codes to build; they pay when a query through
        // them is much cheaper than a scan, which needs more than a few hundred codes.
        PairSearch::Auto if n >= 1024 => {
            let mih = Mih::new(codes)?;
            mih.is_cheaper_than_scan(r).then_some(mih)
        }
        PairSearch::Auto => None,
    };
    match mih {
        Some(mih) => {
            for (i, code) in codes.iter().enumerate() {
                mih.within_tables(code, r, Probe::Auto, |j, _| {
                    if j > i && confirm(i, j) {
                        sets.union(i as u32, j as u32);
                    }
                });
            }
        }
        None => {
            let words = codes.as_words();
            for (i, code) in codes.iter().enumerate() {
                let later = &words[(i + 1) * wpc..];
                search::scan_within(later, code, r, i + 1, |j, _| {
                    if confirm(i, j) {
                        sets.union(i as u32, j as u32);
                    }
                });
            }
        }
    }
    // Number the groups in order of their first row.
    let mut group_of_root = alloc::vec![u32::MAX; n];
    let mut groups: Vec<Vec<u64>> = Vec::new();
    for row in 0..n as u32 {
        let root = sets.find(row);
        if sets.size[root as usize] < 2 {
            continue;
        }
        let g = &mut group_of_root[root as usize];
        if *g == u32::MAX {
            *g = groups.len() as u32;
            groups.push(Vec::with_capacity(sets.size[root as usize] as usize));
        }
        groups[*g as usize].push(u64::from(row));
    }
    Ok(groups)
}

/// Whether two grey images (`rows x cols`, row-major u8) look like copies: their Pearson
/// correlation, at the best shift of -1..=1 pixel, reaches `min_correlation`. The confirmation
/// step for [`dedup_confirmed`] on images (shifted, slightly rotated, noisy or re-encoded copies
/// pass at 0.95; two different handwritten digits of one class rarely do).
pub fn images_similar(a: &[u8], b: &[u8], rows: usize, cols: usize, min_correlation: f32) -> bool {
    if a.len() != rows * cols || b.len() != rows * cols || rows < 3 || cols < 3 {
        return false;
    }
    for dy in 0..3usize {
        for dx in 0..3usize {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0f64, 0f64, 0f64, 0f64, 0f64);
            for r in 1..rows - 1 {
                let ra = &a[r * cols + 1..(r + 1) * cols - 1];
                let o = (r + dy - 1) * cols + dx;
                let rb = &b[o..o + cols - 2];
                for (&x, &y) in ra.iter().zip(rb) {
                    let (x, y) = (f64::from(x), f64::from(y));
                    sa += x;
                    sb += y;
                    saa += x * x;
                    sbb += y * y;
                    sab += x * y;
                }
            }
            let n = ((rows - 2) * (cols - 2)) as f64;
            let cov = sab - sa * sb / n;
            let var = (saa - sa * sa / n) * (sbb - sb * sb / n);
            let t = f64::from(min_correlation);
            // corr = cov / sqrt(var) >= t, without a square root (not in `core`).
            let ok = if t <= 0.0 {
                var <= 0.0 || cov >= 0.0 || cov * cov <= t * t * var
            } else {
                var > 0.0 && cov > 0.0 && cov * cov >= t * t * var
            };
            if ok {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    #[test]
    fn images_similar_accepts_shifted_copies_and_rejects_others() {
        let (rows, cols) = (8, 8);
        let mut a = vec![0u8; 64];
        for r in 2..6 {
            a[r * cols + 3] = 255;
        }
        a[2 * cols + 4] = 200;
        let shifted: Vec<u8> = (0..64)
            .map(|p| if p % cols == 0 { 0 } else { a[p - 1] })
            .collect();
        assert!(images_similar(&a, &a, rows, cols, 0.99));
        assert!(images_similar(&a, &shifted, rows, cols, 0.95));
        let mut other = vec![0u8; 64];
        for c in 1..7 {
            other[4 * cols + c] = 255;
        }
        assert!(!images_similar(&a, &other, rows, cols, 0.5));
        assert!(
            !images_similar(&a, &other[..10], rows, cols, 0.5),
            "wrong size is no match"
        );
    }

    /// The soft check keeps the candidates whose confidences agree: images 0 and 1 differ in
    /// one bit neither is sure of, 0 and 2 in one bit both are sure of; 3 is far from all.
    #[test]
    fn soft_check_confirms_only_close_confidences() {
        let logits = [
            [6.0, 6.0, 0.1, -6.0],
            [6.0, 6.0, -0.1, -6.0],
            [-6.0, 6.0, 0.1, -6.0],
            [-6.0, -6.0, -6.0, 6.0],
        ]
        .concat();
        let codes = Codes::from_logits(4, &logits).unwrap();
        let soft = SoftCodes::from_logits(4, &logits).unwrap();
        let check = SoftCheck {
            radius: 1,
            max_distance: 0.5,
        };
        assert_eq!(dedup(&codes, 1).unwrap(), vec![vec![0, 1, 2]]);
        assert_eq!(dedup_soft(&codes, &soft, check).unwrap(), vec![vec![0, 1]]);
        let three = SoftCodes::from_logits(4, &logits[..12]).unwrap();
        assert_eq!(
            dedup_soft(&codes, &three, check),
            Err(Error::SoftCount { soft: 3, codes: 4 })
        );
        let wide = SoftCodes::from_logits(2, &logits[..8]).unwrap();
        assert!(matches!(
            dedup_soft(&codes, &wide, check),
            Err(Error::BitsMismatch { .. })
        ));
    }

    #[test]
    fn chains_link() {
        let codes =
            Codes::from_words(8, vec![0b0000, 0b0001, 0b0011, 0b1111_0000, 0b0111]).unwrap();
        assert_eq!(dedup(&codes, 1).unwrap(), vec![vec![0, 1, 2, 4]]);
        assert_eq!(dedup(&codes, 0).unwrap(), Vec::<Vec<u64>>::new());
        assert_eq!(dedup(&codes, 8).unwrap(), vec![vec![0, 1, 2, 3, 4]]);
    }

    proptest! {
        #[test]
        fn dedup_matches_brute_force(
            bits in 1usize..=130,
            raw in proptest::collection::vec(prop_oneof![any::<u64>(), 0u64..8], 0..180),
            r in 0u32..6,
        ) {
            let wpc = bits.div_ceil(64);
            let mask = if bits.is_multiple_of(64) { u64::MAX } else { (1u64 << (bits % 64)) - 1 };
            let mut words = raw;
            words.truncate(words.len() / wpc * wpc);
            for c in words.chunks_exact_mut(wpc) {
                c[wpc - 1] &= mask;
            }
            let codes = Codes::from_words(bits, words).unwrap();
            let expect = crate::reference::groups(&codes, r);
            for pairs in [PairSearch::Auto, PairSearch::AllPairs, PairSearch::MultiIndex] {
                prop_assert_eq!(&dedup_with(&codes, r, pairs, &mut |_, _| true).unwrap(), &expect);
            }
            // A confirmation that rejects every pair involving row 0 keeps row 0 alone.
            for pairs in [PairSearch::Auto, PairSearch::AllPairs, PairSearch::MultiIndex] {
                let got = dedup_with(&codes, r, pairs, &mut |i, j| i != 0 && j != 0).unwrap();
                prop_assert!(got.iter().all(|g| !g.contains(&0)));
            }
        }
    }
}
