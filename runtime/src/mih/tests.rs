//! MIH unit tests: helpers and properties against the brute-force reference.

use super::*;
use alloc::vec;
use proptest::prelude::*;

#[test]
fn helpers() {
    assert_eq!(binomial(5, 2), 10);
    assert_eq!(binomial(32, 16), 601_080_390);
    assert_eq!(binomial(3, 4), 0);
    let mut masks = vec![];
    for_each_mask(5, 2, |m| masks.push(m));
    assert_eq!(masks.len(), 10);
    assert!(masks.iter().all(|m| m.count_ones() == 2 && *m < 32));
    let mut all = vec![];
    for_each_mask(32, 32, |m| all.push(m));
    assert_eq!(all, vec![u32::MAX]);
    let code = [0xF000_0000_0000_0000u64, 0b1011];
    assert_eq!(extract(&code, 60, 8), 0b1011_1111);
    assert_eq!(extract(&code, 64, 3), 0b011);
    assert_eq!(Mih::default_substrings(64, 1_000_000), 3);
    assert_eq!(Mih::default_substrings(256, 100_000), 16);
    assert_eq!(Mih::default_substrings(1, 10), 1);
    assert_eq!(Mih::default_substrings(512, 1), 64);
    // No overflow at any width (a width beyond MAX_BITS builds no index anyway).
    assert_eq!(Mih::default_substrings(usize::MAX, 1000), usize::MAX / 9);
    assert!(!Mih::worth_building(usize::MAX, 1000));
}

/// Tables are built only where there are fewer of them than codes: not for one very wide
/// code (two million tables), but for the indexes multi-index hashing is for.
#[test]
fn tables_are_worth_building_only_beside_more_codes_than_tables() {
    assert!(!Mih::worth_building(1 << 24, 1));
    assert!(!Mih::worth_building(64, 4));
    assert!(!Mih::worth_building(512, 64));
    assert!(Mih::worth_building(512, 65));
    assert!(Mih::worth_building(64, 1_000_000));
    assert!(Mih::worth_building(16, 1024));
    // Over a million codes, three tables (a sort of the rows each) cost about 60 scans.
    assert!(!Mih::worth_building_for(64, 1_000_000, 1));
    assert!(!Mih::worth_building_for(64, 1_000_000, 50));
    assert!(Mih::worth_building_for(64, 1_000_000, 100));
    assert!(!Mih::worth_building_for(1 << 24, 1, usize::MAX));
}

/// A radius query goes through the tables by what a lookup meets in these codes: on
/// uniform codes the tables, on the same codes with a half that never varies the scan (a
/// table over that half returns every row for every query; the uniform estimate chose the
/// tables, 57 times slower than the scan on 1M codes).
#[test]
fn crowded_substrings_send_a_radius_query_to_the_scan() {
    assert_eq!(crowding(&[]), 0);
    assert_eq!(crowding(&[4, 5, 6]), 0);
    // Three rows share one key (two others each), one is alone: 6 / 4.
    assert_eq!(crowding(&[1, 1, 1, 2]), 1);
    let mut rng = crate::test_rng::XorShift(0x9E37_79B9_7F4A_7C15);
    let uniform: Vec<u64> = (0..100_000).map(|_| rng.next()).collect();
    let codes = Codes::from_words(64, uniform.clone()).unwrap();
    let mih = Mih::new(&codes).unwrap();
    assert!(mih.is_cheaper_than_scan(2));
    let half = uniform.iter().map(|w| w & 0xFFFF_FFFF_0000_0000).collect();
    let skewed = Codes::from_words(64, half).unwrap();
    let mih = Mih::new(&skewed).unwrap();
    assert!(!mih.is_cheaper_than_scan(2));
    assert!(!mih.is_cheaper_than_scan(0));
    // Answered by the scan, the answers of the tables.
    let q = skewed.get(17).unwrap().to_vec();
    let scan = search::radius(&skewed, &q, 2).unwrap();
    assert_eq!(mih.radius(&q, 2).unwrap(), scan);
    assert_eq!(mih.radius_tables(&q, 2).unwrap(), scan);
}

#[test]
fn bad_substrings() {
    let codes = Codes::from_words(64, vec![1, 2, 3]).unwrap();
    assert!(Mih::with_substrings(&codes, 0).is_err());
    assert!(Mih::with_substrings(&codes, 1).is_err());
    assert!(Mih::with_substrings(&codes, 65).is_err());
    assert!(Mih::with_substrings(&codes, 2).is_ok());
    for m in [2, 3, 7, 64] {
        assert_eq!(Mih::with_substrings(&codes, m).unwrap().substrings(), m);
    }
    let mih = Mih::new(&codes).unwrap();
    assert!(mih.radius(&[1, 2], 1).is_err());
    assert!(mih.knn(&[], 1).is_err());
}

fn codes_strategy() -> impl Strategy<Value = (Codes, Vec<u64>, usize)> {
    (1usize..=160, 0usize..120, any::<u64>()).prop_flat_map(|(bits, n, _)| {
        let wpc = bits.div_ceil(64);
        let mask = if bits.is_multiple_of(64) {
            u64::MAX
        } else {
            (1u64 << (bits % 64)) - 1
        };
        // Few distinct values per word so that near neighbours and ties are common.
        let word = prop_oneof![any::<u64>(), 0u64..4, Just(u64::MAX)];
        (
            proptest::collection::vec(word.clone(), n * wpc),
            proptest::collection::vec(word, wpc),
            1usize..=bits.min(12),
        )
            .prop_map(move |(mut w, mut q, m)| {
                for c in w.chunks_exact_mut(wpc) {
                    c[wpc - 1] &= mask;
                }
                q[wpc - 1] &= mask;
                let m = m.max(bits.div_ceil(32));
                (Codes::from_words(bits, w).unwrap(), q, m)
            })
    })
}

proptest! {
    #[test]
    fn every_probe_matches_brute_force((codes, q, m) in codes_strategy(), r in 0u32..40, k in 0usize..20) {
        let mih = Mih::with_substrings(&codes, m).unwrap();
        let all = crate::reference::by_distance(&codes, &q);
        let within: Vec<Neighbor> = all.iter().copied().filter(|n| n.distance <= r).collect();
        let top: Vec<Neighbor> = all.iter().copied().take(k).collect();
        for probe in [Probe::Auto, Probe::Enumerate, Probe::ScanKeys] {
            if probe == Probe::Enumerate && codes.bits() / m > 20 {
                continue; // 2^20 lookups per level is too slow for a test
            }
            prop_assert_eq!(&mih.radius_with(&q, r, probe).unwrap(), &within);
            prop_assert_eq!(&mih.knn_with(&q, k, probe).unwrap(), &top);
        }
        prop_assert_eq!(&mih.radius(&q, r).unwrap(), &within);
        prop_assert_eq!(&mih.knn(&q, k).unwrap(), &top);
    }
}
