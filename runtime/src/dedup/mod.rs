//! Near-duplicate groups: codes linked by pairs within distance `r`.
//!
//! Every pair within `r` is found by a radius query per code (through multi-index hashing
//! when its tables are cheaper than a scan, which is the case for small `r`; otherwise each
//! code is compared only with later ones, with the vectorised block kernel), optionally
//! confirmed by the caller, and the linked pairs make groups by a [`Linkage`]: chains
//! (union-find, `sets.rs`) or groups whose every two members are linked (`complete.rs`).
//! Callers confirm candidates on the images: by their pixels (`pixels.rs`), or by whether a
//! plain picture meets one of its colour (`glance.rs`).
//!
//! ```
//! use imsat_runtime::code::Codes;
//! use imsat_runtime::dedup::{Linkage, dedup, dedup_confirmed, dedup_soft};
//! use imsat_runtime::soft_code::{SoftCheck, SoftCodes};
//!
//! let codes = Codes::from_words(8, vec![0b0000_0011, 0b0000_0001, 0b1111_0000, 0b0000_0111])?;
//! // Rows linked by chains of distance <= 1: 0-1 and 0-3 (row 2 has no neighbour: left out).
//! assert_eq!(dedup(&codes, 1)?, vec![vec![0, 1, 3]]);
//! // Complete linkage: every two members within 1; rows 1 and 3 are 2 apart.
//! assert_eq!(dedup_confirmed(&codes, 1, Linkage::Complete, |_, _| true)?, vec![vec![0, 1]]);
//! // The caller's own check on the images (their pixels, say) refuses the pair (0, 1).
//! let groups = dedup_confirmed(&codes, 1, Linkage::Single, |i, j| (i, j) != (0, 1))?;
//! assert_eq!(groups, vec![vec![0, 3]]);
//!
//! // A photo model's soft check, on codes and soft codes of the same logits: row 1 barely
//! // sets the bit that rows 0 and 2 are sure of, so only rows 0 and 1 stay linked.
//! let logits = [4.0, 4.0, -4.0, -4.0, 4.0, 0.1, -4.0, -4.0, 4.0, -4.0, -4.0, -4.0];
//! let (codes, soft) = (Codes::from_logits(4, &logits)?, SoftCodes::from_logits(4, &logits)?);
//! assert_eq!(dedup(&codes, 1)?, vec![vec![0, 1, 2]]);
//! let check = SoftCheck { radius: 1, max_distance: 0.9 };
//! assert_eq!(dedup_soft(&codes, &soft, check, Linkage::Single)?, vec![vec![0, 1]]);
//! # Ok::<(), imsat_runtime::error::Error>(())
//! ```

mod complete;
mod glance;
mod pixels;
mod sets;

use alloc::vec::Vec;

use crate::code::Codes;
use crate::error::{Error, Result};
use crate::mih::{Mih, Probe};
use crate::search;
use crate::soft_code::{SoftCheck, SoftCodes};

pub use glance::{
    COLOUR_LEVELS, DETAIL_VARIANCE, Flatness, Glance, PLAIN_BAND, PLAIN_GRID, PLAIN_NOISE,
    PLAIN_VARIANCE, glance, plain_pair,
};
pub use pixels::images_similar;
use sets::Sets;

/// How linked pairs make groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Linkage {
    /// Rows joined by any chain of linked pairs are one group (the connected components).
    /// A copy of a copy joins its original, but so can two different images through a chain
    /// of look-alikes, however far apart their own codes are.
    Single,
    /// Every two rows of a group are linked: a group's codes are all within `r` of each
    /// other, so no chain joins different images. The pairs are taken closest first (by
    /// distance, then rows) and two groups merge only when every pair across them is linked.
    /// It holds the linked pairs in memory (12 bytes each, 8 more in the neighbour lists),
    /// where single linkage merges them as they are found.
    Complete,
}

impl Linkage {
    /// Both linkages.
    pub const ALL: [Linkage; 2] = [Linkage::Single, Linkage::Complete];

    /// `single` or `complete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Linkage::Single => "single",
            Linkage::Complete => "complete",
        }
    }

    /// The linkage called `name` ([`Linkage::as_str`]).
    pub fn from_name(name: &str) -> Option<Linkage> {
        Linkage::ALL.into_iter().find(|l| l.as_str() == name)
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
    dedup_with(codes, r, PairSearch::Auto, Linkage::Single, &mut |_, _| {
        true
    })
}

/// Like [`dedup`], but a pair of rows within `r` is linked only if `confirm(i, j)` agrees,
/// and the linked pairs make groups by `linkage`: the codes find the candidates fast, and
/// the caller checks them on the original data. Semantic codes (IMSAT hashes) give similar
/// images of one class the same code, so a check on the images themselves is what tells a
/// copy from a look-alike.
pub fn dedup_confirmed(
    codes: &Codes,
    r: u32,
    linkage: Linkage,
    mut confirm: impl FnMut(usize, usize) -> bool,
) -> Result<Vec<Vec<u64>>> {
    dedup_with(codes, r, PairSearch::Auto, linkage, &mut confirm)
}

/// Like [`dedup_confirmed`] with a photo model's [`SoftCheck`]: the pairs within
/// `check.radius` are linked when their soft codes (`soft`, one per code) are within
/// `check.max_distance`.
pub fn dedup_soft(
    codes: &Codes,
    soft: &SoftCodes,
    check: SoftCheck,
    linkage: Linkage,
) -> Result<Vec<Vec<u64>>> {
    dedup_soft_confirmed(codes, soft, check, linkage, |_, _| true)
}

/// Like [`dedup_soft`], but a pair that passes the soft check is linked only if
/// `confirm(i, j)` agrees too (the caller's own check on the images).
pub fn dedup_soft_confirmed(
    codes: &Codes,
    soft: &SoftCodes,
    check: SoftCheck,
    linkage: Linkage,
    mut confirm: impl FnMut(usize, usize) -> bool,
) -> Result<Vec<Vec<u64>>> {
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
    dedup_confirmed(codes, check.radius, linkage, |i, j| {
        check.confirms(soft, i, j) && confirm(i, j)
    })
}

pub(crate) fn dedup_with(
    codes: &Codes,
    r: u32,
    how: PairSearch,
    linkage: Linkage,
    confirm: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Vec<Vec<u64>>> {
    let n = codes.len();
    if n > u32::MAX as usize {
        return Err(crate::error::Error::TooManyCodes(n));
    }
    let group_of: Vec<u32> = match linkage {
        Linkage::Single => {
            let mut sets = Sets::new(n);
            for_each_pair(codes, r, how, &mut |i, j, _| {
                if confirm(i, j) {
                    sets.union(i as u32, j as u32);
                }
            })?;
            (0..n as u32).map(|row| sets.find(row)).collect()
        }
        Linkage::Complete => {
            let mut pairs = Vec::new();
            for_each_pair(codes, r, how, &mut |i, j, d| {
                if confirm(i, j) {
                    pairs.push((d, i as u32, j as u32));
                }
            })?;
            complete::groups(n, pairs)
        }
    };
    Ok(numbered(&group_of))
}

/// `f(i, j, distance)` for every pair of rows `i < j` within `r` (in no particular order).
fn for_each_pair(
    codes: &Codes,
    r: u32,
    how: PairSearch,
    f: &mut dyn FnMut(usize, usize, u32),
) -> Result<()> {
    let n = codes.len();
    let wpc = codes.words_per_code();
    let mih = match how {
        PairSearch::AllPairs => None,
        PairSearch::MultiIndex => Some(Mih::new(codes)?),
        // Tables cost about a scan of the codes to build; they pay when a query through
        // them is much cheaper than a scan, which needs more than a few hundred codes.
        PairSearch::Auto if n >= 1024 && Mih::worth_building(codes.bits(), n) => {
            let mih = Mih::new(codes)?;
            mih.is_cheaper_than_scan(r).then_some(mih)
        }
        PairSearch::Auto => None,
    };
    match mih {
        Some(mih) => {
            for (i, code) in codes.iter().enumerate() {
                mih.within_tables(code, r, Probe::Auto, |j, d| {
                    if j > i {
                        f(i, j, d);
                    }
                });
            }
        }
        None => {
            let words = codes.as_words();
            for (i, code) in codes.iter().enumerate() {
                let later = &words[(i + 1) * wpc..];
                search::scan_within(later, code, r, i + 1, |j, d| f(i, j, d));
            }
        }
    }
    Ok(())
}

/// The groups of two or more rows from each row's group label: rows ascending in a group,
/// groups in order of their first row.
fn numbered(group_of: &[u32]) -> Vec<Vec<u64>> {
    let n = group_of.len();
    let mut size = alloc::vec![0u32; n];
    for &g in group_of {
        size[g as usize] += 1;
    }
    let mut number = alloc::vec![u32::MAX; n];
    let mut groups: Vec<Vec<u64>> = Vec::new();
    for (row, &g) in group_of.iter().enumerate() {
        if size[g as usize] < 2 {
            continue;
        }
        let k = &mut number[g as usize];
        if *k == u32::MAX {
            *k = groups.len() as u32;
            groups.push(Vec::with_capacity(size[g as usize] as usize));
        }
        groups[*k as usize].push(row as u64);
    }
    groups
}

#[cfg(test)]
mod tests;
