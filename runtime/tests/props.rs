//! Property tests: every search path equals a brute-force reference on random codes of
//! widths 1..=512, with values chosen so that ties and near neighbours are common.

use imsat_runtime::hamming::distance;
use imsat_runtime::prelude::*;
use imsat_runtime::{reference, search};
use proptest::prelude::*;

fn mask(bits: usize) -> u64 {
    if bits.is_multiple_of(64) {
        u64::MAX
    } else {
        (1u64 << (bits % 64)) - 1
    }
}

/// A code set (0..150 codes, 1..=512 bits) and a query, drawn from a small pool of words
/// so that equal distances are frequent.
fn codes_and_query() -> impl Strategy<Value = (Codes, Vec<u64>)> {
    (1usize..=512, 0usize..150).prop_flat_map(|(bits, n)| {
        let wpc = bits.div_ceil(64);
        let word = prop_oneof![
            any::<u64>(),
            0u64..4,
            Just(u64::MAX),
            Just(0x5555_5555_5555_5555)
        ];
        (
            proptest::collection::vec(word.clone(), n * wpc),
            proptest::collection::vec(word, wpc),
        )
            .prop_map(move |(mut words, mut q)| {
                for c in words.chunks_exact_mut(wpc) {
                    c[wpc - 1] &= mask(bits);
                }
                q[wpc - 1] &= mask(bits);
                (Codes::from_words(bits, words).unwrap(), q)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn scan_knn_matches_brute_force((codes, q) in codes_and_query(), k in 0usize..40) {
        let expect = reference::knn(&codes, &q, k);
        prop_assert_eq!(&knn(&codes, &q, k).unwrap(), &expect);
        let mut out = vec![Neighbor::default(); k];
        let n = knn_into(&codes, &q, &mut out).unwrap();
        prop_assert_eq!(&out[..n], &expect[..]);
        let mut queries = Codes::new(codes.bits()).unwrap();
        for _ in 0..3 {
            queries.push(&q).unwrap();
        }
        for got in search::knn_batch(&codes, &queries, k).unwrap() {
            prop_assert_eq!(&got, &expect);
        }
        if k <= 32 {
            let arr = search::knn_array::<32>(&codes, &q, k).unwrap();
            prop_assert_eq!(&arr[..], &expect[..]);
        }
    }

    #[test]
    fn scan_radius_matches_brute_force((codes, q) in codes_and_query(), r in 0u32..300) {
        let expect = reference::radius(&codes, &q, r);
        prop_assert_eq!(&radius(&codes, &q, r).unwrap(), &expect);
    }

    #[test]
    fn mih_matches_brute_force((codes, q) in codes_and_query(), r in 0u32..40, k in 0usize..20) {
        let within = reference::radius(&codes, &q, r);
        let top = reference::knn(&codes, &q, k);
        let mih = Mih::new(&codes).unwrap();
        prop_assert_eq!(&mih.radius(&q, r).unwrap(), &within);
        prop_assert_eq!(&mih.radius_tables(&q, r).unwrap(), &within);
        prop_assert_eq!(&mih.knn(&q, k).unwrap(), &top);
        prop_assert_eq!(&mih.knn_tables(&q, k).unwrap(), &top);
    }

    #[test]
    fn dedup_matches_brute_force((codes, _q) in codes_and_query(), r in 0u32..8) {
        prop_assert_eq!(dedup(&codes, r).unwrap(), reference::groups(&codes, r));
    }

    #[test]
    fn index_ids_keep_the_tie_rule((codes, q) in codes_and_query(), k in 0usize..20, seed in any::<u64>()) {
        // Arbitrary distinct ids in arbitrary order: results must be the k smallest by
        // (distance, id) over the ids.
        let ids: Vec<u64> = (0..codes.len() as u64)
            .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed) % 1_000_003 * 1000 + i)
            .collect();
        let index = Index::new(ids.clone(), codes.clone()).unwrap();
        let mut expect: Vec<Neighbor> = codes
            .iter()
            .zip(&ids)
            .map(|(c, &id)| Neighbor { distance: distance(c, &q), id })
            .collect();
        expect.sort();
        let top: Vec<Neighbor> = expect.iter().copied().take(k).collect();
        prop_assert_eq!(&index.knn(&q, k).unwrap(), &top);
        let mut queries = Codes::new(codes.bits()).unwrap();
        queries.push(&q).unwrap();
        prop_assert_eq!(&index.knn_batch(&queries, k).unwrap(), &vec![top.clone()]);
        let mih = index.mih().unwrap();
        prop_assert_eq!(&index.mih_knn(&mih, &q, k).unwrap(), &top);
        let within_3 = index.radius(&q, 3).unwrap();
        prop_assert_eq!(&index.mih_radius(&mih, &q, 3).unwrap(), &within_3);
        let within: Vec<Neighbor> = expect.iter().copied().filter(|n| n.distance <= 3).collect();
        prop_assert_eq!(&index.radius(&q, 3).unwrap(), &within);
        for id in &ids {
            prop_assert_eq!(index.code_of(*id), codes.get(ids.iter().position(|x| x == id).unwrap()));
        }
        let back = Index::from_bytes(&index.to_bytes()).unwrap();
        prop_assert_eq!(&back, &index);
    }

    #[test]
    fn removing_ids_equals_an_index_of_the_rest(
        (codes, q) in codes_and_query(),
        seed in any::<u64>(),
        gaps in any::<bool>(),
    ) {
        // Ids 0..n (stored implicitly) or with gaps; about a third removed, plus ids the
        // index lacks and repeats, in any order.
        let ids: Vec<u64> = (0..codes.len() as u64).map(|i| if gaps { 3 * i + 1 } else { i }).collect();
        let gone = |id: u64| (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed).is_multiple_of(3);
        let mut asked: Vec<u64> = ids.iter().copied().filter(|&id| gone(id)).collect();
        asked.extend(asked.clone());
        asked.extend([u64::MAX, 3 * codes.len() as u64 + 5]);
        asked.reverse();
        let mut index = Index::new(ids.clone(), codes.clone()).unwrap();
        let rows = index.remove(&asked);
        let kept: Vec<usize> = (0..ids.len()).filter(|&r| !gone(ids[r])).collect();
        let want_rows: Vec<usize> = (0..ids.len()).filter(|&r| gone(ids[r])).collect();
        prop_assert_eq!(&rows, &want_rows);
        let mut kept_codes = Codes::new(codes.bits()).unwrap();
        for &r in &kept {
            kept_codes.push(codes.get(r).unwrap()).unwrap();
        }
        let want = Index::new(kept.iter().map(|&r| ids[r]).collect(), kept_codes).unwrap();
        prop_assert_eq!(&index, &want);
        prop_assert_eq!(&index.knn(&q, 5).unwrap(), &want.knn(&q, 5).unwrap());
        let back = Index::from_bytes(&index.to_bytes()).unwrap();
        prop_assert_eq!(&back, &index);
    }

    #[test]
    fn a_view_in_place_answers_like_the_owned_index(
        (codes, q) in codes_and_query(),
        k in 0usize..20,
        r in 0u32..40,
        seed in any::<u64>(),
    ) {
        let ids: Vec<u64> = (0..codes.len() as u64)
            .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed) % 1_000_003 * 1000 + i)
            .collect();
        let index = Index::new(ids, codes).unwrap();
        let bytes = index.to_bytes();
        // u64 storage: the file's bytes on an 8-byte boundary, as a memory map gives them.
        let mut store = vec![0u64; bytes.len().div_ceil(8)];
        for (w, c) in store.iter_mut().zip(bytes.chunks(8)) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            *w = u64::from_ne_bytes(b);
        }
        // SAFETY: the u64 storage viewed as its first `bytes.len()` bytes.
        let aligned =
            unsafe { std::slice::from_raw_parts(store.as_ptr().cast::<u8>(), bytes.len()) };
        let view = IndexView::from_bytes(aligned).unwrap();
        prop_assert_eq!(view.len(), index.len());
        prop_assert_eq!(view.knn(&q, k).unwrap(), index.knn(&q, k).unwrap());
        prop_assert_eq!(view.radius(&q, r).unwrap(), index.radius(&q, r).unwrap());
        let batch = Codes::from_words(index.bits(), [q.clone(), q.iter().map(|w| !w).collect()].concat());
        if let Ok(batch) = batch {
            prop_assert_eq!(view.knn_batch(&batch, k).unwrap(), index.knn_batch(&batch, k).unwrap());
        }
        let mut out = vec![Neighbor::default(); k];
        let n = view.knn_into(&q, &mut out).unwrap();
        prop_assert_eq!(&out[..n], &index.knn(&q, k).unwrap()[..]);
        for row in 0..index.len() {
            let id = index.id(row).unwrap();
            prop_assert_eq!(view.code_of(id), index.code_of(id));
        }
        prop_assert_eq!(view.to_index().unwrap(), index);
        // No copy: the view's words are the file's code section.
        let at = 24 + 8 * view.len();
        prop_assert_eq!(view.as_words().as_ptr().cast::<u8>(), aligned[at..].as_ptr());
    }
}

proptest! {
    #[test]
    fn parsing_arbitrary_bytes_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        bits in 0u32..300,
        count in prop_oneof![0u64..10, any::<u64>()],
    ) {
        let _ = Index::from_bytes(&bytes);
        // A plausible header in front of random content, with or without a valid checksum.
        let mut file = b"IMSATIDX".to_vec();
        file.extend_from_slice(&1u32.to_le_bytes());
        file.extend_from_slice(&bits.to_le_bytes());
        file.extend_from_slice(&count.to_le_bytes());
        file.extend_from_slice(&bytes);
        let _ = Index::from_bytes(&file);
        let crc = crc32fast::hash(&file);
        file.extend_from_slice(&crc.to_le_bytes());
        if let Ok(index) = Index::from_bytes(&file) {
            prop_assert_eq!(index.to_bytes(), file);
        }
    }
}
