//! Scores of a hash on the protocol's copies: TPR at fixed FPRs, per edit, and mAP.

use std::collections::BTreeMap;

use serde::Serialize;

use imsat_runtime::soft_code::{self, SoftCodes};

use super::{ProtocolEdit, Strength};

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
            // No negative pair (every image of one source): no false-positive rate to hold.
            for (d, &k) in neg.iter().enumerate().filter(|_| total > 0) {
                cum += k;
                if cum as f64 / total as f64 > target {
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
