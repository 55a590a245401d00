//! The ONNX encoder: runs a model exported by `imsat train` (f32 or int8; on the native
//! executors below where its layout allows, otherwise through tract) and turns images into
//! packed codes (hash models) or cluster ids (cluster models).
//!
//! An exported model takes raw pixels, f32 `[N, d]` in 0..255, and returns logits
//! `[N, K or M]`; its `metadata_props` say what it is (`imsat.task`, `imsat.outputs`,
//! `imsat.input_shape`, `imsat.format_version`, `imsat.int8`, `imsat.report`).
//! [`Encoder::open`] loads and optimizes the model once; the `encode` family then runs it on
//! batches of u8 images (row-major, `input_dim` bytes per image).
//!
//! A model from elsewhere (an encoder exported from PyTorch, these keys added) runs through
//! tract if its graph takes those `[N, d]` rows (a network that needs `[N, 1, 28, 28]`
//! starts with a Reshape) and a hash model's output is its logits: one ending in a Sigmoid
//! or Softmax is refused, as every bit would be set. A file with a metadata key or an
//! initializer name given twice is refused (runtimes differ on which one wins).
//!
//! f32 models in the exported layout run on a native f32 executor
//! ([`crate::float_mlp`], the `gemm` crate's matrix products; logits equal tract's to float
//! rounding). int8 models in the exported layout (`MatMulInteger` layers)
//! run on a native executor with integer kernels chosen at run time (AVX-512 VNNI or AVX2 on
//! x86-64, NEON with or without the dot-product instructions on aarch64), whose logits are
//! tract's bit for bit (`tests/onnx_export.rs` checks every kernel against tract,
//! `runtime/tests/int8_kernels.rs` against the generic kernel, on ARM too); other int8
//! graphs, and CPUs without those kernels, use tract; [`Encoder::tract_only`] runs
//! everything on tract.
//!
//! Needs the `encoder` feature (a default one); without an OS, [`crate::int8::Int8Model`]
//! runs int8 models.
//!
//! ```
//! use imsat_runtime::encoder::Encoder;
//! # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/hash32.onnx");
//! let enc = Encoder::open(path)?; // path: "models/hash32.onnx"
//! let images = vec![0u8; 3 * enc.input_dim()];
//! let codes = enc.codes(&images)?; // 3 codes of 32 bits
//! assert_eq!((codes.len(), codes.bits()), (3, 32));
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
use crate::float_mlp::F32Mlp;
use crate::format::onnx::Model;
pub use crate::format::{FORMAT_VERSION, ModelInfo, Task};
use crate::int8::{Int8Mlp, Kernel, rows_per_run};
pub use crate::output::argmax_rows;

/// Rows run through the model at once; larger batches are split (bounds memory).
pub use crate::int8::MAX_ROWS_PER_RUN;

/// Everything that can go wrong while opening or running an encoder. Errors about a file
/// name the file.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// The model file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The model file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The bytes are not an ONNX model (empty, or refused by tract or the runtime's reader).
    #[error("{path}: not a valid ONNX model: {reason}")]
    NotOnnx {
        /// The model file.
        path: PathBuf,
        /// What the reader said.
        reason: String,
    },
    /// The metadata is not an imsat model's.
    #[error("{path}: not an imsat model: {what}")]
    Metadata {
        /// The model file.
        path: PathBuf,
        /// What is missing or wrong.
        what: String,
    },
    /// tract cannot optimize the graph, or its inputs and outputs are not what the metadata
    /// promises.
    #[error("{path}: the model cannot be prepared: {reason}")]
    Prepare {
        /// The model file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// No images were given.
    #[error("empty batch: no images to encode")]
    EmptyBatch,
    /// The batch is not a whole number of images.
    #[error("batch of {len} values is not a whole number of {width}-value images")]
    BatchWidth {
        /// Values given.
        len: usize,
        /// Values per image ([`Encoder::input_dim`]).
        width: usize,
    },
    /// Codes were asked of a cluster model, or cluster ids of a hash model.
    #[error("{path} is a {actual} model, but {expected} output was asked for")]
    WrongTask {
        /// The model file.
        path: PathBuf,
        /// The task the call serves.
        expected: Task,
        /// The model's task.
        actual: Task,
    },
    /// An f32 input value is NaN or infinite ([`Encoder::logits_f32`]).
    #[error("input value {position} is {value}, not a finite number")]
    NotFinite {
        /// Index of the value in the input.
        position: usize,
        /// The value.
        value: f32,
    },
    /// tract failed while running the model, or returned the wrong number of values.
    #[error("running the model failed: {0}")]
    Run(String),
    /// The logits gave no codes or cluster ids (a NaN logit).
    #[error("the model's logits make no codes or cluster ids: {0}")]
    Codes(#[from] crate::error::Error),
}

/// What [`Encoder::encode`] returns: codes for a hash model, cluster ids for a cluster model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoded {
    /// One code per image (a hash model).
    Codes(Codes),
    /// One cluster id per image (a cluster model).
    Clusters(Vec<u32>),
}

/// A loaded, optimized model.
#[derive(Debug, Clone)]
pub struct Encoder {
    path: PathBuf,
    info: ModelInfo,
    plan: Arc<TypedRunnableModel>,
    /// The native int8 executor, for int8 models with the exported layout.
    native: Option<Arc<Int8Mlp>>,
    /// Whether `native` runs (by default when this CPU has one of its SIMD kernels; on other
    /// CPUs tract's own int8 kernels are faster than the portable one).
    use_native: bool,
    /// The native f32 executor, for f32 models with the exported layout (`None` after
    /// [`Encoder::tract_only`]).
    float: Option<Arc<F32Mlp>>,
}

/// The operator whose output is the graph's output when it squashes logits into (0, 1) or
/// below 0 (Sigmoid, Softmax, ...): every hash bit is then set (or clear) whatever the input.
fn squashing_output(model: &Model<'_>) -> Option<&'static str> {
    let output = model.graph.outputs.first()?;
    let node = model
        .graph
        .nodes
        .iter()
        .find(|n| n.outputs.contains(output))?;
    ["Sigmoid", "HardSigmoid", "Softmax", "LogSoftmax"]
        .into_iter()
        .find(|op| node.op_type == *op && node.domain.is_empty())
}

/// The number of dimensions the graph declares for its input (the first input that is not
/// an initializer, as IR 3 files list those too), where it says.
fn declared_input_rank(proto: &tract_onnx::pb::ModelProto) -> Option<usize> {
    let graph = proto.graph.as_ref()?;
    let input = graph
        .input
        .iter()
        .find(|i| !graph.initializer.iter().any(|t| t.name == i.name))?;
    let tract_onnx::pb::type_proto::Value::TensorType(t) = input.r#type.as_ref()?.value.as_ref()?;
    Some(t.shape.as_ref()?.dim.len())
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
        let not_onnx = |reason: String| EncoderError::NotOnnx {
            path: path.clone(),
            reason,
        };
        let proto = onnx
            .proto_model_for_read(&mut &bytes[..])
            .map_err(|e| not_onnx(format!("{e:#}")))?;
        let model = onnx
            .model_for_proto_model(&proto)
            .map_err(|e| not_onnx(format!("{e:#}")))?;
        // The metadata and the int8 layers through the runtime's own reader, the one a
        // board without an OS uses.
        let parsed = Model::parse(bytes).map_err(|e| not_onnx(format!("{e}")))?;
        let info = ModelInfo::from_metadata(|k| parsed.metadata(k)).map_err(|what| {
            EncoderError::Metadata {
                path: path.clone(),
                what,
            }
        })?;
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
        if let Some(op) = squashing_output(&parsed)
            && info.task == Task::Hash
        {
            return Err(prepare(format!(
                "its output comes from {op}: a hash model's output is its logits, a bit set \
                 where one is above 0 (where a sigmoid is above 0.5); export the layer before \
                 the {op}"
            )));
        }
        let d = info.input_dim();
        let n = model.sym("N");
        let typed = model
            .with_input_fact(0, f32::fact(dims!(n, d)).into())
            .and_then(|m| m.into_optimized())
            .map_err(|e| match declared_input_rank(&proto) {
                // The rows are fed as [N, d]: a network that needs [N, 1, 28, 28] fails
                // deep inside the graph, so the reason is said first.
                Some(rank) if rank != 2 => prepare(format!(
                    "its input is declared with {rank} dimensions, and imsat feeds rows of f32 \
                     [N, {d}] (d: the product of imsat.input_shape); put a Reshape to the shape \
                     the network needs at the start of the graph ({e:#})"
                )),
                _ => prepare(format!("{e:#}")),
            })?;
        let out = typed
            .output_fact(0)
            .map_err(|e| prepare(format!("{e:#}")))?;
        let width_ok = out.datum_type == f32::datum_type()
            && out.rank() == 2
            && out.shape[1].to_usize().ok() == Some(info.outputs);
        if !width_ok {
            return Err(prepare(format!(
                "the output is {:?} [{:?}], the metadata promises f32 [N, {}]",
                out.datum_type, out.shape, info.outputs
            )));
        }
        let plan = typed
            .into_runnable()
            .map_err(|e| prepare(format!("{e:#}")))?;
        let native = info
            .int8
            .then(|| Int8Mlp::from_model(&parsed).ok())
            .flatten()
            .filter(|m| m.input_dim() == d && m.outputs() == info.outputs)
            .map(Arc::new);
        let float = (!info.int8)
            .then(|| F32Mlp::from_model(&parsed).ok())
            .flatten()
            .filter(|m| m.input_dim() == d && m.outputs() == info.outputs)
            .map(Arc::new);
        Ok(Encoder {
            path,
            info,
            plan,
            use_native: native.is_some() && Kernel::best() != Kernel::Generic,
            native,
            float,
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
            .map(|n| n.kernel().name())
    }

    /// Whether f32 inference runs on the native f32 executor (an f32 model with the exported
    /// layout) rather than on tract.
    pub fn uses_native_f32(&self) -> bool {
        self.float.is_some()
    }

    /// The same encoder running the native int8 executor with the given kernel (`vnni`,
    /// `avx2`, `dotprod`, `neon` or `generic`); `None` when the name is unknown, this CPU cannot run it, or the
    /// model has no native executor (an f32 model, or an int8 graph of another layout).
    /// All kernels give the same results; this is for tests and benchmarks. The kernel is the
    /// native executor's, so an encoder made [`Encoder::tract_only`] runs natively again.
    pub fn with_int8_kernel(mut self, name: &str) -> Option<Self> {
        let kernel = Kernel::from_name(name)?;
        let mlp = (**self.native.as_ref()?).clone().with_kernel(kernel)?;
        self.native = Some(Arc::new(mlp));
        self.use_native = true;
        Some(self)
    }

    /// The same encoder, running everything on tract (for checks and comparisons).
    pub fn tract_only(mut self) -> Self {
        self.use_native = false;
        self.float = None;
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

    /// Values per image (e.g. 784): for a photo model, what its view makes of a photo, one
    /// model row per view ([`crate::view::View::views`]: four for photo64).
    pub fn input_dim(&self) -> usize {
        self.info.rows_per_image() * self.info.input_dim()
    }

    /// The logits of images from those of their model rows (the mean over a photo's views).
    fn per_image(&self, rows: Vec<f32>) -> Vec<f32> {
        crate::view::mean_over_views(&rows, self.info.rows_per_image(), self.outputs())
    }

    /// Model rows in `len` values, which must be whole images (a photo's views together).
    fn rows(&self, len: usize) -> Result<usize, EncoderError> {
        let width = self.input_dim();
        if len == 0 {
            return Err(EncoderError::EmptyBatch);
        }
        if !len.is_multiple_of(width) {
            return Err(EncoderError::BatchWidth { len, width });
        }
        Ok(len / self.info.input_dim())
    }

    /// Logits (row-major, `outputs` per image) of u8 images (`input_dim` bytes each).
    pub fn logits(&self, images: &[u8]) -> Result<Vec<f32>, EncoderError> {
        let rows = if let Some(native) = self.native.as_ref().filter(|_| self.use_native) {
            self.in_runs(images, |x, n| native.logits_u8(x, n))?
        } else if let Some(float) = &self.float {
            self.in_runs(images, |x, n| float.logits_u8(x, n))?
        } else {
            let pixels: Vec<f32> = images.iter().map(|&p| p as f32).collect();
            self.tract_rows(&pixels)?
        };
        Ok(self.per_image(rows))
    }

    /// Rows a run takes: [`MAX_ROWS_PER_RUN`], fewer for a model too wide for that many
    /// rows in this target's address space ([`rows_per_run`]).
    fn run_rows(&self) -> usize {
        let executors = [
            self.native.as_ref().map_or(0, |m| m.widest()),
            self.float.as_ref().map_or(0, |m| m.widest()),
        ];
        let model = self.info.input_dim().max(self.outputs());
        rows_per_run(executors.into_iter().fold(model, usize::max))
    }

    /// `run` on `pixels` in runs of [`Self::run_rows`] rows (the last may be shorter).
    fn in_runs<P>(
        &self,
        pixels: &[P],
        run: impl Fn(&[P], usize) -> Vec<f32>,
    ) -> Result<Vec<f32>, EncoderError> {
        let (n, d) = (self.rows(pixels.len())?, self.info.input_dim());
        let mut out = Vec::with_capacity(n * self.outputs());
        for chunk in pixels.chunks(self.run_rows() * d) {
            out.extend(run(chunk, chunk.len() / d));
        }
        Ok(out)
    }

    /// Logits of images given as f32 pixels in 0..255.
    /// A value that is not a finite number is refused on every path (the native int8 one
    /// would quantize NaN to 0 and return a code).
    pub fn logits_f32(&self, pixels: &[f32]) -> Result<Vec<f32>, EncoderError> {
        if let Some(position) = pixels.iter().position(|p| !p.is_finite()) {
            return Err(EncoderError::NotFinite {
                position,
                value: pixels[position],
            });
        }
        let rows = if let Some(native) = self.native.as_ref().filter(|_| self.use_native) {
            self.in_runs(pixels, |x, n| native.logits(x, n))?
        } else if let Some(float) = &self.float {
            self.in_runs(pixels, |x, n| float.logits(x, n))?
        } else {
            self.tract_rows(pixels)?
        };
        Ok(self.per_image(rows))
    }

    /// Logits of model rows through tract.
    fn tract_rows(&self, pixels: &[f32]) -> Result<Vec<f32>, EncoderError> {
        let n = self.rows(pixels.len())?;
        let d = self.info.input_dim();
        let mut out = Vec::with_capacity(n * self.outputs());
        for chunk in pixels.chunks(self.run_rows() * d) {
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
        Ok(argmax_rows(&logits, self.outputs())?)
    }

    /// Codes or cluster ids, whichever the model makes.
    pub fn encode(&self, images: &[u8]) -> Result<Encoded, EncoderError> {
        match self.task() {
            Task::Hash => self.codes(images).map(Encoded::Codes),
            Task::Cluster => self.clusters(images).map(Encoded::Clusters),
        }
    }
}
