//! An index read in place: [`IndexView`] borrows the bytes of an index file (a flash region,
//! an `include_bytes!` into an aligned static, a memory map) and searches them without
//! copying the ids or the codes, so a board can search an index larger than its RAM.
//!
//! The file format keeps every section 8-byte aligned for this: on a little-endian target,
//! bytes that start on an 8-byte boundary hold the `u64` ids and code words as they are.
//! Opening checks everything [`Index::from_bytes`] checks (header, size, CRC, ascending ids,
//! padding bits) and allocates nothing; the answers are the owned [`Index`]'s.
//!
//! A `Vec<u8>` (from [`Index::to_bytes`] or `std::fs::read`) is not guaranteed to start on
//! an 8-byte boundary: a view of it may fail with [`FormatError::Unaligned`]. Read such bytes
//! with [`Index::from_bytes`] (it copies them), or put them where they are aligned: a static
//! as below, or a memory map (it starts on a page).
//!
//! ```
//! use imsat_runtime::prelude::*;
//!
//! /// Bytes on an 8-byte boundary. On a board, the index file in flash:
//! /// `static FILE: &Aligned<[u8]> = &Aligned(*include_bytes!("lib.idx"));`
//! #[repr(C, align(8))]
//! struct Aligned<T: ?Sized>(T);
//!
//! let codes = Codes::from_words(64, vec![0b1011, 0b1001, u64::MAX])?;
//! let index = Index::new(vec![7, 9, 12], codes)?;
//! let bytes = index.to_bytes(); // header 24, ids 3 x 8, codes 3 x 8, CRC 4: 76 bytes
//! let mut file = Aligned([0u8; 76]);
//! file.0.copy_from_slice(&bytes);
//! let file: &Aligned<[u8]> = &file;
//!
//! let view = IndexView::from_bytes(&file.0)?;
//! let mut top = [Neighbor::default(); 2];
//! let n = view.knn_into(&[0b1011], &mut top)?; // allocates nothing
//! assert_eq!(top[..n], [Neighbor { distance: 0, id: 7 }, Neighbor { distance: 1, id: 9 }]);
//! assert_eq!(view.radius(&[0b1011], 1)?.len(), 2);
//!
//! // One byte off the boundary the same bytes are refused; `Index::from_bytes` reads them.
//! let mut off = Aligned([0u8; 77]);
//! off.0[1..].copy_from_slice(&bytes);
//! let err = IndexView::from_bytes(&off.0[1..]).unwrap_err();
//! assert_eq!(err, FormatError::Unaligned { offset: 1 });
//! assert_eq!(Index::from_bytes(&off.0[1..])?, index);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use alloc::vec::Vec;

use crate::code::{Codes, check_code, last_word_mask};
use crate::error::Result;
use crate::index::{FormatError, HEADER_LEN, Index, check_file};
use crate::search::{self, Neighbor, TopK};

/// Ids and codes borrowed from an index file's bytes; rows sorted by id, as in [`Index`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexView<'a> {
    bits: usize,
    words_per_code: usize,
    ids: &'a [u64],
    words: &'a [u64],
}

/// `bytes` as `u64` words in place: they must start on an 8-byte boundary, and the words
/// must mean what the file's little-endian bytes say.
fn as_words(bytes: &[u8]) -> core::result::Result<&[u64], FormatError> {
    let offset = bytes.as_ptr() as usize % core::mem::align_of::<u64>();
    if offset != 0 || cfg!(target_endian = "big") {
        return Err(FormatError::Unaligned { offset });
    }
    // SAFETY: the pointer is aligned for u64 (checked above), the length is rounded down to
    // whole words inside `bytes`, every bit pattern is a valid u64, and the result borrows
    // `bytes` immutably for its lifetime.
    Ok(unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast::<u64>(), bytes.len() / 8) })
}

impl<'a> IndexView<'a> {
    /// Checks the file form in place; fails with [`FormatError::Unaligned`] when the bytes
    /// cannot be read as words where they are (then use [`Index::from_bytes`]).
    pub fn from_bytes(bytes: &'a [u8]) -> core::result::Result<Self, FormatError> {
        let (layout, body) = check_file(bytes)?;
        let (ids, words) = as_words(&body[HEADER_LEN..])?.split_at(layout.count);
        if let Some(row) = ids.windows(2).position(|w| w[0] >= w[1]) {
            return Err(FormatError::IdsNotAscending {
                row: row as u64 + 1,
                id: ids[row + 1],
                previous: ids[row],
            });
        }
        let (bits, words_per_code) = (layout.bits as usize, layout.words_per_code);
        let mask = last_word_mask(bits);
        if let Some(row) = words
            .chunks_exact(words_per_code)
            .position(|c| c[words_per_code - 1] & !mask != 0)
        {
            return Err(FormatError::Padding {
                row: row as u64,
                bits: layout.bits,
            });
        }
        Ok(Self {
            bits,
            words_per_code,
            ids,
            words,
        })
    }

    /// Code width in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The ids, in row order (ascending), borrowed from the bytes.
    pub fn ids(&self) -> &'a [u64] {
        self.ids
    }

    /// All code words, row-major, borrowed from the bytes.
    pub fn as_words(&self) -> &'a [u64] {
        self.words
    }

    /// The code of `row`.
    pub fn code(&self, row: usize) -> Option<&'a [u64]> {
        let w = self.words_per_code;
        let start = row.checked_mul(w)?;
        self.words.get(start..start.checked_add(w)?)
    }

    /// The row holding `id` (binary search).
    pub fn row_of(&self, id: u64) -> Option<usize> {
        self.ids.binary_search(&id).ok()
    }

    /// The code stored for `id`.
    pub fn code_of(&self, id: u64) -> Option<&'a [u64]> {
        self.code(self.row_of(id)?)
    }

    fn check_query(&self, query: &[u64]) -> Result<()> {
        check_code(self.bits, self.words_per_code, query)
    }

    fn resolve(&self, neighbors: &mut [Neighbor]) {
        for n in neighbors {
            n.id = self.ids[n.id as usize];
        }
    }

    /// The `out.len()` nearest entries (fewer if the index is smaller), as ids, into `out`;
    /// returns how many. Allocates nothing.
    pub fn knn_into(&self, query: &[u64], out: &mut [Neighbor]) -> Result<usize> {
        self.check_query(query)?;
        let k = out.len().min(self.len());
        if k == 0 {
            return Ok(0);
        }
        let mut heap = TopK::new(&mut out[..k]);
        search::scan_knn(self.words, query, 0, &mut heap);
        let n = heap.finish();
        self.resolve(&mut out[..n]);
        Ok(n)
    }

    /// The `k` nearest entries by linear scan, as ids, like [`Index::knn`].
    pub fn knn(&self, query: &[u64], k: usize) -> Result<Vec<Neighbor>> {
        self.check_query(query)?;
        let mut out = alloc::vec![Neighbor::default(); k.min(self.len())];
        let n = self.knn_into(query, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// The `k` nearest entries of each query, as ids, like [`Index::knn_batch`] (one pass
    /// over the codes per group of queries).
    pub fn knn_batch(&self, queries: &Codes, k: usize) -> Result<Vec<Vec<Neighbor>>> {
        let mut out = search::knn_batch_words(self.words, self.bits, queries, k)?;
        for list in &mut out {
            self.resolve(list);
        }
        Ok(out)
    }

    /// Every entry within `r`, as ids, like [`Index::radius`].
    pub fn radius(&self, query: &[u64], r: u32) -> Result<Vec<Neighbor>> {
        self.check_query(query)?;
        let mut out = Vec::new();
        search::scan_within(self.words, query, r, 0, |row, d| {
            out.push(Neighbor {
                distance: d,
                id: self.ids[row],
            })
        });
        out.sort_by_key(|n| n.distance);
        Ok(out)
    }

    /// An owned copy.
    pub fn to_index(&self) -> Result<Index> {
        Index::new(
            self.ids.to_vec(),
            Codes::from_words(self.bits, self.words.to_vec())?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// `bytes` copied into u64 storage, so that they start on an 8-byte boundary.
    fn aligned(bytes: &[u8]) -> Vec<u64> {
        let mut store = vec![0u64; bytes.len().div_ceil(8)];
        for (w, c) in store.iter_mut().zip(bytes.chunks(8)) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            *w = u64::from_ne_bytes(b);
        }
        store
    }

    fn as_bytes(store: &[u64], len: usize) -> &[u8] {
        // SAFETY: u64 storage viewed as its bytes, within its length.
        unsafe { core::slice::from_raw_parts(store.as_ptr().cast::<u8>(), len) }
    }

    #[test]
    fn a_view_searches_the_bytes_without_copying() {
        let codes = Codes::from_words(12, vec![0b1, 0b11, 0xF0F, 0, 0xFFF]).unwrap();
        let index = Index::new(vec![3, 9, 10, 40, 41], codes).unwrap();
        let bytes = index.to_bytes();
        let store = aligned(&bytes);
        let bytes = as_bytes(&store, bytes.len());
        let view = IndexView::from_bytes(bytes).unwrap();
        // The codes are the file's bytes, not a copy.
        let at = HEADER_LEN + 8 * index.len();
        assert_eq!(view.as_words().as_ptr().cast::<u8>(), bytes[at..].as_ptr());
        assert_eq!(
            view.ids().as_ptr().cast::<u8>(),
            bytes[HEADER_LEN..].as_ptr()
        );
        assert_eq!(view.to_index().unwrap(), index);
        for q in [0u64, 1, 0xFFF, 0x0F0] {
            assert_eq!(view.knn(&[q], 3).unwrap(), index.knn(&[q], 3).unwrap());
            assert_eq!(
                view.radius(&[q], 4).unwrap(),
                index.radius(&[q], 4).unwrap()
            );
        }
        assert_eq!(view.code_of(40), Some(&[0u64][..]));
        assert_eq!(view.code_of(4), None);
        assert!(view.knn(&[1 << 12], 1).is_err());
        assert!(view.knn(&[0, 0], 1).is_err());
        // One byte later the words are not aligned: an error, not a misread.
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(bytes);
        let store = aligned(&shifted);
        let shifted = &as_bytes(&store, shifted.len())[1..];
        assert!(matches!(
            IndexView::from_bytes(shifted),
            Err(FormatError::Unaligned { offset: 1 })
        ));
        assert_eq!(Index::from_bytes(shifted).unwrap(), index);
    }

    /// A hand-built file (the documented layout) with ids 10, 20, 15, 30 is refused at row 2,
    /// naming its id and the one before; in order, the view reports the
    /// header's width and count.
    #[test]
    fn a_view_checks_ids_and_keeps_the_width() {
        let file = |ids: &[u64]| {
            let mut bytes = b"IMSATIDX".to_vec();
            bytes.extend_from_slice(&1u32.to_le_bytes());
            bytes.extend_from_slice(&40u32.to_le_bytes());
            bytes.extend_from_slice(&(ids.len() as u64).to_le_bytes());
            for id in ids {
                bytes.extend_from_slice(&id.to_le_bytes());
            }
            for _ in ids {
                bytes.extend_from_slice(&[0; 8]);
            }
            let crc = crc32fast::hash(&bytes);
            bytes.extend_from_slice(&crc.to_le_bytes());
            bytes
        };
        let bad = file(&[10, 20, 15, 30]);
        let store = aligned(&bad);
        assert_eq!(
            IndexView::from_bytes(as_bytes(&store, bad.len())),
            Err(FormatError::IdsNotAscending {
                row: 2,
                id: 15,
                previous: 20
            })
        );
        let good = file(&[10, 15, 20, 30]);
        let store = aligned(&good);
        let view = IndexView::from_bytes(as_bytes(&store, good.len())).unwrap();
        assert_eq!((view.bits(), view.len()), (40, 4));
        assert_eq!(view.ids(), [10, 15, 20, 30]);
        assert!(!view.is_empty());
        let empty = file(&[]);
        let store = aligned(&empty);
        let view = IndexView::from_bytes(as_bytes(&store, empty.len())).unwrap();
        assert!(view.is_empty());
        assert_eq!((view.bits(), view.len()), (40, 0));
    }
}
