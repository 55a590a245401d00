//! `imsat train`: learn an encoder, save it with its report.

use std::path::{Path, PathBuf};

use anyhow::Context;
use imsat_trainer::data;
use imsat_trainer::export::{Exported, write_models};
use imsat_trainer::io::write_atomic;
use imsat_trainer::loss::Task;
use imsat_trainer::train::{Quality, TrainConfig, Trained, train};
use serde_json::json;

use super::{Ctx, bad_input};

#[derive(clap::Args)]
pub struct Args {
    /// What to learn: `cluster` (softmax over K) or `hash` (M bits).
    #[arg(long, value_parser = ["cluster", "hash"])]
    pub task: String,
    /// Number of clusters (cluster task).
    #[arg(long, default_value_t = 10)]
    pub classes: usize,
    /// Number of code bits (hash task).
    #[arg(long, default_value_t = 16)]
    pub bits: usize,
    /// Images: an IDX file (gzipped or not).
    #[arg(long)]
    pub data: PathBuf,
    /// Labels (IDX), used only for evaluation.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder: model, config.json, report.json.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    /// Weight of the information term.
    #[arg(long)]
    pub lam: Option<f64>,
    /// Weight of H(Y) (clustering).
    #[arg(long)]
    pub mu: Option<f64>,
    /// SAT kinds, comma-separated: vat, rpt, affine, neighbour.
    #[arg(long)]
    pub sat: Option<String>,
    /// Hidden layer sizes, comma-separated (e.g. 1200,1200).
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Weight of the pairwise-MI penalty between bits (hash; default 15/(bits-1)).
    #[arg(long)]
    pub pairwise_mi_weight: Option<f64>,
    /// VAT/RPT radius as a multiple of the 10th-neighbour distance.
    #[arg(long)]
    pub eps_scale: Option<f64>,
    /// Affine SAT: largest rotation, in degrees either way.
    #[arg(long)]
    pub rotation: Option<f64>,
    /// Affine SAT: largest horizontal shear (slant change, dx/dy) either way.
    #[arg(long)]
    pub shear: Option<f64>,
    /// Affine SAT: probability of thickening or thinning the strokes, 0 to 1.
    #[arg(long)]
    pub thickness: Option<f64>,
    /// Candidate output layers trained together; the one with the lowest loss is kept.
    #[arg(long)]
    pub heads: Option<usize>,
    /// Use only the first N images.
    #[arg(long)]
    pub limit: Option<usize>,
}

/// Largest `--bits` / `--classes` we train: the pairwise-MI term holds a bits x bits matrix
/// and the last layer hidden x outputs weights, so far larger widths only exhaust memory.
pub const MAX_OUTPUTS: usize = 4096;
/// Largest hidden layer size (a 784 x 16384 layer is already 50 M weights).
pub const MAX_HIDDEN: usize = 16384;

/// Flags the trainer cannot check for us: widths within what fits in memory, and float
/// settings that are finite in f32 (where training computes).
fn check_flags(args: &Args) -> anyhow::Result<()> {
    match args.task.as_str() {
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
        .and_then(|h| h.iter().find(|&&h| h > MAX_HIDDEN))
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
    check_flags(args)?;
    let mut c = match args.task.as_str() {
        "hash" => TrainConfig::hash(args.bits),
        _ => TrainConfig::cluster(args.classes),
    };
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
        c.hidden = h.clone();
    }
    if let Some(s) = &args.sat {
        c.sat =
            imsat_trainer::sat::parse_sat_list(s).map_err(|e| bad_input(format!("--sat: {e}")))?;
    }
    Ok(c)
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
) -> anyhow::Result<(serde_json::Value, Exported)> {
    let report = report_json(trained, images.n, crc32fast::hash(&images.pixels));
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
    let exported = write_models(trained, images, &report.to_string(), out)?;
    Ok((report, exported))
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let config = config_from(&args)?;
    super::check_output_dir(&args.out, "--out")?;
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
        .map_err(|e| bad_input(e.to_string()))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;

    let trained = train(&config, &images, labels.as_deref(), !ctx.quiet)?;
    let (report, _) = save_run(&trained, &images, &args.out)?;
    println!("{report}");
    Ok(())
}
