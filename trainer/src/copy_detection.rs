//! The copy-detection protocol: how well a hash finds edited copies of photos.
//!
//! Every original gets a fixed list of edited copies ([`protocol_edits`]), each saved as JPEG
//! q90 as a real copy would be. A copy is a query that must find its own original among all
//! originals plus all copies of the *other* originals. Scored per group of edits
//! ([`Strength`]):
//! - TPR at FPR 1e-3 and 1e-4: the largest Hamming threshold whose false-positive rate over
//!   pairs (copy, image of another original) stays within the target, and the fraction of
//!   (copy, own original) pairs within it. The number of negative pairs says how many false
//!   positives the target allows (1e-4 of 300 k pairs is 30). Originals cut from one source
//!   (the tiles of one photograph and its full frame) are not negatives of each other: a
//!   tile is a crop of the full frame, and the benchmark counts false positives over images
//!   of different sources; they still rank in the mAP.
//! - TPR per edit at the FPR 1e-3 threshold of its group.
//! - mAP of retrieving the original: 1 / (expected rank of the original, ties in random order).
//!
//! It works on packed codes of any width, so learned codes and perceptual hashes are scored
//! by the same lines, and on soft codes ([`score_soft`]), whose distance replaces the
//! Hamming distance throughout.

use std::collections::BTreeMap;

use image::RgbImage;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;

use imsat_runtime::soft_code::{self, SoftCodes};

use crate::edits::{Edit, jpeg};

/// Edit groups, scored separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strength {
    /// JPEG, rescale, 80/90% centre crops, +-3 degrees, brightness, contrast, gray, blur 1,
    /// a caption box: what pHash already handles.
    Moderate,
    /// 60% crops at a random position, +-10 degrees, and combinations.
    Strong,
    /// Horizontal mirror (only a hash trained with `flip` is expected to see through it).
    Flip,
}

/// One edit of the protocol.
#[derive(Debug, Clone)]
pub struct ProtocolEdit {
    pub name: &'static str,
    pub strength: Strength,
    /// The edit for original `i` (random positions are drawn per original from the seed).
    pub make: fn(&mut StdRng) -> Edit,
}

/// Quality every copy is saved at.
pub const COPY_JPEG_QUALITY: u8 = 90;

/// The fixed edit list (the moderate part is the hidden benchmark's list).
pub fn protocol_edits() -> Vec<ProtocolEdit> {
    use Strength::*;
    let e = |name, strength, make| ProtocolEdit {
        name,
        strength,
        make,
    };
    vec![
        e("jpeg_q30", Moderate, |_| Edit::Jpeg { quality: 30 }),
        e("jpeg_q50", Moderate, |_| Edit::Jpeg { quality: 50 }),
        e("rescale_50", Moderate, |_| Edit::Rescale { factor: 0.5 }),
        e("rescale_25", Moderate, |_| Edit::Rescale { factor: 0.25 }),
        e("crop_80", Moderate, |_| Edit::Crop {
            area: 0.8,
            at: (0.5, 0.5),
        }),
        e("crop_90", Moderate, |_| Edit::Crop {
            area: 0.9,
            at: (0.5, 0.5),
        }),
        e("rotate_+3", Moderate, |_| Edit::Rotate { degrees: 3.0 }),
        e("rotate_-3", Moderate, |_| Edit::Rotate { degrees: -3.0 }),
        e("brightness_1.2", Moderate, |_| Edit::Brightness {
            factor: 1.2,
        }),
        e("brightness_0.8", Moderate, |_| Edit::Brightness {
            factor: 0.8,
        }),
        e("contrast_0.7", Moderate, |_| Edit::Contrast { factor: 0.7 }),
        e("gray", Moderate, |_| Edit::Gray),
        e("blur_1", Moderate, |_| Edit::Blur { sigma: 1.0 }),
        e("caption_5", Moderate, |r| Edit::Caption {
            area: 0.05,
            at: (r.random(), r.random_range(0.75..=1.0)),
            seed: r.random(),
        }),
        e("crop_60_random", Strong, |r| Edit::Crop {
            area: 0.6,
            at: (r.random(), r.random()),
        }),
        e("rotate_+10", Strong, |_| Edit::Rotate { degrees: 10.0 }),
        e("rotate_-10", Strong, |_| Edit::Rotate { degrees: -10.0 }),
        e("crop_70+rotate_5+jpeg_50", Strong, |r| {
            Edit::Chain(vec![
                Edit::Crop {
                    area: 0.7,
                    at: (r.random(), r.random()),
                },
                Edit::Rotate { degrees: 5.0 },
                Edit::Jpeg { quality: 50 },
            ])
        }),
        e("rescale_33+caption_8+contrast_1.3", Strong, |r| {
            Edit::Chain(vec![
                Edit::Rescale { factor: 0.33 },
                Edit::Caption {
                    area: 0.08,
                    at: (r.random(), r.random()),
                    seed: r.random(),
                },
                Edit::Contrast { factor: 1.3 },
            ])
        }),
        e("flip", Flip, |_| Edit::Flip),
    ]
}

/// An edited copy: which original and which protocol edit.
#[derive(Debug, Clone)]
pub struct Copy {
    pub original: usize,
    pub edit: usize,
    pub image: RgbImage,
}

/// Every protocol edit of every original, saved as JPEG q90, seeded (the same copies for every
/// hash scored). Runs on every core.
pub fn make_copies(originals: &[RgbImage], edits: &[ProtocolEdit], seed: u64) -> Vec<Copy> {
    let jobs: Vec<(usize, usize)> = (0..originals.len())
        .flat_map(|o| (0..edits.len()).map(move |e| (o, e)))
        .collect();
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .clamp(1, 16);
    let chunk = jobs.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|&(o, e)| {
                            let mut rng = StdRng::seed_from_u64(
                                seed ^ ((o as u64) << 20 | e as u64)
                                    .wrapping_mul(0x9E37_79B9_7F4A_7C15),
                            );
                            let edit = (edits[e].make)(&mut rng);
                            Copy {
                                original: o,
                                edit: e,
                                image: jpeg(&edit.apply(&originals[o]), COPY_JPEG_QUALITY),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("an edit worker panicked"))
            .collect()
    })
}

/// TPR at one FPR target.
#[derive(Debug, Clone, Serialize)]
pub struct OperatingPoint {
    pub fpr_target: f64,
    /// Largest distance counted as a match, in the hash's units ([`HashScore::unit`]: bits,
    /// or hundredths of a soft distance); `None` when even distance 0 exceeds the target.
    pub threshold: Option<u32>,
    pub tpr: f64,
    /// The false-positive rate actually reached at the threshold.
    pub fpr: f64,
    /// Negative pairs behind the point (the target allows `fpr_target * negatives` of them).
    pub negatives: u64,
}

/// Scores of one hash on one group of edits.
#[derive(Debug, Clone, Serialize)]
pub struct GroupScore {
    pub queries: usize,
    /// A loose operating point: the candidates' radius of a soft check.
    pub at_1e2: OperatingPoint,
    pub at_1e3: OperatingPoint,
    pub at_1e4: OperatingPoint,
    pub map: f64,
    /// TPR of each edit at the group's FPR 1e-3 threshold.
    pub tpr_per_edit: BTreeMap<String, f64>,
    /// The ROC curve, (FPR, TPR) points by rising threshold (for plots; not serialized).
    #[serde(skip)]
    pub roc: Vec<(f64, f64)>,
}

/// Scores of one hash.
#[derive(Debug, Clone, Serialize)]
pub struct HashScore {
    pub name: String,
    pub bits: usize,
    /// What one unit of the thresholds is worth: 1 bit for codes, 0.01 for soft distances.
    pub unit: f64,
    pub groups: BTreeMap<Strength, GroupScore>,
}

/// Score packed codes: `originals[i]` and `copies[c]` are codes of `bits.div_ceil(64)` words,
/// `meta[c]` says which original and edit copy `c` is, and `source_of[i]` which source
/// original `i` was cut from (its own index when every original is its own picture; see
/// [`source_ids`]).
pub fn score(
    name: &str,
    bits: usize,
    originals: &[u64],
    copies: &[u64],
    meta: &[(usize, usize)],
    edits: &[ProtocolEdit],
    source_of: &[usize],
) -> HashScore {
    let words = bits.div_ceil(64);
    let code = |item: Item| -> &[u64] {
        let (v, i) = match item {
            Item::Original(i) => (originals, i),
            Item::Copy(c) => (copies, c),
        };
        &v[i * words..(i + 1) * words]
    };
    let dist = |a: Item, b: Item| imsat_runtime::hamming::distance(code(a), code(b));
    let scale = Scale {
        max: bits as u32,
        unit: 1.0,
    };
    score_by(name, bits, scale, dist, meta, edits, source_of)
}

/// Score soft codes ([`SoftCodes`]) by their soft distance, counted in hundredths: the same
/// protocol as [`score`], with the images' soft codes in place of their codes.
pub fn score_soft(
    name: &str,
    originals: &SoftCodes,
    copies: &SoftCodes,
    meta: &[(usize, usize)],
    edits: &[ProtocolEdit],
    source_of: &[usize],
) -> HashScore {
    let bits = originals.bits();
    let row = |item: Item| match item {
        Item::Original(i) => originals.row(i),
        Item::Copy(c) => copies.row(c),
    };
    let dist = |a: Item, b: Item| (soft_code::distance(row(a), row(b)) * 100.0).round() as u32;
    let scale = Scale {
        max: 400 * bits as u32,
        unit: 0.01,
    };
    score_by(name, bits, scale, dist, meta, edits, source_of)
}

/// An image of the protocol: an original or a copy, by index.
#[derive(Clone, Copy)]
enum Item {
    Original(usize),
    Copy(usize),
}

/// The distances a hash has: whole units up to `max`, each worth `unit`.
#[derive(Clone, Copy)]
struct Scale {
    max: u32,
    unit: f64,
}

/// The protocol over any distance between images in whole units ([`Scale`]).
fn score_by(
    name: &str,
    bits: usize,
    scale: Scale,
    dist: impl Fn(Item, Item) -> u32,
    meta: &[(usize, usize)],
    edits: &[ProtocolEdit],
    source_of: &[usize],
) -> HashScore {
    let n_orig = source_of.len();
    let mut groups = BTreeMap::new();
    for strength in [Strength::Moderate, Strength::Strong, Strength::Flip] {
        let members: Vec<usize> = (0..meta.len())
            .filter(|&c| edits[meta[c].1].strength == strength)
            .collect();
        if members.is_empty() {
            continue;
        }
        // Histograms of distances: negatives over all queries, positives per edit.
        let mut neg = vec![0u64; scale.max as usize + 1];
        let mut pos: Vec<(usize, u32)> = Vec::with_capacity(members.len());
        let mut ap_sum = 0.0;
        for &q in &members {
            let (src, e) = meta[q];
            let d_pos = dist(Item::Copy(q), Item::Original(src));
            let (mut closer, mut ties) = (0u64, 0u64);
            let mut count = |d: u32, negative: bool| {
                if negative {
                    neg[d.min(scale.max) as usize] += 1;
                }
                if d < d_pos {
                    closer += 1;
                } else if d == d_pos {
                    ties += 1;
                }
            };
            for o in (0..n_orig).filter(|&o| o != src) {
                count(
                    dist(Item::Copy(q), Item::Original(o)),
                    source_of[o] != source_of[src],
                );
            }
            for &c in members.iter().filter(|&&c| meta[c].0 != src) {
                let o = meta[c].0;
                count(
                    dist(Item::Copy(q), Item::Copy(c)),
                    source_of[o] != source_of[src],
                );
            }
            ap_sum += 1.0 / (1.0 + closer as f64 + ties as f64 / 2.0);
            pos.push((e, d_pos));
        }
        let total: u64 = neg.iter().sum();
        let point = |target: f64| {
            let mut threshold = None;
            let mut cum = 0u64;
            for (d, &k) in neg.iter().enumerate() {
                cum += k;
                if total > 0 && cum as f64 / total as f64 > target {
                    break;
                }
                threshold = Some(d as u32);
            }
            let within = |t: Option<u32>| move |d: u32| t.is_some_and(|t| d <= t);
            let tpr =
                pos.iter().filter(|(_, d)| within(threshold)(*d)).count() as f64 / pos.len() as f64;
            let fpr = match threshold {
                Some(t) => neg[..=t as usize].iter().sum::<u64>() as f64 / total.max(1) as f64,
                None => 0.0,
            };
            OperatingPoint {
                fpr_target: target,
                threshold,
                tpr,
                fpr,
                negatives: total,
            }
        };
        let at_1e2 = point(1e-2);
        let at_1e3 = point(1e-3);
        let at_1e4 = point(1e-4);
        // The whole curve: (FPR, TPR) at every threshold where either changes.
        let mut pos_at = vec![0u64; scale.max as usize + 1];
        for &(_, d) in &pos {
            pos_at[d.min(scale.max) as usize] += 1;
        }
        let (mut cum_neg, mut cum_pos) = (0u64, 0u64);
        let mut roc = Vec::new();
        for (&k, &p) in neg.iter().zip(&pos_at) {
            if k + p > 0 {
                (cum_neg, cum_pos) = (cum_neg + k, cum_pos + p);
                let rate = |n: u64, of: usize| n as f64 / of.max(1) as f64;
                roc.push((rate(cum_neg, total as usize), rate(cum_pos, pos.len())));
            }
        }
        let mut per_edit: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for &(e, d) in &pos {
            let slot = per_edit.entry(edits[e].name.to_string()).or_default();
            slot.1 += 1;
            if at_1e3.threshold.is_some_and(|t| d <= t) {
                slot.0 += 1;
            }
        }
        groups.insert(
            strength,
            GroupScore {
                queries: members.len(),
                map: ap_sum / members.len() as f64,
                tpr_per_edit: per_edit
                    .into_iter()
                    .map(|(k, (hit, all))| (k, hit as f64 / all as f64))
                    .collect(),
                at_1e2,
                at_1e3,
                at_1e4,
                roc,
            },
        );
    }
    HashScore {
        name: name.to_string(),
        bits,
        unit: scale.unit,
        groups,
    }
}

/// Source ids (0, 1, ... in order of first appearance) of originals named by a group label
/// each, e.g. the `group` column of a photo manifest.
pub fn source_ids<S: AsRef<str>>(groups: &[S]) -> Vec<usize> {
    let mut ids = std::collections::HashMap::new();
    groups
        .iter()
        .map(|g| {
            let next = ids.len();
            *ids.entry(g.as_ref()).or_insert(next)
        })
        .collect()
}

#[cfg(test)]
mod tests {
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
}
