//! `imsat train`: learn an encoder, save it with its report.
//!
//! `config` turns the flags into settings; `photos` trains on a folder of photos.

mod config;
mod photos;

use std::path::PathBuf;

use anyhow::Context;
use imsat_data::idx;
use imsat_runtime::atomic_file::write_atomic;
use imsat_runtime::soft_code::SoftCheck;
use imsat_trainer::features::Scaling;
use imsat_trainer::loss::Task;
use imsat_trainer::train::{
    CLUSTER_MIN_STEPS, SMALL_DATA, SMALL_DATA_RESTARTS, TrainConfig, train, train_features,
};
use serde_json::json;

pub use config::Hidden;
use config::{TUNABLES, config_from, parse_hidden, settings_error, training_error};

use crate::cli::common::run_folder::{
    check_new_run_folder, make_run_folder, metadata_report, save_files, save_run,
};
use crate::cli::common::{Ctx, bad_input, check_output_dir};

#[derive(clap::Args)]
pub struct Args {
    /// What to learn: `cluster` (softmax over K) or `hash` (M bits).
    #[arg(long, value_parser = ["cluster", "hash"], required_unless_present = "config")]
    pub task: Option<String>,
    /// Reproduce a run: every setting (task, widths, SATs, epochs, seed, view, photo items)
    /// from the `config.json` of its folder; only --data, --labels, --out, --limit, --groups,
    /// --holdout, --radius and --soft-check are taken from the command line (give them as
    /// the run did: its `report.json` keeps its `command`).
    #[arg(long, conflicts_with_all = TUNABLES)]
    pub config: Option<PathBuf>,
    /// Number of clusters (cluster task) [default: 10].
    #[arg(long)]
    pub classes: Option<usize>,
    /// Number of code bits (hash task) [default: 16].
    #[arg(long)]
    pub bits: Option<usize>,
    /// Images: an IDX file (gzipped or not), or a folder of photos (JPEG/PNG/BMP/WebP/GIF/
    /// TIFF, any size, nested folders read too) to learn a copy-detection hash from (task
    /// hash); or feature vectors: a `.npy` float32/float64 [N, d] array in C order (SATs vat,
    /// rpt, neighbour; the model takes the d raw features).
    #[arg(long)]
    pub data: PathBuf,
    /// Labels (IDX, or `.npy` integers [N]), used only for evaluation.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Seed of the initial weights, batches and augmentations.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder: model, config.json, report.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace the run already in `--out` (without it a folder holding one is refused).
    #[arg(long)]
    pub overwrite: bool,
    /// Passes over the data [default: cluster 60, or more on fewer than 10,000 samples so
    /// that training takes at least 1,200 steps as on MNIST-10k; hash 50, photos 2500].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Batch size [default: cluster 500, hash 250, photos 256; at most the data (or items)].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Adam learning rate [default: 0.002].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Weight of the information term [default: 0.1; photos 3].
    #[arg(long)]
    pub lam: Option<f64>,
    /// Weight of H(Y) inside the information term [default: cluster 10, hash 1].
    #[arg(long)]
    pub mu: Option<f64>,
    /// SAT kinds, comma-separated: vat, rpt, affine, neighbour, edits
    /// [default: vat,affine; photos edits; .npy features vat].
    #[arg(long)]
    pub sat: Option<String>,
    /// Hidden layer sizes, comma-separated (e.g. 1200,1200), or `none` for a linear encoder
    /// [default: cluster 1200,1200; hash 400,400; photos none].
    #[arg(long, value_parser = parse_hidden)]
    pub hidden: Option<Hidden>,
    /// A convolutional front end before the hidden layers: `channels,kernel,stride,grid`
    /// (kernels of kernel x kernel at stride, ReLU, average pooling to a grid x grid map),
    /// or `none` [default: none; photos 12,3,2,4].
    #[arg(long)]
    pub conv: Option<String>,
    /// Photos with a colour view: `kernels,bits`: only the last `bits` of the code, through
    /// the last `kernels` convolution kernels, see chroma; the others see luma alone, so a
    /// grayscale copy moves only those bits. `none`: every bit sees colour [default: 4,12
    /// with the colour view and the convolutional front end, and no hidden layer; none
    /// otherwise].
    #[arg(long)]
    pub colour_split: Option<String>,
    /// Weight of the pairwise-MI penalty between bits (hash) [default: 15/(bits-1) up to 32
    /// bits, times 32/bits beyond (0.119 at 64); photos 15/(bits-1) at any length].
    #[arg(long)]
    pub pairwise_mi_weight: Option<f64>,
    /// VAT/RPT radius as a multiple of the 10th-neighbour distance [default: 0.25].
    #[arg(long)]
    pub eps_scale: Option<f64>,
    /// Affine SAT: largest rotation, in degrees either way [default: 15].
    #[arg(long)]
    pub rotation: Option<f64>,
    /// Affine SAT: largest horizontal shear (slant change, dx/dy) either way
    /// [default: cluster 0.6, hash 0].
    #[arg(long)]
    pub shear: Option<f64>,
    /// Affine SAT: probability of thickening or thinning the strokes, 0 to 1
    /// [default: cluster 0.5, hash 0]. Off on images smaller than 28x28, and the affine
    /// shift (2 pixels at 28x28) scales with the shorter side, so a distortion is the same
    /// fraction of a digit at any size (8x8 digits: README, Generality).
    #[arg(long)]
    pub thickness: Option<f64>,
    /// Candidate output layers trained together; the one with the lowest loss is kept
    /// [default: cluster 5, hash 1].
    #[arg(long)]
    pub heads: Option<usize>,
    /// Whole runs from seeds S, S+1000, ...; the one with the lowest final loss is kept (no
    /// labels used) [default: 1; cluster on fewer than 5,000 samples 2].
    #[arg(long)]
    pub restarts: Option<usize>,
    /// Use only the first N images (photos: the first N photos).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Photos: the edits the hash must see through, comma-separated, from jpeg, rescale,
    /// crop, rotate, brightness, contrast, gray, blur, caption, flip
    /// [default: all but flip].
    #[arg(long)]
    pub edits: Option<String>,
    /// Photos: side of the square view the model sees [default: 16].
    #[arg(long)]
    pub view_size: Option<usize>,
    /// Photos: `gray` (luma only) or `ycc` (luma and the two chroma planes, three times the
    /// inputs) [default: ycc].
    #[arg(long)]
    pub view_colour: Option<String>,
    /// Photos: how the view's gray levels are stretched: `norm` (mean and standard
    /// deviation), `robust` (median and quartiles) or `raw` [default: robust].
    #[arg(long)]
    pub view_contrast: Option<String>,
    /// Photos: a second view of the photo's centre keeping this percentage of its area, whose
    /// logits are averaged with the whole photo's (0: one view) [default: 75].
    #[arg(long)]
    pub view_centre: Option<u8>,
    /// Photos: a view of the photo's top part keeping this percentage of its rows, so that a
    /// caption or watermark at the bottom is out of one view (0: none) [default: 80].
    #[arg(long)]
    pub view_top: Option<u8>,
    /// Photos: a view of the photo's bottom part keeping this percentage of its rows, so that
    /// a caption or logo at the top is out of one view (0: none) [default: 80].
    #[arg(long)]
    pub view_bottom: Option<u8>,
    /// Photos: when the model encodes a photo, fill in a caption box pasted over it (one
    /// colour, a sharp rectangle over 1-15% of it) from the rows around it before the view is
    /// made (`+unbox` in the model's view; training items stay as drawn, so that the SAT still
    /// learns the boxes the fill misses) [default: true].
    #[arg(long)]
    pub view_unbox: Option<bool>,
    /// Photos: train each item on all of the model's views (the whole photo's and its
    /// parts'), their logits averaged as the runtime averages them when it encodes, in place
    /// of the whole photo's view alone; about 4 times the training time with four views. On
    /// the bundled photos it held 80% crops better (0.990 against 0.977) and caption boxes
    /// worse (0.972 against 0.996), overall the same [default: false].
    #[arg(long)]
    pub train_all_views: Option<bool>,
    /// Photos: training items cut from each photo (the full frame, then random crops)
    /// [default: 6].
    #[arg(long)]
    pub items_per_photo: Option<usize>,
    /// Photos: area range of the random crops that make the extra items, e.g. 0.1,0.3
    /// [default: 0.2,0.5].
    #[arg(long, value_delimiter = ',')]
    pub item_area: Option<Vec<f32>>,
    /// Photos: edited copies made per item for the edit SAT [default: 24].
    #[arg(long)]
    pub edits_per_item: Option<usize>,
    /// Photos: fraction of photo groups held out for validation (copy detection on their
    /// edited copies; sets the model's dedup radius), 0 to train on all [default: 0.2].
    #[arg(long)]
    pub holdout: Option<f64>,
    /// Photos: a CSV with `name` and `group` columns (like the bundled photos' manifest.csv):
    /// photos of one group (tiles of one picture) are held out together; rows name photos by
    /// file name, and by the folders above it where names repeat. Default: every photo is its
    /// own group.
    #[arg(long)]
    pub groups: Option<PathBuf>,
    /// Photos: the dedup radius written into the model; given, the measured soft check is
    /// not written, so that `imsat dedup` groups within it (add --soft-check for one).
    /// Default: the Hamming threshold at FPR 1e-4 on the moderate edits of the validation
    /// photos (of the training photos with --holdout 0, where it is optimistic: set it from a
    /// held-out estimate).
    #[arg(long)]
    pub radius: Option<u32>,
    /// Photos: the soft check written into the model, `RADIUS,DISTANCE`: dedup's candidates
    /// within RADIUS bits are duplicates when their soft distance is at most DISTANCE.
    /// Default: the Hamming threshold at FPR 1e-2 and the soft distance at FPR 1e-4 on the
    /// moderate edits of the validation photos (training photos with --holdout 0, as for
    /// --radius); none where --radius is given or no radius could be measured.
    #[arg(long, value_parser = parse_soft_check)]
    pub soft_check: Option<SoftCheck>,
}

/// `RADIUS,DISTANCE`, e.g. `17,34.1`.
fn parse_soft_check(text: &str) -> Result<SoftCheck, String> {
    let parsed = text.split_once(',').and_then(|(r, d)| {
        let (radius, max_distance) = (r.trim().parse::<u32>().ok()?, d.trim().parse::<f32>().ok()?);
        (max_distance.is_finite() && max_distance >= 0.0).then_some(SoftCheck {
            radius,
            max_distance,
        })
    });
    parsed.ok_or_else(|| {
        format!(
            "{text:?} is not RADIUS,DISTANCE (a Hamming radius, a whole number of bits, and a \
             soft distance, a number of at least 0; e.g. 17,34.1)"
        )
    })
}

/// Train on `.npy` feature vectors: the model (f32 only) takes the raw features; the
/// per-dimension mean and global scale training used go to `scaling.json`.
fn run_features(args: &Args, mut config: TrainConfig, ctx: &Ctx) -> anyhow::Result<()> {
    let mut f = crate::npy::read_features(&args.data)?;
    let mut labels = match &args.labels {
        Some(l) => Some(crate::input::read_labels(l)?),
        None => None,
    };
    if let (Some(l), Some(path)) = (&labels, &args.labels)
        && l.len() != f.n
    {
        return Err(bad_input(format!(
            "{}: {} labels for the {} rows of {}",
            path.display(),
            l.len(),
            f.n,
            args.data.display()
        )));
    }
    if let Some(limit) = args.limit {
        if limit == 0 {
            return Err(bad_input("--limit must be at least 1"));
        }
        if limit < f.n {
            f.n = limit;
            f.x.truncate(limit * f.d);
        }
        if let Some(l) = labels.as_mut() {
            l.truncate(limit);
        }
    }
    data_defaults(args, &mut config, f.n);
    config
        .validate(f.n)
        .map_err(|e| settings_error(e, args, config.task))?;
    let scaling = Scaling::fit(&f.x, f.d)
        .map_err(|why| bad_input(format!("{}: {why}", args.data.display())))?;
    if let Some(o) = scaling.outliers(&f.x) {
        errln!(
            "warning: {}: {} far from the rest set{} the features' scale alone (row {}, counting \
             from 0, lies {} times as far from the rows' median as the typical row), so the \
             other rows train squeezed together and the model may tell them apart poorly; drop \
             or clip such rows",
            args.data.display(),
            if o.rows == 1 {
                "1 row".to_string()
            } else {
                format!("{} rows", o.rows)
            },
            if o.rows == 1 { "s" } else { "" },
            o.first,
            if o.ratio < 1e6 {
                format!("{:.0}", o.ratio)
            } else {
                format!("{:.1e}", o.ratio)
            }
        );
    }
    let folder = make_run_folder(&args.out)?;
    let x = scaling.apply(&f.x);
    let trained = train_features(&config, x, f.n, f.d, labels.as_deref(), !ctx.quiet)
        .map_err(|e| training_error(e, args, config.task))?;
    let crc = crc32fast::hash(
        &f.x.iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    );
    let extra = json!({"input": "features", "dim": f.d});
    let files = folder.files();
    let report = save_files(&trained, f.n, crc, files, &extra)?;
    // The input scaling the burn record was trained under (the ONNX model has it folded in).
    let scaling_path = files.join("scaling.json");
    write_atomic(&scaling_path, serde_json::to_string(&scaling)?.as_bytes())
        .with_context(|| format!("writing {}", scaling_path.display()))?;
    let report_json = metadata_report(&report);
    imsat_trainer::features::write_model(&trained, &scaling, &f.x, &report_json, files)?;
    folder.commit()?;
    outln!("{report}")?;
    Ok(())
}

/// The defaults that follow the data's size: a batch no larger than the data, and for
/// clustering on small data epochs raised to the steps they were measured with
/// ([`CLUSTER_MIN_STEPS`]) and [`SMALL_DATA_RESTARTS`] restarts below [`SMALL_DATA`]
/// samples; an explicit `--batch`, `--epochs`, `--restarts` or `--config` is kept as given.
fn data_defaults(args: &Args, config: &mut TrainConfig, n: usize) {
    if args.config.is_some() {
        return;
    }
    // The default batch on data smaller than it: the data (a photo folder's items are capped
    // the same way), not a refusal naming a flag the user never gave.
    if args.batch.is_none() {
        config.batch = config.batch.min(n);
    }
    if config.task != Task::Cluster {
        return;
    }
    if args.epochs.is_none() {
        config.at_least_steps(n, CLUSTER_MIN_STEPS);
    }
    if args.restarts.is_none() && n < SMALL_DATA {
        config.restarts = SMALL_DATA_RESTARTS;
    }
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let mut config = config_from(&args)?;
    check_output_dir(&args.out, "--out")?;
    check_new_run_folder(&args.out, args.overwrite)?;
    if config.photos.is_some() {
        return photos::run(&args, config, ctx);
    }
    if crate::npy::is_npy(&args.data) {
        return run_features(&args, config, ctx);
    }
    let (mut images, mut labels) = match &args.labels {
        Some(l) => {
            let (i, l) = crate::input::read_labelled(&args.data, l)?;
            (i, Some(l))
        }
        None => (idx::read_idx_images(&args.data)?, None),
    };
    if let Some(limit) = args.limit {
        if limit == 0 {
            return Err(bad_input("--limit must be at least 1"));
        }
        images.truncate(limit);
        if let Some(l) = labels.as_mut() {
            l.truncate(limit);
        }
    }
    data_defaults(&args, &mut config, images.n);
    config
        .validate(images.n)
        .map_err(|e| settings_error(e, &args, config.task))?;
    let d = images.dim();
    if d > 0
        && images.n > 1
        && images
            .pixels
            .chunks_exact(d)
            .all(|r| r == &images.pixels[..d])
    {
        return Err(bad_input(format!(
            "{}: every one of the {} images is the same: there is nothing to tell apart",
            args.data.display(),
            images.n
        )));
    }
    let folder = make_run_folder(&args.out)?;

    let trained = train(&config, &images, labels.as_deref(), !ctx.quiet)
        .map_err(|e| training_error(e, &args, config.task))?;
    let (report, _) = save_run(
        &trained,
        &images,
        images.n,
        folder.files(),
        &serde_json::Value::Null,
        None,
        None,
    )?;
    folder.commit()?;
    outln!("{report}")?;
    Ok(())
}
