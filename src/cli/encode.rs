//! `imsat encode`: images to codes (hash model) or cluster ids (cluster model).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use imsat_runtime::code::Codes;
use imsat_runtime::encoder::{Encoded, Encoder, Task};
use imsat_runtime::format::onnx::Model;
use imsat_runtime::format::{Input, keys};
use imsat_trainer::data;
use imsat_trainer::io::write_atomic;
use serde_json::json;

use super::Ctx;
use super::eval::open_model;

#[derive(clap::Args)]
pub struct Args {
    /// Exported model (`model.onnx` or `model.int8.onnx` from `imsat train`).
    #[arg(long)]
    pub model: PathBuf,
    /// Images: an IDX file (gzipped or not) or a folder of images (file-name order); or, for
    /// a model trained on features, a `.npy` float32/float64 [N, d] array.
    #[arg(long)]
    pub data: PathBuf,
    /// Output file. A name ending in `.npy` gets a NumPy array: packed codes as uint8
    /// [N, ceil(bits/8)] (bit p of a code in bit p%8 of byte p/8, least significant first:
    /// `np.unpackbits(codes, axis=1, bitorder="little")[:, p]` is bit p; the rows go as they
    /// are into faiss binary indexes and Milvus BINARY_VECTOR), or cluster ids as int64 [N].
    /// Any other name gets raw little-endian u64 words, ceil(bits/64) per code (what
    /// `imsat index import --raw-u64` reads), or one cluster id per line.
    #[arg(long)]
    pub out: PathBuf,
}

/// Whether `model` takes feature vectors (metadata `imsat.input = features`); false for a
/// file that is not a model (opening it reports that). Reads the metadata only, with the
/// runtime's own reader: the model is opened (and optimized by tract) once, later.
pub fn takes_features(model: &Path) -> bool {
    std::fs::read(model).is_ok_and(|bytes| {
        Model::parse(&bytes)
            .is_ok_and(|m| m.metadata(keys::INPUT) == Some(Input::Features.as_str()))
    })
}

/// Run `model` on `data` (images, or `.npy` features for a feature model): codes or cluster
/// ids, how many rows, and the seconds the encoding itself took. Mismatches of model and data
/// are bad input (exit status 2).
pub fn encode_data(model: &Path, data: &Path) -> anyhow::Result<(Encoder, Encoded, usize, f64)> {
    let npy = crate::npy::is_npy(data);
    let features = takes_features(model);
    if !npy {
        if features {
            let enc = open_model(model)?;
            return Err(super::bad_input(format!(
                "{}: the model takes {} features from a .npy file, not images ({})",
                model.display(),
                enc.input_dim(),
                data.display()
            )));
        }
        let (enc, images) = load(model, data)?;
        let started = Instant::now();
        let encoded = enc.encode(&images.pixels)?;
        return Ok((enc, encoded, images.n, started.elapsed().as_secs_f64()));
    }
    let enc = open_model(model)?;
    if !features {
        return Err(super::bad_input(format!(
            "{}: the model takes images (an IDX file or a folder), not .npy features ({}); train one on the features with `imsat train --data {}`",
            model.display(),
            data.display(),
            data.display()
        )));
    }
    let f = crate::npy::read_features(data)?;
    if f.d != enc.input_dim() {
        return Err(super::bad_input(format!(
            "{}: rows of {} features do not fit model {}, which takes {}",
            data.display(),
            f.d,
            model.display(),
            enc.input_dim()
        )));
    }
    let started = Instant::now();
    let logits = enc.logits_f32(&f.x)?;
    let encoded = match enc.task() {
        Task::Hash => Encoded::Codes(Codes::from_logits(enc.outputs(), &logits)?),
        Task::Cluster => {
            Encoded::Clusters(imsat_runtime::encoder::argmax_rows(&logits, enc.outputs())?)
        }
    };
    Ok((enc, encoded, f.n, started.elapsed().as_secs_f64()))
}

/// Open a model and read images that fit it (both checked: bad input is exit status 2).
fn load(model: &Path, data: &Path) -> anyhow::Result<(Encoder, data::Images)> {
    let enc = open_model(model)?;
    let images = if data.is_dir() {
        let shape = match enc.info().input_shape.as_slice() {
            [r, c] => (*r, *c),
            other => {
                return Err(super::bad_input(format!(
                    "{}: model input shape {other:?} is not a 2-D image, so it cannot read a folder of images",
                    model.display()
                )));
            }
        };
        crate::input::load_images(data, shape, enc.info().view.as_ref())?.images
    } else {
        data::read_idx_images(data)?
    };
    if images.dim() != enc.input_dim() {
        return Err(super::bad_input(format!(
            "{}: images of {:?} ({} values) do not fit model {} which takes {:?} ({} values)",
            data.display(),
            images.shape,
            images.dim(),
            model.display(),
            enc.info().input_shape,
            enc.input_dim()
        )));
    }
    Ok((enc, images))
}

/// The codes of every image of `data` through a hash `model` (for `imsat index build`).
pub fn encode_hash_codes(model: &Path, data: &Path, _ctx: &Ctx) -> anyhow::Result<Codes> {
    let enc = open_model(model)?;
    if enc.task() != Task::Hash {
        return Err(super::bad_input(format!(
            "{}: a {} model makes cluster ids, not codes: use a hash model",
            model.display(),
            enc.task()
        )));
    }
    match encode_data(model, data)?.1 {
        Encoded::Codes(c) => Ok(c),
        Encoded::Clusters(_) => Err(anyhow::anyhow!("a hash model made cluster ids")),
    }
}

pub fn run(args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    super::check_output_file(&args.out, "--out")?;
    let (enc, encoded, n, seconds) = encode_data(&args.model, &args.data)?;
    if crate::npy::is_npy(&args.out) {
        match &encoded {
            Encoded::Codes(c) => crate::npy::write_codes(&args.out, c)?,
            Encoded::Clusters(ids) => crate::npy::write_clusters(&args.out, ids)?,
        }
    } else {
        write_raw(&args.out, &encoded)?;
    }
    let mut summary = json!({
        "model": args.model.display().to_string(),
        "task": enc.task().as_str(),
        "int8": enc.info().int8,
        "count": n,
        "out": args.out.display().to_string(),
        "seconds": seconds,
        "images_per_second": n as f64 / seconds.max(1e-9),
    });
    match encoded {
        Encoded::Codes(_) => summary["bits"] = json!(enc.outputs()),
        Encoded::Clusters(_) => summary["classes"] = json!(enc.outputs()),
    }
    println!("{summary}");
    Ok(())
}

/// Raw u64 words (codes) or one id per line (clusters).
fn write_raw(out: &Path, encoded: &Encoded) -> anyhow::Result<()> {
    let bytes = match encoded {
        Encoded::Codes(c) => c
            .as_words()
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect::<Vec<u8>>(),
        Encoded::Clusters(ids) => ids
            .iter()
            .map(|i| format!("{i}\n"))
            .collect::<String>()
            .into_bytes(),
    };
    write_atomic(out, &bytes).with_context(|| format!("writing {}", out.display()))
}
