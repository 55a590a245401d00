//! `imsat encode`: images to codes (hash model) or cluster ids (cluster model).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use imsat_runtime::code::Codes;
use imsat_runtime::encoder::{Encoded, Encoder, Task};
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
    /// Images: an IDX file (gzipped or not) or a folder of images (file-name order).
    #[arg(long)]
    pub data: PathBuf,
    /// Output file: raw little-endian u64 words, ceil(bits/64) per image (hash model; what
    /// `imsat index import --raw-u64` reads), or one cluster id per line (cluster model).
    #[arg(long)]
    pub out: PathBuf,
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
    let (enc, images) = load(model, data)?;
    if enc.task() != Task::Hash {
        return Err(super::bad_input(format!(
            "{}: a {} model makes cluster ids, not codes: use a hash model",
            model.display(),
            enc.task()
        )));
    }
    Ok(enc.codes(&images.pixels)?)
}

pub fn run(args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    super::check_output_file(&args.out, "--out")?;
    let (enc, images) = load(&args.model, &args.data)?;
    let started = Instant::now();
    let encoded = enc.encode(&images.pixels)?;
    let seconds = started.elapsed().as_secs_f64();
    let bytes = match &encoded {
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
    write_atomic(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    let mut summary = json!({
        "model": args.model.display().to_string(),
        "task": enc.task().as_str(),
        "int8": enc.info().int8,
        "count": images.n,
        "out": args.out.display().to_string(),
        "seconds": seconds,
        "images_per_second": images.n as f64 / seconds.max(1e-9),
    });
    match encoded {
        Encoded::Codes(_) => summary["bits"] = json!(enc.outputs()),
        Encoded::Clusters(_) => summary["classes"] = json!(enc.outputs()),
    }
    println!("{summary}");
    Ok(())
}
