//! A searchable index (ids + codes): the type here, its versioned byte form in
//! `index/format.rs` (layout, checks, `to_bytes`/`from_bytes`), and with `std` its
//! files in `file` (atomic writes, streaming reads, append).
//!
//! Rows are kept sorted by id (ties in search go to the lower row, so also to the lower
//! id).

#[cfg(feature = "std")]
mod file;
mod format;

use alloc::vec::Vec;

use crate::code::Codes;
use crate::error::{Error, Result};
use crate::mih::Mih;
use crate::search::{self, Neighbor};

#[cfg(feature = "std")]
pub use file::{FileError, append};
pub(crate) use format::check_file;
pub use format::{FormatError, HEADER_LEN, MAGIC, TRAILER_LEN, VERSION};

/// Ids and codes, rows sorted by id. Ids `0..n` in order are not stored at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// Empty when the ids are the rows (`0..n`).
    ids: Vec<u64>,
    codes: Codes,
}

impl Index {
    /// An index whose ids are the rows `0..codes.len()`.
    pub fn from_codes(codes: Codes) -> Self {
        Self {
            ids: Vec::new(),
            codes,
        }
    }

    /// An index of `codes` under `ids` (one per code, all different). Rows are reordered
    /// by id if needed.
    pub fn new(ids: Vec<u64>, codes: Codes) -> Result<Self> {
        if ids.len() != codes.len() {
            return Err(Error::IdCount {
                ids: ids.len(),
                codes: codes.len(),
            });
        }
        if ids.windows(2).all(|w| w[0] < w[1]) {
            return Ok(Self::compact(ids, codes));
        }
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_unstable_by_key(|&i| ids[i]);
        if let Some(w) = order.windows(2).find(|w| ids[w[0]] == ids[w[1]]) {
            return Err(Error::DuplicateId(ids[w[0]]));
        }
        let wpc = codes.words_per_code();
        let mut words = Vec::with_capacity(codes.as_words().len());
        for &i in &order {
            words.extend_from_slice(&codes.as_words()[i * wpc..(i + 1) * wpc]);
        }
        let sorted_ids = order.iter().map(|&i| ids[i]).collect();
        let codes = Codes::from_words(codes.bits(), words)?;
        Ok(Self::compact(sorted_ids, codes))
    }

    /// Drops ids that are just the rows.
    fn compact(ids: Vec<u64>, codes: Codes) -> Self {
        let rows = ids.iter().enumerate().all(|(i, &id)| id == i as u64);
        Self {
            ids: if rows { Vec::new() } else { ids },
            codes,
        }
    }

    /// The codes, in row order.
    pub fn codes(&self) -> &Codes {
        &self.codes
    }

    /// Code width in bits.
    pub fn bits(&self) -> usize {
        self.codes.bits()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The id of `row`.
    pub fn id(&self, row: usize) -> Option<u64> {
        if row >= self.len() {
            None
        } else if self.ids.is_empty() {
            Some(row as u64)
        } else {
            Some(self.ids[row])
        }
    }

    /// All ids, ascending.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len()).map(|row| self.ids.get(row).copied().unwrap_or(row as u64))
    }

    /// The row holding `id`.
    pub fn row_of(&self, id: u64) -> Option<usize> {
        if self.ids.is_empty() {
            usize::try_from(id).ok().filter(|&r| r < self.len())
        } else {
            self.ids.binary_search(&id).ok()
        }
    }

    /// The code of `id`.
    pub fn code_of(&self, id: u64) -> Option<&[u64]> {
        self.row_of(id).and_then(|r| self.codes.get(r))
    }

    /// Adds entries; ids must be new and the width equal.
    pub fn extend(&mut self, ids: &[u64], codes: &Codes) -> Result<()> {
        if codes.bits() != self.bits() {
            return Err(Error::BitsMismatch {
                expected: self.bits(),
                got: codes.bits(),
            });
        }
        if ids.len() != codes.len() {
            return Err(Error::IdCount {
                ids: ids.len(),
                codes: codes.len(),
            });
        }
        let mut all_ids: Vec<u64> = Vec::with_capacity(self.len() + ids.len());
        all_ids.extend(self.ids());
        all_ids.extend_from_slice(ids);
        let mut all_codes = Codes::with_capacity(self.bits(), self.len() + codes.len())?;
        all_codes.append(&self.codes)?;
        all_codes.append(codes)?;
        *self = Self::new(all_ids, all_codes)?;
        Ok(())
    }

    /// Removes the entries of `ids` (ids the index does not hold, and repeats, are passed
    /// over) and returns the rows they held, ascending, numbered as before the removal: a
    /// caller keeping data beside each row (file names, soft codes) drops the same rows.
    /// The other entries keep their ids and order.
    pub fn remove(&mut self, ids: &[u64]) -> Vec<usize> {
        let mut rows: Vec<usize> = ids.iter().filter_map(|&id| self.row_of(id)).collect();
        rows.sort_unstable();
        rows.dedup();
        if rows.is_empty() {
            return rows;
        }
        let wpc = self.codes.words_per_code();
        let kept = self.len() - rows.len();
        let mut words = Vec::with_capacity(kept * wpc);
        let mut kept_ids = Vec::with_capacity(kept);
        let mut gone = rows.iter().peekable();
        for (row, code) in self.codes.iter().enumerate() {
            if gone.next_if_eq(&&row).is_some() {
                continue;
            }
            words.extend_from_slice(code);
            kept_ids.push(self.id(row).unwrap_or(row as u64));
        }
        let codes =
            Codes::from_words(self.bits(), words).expect("whole codes of the index's own width");
        *self = Self::compact(kept_ids, codes);
        rows
    }

    /// Replaces rows by ids in search results (order is kept: ids ascend with rows). Not
    /// public: applied twice, or to another index's rows, it would give other ids silently.
    fn resolve(&self, neighbors: &mut [Neighbor]) {
        if self.ids.is_empty() {
            return;
        }
        for n in neighbors {
            if let Some(&id) = self.ids.get(n.id as usize) {
                n.id = id;
            }
        }
    }

    /// The `k` nearest entries by linear scan, as ids.
    pub fn knn(&self, query: &[u64], k: usize) -> Result<Vec<Neighbor>> {
        let mut out = search::knn(&self.codes, query, k)?;
        self.resolve(&mut out);
        Ok(out)
    }

    /// The `k` nearest entries for each query, as ids; queries share each pass over the
    /// codes (see [`search::knn_batch`]), the fastest way to answer many queries.
    pub fn knn_batch(&self, queries: &Codes, k: usize) -> Result<Vec<Vec<Neighbor>>> {
        let mut out = search::knn_batch(&self.codes, queries, k)?;
        for list in &mut out {
            self.resolve(list);
        }
        Ok(out)
    }

    /// Every entry within `r`, as ids, by linear scan.
    pub fn radius(&self, query: &[u64], r: u32) -> Result<Vec<Neighbor>> {
        let mut out = search::radius(&self.codes, query, r)?;
        self.resolve(&mut out);
        Ok(out)
    }

    /// A multi-index over the codes, to search through [`Index::mih_knn`] and
    /// [`Index::mih_radius`] (its own `knn` and `radius` answer rows, not ids).
    pub fn mih(&self) -> Result<Mih<'_>> {
        Mih::new(&self.codes)
    }

    /// The `k` nearest entries by the multi-index `mih` built over this index
    /// ([`Index::mih`]), as ids: the same answer as [`Index::knn`].
    pub fn mih_knn(&self, mih: &Mih<'_>, query: &[u64], k: usize) -> Result<Vec<Neighbor>> {
        self.check_own(mih)?;
        let mut out = mih.knn(query, k)?;
        self.resolve(&mut out);
        Ok(out)
    }

    /// Every entry within `r` by the multi-index `mih` built over this index
    /// ([`Index::mih`]), as ids: the same answer as [`Index::radius`].
    pub fn mih_radius(&self, mih: &Mih<'_>, query: &[u64], r: u32) -> Result<Vec<Neighbor>> {
        self.check_own(mih)?;
        let mut out = mih.radius(query, r)?;
        self.resolve(&mut out);
        Ok(out)
    }

    /// Whether `mih` indexes this index's codes (the same `Codes`, not an equal copy: a
    /// copy could change with the index).
    fn check_own(&self, mih: &Mih<'_>) -> Result<()> {
        if core::ptr::eq(mih.codes(), &self.codes) {
            Ok(())
        } else {
            Err(Error::ForeignMih)
        }
    }

    /// Near-duplicate groups (see [`crate::dedup::dedup`]), as ids.
    pub fn dedup(&self, r: u32) -> Result<Vec<Vec<u64>>> {
        let mut groups = crate::dedup::dedup(&self.codes, r)?;
        if !self.ids.is_empty() {
            for id in groups.iter_mut().flatten() {
                *id = self.ids[*id as usize];
            }
        }
        Ok(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// Removal drops the entries named (ids the index lacks passed over), keeps the others'
    /// ids and codes, and says which rows went; ids `0..n` left whole stay implicit.
    #[test]
    fn removing_ids_keeps_the_other_entries_and_names_the_rows() {
        let words: Vec<u64> = (0..6u64).map(|i| 0x100 + i).collect();
        let mut index = Index::from_codes(Codes::from_words(16, words.clone()).unwrap());
        assert_eq!(index.remove(&[9, 4, 1, 4]), vec![1, 4]);
        let want = Index::new(
            vec![0, 2, 3, 5],
            Codes::from_words(16, vec![0x100, 0x102, 0x103, 0x105]).unwrap(),
        )
        .unwrap();
        assert_eq!(index, want);
        assert_eq!(index.code_of(5), Some(&[0x105][..]));
        assert_eq!(index.row_of(4), None);
        assert_eq!(index.remove(&[4, 77]), Vec::<usize>::new());
        assert_eq!(index, want);
        // The last rows of 0..n: what is left is 0..n-2, stored without ids.
        let mut index = Index::from_codes(Codes::from_words(16, words).unwrap());
        assert_eq!(index.remove(&[5, 4]), vec![4, 5]);
        assert!(index.ids.is_empty());
        assert_eq!(index.remove(&[0, 1, 2, 3]), vec![0, 1, 2, 3]);
        assert!(index.is_empty());
        assert_eq!(index.bits(), 16);
    }

    /// Multi-index answers come back as ids, as the scans' do, and only from a multi-index
    /// over this index: rows of another (or ids mapped twice) were other ids, silently.
    #[test]
    fn multi_index_answers_are_ids_of_this_index_only() {
        let words: Vec<u64> = (0..40u64).map(|i| i * 0x9E37_79B9 % 65_536).collect();
        let index = Index::new(
            (0..40).map(|i| 1000 + 7 * i).collect(),
            Codes::from_words(16, words.clone()).unwrap(),
        )
        .unwrap();
        let mih = Mih::with_substrings(index.codes(), 2).unwrap();
        let q = [words[5] ^ 0b11];
        assert_eq!(
            index.mih_knn(&mih, &q, 4).unwrap(),
            index.knn(&q, 4).unwrap()
        );
        assert_eq!(
            index.mih_radius(&mih, &q, 5).unwrap(),
            index.radius(&q, 5).unwrap()
        );
        assert_eq!(index.knn(&q, 1).unwrap()[0].id, 1035);
        let other = Codes::from_words(16, words).unwrap();
        let foreign = Mih::new(&other).unwrap();
        assert_eq!(index.mih_knn(&foreign, &q, 4), Err(Error::ForeignMih));
        assert_eq!(index.mih_radius(&foreign, &q, 1), Err(Error::ForeignMih));
    }
}
