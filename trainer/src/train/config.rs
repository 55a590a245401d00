//! [`TrainConfig`]: every setting of a run, its per-task defaults and its checks. Errors
//! name the config's fields, so that each front end (flags, `config.json`) can name its own.

use serde::{Deserialize, Serialize};

use super::TrainError;
use crate::colour_split::ColourSplit;
use crate::conv::ConvSpec;
use crate::loss::Task;
use crate::photo_set::PhotoSetConfig;
use crate::sat::{AffineRange, SatKind};
use imsat_runtime::view::{Colour, Contrast, View};

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
    /// Weight of H(Y) inside the information term, for both tasks (clustering's default 10,
    /// hashing's 1).
    pub mu: f64,
    /// Weight of the pairwise-MI penalty between bits (hashing). The penalty sums over
    /// M(M-1) ordered pairs, so at a fixed weight it grows quadratically with the code length
    /// while H(Y) grows linearly, forcing long codes into independent bits that split classes.
    /// [`TrainConfig::hash`] sets [`hash_pairwise_mi_weight`].
    pub pairwise_mi_weight: f64,
    /// SAT kinds, summed.
    pub sat: Vec<SatKind>,
    /// VAT probe size (`0 < xi <= MAX_XI`).
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
    /// Whole runs from different seeds (`seed + RESTART_SEED_STRIDE * r`), of which the one
    /// with the lowest final loss is kept: unlike heads they share nothing, so a run whose
    /// hidden layers settled badly is replaced, by the objective alone (no labels). Restart
    /// 0 is the plain run of `seed`.
    #[serde(default = "one_head")]
    pub restarts: usize,
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
    /// A colour view's split into luma-only and colour bits ([`ColourSplit`]), if any.
    #[serde(default)]
    pub colour_split: Option<ColourSplit>,
}

/// The hashing default of [`TrainConfig::pairwise_mi_weight`] for `bits`-bit codes:
/// `15 / (M - 1)` up to 32 bits (1, the reference, at 16 bits; the same per-bit pressure at
/// any length; MNIST-10k 32 bits seed 0: mAP 0.676 at weight 1 -> 0.787), halved with every
/// doubling beyond (`x 32 / M`): at 64 bits the per-bit weight (0.238) still forced bits that
/// split classes (mAP 0.689 / 0.714, seeds 0 / 1), 0.12 gave 0.806 / 0.798, above 32 bits'
/// 0.787 / 0.742 (0.06: 0.839 / 0.700; 0.03: 0.787 on seed 0).
pub fn hash_pairwise_mi_weight(bits: usize) -> f64 {
    if bits <= 1 {
        return 1.0;
    }
    15.0 / (bits - 1) as f64 * (32.0 / bits as f64).min(1.0)
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
    /// --heads 1 --epochs 50` gives the reference. The distortion's pixel sizes follow the
    /// image size ([`AffineRange::reference_side`]) and `imsat train` keeps at least the
    /// 1,200 steps of MNIST-10k on smaller data ([`CLUSTER_MIN_STEPS`]) and 2 restarts there
    /// ([`SMALL_DATA_RESTARTS`]): on 8x8 digits (seeds 0-2) 0.908, 0.945 and 0.963 against
    /// KMeans' 0.79 (README, Generality).
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
            restarts: 1,
            seed: 0,
            view: None,
            photos: None,
            conv: None,
            colour_split: None,
        }
    }

    /// Hashing settings: the reference network (d-400-400-M), lam, lr, batch and epochs, with
    /// two changes measured on MNIST-10k (seed 0): an affine-distortion KL beside VAT (16 bits:
    /// mAP 0.686 -> 0.785) and the pairwise-MI weight scaled with the code length
    /// ([`hash_pairwise_mi_weight`]). `--sat vat` and `--pairwise-mi-weight 1` give the
    /// reference back.
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
            pairwise_mi_weight: hash_pairwise_mi_weight(bits),
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
    /// than the digits' 0.1, so that different photos do not share codes), a 16x16 gray view
    /// stretched by its median and quartiles ([`Contrast::Robust`]: a caption box no longer
    /// squashes a low-contrast photo's view; group 4-fold moderate TPR 0.987 / 0.984 / 0.984
    /// at seeds 0 / 1 / 2 against the mean-and-deviation stretch's 0.982 / 0.979 / 0.983,
    /// strong about equal), 1,500 epochs; and colour (2026-12-02): a 16x16 view of luma and
    /// chroma ([`Colour::Ycc`]) under 12 kernels, 4 of which see the chroma planes and feed
    /// only the last 12 bits ([`ColourSplit`]: a grayscale copy moves only those), strong
    /// 0.591 against the gray 8-kernel recipe's 0.504 at seed 0, moderate the same (0.989);
    /// then 2,500 epochs (2026-12-02; the pairwise MI was still falling at 1,500): over
    /// seeds 0-2 moderate 0.990 against 0.988, the caption box gaining most; and a third
    /// view at encoding, the top 80% of the rows (2026-12-02): the same seed-0 fold models,
    /// caption copies drawn by Pillow, moderate 0.989 against 0.981 with the caption in the
    /// bottom quarter and 0.982-0.985 against 0.980 with it elsewhere; with the caption fill
    /// (2026-12-04), a fourth view, the bottom 80%, and the centre at 75% of the area: strong
    /// 0.637 against 0.609 (mean over seeds 0-2 of the 4-fold estimate), moderate unchanged.
    pub fn photo_hash(bits: usize) -> Self {
        TrainConfig {
            sat: vec![SatKind::Edits],
            conv: Some(ConvSpec {
                channels: 12,
                kernel: 3,
                stride: 2,
                grid: 4,
            }),
            colour_split: Some(ColourSplit {
                kernels: 4,
                bits: 12,
            }),
            hidden: Vec::new(),
            lam: 3.0,
            epochs: 2500,
            batch: 256,
            view: Some(
                View {
                    colour: Colour::Ycc,
                    rows: 16,
                    cols: 16,
                    contrast: Contrast::Robust,
                    centre: Some(75),
                    top: Some(80),
                    bottom: Some(80),
                    unbox: true,
                }
                .to_metadata(),
            ),
            photos: Some(PhotoSetConfig::default()),
            // The photo recipe was chosen (by cross-validation) at the per-bit weight.
            pairwise_mi_weight: if bits > 1 {
                15.0 / (bits - 1) as f64
            } else {
                1.0
            },
            ..Self::hash(bits)
        }
    }

    /// Raise `epochs` so that training on `n` samples takes at least `steps` optimisation
    /// steps; `epochs` counts passes over the data, so on small data the same count is few
    /// steps (see [`CLUSTER_MIN_STEPS`]).
    pub fn at_least_steps(&mut self, n: usize, steps: usize) {
        let per_epoch = (n / self.batch.max(1)).max(1);
        self.epochs = self.epochs.max(steps.div_ceil(per_epoch));
    }

    /// The photo view `view` names; `None` for images taken at their size (or a text that is
    /// not a view, which the photo path refuses before training).
    pub fn photo_view(&self) -> Option<View> {
        self.view
            .as_deref()
            .and_then(|t| View::from_metadata(t).ok())
    }

    /// Check the settings against the data before any work. An error names the field
    /// ([`TrainError::Setting`]).
    pub fn validate(&self, n: usize) -> Result<(), TrainError> {
        let bad =
            |field: &'static str, problem: String| Err(TrainError::Setting { field, problem });
        if self.task == Task::Cluster && self.outputs < 2 {
            return bad(
                "outputs",
                format!("must be at least 2 clusters, got {}", self.outputs),
            );
        }
        if self.task == Task::Hash && self.outputs == 0 {
            return bad("outputs", "must be at least 1 bit".into());
        }
        if self.outputs > MAX_OUTPUTS {
            return bad(
                "outputs",
                format!("must be at most {MAX_OUTPUTS}, got {}", self.outputs),
            );
        }
        if let Some(h) = self.hidden.iter().find(|&&h| h > MAX_HIDDEN) {
            return bad(
                "hidden",
                format!("layer size {h} is larger than {MAX_HIDDEN}"),
            );
        }
        if n < 2 {
            return bad(
                "data",
                format!("holds {n} sample(s), and training needs at least 2"),
            );
        }
        if self.batch < 2 {
            return bad("batch", format!("must be at least 2, got {}", self.batch));
        }
        if self.batch > n {
            return bad(
                "batch",
                format!("{} is larger than the data ({n} samples)", self.batch),
            );
        }
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1".into());
        }
        let a = &self.affine;
        for (field, v) in [
            ("pairwise_mi_weight", self.pairwise_mi_weight),
            ("lr", self.lr),
            ("lam", self.lam),
            ("mu", self.mu),
            ("xi", self.xi),
            ("eps_scale", self.eps_scale),
            ("affine.degrees", f64::from(a.degrees)),
            ("affine.scale", f64::from(a.scale)),
            ("affine.shift", f64::from(a.shift)),
            ("affine.shear", f64::from(a.shear)),
        ] {
            if !v.is_finite() || v < 0.0 {
                return bad(
                    field,
                    format!("must be a finite non-negative number, got {v}"),
                );
            }
        }
        // The learning rate is an f32 in the optimizer (the --lr flag's bound too).
        if self.lr > f64::from(f32::MAX) {
            return bad(
                "lr",
                format!(
                    "must be at most float32's largest, 3.4e38, got {:e}",
                    self.lr
                ),
            );
        }
        if self.sat.contains(&SatKind::Vat) && !(self.xi > 0.0 && self.xi <= MAX_XI) {
            return bad(
                "xi",
                format!(
                    "must be above 0 (a VAT probe of size 0 finds no direction) and at most \
                     {MAX_XI} (a probe far larger than the inputs saturates the network and the \
                     SAT term falls to 0), got {:e}",
                    self.xi
                ),
            );
        }
        if let Some(side) = self.affine.reference_side
            && !(side.is_finite() && side > 0.0)
        {
            return bad(
                "affine.reference_side",
                format!("must be a positive number, got {side}"),
            );
        }
        if self.hidden.contains(&0) {
            return bad("hidden", "layer sizes must be positive".into());
        }
        let neighbours = self
            .sat
            .iter()
            .any(|k| matches!(k, SatKind::Vat | SatKind::Rpt | SatKind::Neighbour));
        // (Past the data's size it is the farthest point: the neighbours are clamped.)
        if neighbours && self.eps_neighbour == 0 {
            return bad(
                "eps_neighbour",
                "must be at least 1 (the radius is the distance to that neighbour)".into(),
            );
        }
        if !(0.0..=1.0).contains(&self.affine.thickness) {
            return bad(
                "affine.thickness",
                format!(
                    "is a probability between 0 and 1, got {}",
                    self.affine.thickness
                ),
            );
        }
        // A view says how a photo becomes model input: a model of other data with one would
        // be refused by every reader (its view does not match its input).
        if self.view.is_some() && self.photos.is_none() {
            return bad(
                "view",
                "is for a photo-folder run (photos), and this run has none".into(),
            );
        }
        if !(1..=MAX_HEADS).contains(&self.heads) {
            return bad(
                "heads",
                format!("must be between 1 and {MAX_HEADS}, got {}", self.heads),
            );
        }
        if !(1..=MAX_RESTARTS).contains(&self.restarts) {
            return bad(
                "restarts",
                format!(
                    "must be between 1 and {MAX_RESTARTS}, got {}",
                    self.restarts
                ),
            );
        }
        if self.sat.is_empty() {
            return bad("sat", "must name at least one SAT kind".into());
        }
        if let Some(photos) = &self.photos {
            if self.task != Task::Hash {
                return Err(TrainError::Config(
                    "a photo-folder run (photos) trains a hash (task hash)".into(),
                ));
            }
            photos.check().map_err(TrainError::Config)?;
        }
        if self.sat.contains(&SatKind::Edits) && self.photos.is_none() {
            return bad(
                "sat",
                "has edits, which needs photos (a folder of images as the data)".into(),
            );
        }
        if let Some(split) = self.colour_split {
            let colour = self.photo_view().is_some_and(|v| v.colour == Colour::Ycc);
            let problem = match self.conv {
                _ if !colour => Some("needs a colour view (ycc)".to_string()),
                None => Some("needs a convolutional front end".into()),
                _ if !self.hidden.is_empty() => Some("needs no hidden layer".into()),
                Some(conv) => split.check(&conv, self.outputs).err(),
            };
            if let Some(problem) = problem {
                return bad("colour_split", problem);
            }
        }
        Ok(())
    }
}

/// Steps the clustering defaults take on MNIST-10k (60 epochs of 20 batches of 500), and the
/// least `imsat train` gives them on smaller data: on the 1,797 8x8 digits 60 epochs are 180
/// steps, and seed 1 stopped with five near-empty clusters (accuracy 0.48; 0.89 at 1,200).
pub const CLUSTER_MIN_STEPS: usize = 1200;

/// Most candidate output layers in one run.
pub const MAX_HEADS: usize = 64;

/// Most bits or clusters trained: the pairwise-MI term holds a bits x bits matrix and the last
/// layer hidden x outputs weights, so far larger widths only exhaust memory.
pub const MAX_OUTPUTS: usize = 4096;

/// Largest hidden layer (a 784 x 16384 layer is already 50 M weights).
pub const MAX_HIDDEN: usize = 16384;

/// The largest VAT probe size ([`TrainConfig::xi`]) a run takes: 100 times the default.
pub const MAX_XI: f64 = 1000.0;

/// Most restarts a run may ask for.
pub const MAX_RESTARTS: usize = 32;

/// Restart `r` of a run of seed `s` trains from seed `s + RESTART_SEED_STRIDE * r`.
pub const RESTART_SEED_STRIDE: u64 = 1000;

/// Data sets smaller than this get [`SMALL_DATA_RESTARTS`] restarts from the clustering
/// defaults of `imsat train`: on the 1,797 8x8 digits one run's accuracy varied from 0.82 to
/// 0.96 between seeds, and over 7 runs the final loss ranked them exactly in accuracy order
/// (README, Generality); seeds 0-2 with 2 restarts: 0.908, 0.945, 0.963 (mean 0.939, was
/// 0.879). A small-data run at [`CLUSTER_MIN_STEPS`] costs about what one MNIST-10k run
/// does, so two of them stay cheap; MNIST-10k keeps one.
pub const SMALL_DATA: usize = 5000;

/// Restarts of the clustering defaults on data smaller than [`SMALL_DATA`].
pub const SMALL_DATA_RESTARTS: usize = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pairwise_weight_is_per_bit_up_to_32_bits_and_halves_per_doubling_beyond() {
        let w = hash_pairwise_mi_weight;
        assert_eq!(w(16), 1.0);
        assert_eq!(w(32), 15.0 / 31.0);
        assert_eq!(w(64), 15.0 / 63.0 / 2.0);
        assert_eq!(w(128), 15.0 / 127.0 / 4.0);
        assert_eq!(TrainConfig::hash(64).pairwise_mi_weight, w(64));
        // The photo recipe keeps the per-bit weight it was cross-validated at.
        assert_eq!(TrainConfig::photo_hash(64).pairwise_mi_weight, 15.0 / 63.0);
        // One bit has no pairs: the weight is a number, not 15 / 0.
        assert_eq!(w(1), 1.0);
        assert_eq!(TrainConfig::photo_hash(1).pairwise_mi_weight, 1.0);
    }

    /// Settings a hand-edited `config.json` can hold and the flags refuse: each named by its
    /// field (an `eps_neighbour` of 0 indexed its neighbours at -1, a panic; a thickness
    /// past 1 was taken as certain; a view on digits trained a model no reader opens).
    #[test]
    fn out_of_range_settings_are_named() {
        let field = |c: &TrainConfig| match c.validate(1000) {
            Err(TrainError::Setting { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let mut c = TrainConfig::hash(16);
        c.eps_neighbour = 0;
        assert_eq!(field(&c), "eps_neighbour");
        let mut c = TrainConfig::hash(16);
        c.affine.thickness = 2.0;
        assert_eq!(field(&c), "affine.thickness");
        let mut c = TrainConfig::hash(16);
        c.view = TrainConfig::photo_hash(64).view;
        assert_eq!(field(&c), "view");
        TrainConfig::photo_hash(64).validate(1000).unwrap();
        // A learning rate past f32 (the flag's bound), and a VAT probe of 0 or of 1e30
        // (each turned VAT off: its term stayed 0 through training).
        let mut c = TrainConfig::hash(16);
        c.lr = 1e39;
        assert_eq!(field(&c), "lr");
        for xi in [0.0, 1e30, MAX_XI * 2.0] {
            let mut c = TrainConfig::hash(16);
            c.sat = vec![SatKind::Vat];
            c.xi = xi;
            assert_eq!(field(&c), "xi", "{xi}");
        }
        let mut c = TrainConfig::hash(16);
        (c.sat, c.xi) = (vec![SatKind::Vat], MAX_XI);
        c.validate(1000).unwrap();
        // Without VAT the probe is not used.
        (c.sat, c.xi) = (vec![SatKind::Affine], 0.0);
        c.validate(1000).unwrap();
    }

    fn json(v: impl serde::Serialize) -> serde_json::Value {
        serde_json::to_value(v).unwrap()
    }

    /// The defaults are the recipes the shipped models were trained with: what each model's
    /// `imsat.report` records (batch, epochs, layers, SAT, heads, front end, colour split,
    /// view, edits), and the weights its card states (`models/*.md`, "Objective").
    #[test]
    fn the_defaults_are_the_shipped_models_recipes() {
        let report = |name: &str| -> serde_json::Value {
            let path = format!("{}/../models/{name}.onnx", env!("CARGO_MANIFEST_DIR"));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let model = imsat_runtime::format::onnx::Model::parse(&bytes).unwrap();
            serde_json::from_str(model.metadata("imsat.report").expect("a report")).unwrap()
        };
        for (name, c, outputs) in [
            ("hash16", TrainConfig::hash(16), "bits"),
            ("cluster10", TrainConfig::cluster(10), "classes"),
            ("photo64", TrainConfig::photo_hash(64), "bits"),
        ] {
            let r = report(name);
            assert_eq!(r["task"], c.task.to_string(), "{name}");
            assert_eq!(r[outputs], c.outputs, "{name}");
            assert_eq!(r["batch"], c.batch, "{name}");
            assert_eq!(r["epochs"], c.epochs, "{name}");
            assert_eq!(r["hidden"], json(&c.hidden), "{name}");
            let sat: Vec<&str> = c.sat.iter().map(|k| k.as_str()).collect();
            assert_eq!(r["sat"], json(&sat), "{name}");
            assert_eq!(
                r.get("heads").map_or(1, |h| h.as_u64().unwrap()),
                c.heads as u64
            );
            assert_eq!(c.restarts, 1, "{name}");
        }
        let photo = TrainConfig::photo_hash(64);
        let r = report("photo64");
        assert_eq!(r["conv"], json(photo.conv));
        assert_eq!(r["colour_split"], json(photo.colour_split));
        assert_eq!(r["view"], json(&photo.view));
        let edits: Vec<&str> = photo
            .photos
            .as_ref()
            .unwrap()
            .edits
            .iter()
            .map(|e| e.name())
            .collect();
        assert_eq!(r["edits"], json(&edits));
        // The cards: photo64 lam 3, mu 1; hash16 lam 0.1, mu 1; cluster10 lam 0.1, mu 10,
        // VAT xi 10 and eps 0.25 x the 10th neighbour, shear 0.6, strokes changed at 0.5.
        assert_eq!((photo.lam, photo.mu), (3.0, 1.0));
        let hash = TrainConfig::hash(16);
        assert_eq!((hash.lam, hash.mu), (0.1, 1.0));
        let cluster = TrainConfig::cluster(10);
        assert_eq!((cluster.lam, cluster.mu, cluster.xi), (0.1, 10.0, 10.0));
        assert_eq!((cluster.eps_scale, cluster.eps_neighbour), (0.25, 10));
        assert_eq!((cluster.affine.shear, cluster.affine.thickness), (0.6, 0.5));
        // hash16: +-15 degrees, scale +-0.1, shift +-2 px, no shear, strokes kept.
        let a = &hash.affine;
        assert_eq!(
            (a.degrees, a.scale, a.shift, a.shear, a.thickness),
            (15.0, 0.1, 2.0, 0.0, 0.0)
        );
    }

    #[test]
    fn small_data_gets_the_steps_mnist_10k_gets() {
        let mut c = TrainConfig::cluster(10);
        c.at_least_steps(10_000, CLUSTER_MIN_STEPS);
        assert_eq!(c.epochs, 60, "MNIST-10k: 20 steps x 60 epochs, unchanged");
        c.at_least_steps(1_797, CLUSTER_MIN_STEPS);
        assert_eq!(c.epochs, 400, "1,797 digits: 3 steps per epoch");
        c.at_least_steps(100_000, CLUSTER_MIN_STEPS);
        assert_eq!(c.epochs, 400, "never lowered");
    }

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
        // A config.json from before heads and restarts: one of each.
        let mut old = json(TrainConfig::cluster(10));
        let fields = old.as_object_mut().unwrap();
        assert!(fields.remove("heads").is_some() && fields.remove("restarts").is_some());
        let back: TrainConfig = serde_json::from_value(old).unwrap();
        assert_eq!((back.heads, back.restarts), (1, 1));
        let bad = serde_json::to_string(&TrainConfig::hash(8))
            .unwrap()
            .replace("\"hash\"", "\"regress\"");
        let err = serde_json::from_str::<TrainConfig>(&bad).unwrap_err();
        assert!(
            err.to_string().contains("unknown task \"regress\""),
            "{err}"
        );
    }

    /// What the CLI checks before its flags reach a config, the library checks for callers
    /// of its own: widths that only exhaust memory, and ranges that are not numbers.
    #[test]
    fn validation_bounds_widths_and_refuses_non_numbers() {
        let field_of = |c: &TrainConfig| match c.validate(1000) {
            Err(TrainError::Setting { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert!(TrainConfig::hash(MAX_OUTPUTS).validate(1000).is_ok());
        assert_eq!(field_of(&TrainConfig::hash(MAX_OUTPUTS + 1)), "outputs");
        assert_eq!(field_of(&TrainConfig::cluster(1_000_000)), "outputs");
        let mut c = TrainConfig::hash(16);
        c.hidden = vec![400, MAX_HIDDEN + 1];
        assert_eq!(field_of(&c), "hidden");
        let mut c = TrainConfig::hash(16);
        c.eps_scale = f64::NAN;
        assert_eq!(field_of(&c), "eps_scale");
        let mut c = TrainConfig::cluster(10);
        c.affine.shear = -0.5;
        assert_eq!(field_of(&c), "affine.shear");
        let mut c = TrainConfig::cluster(10);
        c.affine.degrees = f32::INFINITY;
        assert_eq!(field_of(&c), "affine.degrees");
    }

    /// Each bound on its own, at its edge: what passes there and what the next value refuses.
    #[test]
    fn validation_holds_each_bound_at_its_edge() {
        let field = |c: &TrainConfig, n: usize| match c.validate(n) {
            Err(TrainError::Setting { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        // Two clusters at least; a hash of one bit, not of none.
        TrainConfig::cluster(2).validate(1000).unwrap();
        assert_eq!(field(&TrainConfig::cluster(1), 1000), "outputs");
        TrainConfig::hash(1).validate(1000).unwrap();
        assert_eq!(field(&TrainConfig::hash(0), 1000), "outputs");
        let mut c = TrainConfig::hash(16);
        c.hidden = vec![MAX_HIDDEN];
        c.validate(1000).unwrap();
        // Two samples and a batch of two are enough; one sample is not.
        c = TrainConfig {
            batch: 2,
            ..TrainConfig::hash(16)
        };
        c.validate(2).unwrap();
        assert_eq!(field(&c, 1), "data");
        c.lr = f64::from(f32::MAX);
        c.validate(2).unwrap();
        // The distortion's reference side: a positive number.
        for side in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            c.affine.reference_side = Some(side);
            assert_eq!(field(&c, 2), "affine.reference_side", "{side}");
        }
        c.affine.reference_side = Some(f32::MIN_POSITIVE);
        c.validate(2).unwrap();
        // A colour split needs a colour view and no hidden layer.
        let mut gray = TrainConfig::photo_hash(64);
        gray.view = Some(
            gray.photo_view()
                .map(|v| View {
                    colour: Colour::Gray,
                    ..v
                })
                .unwrap()
                .to_metadata(),
        );
        assert_eq!(field(&gray, 1000), "colour_split");
        let mut deep = TrainConfig::photo_hash(64);
        deep.hidden = vec![8];
        let e = deep.validate(1000).unwrap_err().to_string();
        assert!(e.contains("colour_split needs no hidden layer"), "{e}");
    }

    #[test]
    fn validation_names_the_field_not_a_flag() {
        let mut c = TrainConfig::hash(16);
        c.batch = 100;
        let e = c.validate(5).unwrap_err();
        assert!(
            matches!(&e, TrainError::Setting { field: "batch", .. }),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "invalid settings: batch 100 is larger than the data (5 samples)"
        );
        c.batch = 2;
        c.pairwise_mi_weight = f64::NAN;
        let e = c.validate(5).unwrap_err().to_string();
        assert!(e.contains("pairwise_mi_weight must be a finite"), "{e}");
        assert!(!e.contains("--"), "{e}");
    }
}
