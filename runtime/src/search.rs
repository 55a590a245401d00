//! Exact search by linear scan: k nearest neighbours and radius queries.
//!
//! This is the reference path every faster structure must agree with. The scan computes the
//! distances of a block of codes into a stack array with the vectorised kernel, skips the
//! whole block when none of them beats the current k-th best, and only then touches the
//! bounded heap. The heap lives in a caller-provided slice ([`knn_into`]) or a
//! `heapless::Vec` ([`knn_array`]), so a k-NN query allocates nothing.
//!
//! Ordering: results are the k smallest by `(distance, id)`, i.e. on equal distance the
//! lower id wins (the rule faiss `IndexBinaryFlat` follows). Here `id` is the row of the
//! code in its [`Codes`].

use alloc::vec::Vec;

use crate::code::Codes;
use crate::error::{Error, Result};
use crate::hamming;

/// One search result. Fields are ordered so that the derived ordering is
/// `(distance, id)`, the order results are returned in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Neighbor {
    /// Hamming distance to the query.
    pub distance: u32,
    /// Row of the code, or its id in the answers of an [`crate::index::Index`].
    pub id: u64,
}

/// Codes per block of the scan: the distances of one block sit in a stack array.
pub(crate) const BLOCK: usize = 256;

/// A bounded max-heap of the best neighbours so far, stored in a borrowed slice.
pub(crate) struct TopK<'a> {
    buf: &'a mut [Neighbor],
    len: usize,
}

impl<'a> TopK<'a> {
    pub(crate) fn new(buf: &'a mut [Neighbor]) -> Self {
        Self { buf, len: 0 }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    /// The worst kept neighbour, once full.
    pub(crate) fn worst(&self) -> Option<Neighbor> {
        self.is_full().then(|| self.buf[0])
    }

    /// Distances strictly below this may enter when candidates come in ascending id
    /// order (a later equal distance always loses the tie).
    #[inline]
    pub(crate) fn threshold(&self) -> u32 {
        if self.is_full() {
            self.buf[0].distance
        } else {
            u32::MAX
        }
    }

    /// Whether `n` would enter the heap.
    #[inline]
    pub(crate) fn accepts(&self, n: Neighbor) -> bool {
        !self.is_full() || n < self.buf[0]
    }

    #[inline]
    pub(crate) fn push(&mut self, n: Neighbor) {
        if self.len < self.buf.len() {
            let mut i = self.len;
            self.buf[i] = n;
            self.len += 1;
            while i > 0 {
                let parent = (i - 1) / 2;
                if self.buf[parent] >= self.buf[i] {
                    break;
                }
                self.buf.swap(parent, i);
                i = parent;
            }
        } else if self.len > 0 && n < self.buf[0] {
            self.buf[0] = n;
            let mut i = 0;
            loop {
                let l = 2 * i + 1;
                if l >= self.len {
                    break;
                }
                let r = l + 1;
                let c = if r < self.len && self.buf[r] > self.buf[l] {
                    r
                } else {
                    l
                };
                if self.buf[i] >= self.buf[c] {
                    break;
                }
                self.buf.swap(i, c);
                i = c;
            }
        }
    }

    /// Sorts the kept neighbours by `(distance, id)`; returns how many there are.
    pub(crate) fn finish(self) -> usize {
        self.buf[..self.len].sort_unstable();
        self.len
    }
}

/// Scans `codes` (rows `base..`) and offers every code to `heap`.
pub(crate) fn scan_knn(words: &[u64], query: &[u64], base: usize, heap: &mut TopK<'_>) {
    let mut dist = [0u32; BLOCK];
    for (b, block) in words.chunks(BLOCK * query.len()).enumerate() {
        scan_knn_block(block, query, base + b * BLOCK, heap, &mut dist);
    }
}

/// One block (at most [`BLOCK`] codes) of [`scan_knn`], with the distance buffer passed
/// in so that batched scans do not re-initialise it per query.
#[inline]
fn scan_knn_block(
    block: &[u64],
    query: &[u64],
    first: usize,
    heap: &mut TopK<'_>,
    dist: &mut [u32; BLOCK],
) {
    let d = &mut dist[..block.len() / query.len()];
    // Cheap early reject: usually no distance in the block beats the current k-th best.
    if hamming::block(block, query, d) >= heap.threshold() {
        return;
    }
    // Otherwise walk it in groups of 16, skipping groups with nothing to offer.
    for (g, group) in d.chunks(16).enumerate() {
        if group.iter().fold(u32::MAX, |m, &x| m.min(x)) >= heap.threshold() {
            continue;
        }
        for (i, &x) in group.iter().enumerate() {
            if x < heap.threshold() {
                heap.push(Neighbor {
                    distance: x,
                    id: (first + g * 16 + i) as u64,
                });
            }
        }
    }
}

/// Calls `f(row, distance)` for every code (rows `base..`) within `radius`, in row order.
pub(crate) fn scan_within(
    words: &[u64],
    query: &[u64],
    radius: u32,
    base: usize,
    mut f: impl FnMut(usize, u32),
) {
    let wpc = query.len();
    let mut dist = [0u32; BLOCK];
    for (b, block) in words.chunks(BLOCK * wpc).enumerate() {
        let d = &mut dist[..block.len() / wpc];
        if hamming::block(block, query, d) > radius {
            continue;
        }
        let first = base + b * BLOCK;
        for (i, &x) in d.iter().enumerate() {
            if x <= radius {
                f(first + i, x);
            }
        }
    }
}

/// The `out.len()` nearest codes to `query`, written sorted by `(distance, id)` to the
/// front of `out`; returns how many were written (`min(out.len(), codes.len())`).
/// Allocates nothing.
pub fn knn_into(codes: &Codes, query: &[u64], out: &mut [Neighbor]) -> Result<usize> {
    codes.check_code(query)?;
    let k = out.len().min(codes.len());
    if k == 0 {
        return Ok(0);
    }
    let mut heap = TopK::new(&mut out[..k]);
    scan_knn(codes.as_words(), query, 0, &mut heap);
    Ok(heap.finish())
}

/// The `k` nearest codes to `query`, sorted by `(distance, id)` (fewer if there are fewer
/// codes). Allocates only the returned vector.
pub fn knn(codes: &Codes, query: &[u64], k: usize) -> Result<Vec<Neighbor>> {
    codes.check_code(query)?;
    let mut out = alloc::vec![Neighbor::default(); k.min(codes.len())];
    let n = knn_into(codes, query, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// Like [`knn`], but into a fixed-capacity `heapless::Vec` on the stack: no allocation at
/// all. Fails with [`Error::KTooLarge`] when `k > K`.
pub fn knn_array<const K: usize>(
    codes: &Codes,
    query: &[u64],
    k: usize,
) -> Result<heapless::Vec<Neighbor, K>> {
    if k > K {
        return Err(Error::KTooLarge { k, capacity: K });
    }
    let mut out = heapless::Vec::<Neighbor, K>::new();
    // Cannot fail: k <= K.
    let _ = out.resize(k.min(codes.len()), Neighbor::default());
    let n = knn_into(codes, query, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// The `k` nearest codes for each of several queries (one result list per query, each
/// like [`knn`]). The queries share each pass over the codes: a block of codes is loaded
/// once and compared with every query while it sits in L1, so a batch runs at the speed of
/// the popcounts instead of the speed of memory.
pub fn knn_batch(codes: &Codes, queries: &Codes, k: usize) -> Result<Vec<Vec<Neighbor>>> {
    knn_batch_words(codes.as_words(), codes.bits(), queries, k)
}

/// [`knn_batch`] over codes given as words (`bits` wide, row-major): shared by the owned
/// index and the one read in place.
pub(crate) fn knn_batch_words(
    words: &[u64],
    bits: usize,
    queries: &Codes,
    k: usize,
) -> Result<Vec<Vec<Neighbor>>> {
    if queries.bits() != bits {
        return Err(Error::BitsMismatch {
            expected: bits,
            got: queries.bits(),
        });
    }
    let wpc = queries.words_per_code();
    let k = k.min(words.len() / wpc);
    let mut flat = alloc::vec![Neighbor::default(); k * queries.len()];
    let mut counts = alloc::vec![0usize; queries.len()];
    if k > 0 {
        let mut heaps: Vec<TopK<'_>> = flat.chunks_exact_mut(k).map(TopK::new).collect();
        // Queries per group: enough to amortise the loads, few enough that their heaps
        // stay hot.
        const GROUP: usize = 32;
        let mut dist = [0u32; BLOCK];
        for (qs, hs) in queries
            .as_words()
            .chunks(GROUP * wpc)
            .zip(heaps.chunks_mut(GROUP))
        {
            for (b, block) in words.chunks(BLOCK * wpc).enumerate() {
                for (q, heap) in qs.chunks_exact(wpc).zip(hs.iter_mut()) {
                    scan_knn_block(block, q, b * BLOCK, heap, &mut dist);
                }
            }
        }
        for (c, heap) in counts.iter_mut().zip(heaps) {
            *c = heap.finish();
        }
    }
    Ok(counts
        .iter()
        .enumerate()
        .map(|(i, &n)| flat[i * k..i * k + n].to_vec())
        .collect())
}

/// Every code within `radius` of `query` (distance <= radius), sorted by `(distance, id)`.
pub fn radius(codes: &Codes, query: &[u64], radius: u32) -> Result<Vec<Neighbor>> {
    codes.check_code(query)?;
    let mut out = Vec::new();
    scan_within(codes.as_words(), query, radius, 0, |row, d| {
        out.push(Neighbor {
            distance: d,
            id: row as u64,
        })
    });
    // Rows arrive in order, so a stable sort by distance gives (distance, id) order.
    out.sort_by_key(|n| n.distance);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn ties_go_to_lower_rows() {
        // 600 codes, so several blocks; many equal distances.
        let words: Vec<u64> = (0..600u64).map(|i| (i % 7) * 3).collect();
        let codes = Codes::from_words(64, words).unwrap();
        for k in [0, 1, 5, 100, 599, 600, 700] {
            let got = knn(&codes, &[0], k).unwrap();
            assert_eq!(got, crate::reference::knn(&codes, &[0], k), "k = {k}");
        }
        let got = knn_array::<8>(&codes, &[5], 8).unwrap();
        assert_eq!(&got[..], &crate::reference::knn(&codes, &[5], 8)[..]);
        assert!(knn_array::<8>(&codes, &[5], 9).is_err());
        let r = radius(&codes, &[0], 2).unwrap();
        assert_eq!(r, crate::reference::radius(&codes, &[0], 2));
        assert!(!r.is_empty());
    }

    /// The heap on its own keeps the smallest `(distance, id)` pairs, whatever order they
    /// come in and whether or not the caller filtered them first.
    #[test]
    fn the_heap_keeps_the_smallest_whatever_it_is_offered() {
        let mut rng = crate::test_rng::XorShift(0x2545_F491_4F6C_DD1D);
        let offered: Vec<Neighbor> = (0..300u64)
            .map(|id| {
                let x = rng.next();
                Neighbor {
                    distance: (x % 20) as u32,
                    id: (x >> 32) % 1000 * 1000 + id,
                }
            })
            .collect();
        for k in [0usize, 1, 2, 7, 64, 300] {
            let mut buf = vec![Neighbor::default(); k];
            let mut heap = TopK::new(&mut buf);
            for &n in &offered {
                heap.push(n);
            }
            assert_eq!(heap.finish(), k);
            let mut expect = offered.clone();
            expect.sort();
            expect.truncate(k);
            assert_eq!(buf, expect, "k = {k}");
        }
    }

    /// A batch of more queries than one group (32) holds, all different, at several
    /// widths: every list is the brute-force answer for its own query.
    #[test]
    fn a_batch_of_many_queries_answers_each_like_brute_force() {
        let mut rng = crate::test_rng::XorShift(0x9E37_79B9_7F4A_7C15);
        let mut next = move || rng.next();
        for bits in [64usize, 100, 256] {
            let wpc = bits.div_ceil(64);
            let mask = crate::code::last_word_mask(bits);
            let mut words = |n: usize| -> Vec<u64> {
                let mut w: Vec<u64> = (0..n * wpc).map(|_| next()).collect();
                for c in w.chunks_exact_mut(wpc) {
                    c[wpc - 1] &= mask;
                }
                w
            };
            let codes = Codes::from_words(bits, words(700)).unwrap();
            let queries = Codes::from_words(bits, words(75)).unwrap();
            for k in [1usize, 5] {
                let got = knn_batch(&codes, &queries, k).unwrap();
                assert_eq!(got.len(), queries.len());
                for (q, list) in queries.iter().zip(&got) {
                    let expect = crate::reference::knn(&codes, q, k);
                    assert_eq!(list, &expect, "{bits} bits, k = {k}");
                }
            }
        }
    }

    #[test]
    fn bad_queries_are_errors() {
        let codes = Codes::from_words(3, vec![1, 2]).unwrap();
        assert!(knn(&codes, &[1, 0], 1).is_err());
        assert!(knn(&codes, &[8], 1).is_err());
        assert!(radius(&codes, &[], 1).is_err());
        let empty = Codes::new(3).unwrap();
        assert_eq!(knn(&empty, &[1], 3).unwrap(), vec![]);
    }
}
