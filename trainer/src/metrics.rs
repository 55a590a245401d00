//! Evaluation: clustering accuracy and NMI; retrieval mAP, precision@500 and precision within
//! Hamming radius 2, with the protocol of the IMSAT paper's code.

use imsat_runtime::hamming::distance as hamming;
use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;
use rand::SeedableRng;
use rand::seq::SliceRandom;

pub use imsat_data::Label;

/// Counts of each (cluster, label) pair: one row per cluster id (0..=max id), one column per
/// label (0..=max label).
pub fn contingency_table(clusters: &[usize], labels: &[Label]) -> Vec<Vec<usize>> {
    assert_eq!(clusters.len(), labels.len());
    let k = clusters.iter().copied().max().unwrap_or(0) + 1;
    let c = labels.iter().map(|&l| l as usize).max().unwrap_or(0) + 1;
    let mut table = vec![vec![0usize; c]; k];
    for (&cl, &lab) in clusters.iter().zip(labels) {
        table[cl][lab as usize] += 1;
    }
    table
}

/// The (cluster, label) pairs that occur, with their counts, in order: the nonzero cells of
/// the contingency table, which is mostly zeros when the labels or the clusters are many
/// (10 clusters against 10,000 labels; up to 65,536 labels).
fn pair_counts(clusters: &[usize], labels: &[Label]) -> Vec<((usize, Label), usize)> {
    let mut pairs = std::collections::BTreeMap::<(usize, Label), usize>::new();
    for (&cl, &lab) in clusters.iter().zip(labels) {
        *pairs.entry((cl, lab)).or_default() += 1;
    }
    pairs.into_iter().collect()
}

/// Clustering accuracy under the best one-to-one map of clusters to labels (Hungarian).
///
/// A cluster and a label that share no sample add nothing to a match, so the pairs that
/// occur are split into connected parts (clusters and labels joined by shared samples), each
/// matched alone on a rectangle of its own clusters and labels: 10 clusters against 10,000
/// labels is 10 small problems, where one square of 10,000 would take the Hungarian's
/// O(n^3) (half an hour).
pub fn clustering_accuracy(clusters: &[usize], labels: &[Label]) -> f64 {
    assert_eq!(clusters.len(), labels.len());
    if clusters.is_empty() {
        return 0.0;
    }
    let pairs = pair_counts(clusters, labels);
    // Union-find over the clusters (nodes 0..) and labels (after them) that occur.
    let cluster_ids: Vec<usize> = dedup_sorted(pairs.iter().map(|p| p.0.0));
    let label_ids: Vec<Label> = dedup_sorted(pairs.iter().map(|p| p.0.1));
    let node_of_cluster = |c: usize| {
        cluster_ids
            .binary_search(&c)
            .expect("a cluster that occurs")
    };
    let node_of_label =
        |l: Label| cluster_ids.len() + label_ids.binary_search(&l).expect("a label that occurs");
    let mut parent: Vec<usize> = (0..cluster_ids.len() + label_ids.len()).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for &((cl, lab), _) in &pairs {
        let (a, b) = (
            root(&mut parent, node_of_cluster(cl)),
            root(&mut parent, node_of_label(lab)),
        );
        parent[a] = b;
    }
    let mut parts = std::collections::BTreeMap::<usize, Vec<((usize, Label), usize)>>::new();
    for &pair in &pairs {
        let r = root(&mut parent, node_of_cluster(pair.0.0));
        parts.entry(r).or_default().push(pair);
    }
    let matched: i64 = parts.values().map(|part| best_match(part)).sum();
    matched as f64 / clusters.len() as f64
}

/// The sorted distinct values of `values`.
fn dedup_sorted<T: Ord>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = values.collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The heaviest one-to-one match of one connected part's clusters and labels: the Hungarian
/// on the rectangle with the shorter side as rows (as `kuhn_munkres` needs).
fn best_match(part: &[((usize, Label), usize)]) -> i64 {
    let rows = dedup_sorted(part.iter().map(|p| p.0.0));
    let cols = dedup_sorted(part.iter().map(|p| p.0.1));
    let transpose = rows.len() > cols.len();
    let (r, c) = match transpose {
        false => (rows.len(), cols.len()),
        true => (cols.len(), rows.len()),
    };
    let mut counts = Matrix::new(r, c, 0i64);
    for &((cl, lab), n) in part {
        let i = rows.binary_search(&cl).expect("a row of the part");
        let j = cols.binary_search(&lab).expect("a column of the part");
        let at = if transpose { (j, i) } else { (i, j) };
        counts[at] = n as i64;
    }
    kuhn_munkres(&counts).0
}

/// Normalized mutual information, arithmetic normalization (scikit-learn's default), from
/// the pairs that occur.
///
/// # Panics
/// If `clusters` and `labels` differ in length (as [`clustering_accuracy`]).
pub fn nmi(clusters: &[usize], labels: &[Label]) -> f64 {
    assert_eq!(clusters.len(), labels.len(), "one cluster per label");
    let n = clusters.len() as f64;
    let pairs = pair_counts(clusters, labels);
    let mut row = std::collections::BTreeMap::<usize, f64>::new();
    let mut col = std::collections::BTreeMap::<Label, f64>::new();
    for &((cl, lab), v) in &pairs {
        *row.entry(cl).or_default() += v as f64;
        *col.entry(lab).or_default() += v as f64;
    }
    let h = |v: &mut dyn Iterator<Item = f64>| -v.map(|x| x / n * (x / n).ln()).sum::<f64>();
    let mi: f64 = pairs
        .iter()
        .map(|&((cl, lab), v)| {
            let v = v as f64;
            v / n * (v * n / (row[&cl] * col[&lab])).ln()
        })
        .sum();
    let denom = (h(&mut row.values().copied()) + h(&mut col.values().copied())) / 2.0;
    if denom <= 0.0 {
        1.0
    } else {
        (mi / denom).clamp(0.0, 1.0)
    }
}

/// Query/gallery split: from a seeded permutation, `per_class` queries of each label (at most
/// half of that label's samples, so that a small data set keeps every class in the gallery);
/// the rest is the gallery.
pub fn retrieval_split(labels: &[Label], per_class: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let mut count = vec![0usize; classes];
    for &l in labels {
        count[l as usize] += 1;
    }
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let mut taken = vec![0usize; classes];
    let (mut queries, mut gallery) = (Vec::new(), Vec::new());
    for i in order {
        let l = labels[i] as usize;
        if taken[l] < per_class.min(count[l] / 2) {
            taken[l] += 1;
            queries.push(i);
        } else {
            gallery.push(i);
        }
    }
    (queries, gallery)
}

/// Retrieval quality of binary codes, means over `queries` queries. With none (every label
/// its own class, or a single sample) the means are 0 and say nothing: reports give null.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Retrieval {
    pub queries: usize,
    /// Items each query is ranked against.
    pub gallery: usize,
    pub map: f64,
    pub precision_at_500: f64,
    pub precision_within_r2: f64,
}

/// mAP (ties share one threshold step, as scikit-learn's `average_precision_score` on scores
/// `1/(1+d)`), precision@500 (stable sort by distance) and precision within radius 2 (0 for a
/// query with nothing inside) of `codes` (`words` u64 per code) over the split.
pub fn retrieval_metrics(
    codes: &[u64],
    words: usize,
    bits: usize,
    labels: &[Label],
    queries: &[usize],
    gallery: &[usize],
) -> Retrieval {
    let code = |i: usize| &codes[i * words..(i + 1) * words];
    let (mut map, mut p500, mut pr2) = (0.0, 0.0, 0.0);
    let mut dist = vec![0u32; gallery.len()];
    for &q in queries {
        let mut total = vec![0usize; bits + 1];
        let mut relevant = vec![0usize; bits + 1];
        for (slot, &g) in gallery.iter().enumerate() {
            let d = hamming(code(q), code(g));
            dist[slot] = d;
            total[d as usize] += 1;
            relevant[d as usize] += (labels[g] == labels[q]) as usize;
        }
        let all_relevant: usize = relevant.iter().sum();
        // AP: sum over distinct distances of (recall step) * (precision at that threshold).
        let (mut seen, mut hits, mut ap) = (0usize, 0usize, 0.0);
        for d in 0..=bits {
            if total[d] == 0 {
                continue;
            }
            seen += total[d];
            hits += relevant[d];
            ap += relevant[d] as f64 / all_relevant.max(1) as f64 * hits as f64 / seen as f64;
        }
        map += ap;
        // precision@500 with a stable sort: whole distance buckets, then gallery order.
        let top = 500.min(gallery.len());
        let (mut taken, mut good, mut d) = (0usize, 0usize, 0usize);
        while taken + total[d] <= top {
            taken += total[d];
            good += relevant[d];
            if taken == top {
                break;
            }
            d += 1;
        }
        if taken < top {
            for (slot, &g) in gallery.iter().enumerate() {
                if taken == top {
                    break;
                }
                if dist[slot] as usize == d {
                    taken += 1;
                    good += (labels[g] == labels[q]) as usize;
                }
            }
        }
        p500 += good as f64 / top.max(1) as f64;
        let within: usize = total.iter().take(3).sum();
        let within_good: usize = relevant.iter().take(3).sum();
        if within > 0 {
            pr2 += within_good as f64 / within as f64;
        }
    }
    let nq = queries.len().max(1) as f64;
    Retrieval {
        queries: queries.len(),
        gallery: gallery.len(),
        map: map / nq,
        precision_at_500: p500 / nq,
        precision_within_r2: pr2 / nq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_uses_the_best_cluster_to_label_map() {
        let clusters = [2, 2, 0, 0, 1, 1, 1];
        let labels = [0, 0, 1, 1, 2, 2, 0];
        assert_eq!(
            contingency_table(&clusters, &labels),
            vec![vec![0, 2, 0], vec![1, 0, 2], vec![2, 0, 0]]
        );
        assert!((clustering_accuracy(&clusters, &labels) - 6.0 / 7.0).abs() < 1e-12);
        // More clusters than labels: one cluster stays unmatched.
        assert!((clustering_accuracy(&[0, 1, 2, 3], &[0, 0, 1, 1]) - 0.5).abs() < 1e-12);
        // Ids far apart (4,096 clusters, a few used): the clusters that hold samples are
        // matched as they would be under ids 0, 1, 2, 3.
        let sparse = [4095, 7, 7, 2000, 4095, 0];
        let dense = [3, 1, 1, 2, 3, 0];
        let labels = [0, 1, 1, 2, 2, 0];
        let accuracy = clustering_accuracy(&sparse, &labels);
        assert!((accuracy - clustering_accuracy(&dense, &labels)).abs() < 1e-12);
        assert!((accuracy - 4.0 / 6.0).abs() < 1e-12, "{accuracy}");
    }

    /// The best map by trying every one: each cluster to a distinct label or to none.
    fn brute_force_accuracy(clusters: &[usize], labels: &[Label]) -> f64 {
        let table = contingency_table(clusters, labels);
        fn best(table: &[Vec<usize>], row: usize, used: &mut Vec<bool>) -> usize {
            if row == table.len() {
                return 0;
            }
            let mut top = best(table, row + 1, used);
            for lab in 0..used.len() {
                if !used[lab] {
                    used[lab] = true;
                    top = top.max(table[row][lab] + best(table, row + 1, used));
                    used[lab] = false;
                }
            }
            top
        }
        best(&table, 0, &mut vec![false; table[0].len()]) as f64 / clusters.len() as f64
    }

    #[test]
    fn accuracy_matches_every_map_tried_and_many_labels_are_quick() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..300 {
            use rand::Rng;
            let n = rng.random_range(1..12);
            let (k, c) = (rng.random_range(1..6), rng.random_range(1..6));
            let clusters: Vec<usize> = (0..n).map(|_| rng.random_range(0..k)).collect();
            let labels: Vec<Label> = (0..n).map(|_| rng.random_range(0..c) as Label).collect();
            let (fast, slow) = (
                clustering_accuracy(&clusters, &labels),
                brute_force_accuracy(&clusters, &labels),
            );
            assert!(
                (fast - slow).abs() < 1e-12,
                "{clusters:?} {labels:?}: {fast} vs {slow}"
            );
        }
        // 10 clusters against 10,000 labels, each label once: each cluster matches one
        // sample (a square of 10,000 took half an hour).
        let clusters: Vec<usize> = (0..10_000).map(|i| i % 10).collect();
        let labels: Vec<Label> = (0..10_000).map(|i| i as Label).collect();
        assert!((clustering_accuracy(&clusters, &labels) - 10.0 / 10_000.0).abs() < 1e-12);
        // One part of 32,768 labels of two samples each, one in each of two clusters.
        let labels: Vec<Label> = (0..65_536u32).map(|i| (i / 2) as Label).collect();
        let clusters: Vec<usize> = (0..65_536).map(|i| i % 2).collect();
        assert!((clustering_accuracy(&clusters, &labels) - 2.0 / 65_536.0).abs() < 1e-12);
    }

    #[test]
    fn nmi_matches_hand_values() {
        assert!((nmi(&[1, 1, 0, 0], &[0, 0, 1, 1]) - 1.0).abs() < 1e-12);
        // Independent: clusters split every class in half.
        assert!(nmi(&[0, 1, 0, 1], &[0, 0, 1, 1]).abs() < 1e-12);
        // Scikit-learn: normalized_mutual_info_score([0,0,1,1,1],[0,0,0,1,1]) = 0.43253...
        let v = nmi(&[0, 0, 1, 1, 1], &[0, 0, 0, 1, 1]);
        assert!((v - 0.432_538_07).abs() < 1e-6, "{v}");
    }

    #[test]
    fn retrieval_metrics_with_ties_match_hand_values() {
        // One query (id 0, label 0) and a gallery of 5 one-word codes at distances
        // 0 (rel), 1 (not), 1 (rel), 3 (rel), 3 (not).
        let codes = [0b0u64, 0b0, 0b1, 0b10, 0b111, 0b1110];
        let labels = [0, 0, 1, 0, 0, 1];
        let r = retrieval_metrics(&codes, 1, 64, &labels, &[0], &[1, 2, 3, 4, 5]);
        // Thresholds: d=0 -> P=1, R=1/3; d<=1 -> P=2/3, R=2/3; d<=3 -> P=3/5, R=1.
        let ap = 1.0 / 3.0 * 1.0 + 1.0 / 3.0 * (2.0 / 3.0) + 1.0 / 3.0 * (3.0 / 5.0);
        assert!((r.map - ap).abs() < 1e-12, "{} vs {ap}", r.map);
        assert!((r.precision_within_r2 - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.precision_at_500 - 3.0 / 5.0).abs() < 1e-12);
        // A query with nothing within radius 2 counts 0.
        let r = retrieval_metrics(&[0, u64::MAX], 1, 64, &[0, 0], &[0], &[1]);
        assert_eq!(r.precision_within_r2, 0.0);
        assert_eq!(r.queries, 1);
        // Labels of one sample each make no query: nothing measured, and said.
        let (queries, gallery) = retrieval_split(&[0, 1, 2], 100, 0);
        assert!(queries.is_empty());
        let r = retrieval_metrics(&[0, 1, 2], 1, 64, &[0, 1, 2], &queries, &gallery);
        assert_eq!(r.queries, 0);
    }

    /// A cluster id no sample has (a row of zeros in the table) changes nothing: 0 ln 0 is
    /// taken as 0, not NaN.
    #[test]
    fn nmi_ignores_cluster_ids_no_sample_has() {
        let labels = [0, 0, 0, 1, 1];
        let dense = nmi(&[0, 0, 1, 1, 1], &labels);
        for gapped in [[0, 0, 2, 2, 2], [3, 3, 1, 1, 1], [5, 5, 9, 9, 9]] {
            let v = nmi(&gapped, &labels);
            assert!((v - dense).abs() < 1e-12, "{gapped:?}: {v}");
        }
        // And a label no sample has.
        let v = nmi(&[0, 0, 1, 1, 1], &[0, 0, 0, 2, 2]);
        assert!((v - dense).abs() < 1e-12, "{v}");
    }

    /// Codes of two words: the second word's distances count, and each code is its own
    /// pair of words (the one-word tests cannot tell `i * words` from `i / words`).
    #[test]
    fn retrieval_metrics_read_codes_of_several_words() {
        // Per code (word 0, word 1): only word 1 differs, so distances are those of the
        // one-word hand-computed case.
        let one = [0b0u64, 0b0, 0b1, 0b10, 0b111, 0b1110];
        let two: Vec<u64> = one.iter().flat_map(|&w| [u64::MAX, w]).collect();
        let labels = [0, 0, 1, 0, 0, 1];
        let gallery = [1, 2, 3, 4, 5];
        let a = retrieval_metrics(&one, 1, 64, &labels, &[0], &gallery);
        let b = retrieval_metrics(&two, 2, 128, &labels, &[0], &gallery);
        assert_eq!(a, b);
        // Query 3 in place of 0: a different row, so a different answer.
        let c = retrieval_metrics(&two, 2, 128, &labels, &[3], &gallery);
        assert_ne!(c.map, b.map);
        assert_eq!(c, retrieval_metrics(&one, 1, 64, &labels, &[3], &gallery));
    }

    /// Many queries over a gallery larger than 500 with a tie bucket across the 500th item,
    /// against the definitions by sorting: precision@500 from a stable sort by distance, AP
    /// as scikit-learn's over the distinct distances, precision within radius 2, each a
    /// mean over the queries.
    #[test]
    fn retrieval_metrics_match_their_definitions_on_random_codes() {
        use rand::Rng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let n = 760;
        // 10-bit codes: distances 0..=10, so every bucket holds many items.
        let codes: Vec<u64> = (0..n).map(|_| rng.random::<u64>() & 0x3FF).collect();
        let labels: Vec<Label> = (0..n).map(|_| rng.random_range(0..4)).collect();
        let queries: Vec<usize> = (0..n).step_by(38).collect();
        let gallery: Vec<usize> = (0..n).filter(|i| i % 38 != 0).collect();
        let got = retrieval_metrics(&codes, 1, 64, &labels, &queries, &gallery);
        let (mut map, mut p500, mut pr2) = (0.0, 0.0, 0.0);
        for &q in &queries {
            let mut ranked: Vec<(u32, bool)> = gallery
                .iter()
                .map(|&g| ((codes[q] ^ codes[g]).count_ones(), labels[g] == labels[q]))
                .collect();
            ranked.sort_by_key(|r| r.0); // stable: gallery order within a distance
            if q == 0 {
                // The 500th item sits inside a bucket of ties (what the stable order decides).
                assert_eq!(ranked[499].0, ranked[500].0);
            }
            p500 += ranked[..500].iter().filter(|r| r.1).count() as f64 / 500.0;
            let relevant = ranked.iter().filter(|r| r.1).count() as f64;
            let mut ap = 0.0;
            for t in 0..=10 {
                let within: Vec<&(u32, bool)> = ranked.iter().filter(|r| r.0 <= t).collect();
                let at = ranked.iter().filter(|r| r.0 == t && r.1).count() as f64;
                if ranked.iter().any(|r| r.0 == t) {
                    let hits = within.iter().filter(|r| r.1).count() as f64;
                    ap += at / relevant * hits / within.len() as f64;
                }
            }
            map += ap;
            let near: Vec<&(u32, bool)> = ranked.iter().filter(|r| r.0 <= 2).collect();
            if !near.is_empty() {
                pr2 += near.iter().filter(|r| r.1).count() as f64 / near.len() as f64;
            }
        }
        let nq = queries.len() as f64;
        assert_eq!((got.queries, got.gallery), (20, 740));
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(got.map, map / nq), "{} {}", got.map, map / nq);
        assert!(close(got.precision_at_500, p500 / nq), "{got:?}");
        assert!(close(got.precision_within_r2, pr2 / nq), "{got:?}");
    }

    #[test]
    fn precision_at_k_breaks_ties_by_gallery_order() {
        // 600 gallery items at distance 0: the first 500 in gallery order count.
        let n = 601;
        let codes = vec![0u64; n];
        let mut labels: Vec<Label> = vec![1; n];
        labels[0] = 0;
        for l in labels.iter_mut().skip(1).take(250) {
            *l = 0;
        }
        let gallery: Vec<usize> = (1..n).collect();
        let r = retrieval_metrics(&codes, 1, 64, &labels, &[0], &gallery);
        assert!((r.precision_at_500 - 0.5).abs() < 1e-12);
    }

    #[test]
    fn split_takes_per_class_queries() {
        let labels: Vec<Label> = (0..1000).map(|i| (i % 10) as Label).collect();
        let (q, g) = retrieval_split(&labels, 7, 3);
        assert_eq!((q.len(), g.len()), (70, 930));
        for c in 0..10 {
            assert_eq!(q.iter().filter(|&&i| labels[i] == c).count(), 7);
        }
        assert_eq!(q, retrieval_split(&labels, 7, 3).0);
        // 100 per class asked of 30 per class: half of each class is left in the gallery.
        let small: Vec<Label> = (0..300).map(|i| (i % 10) as Label).collect();
        let (q, g) = retrieval_split(&small, 100, 3);
        assert_eq!((q.len(), g.len()), (150, 150));
        // More classes than a byte holds (ImageNet's 1,000): 4 samples each, 2 queries each.
        let many: Vec<Label> = (0..4000).map(|i| (i % 1000) as Label).collect();
        let (q, g) = retrieval_split(&many, 100, 3);
        assert_eq!((q.len(), g.len()), (2000, 2000));
        assert!(q.iter().any(|&i| many[i] == 999));
    }
}
