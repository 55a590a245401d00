//! The model contract between `imsat train` and every runtime: what an exported ONNX file
//! says about itself (its metadata keys and values) and how those are read. The trainer
//! writes with these constants and the encoders read with [`ModelInfo::from_metadata`], so
//! the two sides cannot drift. `no_std`: a board without an OS reads the same contract.
//!
//! An exported model takes pixels (or view values), f32 `[N, d]` in 0..255, named
//! [`INPUT_NAME`], and returns logits f32 `[N, K or M]`, named [`OUTPUT_NAME`].

pub mod onnx;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::soft_code::SoftCheck;
use crate::view::View;

/// The only `imsat.format_version` this runtime reads, and the one the trainer writes.
pub const FORMAT_VERSION: &str = "1";

/// Name of the graph input (pixels, f32 `[N, d]`, 0..255).
pub const INPUT_NAME: &str = "pixels";
/// Name of the graph output (logits, f32 `[N, outputs]`).
pub const OUTPUT_NAME: &str = "logits";
/// Name of the graph input of a feature model (f32 `[N, d]` raw feature vectors).
pub const FEATURES_INPUT_NAME: &str = "features";

/// The zero point of an int8 model's weights, which are stored as u8 (`w + 128`) so that
/// `MatMulInteger` multiplies u8 by u8: onnxruntime's u8 x s8 kernel on x86-64 without VNNI
/// adds pairs of products in 16 bits with saturation, its u8 x u8 kernel adds exactly. The
/// integers multiplied are the same signed weights either way. Files written before this
/// layout hold the weights as int8 without zero points; the runtime reads both.
pub const WEIGHT_ZERO_POINT: u8 = 128;

/// A signed weight as an int8 model stores it (see [`WEIGHT_ZERO_POINT`]).
pub fn stored_weight(w: i8) -> u8 {
    (w as u8) ^ WEIGHT_ZERO_POINT
}

/// The signed weight of a stored byte (see [`WEIGHT_ZERO_POINT`]).
pub fn signed_weight(stored: u8) -> i8 {
    (stored ^ WEIGHT_ZERO_POINT) as i8
}

/// Keys of the metadata (`metadata_props`) every exported model carries.
pub mod keys {
    /// `cluster` or `hash`.
    pub const TASK: &str = "imsat.task";
    /// K clusters or M bits: the width of the logits.
    pub const OUTPUTS: &str = "imsat.outputs";
    /// Shape of one input image, e.g. `28x28` (the input row is its product).
    pub const INPUT_SHAPE: &str = "imsat.input_shape";
    /// Version of this layout of inputs, outputs and metadata ([`super::FORMAT_VERSION`]).
    pub const FORMAT_VERSION: &str = "imsat.format_version";
    /// The training report, JSON (data hash, seed, metrics).
    pub const REPORT: &str = "imsat.report";
    /// `true` for the int8 model, `false` for f32.
    pub const INT8: &str = "imsat.int8";
    /// How the int8 model was quantized (free text), absent on f32 models.
    pub const QUANTIZATION: &str = "imsat.quantization";
    /// How a photo becomes the input (see [`crate::view`]), absent on digit models.
    pub const VIEW: &str = crate::view::METADATA_KEY;
    /// What the input is: `features` for feature vectors (from `.npy`); absent (or `pixels`)
    /// for images.
    pub const INPUT: &str = "imsat.input";
    /// The Hamming radius near-duplicates are grouped at: for a photo model, the threshold
    /// its held-out copies measured at a false-match rate of 1e-4. Absent on other models.
    pub const DEDUP_RADIUS: &str = "imsat.dedup_radius";
    /// The Hamming radius of the candidates a photo model's soft check confirms
    /// ([`crate::soft_code::SoftCheck`]); absent when the model has none.
    pub const DEDUP_SOFT_RADIUS: &str = "imsat.dedup_soft_radius";
    /// The largest soft distance of a duplicate pair, beside `imsat.dedup_soft_radius`.
    pub const DEDUP_SOFT_DISTANCE: &str = "imsat.dedup_soft_distance";
    /// SHA-256s (hex, comma-separated) of earlier files of this model that compute the same
    /// codes, such as an int8 file rewritten in the current layout: an index built with one
    /// of them is searched and extended with this file. Absent on a model as exported.
    pub const SAME_CODES_AS: &str = "imsat.same_codes_as";
}

/// What a model's input rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Image pixels (0..255), or a photo's view.
    Pixels,
    /// Raw feature vectors, any f32 values (`imsat train --data X.npy`).
    Features,
}

impl Input {
    /// `pixels` or `features`, as in the metadata.
    pub const fn as_str(self) -> &'static str {
        match self {
            Input::Pixels => "pixels",
            Input::Features => "features",
        }
    }
}

/// What an exported model computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Softmax over K clusters: the output is a cluster id.
    Cluster,
    /// M independent bits: the output is an M-bit code.
    Hash,
}

impl Task {
    /// `cluster` or `hash`, as in the metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Cluster => "cluster",
            Task::Hash => "hash",
        }
    }

    /// The task named `text` in the metadata.
    pub fn from_metadata(text: &str) -> Option<Task> {
        [Task::Cluster, Task::Hash]
            .into_iter()
            .find(|t| t.as_str() == text)
    }
}

impl core::fmt::Display for Task {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the model's metadata says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Cluster ids or hash codes (`imsat.task`).
    pub task: Task,
    /// K clusters or M bits (the logits' width).
    pub outputs: usize,
    /// Shape of one image, e.g. `[28, 28]`.
    pub input_shape: Vec<usize>,
    /// Whether this is the int8 model.
    pub int8: bool,
    /// The training report (JSON text), empty when absent.
    pub report: String,
    /// How a photo of any size becomes the input (`imsat.view`); `None` for models that take
    /// images already at `input_shape` (the digit models).
    pub view: Option<View>,
    /// Pixels or feature vectors (`imsat.input`).
    pub input: Input,
    /// The Hamming radius to group near-duplicates at (`imsat.dedup_radius`), at most
    /// `outputs`; `None` when the model does not say (digit models, photo models exported
    /// before the key: their report holds it).
    pub dedup_radius: Option<u32>,
    /// Near-duplicates by soft codes (`imsat.dedup_soft_radius` and
    /// `imsat.dedup_soft_distance`, both or neither); `None` when the model has no such check.
    pub soft_check: Option<SoftCheck>,
    /// SHA-256s (64 lowercase hex digits each) of earlier files that compute the same codes
    /// (`imsat.same_codes_as`); empty on a model as exported.
    pub same_codes_as: Vec<String>,
}

impl ModelInfo {
    /// Values per model row (the product of `input_shape`): per image, except for a photo
    /// with parts in its view (`+centre75`, ...), which is [`ModelInfo::rows_per_image`] rows.
    pub fn input_dim(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Model rows per image, whose logits are averaged: the view's
    /// [`View::views`](crate::view::View::views) for a photo model, else 1.
    pub fn rows_per_image(&self) -> usize {
        self.view.as_ref().map_or(1, |v| v.views())
    }

    /// The shape as the metadata writes it, e.g. `28x28`.
    pub fn shape_text(&self) -> String {
        let dims: Vec<String> = self.input_shape.iter().map(|d| format!("{d}")).collect();
        dims.join("x")
    }

    /// The metadata entries that describe this model, in the order the trainer writes them;
    /// `quantization` is the int8 model's note on how it was quantized. What
    /// [`ModelInfo::from_metadata`] reads back is this `ModelInfo` (`same_codes_as` is
    /// written in lowercase, as the field holds it and the reader gives it back).
    pub fn to_metadata(&self, quantization: Option<&str>) -> Vec<(&'static str, String)> {
        let mut props = vec![
            (keys::TASK, String::from(self.task.as_str())),
            (keys::OUTPUTS, format!("{}", self.outputs)),
            (keys::INPUT_SHAPE, self.shape_text()),
            (keys::FORMAT_VERSION, String::from(FORMAT_VERSION)),
            (keys::REPORT, self.report.clone()),
            (
                keys::INT8,
                String::from(if self.int8 { "true" } else { "false" }),
            ),
        ];
        if let Some(q) = quantization {
            props.push((keys::QUANTIZATION, String::from(q)));
        }
        if let Some(v) = &self.view {
            props.push((keys::VIEW, v.to_metadata()));
        }
        if self.input == Input::Features {
            props.push((keys::INPUT, String::from(self.input.as_str())));
        }
        if let Some(r) = self.dedup_radius {
            props.push((keys::DEDUP_RADIUS, format!("{r}")));
        }
        if let Some(check) = self.soft_check {
            props.push((keys::DEDUP_SOFT_RADIUS, format!("{}", check.radius)));
            props.push((keys::DEDUP_SOFT_DISTANCE, format!("{}", check.max_distance)));
        }
        if !self.same_codes_as.is_empty() {
            let list = self.same_codes_as.join(",").to_ascii_lowercase();
            props.push((keys::SAME_CODES_AS, list));
        }
        props
    }

    /// Read the metadata through `get` (key to value). The error says what is missing or
    /// wrong, in words a user can act on.
    pub fn from_metadata<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<ModelInfo, String> {
        let need = |key: &str| get(key).ok_or_else(|| format!("metadata `{key}` is missing"));
        let version = need(keys::FORMAT_VERSION)?;
        if version != FORMAT_VERSION {
            return Err(format!(
                "format version {version:?} is not supported (this runtime reads {FORMAT_VERSION:?})"
            ));
        }
        let task_text = need(keys::TASK)?;
        let task = Task::from_metadata(task_text)
            .ok_or_else(|| format!("unknown task {task_text:?} (expected cluster or hash)"))?;
        let outputs_text = need(keys::OUTPUTS)?;
        let outputs = match outputs_text.parse::<usize>() {
            Ok(v) if (1..=crate::code::MAX_BITS).contains(&v) => v,
            _ => {
                return Err(format!(
                    "`{}` is {outputs_text:?}, not a positive width",
                    keys::OUTPUTS
                ));
            }
        };
        if task == Task::Cluster && outputs < 2 {
            return Err(format!(
                "a cluster model needs at least 2 outputs, has {outputs}"
            ));
        }
        let shape_text = need(keys::INPUT_SHAPE)?;
        let input_shape: Option<Vec<usize>> = shape_text
            .split('x')
            .map(|s| s.trim().parse::<usize>().ok().filter(|&d| d > 0))
            .collect();
        let input_shape = input_shape
            .filter(|s| {
                s.iter()
                    .try_fold(1usize, |a, &d| a.checked_mul(d))
                    .is_some_and(|d| d <= 1 << 28)
            })
            .ok_or_else(|| format!("`{}` is {shape_text:?}, not like 28x28", keys::INPUT_SHAPE))?;
        let int8 = match get(keys::INT8) {
            Some("true") => true,
            Some("false") | None => false,
            Some(other) => {
                return Err(format!("`{}` is {other:?}, not true or false", keys::INT8));
            }
        };
        let view = match get(keys::VIEW) {
            None => None,
            Some(text) => {
                let view = View::from_metadata(text).map_err(|e| format!("{e}"))?;
                if input_shape != view.input_shape() {
                    return Err(format!(
                        "view {text:?} does not match the input shape {shape_text:?}"
                    ));
                }
                Some(view)
            }
        };
        let input = match get(keys::INPUT) {
            None | Some("pixels") => Input::Pixels,
            Some("features") => Input::Features,
            Some(other) => {
                return Err(format!(
                    "`{}` is {other:?}, not pixels or features",
                    keys::INPUT
                ));
            }
        };
        if input == Input::Features && view.is_some() {
            return Err("a feature model cannot have a photo view".into());
        }
        let radius = |key: &str| match get(key) {
            None => Ok(None),
            Some(text) => match text.parse::<u32>() {
                Ok(r) if r as usize <= outputs => Ok(Some(r)),
                _ => Err(format!(
                    "`{key}` is {text:?}, not a Hamming radius of at most {outputs} bits"
                )),
            },
        };
        let dedup_radius = radius(keys::DEDUP_RADIUS)?;
        let soft_distance = match get(keys::DEDUP_SOFT_DISTANCE) {
            None => None,
            Some(text) => match text.parse::<f32>() {
                Ok(d) if d.is_finite() && d >= 0.0 => Some(d),
                _ => {
                    return Err(format!(
                        "`{}` is {text:?}, not a soft distance (a number, at least 0)",
                        keys::DEDUP_SOFT_DISTANCE
                    ));
                }
            },
        };
        let soft_check = match (radius(keys::DEDUP_SOFT_RADIUS)?, soft_distance) {
            (Some(radius), Some(max_distance)) => Some(SoftCheck {
                radius,
                max_distance,
            }),
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                return Err(format!(
                    "`{}` and `{}` come together; the model has only one of them",
                    keys::DEDUP_SOFT_RADIUS,
                    keys::DEDUP_SOFT_DISTANCE
                ));
            }
        };
        let same_codes_as = match get(keys::SAME_CODES_AS) {
            None => Vec::new(),
            Some(text) => read_sha256_list(text).ok_or_else(|| {
                format!(
                    "`{}` is {text:?}, not SHA-256s (64 hex digits each, comma-separated)",
                    keys::SAME_CODES_AS
                )
            })?,
        };
        Ok(ModelInfo {
            task,
            outputs,
            input_shape,
            int8,
            report: get(keys::REPORT).map(String::from).unwrap_or_default(),
            view,
            input,
            dedup_radius,
            soft_check,
            same_codes_as,
        })
    }

    /// Whether a file of SHA-256 `earlier` (hex, any case; an index card names its model this
    /// way) computes this model's codes by this file's own word (`imsat.same_codes_as`). A
    /// file's own SHA-256 is for the caller to compare: the metadata cannot hold it.
    pub fn declares_same_codes_as(&self, earlier: &str) -> bool {
        self.same_codes_as
            .iter()
            .any(|s| s.eq_ignore_ascii_case(earlier))
    }
}

/// Whether `text` is a SHA-256 as `imsat.same_codes_as` holds it: 64 hex digits.
pub fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The SHA-256s of a comma-separated list, lowercased; `None` unless each is 64 hex digits.
fn read_sha256_list(text: &str) -> Option<Vec<String>> {
    text.split(',')
        .map(|s| {
            let s = s.trim();
            is_sha256(s).then(|| s.to_ascii_lowercase())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored weight is the signed one plus 128 (ONNX's `w_u8 - zero_point`), for all 256.
    #[test]
    fn weights_are_stored_128_up() {
        for w in i8::MIN..=i8::MAX {
            let stored = stored_weight(w);
            assert_eq!(
                i16::from(stored),
                i16::from(w) + i16::from(WEIGHT_ZERO_POINT)
            );
            assert_eq!(signed_weight(stored), w);
        }
    }

    #[test]
    fn metadata_round_trips() {
        let digits = ModelInfo {
            task: Task::Hash,
            outputs: 16,
            input_shape: vec![28, 28],
            int8: true,
            report: String::from("{\"map\":0.78}"),
            view: None,
            input: Input::Pixels,
            dedup_radius: None,
            soft_check: None,
            same_codes_as: Vec::new(),
        };
        let photos = ModelInfo {
            task: Task::Hash,
            outputs: 64,
            input_shape: vec![16, 16],
            int8: false,
            report: String::new(),
            view: Some(View::from_metadata("gray-area-16x16-norm").unwrap()),
            input: Input::Pixels,
            dedup_radius: Some(10),
            soft_check: Some(SoftCheck {
                radius: 20,
                max_distance: 34.25,
            }),
            same_codes_as: vec![String::from(SHA_A), String::from(SHA_B)],
        };
        let features = ModelInfo {
            task: Task::Cluster,
            outputs: 10,
            input_shape: vec![64],
            int8: false,
            report: String::from("{}"),
            view: None,
            input: Input::Features,
            dedup_radius: None,
            soft_check: None,
            same_codes_as: Vec::new(),
        };
        for info in [digits, photos.clone(), features] {
            let props = info.to_metadata(info.int8.then_some("per-column"));
            let get = |k: &str| {
                props
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(ModelInfo::from_metadata(get).unwrap(), info);
            assert_eq!(get(keys::QUANTIZATION).is_some(), info.int8);
        }
        // SHA-256s given in capitals are written as the field holds them, in lowercase.
        let mut capitals = photos;
        capitals.same_codes_as = vec![SHA_A.to_ascii_uppercase()];
        let props = capitals.to_metadata(None);
        let get = |k: &str| {
            props
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get(keys::SAME_CODES_AS), Some(SHA_A));
        assert_eq!(
            ModelInfo::from_metadata(get).unwrap().same_codes_as,
            vec![String::from(SHA_A)]
        );
    }

    const SHA_A: &str = "0f1b2c3d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcdef";
    const SHA_B: &str = "9c6cbbbc07b7de9f30141082d2f77fd699e03102921756e099ab1cee58ab824f";

    /// `BASE` with `imsat.same_codes_as` = `list`.
    fn with_same_codes(list: &str) -> Result<ModelInfo, String> {
        let pairs: Vec<(&str, &str)> = BASE
            .iter()
            .copied()
            .chain([(keys::SAME_CODES_AS, list)])
            .collect();
        ModelInfo::from_metadata(|k| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v))
    }

    /// The list is read in any case and with spaces after commas; a SHA-256 it names is
    /// matched in any case, and one it does not name is not.
    #[test]
    fn reads_the_files_of_the_same_codes() {
        let upper = SHA_B.to_ascii_uppercase();
        let got = with_same_codes(&format!("{SHA_A}, {upper}")).unwrap();
        assert_eq!(got.same_codes_as, [SHA_A, SHA_B]);
        assert!(got.declares_same_codes_as(&upper));
        assert!(got.declares_same_codes_as(SHA_A));
        assert!(!got.declares_same_codes_as(&format!("1{}", &SHA_A[1..])));
        assert!(!got.declares_same_codes_as(&SHA_A[1..]));
        assert!(!base_with(&[]).unwrap().declares_same_codes_as(SHA_A));
        for bad in [
            format!("{SHA_A},"),
            format!("{SHA_A}0"),
            format!("g{}", &SHA_A[1..]),
            format!("{SHA_A};{SHA_B}"),
        ] {
            let err = with_same_codes(&bad).unwrap_err();
            assert!(err.contains("not SHA-256s"), "{bad}: {err}");
        }
    }

    fn info(pairs: &[(&'static str, &'static str)]) -> Result<ModelInfo, String> {
        ModelInfo::from_metadata(|k| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v))
    }

    const BASE: [(&str, &str); 4] = [
        (keys::FORMAT_VERSION, FORMAT_VERSION),
        (keys::TASK, "hash"),
        (keys::OUTPUTS, "64"),
        (keys::INPUT_SHAPE, "16x16"),
    ];

    /// [`info`] of `BASE` with `changes`: each replaces its key's value, or adds the key.
    fn base_with(changes: &[(&'static str, &'static str)]) -> Result<ModelInfo, String> {
        let mut pairs = BASE.to_vec();
        pairs.retain(|(k, _)| changes.iter().all(|(key, _)| key != k));
        pairs.extend_from_slice(changes);
        info(&pairs)
    }

    #[test]
    fn reads_what_the_keys_say() {
        let got = base_with(&[(keys::VIEW, "gray-area-16x16-norm"), (keys::INT8, "true")]).unwrap();
        assert_eq!(got.task, Task::Hash);
        assert_eq!((got.outputs, got.input_dim(), got.int8), (64, 256, true));
        assert_eq!(got.shape_text(), "16x16");
        assert!(
            got.view
                .is_some_and(|v| v.contrast == crate::view::Contrast::Norm)
        );
        assert_eq!(got.input, Input::Pixels);
        let features = base_with(&[(keys::INPUT, "features")]).unwrap();
        assert_eq!(features.input, Input::Features);
    }

    #[test]
    fn names_what_is_wrong() {
        for (key, value, says) in [
            (keys::FORMAT_VERSION, "2", "format version"),
            (keys::TASK, "regress", "unknown task"),
            (keys::OUTPUTS, "0", "not a positive width"),
            (keys::INPUT_SHAPE, "28xx28", "not like 28x28"),
            (keys::INPUT_SHAPE, "28x0", "not like 28x28"),
            (keys::INPUT_SHAPE, "16384x16385", "not like 28x28"),
            (keys::OUTPUTS, "16777217", "not a positive width"),
            (keys::INT8, "yes", "not true or false"),
            (keys::INPUT, "audio", "not pixels or features"),
            (keys::VIEW, "gray-area-8x8-norm", "does not match"),
            (keys::DEDUP_RADIUS, "65", "at most 64 bits"),
            (keys::DEDUP_RADIUS, "-1", "not a Hamming radius"),
            (keys::DEDUP_SOFT_RADIUS, "65", "at most 64 bits"),
            (keys::DEDUP_SOFT_RADIUS, "20", "come together"),
            (keys::DEDUP_SOFT_DISTANCE, "NaN", "not a soft distance"),
            (keys::DEDUP_SOFT_DISTANCE, "-1", "not a soft distance"),
            (keys::DEDUP_SOFT_DISTANCE, "30", "come together"),
            (keys::SAME_CODES_AS, "", "not SHA-256s"),
            (keys::SAME_CODES_AS, &SHA_A[1..], "not SHA-256s"),
        ] {
            let err = base_with(&[(key, value)]).unwrap_err();
            assert!(err.contains(says), "{key}={value}: {err}");
        }
        let err = info(&BASE[1..]).unwrap_err();
        assert!(err.contains("`imsat.format_version` is missing"), "{err}");
        let err = base_with(&[(keys::TASK, "cluster"), (keys::OUTPUTS, "1")]).unwrap_err();
        assert!(err.contains("at least 2 outputs"), "{err}");
    }

    /// Each bound the reader checks lets its last value through.
    #[test]
    fn reads_each_bound_itself() {
        // The widest code, and one more in `names_what_is_wrong`.
        assert_eq!(crate::code::MAX_BITS, 16_777_216);
        for (key, value) in [
            (keys::OUTPUTS, "1"),
            (keys::OUTPUTS, "16777216"),
            (keys::INPUT_SHAPE, "16384x16384"),
            (keys::DEDUP_RADIUS, "64"),
            (keys::DEDUP_RADIUS, "0"),
        ] {
            base_with(&[(key, value)]).unwrap_or_else(|e| panic!("{key}={value}: {e}"));
        }
        let cluster = base_with(&[(keys::TASK, "cluster"), (keys::OUTPUTS, "2")]);
        assert_eq!(cluster.unwrap().outputs, 2);
        let soft = base_with(&[
            (keys::DEDUP_SOFT_RADIUS, "64"),
            (keys::DEDUP_SOFT_DISTANCE, "0"),
        ]);
        let check = soft.unwrap().soft_check.unwrap();
        assert_eq!((check.radius, check.max_distance), (64, 0.0));
    }
}
