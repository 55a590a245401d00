//! Inference and scoring of an encoder during and after training: input scaling, logits,
//! and the quality measures (accuracy and NMI, or retrieval mAP).

use burn::tensor::{Tensor, TensorData};
use serde::Serialize;

use crate::backend::{host_values, inference_device};
use crate::loss::Task;
use crate::metrics::{self, Label};
use crate::model::{Encoder, Norm};
use crate::train::TrainError;
use imsat_runtime::code::Codes;
use imsat_runtime::output::argmax_rows;

/// Quality of a trained encoder on labelled data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Quality {
    Cluster { acc: f64, nmi: f64 },
    Hash(metrics::Retrieval),
}

impl Quality {
    /// The headline number: accuracy or mAP.
    pub fn headline(&self) -> f64 {
        match self {
            Quality::Cluster { acc, .. } => *acc,
            Quality::Hash(r) => r.map,
        }
    }
}

/// Scale raw pixels (0..255) to the encoder's input range, x/128 - 1.
pub fn scale_pixels(pixels: &[u8]) -> Vec<f32> {
    pixels.iter().map(|&p| p as f32 / 128.0 - 1.0).collect()
}

/// Logits of an inference-mode encoder for `n` scaled rows of its input width, in chunks; an
/// error where `x` is not `n` such rows.
pub fn predict_logits(model: &Encoder, x: &[f32], n: usize) -> Result<Vec<f32>, TrainError> {
    let device = inference_device();
    let d = model.input_dim();
    if n.checked_mul(d) != Some(x.len()) {
        return Err(TrainError::Data(format!(
            "{} values are not {n} rows of the model's input width, {d}",
            x.len()
        )));
    }
    let mut out = Vec::with_capacity(n * model.output_dim());
    for start in (0..n).step_by(1000) {
        let rows = 1000.min(n - start);
        let batch = Tensor::<2>::from_data(
            TensorData::new(x[start * d..(start + rows) * d].to_vec(), [rows, d]),
            &device,
        );
        out.extend(host_values(model.forward(batch, Norm::Train)));
    }
    Ok(out)
}

/// Evaluate logits against labels: accuracy + NMI, or the retrieval protocol. Clusters and
/// codes come from the runtime's `argmax_rows` and `Codes::from_logits`, so that training
/// scores exactly what an exported model encodes, and a NaN logit is an error, as are
/// logits that are not one row of `outputs` per label.
pub fn evaluate_logits(
    task: Task,
    logits: &[f32],
    outputs: usize,
    labels: &[Label],
    seed: u64,
) -> Result<Quality, TrainError> {
    if labels.is_empty() || labels.len().checked_mul(outputs) != Some(logits.len()) {
        return Err(TrainError::Data(format!(
            "{} logits are not a row of {outputs} for each of {} labels",
            logits.len(),
            labels.len()
        )));
    }
    Ok(match task {
        Task::Cluster => {
            let clusters: Vec<usize> = argmax_rows(logits, outputs)?
                .into_iter()
                .map(|c| c as usize)
                .collect();
            Quality::Cluster {
                acc: metrics::clustering_accuracy(&clusters, labels),
                nmi: metrics::nmi(&clusters, labels),
            }
        }
        Task::Hash => {
            let codes = Codes::from_logits(outputs, logits)?;
            let (queries, gallery) = metrics::retrieval_split(labels, 100, seed);
            Quality::Hash(metrics::retrieval_metrics(
                codes.as_words(),
                outputs.div_ceil(64),
                outputs,
                labels,
                &queries,
                &gallery,
            ))
        }
    })
}

/// Seed of the query/gallery split (fixed, so every model is compared on the same split).
pub const SPLIT_SEED: u64 = 0;

#[cfg(test)]
mod tests {
    use super::*;

    /// The headline is the accuracy of a clustering and the mAP of a hash, not their other
    /// measures.
    #[test]
    fn the_headline_is_accuracy_or_map() {
        let cluster = Quality::Cluster { acc: 0.9, nmi: 0.8 };
        assert_eq!(cluster.headline(), 0.9);
        let hash = Quality::Hash(metrics::Retrieval {
            queries: 10,
            gallery: 90,
            map: 0.7,
            precision_at_500: 0.6,
            precision_within_r2: 0.5,
        });
        assert_eq!(hash.headline(), 0.7);
    }
}
