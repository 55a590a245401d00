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
    // bits / log2(n) rounded to the nearest: 16 / 10 and 15 / 10 make 2, 14 / 10 makes 1.
    assert_eq!(Mih::default_substrings(16, 1024), 2);
    assert_eq!(Mih::default_substrings(15, 1024), 2);
    assert_eq!(Mih::default_substrings(14, 1024), 1);
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
    // Exactly: 3 tables x 20 steps a row (log2 of a million, rounded up) against a word a
    // code a query; at 60 queries they cost the same, and the scans win the tie.
    assert!(!Mih::worth_building_for(64, 1_000_000, 60));
    assert!(Mih::worth_building_for(64, 1_000_000, 61));
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

/// `binomial` is Pascal's triangle (in u128) while it fits a u64, and `u64::MAX` after.
#[test]
fn binomial_is_pascals_triangle() {
    let mut row = vec![1u128];
    for n in 0..=70u32 {
        for k in 0..=n + 1 {
            let want = row.get(k as usize).copied().unwrap_or(0);
            let want = u64::try_from(want).unwrap_or(u64::MAX);
            assert_eq!(binomial(n, k), want, "{n} choose {k}");
        }
        row = (0..=row.len())
            .map(|k| row.get(k).copied().unwrap_or(0) + k.checked_sub(1).map_or(0, |j| row[j]))
            .collect();
    }
    assert_eq!(binomial(u32::MAX, 1), u64::from(u32::MAX));
    assert_eq!(binomial(u32::MAX, 3), u64::MAX);
}

/// Over all rows, the number of other rows with the same key, counted with a map.
fn rows_sharing_a_key(keys: &[u32]) -> u64 {
    let mut count = alloc::collections::BTreeMap::new();
    for &k in keys {
        *count.entry(k).or_insert(0u64) += 1;
    }
    keys.iter().map(|k| count[k] - 1).sum()
}

/// `crowding` is, over the rows, the mean number of other rows with the same key (rounded
/// down): random sorted keys from few values and from many.
#[test]
fn crowding_counts_the_rows_sharing_a_key() {
    let mut rng = crate::test_rng::XorShift(0xC0_FFEE);
    for case in 0..200u64 {
        let n = (rng.next() % 300) as usize;
        let values = [1, 3, 20, 1 << 20][case as usize % 4];
        let mut keys: Vec<u32> = (0..n).map(|_| (rng.next() % values) as u32).collect();
        keys.sort_unstable();
        let others = rows_sharing_a_key(&keys);
        assert_eq!(crowding(&keys), others / n.max(1) as u64, "case {case}");
    }
}

/// Random codes, from uniform to crowded: some bits never vary, or each word takes one of
/// few values.
fn cost_model_codes(rng: &mut crate::test_rng::XorShift, case: usize) -> Codes {
    let bits = 8 + (rng.next() % 121) as usize;
    let n = 1 + (rng.next() % 3000) as usize;
    let wpc = bits.div_ceil(64);
    let fixed = rng.next() & rng.next();
    let few: Vec<u64> = (0..1 + rng.next() % 8).map(|_| rng.next()).collect();
    let words = (0..n * wpc)
        .map(|i| {
            let w = match case % 3 {
                0 => rng.next(),
                1 => rng.next() & !fixed,
                _ => few[(rng.next() % few.len() as u64) as usize],
            };
            if i % wpc == wpc - 1 && !bits.is_multiple_of(64) {
                w & ((1u64 << (bits % 64)) - 1)
            } else {
                w
            }
        })
        .collect();
    Codes::from_words(bits, words).unwrap()
}

/// The cost model (units of one key or one code word read) in its words, on random tables:
/// level `s` of a `w`-bit table over `n` rows costs, probed by enumeration, `C(w, s)` lookups
/// that each meet the larger of `n / 2^w` and the crowding rows, every one verified; probed by
/// a scan, every key read and the expected matches verified (`C(w, s) n / 2^w`, or `C(w, s)`
/// times the crowding where larger). `Auto` probes the cheaper way (enumeration on a tie); a
/// radius query costs the cheaper way at every level of every table it probes, and goes
/// through the tables only when that is less than a scan, a word per code word.
#[test]
fn the_cost_model_is_what_its_words_say() {
    let mut rng = crate::test_rng::XorShift(0x0C05_7140_DE15);
    let (mut enumerated, mut scanned, mut cheaper, mut dearer) = (0, 0, 0, 0);
    for case in 0..90 {
        let codes = cost_model_codes(&mut rng, case);
        let (bits, n) = (codes.bits(), codes.len() as u128);
        let m = (1 + (rng.next() % 12) as usize).clamp(bits.div_ceil(32), bits);
        let mih = Mih::with_substrings(&codes, m).unwrap();
        let mut level_costs = Vec::new();
        for t in &mih.tables {
            let w = t.width;
            let keys: Vec<u32> = codes.iter().map(|c| extract(c, t.start, w)).collect();
            let crowd = u128::from(rows_sharing_a_key(&keys)) / n;
            let mut costs = Vec::new();
            for s in 0..=w {
                let c = u128::from(binomial(w, s));
                let enumerate =
                    c * (LOOKUP_COST as u128 + (n >> w).max(crowd) * VERIFY_COST as u128);
                let scan = n + ((c * n) >> w).max(c * crowd) * VERIFY_COST as u128;
                let clamp = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
                assert_eq!(t.enumerate_cost(s), clamp(enumerate), "case {case}, s {s}");
                assert_eq!(t.scan_cost(s), clamp(scan), "case {case}, s {s}");
                assert_eq!(t.enumerates(s, Probe::Auto), enumerate <= scan);
                assert!(t.enumerates(s, Probe::Enumerate) && !t.enumerates(s, Probe::ScanKeys));
                *(if enumerate <= scan {
                    &mut enumerated
                } else {
                    &mut scanned
                }) += 1;
                costs.push(enumerate.min(scan));
            }
            level_costs.push(costs);
        }
        for r in 0..=bits as u32 + 2 {
            let (q, a) = (r as usize / m, r as usize % m);
            let mut cost = 0u128;
            for (i, costs) in level_costs.iter().enumerate() {
                // Tables 0..=a are probed to q, the rest to q - 1.
                let probed = if i <= a { q + 1 } else { q };
                cost += costs.iter().take(probed).sum::<u128>();
            }
            let words = n * bits.div_ceil(64) as u128;
            assert_eq!(
                mih.radius_cost(r),
                u64::try_from(cost).unwrap(),
                "case {case}, r {r}"
            );
            assert_eq!(
                mih.is_cheaper_than_scan(r),
                cost < words,
                "case {case}, r {r}"
            );
            *(if cost < words {
                &mut cheaper
            } else {
                &mut dearer
            }) += 1;
        }
    }
    assert!(
        [enumerated, scanned, cheaper, dearer]
            .iter()
            .all(|&k| k > 50),
        "levels enumerated {enumerated}, scanned {scanned}; queries through the tables \
         {cheaper}, by the scan {dearer}"
    );
}

/// k-NN through the tables, given a budget, gives up (`None`) once the levels it has probed
/// cost more than the budget and not before: the least budget that answers is what the
/// answer's levels cost (a sum of level costs in probing order: by level, then by table), and
/// one less gives up. `knn` then answers by the scan, with the same answer.
#[test]
fn knn_gives_up_when_its_levels_cost_more_than_the_budget() {
    let mut rng = crate::test_rng::XorShift(0x00B0_D6E7);
    let mut gave_up = 0;
    for case in 0..60 {
        let codes = cost_model_codes(&mut rng, case);
        let m = Mih::default_substrings(codes.bits(), codes.len())
            .max(2)
            .min(codes.bits());
        let mih = Mih::with_substrings(&codes, m).unwrap();
        // A code with one of its first bits flipped.
        let mut query = codes.get(case % codes.len()).unwrap().to_vec();
        query[0] ^= 1 << (case % 7);
        let k = 1 + case % 12;
        let mut out = vec![Neighbor::default(); k.min(codes.len())];
        let free = mih
            .knn_tables_into(&query, &mut out, Probe::Auto, None)
            .unwrap();
        let answer = out[..free].to_vec();
        let answers = |budget: u64| {
            let mut out = vec![Neighbor::default(); k.min(codes.len())];
            mih.knn_tables_into(&query, &mut out, Probe::Auto, Some(budget))
                .map(|n| out[..n].to_vec())
        };
        let max_width = mih.tables.iter().map(|t| t.width).max().unwrap();
        let mut sums = vec![];
        let mut sum = 0u64;
        for s in 0..=max_width {
            for t in mih.tables.iter().filter(|t| s <= t.width) {
                sum += t.level_cost(s);
                sums.push(sum);
            }
        }
        let (mut lo, mut hi) = (0u64, sum);
        assert_eq!(answers(hi).as_ref(), Some(&answer), "case {case}");
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if answers(mid).is_some() {
                hi = mid
            } else {
                lo = mid + 1
            }
        }
        assert!(
            sums.contains(&lo),
            "case {case}: least budget {lo}, not a sum of levels"
        );
        assert_eq!(answers(lo).as_ref(), Some(&answer), "case {case}");
        assert_eq!(answers(lo - 1), None, "case {case}");
        gave_up += usize::from(lo > mih.linear_cost());
        assert_eq!(
            mih.knn(&query, k).unwrap(),
            search::knn(&codes, &query, k).unwrap()
        );
    }
    assert!(
        gave_up > 5 && gave_up < 55,
        "{gave_up} of 60 queries would have fallen back to the scan"
    );
}

/// The tables' heap: per table, a key and a row (u32 each) for every code and a u32 per
/// directory entry, plus the tables' own headers.
#[test]
fn table_bytes_count_keys_rows_and_directories() {
    let mut rng = crate::test_rng::XorShift(0x007A_B1E5);
    for case in 0..40 {
        let codes = cost_model_codes(&mut rng, case);
        let m = (1 + case % 9).clamp(codes.bits().div_ceil(32), codes.bits());
        let mih = Mih::with_substrings(&codes, m).unwrap();
        let entries: usize = mih
            .tables
            .iter()
            .map(|t| 2 * codes.len() + t.dir.len())
            .sum();
        assert_eq!(
            mih.table_bytes(),
            4 * entries + m * core::mem::size_of::<Table>(),
            "case {case}"
        );
        // The directory holds at most a quarter of an entry per code, plus one (a bucket
        // and the end of the last).
        for t in &mih.tables {
            let most = (codes.len() / 4).max(1) + 1;
            assert!(t.dir.len() <= most, "case {case}: {} entries", t.dir.len());
        }
    }
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
        let within = crate::reference::radius(&codes, &q, r);
        let top = crate::reference::knn(&codes, &q, k);
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
