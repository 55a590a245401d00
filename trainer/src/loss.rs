//! The information terms of IMSAT and the SAT divergences, for both heads.
//!
//! Everything works on logits through log-softmax / log-sigmoid so that no `log(0)` appears,
//! and is vectorized over the batch (and over bit pairs, through matrix products).

use burn::tensor::Tensor;
use burn::tensor::activation::{log_sigmoid, log_softmax};

/// What the encoder's outputs mean: the runtime's type, so that a trained model and the
/// encoder that runs it agree by construction.
pub use imsat_runtime::format::Task;

/// The batch estimates of the information terms (as scalar tensors, for backprop).
#[derive(Debug, Clone)]
pub struct InfoTerms {
    /// H(Y|X): mean per-sample entropy (summed over bits for hashing).
    pub cond_entropy: Tensor<1>,
    /// H(Y): entropy of the batch-mean prediction (sum of bit marginals for hashing).
    pub marginal_entropy: Tensor<1>,
    /// Pairwise MI between bits, `2 * sum_{i<j} I(b_i; b_j)` (zero for clustering).
    pub pairwise_mi: Tensor<1>,
}

/// `log(mean_b exp(x[b, :]))` over the batch axis, stably: `[B, K] -> [1, K]`.
fn log_mean_exp_over_batch(x: Tensor<2>) -> Tensor<2> {
    let m = x.clone().max_dim(0).detach();
    x.sub(m.clone()).exp().mean_dim(0).log().add(m)
}

/// Smallest probability fed to a `log` of a batch-mean joint (f32 has room far below).
const TINY: f64 = 1e-30;

/// Information terms for a batch of logits.
pub fn info_terms(task: Task, logits: Tensor<2>) -> InfoTerms {
    match task {
        Task::Cluster => cluster_terms(logits),
        Task::Hash => hash_terms(logits),
    }
}

fn cluster_terms(logits: Tensor<2>) -> InfoTerms {
    let device = logits.device();
    let logp = log_softmax(logits, 1);
    let p = logp.clone().exp();
    let cond_entropy = p.mul(logp.clone()).sum_dim(1).mean().neg();
    let log_pbar = log_mean_exp_over_batch(logp);
    let marginal_entropy = log_pbar.clone().exp().mul(log_pbar).sum().neg();
    InfoTerms {
        cond_entropy,
        marginal_entropy,
        pairwise_mi: Tensor::zeros([1], &device),
    }
}

fn hash_terms(logits: Tensor<2>) -> InfoTerms {
    let [b, m] = logits.dims();
    let log_p1 = log_sigmoid(logits.clone());
    let log_p0 = log_sigmoid(logits.neg());
    let p1 = log_p1.clone().exp();
    let p0 = log_p0.clone().exp();

    let cond_entropy = p1
        .clone()
        .mul(log_p1.clone())
        .add(p0.clone().mul(log_p0.clone()))
        .sum_dim(1)
        .mean()
        .neg();

    let log_m1 = log_mean_exp_over_batch(log_p1); // [1, M]
    let log_m0 = log_mean_exp_over_batch(log_p0);
    let marginal_entropy = log_m1
        .clone()
        .exp()
        .mul(log_m1.clone())
        .add(log_m0.clone().exp().mul(log_m0.clone()))
        .sum()
        .neg();

    // Joint probabilities of every bit pair at once: P_ab[i, j] = mean_b p_a[b, i] p_b[b, j].
    let inv_b = 1.0 / b as f64;
    let joint =
        |a: &Tensor<2>, c: &Tensor<2>| a.clone().transpose().matmul(c.clone()).mul_scalar(inv_b);
    let log_marg = |l: &Tensor<2>| l.clone().reshape([m, 1]); // [M, 1], row marginal
    let mut mi: Option<Tensor<2>> = None;
    for (pa, la) in [(&p1, &log_m1), (&p0, &log_m0)] {
        for (pc, lc) in [(&p1, &log_m1), (&p0, &log_m0)] {
            let pj = joint(pa, pc); // [M, M]
            let term = pj
                .clone()
                .mul(pj.clamp_min(TINY).log().sub(log_marg(la)).sub(lc.clone()));
            mi = Some(match mi {
                None => term,
                Some(acc) => acc.add(term),
            });
        }
    }
    let mi = mi.expect("four joint terms");
    // The diagonal holds each bit's own entropy, not a pair: drop it.
    let off_diagonal = Tensor::<2>::eye(m, &mi.device()).neg().add_scalar(1.0);
    InfoTerms {
        cond_entropy,
        marginal_entropy,
        pairwise_mi: mi.mul(off_diagonal).sum(),
    }
}

/// Per-sample KL(p || q) between the predictions of two logit batches, averaged over the batch.
/// `target` is held constant by the caller (detach it); gradients flow through `logits`.
pub fn kl_divergence(task: Task, target: Tensor<2>, logits: Tensor<2>) -> Tensor<1> {
    match task {
        Task::Cluster => {
            let logp = log_softmax(target, 1);
            let logq = log_softmax(logits, 1);
            logp.clone().exp().mul(logp.sub(logq)).sum_dim(1).mean()
        }
        Task::Hash => {
            let (lp1, lp0) = (log_sigmoid(target.clone()), log_sigmoid(target.neg()));
            let (lq1, lq0) = (log_sigmoid(logits.clone()), log_sigmoid(logits.neg()));
            let on = lp1.clone().exp().mul(lp1.sub(lq1));
            let off = lp0.clone().exp().mul(lp0.sub(lq0));
            on.add(off).sum_dim(1).mean()
        }
    }
}

/// [`kl_divergence`] of hash logits with a weight per sample and bit (`[B, M]`).
pub fn kl_divergence_weighted(
    target: Tensor<2>,
    logits: Tensor<2>,
    weights: Tensor<2>,
) -> Tensor<1> {
    let (lp1, lp0) = (log_sigmoid(target.clone()), log_sigmoid(target.neg()));
    let (lq1, lq0) = (log_sigmoid(logits.clone()), log_sigmoid(logits.neg()));
    let on = lp1.clone().exp().mul(lp1.sub(lq1));
    let off = lp0.clone().exp().mul(lp0.sub(lq0));
    on.add(off).mul(weights).sum_dim(1).mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{host_values, inference_device};

    fn scalar(t: Tensor<1>) -> f64 {
        host_values(t)[0] as f64
    }

    fn logits(rows: &[&[f32]]) -> Tensor<2> {
        let k = rows[0].len();
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::<2>::from_data(
            burn::tensor::TensorData::new(flat, [rows.len(), k]),
            &inference_device(),
        )
    }

    fn entropy(p: &[f64]) -> f64 {
        -p.iter()
            .filter(|&&v| v > 0.0)
            .map(|&v| v * v.ln())
            .sum::<f64>()
    }

    fn softmax(l: &[f32]) -> Vec<f64> {
        let m = l.iter().cloned().fold(f32::MIN, f32::max) as f64;
        let e: Vec<f64> = l.iter().map(|&v| (v as f64 - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }

    #[test]
    fn cluster_terms_match_hand_computation() {
        let rows: [&[f32]; 3] = [&[2.0, 0.0, -1.0], &[0.0, 0.0, 0.0], &[-3.0, 1.0, 4.0]];
        let t = info_terms(Task::Cluster, logits(&rows));
        let ps: Vec<Vec<f64>> = rows.iter().map(|r| softmax(r)).collect();
        let cond = ps.iter().map(|p| entropy(p)).sum::<f64>() / 3.0;
        let mean: Vec<f64> = (0..3)
            .map(|k| ps.iter().map(|p| p[k]).sum::<f64>() / 3.0)
            .collect();
        assert!((scalar(t.cond_entropy) - cond).abs() < 1e-5);
        assert!((scalar(t.marginal_entropy) - entropy(&mean)).abs() < 1e-5);
        assert_eq!(scalar(t.pairwise_mi), 0.0);
    }

    #[test]
    fn cluster_entropy_stays_finite_for_extreme_logits() {
        let t = info_terms(Task::Cluster, logits(&[&[500.0, -500.0], &[400.0, -300.0]]));
        let h = scalar(t.marginal_entropy);
        assert!(h.is_finite() && h.abs() < 1e-6, "{h}");
        assert!(scalar(t.cond_entropy).abs() < 1e-6);
    }

    fn sigmoid(v: f32) -> f64 {
        1.0 / (1.0 + (-(v as f64)).exp())
    }

    fn bern(p: f64) -> f64 {
        entropy(&[p, 1.0 - p])
    }

    #[test]
    fn hash_terms_match_hand_computation() {
        let rows: [&[f32]; 4] = [
            &[1.0, -2.0, 0.5],
            &[-1.0, 3.0, 0.0],
            &[2.0, 0.5, -1.5],
            &[0.0, -0.5, 2.5],
        ];
        let t = info_terms(Task::Hash, logits(&rows));
        let p: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| r.iter().map(|&v| sigmoid(v)).collect())
            .collect();
        let n = 4.0;
        let cond: f64 = p
            .iter()
            .map(|r| r.iter().map(|&v| bern(v)).sum::<f64>())
            .sum::<f64>()
            / n;
        let marg: Vec<f64> = (0..3)
            .map(|i| p.iter().map(|r| r[i]).sum::<f64>() / n)
            .collect();
        let h: f64 = marg.iter().map(|&v| bern(v)).sum();
        let mut mi = 0.0;
        for i in 0..3 {
            for j in 0..3 {
                if i == j {
                    continue;
                }
                for (a, b) in [(1, 1), (1, 0), (0, 1), (0, 0)] {
                    let f = |v: f64, bit| if bit == 1 { v } else { 1.0 - v };
                    let pj: f64 = p.iter().map(|r| f(r[i], a) * f(r[j], b)).sum::<f64>() / n;
                    mi += pj * (pj / (f(marg[i], a) * f(marg[j], b))).ln();
                }
            }
        }
        assert!((scalar(t.cond_entropy) - cond).abs() < 1e-5);
        assert!((scalar(t.marginal_entropy) - h).abs() < 1e-5);
        let got = scalar(t.pairwise_mi);
        assert!((got - mi).abs() < 1e-5, "{got} vs {mi}");
        assert!(mi > 1e-3, "the crafted batch has dependent bits");
    }

    #[test]
    fn weighted_kl_drops_the_weighted_out_bits() {
        let target = logits(&[&[1.0, -2.0, 0.5], &[-1.0, 3.0, 0.0]]);
        let out = logits(&[&[0.0, 1.0, -0.5], &[2.0, -1.0, 1.5]]);
        let ones = logits(&[&[1.0; 3], &[1.0; 3]]);
        let plain = scalar(kl_divergence(Task::Hash, target.clone(), out.clone()));
        let weighted = scalar(kl_divergence_weighted(target.clone(), out.clone(), ones));
        assert!((plain - weighted).abs() < 1e-6);
        // Without bit 2 of row 1: the same as the plain KL of the rest.
        let w = logits(&[&[1.0, 1.0, 1.0], &[1.0, 1.0, 0.0]]);
        let got = scalar(kl_divergence_weighted(target.clone(), out.clone(), w));
        let kl = |p: f32, q: f32| {
            let (p, q) = (sigmoid(p), sigmoid(q));
            p * (p / q).ln() + (1.0 - p) * ((1.0 - p) / (1.0 - q)).ln()
        };
        let want =
            (kl(1.0, 0.0) + kl(-2.0, 1.0) + kl(0.5, -0.5) + kl(-1.0, 2.0) + kl(3.0, -1.0)) / 2.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        assert!(got < plain);
    }

    #[test]
    fn independent_bits_have_zero_pairwise_mi() {
        // Bit 0 and bit 1 take all four combinations equally often: independent.
        let rows: [&[f32]; 4] = [
            &[50.0, 50.0],
            &[50.0, -50.0],
            &[-50.0, 50.0],
            &[-50.0, -50.0],
        ];
        let t = info_terms(Task::Hash, logits(&rows));
        assert!(scalar(t.pairwise_mi).abs() < 1e-5);
        assert!((scalar(t.marginal_entropy) - 2.0 * 2f64.ln()).abs() < 1e-5);
        // And identical bits share a full bit of information (counted for both orders).
        let rows: [&[f32]; 2] = [&[50.0, 50.0], &[-50.0, -50.0]];
        let t = info_terms(Task::Hash, logits(&rows));
        assert!((scalar(t.pairwise_mi) - 2.0 * 2f64.ln()).abs() < 1e-4);
    }

    #[test]
    fn kl_is_zero_for_equal_and_matches_hand_value() {
        let a = logits(&[&[1.0, 2.0, 3.0]]);
        assert!(scalar(kl_divergence(Task::Cluster, a.clone(), a.clone())).abs() < 1e-6);
        let b = logits(&[&[3.0, 2.0, 1.0]]);
        let (p, q) = (softmax(&[1.0, 2.0, 3.0]), softmax(&[3.0, 2.0, 1.0]));
        let want: f64 = p.iter().zip(&q).map(|(p, q)| p * (p / q).ln()).sum();
        assert!((scalar(kl_divergence(Task::Cluster, a, b)) - want).abs() < 1e-5);
        let (x, y) = (logits(&[&[0.5, -1.0]]), logits(&[&[-0.5, 2.0]]));
        let want: f64 = [(0.5f32, -0.5f32), (-1.0, 2.0)]
            .iter()
            .map(|&(u, v)| {
                let (p, q) = (sigmoid(u), sigmoid(v));
                p * (p / q).ln() + (1.0 - p) * ((1.0 - p) / (1.0 - q)).ln()
            })
            .sum();
        assert!((scalar(kl_divergence(Task::Hash, x, y)) - want).abs() < 1e-5);
    }
}
