//! Dedup's operating point: the Hamming radius and pixel check a model is used with, which
//! `imsat train` measures for photo models and `imsat dedup` and `imsat demo` apply.

use imsat_runtime::format::ModelInfo;

/// Default radius of digit models: on the shipped 32-bit MNIST codes, r = 4 reaches the
/// edited copies (shift, rotation, noise, JPEG) in `tests/cli/dedup_folder.rs`; the pixel check
/// then removes look-alikes. Photo models carry their own (see [`photo_radius`]).
pub const DEFAULT_RADIUS: u32 = 4;

/// The report key of a photo model's operating point: the Hamming threshold at FPR 1e-4 on
/// its validation photos' moderate edits. 1e-4, not 1e-3: a folder of N photos has N²/2
/// pairs, so at 1e-3 a thousand distinct photos would already give ~500 false pairs.
pub const RADIUS_KEY: &str = "radius_at_fpr_1e-4";

/// A photo model's measured radius: its `imsat.dedup_radius`, or for models exported before
/// that key, the one in its training report.
pub fn photo_radius(info: &ModelInfo) -> Option<u32> {
    info.dedup_radius.or_else(|| {
        let v: serde_json::Value = serde_json::from_str(&info.report).ok()?;
        v.get(RADIUS_KEY)?.as_u64().map(|r| r as u32)
    })
}

/// Default pixel check. IMSAT codes are semantic: two different digits of one class often
/// share a code, so the codes only propose candidates and the images confirm them.
pub const DEFAULT_MIN_SIMILARITY: f32 = 0.95;

/// An f32 for JSON as its shortest decimal (`34.05`, as the metadata writes it), not the
/// expansion of its f64 value (`34.04999923706055`).
pub fn f32_json(x: f32) -> serde_json::Value {
    format!("{x}")
        .parse::<f64>()
        .map_or(serde_json::Value::Null, serde_json::Value::from)
}
