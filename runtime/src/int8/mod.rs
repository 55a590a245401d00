//! The native int8 executor: pixels to codes without an OS. It reads the int8 ONNX file
//! `imsat train` exports (through the `no_std` reader in [`crate::format::onnx`], borrowing
//! nothing after load), runs the integer matrix products in plain Rust, and does the float
//! steps exactly as tract does them (`acc as f32 * multiplier + bias`, then
//! `round_ties_even(y * (1/scale))` clamped to u8), so its codes are tract's, bit for bit.
//!
//! With `std` the kernel is chosen at run time (AVX-512 VNNI or AVX2 on x86-64, NEON with or
//! without the dot products on aarch64); without `std`, from the build target's features,
//! else the portable kernel. The `std` encoder (the `encoder` module) uses this executor for
//! int8 models in the exported layout.
//!
//! ```
//! use imsat_runtime::int8::Int8Model;
//! # let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/hash32.int8.onnx"))?;
//! // `bytes`: the int8 ONNX file, e.g. `include_bytes!("hash32.int8.onnx")` on a board.
//! let model = Int8Model::from_onnx(&bytes)?;
//! let images = vec![0u8; 2 * model.input_dim()];
//! let codes = model.codes(&images)?; // 2 codes of 32 bits
//! assert_eq!((codes.len(), codes.bits()), (2, 32));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A photo model's [`View`](crate::view::View) turns decoded pixels into its input first:
//!
//! ```
//! use imsat_runtime::int8::Int8Model;
//! # let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/photo64.int8.onnx"))?;
//! // `bytes`: `include_bytes!("photo64.int8.onnx")` on a board.
//! let model = Int8Model::from_onnx(&bytes)?;
//! let view = model.info().view.expect("a photo model");
//! let (w, h) = (640, 480);
//! let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect(); // any decoder's RGB
//! let input = view.apply(&rgb, w, h, 3)?; // one model row per view (4 for photo64)
//! assert_eq!(input.len(), model.input_dim());
//! let code = model.codes(&input)?; // their logits averaged: one 64-bit code
//! assert_eq!((code.len(), code.bits()), (1, 64));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod graph;
pub mod kernels;
mod layer;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::code::Codes;
use crate::format::onnx::{Model, ParseError};
use crate::format::{ModelInfo, Task};
use crate::output::argmax_rows;

pub use graph::Mismatch;
pub use kernels::Kernel;
use kernels::{Sink, quantize_u8, run_layer};
use layer::Layer;

/// Rows run through the layers at once; larger batches are split (bounds memory).
pub const MAX_ROWS_PER_RUN: usize = 1024;

/// Rows per run for a model whose widest layer holds `widest` values a row:
/// [`MAX_ROWS_PER_RUN`], or fewer where that many rows of f32 values would pass a 32nd of
/// the address space (a very wide model on a 32-bit board: there `1024 * width` wrapped and
/// a batch came back with no codes), so that no buffer size of a run overflows; at least one.
pub fn rows_per_run(widest: usize) -> usize {
    let values = isize::MAX as usize / 32 / core::mem::size_of::<f32>();
    MAX_ROWS_PER_RUN.min(values / widest.max(1)).max(1)
}

/// Why an int8 model cannot be loaded or run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Int8Error {
    /// The bytes are not an ONNX file the `no_std` reader understands.
    #[error("not a valid ONNX model: {0}")]
    Parse(#[from] ParseError),
    /// The metadata is not an imsat model's: what is missing or wrong.
    #[error("not an imsat model: {0}")]
    Metadata(String),
    /// The graph is not the int8 layout `imsat train` exports (or the model is f32): why.
    #[error("not an int8 model in the layout `imsat train` exports: {0}")]
    Layout(Mismatch),
    /// No images were given.
    #[error("empty batch: no images to encode")]
    EmptyBatch,
    /// The batch is not a whole number of images.
    #[error("batch of {len} values is not a whole number of {width}-value images")]
    BatchWidth {
        /// Values given.
        len: usize,
        /// Values per image ([`Int8Model::input_dim`]).
        width: usize,
    },
    /// Codes were asked of a cluster model, or cluster ids of a hash model.
    #[error("this is a {actual} model, but {expected} output was asked for")]
    WrongTask {
        /// The task the call serves.
        expected: Task,
        /// The model's task.
        actual: Task,
    },
    /// The logits gave no codes or cluster ids (a NaN logit).
    #[error("the model's logits make no codes or cluster ids: {0}")]
    Codes(#[from] crate::error::Error),
}

/// The layers of an exported int8 graph and the kernel that runs them.
#[derive(Debug, Clone)]
pub struct Int8Mlp {
    kernel: Kernel,
    input_inv_scale: f32,
    layers: Vec<Layer>,
}

impl Int8Mlp {
    /// The executor for `model`'s graph, which must be exactly the exported int8 layout
    /// reading the graph's only input and writing its only output.
    pub fn from_model(model: &Model<'_>) -> Result<Self, Mismatch> {
        let g = &model.graph;
        let (&[input], &[output]) = (&g.inputs[..], &g.outputs[..]) else {
            return Err("the graph does not have one input and one output");
        };
        let kernel = Kernel::best();
        let (input_inv_scale, layers) = graph::layers(g, input, output, kernel)?;
        Ok(Int8Mlp {
            kernel,
            input_inv_scale,
            layers,
        })
    }

    /// Values per input row.
    pub fn input_dim(&self) -> usize {
        self.layers[0].d_in
    }

    /// Width of the logits.
    pub fn outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].d_out
    }

    /// The most values a row holds anywhere in a run (padded inputs, outputs).
    pub fn widest(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.stride.max(l.d_out))
            .max()
            .unwrap_or(0)
    }

    /// The kernel that runs the products.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// The same executor on `kernel`, if it is [supported](Kernel::supported) (with `std` by
    /// this CPU, without by the build target's features). The weights are laid out again, one
    /// layer at a time, where `kernel` reads another layout than the current one.
    pub fn with_kernel(mut self, kernel: Kernel) -> Option<Self> {
        kernel.supported().then(|| {
            for layer in &mut self.layers {
                layer.lay_out_for(kernel);
            }
            self.kernel = kernel;
            self
        })
    }

    /// Bytes of RAM the weights take, in the layout of [`Self::kernel`] (see
    /// [`Int8Model::weight_bytes`]).
    pub fn weight_bytes(&self) -> usize {
        self.layers.iter().map(|l| l.weights.bytes()).sum()
    }

    /// Logits of `n` rows of pixels (f32 or u8; both quantized as f32 values), row-major;
    /// `pixels` holds `n * input_dim` values, `n` at most [`rows_per_run`] of [`Self::widest`]
    /// (the callers split batches so).
    pub(crate) fn logits<P: Copy + Into<f32>>(&self, pixels: &[P], n: usize) -> Vec<f32> {
        let first = &self.layers[0];
        let mut a = vec![0u8; n * first.stride];
        for (row, px) in a
            .chunks_exact_mut(first.stride)
            .zip(pixels.chunks_exact(first.d_in))
        {
            for (q, &p) in row.iter_mut().zip(px) {
                *q = quantize_u8(p.into(), self.input_inv_scale);
            }
        }
        self.run(a, n)
    }

    /// [`Int8Mlp::logits`] of u8 pixels. The exported models quantize pixels at scale 1,
    /// where quantizing a u8 is the identity: the rows are copied (a quarter of the time
    /// of a hash16 batch went to the per-pixel float round trip).
    pub(crate) fn logits_u8(&self, pixels: &[u8], n: usize) -> Vec<f32> {
        if self.input_inv_scale != 1.0 {
            return self.logits(pixels, n);
        }
        let first = &self.layers[0];
        let mut a = vec![0u8; n * first.stride];
        for (row, px) in a
            .chunks_exact_mut(first.stride)
            .zip(pixels.chunks_exact(first.d_in))
        {
            row[..first.d_in].copy_from_slice(px);
        }
        self.run(a, n)
    }

    /// The layers on `n` rows of quantized input `a` (`stride` bytes each).
    fn run(&self, mut a: Vec<u8>, n: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            match l.next_inv_scale {
                Some(inv) => {
                    let stride = self.layers[i + 1].stride;
                    let mut next = vec![0u8; n * stride];
                    let mut sink = Sink::U8 {
                        buf: &mut next,
                        stride,
                        inv,
                    };
                    run_layer(self.kernel, l, &a, n, &mut sink);
                    a = next;
                }
                None => {
                    out = vec![0f32; n * l.d_out];
                    let width = l.d_out;
                    let mut sink = Sink::F32 {
                        buf: &mut out,
                        width,
                    };
                    run_layer(self.kernel, l, &a, n, &mut sink);
                }
            }
        }
        out
    }
}

/// An int8 model ready to encode: its metadata and its executor. Everything a board needs
/// to turn pixels (or a photo, through [`ModelInfo::view`]) into codes.
#[derive(Debug, Clone)]
pub struct Int8Model {
    info: ModelInfo,
    mlp: Int8Mlp,
}

impl Int8Model {
    /// Load the bytes of an int8 ONNX file exported by `imsat train`: metadata checked,
    /// weights copied into the layout of the [best](Kernel::best) kernel (the bytes can be
    /// dropped afterwards).
    ///
    /// The copy is on the heap, so a model read from flash still takes RAM:
    /// [`Self::weight_bytes`] says how much. A layer of `d_in x d_out` weights, with `s` =
    /// `d_in` rounded up to a multiple of 64, holds `d_out * s` bytes for the portable kernel
    /// (32-bit ARM and every target without a SIMD kernel), `ceil(d_out / 16) * 16 * s` for
    /// NEON, SDOT and VNNI, or `ceil(d_out / 8) * 8 * s` i16 values (twice that in bytes) for
    /// AVX2; and 8 bytes per output (12 on aarch64) for its multipliers and biases. For
    /// hash32 (784-400-400-32, 486,400 weight bytes in the file) that is 526,336 bytes of
    /// weights on ARM, 32-bit or 64-bit. The metadata is copied too (the training report: a
    /// few KB), and running a batch allocates its activations.
    pub fn from_onnx(bytes: &[u8]) -> Result<Self, Int8Error> {
        let model = Model::parse(bytes)?;
        let info = ModelInfo::from_metadata(|k| model.metadata(k)).map_err(Int8Error::Metadata)?;
        if !info.int8 {
            return Err(Int8Error::Layout(
                "the metadata says f32 (`imsat.int8` is not true); use the .int8.onnx file",
            ));
        }
        let mlp = Int8Mlp::from_model(&model).map_err(Int8Error::Layout)?;
        if mlp.input_dim() != info.input_dim() || mlp.outputs() != info.outputs {
            return Err(Int8Error::Layout(
                "the graph's widths differ from the metadata",
            ));
        }
        Ok(Int8Model { info, mlp })
    }

    /// What the metadata says (task, widths, view).
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Values per image: for a photo model, what its view makes of a photo (one model row
    /// per view, whose logits are averaged: four for photo64).
    pub fn input_dim(&self) -> usize {
        self.info.rows_per_image() * self.info.input_dim()
    }

    /// The kernel that runs the products.
    pub fn kernel(&self) -> Kernel {
        self.mlp.kernel
    }

    /// The same model on `kernel`, if it is [supported](Kernel::supported) (with `std` by this
    /// CPU, without by the build target's features); all kernels give the same logits. The
    /// weights are laid out again where `kernel` reads another layout.
    pub fn with_kernel(mut self, kernel: Kernel) -> Option<Self> {
        self.mlp = self.mlp.with_kernel(kernel)?;
        Some(self)
    }

    /// Bytes of RAM the weights take: one copy, in the layout of [`Self::kernel`] (the
    /// multipliers, biases, metadata and a batch's activations come on top).
    pub fn weight_bytes(&self) -> usize {
        self.mlp.weight_bytes()
    }

    /// Logits (row-major, `outputs` per image) of u8 images (`input_dim` bytes each).
    pub fn logits(&self, images: &[u8]) -> Result<Vec<f32>, Int8Error> {
        let width = self.input_dim();
        if images.is_empty() {
            return Err(Int8Error::EmptyBatch);
        }
        if !images.len().is_multiple_of(width) {
            return Err(Int8Error::BatchWidth {
                len: images.len(),
                width,
            });
        }
        let row = self.info.input_dim();
        let mut out = Vec::with_capacity(images.len() / row * self.info.outputs);
        for chunk in images.chunks(rows_per_run(self.mlp.widest()) * row) {
            out.extend(self.mlp.logits_u8(chunk, chunk.len() / row));
        }
        Ok(crate::view::mean_over_views(
            &out,
            self.info.rows_per_image(),
            self.info.outputs,
        ))
    }

    fn expect(&self, expected: Task) -> Result<(), Int8Error> {
        match self.info.task {
            actual if actual != expected => Err(Int8Error::WrongTask { expected, actual }),
            _ => Ok(()),
        }
    }

    /// Packed codes (bit p = logit p > 0) of u8 images; a hash model only.
    pub fn codes(&self, images: &[u8]) -> Result<Codes, Int8Error> {
        self.expect(Task::Hash)?;
        Ok(Codes::from_logits(
            self.info.outputs,
            &self.logits(images)?,
        )?)
    }

    /// Cluster ids (argmax, lowest id on ties) of u8 images; a cluster model only.
    pub fn clusters(&self, images: &[u8]) -> Result<Vec<u32>, Int8Error> {
        self.expect(Task::Cluster)?;
        Ok(argmax_rows(&self.logits(images)?, self.info.outputs)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::onnx::Graph;

    /// The fuzz targets' seed: an exported 8-bit hash model, 784 -> 4 -> 8.
    const TINY: &[u8] = include_bytes!("../../../fuzz/models/tiny_hash8.int8.onnx");

    /// The tiny model's graph by the textbook, one image at a time: each QuantizeLinear as
    /// `round_ties_even(y * (1 / scale))` clamped to 0..=255, each MatMulInteger as a plain
    /// i32 sum of `a * (w - 128)` (u8 weights, zero point 128), then
    /// `acc as f32 * multiplier + bias`.
    fn reference(g: &Graph<'_>, images: &[u8]) -> Vec<f32> {
        let f = |name: &str, len: usize| g.initializer(name).unwrap().f32s(len).unwrap();
        let q = |y: f32, scale: f32| (y * scale.recip()).round_ties_even().clamp(0.0, 255.0);
        let dense = |a: &[f32], w: &str, m: &str, b: &str, d_out: usize| -> Vec<f32> {
            let w = g.initializer(w).unwrap().raw_data;
            let (m, b) = (f(m, 1)[0], f(b, d_out));
            (0..d_out)
                .map(|j| {
                    let acc: i32 = a
                        .iter()
                        .enumerate()
                        .map(|(k, &x)| x as i32 * (i32::from(w[k * d_out + j]) - 128))
                        .sum();
                    acc as f32 * m + b[j]
                })
                .collect()
        };
        let (s0, s1) = (f("one", 1)[0], f("s1", 1)[0]);
        images
            .chunks_exact(784)
            .flat_map(|px| {
                let a: Vec<f32> = px.iter().map(|&p| q(f32::from(p), s0)).collect();
                let h: Vec<f32> = dense(&a, "wq0", "m0", "b0", 4)
                    .into_iter()
                    .map(|y| q(y, s1))
                    .collect();
                dense(&h, "wq1", "m1", "b1", 8)
            })
            .collect()
    }

    /// Every kernel this CPU runs gives the textbook logits of the tiny model, exactly, at
    /// the exported input scale (1, where pixels are copied) and at others (where they are
    /// quantized, ties to even), for batches that fill and split the kernels' row tiles.
    #[test]
    fn every_kernel_gives_the_textbook_logits_at_any_input_scale() {
        let images: Vec<u8> = (0..9 * 784).map(|i| (i * 7919 % 256) as u8).collect();
        // Under Miri (thousands of times slower) a copied and a quantized input, and a batch
        // that fills a row tile and one that splits it.
        let (scales, rows): (&[f32], &[usize]) = if cfg!(miri) {
            (&[1.0, 0.5], &[1, 5])
        } else {
            (&[1.0, 2.0, 0.5, 3.0], &[1, 2, 3, 4, 5, 9])
        };
        for &scale in scales {
            let bytes = scale.to_le_bytes();
            let mut model = Model::parse(TINY).unwrap();
            let one = model
                .graph
                .initializers
                .iter_mut()
                .find(|t| t.name == "one")
                .unwrap();
            one.raw_data = &bytes[..];
            let info = ModelInfo::from_metadata(|k| model.metadata(k)).unwrap();
            let mlp = Int8Mlp::from_model(&model).unwrap();
            for kernel in kernels::ALL {
                let Some(mlp) = mlp.clone().with_kernel(kernel) else {
                    continue;
                };
                let int8 = Int8Model {
                    info: info.clone(),
                    mlp,
                };
                for &n in rows {
                    let images = &images[..n * 784];
                    let want = reference(&model.graph, images);
                    let got = int8.logits(images).unwrap();
                    assert_eq!(got, want, "scale {scale} {} {n} rows", kernel.name());
                }
            }
        }
    }

    /// `bytes` with the one occurrence of `from` replaced by `to` (of the same length).
    fn edited(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let at: Vec<usize> = (0..=bytes.len() - from.len())
            .filter(|&i| &bytes[i..i + from.len()] == from)
            .collect();
        assert_eq!(at.len(), 1, "{:?}", core::str::from_utf8(from));
        let mut out = bytes.to_vec();
        out[at[0]..at[0] + to.len()].copy_from_slice(to);
        out
    }

    /// Metadata whose widths are not the graph's is refused (a model would read past its
    /// rows, or give codes of the wrong width); the same file with its own widths loads.
    #[test]
    fn metadata_widths_other_than_the_graphs_are_refused() {
        let model = Int8Model::from_onnx(TINY).unwrap();
        assert_eq!((model.input_dim(), model.info().outputs), (784, 8));
        for (from, to) in [
            (
                &b"imsat.outputs\x12\x018"[..],
                &b"imsat.outputs\x12\x019"[..],
            ),
            (b"imsat.outputs\x12\x018", b"imsat.outputs\x12\x014"),
            (b"\x12\x0528x28", b"\x12\x0528x27"),
            (b"\x12\x0528x28", b"\x12\x0514x56"),
        ] {
            let bytes = edited(TINY, from, to);
            let width = Int8Model::from_onnx(&bytes).map(|_| ());
            let same = to.ends_with(b"14x56");
            assert_eq!(
                width.is_ok(),
                same,
                "{:?}: {width:?}",
                core::str::from_utf8(to)
            );
            if !same {
                assert!(matches!(width, Err(Int8Error::Layout(_))), "{width:?}");
            }
        }
    }

    /// Runs keep 1,024 rows for any model a 64-bit machine holds, and take fewer only where
    /// that many rows of f32 values would not fit in a 32nd of the address space (the case of
    /// a very wide model on a 32-bit board, reproduced here at 64-bit sizes).
    #[test]
    fn a_run_takes_fewer_rows_only_where_they_would_not_fit() {
        let values = isize::MAX as usize / 32 / 4;
        assert_eq!(rows_per_run(784), MAX_ROWS_PER_RUN);
        assert_eq!(rows_per_run(0), MAX_ROWS_PER_RUN);
        assert_eq!(rows_per_run(values / 10), 10);
        assert_eq!(rows_per_run(usize::MAX), 1);
        for widest in [1, 1 << 28, values / 3, values, values + 1, usize::MAX / 2] {
            let rows = rows_per_run(widest);
            assert!((1..=MAX_ROWS_PER_RUN).contains(&rows));
            assert!(
                rows == 1 || rows * widest <= values,
                "{widest}: {rows} rows"
            );
        }
    }
}
