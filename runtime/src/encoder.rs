//! The ONNX encoder: runs a model exported by `imsat train` (f32 or int8) through tract and
//! turns images into packed codes (hash models) or cluster ids (cluster models).
//!
//! An exported model takes raw pixels, f32 `[N, d]` in 0..255, and returns logits
//! `[N, K or M]`; its `metadata_props` say what it is (`imsat.task`, `imsat.outputs`,
//! `imsat.input_shape`, `imsat.format_version`, `imsat.int8`, `imsat.report`).
//! [`Encoder::open`] loads and optimizes the model once; the `encode` family then runs it on
//! batches of u8 images (row-major, `input_dim` bytes per image).
//!
//! f32 models run on tract. int8 models in the exported layout (`MatMulInteger` layers)
//! run on a native executor with integer kernels chosen at run time (AVX-512 VNNI or AVX2 on
//! x86-64, NEON with or without the dot-product instructions on aarch64), whose logits are
//! tract's bit for bit (`tests/onnx_export.rs` checks every kernel against tract,
//! `runtime/tests/int8_kernels.rs` against the generic kernel, on ARM too); other int8
//! graphs, and CPUs without those kernels, use tract.
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
    /// How a photo of any size becomes the input (`imsat.view`); `None` for models that take
    /// images already at `input_shape` (the digit models).
    pub view: Option<crate::view::View>,
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
    /// Whether `native` runs (by default when this CPU has one of its SIMD kernels; on other
    /// CPUs tract's own int8 kernels are faster than the portable one).
    use_native: bool,
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
    let view = match prop(model, crate::view::METADATA_KEY) {
        None => None,
        Some(text) => {
            let view = crate::view::View::from_metadata(&text).map_err(|e| bad(format!("{e}")))?;
            if input_shape != [view.rows, view.cols] {
                return Err(bad(format!(
                    "view {text:?} does not match the input shape {shape_text:?}"
                )));
            }
            Some(view)
        }
    };
    Ok(ModelInfo {
        task,
        outputs,
        input_shape,
        int8,
        report: prop(model, "imsat.report").unwrap_or_default(),
        view,
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
            use_native: native.is_some() && native::Kernel::best() != native::Kernel::Generic,
            native,
        })
    }

    /// Whether int8 inference runs on the native executor (an int8 model with the exported
    /// layout) rather than on tract.
    pub fn uses_native_int8(&self) -> bool {
        self.use_native && self.native.is_some()
    }

    /// The integer kernel of the native int8 executor (`vnni`, `avx2`, `dotprod`, `neon` or
    /// `generic`), if used.
    pub fn int8_kernel(&self) -> Option<&'static str> {
        self.native
            .as_ref()
            .filter(|_| self.use_native)
            .map(|n| n.kernel.name())
    }

    /// The same encoder running the native int8 executor with the given kernel (`vnni`,
    /// `avx2`, `dotprod`, `neon` or `generic`); `None` when the name is unknown, this CPU cannot run it, or the
    /// model has no native executor (an f32 model, or an int8 graph of another layout).
    /// All kernels give the same results; this is for tests and benchmarks.
    pub fn with_int8_kernel(mut self, name: &str) -> Option<Self> {
        let kernel = native::Kernel::from_name(name).filter(|k| k.supported())?;
        let mut mlp = (**self.native.as_ref()?).clone();
        mlp.kernel = kernel;
        self.native = Some(Arc::new(mlp));
        self.use_native = true;
        Some(self)
    }

    /// The same encoder, running everything on tract (for checks and comparisons).
    pub fn tract_only(mut self) -> Self {
        self.use_native = false;
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
        if let Some(native) = self.native.as_ref().filter(|_| self.use_native) {
            return self.native_logits(native, images);
        }
        let pixels: Vec<f32> = images.iter().map(|&p| p as f32).collect();
        self.logits_f32(&pixels)
    }

    fn native_logits<P: Copy + Into<f32>>(
        &self,
        native: &native::Int8Mlp,
        pixels: &[P],
    ) -> Result<Vec<f32>, EncoderError> {
        let (n, d) = (self.rows(pixels.len())?, self.input_dim());
        let mut out = Vec::with_capacity(n * self.outputs());
        for chunk in pixels.chunks(MAX_ROWS_PER_RUN * d) {
            out.extend(native.logits(chunk, chunk.len() / d));
        }
        Ok(out)
    }

    /// Logits of images given as f32 pixels in 0..255.
    pub fn logits_f32(&self, pixels: &[f32]) -> Result<Vec<f32>, EncoderError> {
        if let Some(native) = self.native.as_ref().filter(|_| self.use_native) {
            return self.native_logits(native, pixels);
        }
        let n = self.rows(pixels.len())?;
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
        /// The weights packed for `vpdpbusd`: for each block of 16 outputs, for each group of
        /// 4 inputs, 64 bytes: output `c` of the block holds its 4 weights at bytes `4c..4c+4`.
        /// The NEON kernels read this layout too.
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        packed: Vec<i8>,
        /// The weights as i16 pairs for `vpmaddwd`: for each block of 8 outputs, for each pair
        /// of inputs, 16 values: output `c` of the block holds its 2 weights at `2c..2c+2`.
        #[cfg(target_arch = "x86_64")]
        packed16: Vec<i16>,
        /// `128 * sum(w)` per output, wrapping (`d_out` values): the NEON kernels multiply
        /// `a - 128` by the weights and add this back.
        #[cfg(target_arch = "aarch64")]
        offset: Vec<i32>,
        multiplier: f32,
        bias: Vec<f32>,
        /// `1 / scale` of the u8 quantization of this layer's output (hidden layers).
        next_inv_scale: Option<f32>,
    }

    #[derive(Debug, Clone)]
    pub(super) struct Int8Mlp {
        /// Always one that [`Kernel::supported`] accepts.
        pub(super) kernel: Kernel,
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
                // Rows padded to a multiple of 4 outputs for the 4-column kernels.
                let mut wt = std::vec![0i8; d_out.div_ceil(4) * 4 * stride];
                for (k, row) in wq.chunks_exact(d_out).enumerate() {
                    for (j, &v) in row.iter().enumerate() {
                        wt[j * stride + k] = v as i8;
                    }
                }
                #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
                let packed = {
                    let groups = stride / 4;
                    let mut packed = std::vec![0i8; d_out.div_ceil(16) * groups * 64];
                    for (k, row) in wq.chunks_exact(d_out).enumerate() {
                        for (j, &v) in row.iter().enumerate() {
                            packed[((j / 16) * groups + k / 4) * 64 + (j % 16) * 4 + k % 4] =
                                v as i8;
                        }
                    }
                    packed
                };
                #[cfg(target_arch = "x86_64")]
                let packed16 = {
                    let pairs = stride / 2;
                    let mut packed16 = std::vec![0i16; d_out.div_ceil(8) * pairs * 16];
                    for (k, row) in wq.chunks_exact(d_out).enumerate() {
                        for (j, &v) in row.iter().enumerate() {
                            packed16[((j / 8) * pairs + k / 2) * 16 + (j % 8) * 2 + k % 2] =
                                v as i8 as i16;
                        }
                    }
                    packed16
                };
                #[cfg(target_arch = "aarch64")]
                let offset = (0..d_out)
                    .map(|j| {
                        wq.iter()
                            .skip(j)
                            .step_by(d_out)
                            .fold(0i32, |s, &v| s.wrapping_add(v as i8 as i32))
                            .wrapping_mul(128)
                    })
                    .collect();
                let mut layer = Layer {
                    d_in,
                    stride,
                    d_out,
                    wt,
                    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
                    packed,
                    #[cfg(target_arch = "x86_64")]
                    packed16,
                    #[cfg(target_arch = "aarch64")]
                    offset,
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
                kernel: Kernel::best(),
            })
        }

        pub(super) fn input_dim(&self) -> usize {
            self.layers[0].d_in
        }

        pub(super) fn outputs(&self) -> usize {
            self.layers[self.layers.len() - 1].d_out
        }

        /// Logits of `n` rows of f32 pixels.
        /// Logits of `n` rows of pixels (f32 or u8; both quantized as f32 values).
        pub(super) fn logits<P: Copy + Into<f32>>(&self, pixels: &[P], n: usize) -> Vec<f32> {
            let first = &self.layers[0];
            let mut a = std::vec![0u8; n * first.stride];
            for (row, px) in a
                .chunks_exact_mut(first.stride)
                .zip(pixels.chunks_exact(first.d_in))
            {
                for (q, &p) in row.iter_mut().zip(px) {
                    *q = quantize_u8(p.into(), self.input_inv_scale);
                }
            }
            let mut out = Vec::new();
            for (i, l) in self.layers.iter().enumerate() {
                match l.next_inv_scale {
                    Some(inv) => {
                        let stride = self.layers[i + 1].stride;
                        let mut next = std::vec![0u8; n * stride];
                        let mut sink = Sink::U8 {
                            buf: &mut next,
                            stride,
                            inv,
                        };
                        run_layer(self.kernel, l, &a, n, &mut sink);
                        a = next;
                    }
                    None => {
                        out = std::vec![0f32; n * l.d_out];
                        let width = l.d_out;
                        run_layer(
                            self.kernel,
                            l,
                            &a,
                            n,
                            &mut Sink::F32 {
                                buf: &mut out,
                                width,
                            },
                        );
                    }
                }
            }
            out
        }
    }

    /// tract's QuantizeLinear to u8 with zero point 0: `round_ties_even(y * inv_scale)`
    /// clamped to 0..=255 (NaN gives 0). Branch-free: clamp first,
    /// then round by adding and removing 2^23, as tract does (no SSE4.1 `round` needed).
    #[inline(always)]
    fn quantize_u8(y: f32, inv_scale: f32) -> u8 {
        const TOINT: f32 = 8_388_608.0; // 2^23
        let x = (y * inv_scale).clamp(0.0, 255.0); // NaN stays NaN, and `NaN as u8` is 0
        ((x + TOINT) - TOINT) as u8
    }

    /// Where a layer's outputs go: u8 codes for the next layer, or the f32 logits.
    pub(super) enum Sink<'a> {
        U8 {
            buf: &'a mut [u8],
            stride: usize,
            inv: f32,
        },
        F32 {
            buf: &'a mut [f32],
            width: usize,
        },
    }

    impl Sink<'_> {
        #[inline(always)]
        fn put(&mut self, r: usize, j: usize, y: f32) {
            match self {
                Sink::U8 { buf, stride, inv } => buf[r * *stride + j] = quantize_u8(y, *inv),
                Sink::F32 { buf, width } => buf[r * *width + j] = y,
            }
        }
    }

    #[inline(always)]
    fn dot(a: &[u8], w: &[i8]) -> i32 {
        a.iter().zip(w).map(|(&x, &y)| x as i32 * y as i32).sum()
    }

    /// `emit.put(row, j, acc * multiplier + bias[j])` for every row and output of a layer.
    #[inline(always)]
    fn layer_generic(l: &Layer, a: &[u8], n: usize, emit: &mut Sink<'_>) {
        for r in 0..n {
            let x = &a[r * l.stride..(r + 1) * l.stride];
            for (j, w) in l.wt.chunks_exact(l.stride).take(l.d_out).enumerate() {
                let acc = dot(x, w);
                emit.put(r, j, acc as f32 * l.multiplier + l.bias[j]);
            }
        }
    }

    /// AVX-512 VNNI: `vpdpbusd` multiplies 4 u8 activations (broadcast) by the 4 i8 weights
    /// of each of 16 outputs and adds to 16 i32 sums, exactly; tiles of up to 4 rows x 64
    /// outputs keep 16 sums in registers and need no horizontal additions.
    #[cfg(target_arch = "x86_64")]
    mod vnni {
        use core::arch::x86_64::*;

        use super::{Layer, Sink};

        /// Sums of rows x (16 C outputs from block `cb0`), into `out[r][0..16 C]`.
        #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
        fn tile<const R: usize, const C: usize>(
            rows: &[&[u8]],
            packed: &[i8],
            groups: usize,
            cb0: usize,
            out: &mut [[i32; 64]; 4],
        ) {
            assert!(rows.len() == R && rows.iter().all(|r| r.len() >= groups * 4));
            assert!(packed.len() >= (cb0 + C) * groups * 64);
            let mut acc = [[_mm512_setzero_si512(); C]; R];
            for g in 0..groups {
                let mut w = [_mm512_setzero_si512(); C];
                for (c, w) in w.iter_mut().enumerate() {
                    // SAFETY: ((cb0 + c) * groups + g + 1) * 64 <= packed.len() (checked above).
                    *w = unsafe {
                        _mm512_loadu_si512(
                            packed.as_ptr().add(((cb0 + c) * groups + g) * 64).cast(),
                        )
                    };
                }
                for r in 0..R {
                    // SAFETY: g * 4 + 4 <= rows[r].len() (checked above).
                    let a = unsafe { rows[r].as_ptr().add(g * 4).cast::<i32>().read_unaligned() };
                    let a = _mm512_set1_epi32(a);
                    for c in 0..C {
                        acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], a, w[c]);
                    }
                }
            }
            for (sums, acc) in out.iter_mut().zip(&acc) {
                for (c, &v) in acc.iter().enumerate() {
                    // SAFETY: c * 16 + 16 <= 64.
                    unsafe { _mm512_storeu_si512(sums.as_mut_ptr().add(c * 16).cast(), v) };
                }
            }
        }

        /// 16 outputs as `Sink::put` computes them for a u8 sink, vectorized with the same
        /// roundings: `cvt(acc) * m + bias` (no fused multiply-add), times `inv`, rounded to
        /// nearest-even by `vcvtps2dq`, NaN and negatives to 0, above 255 to 255.
        #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
        fn requantize16(acc: &[i32], m: f32, bias: &[f32], inv: f32, out: &mut [u8]) {
            assert!(acc.len() == 16 && bias.len() == 16 && out.len() == 16);
            // SAFETY: every pointer covers 16 elements (checked above).
            let (a, b) = unsafe {
                (
                    _mm512_loadu_si512(acc.as_ptr().cast()),
                    _mm512_loadu_ps(bias.as_ptr()),
                )
            };
            let y = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(a), _mm512_set1_ps(m)), b);
            let x = _mm512_mul_ps(y, _mm512_set1_ps(inv));
            // min(255, x) keeps NaN (the second operand), which converts to i32::MIN, then 0.
            let x = _mm512_min_ps(_mm512_set1_ps(255.0), x);
            let q = _mm512_max_epi32(_mm512_cvtps_epi32(x), _mm512_setzero_si512());
            // SAFETY: out holds 16 bytes.
            unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), _mm512_cvtepi32_epi8(q)) };
        }

        /// # Safety
        /// The CPU must support avx512f, avx512bw and avx512vnni.
        #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
        pub(super) unsafe fn layer(l: &Layer, a: &[u8], n: usize, emit: &mut Sink<'_>) {
            let (s, groups, blocks) = (l.stride, l.stride / 4, l.d_out.div_ceil(16));
            let mut out = [[0i32; 64]; 4];
            let mut r0 = 0;
            while r0 < n {
                let take = (n - r0).min(4);
                let rows: [&[u8]; 4] = core::array::from_fn(|i| {
                    let i = r0 + i.min(take - 1);
                    &a[i * s..(i + 1) * s]
                });
                let rows = &rows[..take];
                let mut cb = 0;
                while cb < blocks {
                    let c = (blocks - cb).min(4);
                    let p = &l.packed[..];
                    match (take, c) {
                        (1, 1) => tile::<1, 1>(rows, p, groups, cb, &mut out),
                        (1, 2) => tile::<1, 2>(rows, p, groups, cb, &mut out),
                        (1, 3) => tile::<1, 3>(rows, p, groups, cb, &mut out),
                        (1, _) => tile::<1, 4>(rows, p, groups, cb, &mut out),
                        (2, 1) => tile::<2, 1>(rows, p, groups, cb, &mut out),
                        (2, 2) => tile::<2, 2>(rows, p, groups, cb, &mut out),
                        (2, 3) => tile::<2, 3>(rows, p, groups, cb, &mut out),
                        (2, _) => tile::<2, 4>(rows, p, groups, cb, &mut out),
                        (3, 1) => tile::<3, 1>(rows, p, groups, cb, &mut out),
                        (3, 2) => tile::<3, 2>(rows, p, groups, cb, &mut out),
                        (3, 3) => tile::<3, 3>(rows, p, groups, cb, &mut out),
                        (3, _) => tile::<3, 4>(rows, p, groups, cb, &mut out),
                        (_, 1) => tile::<4, 1>(rows, p, groups, cb, &mut out),
                        (_, 2) => tile::<4, 2>(rows, p, groups, cb, &mut out),
                        (_, 3) => tile::<4, 3>(rows, p, groups, cb, &mut out),
                        (_, _) => tile::<4, 4>(rows, p, groups, cb, &mut out),
                    }
                    for (dr, sums) in out.iter().enumerate().take(take) {
                        let r = r0 + dr;
                        let mut col = 0;
                        // Whole blocks of 16 outputs into the next layer's u8 input: vectorized.
                        if let Sink::U8 { buf, stride, inv } = emit {
                            while col + 16 <= 16 * c && cb * 16 + col + 16 <= l.d_out {
                                let j = cb * 16 + col;
                                let at = r * *stride + j;
                                requantize16(
                                    &sums[col..col + 16],
                                    l.multiplier,
                                    &l.bias[j..j + 16],
                                    *inv,
                                    &mut buf[at..at + 16],
                                );
                                col += 16;
                            }
                        }
                        for (col, &acc) in sums.iter().enumerate().take(16 * c).skip(col) {
                            let j = cb * 16 + col;
                            if j < l.d_out {
                                emit.put(r, j, acc as f32 * l.multiplier + l.bias[j]);
                            }
                        }
                    }
                    cb += c;
                }
                r0 += take;
            }
        }

        #[cfg(test)]
        mod tests {
            use std::vec::Vec;

            #[test]
            fn vector_requantization_equals_the_scalar_one() {
                if !super::super::Kernel::Vnni.supported() {
                    return;
                }
                let specials = [i32::MIN, -1, 0, 1, 2, 127, 128, 255, 256, 1 << 20, i32::MAX];
                let mut acc: Vec<i32> = specials.to_vec();
                acc.extend((0..4000).map(|i| (i * 7919 % 20011) - 10005));
                acc.resize(acc.len().div_ceil(16) * 16, 3);
                let bias: Vec<f32> = (0..16).map(|j| j as f32 * 0.37 - 2.5).collect();
                for (m, inv) in [
                    (0.05f32, 1.0f32),
                    (0.5, 0.5),
                    (1.0 / 3.0, 3.0),
                    (1e-3, 7.1),
                    (f32::NAN, 1.0),
                ] {
                    for chunk in acc.chunks_exact(16) {
                        let mut got = [0u8; 16];
                        // SAFETY: the CPU supports the kernel (checked above).
                        unsafe { super::requantize16(chunk, m, &bias, inv, &mut got) };
                        for c in 0..16 {
                            let y = chunk[c] as f32 * m + bias[c];
                            assert_eq!(
                                got[c],
                                super::super::quantize_u8(y, inv),
                                "acc {} m {m} inv {inv}",
                                chunk[c]
                            );
                        }
                    }
                }
                // Exact ties round to even, as tract does.
                let ties: Vec<i32> = (0..16).map(|i| 2 * i + 1).collect();
                let mut got = [0u8; 16];
                // SAFETY: as above.
                unsafe { super::requantize16(&ties, 0.5, &[0.0; 16], 1.0, &mut got) };
                let want: Vec<u8> = (0..16)
                    .map(|i| ((2 * i + 1) as f32 * 0.5).round_ties_even() as u8)
                    .collect();
                assert_eq!(&got[..], &want[..]);
            }
        }
    }

    /// AVX2: activations widened to i16 once per layer; `vpmaddwd` multiplies a broadcast pair
    /// of them by the i16 weight pairs of 8 outputs (16 products, exact in i32); tiles of up to
    /// 4 rows x 16 outputs keep 8 sums in registers, with no horizontal additions.
    #[cfg(target_arch = "x86_64")]
    mod avx2 {
        use core::arch::x86_64::*;
        use std::vec::Vec;

        use super::{Layer, Sink};

        /// Sums of rows x (8 C outputs from block `cb0`), into `out[r][0..8 C]`.
        #[target_feature(enable = "avx2")]
        fn tile<const R: usize, const C: usize>(
            rows: &[&[i16]],
            packed: &[i16],
            pairs: usize,
            cb0: usize,
            out: &mut [[i32; 16]; 4],
        ) {
            assert!(rows.len() == R && rows.iter().all(|r| r.len() >= pairs * 2));
            assert!(packed.len() >= (cb0 + C) * pairs * 16);
            let mut acc = [[_mm256_setzero_si256(); C]; R];
            for p in 0..pairs {
                let mut w = [_mm256_setzero_si256(); C];
                for (c, w) in w.iter_mut().enumerate() {
                    // SAFETY: ((cb0 + c) * pairs + p + 1) * 16 <= packed.len() (checked above).
                    *w = unsafe {
                        _mm256_loadu_si256(packed.as_ptr().add(((cb0 + c) * pairs + p) * 16).cast())
                    };
                }
                for r in 0..R {
                    // SAFETY: 2 p + 2 <= rows[r].len() (checked above).
                    let a = unsafe { rows[r].as_ptr().add(2 * p).cast::<i32>().read_unaligned() };
                    let a = _mm256_set1_epi32(a);
                    for c in 0..C {
                        acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(a, w[c]));
                    }
                }
            }
            for (sums, acc) in out.iter_mut().zip(&acc) {
                for (c, &v) in acc.iter().enumerate() {
                    // SAFETY: c * 8 + 8 <= 16.
                    unsafe { _mm256_storeu_si256(sums.as_mut_ptr().add(c * 8).cast(), v) };
                }
            }
        }

        /// 8 outputs as `Sink::put` computes them for a u8 sink, with the same roundings.
        #[target_feature(enable = "avx2")]
        fn requantize8(acc: &[i32], m: f32, bias: &[f32], inv: f32, out: &mut [u8]) {
            assert!(acc.len() == 8 && bias.len() == 8 && out.len() == 8);
            // SAFETY: every pointer covers 8 elements (checked above).
            let (a, b) = unsafe {
                (
                    _mm256_loadu_si256(acc.as_ptr().cast()),
                    _mm256_loadu_ps(bias.as_ptr()),
                )
            };
            let y = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(a), _mm256_set1_ps(m)), b);
            let x = _mm256_mul_ps(y, _mm256_set1_ps(inv));
            // min(255, x) keeps NaN (the second operand), which converts to i32::MIN, then 0.
            let x = _mm256_min_ps(_mm256_set1_ps(255.0), x);
            let q = _mm256_max_epi32(_mm256_cvtps_epi32(x), _mm256_setzero_si256());
            let mut lanes = [0i32; 8];
            // SAFETY: lanes holds 8 i32.
            unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), q) };
            for (o, &v) in out.iter_mut().zip(&lanes) {
                *o = v as u8;
            }
        }

        /// # Safety
        /// The CPU must support avx2.
        #[target_feature(enable = "avx2")]
        pub(super) unsafe fn layer(l: &Layer, a: &[u8], n: usize, emit: &mut Sink<'_>) {
            let (s, pairs, blocks) = (l.stride, l.stride / 2, l.d_out.div_ceil(8));
            let wide: Vec<i16> = a[..n * s].iter().map(|&v| v as i16).collect();
            let mut out = [[0i32; 16]; 4];
            let mut r0 = 0;
            while r0 < n {
                let take = (n - r0).min(4);
                let rows: [&[i16]; 4] = core::array::from_fn(|i| {
                    let i = r0 + i.min(take - 1);
                    &wide[i * s..(i + 1) * s]
                });
                let rows = &rows[..take];
                let mut cb = 0;
                while cb < blocks {
                    let c = (blocks - cb).min(2);
                    let p = &l.packed16[..];
                    match (take, c) {
                        (1, 1) => tile::<1, 1>(rows, p, pairs, cb, &mut out),
                        (1, _) => tile::<1, 2>(rows, p, pairs, cb, &mut out),
                        (2, 1) => tile::<2, 1>(rows, p, pairs, cb, &mut out),
                        (2, _) => tile::<2, 2>(rows, p, pairs, cb, &mut out),
                        (3, 1) => tile::<3, 1>(rows, p, pairs, cb, &mut out),
                        (3, _) => tile::<3, 2>(rows, p, pairs, cb, &mut out),
                        (_, 1) => tile::<4, 1>(rows, p, pairs, cb, &mut out),
                        (_, _) => tile::<4, 2>(rows, p, pairs, cb, &mut out),
                    }
                    for (dr, sums) in out.iter().enumerate().take(take) {
                        let r = r0 + dr;
                        let mut col = 0;
                        if let Sink::U8 { buf, stride, inv } = emit {
                            while col + 8 <= 8 * c && cb * 8 + col + 8 <= l.d_out {
                                let j = cb * 8 + col;
                                let at = r * *stride + j;
                                requantize8(
                                    &sums[col..col + 8],
                                    l.multiplier,
                                    &l.bias[j..j + 8],
                                    *inv,
                                    &mut buf[at..at + 8],
                                );
                                col += 8;
                            }
                        }
                        for (col, &acc) in sums.iter().enumerate().take(8 * c).skip(col) {
                            let j = cb * 8 + col;
                            if j < l.d_out {
                                emit.put(r, j, acc as f32 * l.multiplier + l.bias[j]);
                            }
                        }
                    }
                    cb += c;
                }
                r0 += take;
            }
        }

        #[cfg(test)]
        mod tests {
            #[test]
            fn vector_requantization_equals_the_scalar_one() {
                if !super::super::Kernel::Avx2.supported() {
                    return;
                }
                let bias: [f32; 8] = core::array::from_fn(|j| j as f32 * 0.37 - 2.5);
                let specials = [i32::MIN, -1, 0, 1, 255, 256, 1 << 20, i32::MAX];
                for (m, inv) in [
                    (0.05f32, 1.0f32),
                    (0.5, 0.5),
                    (1.0 / 3.0, 3.0),
                    (f32::NAN, 1.0),
                ] {
                    for start in (-5000..5000).step_by(8) {
                        let acc: [i32; 8] = if start == -5000 {
                            specials
                        } else {
                            core::array::from_fn(|i| start + i as i32)
                        };
                        let mut got = [0u8; 8];
                        // SAFETY: the CPU supports the kernel (checked above).
                        unsafe { super::requantize8(&acc, m, &bias, inv, &mut got) };
                        for c in 0..8 {
                            let y = acc[c] as f32 * m + bias[c];
                            assert_eq!(
                                got[c],
                                super::super::quantize_u8(y, inv),
                                "acc {} m {m} inv {inv}",
                                acc[c]
                            );
                        }
                    }
                }
            }
        }
    }

    #[cfg(target_arch = "aarch64")]
    mod neon;

    /// The integer kernel: `Vnni` (AVX-512 VNNI), `Avx2`, `Dotprod` (aarch64 SDOT), `Neon`
    /// (aarch64 baseline), or the portable `Generic` one. All give the same sums (integer
    /// arithmetic is exact), so the same logits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Kernel {
        Generic,
        Avx2,
        Vnni,
        Neon,
        Dotprod,
    }

    /// Every kernel, whether or not this CPU runs it.
    pub(super) const ALL: [Kernel; 5] = [
        Kernel::Generic,
        Kernel::Avx2,
        Kernel::Vnni,
        Kernel::Neon,
        Kernel::Dotprod,
    ];

    impl Kernel {
        pub(super) fn name(self) -> &'static str {
            match self {
                Kernel::Generic => "generic",
                Kernel::Avx2 => "avx2",
                Kernel::Vnni => "vnni",
                Kernel::Neon => "neon",
                Kernel::Dotprod => "dotprod",
            }
        }

        pub(super) fn from_name(name: &str) -> Option<Self> {
            ALL.into_iter().find(|k| k.name() == name)
        }

        /// Whether this CPU can run the kernel.
        pub(super) fn supported(self) -> bool {
            match self {
                Kernel::Generic => true,
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx2 => std::is_x86_feature_detected!("avx2"),
                #[cfg(target_arch = "x86_64")]
                Kernel::Vnni => {
                    std::is_x86_feature_detected!("avx512vnni")
                        && std::is_x86_feature_detected!("avx512bw")
                }
                #[cfg(target_arch = "aarch64")]
                Kernel::Neon => std::arch::is_aarch64_feature_detected!("neon"),
                #[cfg(target_arch = "aarch64")]
                Kernel::Dotprod => {
                    std::arch::is_aarch64_feature_detected!("neon")
                        && std::arch::is_aarch64_feature_detected!("dotprod")
                }
                _ => false,
            }
        }

        /// The fastest kernel this CPU runs.
        pub(super) fn best() -> Self {
            [Kernel::Vnni, Kernel::Avx2, Kernel::Dotprod, Kernel::Neon]
                .into_iter()
                .find(|k| k.supported())
                .unwrap_or(Kernel::Generic)
        }
    }

    fn run_layer(kernel: Kernel, l: &Layer, a: &[u8], n: usize, emit: &mut Sink<'_>) {
        match kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an `Int8Mlp` only holds a kernel that `Kernel::supported` accepted.
            Kernel::Vnni => unsafe { vnni::layer(l, a, n, emit) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Kernel::Avx2 => unsafe { avx2::layer(l, a, n, emit) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            Kernel::Neon => unsafe { neon::layer_neon(l, a, n, emit) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            Kernel::Dotprod => unsafe { neon::layer_dotprod(l, a, n, emit) },
            _ => layer_generic(l, a, n, emit),
        }
    }
}
