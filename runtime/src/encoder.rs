//! The ONNX encoder: runs a model exported by `imsat train` (f32 or int8) through tract and
//! turns images into packed codes (hash models) or cluster ids (cluster models).
//!
//! An exported model takes raw pixels, f32 `[N, d]` in 0..255, and returns logits
//! `[N, K or M]`; its `metadata_props` say what it is (`imsat.task`, `imsat.outputs`,
//! `imsat.input_shape`, `imsat.format_version`, `imsat.int8`, `imsat.report`).
//! [`Encoder::open`] loads and optimizes the model once; the `encode` family then runs it on
//! batches of u8 images (row-major, `input_dim` bytes per image).
//!
//! ```no_run
//! use imsat_runtime::encoder::Encoder;
//! let enc = Encoder::open("models/hash32.onnx")?;
//! let images = vec![0u8; 3 * enc.input_dim()];
//! let codes = enc.codes(&images)?; // 3 codes of 32 bits
//! # Ok::<(), imsat_runtime::encoder::EncoderError>(())
//! ```

use std::path::{Path, PathBuf};
use std::string::String;
use std::sync::Arc;
use std::vec::Vec;
use std::{format, vec};

use tract_onnx::prelude::*;
use tract_onnx::tract_core::dims;
use tract_onnx::tract_hir::internal::DimLike;

use crate::code::Codes;

/// Rows run through the model at once; larger batches are split (bounds memory).
pub const MAX_ROWS_PER_RUN: usize = 1024;

/// The only `imsat.format_version` this runtime reads.
pub const FORMAT_VERSION: &str = "1";

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
}

impl core::fmt::Display for Task {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the model's metadata says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub task: Task,
    /// K clusters or M bits (the logits' width).
    pub outputs: usize,
    /// Shape of one image, e.g. `[28, 28]`.
    pub input_shape: Vec<usize>,
    /// Whether this is the int8 model.
    pub int8: bool,
    /// The training report (JSON text), empty when absent.
    pub report: String,
}

impl ModelInfo {
    /// Values per image (the product of `input_shape`).
    pub fn input_dim(&self) -> usize {
        self.input_shape.iter().product()
    }
}

/// Everything that can go wrong while opening or running an encoder. Errors about a file
/// name the file.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid ONNX model: {reason}")]
    NotOnnx { path: PathBuf, reason: String },
    #[error("{path}: not an imsat model: {what}")]
    Metadata { path: PathBuf, what: String },
    #[error("{path}: the model cannot be prepared: {reason}")]
    Prepare { path: PathBuf, reason: String },
    #[error("empty batch: no images to encode")]
    EmptyBatch,
    #[error("batch of {len} values is not a whole number of {width}-value images")]
    BatchWidth { len: usize, width: usize },
    #[error("{path} is a {actual} model, but {expected} output was asked for")]
    WrongTask {
        path: PathBuf,
        expected: Task,
        actual: Task,
    },
    #[error("running the model failed: {0}")]
    Run(String),
    #[error("the model produced invalid codes: {0}")]
    Codes(#[from] crate::error::Error),
}

/// What [`Encoder::encode`] returns: codes for a hash model, cluster ids for a cluster model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoded {
    Codes(Codes),
    Clusters(Vec<u32>),
}

/// A loaded, optimized model.
#[derive(Debug, Clone)]
pub struct Encoder {
    path: PathBuf,
    info: ModelInfo,
    plan: Arc<TypedRunnableModel>,
    /// The native int8 executor, for int8 models with the exported layout.
    native: Option<Arc<native::Int8Mlp>>,
}

fn prop(model: &InferenceModel, key: &str) -> Option<String> {
    let t = model
        .properties
        .get(&format!("onnx.metadata_props.{key}"))?;
    t.try_as_plain_ram()
        .ok()?
        .to_scalar::<String>()
        .ok()
        .cloned()
}

fn read_info(model: &InferenceModel, path: &Path) -> Result<ModelInfo, EncoderError> {
    let bad = |what: String| EncoderError::Metadata {
        path: path.to_path_buf(),
        what,
    };
    let need =
        |key: &str| prop(model, key).ok_or_else(|| bad(format!("metadata `{key}` is missing")));
    let version = need("imsat.format_version")?;
    if version != FORMAT_VERSION {
        return Err(bad(format!(
            "format version {version:?} is not supported (this runtime reads {FORMAT_VERSION:?})"
        )));
    }
    let task = match need("imsat.task")?.as_str() {
        "cluster" => Task::Cluster,
        "hash" => Task::Hash,
        other => {
            return Err(bad(format!(
                "unknown task {other:?} (expected cluster or hash)"
            )));
        }
    };
    let outputs_text = need("imsat.outputs")?;
    let outputs = match outputs_text.parse::<usize>() {
        Ok(v) if (1..=crate::code::MAX_BITS).contains(&v) => v,
        _ => {
            return Err(bad(format!(
                "`imsat.outputs` is {outputs_text:?}, not a positive width"
            )));
        }
    };
    if task == Task::Cluster && outputs < 2 {
        return Err(bad(format!(
            "a cluster model needs at least 2 outputs, has {outputs}"
        )));
    }
    let shape_text = need("imsat.input_shape")?;
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
        .ok_or_else(|| {
            bad(format!(
                "`imsat.input_shape` is {shape_text:?}, not like 28x28"
            ))
        })?;
    let int8 = match prop(model, "imsat.int8").as_deref() {
        Some("true") => true,
        Some("false") | None => false,
        Some(other) => return Err(bad(format!("`imsat.int8` is {other:?}, not true or false"))),
    };
    Ok(ModelInfo {
        task,
        outputs,
        input_shape,
        int8,
        report: prop(model, "imsat.report").unwrap_or_default(),
    })
}

impl Encoder {
    /// Load an exported model, check its metadata, inputs and outputs, and optimize it for a
    /// batch of any size.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, EncoderError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| EncoderError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes, path)
    }

    /// Like [`open`](Self::open), from the bytes of a model; `path` only names it in errors.
    pub fn from_bytes(bytes: &[u8], path: impl AsRef<Path>) -> Result<Self, EncoderError> {
        let path = path.as_ref().to_path_buf();
        if bytes.is_empty() {
            return Err(EncoderError::NotOnnx {
                path,
                reason: "empty file".into(),
            });
        }
        let onnx = tract_onnx::onnx();
        let not_onnx = |e: TractError| EncoderError::NotOnnx {
            path: path.clone(),
            reason: format!("{e:#}"),
        };
        let proto = onnx
            .proto_model_for_read(&mut &bytes[..])
            .map_err(not_onnx)?;
        let model = onnx.model_for_proto_model(&proto).map_err(not_onnx)?;
        let info = read_info(&model, &path)?;
        let prepare = |reason: String| EncoderError::Prepare {
            path: path.clone(),
            reason,
        };
        if model.inputs.len() != 1 || model.outputs.len() != 1 {
            return Err(prepare(format!(
                "expected 1 input and 1 output, found {} and {}",
                model.inputs.len(),
                model.outputs.len()
            )));
        }
        let d = info.input_dim();
        let n = model.sym("N");
        let typed = model
            .with_input_fact(0, f32::fact(dims!(n, d)).into())
            .and_then(|m| m.into_optimized())
            .map_err(|e| prepare(format!("{e:#}")))?;
        let out = typed
            .output_fact(0)
            .map_err(|e| prepare(format!("{e:#}")))?;
        let width = out.shape.as_concrete().map(|s| s.to_vec());
        let width_ok = out.datum_type == f32::datum_type()
            && out.rank() == 2
            && out.shape[1].to_usize().ok() == Some(info.outputs);
        if !width_ok {
            return Err(prepare(format!(
                "the output is {:?} {:?}, the metadata promises f32 [N, {}]",
                out.datum_type, width, info.outputs
            )));
        }
        let plan = typed
            .into_runnable()
            .map_err(|e| prepare(format!("{e:#}")))?;
        let native = match (&proto.graph, info.int8) {
            (Some(g), true) if g.input.len() == 1 && g.output.len() == 1 => {
                native::Int8Mlp::from_proto(&proto, &g.input[0].name, &g.output[0].name)
                    .filter(|m| m.input_dim() == d && m.outputs() == info.outputs)
                    .map(Arc::new)
            }
            _ => None,
        };
        Ok(Encoder {
            path,
            info,
            plan,
            native,
        })
    }

    /// Whether int8 inference runs on the native executor (an int8 model with the exported
    /// layout) rather than on tract.
    pub fn uses_native_int8(&self) -> bool {
        self.native.is_some()
    }

    /// The same encoder, running everything on tract (for checks and comparisons).
    pub fn tract_only(mut self) -> Self {
        self.native = None;
        self
    }

    /// What the model's metadata says.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The model's file (as given to `open`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `cluster` or `hash`.
    pub fn task(&self) -> Task {
        self.info.task
    }

    /// K clusters or M bits.
    pub fn outputs(&self) -> usize {
        self.info.outputs
    }

    /// Values per image (e.g. 784).
    pub fn input_dim(&self) -> usize {
        self.info.input_dim()
    }

    fn rows(&self, len: usize) -> Result<usize, EncoderError> {
        let width = self.input_dim();
        if len == 0 {
            return Err(EncoderError::EmptyBatch);
        }
        if !len.is_multiple_of(width) {
            return Err(EncoderError::BatchWidth { len, width });
        }
        Ok(len / width)
    }

    /// Logits (row-major, `outputs` per image) of u8 images (`input_dim` bytes each).
    pub fn logits(&self, images: &[u8]) -> Result<Vec<f32>, EncoderError> {
        let pixels: Vec<f32> = images.iter().map(|&p| p as f32).collect();
        self.logits_f32(&pixels)
    }

    /// Logits of images given as f32 pixels in 0..255.
    pub fn logits_f32(&self, pixels: &[f32]) -> Result<Vec<f32>, EncoderError> {
        let n = self.rows(pixels.len())?;
        if let Some(native) = &self.native {
            let d = self.input_dim();
            let mut out = Vec::with_capacity(n * self.outputs());
            for chunk in pixels.chunks(MAX_ROWS_PER_RUN * d) {
                out.extend(native.logits(chunk, chunk.len() / d));
            }
            return Ok(out);
        }
        let d = self.input_dim();
        let mut out = Vec::with_capacity(n * self.outputs());
        for chunk in pixels.chunks(MAX_ROWS_PER_RUN * d) {
            let rows = chunk.len() / d;
            let input = Tensor::from_shape(&[rows, d], chunk)
                .map_err(|e| EncoderError::Run(format!("{e:#}")))?;
            let result = self
                .plan
                .run(tvec!(input.into_tvalue()))
                .map_err(|e| EncoderError::Run(format!("{e:#}")))?;
            let view = result[0]
                .try_as_plain_ram()
                .and_then(|v| v.as_slice::<f32>().map(|s| s.to_vec()))
                .map_err(|e| EncoderError::Run(format!("{e:#}")))?;
            if view.len() != rows * self.outputs() {
                return Err(EncoderError::Run(format!(
                    "{} output values for {rows} images of {} outputs",
                    view.len(),
                    self.outputs()
                )));
            }
            out.extend_from_slice(&view);
        }
        Ok(out)
    }

    fn expect(&self, expected: Task) -> Result<(), EncoderError> {
        if self.task() != expected {
            return Err(EncoderError::WrongTask {
                path: self.path.clone(),
                expected,
                actual: self.task(),
            });
        }
        Ok(())
    }

    /// Packed codes (bit p = logit p > 0) of u8 images; a hash model only.
    pub fn codes(&self, images: &[u8]) -> Result<Codes, EncoderError> {
        self.expect(Task::Hash)?;
        let logits = self.logits(images)?;
        Ok(Codes::from_logits(self.outputs(), &logits)?)
    }

    /// Cluster ids (argmax of the logits, lowest id on ties) of u8 images; a cluster model only.
    pub fn clusters(&self, images: &[u8]) -> Result<Vec<u32>, EncoderError> {
        self.expect(Task::Cluster)?;
        let logits = self.logits(images)?;
        argmax_rows(&logits, self.outputs())
    }

    /// Codes or cluster ids, whichever the model makes.
    pub fn encode(&self, images: &[u8]) -> Result<Encoded, EncoderError> {
        match self.task() {
            Task::Hash => self.codes(images).map(Encoded::Codes),
            Task::Cluster => self.clusters(images).map(Encoded::Clusters),
        }
    }
}

/// Index of the largest value of each row (the first one on ties); NaN is an error.
pub fn argmax_rows(logits: &[f32], k: usize) -> Result<Vec<u32>, EncoderError> {
    if let Some(position) = logits.iter().position(|v| v.is_nan()) {
        return Err(crate::error::Error::NotANumber { position }.into());
    }
    Ok(logits
        .chunks_exact(k.max(1))
        .map(|row| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = i;
                }
            }
            best as u32
        })
        .collect())
}

/// A native executor for the int8 models `imsat train` exports: the integer matrix products
/// run in plain Rust (vectorized for the CPU found at run time), the float steps exactly as
/// tract does them (`acc as f32 * multiplier + bias`, then `round_ties_even(y * (1/scale))`
/// clamped to u8), so its codes are those of tract, bit for bit. Used when the graph has
/// exactly the exported layout; any other graph runs on tract.
mod native {
    use std::collections::HashMap;
    use std::vec::Vec;

    use tract_onnx::pb;
    use tract_onnx::pb::tensor_proto::DataType;

    /// Activations and weights are padded to a multiple of this (zeros add nothing).
    const PAD: usize = 64;

    #[derive(Debug, Clone)]
    struct Layer {
        d_in: usize,
        /// `d_in` rounded up to [`PAD`].
        stride: usize,
        d_out: usize,
        /// Transposed weights `[d_out][stride]`, zero padded.
        wt: Vec<i8>,
        multiplier: f32,
        bias: Vec<f32>,
        /// `1 / scale` of the u8 quantization of this layer's output (hidden layers).
        next_inv_scale: Option<f32>,
    }

    #[derive(Debug, Clone)]
    pub(super) struct Int8Mlp {
        input_inv_scale: f32,
        layers: Vec<Layer>,
    }

    fn raw(t: &pb::TensorProto, dt: DataType, len: usize) -> Option<&[u8]> {
        let size = match dt {
            DataType::Float => 4,
            _ => 1,
        };
        (t.data_type == dt as i32
            && t.data_location.unwrap_or(0) == 0
            && t.raw_data.len() == len * size)
            .then_some(&t.raw_data[..])
    }

    fn dims(t: &pb::TensorProto) -> Vec<usize> {
        t.dims.iter().map(|&d| d.max(0) as usize).collect()
    }

    fn scalar_f32(t: &pb::TensorProto) -> Option<f32> {
        let b = raw(t, DataType::Float, 1)?;
        let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        (dims(t).iter().product::<usize>() == 1 && v.is_finite() && v > 0.0).then_some(v)
    }

    fn zero_u8(t: &pb::TensorProto) -> bool {
        raw(t, DataType::Uint8, 1) == Some(&[0u8][..])
    }

    impl Int8Mlp {
        /// The executor for `model` when its graph is exactly the exported int8 layout
        /// (see `imsat_trainer::export`), else `None`.
        pub(super) fn from_proto(
            model: &pb::ModelProto,
            input: &str,
            output: &str,
        ) -> Option<Self> {
            let graph = model.graph.as_ref()?;
            let init: HashMap<&str, &pb::TensorProto> = graph
                .initializer
                .iter()
                .map(|t| (t.name.as_str(), t))
                .collect();
            let get = |name: &str| init.get(name).copied();
            let mut nodes = graph.node.iter();
            let mut next = |op: &str, n_in: usize| {
                let node = nodes.next()?;
                (node.op_type == op
                    && node.input.len() == n_in
                    && node.output.len() == 1
                    && node.domain.is_empty())
                .then_some(node)
            };
            let q = next("QuantizeLinear", 3)?;
            if q.input[0] != input || !zero_u8(get(&q.input[2])?) {
                return None;
            }
            let input_inv_scale = scalar_f32(get(&q.input[1])?)?.recip();
            let mut cur = q.output[0].clone();
            let mut layers: Vec<Layer> = Vec::new();
            loop {
                let mm = next("MatMulInteger", 2)?;
                let w = get(&mm.input[1])?;
                let (d_in, d_out) = match dims(w)[..] {
                    [a, b] if a > 0 && b > 0 => (a, b),
                    _ => return None,
                };
                let wq = raw(w, DataType::Int8, d_in * d_out)?;
                if mm.input[0] != cur || layers.last().is_some_and(|l| l.d_out != d_in) {
                    return None;
                }
                let cast = next("Cast", 1)?;
                let to_float = cast
                    .attribute
                    .iter()
                    .any(|a| a.name == "to" && a.i == DataType::Float as i64);
                if cast.input[0] != mm.output[0] || !to_float || cast.attribute.len() != 1 {
                    return None;
                }
                let mul = next("Mul", 2)?;
                if mul.input[0] != cast.output[0] {
                    return None;
                }
                let m = get(&mul.input[1])?;
                let multiplier = f32::from_le_bytes(raw(m, DataType::Float, 1)?.try_into().ok()?);
                if !dims(m).is_empty() || !multiplier.is_finite() {
                    return None;
                }
                let add = next("Add", 2)?;
                let b = get(&add.input[1])?;
                if add.input[0] != mul.output[0] || dims(b) != [d_out] {
                    return None;
                }
                let bias: Vec<f32> = raw(b, DataType::Float, d_out)?
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                let stride = d_in.div_ceil(PAD) * PAD;
                let mut wt = std::vec![0i8; d_out * stride];
                for (k, row) in wq.chunks_exact(d_out).enumerate() {
                    for (j, &v) in row.iter().enumerate() {
                        wt[j * stride + k] = v as i8;
                    }
                }
                let mut layer = Layer {
                    d_in,
                    stride,
                    d_out,
                    wt,
                    multiplier,
                    bias,
                    next_inv_scale: None,
                };
                if add.output[0] == output {
                    layers.push(layer);
                    break;
                }
                let q = next("QuantizeLinear", 3)?;
                if q.input[0] != add.output[0] || !zero_u8(get(&q.input[2])?) {
                    return None;
                }
                layer.next_inv_scale = Some(scalar_f32(get(&q.input[1])?)?.recip());
                cur = q.output[0].clone();
                layers.push(layer);
            }
            if nodes.next().is_some() {
                return None;
            }
            Some(Int8Mlp {
                input_inv_scale,
                layers,
            })
        }

        pub(super) fn input_dim(&self) -> usize {
            self.layers[0].d_in
        }

        pub(super) fn outputs(&self) -> usize {
            self.layers[self.layers.len() - 1].d_out
        }

        /// Logits of `n` rows of f32 pixels.
        pub(super) fn logits(&self, pixels: &[f32], n: usize) -> Vec<f32> {
            let first = &self.layers[0];
            let mut a = std::vec![0u8; n * first.stride];
            for (row, px) in a
                .chunks_exact_mut(first.stride)
                .zip(pixels.chunks_exact(first.d_in))
            {
                for (q, &p) in row.iter_mut().zip(px) {
                    *q = quantize_u8(p, self.input_inv_scale);
                }
            }
            let mut out = Vec::new();
            for (i, l) in self.layers.iter().enumerate() {
                match l.next_inv_scale {
                    Some(inv) => {
                        let stride = self.layers[i + 1].stride;
                        let mut next = std::vec![0u8; n * stride];
                        run_layer(l, &a, n, &mut |r, j, y| {
                            next[r * stride + j] = quantize_u8(y, inv)
                        });
                        a = next;
                    }
                    None => {
                        out = std::vec![0f32; n * l.d_out];
                        let d_out = l.d_out;
                        run_layer(l, &a, n, &mut |r, j, y| out[r * d_out + j] = y);
                    }
                }
            }
            out
        }
    }

    /// tract's QuantizeLinear to u8 with zero point 0.
    #[inline(always)]
    fn quantize_u8(y: f32, inv_scale: f32) -> u8 {
        ((y * inv_scale).round_ties_even() as i32).clamp(0, 255) as u8
    }

    #[inline(always)]
    fn dot(a: &[u8], w: &[i8]) -> i32 {
        a.iter().zip(w).map(|(&x, &y)| x as i32 * y as i32).sum()
    }

    /// `emit(row, j, acc * multiplier + bias[j])` for every row and output of a layer.
    #[inline(always)]
    fn layer_generic(l: &Layer, a: &[u8], n: usize, emit: &mut dyn FnMut(usize, usize, f32)) {
        for r in 0..n {
            let x = &a[r * l.stride..(r + 1) * l.stride];
            for (j, w) in l.wt.chunks_exact(l.stride).enumerate() {
                let acc = dot(x, w);
                emit(r, j, acc as f32 * l.multiplier + l.bias[j]);
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn layer_vnni(l: &Layer, a: &[u8], n: usize, emit: &mut dyn FnMut(usize, usize, f32)) {
        layer_generic(l, a, n, emit)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn layer_avx2(l: &Layer, a: &[u8], n: usize, emit: &mut dyn FnMut(usize, usize, f32)) {
        layer_generic(l, a, n, emit)
    }

    fn run_layer(l: &Layer, a: &[u8], n: usize, emit: &mut dyn FnMut(usize, usize, f32)) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512vnni")
                && std::is_x86_feature_detected!("avx512bw")
            {
                // SAFETY: the CPU has the features the function is compiled for.
                return unsafe { layer_vnni(l, a, n, emit) };
            }
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: as above.
                return unsafe { layer_avx2(l, a, n, emit) };
            }
        }
        layer_generic(l, a, n, emit)
    }
}
