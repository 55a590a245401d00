//! The IMSAT training loop, shared by both tasks: one encoder, one SAT code path,
//! a task-specific head (softmax or sigmoid) and information loss.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use crate::backend::{inference_device, training_device};
use crate::conv::ConvSpec;
use crate::data::Images;
use crate::knn::{Neighbours, nearest_neighbours};
use crate::loss::{Task, info_terms, kl_divergence};
use crate::metrics;
use crate::model::{Encoder, Norm};
use crate::photo_set::{PhotoSet, PhotoSetConfig};
use crate::sat::{self, AffineRange, SatKind};
use imsat_runtime::view::View;

/// Every hyper-parameter of a run; saved as `config.json` beside the model so a run can be
/// reproduced from its folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    #[serde(with = "task_name")]
    pub task: Task,
    /// K clusters or M bits.
    pub outputs: usize,
    pub hidden: Vec<usize>,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    /// Weight of the information term.
    pub lam: f64,
    /// Weight of H(Y) inside the information term (clustering).
    pub mu: f64,
    /// Weight of the pairwise-MI penalty between bits (hashing). The penalty sums over
    /// M(M-1) ordered pairs, so at a fixed weight it grows quadratically with the code length
    /// while H(Y) grows linearly, forcing long codes into independent bits that split classes.
    /// [`TrainConfig::hash`] sets `15 / (M - 1)`: 1 (the reference) at 16 bits, and the same
    /// per-bit pressure at any length.
    pub pairwise_mi_weight: f64,
    /// SAT kinds, summed.
    pub sat: Vec<SatKind>,
    /// VAT probe size.
    pub xi: f64,
    /// VAT/RPT radius: `eps_scale` x distance to the `eps_neighbour`-th nearest neighbour.
    pub eps_scale: f64,
    pub eps_neighbour: usize,
    pub affine: AffineRange,
    /// Output layers trained side by side on the shared hidden layers, each from its own
    /// random start, each with the full IMSAT loss; the one with the lowest loss over the
    /// last fifth of the epochs is kept. On MNIST-10k the heads end up agreeing, and the
    /// shared layers trained under several starts no longer settle in the local optima a
    /// single head falls into (a 4/9 cluster split by slant, or 3, 5 and 8 sharing two
    /// clusters). A head costs one `hidden x outputs` layer.
    #[serde(default = "one_head")]
    pub heads: usize,
    pub seed: u64,
    /// The view of a photo model (`imsat.view` metadata text); `None` for images taken at
    /// their own size.
    #[serde(default)]
    pub view: Option<String>,
    /// How a photo model's items and edited copies were drawn.
    #[serde(default)]
    pub photos: Option<PhotoSetConfig>,
    /// A convolutional front end before the hidden layers (2-D inputs), if any.
    #[serde(default)]
    pub conv: Option<ConvSpec>,
}

/// [`Task`] in `config.json` by its metadata name (`cluster`, `hash`).
mod task_name {
    use super::Task;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(task: &Task, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(task.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Task, D::Error> {
        let text = String::deserialize(d)?;
        Task::from_metadata(&text)
            .ok_or_else(|| D::Error::custom(format!("unknown task {text:?} (cluster or hash)")))
    }
}

fn one_head() -> usize {
    1
}

impl TrainConfig {
    /// Clustering settings: the reference network (d-1200-1200-K), lam, lr and VAT radius,
    /// with four changes measured on MNIST-10k (README, Results): SAT extended by a KL under
    /// a random affine distortion that also changes slant (shear up to 0.6) and stroke
    /// thickness, so that clusters cannot split a digit by its writing style; batch 500;
    /// mu 10, since the second KL outweighs the reference's balance term and lets two
    /// digits share a cluster; and 5 heads over 60 epochs. `--sat vat --batch 250 --mu 4
    /// --heads 1 --epochs 50` gives the reference.
    pub fn cluster(classes: usize) -> Self {
        TrainConfig {
            task: Task::Cluster,
            outputs: classes,
            hidden: vec![1200, 1200],
            epochs: 60,
            batch: 500,
            lr: 0.002,
            lam: 0.1,
            mu: 10.0,
            pairwise_mi_weight: 1.0,
            sat: vec![SatKind::Vat, SatKind::Affine],
            xi: 10.0,
            eps_scale: 0.25,
            eps_neighbour: 10,
            affine: AffineRange {
                shear: 0.6,
                thickness: 0.5,
                ..AffineRange::default()
            },
            heads: 5,
            seed: 0,
            view: None,
            photos: None,
            conv: None,
        }
    }

    /// Hashing settings: the reference network (d-400-400-M), lam, lr, batch and epochs, with
    /// two changes measured on MNIST-10k (seed 0): an affine-distortion KL beside VAT (16 bits:
    /// mAP 0.686 -> 0.785) and the pairwise-MI weight scaled with the code length (32 bits:
    /// mAP 0.676 -> 0.787). `--sat vat` and `--pairwise-mi-weight 1` give the reference back.
    pub fn hash(bits: usize) -> Self {
        TrainConfig {
            task: Task::Hash,
            outputs: bits,
            hidden: vec![400, 400],
            epochs: 50,
            batch: 250,
            sat: vec![SatKind::Vat, SatKind::Affine],
            affine: AffineRange::default(),
            mu: 1.0,
            heads: 1,
            pairwise_mi_weight: if bits > 1 {
                15.0 / (bits - 1) as f64
            } else {
                1.0
            },
            ..Self::cluster(bits)
        }
    }

    /// Photo hashing (copy detection) settings, measured on the 182 training photos with a
    /// validation split by photo group (README, Near-duplicate photos): a small convolutional
    /// front end (8 kernels of 3x3 at stride 2, ReLU, average pooling to 4x4; strong-edit TPR
    /// 0.51 against the linear encoder's 0.43, since pooled features move little under crops
    /// and rotations; 16 channels, 5x5 kernels, a 2x2 or no pooling, a 24 or 32 view measured
    /// no better) and a linear output (no hidden layer: on 145 photos a 400-400 MLP overfits,
    /// moderate-edit TPR 0.81 against 0.99), the edit SAT alone, lam 3 (more weight on H(Y)
    /// than the digits' 0.1, so that different photos do not share codes), a 16x16 normalized
    /// gray view, 1,500 epochs.
    pub fn photo_hash(bits: usize) -> Self {
        TrainConfig {
            sat: vec![SatKind::Edits],
            conv: Some(ConvSpec {
                channels: 8,
                kernel: 3,
                stride: 2,
                grid: 4,
            }),
            hidden: Vec::new(),
            lam: 3.0,
            epochs: 1500,
            batch: 256,
            view: Some(
                View {
                    rows: 16,
                    cols: 16,
                    normalize: true,
                }
                .to_metadata(),
            ),
            photos: Some(PhotoSetConfig::default()),
            ..Self::hash(bits)
        }
    }

    /// Check the settings against the data before any work.
    pub fn validate(&self, n: usize) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Config(m));
        if self.task == Task::Cluster && self.outputs < 2 {
            return bad(format!(
                "--classes must be at least 2, got {}",
                self.outputs
            ));
        }
        if self.task == Task::Hash && self.outputs == 0 {
            return bad("--bits must be at least 1".into());
        }
        if self.batch < 2 {
            return bad(format!("--batch must be at least 2, got {}", self.batch));
        }
        if self.batch > n {
            return bad(format!(
                "--batch {} is larger than the data ({n} samples)",
                self.batch
            ));
        }
        if self.epochs == 0 {
            return bad("--epochs must be at least 1".into());
        }
        for (name, v) in [
            ("pairwise-mi-weight", self.pairwise_mi_weight),
            ("lr", self.lr),
            ("lam", self.lam),
            ("mu", self.mu),
            ("xi", self.xi),
        ] {
            if !v.is_finite() || v < 0.0 {
                return bad(format!(
                    "--{name} must be a finite non-negative number, got {v}"
                ));
            }
        }
        if self.hidden.contains(&0) {
            return bad("hidden layer sizes must be positive".into());
        }
        if !(1..=MAX_HEADS).contains(&self.heads) {
            return bad(format!(
                "--heads must be between 1 and {MAX_HEADS}, got {}",
                self.heads
            ));
        }
        if self.sat.is_empty() {
            return bad("at least one SAT kind is needed".into());
        }
        if self.sat.contains(&SatKind::Edits) && self.photos.is_none() {
            return bad("the edits SAT needs photos (a folder of images as the data)".into());
        }
        Ok(())
    }
}

/// Most candidate output layers in one run.
pub const MAX_HEADS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
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
}

/// Scale raw pixels (0..255) to the encoder's input range, x/128 - 1.
pub fn scale_pixels(pixels: &[u8]) -> Vec<f32> {
    pixels.iter().map(|&p| p as f32 / 128.0 - 1.0).collect()
}

/// Logits of an inference-mode encoder for `n` scaled rows, in chunks.
pub fn predict_logits(model: &Encoder, x: &[f32], n: usize) -> Vec<f32> {
    let device = inference_device();
    let d = x.len() / n.max(1);
    let mut out = Vec::with_capacity(n * model.output_dim());
    for start in (0..n).step_by(1000) {
        let rows = 1000.min(n - start);
        let batch = Tensor::<2>::from_data(
            TensorData::new(x[start * d..(start + rows) * d].to_vec(), [rows, d]),
            &device,
        );
        let logits = model.forward(batch, Norm::Train).into_data();
        out.extend(logits.try_into_vec::<f32>().expect("f32 logits"));
    }
    out
}

/// Cluster id (argmax) of each row of logits.
pub fn argmax_rows(logits: &[f32], k: usize) -> Vec<usize> {
    logits
        .chunks_exact(k)
        .map(|r| {
            r.iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                )
                .0
        })
        .collect()
}

/// Pack code bits (logit > 0) into u64 words: bit p is bit p%64 of word p/64.
pub fn pack_codes(logits: &[f32], bits: usize) -> Vec<u64> {
    let words = bits.div_ceil(64);
    let mut out = vec![0u64; logits.len() / bits * words];
    for (row, code) in logits.chunks_exact(bits).zip(out.chunks_exact_mut(words)) {
        for (p, &l) in row.iter().enumerate() {
            if l > 0.0 {
                code[p / 64] |= 1 << (p % 64);
            }
        }
    }
    out
}

/// Evaluate logits against labels: accuracy + NMI, or the retrieval protocol.
pub fn evaluate_logits(
    task: Task,
    logits: &[f32],
    outputs: usize,
    labels: &[u8],
    seed: u64,
) -> Quality {
    match task {
        Task::Cluster => {
            let clusters = argmax_rows(logits, outputs);
            Quality::Cluster {
                acc: metrics::clustering_accuracy(&clusters, labels),
                nmi: metrics::nmi(&clusters, labels),
            }
        }
        Task::Hash => {
            let codes = pack_codes(logits, outputs);
            let (queries, gallery) = metrics::retrieval_split(labels, 100, seed);
            Quality::Hash(metrics::retrieval_metrics(
                &codes,
                outputs.div_ceil(64),
                outputs,
                labels,
                &queries,
                &gallery,
            ))
        }
    }
}

/// Seed of the query/gallery split (fixed, so every model is compared on the same split).
pub const SPLIT_SEED: u64 = 0;

/// A progress bar in the style of every long step, hidden when `show` is false (indicatif
/// also hides it by itself when stderr is not a terminal).
pub fn progress_bar(len: u64, what: &str, show: bool) -> ProgressBar {
    let pb = if show {
        ProgressBar::new(len)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {elapsed} {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    pb
}

/// Batch means of the loss terms of one step (means over the heads), and each head's loss.
#[derive(Debug, Clone, Default)]
pub struct StepLosses {
    pub loss: f64,
    pub sat: f64,
    pub cond_entropy: f64,
    pub marginal_entropy: f64,
    pub pairwise_mi: f64,
    pub head_losses: Vec<f64>,
}

/// Training state: the data (scaled), the per-sample SAT radii, the model and its optimizer.
pub struct Trainer {
    config: TrainConfig,
    x: Vec<f32>,
    n: usize,
    dim: usize,
    rows: usize,
    cols: usize,
    eps: Vec<f32>,
    neighbours: Option<Neighbours>,
    /// Edited copies for the edits SAT: `per_item` views per item, u8.
    edited: Option<(Vec<u8>, usize)>,
    device: burn::tensor::Device,
    rng: StdRng,
    model: Encoder,
    optim: burn::optim::ModuleOptimizer,
}

impl Trainer {
    /// Check the settings, scale the data, compute the nearest-neighbour radii, and
    /// initialise the encoder (seeded).
    pub fn new(
        config: &TrainConfig,
        images: &Images,
        show_progress: bool,
    ) -> Result<Self, TrainError> {
        Self::with_edits(config, images, None, show_progress)
    }

    /// Like [`Trainer::new`], with the bank of edited copies the edits SAT draws from
    /// (`per_item` views of `images.dim()` bytes per image).
    pub fn with_edits(
        config: &TrainConfig,
        images: &Images,
        edited: Option<(Vec<u8>, usize)>,
        show_progress: bool,
    ) -> Result<Self, TrainError> {
        config.validate(images.n)?;
        if config.sat.contains(&SatKind::Edits) {
            match &edited {
                Some((v, k)) if *k > 0 && v.len() == images.n * k * images.dim() => {}
                _ => {
                    return Err(TrainError::Config(
                        "the edits SAT needs a bank of edited copies of every item".into(),
                    ));
                }
            }
        }
        let (n, dim) = (images.n, images.dim());
        let (rows, cols) = match images.shape.as_slice() {
            [r, c] => (*r, *c),
            _ => (1, dim),
        };
        let x = scale_pixels(&images.pixels);
        Self::from_rows(config, x, n, (rows, cols), edited, show_progress)
    }

    /// Like [`Trainer::new`], on `n` feature vectors of `dim` values (row-major, already in
    /// the encoder's input scale: see [`crate::features`]). Only the SATs that need no pixels
    /// (VAT, RPT, neighbour) apply.
    pub fn from_features(
        config: &TrainConfig,
        x: Vec<f32>,
        n: usize,
        dim: usize,
        show_progress: bool,
    ) -> Result<Self, TrainError> {
        config.validate(n)?;
        if let Some(k) = config.sat.iter().find(|k| k.needs_pixels()) {
            return Err(TrainError::Config(format!(
                "the {} SAT needs pixels; feature vectors train with vat, rpt or neighbour",
                k.as_str()
            )));
        }
        if dim == 0 || x.len() != n * dim {
            return Err(TrainError::Data(format!(
                "{} values are not {n} rows of {dim}",
                x.len()
            )));
        }
        Self::from_rows(config, x, n, (1, dim), None, show_progress)
    }

    fn from_rows(
        config: &TrainConfig,
        x: Vec<f32>,
        n: usize,
        (rows, cols): (usize, usize),
        edited: Option<(Vec<u8>, usize)>,
        show_progress: bool,
    ) -> Result<Self, TrainError> {
        let dim = rows * cols;
        let uses = |k| config.sat.contains(&k);
        if uses(SatKind::Affine) && rows == 1 {
            return Err(TrainError::Config("affine SAT needs 2-D images".into()));
        }
        let needs_nn = uses(SatKind::Vat) || uses(SatKind::Rpt) || uses(SatKind::Neighbour);
        let neighbours: Option<Neighbours> = needs_nn.then(|| {
            let pb = progress_bar(n as u64, "neighbours", show_progress);
            nearest_neighbours(&x, n, dim, config.eps_neighbour, &pb)
        });
        let eps: Vec<f32> = match &neighbours {
            Some(nn) => (0..n)
                .map(|i| config.eps_scale as f32 * nn.kth_distance(i))
                .collect(),
            None => vec![0.0; n],
        };
        let device = training_device();
        device.seed(config.seed);
        if let Some(spec) = config.conv {
            spec.check(rows, cols)
                .map_err(|e| TrainError::Config(format!("conv front end: {e}")))?;
        }
        let model = Encoder::build(
            dim,
            config.conv.map(|s| (s, rows, cols)),
            &config.hidden,
            config.outputs,
            config.heads,
            &device,
        );
        Ok(Trainer {
            config: config.clone(),
            x,
            n,
            dim,
            rows,
            cols,
            eps,
            neighbours,
            edited,
            device,
            rng: StdRng::seed_from_u64(config.seed),
            model,
            optim: AdamConfig::new().with_epsilon(1e-8).init(),
        })
    }

    /// Steps in one epoch (one pass's worth of batches).
    pub fn steps_per_epoch(&self) -> usize {
        (self.n / self.config.batch).max(1)
    }

    /// The encoder in inference mode (running BatchNorm statistics), with every head.
    pub fn inference_model(&self) -> Encoder {
        self.model.valid()
    }

    fn rows_of(&self, ids: impl Iterator<Item = usize>) -> Vec<f32> {
        ids.flat_map(|i| self.x[i * self.dim..(i + 1) * self.dim].iter().copied())
            .collect()
    }

    /// The augmented batch for one SAT kind.
    fn augment(
        &mut self,
        kind: SatKind,
        idx: &[usize],
        xb_host: &[f32],
        xb: &Tensor<2>,
        targets: &[Tensor<2>],
        eps_b: &Tensor<2>,
    ) -> Tensor<2> {
        let (task, batch) = (self.config.task, self.config.batch);
        match kind {
            SatKind::Vat => {
                let r =
                    sat::vat_perturbation(task, &self.model, xb, targets, eps_b, self.config.xi);
                xb.clone().add(r)
            }
            SatKind::Rpt => xb.clone().add(sat::random_perturbation(xb, eps_b)),
            SatKind::Affine => {
                let moved = sat::affine_distort(
                    xb_host,
                    self.rows,
                    self.cols,
                    self.config.affine,
                    &mut self.rng,
                );
                sat::tensor_from_rows(moved, batch, &self.device)
            }
            SatKind::Neighbour => {
                let nn = self
                    .neighbours
                    .as_ref()
                    .expect("neighbours computed for this SAT kind");
                let picks: Vec<usize> = idx
                    .iter()
                    .map(|&i| nn.of(i)[self.rng.random_range(0..nn.k)] as usize)
                    .collect();
                sat::tensor_from_rows(self.rows_of(picks.into_iter()), batch, &self.device)
            }
            SatKind::Edits => {
                let (bank, per_item) = self.edited.as_ref().expect("checked in with_edits");
                let d = self.dim;
                let mut rows = Vec::with_capacity(idx.len() * d);
                for &i in idx {
                    let k = i * per_item + self.rng.random_range(0..*per_item);
                    rows.extend(
                        bank[k * d..(k + 1) * d]
                            .iter()
                            .map(|&p| p as f32 / 128.0 - 1.0),
                    );
                }
                sat::tensor_from_rows(rows, batch, &self.device)
            }
        }
    }

    /// One optimisation step on a random batch: information terms on the clean pass, a KL
    /// for each SAT kind, backward, Adam. Fails (naming the term) on a NaN or infinite loss.
    pub fn step(&mut self) -> Result<StepLosses, (&'static str, f32)> {
        let (task, batch) = (self.config.task, self.config.batch);
        let idx = rand::seq::index::sample(&mut self.rng, self.n, batch).into_vec();
        let xb_host = self.rows_of(idx.iter().copied());
        let xb = sat::tensor_from_rows(xb_host.clone(), batch, &self.device);
        let eps_host: Vec<f32> = idx.iter().map(|&i| self.eps[i]).collect();
        let eps_b = Tensor::<2>::from_data(TensorData::new(eps_host, [batch, 1]), &self.device);

        let heads = self.model.forward_heads(xb.clone(), Norm::Train);
        let targets: Vec<Tensor<2>> = heads.iter().map(|l| l.clone().detach()).collect();
        let infos: Vec<_> = heads.into_iter().map(|l| info_terms(task, l)).collect();

        let mut sat_losses: Vec<Option<Tensor<1>>> = vec![None; targets.len()];
        for kind in self.config.sat.clone() {
            let augmented = self.augment(kind, &idx, &xb_host, &xb, &targets, &eps_b);
            let outs = self.model.forward_heads(augmented, Norm::BatchOnly);
            for ((acc, target), out) in sat_losses.iter_mut().zip(&targets).zip(outs) {
                let kl = kl_divergence(task, target.clone(), out);
                *acc = Some(match acc.take() {
                    None => kl,
                    Some(a) => a.add(kl),
                });
            }
        }
        let c = &self.config;
        let scalar = |t: &Tensor<1>| t.to_data().try_into_vec::<f32>().expect("f32 scalar")[0];
        let mut out = StepLosses::default();
        let mut total: Option<Tensor<1>> = None;
        for (sat_loss, info) in sat_losses.into_iter().zip(infos) {
            let sat_loss = sat_loss.expect("at least one SAT kind");
            let information = info
                .cond_entropy
                .clone()
                .sub(info.marginal_entropy.clone().mul_scalar(c.mu))
                .add(info.pairwise_mi.clone().mul_scalar(c.pairwise_mi_weight));
            let loss = sat_loss.clone().add(information.mul_scalar(c.lam));
            // The parts first, so that a divergence names the term that went bad, not the sum.
            let mut v = [0f64; 5];
            let terms = [
                ("the SAT term", &sat_loss),
                ("H(Y|X)", &info.cond_entropy),
                ("H(Y)", &info.marginal_entropy),
                ("the pairwise MI", &info.pairwise_mi),
                ("the loss", &loss),
            ];
            for (slot, (term, t)) in terms.iter().enumerate() {
                let value = scalar(t);
                if !value.is_finite() {
                    return Err((term, value));
                }
                v[slot] = value as f64;
            }
            out.sat += v[0];
            out.cond_entropy += v[1];
            out.marginal_entropy += v[2];
            out.pairwise_mi += v[3];
            out.loss += v[4];
            out.head_losses.push(v[4]);
            total = Some(match total {
                None => loss,
                Some(t) => t.add(loss),
            });
        }
        let total = total.expect("at least one head");
        let grads = GradientsParams::from_grads(total.backward(), &self.model);
        self.model = self.optim.step(c.lr, self.model.clone(), grads);
        let h = out.head_losses.len() as f64;
        for v in [
            &mut out.sat,
            &mut out.cond_entropy,
            &mut out.marginal_entropy,
            &mut out.pairwise_mi,
            &mut out.loss,
        ] {
            *v /= h;
        }
        Ok(out)
    }
}

/// Train an IMSAT encoder on `images` (labels only for per-epoch evaluation).
pub fn train(
    config: &TrainConfig,
    images: &Images,
    labels: Option<&[u8]>,
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
    let trainer = Trainer::new(config, images, show_progress)?;
    train_with(trainer, config, labels, show_progress)
}

/// Train an IMSAT encoder on `n` feature vectors of `dim` values, already scaled (see
/// [`crate::features::Scaling`]); labels only for per-epoch evaluation.
pub fn train_features(
    config: &TrainConfig,
    x: Vec<f32>,
    n: usize,
    dim: usize,
    labels: Option<&[u8]>,
    show_progress: bool,
) -> Result<Trained, TrainError> {
    if let Some(l) = labels
        && l.len() != n
    {
        return Err(TrainError::Data(format!("{} labels for {n} rows", l.len())));
    }
    let trainer = Trainer::from_features(config, x, n, dim, show_progress)?;
    train_with(trainer, config, labels, show_progress)
}

/// Train a photo hash on a [`PhotoSet`] (its items, and its edited copies for the edits SAT).
pub fn train_photos(
    config: &TrainConfig,
    set: &PhotoSet,
    show_progress: bool,
) -> Result<Trained, TrainError> {
    let trainer = Trainer::with_edits(
        config,
        &set.items,
        Some((set.edited.clone(), set.per_item)),
        show_progress,
    )?;
    train_with(trainer, config, None, show_progress)
}

fn train_with(
    mut trainer: Trainer,
    config: &TrainConfig,
    labels: Option<&[u8]>,
    show_progress: bool,
) -> Result<Trained, TrainError> {
    let steps = trainer.steps_per_epoch();
    let mut history = Vec::new();
    let mut train_seconds = 0.0;
    let pb = progress_bar((config.epochs * steps) as u64, "training", show_progress);
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
            pb.inc(1);
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
        let metric = labels.map(|l| {
            let model = trainer.inference_model().keep_head(head);
            let logits = predict_logits(&model, &trainer.x, trainer.n);
            evaluate_logits(config.task, &logits, config.outputs, l, SPLIT_SEED).headline()
        });
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
        pb.set_message(format!(
            "epoch {epoch} loss {:.4} sat {:.4} H(Y|X) {:.3} H(Y) {:.3}{}{}",
            stats.loss,
            stats.sat,
            stats.cond_entropy,
            stats.marginal_entropy,
            if config.task == Task::Hash {
                format!(" MI {:.3}", stats.pairwise_mi)
            } else {
                String::new()
            },
            metric
                .map(|m| format!(" metric {m:.4}"))
                .unwrap_or_default()
        ));
        if !show_progress && std::env::var_os("IMSAT_LOG_EPOCHS").is_some() {
            eprintln!("{}", serde_json::to_string(&stats).unwrap_or_default());
        }
        history.push(stats);
    }
    pb.finish_and_clear();

    let head = lowest(&ranking);
    let model = trainer.inference_model().keep_head(head);
    let quality = labels.map(|l| {
        let logits = predict_logits(&model, &trainer.x, trainer.n);
        evaluate_logits(config.task, &logits, config.outputs, l, SPLIT_SEED)
    });
    Ok(Trained {
        model,
        config: config.clone(),
        history,
        seconds_per_epoch: train_seconds / config.epochs as f64,
        quality,
        head,
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
mod tests {
    use super::*;

    #[test]
    fn config_json_round_trips_with_the_task_by_name() {
        for config in [TrainConfig::hash(32), TrainConfig::cluster(10)] {
            let text = serde_json::to_string(&config).unwrap();
            assert!(
                text.contains(&format!("\"task\":\"{}\"", config.task)),
                "{text}"
            );
            let back: TrainConfig = serde_json::from_str(&text).unwrap();
            assert_eq!(serde_json::to_string(&back).unwrap(), text);
        }
        let bad = serde_json::to_string(&TrainConfig::hash(8))
            .unwrap()
            .replace("\"hash\"", "\"regress\"");
        let err = serde_json::from_str::<TrainConfig>(&bad).unwrap_err();
        assert!(
            err.to_string().contains("unknown task \"regress\""),
            "{err}"
        );
    }
}
