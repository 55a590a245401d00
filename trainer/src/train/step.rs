//! One optimisation step: a random batch, its SAT augmentations, the IMSAT loss, Adam.

use std::sync::Arc;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::adam::Adam;
use super::progress::progress_bar;
use super::{TrainConfig, TrainError, scale_pixels};
use crate::backend::{host_values, training_device};
use crate::knn::{Neighbours, nearest_neighbours};
use crate::loss::{info_terms, kl_divergence};
use crate::model::{Encoder, Norm};
use crate::sat::{self, SatKind};
use imsat_data::Images;

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
    /// The scaled rows, which the loop also scores after each epoch.
    pub(super) x: Vec<f32>,
    pub(super) n: usize,
    dim: usize,
    /// Views per item (rows of `dim / views` values), whose logits are averaged.
    views: usize,
    rows: usize,
    cols: usize,
    eps: Vec<f32>,
    neighbours: Option<Neighbours>,
    /// Edited copies for the edits SAT: `per_item` views per item, u8.
    edited: Option<(Arc<Vec<u8>>, usize)>,
    /// The chroma values of a row, for a colour view.
    chroma: Option<std::ops::Range<usize>>,
    /// Which rows of the last edited batch are grayscale copies (flat chroma), for a colour
    /// split's SAT weights.
    grayscale: Vec<bool>,
    device: burn::tensor::Device,
    rng: StdRng,
    model: Encoder,
    optim: Adam,
}

impl Trainer {
    /// Check the settings, scale the data, compute the nearest-neighbour radii, and
    /// initialise the encoder (seeded).
    pub fn new(
        config: &TrainConfig,
        images: &Images,
        show_progress: bool,
    ) -> Result<Self, TrainError> {
        Self::with_edits(config, images, None, 1, show_progress)
    }

    /// Like [`Trainer::new`], with the bank of edited copies the edits SAT draws from
    /// (`per_item` copies of `images.dim()` bytes per image), each image and copy being
    /// `views` model rows whose logits are averaged (the views of a photo; 1 for any other
    /// images).
    pub fn with_edits(
        config: &TrainConfig,
        images: &Images,
        edited: Option<(Arc<Vec<u8>>, usize)>,
        views: usize,
        show_progress: bool,
    ) -> Result<Self, TrainError> {
        images.check().map_err(TrainError::Data)?;
        config.validate(images.n)?;
        if views > 1 && config.sat.iter().any(|&k| k != SatKind::Edits) {
            return Err(TrainError::Config(
                "items of several views train with the edits SAT only".into(),
            ));
        }
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
        Self::from_rows(config, x, n, (rows, cols), edited, views, show_progress)
    }

    /// Like [`Trainer::new`], on `n` feature vectors of `dim` values (row-major, already in
    /// the encoder's input scale: see [`crate::features`]), each value finite. Only the SATs
    /// that need no pixels (VAT, RPT, neighbour) apply: any other in `config.sat` (the
    /// defaults' affine among them) is refused.
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
        if dim == 0 || n.checked_mul(dim) != Some(x.len()) {
            return Err(TrainError::Data(format!(
                "{} values are not {n} rows of {dim}",
                x.len()
            )));
        }
        if let Some(at) = x.iter().position(|v| !v.is_finite()) {
            return Err(TrainError::Data(format!(
                "row {}, column {} is {}: features must be finite numbers",
                at / dim,
                at % dim,
                x[at]
            )));
        }
        Self::from_rows(config, x, n, (1, dim), None, 1, show_progress)
    }

    fn from_rows(
        config: &TrainConfig,
        x: Vec<f32>,
        n: usize,
        (rows, cols): (usize, usize),
        edited: Option<(Arc<Vec<u8>>, usize)>,
        views: usize,
        show_progress: bool,
    ) -> Result<Self, TrainError> {
        let dim = rows * cols;
        let views = views.max(1);
        if !rows.is_multiple_of(views) {
            return Err(TrainError::Config(format!(
                "{rows} rows are not {views} views"
            )));
        }
        let rows = rows / views;
        let view_dim = dim / views;
        let uses = |k| config.sat.contains(&k);
        if uses(SatKind::Affine) && (rows < 2 || cols < 2) {
            return Err(TrainError::Config(format!(
                "affine SAT needs images of at least 2x2 pixels to move, these are \
                 {rows}x{cols}: pass --sat without affine (vat, for one)"
            )));
        }
        // Checked before the neighbours, the slow part of the set-up.
        // A colour view stacks its planes as rows: the convolution takes them as channels.
        let planes = config.photo_view().map_or(1, |v| v.colour.planes());
        if !rows.is_multiple_of(planes) {
            return Err(TrainError::Config(format!(
                "{rows} rows are not {planes} planes of a colour view"
            )));
        }
        let rows = rows / planes;
        if let Some(spec) = config.conv {
            spec.check(rows, cols)
                .map_err(|problem| TrainError::Setting {
                    field: "conv",
                    problem,
                })?;
        }
        check_export_size(config, dim, [planes, rows, cols])?;
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
        let model = Encoder::build(
            view_dim,
            config.conv.map(|s| (s, [planes, rows, cols])),
            &config.hidden,
            config.outputs,
            config.heads,
            &device,
        );
        let mut optim = Adam::new(1e-8);
        let model = match config.colour_split {
            Some(split) => split.apply(model, &mut optim, planes),
            None => model,
        };
        Ok(Trainer {
            grayscale: Vec::new(),
            config: config.clone(),
            x,
            n,
            dim,
            views,
            rows,
            cols,
            eps,
            neighbours,
            edited,
            chroma: (planes > 1).then_some(rows * cols..view_dim),
            device,
            rng: StdRng::seed_from_u64(config.seed),
            model,
            optim,
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
                let seed = self.rng.random();
                let r = sat::vat_perturbation(
                    task,
                    &self.model,
                    xb,
                    targets,
                    eps_b,
                    self.config.xi,
                    seed,
                );
                xb.clone().add(r)
            }
            SatKind::Rpt => {
                let seed = self.rng.random();
                xb.clone().add(sat::random_perturbation(xb, eps_b, seed))
            }
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
                self.grayscale.clear();
                for &i in idx {
                    let k = i * per_item + self.rng.random_range(0..*per_item);
                    let copy = &bank[k * d..(k + 1) * d];
                    if let Some(c) = &self.chroma {
                        self.grayscale
                            .push(copy[c.clone()].iter().all(|&v| v == 128));
                    }
                    rows.extend(copy.iter().map(|&p| p as f32 / 128.0 - 1.0));
                }
                sat::tensor_from_rows(rows, batch * self.views, &self.device)
            }
        }
    }

    /// Each head's logits of a batch, one row per item: the mean over an item's views.
    fn forward_items(&self, x: Tensor<2>, norm: Norm) -> Vec<Tensor<2>> {
        let heads = self.model.forward_heads(x, norm);
        if self.views == 1 {
            return heads;
        }
        heads
            .into_iter()
            .map(|l| {
                let [r, k] = l.dims();
                let b = r / self.views;
                l.reshape([b, self.views, k]).mean_dim(1).reshape([b, k])
            })
            .collect()
    }

    /// One optimisation step on a random batch: information terms on the clean pass, a KL
    /// for each SAT kind, backward, Adam. Fails (naming the term) on a NaN or infinite loss.
    pub fn step(&mut self) -> Result<StepLosses, (&'static str, f32)> {
        let (task, batch) = (self.config.task, self.config.batch);
        let idx = rand::seq::index::sample(&mut self.rng, self.n, batch).into_vec();
        let xb_host = self.rows_of(idx.iter().copied());
        let xb = sat::tensor_from_rows(xb_host.clone(), batch * self.views, &self.device);
        let eps_host: Vec<f32> = idx.iter().map(|&i| self.eps[i]).collect();
        let eps_b = Tensor::<2>::from_data(TensorData::new(eps_host, [batch, 1]), &self.device);

        let heads = self.forward_items(xb.clone(), Norm::Train);
        let targets: Vec<Tensor<2>> = heads.iter().map(|l| l.clone().detach()).collect();
        let infos: Vec<_> = heads.into_iter().map(|l| info_terms(task, l)).collect();

        let mut sat_losses: Vec<Option<Tensor<1>>> = vec![None; targets.len()];
        for kind in self.config.sat.clone() {
            let augmented = self.augment(kind, &idx, &xb_host, &xb, &targets, &eps_b);
            let outs = self.forward_items(augmented, Norm::BatchOnly);
            // A grayscale copy cannot keep the colour bits: they are not asked to.
            let weights = match (kind, self.config.colour_split) {
                (SatKind::Edits, Some(split)) => {
                    let m = self.config.outputs;
                    let w = split.sat_weights(&self.grayscale, m);
                    Some(Tensor::<2>::from_data(
                        TensorData::new(w, [batch, m]),
                        &self.device,
                    ))
                }
                _ => None,
            };
            for ((acc, target), out) in sat_losses.iter_mut().zip(&targets).zip(outs) {
                let kl = match &weights {
                    Some(w) => crate::loss::kl_divergence_weighted(target.clone(), out, w.clone()),
                    None => kl_divergence(task, target.clone(), out),
                };
                *acc = Some(match acc.take() {
                    None => kl,
                    Some(a) => a.add(kl),
                });
            }
        }
        let c = &self.config;
        let scalar = |t: &Tensor<1>| host_values(t.clone())[0];
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

/// Most weights an exported model may hold: 256 MB of f32 (a convolution is exported as a
/// dense layer, whose size grows with the fourth power of the view's side: a 256-pixel view
/// asked for 154 GB at the export, after the whole training).
pub const MAX_EXPORT_WEIGHTS: usize = 1 << 26;

/// Refuse, before training, a model whose export would hold more than [`MAX_EXPORT_WEIGHTS`]
/// (`dim` inputs; a front end's convolution on `[planes, rows, cols]`).
fn check_export_size(
    config: &TrainConfig,
    dim: usize,
    [planes, rows, cols]: [usize; 3],
) -> Result<(), TrainError> {
    // The layers as exported: the convolution as a dense layer onto its feature map, whose
    // pooling folds into the next layer.
    let mut widths = match config.conv {
        Some(spec) => std::vec![
            planes * rows * cols,
            spec.channels * spec.map_side(rows) * spec.map_side(cols),
        ],
        None => std::vec![dim],
    };
    widths.extend(&config.hidden);
    widths.push(config.outputs);
    let weights = widths
        .windows(2)
        .map(|w| w[0].saturating_mul(w[1]))
        .fold(0usize, usize::saturating_add);
    if weights <= MAX_EXPORT_WEIGHTS {
        return Ok(());
    }
    let layers: Vec<String> = widths.iter().map(usize::to_string).collect();
    Err(TrainError::Setting {
        field: if config.conv.is_some() {
            "conv"
        } else {
            "hidden"
        },
        problem: format!(
            "makes an exported model of {} M weights (layers {}), more than {} M: a smaller \
             view, fewer or smaller layers, or a larger stride",
            weights >> 20,
            layers.join(" -> "),
            MAX_EXPORT_WEIGHTS >> 20
        ),
    })
}

#[cfg(test)]
mod tests;
