//! Export a trained encoder as ONNX: an f32 model and a calibrated int8 model.
//!
//! Both models take raw pixels, f32 `[N, d]` in 0..255, and return the logits `[N, K or M]`,
//! so a caller never has to know the training-time scaling (x/128 - 1).
//!
//! * Every BatchNorm (running statistics) is folded into the Linear before it.
//! * **f32** (`model.onnx`): `Mul(1/128) -> Add(-1)`, then `MatMul -> Add -> Relu` per hidden
//!   layer and `MatMul -> Add` for the output.
//! * **int8** (`model.int8.onnx`): per layer `MatMulInteger(u8 activations, int8 weights) ->
//!   Cast -> Mul(activation scale x weight scale, one per output) -> Add(bias)`, then `QuantizeLinear` to u8
//!   (zero point 0, which also does the ReLU) for the next layer. The pixels enter as u8
//!   exactly (`QuantizeLinear` scale 1); the `-1` of the input scaling and the first layer's
//!   bias are folded into one bias. Weights are symmetric int8 with one scale per output column,
//!   rounded by GPTQ so that each layer's outputs on the calibration rows stay close
//!   (`export/gptq.rs`), with the mean error left moved into the bias; the activation scales are
//!   calibrated on training data (largest value seen on the calibration rows). The weights are
//!   stored as u8 with zero point 128 (`MatMulInteger(a, W + 128, 0, 128)`: the same signed
//!   products), because onnxruntime's u8 x s8 kernel saturates pairs of products on x86-64
//!   without VNNI and its u8 x u8 kernel does not. tract runs `MatMulInteger` with integer
//!   kernels and onnxruntime runs it too; QDQ weights would be turned back into f32 by tract.
//!
//! The graph is built from the ONNX protobuf types of `tract_onnx::pb` and serialized with
//! prost. Metadata (`metadata_props`) says what the model is; see [`meta`].

mod fold;
pub(crate) mod gptq;
mod onnx;
mod quantize;
#[cfg(test)]
mod tests;
mod upgrade;

use std::path::{Path, PathBuf};

pub use fold::{Dense, fold_layers, forward_layers};
pub use onnx::{ModelInfo, f32_model, int8_model, to_bytes};
pub use quantize::{GPTQ_MAX_INPUTS, QuantDense, quantize_layers};
pub use upgrade::{declare_same_codes, upgrade_int8};

use crate::train::{Trained, scale_pixels};
use imsat_data::Images;
use imsat_runtime::atomic_file::write_atomic;
use imsat_runtime::format::Input;
use imsat_runtime::output::agreement;
use imsat_runtime::soft_code::SoftCheck;
use imsat_runtime::view::View;

/// The metadata keys and I/O names every exported model carries: the runtime's, so that
/// what the trainer writes is what every encoder reads.
pub use imsat_runtime::format::keys as meta;
pub use imsat_runtime::format::{FORMAT_VERSION, INPUT_NAME, OUTPUT_NAME};
/// ONNX operator set used by both models.
pub const OPSET: i64 = 13;
/// ONNX IR version written (IR 8 goes with opsets up to 17).
pub const IR_VERSION: i64 = 8;
/// File names written by [`write_models`].
pub const F32_FILE: &str = "model.onnx";
/// File name of the int8 model.
pub const INT8_FILE: &str = "model.int8.onnx";
/// At most this many rows of the training data calibrate the activation scales.
pub const MAX_CALIBRATION_ROWS: usize = 5000;

/// What can go wrong while exporting.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The write's own error names the file and the step (`PATH: cannot write: ...`).
    #[error("{source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot export: {0}")]
    Invalid(String),
}

/// Evenly spaced rows (at most [`MAX_CALIBRATION_ROWS`]) of the images, scaled.
pub fn calibration_rows(images: &Images) -> (Vec<f32>, usize) {
    let (pixels, take) = spaced_rows(images, MAX_CALIBRATION_ROWS);
    (scale_pixels(&pixels), take)
}

/// At most `most` evenly spaced rows of the images' pixels, and how many.
fn spaced_rows(images: &Images, most: usize) -> (Vec<u8>, usize) {
    let d = images.dim();
    let take = images.n.min(most);
    let mut pixels = Vec::with_capacity(take * d);
    for k in 0..take {
        let i = k * images.n / take.max(1);
        pixels.extend_from_slice(&images.pixels[i * d..(i + 1) * d]);
    }
    (pixels, take)
}

/// Rows the int8 model's agreement with the f32 layers is measured on ([`int8_agreement`]).
const AGREEMENT_ROWS: usize = 1024;

/// The share of the f32 layers' outputs that the int8 model `int8` gives on up to
/// [`AGREEMENT_ROWS`] evenly spaced training rows: code bits (logit > 0) for a hash, cluster
/// ids (the first largest logit) for clusters. Quantization can flip outputs whose logits
/// nearly tie (a large learning rate, many clusters, little training), which no loss shows.
/// `None` where it is not measured here: a photo model (its code averages several views).
fn int8_agreement(
    trained: &Trained,
    layers: &[Dense],
    int8: &[u8],
    images: &Images,
) -> Option<f64> {
    if trained.config.view.is_some() {
        return None;
    }
    let (pixels, n) = spaced_rows(images, AGREEMENT_ROWS);
    let model = imsat_runtime::int8::Int8Model::from_onnx(int8).ok()?;
    let quantized = model.logits(&pixels).ok()?;
    let exact = forward_layers(layers, &scale_pixels(&pixels), n).pop()?;
    if n == 0 {
        return None;
    }
    agreement(
        trained.config.task,
        trained.config.outputs,
        &quantized,
        &exact,
    )
    .ok()
}

/// What [`write_models`] wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    pub f32_path: PathBuf,
    pub int8_path: PathBuf,
    pub f32_bytes: usize,
    pub int8_bytes: usize,
    /// The share of code bits or cluster ids the int8 model gives as the f32 one does, on
    /// up to 1,024 evenly spaced training rows; `None` for photo models.
    pub int8_agreement: Option<f64>,
}

/// Refuse layers with a weight or bias that is not finite: a step that overflowed the
/// weights after the last loss was computed (a huge learning rate in the last epoch) is seen
/// here, and said as what it is, not as a quantizer's failure or a model that outputs NaN.
pub fn check_finite(layers: &[Dense]) -> Result<(), ExportError> {
    match layers
        .iter()
        .position(|l| !l.weight.iter().chain(&l.bias).all(|v| v.is_finite()))
    {
        None => Ok(()),
        Some(i) => Err(ExportError::Invalid(format!(
            "layer {} of the trained model holds weights that are not finite: training \
             diverged in its last steps (a smaller learning rate, --lr, keeps it finite)",
            i + 1
        ))),
    }
}

/// Rows a model's outputs are checked on ([`check_outputs`]), evenly spaced.
const CHECK_ROWS: usize = 256;

/// Refuse layers whose outputs on `rows` (as the first layer takes them; up to
/// `CHECK_ROWS` of them) are not all finite in f32: a last step can leave finite weights
/// too large for the activations (a huge learning rate), and the model's every output is
/// then inf or NaN, which the losses computed before that step never showed.
pub fn check_outputs(layers: &[Dense], rows: &[f32]) -> Result<(), ExportError> {
    let d = layers.first().map_or(1, |l| l.d_in.max(1));
    let n = rows.len() / d;
    let take = n.min(CHECK_ROWS);
    let mut x = Vec::with_capacity(take * d);
    for k in 0..take {
        let i = k * n / take;
        x.extend_from_slice(&rows[i * d..(i + 1) * d]);
    }
    let outs = forward_layers(layers, &x, take);
    match outs.iter().position(|o| !o.iter().all(|v| v.is_finite())) {
        None => Ok(()),
        Some(i) => Err(ExportError::Invalid(format!(
            "layer {} of the trained model gives values that are not finite on its training \
             rows: training diverged in its last steps (a smaller learning rate, --lr, keeps \
             it finite)",
            i + 1
        ))),
    }
}

/// Write `model.onnx` (f32) and `model.int8.onnx` (int8, calibrated on `calibration`, the
/// training images) into `out_dir`, each through a temporary file and a rename.
/// `dedup_radius` is the radius a photo model measured for grouping near-duplicates
/// (`imsat.dedup_radius`) and `soft_check` its check by soft codes (`imsat.dedup_soft_*`),
/// `None` for other models.
pub fn write_models(
    trained: &Trained,
    calibration: &Images,
    report_json: &str,
    dedup_radius: Option<u32>,
    soft_check: Option<SoftCheck>,
    out_dir: &Path,
) -> Result<Exported, ExportError> {
    calibration.check().map_err(ExportError::Invalid)?;
    if calibration.dim() != trained.model.input_dim() {
        return Err(ExportError::Invalid(format!(
            "the calibration images have {} pixels each, and the model takes {}: calibrate on \
             the images it was trained on",
            calibration.dim(),
            trained.model.input_dim()
        )));
    }
    let layers = fold_layers(&trained.model);
    check_finite(&layers)?;
    let view = match trained.config.view.as_deref() {
        Some(text) => {
            Some(View::from_metadata(text).map_err(|e| ExportError::Invalid(e.to_string()))?)
        }
        None => None,
    };
    let info = ModelInfo {
        task: trained.config.task,
        outputs: trained.config.outputs,
        input_shape: calibration.shape.clone(),
        int8: false,
        report: report_json.to_string(),
        view,
        input: Input::Pixels,
        dedup_radius,
        soft_check,
        same_codes_as: Vec::new(),
    };
    let f32_bytes = to_bytes(&f32_model(&layers, &info)?);
    let (x, n) = calibration_rows(calibration);
    check_outputs(&layers, &x)?;
    let quant = quantize_layers(&layers, &x, n)?;
    if let Some(i) = quant.iter().position(|q| {
        let values = q.multiplier.iter().chain(&q.bias).chain(&q.weight_scale);
        !(q.input_scale.is_finite() && values.copied().all(f32::is_finite))
    }) {
        return Err(ExportError::Invalid(format!(
            "layer {} of the int8 model holds scales or biases that are not finite: training \
             diverged in its last steps (a smaller learning rate, --lr, keeps it finite)",
            i + 1
        )));
    }
    let int8_bytes = to_bytes(&int8_model(&quant, &info, n)?);
    let int8_agreement = int8_agreement(trained, &layers, &int8_bytes, calibration);
    let save = |name: &str, bytes: &[u8]| {
        let path = out_dir.join(name);
        write_atomic(&path, bytes).map_err(|source| ExportError::Io {
            path: path.clone(),
            source,
        })?;
        Ok::<_, ExportError>(path)
    };
    Ok(Exported {
        f32_path: save(F32_FILE, &f32_bytes)?,
        int8_path: save(INT8_FILE, &int8_bytes)?,
        f32_bytes: f32_bytes.len(),
        int8_bytes: int8_bytes.len(),
        int8_agreement,
    })
}
