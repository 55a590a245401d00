//! `imsat eval --task copy-detection`: the learned photo hash against pHash and dHash on edited
//! copies of a folder of photos, in one run (the benchmark: `imsat_trainer::copy_detection`),
//! timed end to end, as JSON; `imsat train` on photos prints its validation score with
//! [`score_json`] too.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use image::RgbImage;
use imsat_data::photos::{decode_image_at_least, decode_photo};
use imsat_runtime::encoder::Encoder;
use imsat_trainer::copy_detection::{Bench, Hash, HashScore, Strength};
use imsat_trainer::perceptual::{Perceptual, hash_word};
use imsat_trainer::photo_set::view_of;
use serde_json::{Value, json};

use super::groups::{groups_of, join_identical_saying};
use super::{bad_input, progress_bar};

/// Photos timed end to end (decode + view + encode) for the per-photo cost.
const TIMED_PHOTOS: usize = 40;

/// The headline numbers of a score, flat, for JSON. Thresholds are in the hash's distance:
/// bits, or the soft distance (`"distance": "soft"`). Without a negative pair (every photo of
/// one group) no rate of false matches is measured, so the TPRs and rates reached are null,
/// not 0.
pub fn score_json(s: &HashScore) -> Value {
    let soft = s.unit != 1.0;
    let mut out = json!({
        "name": s.name,
        "bits": s.bits,
        "distance": if soft { "soft" } else { "hamming" },
    });
    let threshold = |t: Option<u32>| match t {
        Some(t) if soft => json!((t as f64 * s.unit * 100.0).round() / 100.0),
        t => json!(t),
    };
    for (strength, g) in &s.groups {
        let key = match strength {
            Strength::Moderate => "moderate",
            Strength::Strong => "strong",
            Strength::Flip => "flip",
        };
        let measured = g.at_1e3.negatives > 0;
        let rate = |r: f64| measured.then_some(r);
        let per_edit: serde_json::Map<String, Value> = g
            .tpr_per_edit
            .iter()
            .map(|(edit, &tpr)| (edit.to_string(), json!(rate(tpr))))
            .collect();
        out[key] = json!({
            "queries": g.queries,
            "tpr_at_fpr_1e-3": rate(g.at_1e3.tpr),
            "threshold_at_fpr_1e-3": threshold(g.at_1e3.threshold),
            // The rate the threshold reaches (at most the target), so a reader can check it.
            "fpr_reached_1e-3": rate(g.at_1e3.fpr),
            "tpr_at_fpr_1e-4": rate(g.at_1e4.tpr),
            "threshold_at_fpr_1e-4": threshold(g.at_1e4.threshold),
            "fpr_reached_1e-4": rate(g.at_1e4.fpr),
            "threshold_at_fpr_1e-2": threshold(g.at_1e2.threshold),
            "negative_pairs": g.at_1e3.negatives,
            "map": g.map,
            "tpr_per_edit_at_fpr_1e-3": per_edit,
        });
    }
    out
}

/// Milliseconds per photo, end to end from the file (`decode`, then `encode`), over the first
/// photos of `files`.
fn ms_per_photo(
    files: &[&Path],
    decode: impl Fn(&Path) -> Result<RgbImage, String>,
    mut encode: impl FnMut(&RgbImage),
) -> anyhow::Result<f64> {
    let files = &files[..files.len().min(TIMED_PHOTOS)];
    let started = Instant::now();
    for f in files {
        let img = decode(f).map_err(|e| bad_input(format!("{}: {e}", f.display())))?;
        encode(&img);
    }
    Ok(started.elapsed().as_secs_f64() * 1e3 / files.len().max(1) as f64)
}

/// The whole evaluation of `enc` on the photos of `dir`; `groups`, a `name,group` CSV, says
/// which photos are cut from one picture (not false positives of each other).
/// `plot` names a PNG for the ROC curves of every hash.
pub fn run(
    enc: &Encoder,
    model: &Path,
    dir: &Path,
    groups: Option<&Path>,
    seed: u64,
    plot: Option<&Path>,
    progress: bool,
) -> anyhow::Result<Value> {
    let view = enc.info().view.ok_or_else(|| {
        bad_input(format!(
            "{}: not a photo model (its metadata has no `{}`): copy detection needs one trained on a photo folder",
            model.display(),
            imsat_runtime::view::METADATA_KEY
        ))
    })?;
    if enc.task() != imsat_runtime::encoder::Task::Hash {
        return Err(bad_input(format!(
            "{}: a {} model makes no codes",
            model.display(),
            enc.task()
        )));
    }
    if !dir.is_dir() {
        let what = match dir.exists() {
            true => "is a file; copy detection needs a folder of photos",
            false => "not found (copy detection needs a folder of photos)",
        };
        return Err(bad_input(format!("{}: {what}", dir.display())));
    }
    let folder = super::read_photos(dir, progress)?;
    if folder.photos.len() < 2 {
        return Err(bad_input(format!(
            "{}: copy detection needs at least 2 photos, found {}",
            dir.display(),
            folder.photos.len()
        )));
    }
    // Photos with the same pixels are one photo saved twice: their copies are no false
    // matches of each other (as a training run's validation counts them).
    let mut photo_groups = groups_of(&folder.paths, groups)?;
    join_identical_saying(
        &mut photo_groups,
        &folder.photos,
        &folder.paths,
        "their copies are not counted as false matches of each other",
    );
    let files: Vec<&Path> = folder.paths.iter().map(|p| p.as_path()).collect();
    // Each read as it is in use: the model's photos as `imsat encode` decodes them (a large
    // JPEG at a reduced size), pHash's whole, as image_hasher's users decode them.
    let side = view.min_source_side();
    let decode_for_view = |f: &Path| decode_image_at_least(f, side).map(|img| img.into_rgb8());
    let learned_ms = ms_per_photo(&files, decode_for_view, |img| {
        let _ = enc.codes(&view_of(&view, img));
    })?;
    let phash = Perceptual::PHash.hasher();
    let phash_ms = ms_per_photo(&files, decode_photo, |img| {
        let _ = hash_word(&phash, img);
    })?;
    // The photos by content and in their order (each copy's edits are drawn in that order):
    // what a number measured on this folder can be traced to.
    let mut crc = crc32fast::Hasher::new();
    for p in &folder.photos {
        crc.update(&p.width().to_le_bytes());
        crc.update(&p.height().to_le_bytes());
        crc.update(p.as_raw());
    }
    let photos_crc32 = format!("{:08x}", crc.finalize());
    let bench = Bench::new(folder.photos, &photo_groups, seed);
    if bench.sources.iter().all(|&s| s == bench.sources[0]) {
        return Err(bad_input(format!(
            "{}: all {} photos are of one group{}: copy detection counts false matches between \
             photos of different groups, and there are none",
            dir.display(),
            bench.originals.len(),
            groups.map_or(String::new(), |g| format!(" in {}", g.display()))
        )));
    }
    let name = model
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let mut hashes = vec![Hash::model(&name, enc, &view)];
    hashes.extend(Perceptual::ALL.map(Hash::perceptual));
    let pb = progress_bar(bench.pairs.len() as u64, "copies", progress);
    // The model by its codes, pHash, dHash, and last, so that the hashes keep their places,
    // the model by its soft distance, what dedup's soft check confirms candidates with.
    let scores = bench
        .score(&hashes, &|n| pb.inc(n as u64))
        .map_err(anyhow::Error::from_boxed)
        .with_context(|| format!("encoding with {}", model.display()))?;
    pb.finish_and_clear();
    if let Some(path) = plot {
        let title = format!("{} photos", bench.originals.len());
        crate::plot::copy_detection_roc(path, &scores, &title)?;
    }
    let hashes: Vec<Value> = scores.iter().map(score_json).collect();
    Ok(json!({
        "task": "copy-detection",
        "model": model.display().to_string(),
        "int8": enc.info().int8,
        "view": view.to_metadata(),
        "data": dir.display().to_string(),
        "photos_crc32": photos_crc32,
        "groups": groups.map(|g| g.display().to_string()),
        "photos": bench.originals.len(),
        "sources": bench.sources.iter().max().map_or(0, |m| m + 1),
        "copies": bench.pairs.len(),
        "seed": seed,
        "edits": bench.edits.iter().map(|e| e.name).collect::<Vec<_>>(),
        "hashes": hashes,
        "encode_ms_per_photo": { "model": learned_ms, "phash": phash_ms },
    }))
}
