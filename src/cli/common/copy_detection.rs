//! `imsat eval --task copy-detection`: the learned photo hash against pHash and dHash on
//! edited copies of a folder of photos, in one run (protocol: `imsat_trainer::copy_detection`).

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use image::RgbImage;
use imsat_data::photos::{decode_image_at_least, decode_photo, read_photo_folder};
use imsat_runtime::code::Codes;
use imsat_runtime::encoder::Encoder;
use imsat_runtime::soft_code::SoftCodes;
use imsat_runtime::view::View;
use imsat_trainer::copy_detection::{
    Copy, HashScore, ProtocolEdit, Strength, make_copies, protocol_edits, score, score_soft,
    source_ids,
};
use imsat_trainer::perceptual::{Perceptual, hash_word};
use imsat_trainer::photo_set::view_of;
use serde_json::{Value, json};

use super::bad_input;
use super::groups::groups_of;

/// Photos timed end to end (decode + view + encode) for the per-photo cost.
const TIMED_PHOTOS: usize = 40;

/// Originals and their edited copies, made once and scored for every hash.
pub struct Bench {
    pub originals: Vec<RgbImage>,
    /// The source of each original (photos of one group share one).
    pub sources: Vec<usize>,
    pub copies: Vec<Copy>,
    pub edits: Vec<ProtocolEdit>,
}

impl Bench {
    /// Edited copies of `originals`, of which `groups[i]` names original `i`'s group.
    pub fn new<S: AsRef<str>>(originals: Vec<RgbImage>, groups: &[S], seed: u64) -> Self {
        assert_eq!(groups.len(), originals.len(), "one group per original");
        let edits = protocol_edits();
        let copies = make_copies(&originals, &edits, seed);
        Bench {
            originals,
            sources: source_ids(groups),
            copies,
            edits,
        }
    }

    fn meta(&self) -> Vec<(usize, usize)> {
        self.copies.iter().map(|c| (c.original, c.edit)).collect()
    }

    /// Score a hash given as a function from a batch of images to packed codes.
    pub fn score_with(
        &self,
        name: &str,
        bits: usize,
        codes_of: impl Fn(&[&RgbImage]) -> anyhow::Result<Vec<u64>>,
    ) -> anyhow::Result<HashScore> {
        let (originals, copies) = self.images();
        let (o, c) = (codes_of(&originals)?, codes_of(&copies)?);
        let meta = self.meta();
        Ok(score(name, bits, &o, &c, &meta, &self.edits, &self.sources))
    }

    /// Score a model given as a function from a batch of images to logits, twice: by its
    /// codes (named `name`) and by its soft codes (`name` + ` soft`).
    pub fn score_logits(
        &self,
        name: &str,
        bits: usize,
        logits_of: impl Fn(&[&RgbImage]) -> anyhow::Result<Vec<f32>>,
    ) -> anyhow::Result<(HashScore, HashScore)> {
        let (originals, copies) = self.images();
        let (o, c) = (logits_of(&originals)?, logits_of(&copies)?);
        let meta = self.meta();
        let words = |logits: &[f32]| Codes::from_logits(bits, logits).map(Codes::into_words);
        let codes = score(
            name,
            bits,
            &words(&o)?,
            &words(&c)?,
            &meta,
            &self.edits,
            &self.sources,
        );
        let (so, sc) = (
            SoftCodes::from_logits(bits, &o)?,
            SoftCodes::from_logits(bits, &c)?,
        );
        let soft = score_soft(
            &format!("{name} soft"),
            &so,
            &sc,
            &meta,
            &self.edits,
            &self.sources,
        );
        Ok((codes, soft))
    }

    fn images(&self) -> (Vec<&RgbImage>, Vec<&RgbImage>) {
        let originals = self.originals.iter().collect();
        let copies = self.copies.iter().map(|c| &c.image).collect();
        (originals, copies)
    }

    /// Score a model through the runtime encoder and its view, by its codes and by its
    /// soft codes.
    pub fn score_model(
        &self,
        name: &str,
        enc: &Encoder,
        view: &View,
    ) -> anyhow::Result<(HashScore, HashScore)> {
        self.score_logits(name, enc.outputs(), |imgs| {
            let pixels: Vec<u8> = imgs.iter().flat_map(|i| view_of(view, i)).collect();
            Ok(enc.logits(&pixels)?)
        })
    }

    /// Score a perceptual hash.
    pub fn score_perceptual(&self, p: Perceptual) -> anyhow::Result<HashScore> {
        let hasher = p.hasher();
        self.score_with(p.name(), 64, |imgs| {
            Ok(imgs.iter().map(|i| hash_word(&hasher, i)).collect())
        })
    }
}

/// The headline numbers of a score, flat, for JSON. Thresholds are in the hash's distance:
/// bits, or the soft distance (`"distance": "soft"`).
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
        out[key] = json!({
            "queries": g.queries,
            "tpr_at_fpr_1e-3": g.at_1e3.tpr,
            "threshold_at_fpr_1e-3": threshold(g.at_1e3.threshold),
            "tpr_at_fpr_1e-4": g.at_1e4.tpr,
            "threshold_at_fpr_1e-4": threshold(g.at_1e4.threshold),
            "threshold_at_fpr_1e-2": threshold(g.at_1e2.threshold),
            "negative_pairs": g.at_1e3.negatives,
            "map": g.map,
            "tpr_per_edit_at_fpr_1e-3": g.tpr_per_edit,
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
        return Err(bad_input(format!(
            "{}: copy detection needs a folder of photos",
            dir.display()
        )));
    }
    let folder = read_photo_folder(dir, &|_| {}).map_err(|e| bad_input(e.to_string()))?;
    super::report_skipped(&folder.skipped);
    if folder.photos.len() < 2 {
        return Err(bad_input(format!(
            "{}: copy detection needs at least 2 photos, found {}",
            dir.display(),
            folder.photos.len()
        )));
    }
    let photo_groups = groups_of(&folder.paths, groups)?;
    let files: Vec<&Path> = folder.paths.iter().map(|p| p.as_path()).collect();
    // Each read as it is in use: the model's photos as `imsat encode` decodes them (a large
    // JPEG at a reduced size), pHash's whole, as image_hasher's users decode them.
    let side = view.min_source_side();
    let decode_for_view = |f: &Path| decode_image_at_least(f, side).map(|img| img.to_rgb8());
    let learned_ms = ms_per_photo(&files, decode_for_view, |img| {
        let _ = enc.codes(&view_of(&view, img));
    })?;
    let phash = Perceptual::PHash.hasher();
    let phash_ms = ms_per_photo(&files, decode_photo, |img| {
        let _ = hash_word(&phash, img);
    })?;
    let bench = Bench::new(folder.photos, &photo_groups, seed);
    let name = model
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let (codes, soft) = bench
        .score_model(&name, enc, &view)
        .with_context(|| format!("encoding with {}", model.display()))?;
    let mut scores = vec![codes];
    for p in Perceptual::ALL {
        scores.push(bench.score_perceptual(p)?);
    }
    // Last, so that the hashes keep their places: the model by its soft distance, what
    // dedup's soft check confirms candidates with.
    scores.push(soft);
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
        "photos": bench.originals.len(),
        "sources": bench.sources.iter().max().map_or(0, |m| m + 1),
        "copies": bench.copies.len(),
        "seed": seed,
        "edits": bench.edits.iter().map(|e| e.name).collect::<Vec<_>>(),
        "hashes": hashes,
        "encode_ms_per_photo": { "model": learned_ms, "phash": phash_ms },
    }))
}
