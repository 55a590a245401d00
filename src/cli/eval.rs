//! `imsat eval`: the training metrics of an exported model, computed through the runtime
//! encoder, optionally compared bit by bit with a reference (f32) model.

use std::path::{Path, PathBuf};
use std::time::Instant;

use imsat_runtime::encoder::Encoder;
use imsat_runtime::output::agreement;
use imsat_trainer::train::{Quality, SPLIT_SEED, evaluate_logits};
use serde_json::json;

use super::common::codes::read_npy_codes;
use super::common::model::{
    model_logits, not_a_features_model, open_model, read_features_for, takes_features,
};
use super::common::run_folder::retrieval_json;
use super::common::{Ctx, bad_input, check_output_file, check_png_output, copy_detection};

#[derive(clap::Args)]
pub struct Args {
    /// Exported model (`model.onnx` or `model.int8.onnx` from `imsat train`).
    #[arg(long, required_unless_present = "codes", conflicts_with = "codes")]
    pub model: Option<PathBuf>,
    /// Score codes made elsewhere instead of a model's: a `.npy` uint8 [N, bytes] array
    /// (bit p in bit p%8 of byte p/8, as `imsat encode --out X.npy` writes; e.g. ITQ or LSH
    /// baselines), with the same retrieval protocol and split as a hash model (needs --labels).
    #[arg(long)]
    pub codes: Option<PathBuf>,
    /// Bits of the --codes [default: 8 x bytes per code].
    #[arg(long, requires = "codes")]
    pub bits: Option<usize>,
    /// What to measure: `labels` (clustering accuracy or retrieval mAP against --labels) or
    /// `copy-detection` (a photo model against pHash and dHash on edited copies of the photos
    /// in --data).
    #[arg(long, default_value = "labels", value_parser = ["labels", "copy-detection"])]
    pub task: String,
    /// Images: an IDX file (gzipped or not), as for training, or `.npy` features for a model
    /// trained on features; for copy detection, a folder of photos.
    #[arg(long, required_unless_present = "codes")]
    pub data: Option<PathBuf>,
    /// Labels (IDX, or `.npy` integers) of the images (task `labels`).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Seed of the edited copies (task `copy-detection`) [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// A CSV with `name` and `group` columns (the photos' manifest; task `copy-detection`):
    /// photos of one group (the tiles of one photograph and its full frame) are not counted
    /// as false positives of each other, as the benchmark counts pairs of different sources;
    /// rows name photos by file name, and by the folders above it where names repeat
    /// [default: every photo its own group]. Photos with the same pixels are one group
    /// either way (said), as a training run's validation counts them.
    #[arg(long)]
    pub groups: Option<PathBuf>,
    /// A reference model (usually the f32 export) to compare against: adds
    /// `bits_equal_to_f32`, the fraction of code bits (hash) or cluster ids (cluster)
    /// equal to the reference's (with `--task copy-detection`: `bits_equal_to_reference`,
    /// over the photos of `--data` as they are, not their edited copies).
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Task `copy-detection`: draw every hash's ROC curve (copies found against false-match
    /// rate, moderate and strong edits) into this PNG (an existing file only if imsat drew
    /// it).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// Fraction of code bits two photo models agree on over the photos of `dir` (their views).
fn photo_agreement(a: &Encoder, b: &Encoder, dir: &Path) -> anyhow::Result<f64> {
    let view = a
        .info()
        .view
        .ok_or_else(|| bad_input("not a photo model"))?;
    let (their_bits, bits, model) = (b.outputs(), a.outputs(), a.path().display());
    let differs = match b.info().view {
        None => Some(format!("is not a photo model (it has no view), {model} is")),
        Some(v) if v != view => Some(format!(
            "sees photos through the view {}, {model} through {}",
            v.to_metadata(),
            view.to_metadata()
        )),
        Some(_) if their_bits != bits => Some(format!(
            "makes {their_bits}-bit codes, {model} {bits}-bit codes"
        )),
        Some(_) => None,
    };
    if let Some(differs) = differs {
        return Err(bad_input(format!(
            "--reference {}: {differs}: their bits cannot be compared",
            b.path().display()
        )));
    }
    let images = crate::input::load_images(
        dir,
        (view.input_shape()[0], view.cols),
        Some(&view),
        crate::input::BadFile::Error,
    )?;
    let (la, lb) = (a.logits(&images.pixels)?, b.logits(&images.pixels)?);
    Ok(agreement(a.task(), a.outputs(), &la, &lb)?)
}

/// `--codes`: retrieval metrics of packed codes against labels.
fn run_codes(codes_path: &Path, bits: Option<usize>, labels_path: &Path) -> anyhow::Result<()> {
    let codes = read_npy_codes(codes_path, bits)?;
    let labels = crate::input::read_labels(labels_path)?;
    if labels.len() != codes.len() {
        return Err(bad_input(format!(
            "{}: {} labels for the {} codes of {}",
            labels_path.display(),
            labels.len(),
            codes.len(),
            codes_path.display()
        )));
    }
    let (queries, gallery) = imsat_trainer::metrics::retrieval_split(&labels, 100, SPLIT_SEED);
    let q = imsat_trainer::metrics::retrieval_metrics(
        codes.as_words(),
        codes.words_per_code(),
        codes.bits(),
        &labels,
        &queries,
        &gallery,
    );
    let mut out = json!({
        "codes": codes_path.display().to_string(),
        "n": codes.len(),
        "bits": codes.bits(),
    });
    retrieval_json(&q, &mut out);
    outln!("{out}")?;
    Ok(())
}

/// The `--reference` model to compare `model` with: of the same task and width, and taking
/// the same input (`features` or images; a features model fed pixels gave a number that
/// meant nothing).
fn open_reference(
    r: &Path,
    model: &Path,
    enc: &Encoder,
    features: bool,
) -> anyhow::Result<Encoder> {
    let input = |features| if features { ".npy features" } else { "images" };
    if takes_features(r) != features {
        return Err(bad_input(format!(
            "{}: the reference takes {}, the model {} takes {}: compare models of one input",
            r.display(),
            input(!features),
            model.display(),
            input(features)
        )));
    }
    let reference = open_model(r)?;
    if reference.task() != enc.task() || reference.outputs() != enc.outputs() {
        return Err(bad_input(format!(
            "{}: a {} model with {} outputs cannot be compared with {} ({} model, {} outputs)",
            r.display(),
            reference.task(),
            reference.outputs(),
            model.display(),
            enc.task(),
            enc.outputs()
        )));
    }
    Ok(reference)
}

/// A model trained on features, on `.npy` features: metrics through the runtime (and its
/// agreement with `reference`, another features model).
fn run_features(
    enc: &Encoder,
    model: &Path,
    data: &Path,
    labels_path: &Path,
    reference: Option<&Path>,
) -> anyhow::Result<()> {
    let reference = reference
        .map(|r| open_reference(r, model, enc, true).map(|e| (r, e)))
        .transpose()?;
    let f = read_features_for(enc, model, data)?;
    let labels = crate::input::read_labels(labels_path)?;
    if labels.len() != f.n {
        return Err(bad_input(format!(
            "{}: {} labels for the {} rows of {}",
            labels_path.display(),
            labels.len(),
            f.n,
            data.display()
        )));
    }
    let started = Instant::now();
    let logits = enc.logits_f32(&f.x)?;
    let seconds = started.elapsed().as_secs_f64();
    let quality = evaluate_logits(enc.task(), &logits, enc.outputs(), &labels, SPLIT_SEED)?;
    // The data as a training report names it: path, and CRC-32 of the values' f32 bytes.
    let bytes: Vec<u8> = f.x.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut out = json!({
        "model": model.display().to_string(),
        "task": enc.task().as_str(),
        "input": "features",
        "data": data.display().to_string(),
        "data_crc32": format!("{:08x}", crc32fast::hash(&bytes)),
        "labels": labels_path.display().to_string(),
        "n": f.n,
        "seconds": seconds,
    });
    match quality {
        Quality::Cluster { acc, nmi } => {
            out["classes"] = json!(enc.outputs());
            out["acc"] = json!(acc);
            out["nmi"] = json!(nmi);
        }
        Quality::Hash(q) => {
            out["bits"] = json!(enc.outputs());
            retrieval_json(&q, &mut out);
        }
    }
    if let Some((r, reference)) = reference {
        if reference.input_dim() != f.d {
            return Err(bad_input(format!(
                "{}: rows of {} features do not fit the reference {}, which takes {}",
                data.display(),
                f.d,
                r.display(),
                reference.input_dim()
            )));
        }
        let ref_logits = reference.logits_f32(&f.x)?;
        out["bits_equal_to_f32"] =
            json!(agreement(enc.task(), enc.outputs(), &logits, &ref_logits)?);
        out["reference"] = json!(r.display().to_string());
    }
    outln!("{out}")?;
    Ok(())
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    // (clap's `requires` let these through: said here, not ignored.)
    if args.bits.is_some() && args.codes.is_none() {
        return Err(bad_input(
            "--bits is the width of --codes; a model's codes have the model's width",
        ));
    }
    if args.codes.is_some() && args.data.is_some() {
        return Err(bad_input(
            "--codes are scored against --labels alone; --data is for a model's images",
        ));
    }
    if args.groups.is_some() && args.task != "copy-detection" {
        return Err(bad_input("--groups is for --task copy-detection"));
    }
    // The labels task draws nothing at random: a seed given there would be taken for one.
    if args.seed.is_some() && args.task != "copy-detection" {
        return Err(bad_input(
            "--seed is for --task copy-detection (the seed of its edited copies)",
        ));
    }
    if let Some(plot) = &args.plot {
        if args.task != "copy-detection" {
            return Err(bad_input("--plot is for --task copy-detection"));
        }
        let inputs: Vec<&std::path::Path> = [
            &args.model,
            &args.data,
            &args.groups,
            &args.reference,
            &args.labels,
        ]
        .into_iter()
        .flatten()
        .map(std::path::PathBuf::as_path)
        .collect();
        check_output_file(plot, "--plot", &inputs)?;
        check_png_output(plot, "--plot", crate::plot::Picture::CopyDetectionRoc)?;
    }
    if let Some(codes) = &args.codes {
        if args.task != "labels" || args.reference.is_some() {
            return Err(bad_input(
                "--codes is scored against --labels only (not with --task copy-detection, \
                 --plot, --groups or --reference)",
            ));
        }
        let labels = args
            .labels
            .as_ref()
            .ok_or_else(|| bad_input("--codes needs --labels"))?;
        return run_codes(codes, args.bits, labels);
    }
    if args.labels.is_some() && args.task == "copy-detection" {
        return Err(bad_input(
            "--labels is for --task labels; copy detection needs none (photos of one picture \
             are named by --groups)",
        ));
    }
    let (Some(model), Some(data)) = (&args.model, &args.data) else {
        return Err(bad_input("--model and --data are needed (or --codes)"));
    };
    let enc = open_model(model)?;
    if crate::npy::is_npy(data) {
        if !takes_features(model) {
            return Err(not_a_features_model(model, data));
        }
        if args.task == "copy-detection" {
            return Err(bad_input(format!(
                "--data {}: copy detection edits photos; features are scored against labels \
                 (--task labels, the default, with --labels)",
                data.display()
            )));
        }
        let labels = args
            .labels
            .as_ref()
            .ok_or_else(|| bad_input("--labels is needed to evaluate on features"))?;
        return run_features(&enc, model, data, labels, args.reference.as_deref());
    }
    if takes_features(model) {
        return Err(bad_input(format!(
            "{}: the model takes {} features from a .npy file, not images ({})",
            model.display(),
            enc.input_dim(),
            data.display()
        )));
    }
    let (model, data) = (model.clone(), data.clone());
    run_model(args, enc, model, data, !ctx.quiet)
}

fn run_model(
    args: Args,
    enc: Encoder,
    model: PathBuf,
    data: PathBuf,
    progress: bool,
) -> anyhow::Result<()> {
    if args.task == "copy-detection" {
        let groups = args.groups.as_deref();
        let plot = args.plot.as_deref();
        let mut out = copy_detection::run(
            &enc,
            &model,
            &data,
            groups,
            args.seed.unwrap_or(0),
            plot,
            progress,
        )?;
        if let Some(r) = &args.reference {
            let reference = open_model(r)?;
            out["reference"] = json!(r.display().to_string());
            out["bits_equal_to_reference"] = json!(photo_agreement(&enc, &reference, &data)?);
        }
        outln!("{out}")?;
        return Ok(());
    }
    if data.is_dir() {
        // A folder is photos, scored by copy detection; labels go with IDX or .npy data.
        return Err(bad_input(format!(
            "--data {}: a folder of photos is scored with --task copy-detection{}; --task labels \
             takes an IDX or .npy file with --labels",
            data.display(),
            if enc.info().view.is_some() {
                ""
            } else {
                " and a photo model"
            }
        )));
    }
    let labels_path = args.labels.as_ref().ok_or_else(|| {
        bad_input("--labels is needed for --task labels (or use --task copy-detection with a photo model)")
    })?;
    let (images, labels) = crate::input::read_labelled(&data, labels_path)?;
    let started = Instant::now();
    let logits = model_logits(&enc, &images, &data)?;
    let seconds = started.elapsed().as_secs_f64();
    let quality = evaluate_logits(enc.task(), &logits, enc.outputs(), &labels, SPLIT_SEED)?;
    // The data by name and by content (the CRC-32 of the pixels, as a training report's
    // `data_crc32`), so that a number can be traced to what it was measured on.
    let mut out = json!({
        "model": model.display().to_string(),
        "task": enc.task().as_str(),
        "int8": enc.info().int8,
        "data": data.display().to_string(),
        "data_crc32": format!("{:08x}", crc32fast::hash(&images.pixels)),
        "labels": labels_path.display().to_string(),
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
            retrieval_json(&q, &mut out);
        }
    }
    if let Some(r) = &args.reference {
        let reference = open_reference(r, &model, &enc, false)?;
        let ref_logits = model_logits(&reference, &images, &data)?;
        out["bits_equal_to_f32"] =
            json!(agreement(enc.task(), enc.outputs(), &logits, &ref_logits)?);
        out["reference"] = json!(r.display().to_string());
    }
    outln!("{out}")?;
    Ok(())
}
