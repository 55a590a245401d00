//! `imsat train`: learn an encoder, save it with its report.

use std::path::{Path, PathBuf};

use anyhow::Context;
use imsat_runtime::view::View;
use imsat_trainer::conv::ConvSpec;
use imsat_trainer::data;
use imsat_trainer::export::{Exported, write_models};
use imsat_trainer::features::Scaling;
use imsat_trainer::io::write_atomic;
use imsat_trainer::loss::Task;
use imsat_trainer::photo_set::PhotoSetConfig;
use imsat_trainer::sat::SatKind;
use imsat_trainer::train::{Quality, TrainConfig, TrainError, Trained, train, train_features};
use serde_json::json;

use super::{Ctx, bad_input};

#[derive(clap::Args)]
pub struct Args {
    /// What to learn: `cluster` (softmax over K) or `hash` (M bits).
    #[arg(long, value_parser = ["cluster", "hash"], required_unless_present = "config")]
    pub task: Option<String>,
    /// Reproduce a run: every setting (task, widths, SATs, epochs, seed, view, photo items)
    /// from the `config.json` of its folder; only --data, --labels, --out, --limit, --groups
    /// and --holdout are taken from the command line.
    #[arg(long, conflicts_with_all = TUNABLES)]
    pub config: Option<PathBuf>,
    /// Number of clusters (cluster task).
    #[arg(long, default_value_t = 10)]
    pub classes: usize,
    /// Number of code bits (hash task).
    #[arg(long, default_value_t = 16)]
    pub bits: usize,
    /// Images: an IDX file (gzipped or not), or a folder of photos (JPEG/PNG/BMP, any size,
    /// nested folders read too) to learn a copy-detection hash from (task hash); or feature
    /// vectors: a `.npy` float32/float64 [N, d] array in C order (SATs vat, rpt, neighbour;
    /// the model takes the d raw features).
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
    /// Passes over the data [default: cluster 60, hash 50, photos 1500].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Batch size [default: cluster 500, hash 250, photos 256 (at most the items)].
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
    /// or `none` [default: none; photos 8,3,2,4].
    #[arg(long)]
    pub conv: Option<String>,
    /// Weight of the pairwise-MI penalty between bits (hash) [default: 15/(bits-1)].
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
    /// [default: cluster 0.5, hash 0].
    #[arg(long)]
    pub thickness: Option<f64>,
    /// Candidate output layers trained together; the one with the lowest loss is kept
    /// [default: cluster 5, hash 1].
    #[arg(long)]
    pub heads: Option<usize>,
    /// Use only the first N images (photos: the first N photos).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Photos: the edits the hash must see through, comma-separated, from jpeg, rescale,
    /// crop, rotate, brightness, contrast, gray, blur, caption, flip
    /// [default: all but flip].
    #[arg(long)]
    pub edits: Option<String>,
    /// Photos: side of the square grayscale view the model sees.
    #[arg(long, default_value_t = 16)]
    pub view_size: usize,
    /// Photos: training items cut from each photo (the full frame, then random crops).
    #[arg(long, default_value_t = PhotoSetConfig::default().items_per_photo)]
    pub items_per_photo: usize,
    /// Photos: area range of the random crops that make the extra items, e.g. 0.1,0.3
    /// [default: 0.2,0.5].
    #[arg(long, value_delimiter = ',')]
    pub item_area: Option<Vec<f32>>,
    /// Photos: edited copies made per item for the edit SAT.
    #[arg(long, default_value_t = PhotoSetConfig::default().edits_per_item)]
    pub edits_per_item: usize,
    /// Photos: fraction of photo groups held out for validation (copy detection on their
    /// edited copies; sets the model's dedup radius), 0 to train on all.
    #[arg(long, default_value_t = 0.2)]
    pub holdout: f64,
    /// Photos: a CSV with `name` and `group` columns (like the bundled photos' manifest.csv):
    /// photos of one group (tiles of one picture) are held out together. Default: every photo
    /// is its own group.
    #[arg(long)]
    pub groups: Option<PathBuf>,
}

/// The flags a `config.json` sets, so `--config` refuses them.
const TUNABLES: [&str; 23] = [
    "task",
    "classes",
    "bits",
    "seed",
    "epochs",
    "batch",
    "lr",
    "lam",
    "mu",
    "sat",
    "hidden",
    "conv",
    "pairwise_mi_weight",
    "eps_scale",
    "rotation",
    "shear",
    "thickness",
    "heads",
    "edits",
    "view_size",
    "items_per_photo",
    "item_area",
    "edits_per_item",
];

/// Hidden layer sizes as given to `--hidden` (a newtype so clap takes the list as one value).
#[derive(Debug, Clone)]
pub struct Hidden(pub Vec<usize>);

fn parse_hidden(s: &str) -> Result<Hidden, String> {
    if s.trim() == "none" {
        return Ok(Hidden(Vec::new()));
    }
    s.split(',')
        .map(|p| {
            p.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{p}` is not a layer size (e.g. 400,400 or none)"))
        })
        .collect::<Result<_, _>>()
        .map(Hidden)
}

/// Largest `--bits` / `--classes` we train: the pairwise-MI term holds a bits x bits matrix
/// and the last layer hidden x outputs weights, so far larger widths only exhaust memory.
pub const MAX_OUTPUTS: usize = 4096;
/// Largest hidden layer size (a 784 x 16384 layer is already 50 M weights).
pub const MAX_HIDDEN: usize = 16384;

/// Flags the trainer cannot check for us: widths within what fits in memory, and float
/// settings that are finite in f32 (where training computes).
fn check_flags(args: &Args) -> anyhow::Result<()> {
    match args.task.as_deref().unwrap_or_default() {
        "hash" if !(1..=MAX_OUTPUTS).contains(&args.bits) => {
            return Err(bad_input(format!(
                "--bits must be between 1 and {MAX_OUTPUTS}, got {}",
                args.bits
            )));
        }
        "cluster" if !(2..=MAX_OUTPUTS).contains(&args.classes) => {
            return Err(bad_input(format!(
                "--classes must be between 2 and {MAX_OUTPUTS}, got {}",
                args.classes
            )));
        }
        _ => {}
    }
    if let Some(h) = args
        .hidden
        .as_ref()
        .and_then(|h| h.0.iter().find(|&&h| h > MAX_HIDDEN))
    {
        return Err(bad_input(format!(
            "--hidden: layer size {h} is larger than {MAX_HIDDEN}"
        )));
    }
    for (name, v) in [
        ("lr", args.lr),
        ("lam", args.lam),
        ("mu", args.mu),
        ("pairwise-mi-weight", args.pairwise_mi_weight),
        ("eps-scale", args.eps_scale),
        ("rotation", args.rotation),
        ("shear", args.shear),
        ("thickness", args.thickness),
    ] {
        if let Some(v) = v
            && !(v.is_finite() && v >= 0.0 && v <= f32::MAX as f64)
        {
            return Err(bad_input(format!(
                "--{name} must be a finite non-negative number, got {v}"
            )));
        }
    }
    if let Some(t) = args.thickness
        && t > 1.0
    {
        return Err(bad_input(format!(
            "--thickness is a probability between 0 and 1, got {t}"
        )));
    }
    Ok(())
}

/// Turn the flags into a config (defaults per task, then overrides).
pub fn config_from(args: &Args) -> anyhow::Result<TrainConfig> {
    if let Some(path) = &args.config {
        return read_config(path, &args.data);
    }
    check_flags(args)?;
    let photos = args.data.is_dir();
    let mut c = match args.task.as_deref().unwrap_or_default() {
        "hash" if photos => TrainConfig::photo_hash(args.bits),
        "hash" => TrainConfig::hash(args.bits),
        _ if photos => {
            return Err(bad_input(format!(
                "--data {}: a photo folder trains a hash (--task hash); clustering needs an IDX file",
                args.data.display()
            )));
        }
        _ => TrainConfig::cluster(args.classes),
    };
    if let Some(p) = c.photos.as_mut() {
        if !(4..=256).contains(&args.view_size) {
            return Err(bad_input(format!(
                "--view-size must be between 4 and 256, got {}",
                args.view_size
            )));
        }
        if args.items_per_photo == 0 || args.edits_per_item == 0 {
            return Err(bad_input(
                "--items-per-photo and --edits-per-item must be at least 1",
            ));
        }
        if !(0.0..0.9).contains(&args.holdout) {
            return Err(bad_input(format!(
                "--holdout is a fraction from 0 to 0.9, got {}",
                args.holdout
            )));
        }
        if let Some(a) = &args.item_area {
            if a.len() != 2 || !(a[0] > 0.0 && a[0] <= a[1] && a[1] <= 1.0) {
                return Err(bad_input(format!(
                    "--item-area needs two values, 0 < low <= high <= 1, got {a:?}"
                )));
            }
            p.item_area = (a[0], a[1]);
        }
        p.items_per_photo = args.items_per_photo;
        p.edits_per_item = args.edits_per_item;
        if let Some(e) = &args.edits {
            p.edits = imsat_trainer::edits::parse_edit_list(e)
                .map_err(|e| bad_input(format!("--edits: {e}")))?;
        }
        c.view = Some(
            View {
                rows: args.view_size,
                cols: args.view_size,
                normalize: true,
            }
            .to_metadata(),
        );
    } else if args.edits.is_some() {
        return Err(bad_input(
            "--edits applies to photo folders; --data is an IDX file",
        ));
    }
    c.seed = args.seed;
    c.epochs = args.epochs.unwrap_or(c.epochs);
    c.batch = args.batch.unwrap_or(c.batch);
    c.lr = args.lr.unwrap_or(c.lr);
    c.lam = args.lam.unwrap_or(c.lam);
    c.mu = args.mu.unwrap_or(c.mu);
    c.eps_scale = args.eps_scale.unwrap_or(c.eps_scale);
    c.heads = args.heads.unwrap_or(c.heads);
    c.pairwise_mi_weight = args.pairwise_mi_weight.unwrap_or(c.pairwise_mi_weight);
    let affine = &mut c.affine;
    affine.degrees = args.rotation.map_or(affine.degrees, |v| v as f32);
    affine.shear = args.shear.map_or(affine.shear, |v| v as f32);
    affine.thickness = args.thickness.map_or(affine.thickness, |v| v as f32);
    if let Some(h) = &args.hidden {
        c.hidden = h.0.clone();
    }
    if let Some(conv) = &args.conv {
        c.conv = ConvSpec::parse(conv).map_err(|e| bad_input(format!("--conv: {e}")))?;
    }
    if let (Some(spec), true) = (c.conv, photos) {
        spec.check(args.view_size, args.view_size).map_err(|e| {
            bad_input(format!(
                "--conv with --view-size {}: {e} (pick another --view-size, e.g. 16 or 32, \
                 another --conv, or --conv none)",
                args.view_size
            ))
        })?;
    }
    if crate::npy::is_npy(&args.data) {
        c.sat = vec![SatKind::Vat];
    }
    if let Some(s) = &args.sat {
        c.sat =
            imsat_trainer::sat::parse_sat_list(s).map_err(|e| bad_input(format!("--sat: {e}")))?;
    }
    if crate::npy::is_npy(&args.data)
        && let Some(k) = c.sat.iter().find(|k| k.needs_pixels())
    {
        return Err(bad_input(format!(
            "--sat {}: needs pixels, but --data {} holds feature vectors; use vat, rpt or neighbour",
            k.as_str(),
            args.data.display()
        )));
    }
    Ok(c)
}

/// A run's `config.json`, checked as the flags would be (widths that fit, finite weights)
/// and against the data it is given (a photo config needs a photo folder, and back).
fn read_config(path: &Path, data: &Path) -> anyhow::Result<TrainConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad_input(format!("--config {}: cannot read: {e}", path.display())))?;
    let c: TrainConfig = serde_json::from_str(&text).map_err(|e| {
        bad_input(format!(
            "--config {}: not a training config.json: {e}",
            path.display()
        ))
    })?;
    let bad = |what: String| bad_input(format!("--config {}: {what}", path.display()));
    if !(1..=MAX_OUTPUTS).contains(&c.outputs) {
        return Err(bad(format!(
            "outputs is {}, not between 1 and {MAX_OUTPUTS}",
            c.outputs
        )));
    }
    if let Some(h) = c.hidden.iter().find(|&&h| h > MAX_HIDDEN) {
        return Err(bad(format!(
            "hidden layer size {h} is larger than {MAX_HIDDEN}"
        )));
    }
    let a = &c.affine;
    for (name, v) in [
        ("eps_scale", c.eps_scale as f32),
        ("affine.degrees", a.degrees),
        ("affine.scale", a.scale),
        ("affine.shift", a.shift),
        ("affine.shear", a.shear),
        ("affine.thickness", a.thickness),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(bad(format!(
                "{name} must be a finite non-negative number, got {v}"
            )));
        }
    }
    if c.photos.is_some() != data.is_dir() {
        return Err(bad(format!(
            "it is a {} run, but --data {} is {}",
            if c.photos.is_some() {
                "photo-folder"
            } else {
                "non-photo"
            },
            data.display(),
            if data.is_dir() { "a folder" } else { "a file" }
        )));
    }
    if crate::npy::is_npy(data)
        && let Some(k) = c.sat.iter().find(|k| k.needs_pixels())
    {
        return Err(bad(format!(
            "SAT {} needs pixels, but --data {} holds feature vectors",
            k.as_str(),
            data.display()
        )));
    }
    Ok(c)
}

/// A settings error in the user's words: a config field becomes the flag that sets it
/// (`pairwise_mi_weight` -> `--pairwise-mi-weight`), or, for a run read from `--config`,
/// stays a field of that file.
pub fn settings_error(e: TrainError, args: &Args, task: Task) -> anyhow::Error {
    match (&e, &args.config) {
        (TrainError::Setting { field, problem }, None) => {
            let flag = match (*field, task) {
                ("outputs", Task::Cluster) => "--classes",
                ("outputs", Task::Hash) => "--bits",
                ("epochs", _) => "--epochs",
                ("batch", _) => "--batch",
                ("lr", _) => "--lr",
                ("lam", _) => "--lam",
                ("mu", _) => "--mu",
                ("pairwise_mi_weight", _) => "--pairwise-mi-weight",
                ("hidden", _) => "--hidden",
                ("heads", _) => "--heads",
                ("sat", _) => "--sat",
                _ => return bad_input(e.to_string()),
            };
            bad_input(format!("invalid settings: {flag} {problem}"))
        }
        (TrainError::Setting { .. }, Some(path)) => {
            bad_input(format!("--config {}: {e}", path.display()))
        }
        _ => bad_input(e.to_string()),
    }
}

/// The report as printed and saved: one JSON object.
pub fn report_json(t: &Trained, n: usize, data_crc32: u32) -> serde_json::Value {
    let c = &t.config;
    let mut r = json!({
        "task": c.task.as_str(),
        "epochs": c.epochs,
        "seed": c.seed,
        "seconds_per_epoch": t.seconds_per_epoch,
        "n": n,
        "batch": c.batch,
        "sat": c.sat,
        "hidden": c.hidden,
        "heads": c.heads,
        "head": t.head,
        "data_crc32": format!("{data_crc32:08x}"),
    });
    if let Some(conv) = c.conv {
        r["conv"] = json!(conv);
    }
    match c.task {
        Task::Cluster => r["classes"] = json!(c.outputs),
        Task::Hash => r["bits"] = json!(c.outputs),
    }
    match t.quality {
        Some(Quality::Cluster { acc, nmi }) => {
            r["acc"] = json!(acc);
            r["nmi"] = json!(nmi);
        }
        Some(Quality::Hash(q)) => {
            r["map"] = json!(q.map);
            r["precision_at_500"] = json!(q.precision_at_500);
            r["precision_within_r2"] = json!(q.precision_within_r2);
        }
        None => {}
    }
    r
}

/// Everything a training run leaves in its folder, each file through a temporary file and a
/// rename: the burn record, `config.json`, `history.json`, `report.json`, `curves.png`, and the
/// ONNX models (f32 + int8 calibrated on `images`). Returns the report and the ONNX files.
pub fn save_run(
    trained: &Trained,
    images: &data::Images,
    out: &Path,
    extra: &serde_json::Value,
) -> anyhow::Result<(serde_json::Value, Exported)> {
    let report = save_files(
        trained,
        images.n,
        crc32fast::hash(&images.pixels),
        out,
        extra,
    )?;
    let exported = write_models(trained, images, &report.to_string(), out)?;
    Ok((report, exported))
}

/// Everything [`save_run`] writes but the ONNX models; returns the report.
fn save_files(
    trained: &Trained,
    n: usize,
    data_crc32: u32,
    out: &Path,
    extra: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let mut report = report_json(trained, n, data_crc32);
    if let (Some(r), Some(e)) = (report.as_object_mut(), extra.as_object()) {
        r.extend(e.clone());
    }
    let save = |name: &str, bytes: &[u8]| {
        let p = out.join(name);
        write_atomic(&p, bytes).with_context(|| format!("writing {}", p.display()))
    };
    let record = burn::module::Module::into_record(trained.model.clone())
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("serializing the model: {e:?}"))?;
    save("model.bpk", &record)?;
    save(
        "config.json",
        serde_json::to_string_pretty(&trained.config)?.as_bytes(),
    )?;
    save(
        "history.json",
        serde_json::to_string_pretty(&trained.history)?.as_bytes(),
    )?;
    save(
        "report.json",
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    let c = &trained.config;
    let metric = match c.task {
        Task::Cluster => "clustering accuracy",
        Task::Hash => "retrieval mAP",
    };
    let title = format!("{} {}", c.task.as_str(), c.outputs);
    crate::plot::training_curves(&out.join("curves.png"), &trained.history, &title, metric)?;
    Ok(report)
}

/// Train on `.npy` feature vectors: the model (f32 only) takes the raw features; the
/// per-dimension mean and global scale training used go to `scaling.json`.
fn run_features(args: &Args, config: TrainConfig, ctx: &Ctx) -> anyhow::Result<()> {
    let mut f = crate::npy::read_features(&args.data)?;
    let mut labels = match &args.labels {
        Some(l) if crate::npy::is_npy(l) => Some(crate::npy::read_labels(l)?),
        Some(l) => Some(data::read_idx_labels(l, 256)?),
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
    config
        .validate(f.n)
        .map_err(|e| settings_error(e, args, config.task))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let scaling = Scaling::fit(&f.x, f.d);
    let x = scaling.apply(&f.x);
    let trained = train_features(&config, x, f.n, f.d, labels.as_deref(), !ctx.quiet)?;
    let crc = crc32fast::hash(
        &f.x.iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    );
    let extra = json!({"input": "features", "dim": f.d});
    let report = save_files(&trained, f.n, crc, &args.out, &extra)?;
    // The input scaling the burn record was trained under (the ONNX model has it folded in).
    let scaling_path = args.out.join("scaling.json");
    write_atomic(&scaling_path, serde_json::to_string(&scaling)?.as_bytes())
        .with_context(|| format!("writing {}", scaling_path.display()))?;
    imsat_trainer::features::write_model(&trained, &scaling, &report.to_string(), &args.out)?;
    println!("{report}");
    Ok(())
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let config = config_from(&args)?;
    super::check_output_dir(&args.out, "--out")?;
    if config.photos.is_some() {
        return super::train_photos::run(&args, config, ctx);
    }
    if crate::npy::is_npy(&args.data) {
        return run_features(&args, config, ctx);
    }
    let (mut images, mut labels) = match &args.labels {
        Some(l) => {
            let (i, l) = data::read_labelled(&args.data, l)?;
            (i, Some(l))
        }
        None => (data::read_idx_images(&args.data)?, None),
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
    config
        .validate(images.n)
        .map_err(|e| settings_error(e, &args, config.task))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;

    let trained = train(&config, &images, labels.as_deref(), !ctx.quiet)?;
    let (report, _) = save_run(&trained, &images, &args.out, &serde_json::Value::Null)?;
    println!("{report}");
    Ok(())
}
