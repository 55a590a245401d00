//! `imsat dedup`: groups of near-duplicate images in a folder (or an IDX file).

use std::path::PathBuf;
use std::time::Instant;

use imsat_runtime::encoder::Task;
use serde_json::json;

use super::{Ctx, bad_input};

/// Default radius: on the shipped 32-bit MNIST codes, r = 4 reaches the edited copies
/// (shift, rotation, noise, JPEG) in `tests/dedup_folder.rs`; the pixel check then removes
/// look-alikes.
pub const DEFAULT_RADIUS: u32 = 4;

/// Default pixel check. IMSAT codes are semantic: two different digits of one class often
/// share a code, so the codes only propose candidates and the images confirm them.
pub const DEFAULT_MIN_SIMILARITY: f32 = 0.95;

#[derive(clap::Args)]
pub struct Args {
    /// Hash model (`model.onnx` or `model.int8.onnx`).
    #[arg(long)]
    pub model: PathBuf,
    /// Largest Hamming distance between two codes of one group.
    #[arg(long, default_value_t = DEFAULT_RADIUS)]
    pub radius: u32,
    /// Pixel check of each candidate pair: the best correlation of the two images over shifts
    /// of up to one pixel must reach this (1 disables grouping, 0 trusts the codes alone).
    #[arg(long, default_value_t = DEFAULT_MIN_SIMILARITY)]
    pub min_similarity: f32,
    /// Print one JSON object with the groups instead of one line per group.
    #[arg(long)]
    pub json: bool,
    /// Folder of images (png, jpg, bmp, gif) or an IDX file.
    pub dir: PathBuf,
}

pub fn run(args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    let enc = super::eval::open_model(&args.model)?;
    if enc.task() != Task::Hash {
        return Err(bad_input(format!(
            "{}: a cluster model cannot find near-duplicates: use a hash model",
            args.model.display()
        )));
    }
    if args.radius as usize > enc.outputs() {
        return Err(bad_input(format!(
            "--radius {} is larger than the code width ({} bits)",
            args.radius,
            enc.outputs()
        )));
    }
    let shape = match enc.info().input_shape.as_slice() {
        [r, c] => (*r, *c),
        other => {
            return Err(bad_input(format!(
                "{}: model input shape {other:?} is not a 2-D image",
                args.model.display()
            )));
        }
    };
    let started = Instant::now();
    let loaded = crate::input::load_images(&args.dir, shape)?;
    let codes = enc.codes(&loaded.images.pixels)?;
    if !(0.0..=1.0).contains(&args.min_similarity) {
        return Err(bad_input(format!(
            "--min-similarity must be between 0 and 1, got {}",
            args.min_similarity
        )));
    }
    let px = &loaded.images.pixels;
    let dim = shape.0 * shape.1;
    let groups = imsat_runtime::dedup::dedup_confirmed(&codes, args.radius, |i, j| {
        imsat_runtime::dedup::images_similar(
            &px[i * dim..(i + 1) * dim],
            &px[j * dim..(j + 1) * dim],
            shape.0,
            shape.1,
            args.min_similarity,
        )
    })?;
    let name = |i: u64| match &loaded.paths {
        Some(p) => p[i as usize].display().to_string(),
        None => i.to_string(),
    };
    let named: Vec<Vec<String>> = groups
        .iter()
        .map(|g| g.iter().map(|&i| name(i)).collect())
        .collect();
    let summary = json!({
        "images": loaded.images.n,
        "groups": named.len(),
        "duplicates": named.iter().map(|g| g.len() - 1).sum::<usize>(),
        "radius": args.radius,
        "min_similarity": args.min_similarity,
        "seconds": started.elapsed().as_secs_f64(),
    });
    if args.json {
        let mut out = summary.clone();
        out["group_members"] = json!(named);
        println!("{out}");
    } else {
        for g in &named {
            println!("{}", g.join("\t"));
        }
        println!("{summary}");
    }
    Ok(())
}
