//! The IMSAT training loop, shared by both tasks: one encoder, one SAT code path,
//! a task-specific head (softmax or sigmoid) and information loss.
//!
//! `config` holds the settings and their checks, `step` one optimisation step (with
//! `adam`, the optimizer),
//! `eval` the scoring of an encoder, `progress` what a run prints; this module runs
//! the epochs and picks the head.

pub(crate) mod adam;
mod config;
mod eval;
mod progress;
mod step;

use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use config::{
    CLUSTER_MIN_STEPS, MAX_HEADS, MAX_HIDDEN, MAX_OUTPUTS, MAX_RESTARTS, RESTART_SEED_STRIDE,
    SMALL_DATA, SMALL_DATA_RESTARTS, TrainConfig, hash_pairwise_mi_weight,
};
pub use eval::{Quality, SPLIT_SEED, evaluate_logits, predict_logits, scale_pixels};
use progress::RunProgress;
pub use progress::progress_bar;
pub use step::{StepLosses, Trainer};

use crate::metrics::Label;
use crate::model::Encoder;
use crate::photo_set::PhotoSet;
use imsat_data::Images;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A [`TrainConfig`] field out of range, named as the field (`batch`, `pairwise_mi_weight`)
    /// so that a front end can name its own flag or file instead.
    #[error("invalid settings: {field} {problem}")]
    Setting {
        field: &'static str,
        problem: String,
    },
    #[error("invalid settings: {0}")]
    Config(String),
    #[error("invalid data: {0}")]
    Data(String),
    /// Epochs and steps are counted from 1.
    #[error("training diverged at epoch {epoch}, step {step}: {term} is {value}")]
    NonFinite {
        epoch: usize,
        step: usize,
        term: &'static str,
        value: f32,
    },
    /// The model's weights cannot be written as burn's record ([`Trained::record_bytes`]).
    #[error("cannot serialize the model's burn record: {0}")]
    Record(String),
    /// The trained encoder's logits cannot be scored (a NaN).
    #[error("cannot evaluate the encoder: {0}")]
    Logits(#[from] imsat_runtime::error::Error),
}

/// Losses and quality after one epoch (means over its steps and over the heads).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub loss: f64,
    pub sat: f64,
    pub cond_entropy: f64,
    pub marginal_entropy: f64,
    pub pairwise_mi: f64,
    pub seconds: f64,
    /// Clustering accuracy or retrieval mAP, when labels were given (of `head`).
    pub metric: Option<f64>,
    /// The candidate head with the lowest loss (see [`TrainConfig::heads`]).
    #[serde(default)]
    pub head: usize,
    /// Each head's mean loss this epoch.
    #[serde(default)]
    pub head_losses: Vec<f64>,
}

/// A trained encoder (in inference mode) with its history.
#[derive(Debug)]
pub struct Trained {
    pub model: Encoder,
    pub config: TrainConfig,
    pub history: Vec<EpochStats>,
    pub seconds_per_epoch: f64,
    pub quality: Option<Quality>,
    /// Which of the candidate heads was kept (0 when there was one).
    pub head: usize,
    /// The kept head's mean loss over the last fifth of the epochs (what heads and restarts
    /// are ranked by).
    pub final_loss: f64,
    /// Which restart was kept (0 when there was one), and every restart's final loss.
    pub restart: usize,
    pub restart_losses: Vec<f64>,
}

impl Trained {
    /// The model's weights as burn's binary record (`model.bpk` in a run folder), the form
    /// burn loads back to train on; the ONNX files are what runs it.
    pub fn record_bytes(&self) -> Result<Vec<u8>, TrainError> {
        burn::module::Module::into_record(self.model.clone())
            .into_bytes()
            .map(|bytes| bytes.to_vec())
            .map_err(|e| TrainError::Record(format!("{e:?}")))
    }
}

#[cfg(test)]
impl Trained {
    /// `model` as if trained under `config`, with no history: for tests of what comes after
    /// training (the export, the restarts' choice).
    pub(crate) fn untrained(model: Encoder, config: TrainConfig) -> Self {
        Trained {
            model,
            config,
            history: Vec::new(),
            seconds_per_epoch: 0.0,
            quality: None,
            head: 0,
            final_loss: 0.0,
            restart: 0,
            restart_losses: Vec::new(),
        }
    }
}

/// [`TrainConfig::restarts`] runs of `run`, each from its own seed; the one with the lowest
/// final loss is returned, carrying `config` (so that its `config.json` reruns all of them).
/// `run` is told whether its restart is the last, so that it may hand over owned data then.
fn best_of_restarts(
    config: &TrainConfig,
    n: usize,
    show_progress: bool,
    mut run: impl FnMut(&TrainConfig, bool) -> Result<Trained, TrainError>,
) -> Result<Trained, TrainError> {
    // Each restart checks its own copy; `restarts` itself only here.
    config.validate(n)?;
    let mut best: Option<Trained> = None;
    let mut losses = Vec::with_capacity(config.restarts);
    for r in 0..config.restarts {
        let mut c = config.clone();
        c.restarts = 1;
        c.seed = config
            .seed
            .wrapping_add(RESTART_SEED_STRIDE.wrapping_mul(r as u64));
        if show_progress && config.restarts > 1 {
            let (restart, restarts, seed) = (r + 1, config.restarts, c.seed);
            progress::stderr_line(&format!("restart {restart}/{restarts} (seed {seed})"));
        }
        let mut t = run(&c, r + 1 == config.restarts)?;
        t.restart = r;
        losses.push(t.final_loss);
        // The first of equal losses is kept (`<`), so one restart is the plain run.
        if best.as_ref().is_none_or(|b| t.final_loss < b.final_loss) {
            best = Some(t);
        }
    }
    let mut best = best.expect("at least one restart");
    best.config = config.clone();
    best.restart_losses = losses;
    Ok(best)
}

/// Train an IMSAT encoder on `images` (labels only for per-epoch evaluation).
///
/// A run of one seed is reproducible when it is the only training of its process at the
/// time: it seeds burn's random generator, which is the process's one, so two trainings at
/// once draw each other's numbers (train them one after the other, or in two processes).
pub fn train(
    config: &TrainConfig,
    images: &Images,
    labels: Option<&[Label]>,
    show_progress: bool,
) -> Result<Trained, TrainError> {
    if let Some(l) = labels
        && l.len() != images.n
    {
        return Err(TrainError::Data(format!(
            "{} labels for {} images",
            l.len(),
            images.n
        )));
    }
    best_of_restarts(config, images.n, show_progress, |c, _| {
        let trainer = Trainer::new(c, images, show_progress)?;
        train_with(trainer, c, labels, show_progress)
    })
}

/// Train an IMSAT encoder on `n` feature vectors of `dim` values, already scaled (see
/// [`crate::features::Scaling`]); labels only for per-epoch evaluation. Reproducible as
/// [`train`] is: one training of the process at a time.
///
/// Only SATs that need no pixels apply: set `config.sat` to `vec![SatKind::Vat]` (or RPT,
/// neighbour), as `imsat train` does for `.npy` data; the defaults of [`TrainConfig::hash`]
/// and [`TrainConfig::cluster`] hold the affine SAT, which is refused here.
///
/// [`SatKind::Vat`]: crate::sat::SatKind::Vat
pub fn train_features(
    config: &TrainConfig,
    x: Vec<f32>,
    n: usize,
    dim: usize,
    labels: Option<&[Label]>,
    show_progress: bool,
) -> Result<Trained, TrainError> {
    if let Some(l) = labels
        && l.len() != n
    {
        return Err(TrainError::Data(format!("{} labels for {n} rows", l.len())));
    }
    // The last restart (the only one, by default) takes the rows; earlier ones get a copy.
    let mut x = Some(x);
    best_of_restarts(config, n, show_progress, |c, last| {
        let rows = if last { x.take() } else { x.clone() }.expect("rows until the last restart");
        let trainer = Trainer::from_features(c, rows, n, dim, show_progress)?;
        train_with(trainer, c, labels, show_progress)
    })
}

/// Train a photo hash on a [`PhotoSet`] (its items, and its edited copies for the edits SAT).
/// Reproducible as [`train`] is: one training of the process at a time.
pub fn train_photos(
    config: &TrainConfig,
    set: &PhotoSet,
    show_progress: bool,
) -> Result<Trained, TrainError> {
    best_of_restarts(config, set.items.n, show_progress, |c, _| {
        let trainer = Trainer::with_edits(
            c,
            &set.items,
            Some((set.edited.clone(), set.per_item)),
            set.view.views(),
            show_progress,
        )?;
        train_with(trainer, c, None, show_progress)
    })
}

fn train_with(
    mut trainer: Trainer,
    config: &TrainConfig,
    labels: Option<&[Label]>,
    show_progress: bool,
) -> Result<Trained, TrainError> {
    let steps = trainer.steps_per_epoch();
    let mut history = Vec::new();
    let mut train_seconds = 0.0;
    let progress = RunProgress::new((config.epochs * steps) as u64, config.task, show_progress);
    // Heads are ranked by their summed loss over the last fifth of the epochs.
    let ranking_from = config.epochs - (config.epochs / 5).max(1) + 1;
    let mut ranking = vec![0.0f64; config.heads];

    for epoch in 1..=config.epochs {
        let started = Instant::now();
        let mut sums = StepLosses {
            head_losses: vec![0.0; config.heads],
            ..StepLosses::default()
        };
        for step in 0..steps {
            let l = trainer
                .step()
                .map_err(|(term, value)| TrainError::NonFinite {
                    epoch,
                    step: step + 1,
                    term,
                    value,
                })?;
            sums.loss += l.loss;
            sums.sat += l.sat;
            sums.cond_entropy += l.cond_entropy;
            sums.marginal_entropy += l.marginal_entropy;
            sums.pairwise_mi += l.pairwise_mi;
            for (acc, v) in sums.head_losses.iter_mut().zip(&l.head_losses) {
                *acc += v;
            }
            progress.step();
        }
        if epoch >= ranking_from {
            for (acc, v) in ranking.iter_mut().zip(&sums.head_losses) {
                *acc += v;
            }
        }
        // The head shown for this epoch: the lowest loss so far in the ranking window, or in
        // this epoch before it.
        let head = lowest(if epoch >= ranking_from {
            &ranking
        } else {
            &sums.head_losses
        });
        let seconds = started.elapsed().as_secs_f64();
        train_seconds += seconds;
        let mean = |s: f64| s / steps as f64;
        let metric = match labels {
            Some(l) => {
                let model = trainer.inference_model().keep_head(head);
                let logits = predict_logits(&model, &trainer.x, trainer.n)?;
                Some(
                    evaluate_logits(config.task, &logits, config.outputs, l, SPLIT_SEED)?
                        .headline(),
                )
            }
            None => None,
        };
        let stats = EpochStats {
            epoch,
            loss: mean(sums.loss),
            sat: mean(sums.sat),
            cond_entropy: mean(sums.cond_entropy),
            marginal_entropy: mean(sums.marginal_entropy),
            pairwise_mi: mean(sums.pairwise_mi),
            seconds,
            metric,
            head,
            head_losses: sums.head_losses.iter().map(|&v| mean(v)).collect(),
        };
        progress.epoch(&stats);
        history.push(stats);
    }
    progress.finish();

    let head = lowest(&ranking);
    let model = trainer.inference_model().keep_head(head);
    let quality = match labels {
        Some(l) => {
            let logits = predict_logits(&model, &trainer.x, trainer.n)?;
            Some(evaluate_logits(
                config.task,
                &logits,
                config.outputs,
                l,
                SPLIT_SEED,
            )?)
        }
        None => None,
    };
    let window = (config.epochs + 1 - ranking_from) as f64;
    Ok(Trained {
        model,
        config: config.clone(),
        history,
        seconds_per_epoch: train_seconds / config.epochs as f64,
        quality,
        head,
        final_loss: ranking[head] / (window * steps as f64),
        restart: 0,
        restart_losses: Vec::new(),
    })
}

/// Index of the smallest value (the first on ties).
fn lowest(values: &[f64]) -> usize {
    values
        .iter()
        .enumerate()
        .fold(
            (0, f64::INFINITY),
            |b, (i, &v)| if v < b.1 { (i, v) } else { b },
        )
        .0
}

#[cfg(test)]
mod tests;
