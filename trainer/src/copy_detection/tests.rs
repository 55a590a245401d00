//! The protocol's tests: perfect and constant hashes, the copies, the scores.

use std::collections::BTreeMap;

use imsat_runtime::code::Codes;
use imsat_runtime::soft_code::SoftCodes;
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::*;

#[test]
fn a_perfect_hash_scores_one_and_a_constant_hash_zero() {
    let edits = protocol_edits();
    // 20 originals with distinct random 64-bit codes; copies equal their original.
    let mut rng = StdRng::seed_from_u64(1);
    let originals: Vec<u64> = (0..20).map(|_| rng.random()).collect();
    let meta = copy_pairs(20, edits.len());
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
    let meta = copy_pairs(4, edits.len());
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
    let meta = copy_pairs(40, edits.len());
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

/// The protocol's edits are the list: the moderate group is the hidden benchmark's.
#[test]
fn the_protocol_edits_are_the_benchmarks_list() {
    use Strength::*;
    let want = [
        ("jpeg_q30", Moderate, "jpeg q30"),
        ("jpeg_q50", Moderate, "jpeg q50"),
        ("rescale_50", Moderate, "rescale 50%"),
        ("rescale_25", Moderate, "rescale 25%"),
        ("crop_80", Moderate, "crop 80%"),
        ("crop_90", Moderate, "crop 90%"),
        ("rotate_+3", Moderate, "rotate +3.0"),
        ("rotate_-3", Moderate, "rotate -3.0"),
        ("brightness_1.2", Moderate, "brightness x1.20"),
        ("brightness_0.8", Moderate, "brightness x0.80"),
        ("contrast_0.7", Moderate, "contrast x0.70"),
        ("gray", Moderate, "gray"),
        ("blur_1", Moderate, "blur 1.0"),
        ("caption_5", Moderate, "caption 5%"),
        ("crop_60_random", Strong, "crop 60%"),
        ("rotate_+10", Strong, "rotate +10.0"),
        ("rotate_-10", Strong, "rotate -10.0"),
        (
            "crop_70+rotate_5+jpeg_50",
            Strong,
            "crop 70% + rotate +5.0 + jpeg q50",
        ),
        (
            "rescale_33+caption_8+contrast_1.3",
            Strong,
            "rescale 33% + caption 8% + contrast x1.30",
        ),
        ("flip", Flip, "flip"),
    ];
    let edits = protocol_edits();
    let mut rng = StdRng::seed_from_u64(1);
    let got: Vec<(&str, Strength, String)> = edits
        .iter()
        .map(|e| (e.name, e.strength, (e.make)(&mut rng).to_string()))
        .collect();
    let want: Vec<(&str, Strength, String)> = want
        .iter()
        .map(|&(n, s, e)| (n, s, e.to_string()))
        .collect();
    assert_eq!(got, want);
    // Centre crops are centred; random positions are drawn.
    for e in &edits {
        let (a, b) = ((e.make)(&mut rng), (e.make)(&mut rng));
        let random = [
            "caption_5",
            "crop_60_random",
            "crop_70+rotate_5+jpeg_50",
            "rescale_33+caption_8+contrast_1.3",
        ]
        .contains(&e.name);
        assert_eq!(a != b, random, "{}", e.name);
        if e.name.starts_with("crop_") && !random {
            assert!(matches!(a, crate::edits::Edit::Crop { at: (0.5, 0.5), .. }));
        }
    }
}

/// A copy is its edit of the original saved as JPEG q90; the seed and the pair draw the
/// random positions (other seed, other crops; other original, other crop).
#[test]
fn copies_are_their_edit_saved_at_q90_with_draws_seeded_per_pair() {
    let edits = protocol_edits();
    let original = image::RgbImage::from_fn(96, 64, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 3) as u8, ((x ^ y) * 4) as u8])
    });
    let originals = vec![original.clone(), original.clone(), original];
    let copies = make_copies(&originals, &edits, 5);
    let again = make_copies(&originals, &edits, 6);
    assert_eq!(COPY_JPEG_QUALITY, 90);
    let by_name = |name: &str| edits.iter().position(|e| e.name == name).unwrap();
    for name in ["gray", "rotate_+3", "crop_80"] {
        let e = by_name(name);
        let mut rng = StdRng::seed_from_u64(0);
        let want = crate::edits::jpeg(&(edits[e].make)(&mut rng).apply(&originals[0]), 90);
        for o in 0..3 {
            let copy = &copies[o * edits.len() + e];
            assert_eq!((copy.original, copy.edit), (o, e));
            assert_eq!(copy.image, want, "{name}");
            assert_eq!(again[o * edits.len() + e].image, want, "{name}");
        }
    }
    let e = by_name("crop_60_random");
    let crops: Vec<&image::RgbImage> = (0..3).map(|o| &copies[o * edits.len() + e].image).collect();
    assert!(crops[0] != crops[1] && crops[1] != crops[2] && crops[0] != crops[2]);
    assert_ne!(*crops[0], again[e].image);
}

/// The protocol in its words, by sorting instead of histograms: every group's negatives and
/// positives listed, each operating point the largest distance whose share of negatives at
/// or below it stays within the target (compared in integers), each query's precision one
/// over its original's expected rank among the candidates (ties in random order), the curve
/// at each distance a pair has.
fn reference(
    dist: &dyn Fn(bool, usize, usize) -> u32,
    max: u32,
    meta: &[(usize, usize)],
    edits: &[ProtocolEdit],
    source_of: &[usize],
) -> Vec<(Strength, GroupScore)> {
    let mut out = Vec::new();
    for strength in [Strength::Moderate, Strength::Strong, Strength::Flip] {
        let members: Vec<usize> = (0..meta.len())
            .filter(|&c| edits[meta[c].1].strength == strength)
            .collect();
        if members.is_empty() {
            continue;
        }
        let (mut negatives, mut positives, mut precisions) = (vec![], vec![], vec![]);
        for &q in &members {
            let (src, e) = meta[q];
            let own = dist(false, q, src);
            positives.push((edits[e].name, own));
            // (distance, whether the pair is a negative) for every other candidate.
            let mut others: Vec<(u32, bool)> = vec![];
            for o in 0..source_of.len() {
                if o != src {
                    others.push((dist(false, q, o), source_of[o] != source_of[src]));
                }
            }
            for &c in &members {
                let o = meta[c].0;
                if o != src {
                    others.push((dist(true, q, c), source_of[o] != source_of[src]));
                }
            }
            negatives.extend(others.iter().filter(|p| p.1).map(|p| p.0.min(max)));
            let closer = others.iter().filter(|p| p.0 < own).count() as f64;
            let ties = others.iter().filter(|p| p.0 == own).count() as f64;
            precisions.push(1.0 / (1.0 + closer + ties / 2.0));
        }
        negatives.sort_unstable();
        let total = negatives.len();
        let at_most = |list: &[u32], t: u32| list.iter().filter(|&&d| d <= t).count();
        let own: Vec<u32> = positives.iter().map(|p| p.1.min(max)).collect();
        // The target as one pair in `per`, compared in integers.
        let point = |per: usize| {
            let threshold = (0..=max)
                .take_while(|&t| total > 0 && at_most(&negatives, t) * per <= total)
                .last();
            let share = |list: &[u32], of: usize| match threshold {
                Some(t) => at_most(list, t) as f64 / of as f64,
                None => 0.0,
            };
            OperatingPoint {
                fpr_target: 1.0 / per as f64,
                threshold,
                tpr: share(&own, own.len()),
                fpr: share(&negatives, total),
                negatives: total as u64,
            }
        };
        let at_1e3 = point(1_000);
        let mut tpr_per_edit = BTreeMap::new();
        for name in positives.iter().map(|p| p.0) {
            let mine: Vec<u32> = positives
                .iter()
                .filter(|p| p.0 == name)
                .map(|p| p.1)
                .collect();
            let hit = at_1e3.threshold.map_or(0, |t| at_most(&mine, t));
            tpr_per_edit.insert(name.to_string(), hit as f64 / mine.len() as f64);
        }
        let mut distances: Vec<u32> = negatives.iter().chain(&own).copied().collect();
        distances.sort_unstable();
        distances.dedup();
        let roc = distances
            .iter()
            .map(|&t| {
                let rate = |list: &[u32]| at_most(list, t) as f64 / list.len().max(1) as f64;
                (rate(&negatives), rate(&own))
            })
            .collect();
        out.push((
            strength,
            GroupScore {
                queries: members.len(),
                at_1e2: point(100),
                at_1e3,
                at_1e4: point(10_000),
                map: precisions.iter().sum::<f64>() / precisions.len() as f64,
                tpr_per_edit,
                roc,
            },
        ));
    }
    out
}

fn assert_scores_match(got: &HashScore, want: &[(Strength, GroupScore)]) {
    assert_eq!(got.groups.len(), want.len(), "{}: groups", got.name);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    for (strength, w) in want {
        let g = &got.groups[strength];
        let at = |what: &str| format!("{} {strength:?} {what}", got.name);
        assert_eq!(g.queries, w.queries, "{}", at("queries"));
        for (p, q, name) in [
            (&g.at_1e2, &w.at_1e2, "1e-2"),
            (&g.at_1e3, &w.at_1e3, "1e-3"),
            (&g.at_1e4, &w.at_1e4, "1e-4"),
        ] {
            assert_eq!(
                (p.threshold, p.negatives, p.fpr_target),
                (q.threshold, q.negatives, q.fpr_target),
                "{}",
                at(name)
            );
            assert!(
                close(p.tpr, q.tpr) && close(p.fpr, q.fpr),
                "{}: {p:?} {q:?}",
                at(name)
            );
        }
        assert!(close(g.map, w.map), "{}: {} {}", at("mAP"), g.map, w.map);
        assert_eq!(
            g.tpr_per_edit.len(),
            w.tpr_per_edit.len(),
            "{}",
            at("edits")
        );
        for (name, v) in &w.tpr_per_edit {
            assert!(close(g.tpr_per_edit[name], *v), "{}", at(name));
        }
        assert_eq!(g.roc.len(), w.roc.len(), "{}", at("curve"));
        for (a, b) in g.roc.iter().zip(&w.roc) {
            assert!(
                close(a.0, b.0) && close(a.1, b.1),
                "{}: {a:?} {b:?}",
                at("curve")
            );
        }
    }
}

/// Scores of codes that are neither perfect nor constant, against [`reference`]: 16-bit
/// codes (random pairs fall within 1 or 2 bits often enough to set the points at 1e-3 and
/// 1e-4), copies 0 to 5 bits from their original, a random subset of the pairs (edits of
/// unequal counts, a group may be missing), and originals 0-11 tiles of four sources.
#[test]
fn scores_match_the_protocol_in_its_words_on_random_codes() {
    let edits = protocol_edits();
    let mut rng = StdRng::seed_from_u64(7);
    for round in 0..4 {
        let n = 24 + 4 * round;
        let originals: Vec<u64> = (0..n).map(|_| rng.random::<u64>() & 0xFFFF).collect();
        let keep = [0.9, 0.5, 0.2, 1.0][round];
        let meta: Vec<(usize, usize)> = copy_pairs(n, edits.len())
            .into_iter()
            .filter(|&(_, e)| round != 2 || edits[e].strength != Strength::Flip)
            .filter(|_| rng.random_bool(keep))
            .collect();
        let copies: Vec<u64> = meta
            .iter()
            .map(|&(o, _)| {
                let mut c = originals[o];
                for _ in 0..rng.random_range(0..=5) {
                    c ^= 1 << rng.random_range(0..16);
                }
                c
            })
            .collect();
        let source_of: Vec<usize> = (0..n).map(|o| if o < 12 { o / 3 } else { o }).collect();
        let got = score("random", 16, &originals, &copies, &meta, &edits, &source_of);
        let dist = |copy: bool, q: usize, other: usize| {
            let b = if copy {
                copies[other]
            } else {
                originals[other]
            };
            (copies[q] ^ b).count_ones()
        };
        let want = reference(&dist, 16, &meta, &edits, &source_of);
        assert!(
            want.iter()
                .any(|(_, g)| g.at_1e4.threshold.is_some() && g.at_1e3.tpr < 1.0),
            "round {round}: the points are not trivial"
        );
        assert_scores_match(&got, &want);
        assert_eq!((got.bits, got.unit), (16, 1.0));
        // The same codes as 80-bit ones, two words each (the first all ones): each code is
        // its own pair of words, and the scale runs to 80.
        let wide = |v: &[u64]| -> Vec<u64> { v.iter().flat_map(|&c| [u64::MAX, c]).collect() };
        let got = score(
            "wide",
            80,
            &wide(&originals),
            &wide(&copies),
            &meta,
            &edits,
            &source_of,
        );
        assert_scores_match(&got, &reference(&dist, 80, &meta, &edits, &source_of));
        if round == 0 {
            // Every original cut from one source: no negative pair, so no FPR to hold.
            let one = vec![0; n];
            let got = score("one", 16, &originals, &copies, &meta, &edits, &one);
            assert_scores_match(&got, &reference(&dist, 16, &meta, &edits, &one));
            let m = &got.groups[&Strength::Moderate].at_1e3;
            assert_eq!((m.threshold, m.tpr, m.negatives), (None, 0.0, 0));
        }
    }
}

/// Soft codes against [`reference`] with the soft distance in hundredths, capped at the
/// scale's top (four times the bits, in hundredths).
#[test]
fn soft_scores_match_the_protocol_in_its_words() {
    let edits = protocol_edits();
    let bits = 8;
    let mut rng = StdRng::seed_from_u64(11);
    let n = 16;
    let logits: Vec<f32> = (0..n * bits).map(|_| rng.random_range(-3.0..3.0)).collect();
    let meta = copy_pairs(n, edits.len());
    let copy_logits: Vec<f32> = meta
        .iter()
        .flat_map(|&(o, _)| logits[o * bits..(o + 1) * bits].to_vec())
        .map(|z| z + rng.random_range(-1.5..1.5))
        .collect();
    let soft = |l: &[f32]| SoftCodes::from_logits(bits, l).unwrap();
    let (so, sc) = (soft(&logits), soft(&copy_logits));
    let own: Vec<usize> = (0..n).collect();
    let got = score_soft("soft", &so, &sc, &meta, &edits, &own);
    let dist = |copy: bool, q: usize, other: usize| {
        let b = if copy { sc.row(other) } else { so.row(other) };
        (imsat_runtime::soft_code::distance(sc.row(q), b) * 100.0).round() as u32
    };
    let want = reference(&dist, 400 * bits as u32, &meta, &edits, &own);
    assert_scores_match(&got, &want);
    assert_eq!((got.bits, got.unit), (bits, 0.01));
}

/// A false-positive rate exactly at the target holds it: 25 originals, one copy each (equal
/// to its original), three pairs of them sharing a code. Of the 1,200 negative pairs, 12 (1%)
/// sit at distance 0, so the 1e-2 point keeps every distance below the next negative's.
#[test]
fn an_fpr_exactly_at_the_target_is_within_it() {
    let edits = protocol_edits();
    let mut rng = StdRng::seed_from_u64(9);
    let mut originals: Vec<u64> = (0..25).map(|_| rng.random()).collect();
    for twin in [1, 3, 5] {
        originals[twin] = originals[twin - 1];
    }
    let meta: Vec<(usize, usize)> = (0..25).map(|o| (o, 0)).collect();
    let own: Vec<usize> = (0..25).collect();
    let s = score("twins", 64, &originals, &originals, &meta, &edits, &own);
    let at = &s.groups[&Strength::Moderate].at_1e2;
    assert_eq!(at.negatives, 1_200);
    assert_eq!(at.fpr, 0.01);
    let nearest_other = (0..25)
        .flat_map(|a| (0..25).map(move |b| (a, b)))
        .filter(|&(a, b)| originals[a] != originals[b])
        .map(|(a, b)| (originals[a] ^ originals[b]).count_ones())
        .min()
        .unwrap();
    assert_eq!(at.threshold, Some(nearest_other - 1));
    assert_eq!(at.tpr, 1.0);
}

/// Eight logits of a picture: each 4x2 cell's mean luma-ish value against the whole's.
fn cell_logits(img: &image::RgbImage) -> Vec<f32> {
    let (w, h) = img.dimensions();
    let value = |x: u32, y: u32| {
        let p = img.get_pixel(x, y);
        f32::from(p[0]) + f32::from(p[1]) + f32::from(p[2])
    };
    let all = (0..h).flat_map(|y| (0..w).map(move |x| (x, y)));
    let mean = all.clone().map(|(x, y)| value(x, y)).sum::<f32>() / (w * h) as f32;
    let mut cells = [0f32; 8];
    for (x, y) in all {
        cells[(y * 2 / h * 4 + x * 4 / w) as usize] += value(x, y) / (w * h / 8) as f32;
    }
    cells.iter().map(|c| c - mean).collect()
}

/// The benchmark makes and hashes its copies a part at a time: each hash scores as the
/// protocol scores every copy made at once, in the order given, a logits hash by its codes
/// and then (after all others) by its soft codes; `on_copies` is told every copy.
#[test]
fn the_bench_scores_as_if_every_copy_were_made_at_once() {
    let originals: Vec<image::RgbImage> = (0..5u32)
        .map(|k| {
            image::RgbImage::from_fn(48, 32, |x, y| {
                let v = |a: u32| (a % 256) as u8;
                image::Rgb([v(x * 5 + k * 50), v(y * 7 + k * 30), v((x ^ y) * (k + 1))])
            })
        })
        .collect();
    let bench = Bench::new(originals.clone(), &["a", "b", "b", "c", "d"], 9);
    let pack = |logits: &[f32]| Codes::from_logits(8, logits).unwrap().into_words();
    let logits_of =
        |imgs: &[&image::RgbImage]| imgs.iter().flat_map(|i| cell_logits(i)).collect::<Vec<_>>();
    let hashes = [
        Hash::Words {
            name: "cells".into(),
            bits: 8,
            of: Box::new(move |imgs| Ok(pack(&logits_of(imgs)))),
        },
        Hash::Logits {
            name: "cell logits".into(),
            bits: 8,
            of: Box::new(move |imgs| Ok(logits_of(imgs))),
        },
    ];
    let seen = std::cell::Cell::new(0);
    let got = bench.score(&hashes, &|n| seen.set(seen.get() + n)).unwrap();
    assert_eq!(seen.get(), bench.pairs.len());

    let copies = make_copies(&originals, &bench.edits, 9);
    let o = logits_of(&originals.iter().collect::<Vec<_>>());
    let c = logits_of(&copies.iter().map(|c| &c.image).collect::<Vec<_>>());
    let (meta, edits, sources) = (&bench.pairs, &bench.edits, &bench.sources);
    let soft = |l: &[f32]| SoftCodes::from_logits(8, l).unwrap();
    let want = [
        score("cells", 8, &pack(&o), &pack(&c), meta, edits, sources),
        score("cell logits", 8, &pack(&o), &pack(&c), meta, edits, sources),
        score_soft(
            "cell logits soft",
            &soft(&o),
            &soft(&c),
            meta,
            edits,
            sources,
        ),
    ];
    let json = |s: &HashScore| serde_json::to_string(s).unwrap();
    assert_eq!(got.len(), 3);
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(json(g), json(w));
    }
    // The copies are told apart: not every score is perfect or nothing.
    let moderate = &got[0].groups[&Strength::Moderate];
    assert!(moderate.map > 0.2 && moderate.map < 1.0, "{}", moderate.map);
}
