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
    /// Images: an IDX file (gzipped or not), as for training.
    #[arg(long)]
    pub data: PathBuf,
    /// Labels (IDX) of the images.
    #[arg(long)]
    pub labels: PathBuf,
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

/// The trainer's name for a runtime model's task (the runtime does not depend on the trainer).
pub fn trainer_task(t: Task) -> imsat_trainer::loss::Task {
    match t {
        Task::Cluster => imsat_trainer::loss::Task::Cluster,
        Task::Hash => imsat_trainer::loss::Task::Hash,
    }
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

pub fn run(args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    let enc = open_model(&args.model)?;
    let (images, labels) = data::read_labelled(&args.data, &args.labels)?;
    let started = Instant::now();
    let logits = model_logits(&enc, &images, &args.data)?;
    let seconds = started.elapsed().as_secs_f64();
    let quality = evaluate_logits(
        trainer_task(enc.task()),
        &logits,
        enc.outputs(),
        &labels,
        SPLIT_SEED,
    );
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
