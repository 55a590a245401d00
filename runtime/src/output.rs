//! What a model's logits mean: a hash model's bits are its logits' signs (packed by
//! [`Codes::from_logits`]), a cluster model's id is its largest logit per row
//! ([`argmax_rows`]); and how often two models' outputs agree ([`agreement`]), the measure
//! an int8 model is held to against its f32 twin, in the trainer's export and in `imsat eval`.

use alloc::vec::Vec;

use crate::code::Codes;
use crate::error::Error;
use crate::format::Task;
use crate::hamming;

/// Index of the largest value of each row of `k` (the first one on ties). Fails with
/// [`Error::NotANumber`] at the first NaN, and with
/// [`Error::ValueCount`] when `logits` is not a whole number
/// of rows or `k` is 0.
pub fn argmax_rows(logits: &[f32], k: usize) -> Result<Vec<u32>, Error> {
    if k == 0 || !logits.len().is_multiple_of(k) {
        return Err(Error::ValueCount {
            values: logits.len(),
            bits: k,
        });
    }
    if let Some(position) = logits.iter().position(|v| v.is_nan()) {
        return Err(Error::NotANumber { position });
    }
    Ok(logits
        .chunks_exact(k)
        .map(|row| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = i;
                }
            }
            best as u32
        })
        .collect())
}

/// The share of code bits (hash) or cluster ids (cluster) on which two models' logits `a` and
/// `b` (rows of `outputs`) agree: 1 where they are the same, 0 where they share none. Fails as
/// [`Codes::from_logits`] and [`argmax_rows`] do (a NaN, not whole rows); no rows agree fully.
pub fn agreement(task: Task, outputs: usize, a: &[f32], b: &[f32]) -> Result<f64, Error> {
    if a.len() != b.len() {
        return Err(Error::LogitCount {
            first: a.len(),
            second: b.len(),
        });
    }
    Ok(match task {
        Task::Hash => {
            let (ca, cb) = (
                Codes::from_logits(outputs, a)?,
                Codes::from_logits(outputs, b)?,
            );
            let differ = hamming::distance(ca.as_words(), cb.as_words()) as f64;
            1.0 - differ / (a.len() as f64).max(1.0)
        }
        Task::Cluster => {
            let (ia, ib) = (argmax_rows(a, outputs)?, argmax_rows(b, outputs)?);
            let same = ia.iter().zip(&ib).filter(|(x, y)| x == y).count();
            same as f64 / ia.len().max(1) as f64
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_of_ties_and_refuses_nan() {
        assert_eq!(
            argmax_rows(&[1.0, 3.0, 3.0, 0.0, 0.0, 0.0], 3).unwrap(),
            [1, 0]
        );
        assert!(argmax_rows(&[1.0, f32::NAN], 2).is_err());
        // Not whole rows (it once dropped the partial one, or took each value for a row).
        assert!(argmax_rows(&[1.0, 2.0, 3.0], 2).is_err());
        assert!(argmax_rows(&[1.0, 2.0, 3.0], 0).is_err());
        assert!(argmax_rows(&[], 3).unwrap().is_empty());
    }

    #[test]
    fn agreement_counts_bits_or_ids_and_refuses_rows_that_do_not_pair() {
        // Two rows of 3 bits: one bit of six differs.
        let a = [1.0, -1.0, 2.0, -3.0, 4.0, 0.5];
        let b = [1.0, 1.0, 2.0, -3.0, 4.0, 0.5];
        assert!((agreement(Task::Hash, 3, &a, &b).unwrap() - 5.0 / 6.0).abs() < 1e-12);
        // The same logits as clusters: row 0's largest moves from 2 to 2, row 1's stays 1.
        assert_eq!(agreement(Task::Cluster, 3, &a, &b).unwrap(), 1.0);
        let c = [5.0, -1.0, 2.0, -3.0, 4.0, 0.5];
        assert_eq!(agreement(Task::Cluster, 3, &a, &c).unwrap(), 0.5);
        assert!(agreement(Task::Hash, 3, &a, &b[..3]).is_err());
        assert!(agreement(Task::Cluster, 3, &[f32::NAN; 3], &a[..3]).is_err());
        assert_eq!(agreement(Task::Hash, 3, &[], &[]).unwrap(), 1.0);
    }
}
