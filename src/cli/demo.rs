//! `imsat demo`: the whole pipeline on the bundled MNIST-10k in a few minutes —
//! train (cluster + hash) -> export ONNX (f32 + int8) -> encode -> index -> search -> dedup,
//! with pictures and a summary table.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use imsat_data::Label;
use imsat_runtime::atomic_file;
use imsat_runtime::dedup::Linkage;
use imsat_runtime::encoder::Encoder;
use imsat_runtime::index::Index;
use imsat_runtime::output::agreement;
use imsat_trainer::train::{SPLIT_SEED, TrainConfig, evaluate_logits, train};
use serde_json::json;

use super::common::model::open_model;
use super::common::radius::{DEFAULT_MIN_SIMILARITY, DEFAULT_RADIUS};
use super::common::run_folder::{
    RUN_FILES, RunFolder, STAGING_PREFIX, holds_run_file, keep_aside_if_foreign_files,
    make_run_folder, save_run,
};
use super::common::{Ctx, PNG_MAGIC, bad_input, check_output_dir, file_begins_with};

#[derive(clap::Args)]
pub struct Args {
    /// Output folder for models, pictures and the summary.
    #[arg(long, default_value = "demo")]
    pub out: PathBuf,
    /// Images (IDX); defaults to the bundled MNIST-10k.
    #[arg(long, default_value = "data/mnist10k/images-idx3-ubyte.gz")]
    pub data: PathBuf,
    /// Labels of the images (IDX, or a `.npy` of integers), for the accuracy and mAP the
    /// summary reports.
    #[arg(long, default_value = "data/mnist10k/labels-idx1-ubyte.gz")]
    pub labels: PathBuf,
    /// Epochs of the clustering model (demo setting; `imsat train` uses the full defaults).
    #[arg(long, default_value_t = 12)]
    pub cluster_epochs: usize,
    /// Epochs of the 32-bit hash model.
    #[arg(long, default_value_t = 20)]
    pub hash_epochs: usize,
    /// Seed of both trainings.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

fn step(ctx: &Ctx, what: &str) {
    if !ctx.quiet {
        errln!("==> {what}");
    }
}

/// The files the demo writes into its `--out` folder, beside its two run folders.
const DEMO_FILES: [&str; 3] = ["summary.json", "hash32.idx", "retrieval.png"];
/// The demo's run folders (each a training run's files, [`RUN_FILES`]).
const DEMO_RUNS: [&str; 2] = ["cluster10", "hash32"];
/// The keys of the demo's `summary.json`.
const SUMMARY_KEYS: [&str; 6] = ["cluster", "hash", "models", "search", "dedup", "seconds"];
/// Files a file browser leaves in a folder it shows; the demo replaces none of them.
const BROWSER_FILES: [&str; 3] = [".DS_Store", "Thumbs.db", "desktop.ini"];

/// Refuse, before any work, an existing `--out` folder that holds anything but an earlier
/// demo's files (its summary, index, picture and run folders, and what a killed demo left:
/// temporary files, staging folders): the demo replaced a user's own `summary.json` or
/// `hash32.idx` there, and wrote models into a photo folder. A missing or empty folder, or an
/// earlier demo (complete or stopped part-way), is written as before.
fn check_demo_folder(out: &Path) -> anyhow::Result<()> {
    let entries = match std::fs::read_dir(out) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(bad_input(format!(
                "--out {}: cannot list it: {e}",
                out.display()
            )));
        }
    };
    let mut foreign: Vec<String> = entries
        .flatten()
        .filter_map(|e| not_the_demos(out, &e.file_name().to_string_lossy()))
        .collect();
    foreign.sort();
    match foreign.first() {
        None => Ok(()),
        Some(first) => Err(bad_input(format!(
            "--out {}: holds files that are not an earlier demo's (e.g. {first}); give a new \
             or empty folder",
            out.display()
        ))),
    }
}

/// `None` where `name` in the folder `dir` is one the demo writes there (or a browser's
/// file); else what it is, for the refusal.
fn not_the_demos(dir: &Path, name: &str) -> Option<String> {
    let path = dir.join(name);
    let begins = |magic: &[u8]| file_begins_with(&path, magic);
    let ours = match name {
        // A temporary file or a staging folder a demo killed while writing left.
        _ if BROWSER_FILES.contains(&name)
            || name.starts_with(STAGING_PREFIX)
            || DEMO_FILES
                .iter()
                .any(|f| atomic_file::is_temporary_of(name, f)) =>
        {
            true
        }
        "summary.json" => is_demo_summary(&path),
        // (`mnist10k-hash32.idx`: the index's name before 2026-12-05.)
        "hash32.idx" | "mnist10k-hash32.idx" => begins(&imsat_runtime::index::MAGIC),
        "retrieval.png" => begins(PNG_MAGIC),
        _ if DEMO_RUNS.contains(&name) => {
            return match std::fs::read_dir(&path) {
                Ok(entries) => entries.flatten().find_map(|e| {
                    let inner = e.file_name().to_string_lossy().into_owned();
                    let run_file = (RUN_FILES.contains(&inner.as_str())
                        && holds_run_file(&inner, &e.path()))
                        || inner.starts_with(STAGING_PREFIX)
                        || BROWSER_FILES.contains(&inner.as_str());
                    (!run_file).then(|| format!("{name}/{inner}"))
                }),
                Err(_) => Some(format!("{name}, not a folder")),
            };
        }
        // A training run's folder given as the demo's (which holds two runs below it).
        _ if RUN_FILES.contains(&name) => {
            return Some(format!(
                "{name}, a training run's file: the demo writes its runs into cluster10/ and \
                 hash32/ below --out"
            ));
        }
        _ => return Some(name.to_string()),
    };
    match ours {
        true => None,
        false => Some(format!("{name}, not the demo's")),
    }
}

/// Whether the file at `path` is a demo's `summary.json`: a JSON object of its keys (a file
/// over a megabyte is not: the demo's is a few kilobytes).
fn is_demo_summary(path: &Path) -> bool {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() < 1 << 20) {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .is_some_and(|o| SUMMARY_KEYS.iter().all(|k| o.contains_key(*k)))
}

/// Train one model and save it as `imsat train --overwrite` does into `folder`'s staging
/// folder; [`put_in_place`] moves it in with the rest of the demo.
fn train_and_save(
    config: &TrainConfig,
    images: &imsat_data::Images,
    labels: &[Label],
    folder: &RunFolder,
    ctx: &Ctx,
) -> anyhow::Result<(serde_json::Value, imsat_trainer::export::Exported)> {
    let trained = train(config, images, Some(labels), !ctx.quiet)?;
    save_run(
        &trained,
        images,
        images.n,
        folder.files(),
        &serde_json::Value::Null,
        None,
        None,
    )
}

/// The files a demo writes beside its run folders, staged in `--out`'s own staging folder
/// until the end.
const STAGED_BESIDE: [&str; 2] = ["hash32.idx", "retrieval.png"];

/// Put a finished demo in place in `out` (`top`, locked for the demo): its two run folders'
/// files, the index and picture staged in `top`, then `summary`, with signals held back
/// meanwhile. Until this, an earlier demo in `out` is whole (a stopped or failed rerun leaves
/// it as it was); the earlier summary goes first, so that a move that fails half-way leaves
/// no summary of other models.
fn put_in_place(
    out: &Path,
    (top, cluster, hash): (&RunFolder, &RunFolder, &RunFolder),
    summary: &serde_json::Value,
) -> anyhow::Result<()> {
    let summary = serde_json::to_string_pretty(summary)?;
    crate::cli::common::interrupt::held_back(|| {
        keep_aside_if_foreign_files(&[cluster, hash])?;
        retire_summary(out)?;
        cluster.move_in()?;
        hash.move_in()?;
        // Written as any output is (through a link, keeping the file's permissions): they
        // are small.
        for name in STAGED_BESIDE {
            let (staged, to) = (top.files().join(name), out.join(name));
            let bytes =
                std::fs::read(&staged).with_context(|| format!("reading {}", staged.display()))?;
            atomic_file::write_atomic(&to, &bytes)?;
        }
        atomic_file::write_atomic(&out.join("summary.json"), summary.as_bytes())?;
        Ok(())
    })
}

/// Remove an earlier demo's `summary.json` from `out` before the first of its files is
/// replaced: a move that fails part-way leaves a demo stopped part-way, never a summary beside
/// models it does not describe. The new summary is written last.
fn retire_summary(out: &Path) -> anyhow::Result<()> {
    let path = out.join("summary.json");
    if !is_demo_summary(&path) {
        return Ok(());
    }
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing the earlier {}", path.display()))
        }
        _ => Ok(()),
    }
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let started = Instant::now();
    check_output_dir(&args.out, "--out")?;
    check_demo_folder(&args.out)?;
    if crate::npy::is_npy(&args.data) || file_begins_with(&args.data, crate::npy::MAGIC) {
        return Err(bad_input(format!(
            "--data {}: a .npy file; the demo trains on images (IDX): train on .npy features \
             with `imsat train --data {}` (--labels, --task)",
            args.data.display(),
            args.data.display()
        )));
    }
    let (images, labels) = crate::input::read_labelled(&args.data, &args.labels)?;
    let mut cluster = TrainConfig::cluster(10);
    cluster.epochs = args.cluster_epochs;
    cluster.seed = args.seed;
    // A short run: the reference balance weight, mild slant changes and one head form
    // clusters within a dozen epochs; the full defaults need about 40 (README, Results).
    cluster.mu = 4.0;
    cluster.affine.shear = 0.3;
    cluster.heads = 1;
    let mut hash = TrainConfig::hash(32);
    hash.epochs = args.hash_epochs;
    hash.seed = args.seed;
    // Its models' affine SAT moves pictures; a row of values is none (`imsat train` has
    // --sat for such data, the demo does not).
    if !matches!(images.shape[..], [rows, cols] if rows >= 2 && cols >= 2) {
        let shape: Vec<String> = images.shape.iter().map(usize::to_string).collect();
        return Err(bad_input(format!(
            "--data {}: images of shape {}, and the demo's models learn from affine \
             distortions of pictures of at least 2x2 pixels: train on such data with `imsat \
             train --sat vat`",
            args.data.display(),
            shape.join("x")
        )));
    }
    // The batch at most the data, as `imsat train`'s default (a demo on 100 images).
    for config in [&mut cluster, &mut hash] {
        config.batch = config.batch.min(images.n);
    }
    for (config, flag) in [(&cluster, "--cluster-epochs"), (&hash, "--hash-epochs")] {
        if config.epochs == 0 {
            return Err(bad_input(format!("{flag} must be at least 1")));
        }
        config
            .validate(images.n)
            .map_err(|e| bad_input(e.to_string()))?;
    }
    let made = crate::cli::common::interrupt::make_output_folder(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let result = run_in(&args, ctx, started, &images, &labels, (&cluster, &hash));
    if result.is_err() {
        // A demo that failed leaves no empty folder it made.
        crate::cli::common::interrupt::remove_empty(&made);
    }
    result
}

/// The demo's work, in `args.out` (made).
fn run_in(
    args: &Args,
    ctx: &Ctx,
    started: Instant,
    images: &imsat_data::Images,
    labels: &[Label],
    (cluster, hash): (&TrainConfig, &TrainConfig),
) -> anyhow::Result<()> {
    // `--out` and both run folders locked before any work (a second demo into `--out` is
    // refused before it trains), and everything staged until the demo is done.
    let top = make_run_folder(&args.out)?;
    let cluster_folder = make_run_folder(&args.out.join("cluster10"))?;
    let hash_folder = make_run_folder(&args.out.join("hash32"))?;
    step(
        ctx,
        &format!(
            "training a 10-cluster model ({} epochs)",
            args.cluster_epochs
        ),
    );
    let (cluster_report, cluster_files) =
        train_and_save(cluster, images, labels, &cluster_folder, ctx)?;

    step(
        ctx,
        &format!("training a 32-bit hash model ({} epochs)", args.hash_epochs),
    );
    let (hash_report, hash_files) = train_and_save(hash, images, labels, &hash_folder, ctx)?;

    step(ctx, "encoding with the exported ONNX models (f32 and int8)");
    let encode = |path: &Path| -> anyhow::Result<(Encoder, Vec<f32>, f64)> {
        let enc = open_model(path)?;
        let t = Instant::now();
        let logits = enc.logits(&images.pixels)?;
        let per_second = images.n as f64 / t.elapsed().as_secs_f64();
        Ok((enc, logits, per_second))
    };
    let mut rows = Vec::new();
    let mut int8_hash = None;
    for (name, files) in [("cluster10", &cluster_files), ("hash32", &hash_files)] {
        let (enc32, l32, speed32) = encode(&files.f32_path)?;
        let (enc8, l8, speed8) = encode(&files.int8_path)?;
        let q32 = evaluate_logits(enc32.task(), &l32, enc32.outputs(), labels, SPLIT_SEED)?;
        let q8 = evaluate_logits(enc8.task(), &l8, enc8.outputs(), labels, SPLIT_SEED)?;
        let agree = agreement(enc32.task(), enc32.outputs(), &l32, &l8)?;
        rows.push(json!({
            "model": name,
            "metric": if name == "hash32" { "mAP" } else { "accuracy" },
            "f32": q32.headline(), "int8": q8.headline(), "int8_agreement": agree,
            "f32_bytes": files.f32_bytes, "int8_bytes": files.int8_bytes,
            "f32_images_per_second": speed32, "int8_images_per_second": speed8,
        }));
        if name == "hash32" {
            int8_hash = Some(enc8.codes(&images.pixels)?);
        }
    }

    step(ctx, "indexing the int8 hash codes and searching");
    let codes = int8_hash.context("hash codes")?;
    let index = Index::from_codes(codes);
    // Named after the model, not the data: `--data` may be other digits than MNIST-10k.
    let index_path = top.files().join(STAGED_BESIDE[0]);
    index
        .save(&index_path)
        .with_context(|| format!("writing {}", index_path.display()))?;
    let index = Index::load(&index_path)?;
    let t = Instant::now();
    let mut hits = 0usize;
    let queries = 1000.min(index.len());
    let mut examples = Vec::new();
    for q in 0..queries {
        let code = index.codes().get(q).context("query code")?;
        let found = index.knn(code, 9)?;
        let nbrs: Vec<(usize, u32)> = found
            .iter()
            .filter(|n| n.id as usize != q)
            .take(8)
            .map(|n| (n.id as usize, n.distance))
            .collect();
        hits += nbrs
            .iter()
            .filter(|(id, _)| labels[*id] == labels[q])
            .count();
        if examples.len() < 10 && labels[q] as usize == examples.len() {
            examples.push((q, nbrs));
        }
    }
    let search_qps = queries as f64 / t.elapsed().as_secs_f64();
    let precision_at_8 = hits as f64 / (queries * 8) as f64;
    crate::plot::retrieval_grid(
        &top.files().join(STAGED_BESIDE[1]),
        &images.pixels,
        images.shape[0],
        &examples,
    )?;

    step(ctx, "near-duplicate groups (codes propose, pixels confirm)");
    let t = Instant::now();
    // Codes within radius 4 are candidates; the images confirm them (as `imsat dedup` does).
    let dim = images.dim();
    let (radius, min_similarity) = (DEFAULT_RADIUS, DEFAULT_MIN_SIMILARITY);
    let groups =
        imsat_runtime::dedup::dedup_confirmed(index.codes(), radius, Linkage::Single, |i, j| {
            let px = &images.pixels;
            imsat_runtime::dedup::images_similar(
                &px[i * dim..(i + 1) * dim],
                &px[j * dim..(j + 1) * dim],
                images.shape[0],
                images.shape[1],
                min_similarity,
            )
        })?;
    let dedup_seconds = t.elapsed().as_secs_f64();
    let grouped: usize = groups.iter().map(|g| g.len()).sum();
    let pure = groups
        .iter()
        .filter(|g| {
            g.iter()
                .all(|&i| labels[i as usize] == labels[g[0] as usize])
        })
        .count();

    let summary = json!({
        "cluster": cluster_report, "hash": hash_report, "models": rows,
        "search": {"index_codes": index.len(), "bits": index.bits(), "queries": queries,
                   "queries_per_second": search_qps, "precision_at_8": precision_at_8},
        "dedup": {"radius": radius, "min_similarity": min_similarity, "groups": groups.len(), "codes_in_groups": grouped, "single_label_groups": pure,
                  "seconds": dedup_seconds},
        "seconds": started.elapsed().as_secs_f64(),
    });
    put_in_place(&args.out, (&top, &cluster_folder, &hash_folder), &summary)?;

    outln!(
        "\nimsat demo on {} ({} images), {:.0} s in all",
        args.data.display(),
        images.n,
        started.elapsed().as_secs_f64()
    )?;
    outln!(
        "{:<10} {:>9} {:>8} {:>8} {:>9} {:>10} {:>10} {:>12} {:>12}",
        "model",
        "metric",
        "f32",
        "int8",
        "agree",
        "f32 KB",
        "int8 KB",
        "f32 img/s",
        "int8 img/s"
    )?;
    for r in &rows {
        outln!(
            "{:<10} {:>9} {:>8.4} {:>8.4} {:>9.4} {:>10.0} {:>10.0} {:>12.0} {:>12.0}",
            r["model"].as_str().unwrap_or(""),
            r["metric"].as_str().unwrap_or(""),
            r["f32"].as_f64().unwrap_or(0.0),
            r["int8"].as_f64().unwrap_or(0.0),
            r["int8_agreement"].as_f64().unwrap_or(0.0),
            r["f32_bytes"].as_f64().unwrap_or(0.0) / 1024.0,
            r["int8_bytes"].as_f64().unwrap_or(0.0) / 1024.0,
            r["f32_images_per_second"].as_f64().unwrap_or(0.0),
            r["int8_images_per_second"].as_f64().unwrap_or(0.0),
        )?;
    }
    outln!(
        "search: {} codes of {} bits, {:.0} k-NN queries/s, precision of the 8 nearest {:.3}",
        index.len(),
        index.bits(),
        search_qps,
        precision_at_8
    )?;
    outln!(
        "near-duplicates (radius {radius}, pixel check {min_similarity}): {} groups holding {} images, {} of them single-label",
        groups.len(),
        grouped,
        pure
    )?;
    outln!(
        "pictures: {0}/cluster10/curves.png {0}/hash32/curves.png {0}/retrieval.png",
        args.out.display()
    )?;
    outln!("{}", summary["models"])?;
    Ok(())
}
