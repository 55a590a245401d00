//! `imsat eval`: the training metrics of an exported model, computed through the runtime
//! encoder (tract), optionally compared bit by bit with a reference (f32) model.

use std::path::{Path, PathBuf};
use std::time::Instant;

use imsat_runtime::encoder::{Encoder, EncoderError, Task};
use imsat_trainer::data;
use imsat_trainer::train::{Quality, SPLIT_SEED, evaluate_logits, pack_codes};
use serde_json::json;

use super::{Ctx, bad_input};

#[derive(clap::Args)]
pub struct Args {
    /// Exported model (`model.onnx` or `model.int8.onnx` from `imsat train`).
    #[arg(long)]
    pub model: PathBuf,
    /// What to measure: `labels` (clustering accuracy or retrieval mAP against --labels) or
    /// `copy-detection` (a photo model against pHash and dHash on edited copies of the photos
    /// in --data).
    #[arg(long, default_value = "labels", value_parser = ["labels", "copy-detection"])]
    pub task: String,
    /// Images: an IDX file (gzipped or not), as for training; for copy detection, a folder of
    /// photos.
    #[arg(long)]
    pub data: PathBuf,
    /// Labels (IDX) of the images (task `labels`).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Seed of the edited copies (task `copy-detection`).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A reference model (usually the f32 export) to compare against: adds
    /// `bits_equal_to_f32`, the fraction of code bits (hash) or cluster ids (cluster)
    /// equal to the reference's.
    #[arg(long)]
    pub reference: Option<PathBuf>,
}

/// Open a model; a file we cannot use is bad input (exit 2), not an internal error.
pub fn open_model(path: &Path) -> anyhow::Result<Encoder> {
    Encoder::open(path).map_err(|e| match e {
        EncoderError::Io { .. }
        | EncoderError::NotOnnx { .. }
        | EncoderError::Metadata { .. }
        | EncoderError::Prepare { .. } => bad_input(e.to_string()),
        e => anyhow::Error::new(e),
    })
}

/// Logits of all images, after checking that their size fits the model.
pub fn model_logits(
    enc: &Encoder,
    images: &data::Images,
    data_path: &Path,
) -> anyhow::Result<Vec<f32>> {
    if images.dim() != enc.input_dim() {
        return Err(bad_input(format!(
            "{}: images of {:?} ({} values) do not fit model {} which takes {:?} ({} values)",
            data_path.display(),
            images.shape,
            images.dim(),
            enc.path().display(),
            enc.info().input_shape,
            enc.input_dim()
        )));
    }
    Ok(enc.logits(&images.pixels)?)
}

/// Fraction of code bits (hash) or cluster ids (cluster) on which two sets of logits agree.
pub fn agreement(task: Task, outputs: usize, a: &[f32], b: &[f32]) -> f64 {
    match task {
        Task::Hash => {
            let (ca, cb) = (pack_codes(a, outputs), pack_codes(b, outputs));
            let differ: u64 = ca
                .iter()
                .zip(&cb)
                .map(|(x, y)| (x ^ y).count_ones() as u64)
                .sum();
            let total = (a.len() / outputs * outputs) as f64;
            1.0 - differ as f64 / total.max(1.0)
        }
        Task::Cluster => {
            let ia = imsat_trainer::train::argmax_rows(a, outputs);
            let ib = imsat_trainer::train::argmax_rows(b, outputs);
            let same = ia.iter().zip(&ib).filter(|(x, y)| x == y).count();
            same as f64 / ia.len().max(1) as f64
        }
    }
}

/// Fraction of code bits two photo models agree on over the photos of `dir` (their views).
fn photo_agreement(a: &Encoder, b: &Encoder, dir: &Path) -> anyhow::Result<f64> {
    let view = a
        .info()
        .view
        .ok_or_else(|| bad_input("not a photo model"))?;
    if b.info().view != Some(view) || b.outputs() != a.outputs() {
        return Err(bad_input(format!(
            "{}: not the same kind of photo model as {}",
            b.path().display(),
            a.path().display()
        )));
    }
    let loaded = crate::input::load_images(dir, (view.rows, view.cols), Some(&view))?;
    let (la, lb) = (
        a.logits(&loaded.images.pixels)?,
        b.logits(&loaded.images.pixels)?,
    );
    Ok(agreement(a.task(), a.outputs(), &la, &lb))
}

pub fn run(args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    let enc = open_model(&args.model)?;
    if args.task == "copy-detection" {
        let mut out = super::copy_detection::run(&enc, &args.model, &args.data, args.seed)?;
        if let Some(r) = &args.reference {
            let reference = open_model(r)?;
            out["reference"] = json!(r.display().to_string());
            out["bits_equal_to_reference"] = json!(photo_agreement(&enc, &reference, &args.data)?);
        }
        println!("{out}");
        return Ok(());
    }
    let labels_path = args.labels.as_ref().ok_or_else(|| {
        bad_input("--labels is needed for --task labels (or use --task copy-detection with a photo model)")
    })?;
    let (images, labels) = data::read_labelled(&args.data, labels_path)?;
    let started = Instant::now();
    let logits = model_logits(&enc, &images, &args.data)?;
    let seconds = started.elapsed().as_secs_f64();
    let quality = evaluate_logits(enc.task(), &logits, enc.outputs(), &labels, SPLIT_SEED);
    let mut out = json!({
        "model": args.model.display().to_string(),
        "task": enc.task().as_str(),
        "int8": enc.info().int8,
        "n": images.n,
        "seconds": seconds,
    });
    match (enc.task(), quality) {
        (_, Quality::Cluster { acc, nmi }) => {
            out["classes"] = json!(enc.outputs());
            out["acc"] = json!(acc);
            out["nmi"] = json!(nmi);
        }
        (_, Quality::Hash(q)) => {
            out["bits"] = json!(enc.outputs());
            out["map"] = json!(q.map);
            out["precision_at_500"] = json!(q.precision_at_500);
            out["precision_within_r2"] = json!(q.precision_within_r2);
        }
    }
    if let Some(r) = &args.reference {
        let reference = open_model(r)?;
        if reference.task() != enc.task() || reference.outputs() != enc.outputs() {
            return Err(bad_input(format!(
                "{}: a {} model with {} outputs cannot be compared with {} ({} model, {} outputs)",
                r.display(),
                reference.task(),
                reference.outputs(),
                args.model.display(),
                enc.task(),
                enc.outputs()
            )));
        }
        let ref_logits = model_logits(&reference, &images, &args.data)?;
        out["bits_equal_to_f32"] =
            json!(agreement(enc.task(), enc.outputs(), &logits, &ref_logits));
        out["reference"] = json!(r.display().to_string());
    }
    println!("{out}");
    Ok(())
}
