//! The protocol's tests: perfect and constant hashes, the copies, the scores.

use imsat_runtime::soft_code::SoftCodes;
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::*;

#[test]
fn a_perfect_hash_scores_one_and_a_constant_hash_zero() {
    let edits = protocol_edits();
    // 20 originals with distinct random 64-bit codes; copies equal their original.
    let mut rng = StdRng::seed_from_u64(1);
    let originals: Vec<u64> = (0..20).map(|_| rng.random()).collect();
    let meta: Vec<(usize, usize)> = (0..20)
        .flat_map(|o| (0..edits.len()).map(move |e| (o, e)))
        .collect();
    let copies: Vec<u64> = meta.iter().map(|&(o, _)| originals[o]).collect();
    let own: Vec<usize> = (0..20).collect();
    let s = score("exact", 64, &originals, &copies, &meta, &edits, &own);
    let m = &s.groups[&Strength::Moderate];
    assert_eq!(m.queries, 20 * 14);
    assert_eq!(m.at_1e3.tpr, 1.0);
    assert!((m.map - 1.0).abs() < 1e-12);
    assert!(m.at_1e3.negatives > 20_000);
    assert!(m.tpr_per_edit.values().all(|&v| v == 1.0));
    // The curve rises to (1, 1), and at the FPR 1e-3 point it reads the same TPR.
    assert_eq!(m.roc.last(), Some(&(1.0, 1.0)));
    assert!(
        m.roc
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1)
    );
    assert!(m.roc.contains(&(m.at_1e3.fpr, m.at_1e3.tpr)));
    // Every code the same: no threshold keeps FPR under 1e-3.
    let zeros = vec![0u64; 20];
    let copies0 = vec![0u64; meta.len()];
    let s = score("const", 64, &zeros, &copies0, &meta, &edits, &own);
    let m = &s.groups[&Strength::Moderate];
    assert_eq!(m.at_1e3.threshold, None);
    assert_eq!(m.at_1e3.tpr, 0.0);
    assert!(m.map < 0.05);
}

/// Originals of one source (tiles of one photograph) are not false positives of each
/// other: two sources of two originals each, the originals of a source sharing a code.
#[test]
fn pairs_within_a_source_are_not_negatives() {
    let edits = protocol_edits();
    let originals: Vec<u64> = vec![0, 0, u64::MAX, u64::MAX];
    let meta: Vec<(usize, usize)> = (0..4)
        .flat_map(|o| (0..edits.len()).map(move |e| (o, e)))
        .collect();
    let copies: Vec<u64> = meta.iter().map(|&(o, _)| originals[o]).collect();
    let moderate = |sources: &[usize]| {
        let s = score("tiles", 64, &originals, &copies, &meta, &edits, sources);
        s.groups[&Strength::Moderate].clone()
    };
    // Each its own source: half the negatives sit at distance 0, no threshold qualifies.
    let apart = moderate(&[0, 1, 2, 3]);
    assert_eq!((apart.at_1e3.threshold, apart.at_1e3.tpr), (None, 0.0));
    // Two sources: every negative is 64 bits away, every copy is found.
    let grouped = moderate(&source_ids(&["a", "a", "b", "b"]));
    assert_eq!(grouped.at_1e3.threshold, Some(63));
    assert_eq!(grouped.at_1e3.tpr, 1.0);
    assert!(grouped.at_1e3.negatives < apart.at_1e3.negatives);
    // The same-source original still ranks: ties at distance 0 halve the mAP's credit.
    assert!(grouped.map < 1.0);
    assert_eq!(source_ids(&["x", "y", "x"]), vec![0, 1, 0]);
}

/// Soft codes scored by their soft distance: codes that tie every copy with its original's
/// neighbours are told apart by how confident their bits are. 40 originals share the sign
/// of every logit with one other (pairs 2k, 2k+1) but not its magnitude; each copy keeps its
/// original's logits, slightly moved. By codes every copy ties with a false match at
/// distance 0; by soft codes it is nearest its own original.
#[test]
fn soft_distances_separate_what_codes_tie() {
    let edits = protocol_edits();
    let bits = 16;
    let mut rng = StdRng::seed_from_u64(3);
    let mut logits = Vec::new();
    for _ in 0..20 {
        let signs: Vec<f32> = (0..bits)
            .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
            .collect();
        for m in [0.3, 4.0] {
            logits.extend(signs.iter().map(|s| s * m));
        }
    }
    let meta: Vec<(usize, usize)> = (0..40)
        .flat_map(|o| (0..edits.len()).map(move |e| (o, e)))
        .collect();
    let copy_logits: Vec<f32> = meta
        .iter()
        .flat_map(|&(o, _)| logits[o * bits..(o + 1) * bits].iter().map(|z| z * 1.05))
        .collect();
    let own: Vec<usize> = (0..40).collect();
    let words = |l: &[f32]| {
        imsat_runtime::code::Codes::from_logits(bits, l)
            .unwrap()
            .into_words()
    };
    let by_codes = score(
        "codes",
        bits,
        &words(&logits),
        &words(&copy_logits),
        &meta,
        &edits,
        &own,
    );
    let soft = |l: &[f32]| SoftCodes::from_logits(bits, l).unwrap();
    let by_soft = score_soft(
        "soft",
        &soft(&logits),
        &soft(&copy_logits),
        &meta,
        &edits,
        &own,
    );
    let (c, s) = (
        &by_codes.groups[&Strength::Moderate],
        &by_soft.groups[&Strength::Moderate],
    );
    assert_eq!((c.at_1e3.threshold, c.at_1e3.tpr), (None, 0.0));
    assert_eq!(s.at_1e3.tpr, 1.0);
    assert!(s.map > 0.99 && c.map < 0.6, "{} {}", s.map, c.map);
    assert_eq!((by_codes.unit, by_soft.unit), (1.0, 0.01));
}

#[test]
fn copies_made_a_part_at_a_time_are_the_copies_made_at_once() {
    let edits = protocol_edits();
    let originals: Vec<image::RgbImage> = (0..3u32)
        .map(|k| {
            image::RgbImage::from_fn(96, 64, |x, y| {
                image::Rgb([(x * 2 + k * 40) as u8, (y * 3) as u8, ((x ^ y) * 4) as u8])
            })
        })
        .collect();
    let all = make_copies(&originals, &edits, 5);
    let pairs = copy_pairs(originals.len(), edits.len());
    assert_eq!(all.len(), pairs.len());
    // Random crops and caption boxes are drawn per pair: any part, in any order, is the same.
    let part: Vec<(usize, usize)> = pairs.iter().rev().step_by(3).copied().collect();
    let some = make_copies_of(&originals, &edits, 5, &part);
    assert_eq!(some.len(), part.len());
    for (copy, &(o, e)) in some.iter().zip(&part) {
        let same = &all[o * edits.len() + e];
        assert_eq!((copy.original, copy.edit), (o, e));
        assert_eq!(copy.image, same.image, "{}", edits[e].name);
    }
}
