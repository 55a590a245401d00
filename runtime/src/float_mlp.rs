//! The native f32 executor: the f32 ONNX file `imsat train` exports, run as a chain of
//! matrix products by the `gemm` crate (packed, cache-blocked, SIMD kernels chosen at run
//! time), one thread; a single row goes through `row_times` instead. tract's own f32
//! products ran the shipped hash16 at about half of onnxruntime's speed at batch 1024 on one
//! core; these run at its speed. The exported layout is
//!
//! ```text
//! Mul(input, s) -> Add(t) -> { MatMul(W) -> Add(b) [-> Relu] }+
//! ```
//!
//! (`s` and `t` scalars: pixels in 0..255 to the network's range). The input scaling is
//! folded into the first layer at load (`W' = s W`, `b' = b + t colsum(W)`), so the pixels go
//! into the first product as they are. Any other graph is refused with the reason and runs on
//! tract. Results equal tract's to float rounding (the order of the sums differs), not bit
//! for bit: `runtime/tests/float_executor.rs` holds the two within 1e-5 of the largest logit.
//!
//! Needs the `encoder` feature, which brings the `gemm` crate.

use alloc::vec::Vec;

use gemm::{Parallelism, gemm};

use crate::format::onnx::{Graph, Model, Tensor, next_node};

/// Why a graph is not the exported f32 layout.
pub type Mismatch = &'static str;

/// One layer: `y = x W + b`, then ReLU if `relu`.
#[derive(Debug, Clone)]
struct Dense {
    d_in: usize,
    d_out: usize,
    /// Row-major `[d_in, d_out]`.
    weight: Vec<f32>,
    bias: Vec<f32>,
    relu: bool,
}

impl Dense {
    /// The layer on `n` rows of `x` (`d_in` values each).
    fn run(&self, x: &[f32], n: usize) -> Vec<f32> {
        assert_eq!(x.len(), n * self.d_in, "rows of the layer's input width");
        let mut out = alloc::vec![0f32; n * self.d_out];
        if n == 1 {
            row_times(x, &self.weight, &mut out);
        } else {
            self.gemm_rows(x, n, &mut out);
        }
        // Bias and ReLU in one pass over the product. ReLU keeps a NaN, as ONNX's Relu does
        // (`f32::max` would make it 0): inputs so large that the sums overflow then give NaN
        // logits, which are refused, not an arbitrary code.
        for row in out.chunks_exact_mut(self.d_out) {
            for (v, b) in row.iter_mut().zip(&self.bias) {
                let y = *v + b;
                *v = if self.relu && y <= 0.0 { 0.0 } else { y };
            }
        }
        out
    }

    /// `out = x W` for `n` rows through `gemm`.
    fn gemm_rows(&self, x: &[f32], n: usize, out: &mut [f32]) {
        // SAFETY: `out` is `n x d_out`, `x` is `n x d_in` and `weight` is `d_in x d_out`, all
        // row-major and contiguous, as the strides below say; the lengths are checked above
        // and by construction in `layers`.
        unsafe {
            gemm(
                n,
                self.d_out,
                self.d_in,
                out.as_mut_ptr(),
                1,
                self.d_out as isize,
                false,
                x.as_ptr(),
                1,
                self.d_in as isize,
                self.weight.as_ptr(),
                1,
                self.d_out as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                Parallelism::None,
            );
        }
    }
}

/// `out = x W` for one row `x` and a row-major `W` (`x.len()` rows of `out.len()`): the sum of
/// W's rows scaled by x, each a contiguous multiply-add that vectorizes, and the rows of zero
/// inputs (a ReLU's) skipped. `gemm`'s one-row product is slower: with its AVX-512 kernels
/// (turned on when the runtime is built beside the trainer) photo64 ran 77,000 photos/s at
/// batch 1 against 105,000-112,000 with its AVX2 ones.
fn row_times(x: &[f32], w: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has(crate::cpu::Feature::Avx2) {
        // SAFETY: the CPU has AVX2, checked above.
        return unsafe { row_times_avx2(x, w, out) };
    }
    row_times_plain(x, w, out)
}

/// [`row_times_plain`] compiled with AVX2 (8 lanes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn row_times_avx2(x: &[f32], w: &[f32], out: &mut [f32]) {
    row_times_plain(x, w, out)
}

#[inline(always)]
fn row_times_plain(x: &[f32], w: &[f32], out: &mut [f32]) {
    for (&xi, row) in x.iter().zip(w.chunks_exact(out.len())) {
        if xi == 0.0 {
            continue;
        }
        for (o, &wv) in out.iter_mut().zip(row) {
            *o += xi * wv;
        }
    }
}

/// The layers of an exported f32 graph.
#[derive(Debug, Clone)]
pub struct F32Mlp {
    layers: Vec<Dense>,
}

impl F32Mlp {
    /// The executor for `model`'s graph, which must be exactly the exported f32 layout
    /// reading the graph's only input and writing its only output.
    pub fn from_model(model: &Model<'_>) -> Result<Self, Mismatch> {
        let g = &model.graph;
        let (&[input], &[output]) = (&g.inputs[..], &g.outputs[..]) else {
            return Err("the graph does not have one input and one output");
        };
        Ok(F32Mlp {
            layers: layers(g, input, output)?,
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

    /// The most values a row holds anywhere in a run.
    pub fn widest(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.d_in.max(l.d_out))
            .max()
            .unwrap_or(0)
    }

    /// Logits of `n` rows of pixels in 0..255, row-major; `pixels` holds `n * input_dim`
    /// values, `n` at most [`crate::int8::rows_per_run`] of [`Self::widest`] (the encoder
    /// splits batches so).
    pub(crate) fn logits(&self, pixels: &[f32], n: usize) -> Vec<f32> {
        let mut layers = self.layers.iter();
        let first = layers.next().expect("at least one layer");
        let mut x = first.run(pixels, n);
        for l in layers {
            x = l.run(&x, n);
        }
        x
    }

    /// [`F32Mlp::logits`] of u8 pixels.
    pub(crate) fn logits_u8(&self, pixels: &[u8], n: usize) -> Vec<f32> {
        let x: Vec<f32> = pixels.iter().map(|&p| f32::from(p)).collect();
        self.logits(&x, n)
    }
}

fn scalar(t: &Tensor<'_>) -> Option<f32> {
    let v = *t.f32s(1)?.first()?;
    (v.is_finite() && t.dims.is_empty()).then_some(v)
}

/// The layers of `graph`, which must read `input` and write `output`, with the input
/// scaling folded into the first.
fn layers(graph: &Graph<'_>, input: &str, output: &str) -> Result<Vec<Dense>, Mismatch> {
    let get = |name: &str| {
        graph
            .initializer(name)
            .ok_or("an operand is not a constant")
    };
    let mut nodes = graph.nodes.iter().peekable();
    let mul = next_node(&mut nodes, "Mul", &[2])?;
    let scale = scalar(get(mul.inputs[1])?).ok_or("the input scale is not a scalar")?;
    let add = next_node(&mut nodes, "Add", &[2])?;
    let shift = scalar(get(add.inputs[1])?).ok_or("the input shift is not a scalar")?;
    if mul.inputs[0] != input || add.inputs[0] != mul.outputs[0] {
        return Err("the input is not scaled by Mul then Add");
    }
    let mut cur = add.outputs[0];
    let mut layers: Vec<Dense> = Vec::new();
    loop {
        let mm = next_node(&mut nodes, "MatMul", &[2])?;
        let w = get(mm.inputs[1])?;
        let (d_in, d_out) = w.matrix_dims()?;
        let weight = w.f32s(d_in * d_out).ok_or("weights are not raw f32")?;
        if mm.inputs[0] != cur || layers.last().is_some_and(|l| l.d_out != d_in) {
            return Err("layers are not chained");
        }
        let add = next_node(&mut nodes, "Add", &[2])?;
        let b = get(add.inputs[1])?;
        if add.inputs[0] != mm.outputs[0] || b.dims[..] != [d_out as i64] {
            return Err("bad bias");
        }
        let bias = b.f32s(d_out).ok_or("bad bias")?;
        if !weight.iter().chain(&bias).all(|v| v.is_finite()) {
            return Err("weights or biases are not finite");
        }
        cur = add.outputs[0];
        let relu = nodes.peek().is_some_and(|n| n.op_type == "Relu");
        if relu {
            let r = next_node(&mut nodes, "Relu", &[1])?;
            if r.inputs[0] != cur {
                return Err("layers are not chained");
            }
            cur = r.outputs[0];
        }
        layers.push(Dense {
            d_in,
            d_out,
            weight,
            bias,
            relu,
        });
        if cur == output {
            break;
        }
    }
    if nodes.next().is_some() {
        return Err("operators after the output");
    }
    fold_input_scaling(&mut layers[0], scale, shift);
    Ok(layers)
}

/// `(x s + t) W + b = x (s W) + (b + t colsum(W))`: the pixels go in unscaled.
fn fold_input_scaling(first: &mut Dense, scale: f32, shift: f32) {
    let mut colsum = alloc::vec![0f64; first.d_out];
    for row in first.weight.chunks_exact(first.d_out) {
        for (s, &w) in colsum.iter_mut().zip(row) {
            *s += f64::from(w);
        }
    }
    for (b, s) in first.bias.iter_mut().zip(colsum) {
        *b = (f64::from(*b) + f64::from(shift) * s) as f32;
    }
    for w in &mut first.weight {
        *w *= scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense(d_in: usize, d_out: usize, relu: bool) -> Dense {
        Dense {
            d_in,
            d_out,
            weight: (0..d_in * d_out)
                .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.1)
                .collect(),
            bias: (0..d_out).map(|j| j as f32 * 0.5 - 1.0).collect(),
            relu,
        }
    }

    /// The textbook triple loop, the reference for the gemm call.
    fn naive(l: &Dense, x: &[f32], n: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for r in 0..n {
            for j in 0..l.d_out {
                let mut s = l.bias[j] as f64;
                for i in 0..l.d_in {
                    s += x[r * l.d_in + i] as f64 * l.weight[i * l.d_out + j] as f64;
                }
                let s = s as f32;
                out.push(if l.relu { s.max(0.0) } else { s });
            }
        }
        out
    }

    #[test]
    fn a_layer_is_the_textbook_product() {
        for (n, d_in, d_out, relu) in [(1, 3, 2, false), (7, 19, 5, true), (64, 40, 33, true)] {
            let l = dense(d_in, d_out, relu);
            let x: Vec<f32> = (0..n * d_in).map(|i| (i % 13) as f32 - 6.0).collect();
            let (got, want) = (l.run(&x, n), naive(&l, &x, n));
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{g} vs {w}");
            }
            if relu {
                assert!(got.iter().all(|&v| v >= 0.0));
            }
        }
    }

    /// Sums that overflow (+inf and -inf in one row) are NaN, and ReLU keeps them so, as ONNX's
    /// Relu does: an input too large for the model gives NaN logits, which the encoder
    /// refuses, not a code (`f32::max` made the NaN 0, one arbitrary code for every such row).
    #[test]
    fn relu_keeps_a_nan_from_an_overflowing_sum() {
        for n in [1, 3] {
            let l = Dense {
                d_in: 2,
                d_out: 2,
                weight: alloc::vec![2.0, 0.0, 2.0, 0.0],
                bias: alloc::vec![0.0, -1.0],
                relu: true,
            };
            let x: Vec<f32> = [f32::MAX, -f32::MAX].repeat(n);
            let y = l.run(&x, n);
            for row in y.chunks(2) {
                assert!(row[0].is_nan(), "{row:?}");
                assert_eq!(row[1], 0.0);
            }
        }
    }

    #[test]
    fn folding_the_input_scaling_changes_nothing() {
        let l = dense(6, 4, false);
        let x: Vec<f32> = (0..12).map(|i| (i * 20) as f32).collect();
        let scaled: Vec<f32> = x.iter().map(|v| v / 128.0 - 1.0).collect();
        let want = naive(&l, &scaled, 2);
        let mut folded = l.clone();
        fold_input_scaling(&mut folded, 1.0 / 128.0, -1.0);
        for (g, w) in naive(&folded, &x, 2).iter().zip(&want) {
            assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "{g} vs {w}");
        }
    }
}
