//! Reading the int8 graph `imsat train` exports into layers. The exported layout is
//!
//! ```text
//! QuantizeLinear(input, s0, 0u8)
//! { MatMulInteger(a, W_u8, 0u8, 128u8) -> Cast(to float) -> Mul(multiplier) -> Add(bias)
//!   [-> QuantizeLinear(s_i, 0u8) for hidden layers] }+
//! ```
//!
//! or, in files exported before 2026-12-07 (see [`WEIGHT_ZERO_POINT`]),
//! `MatMulInteger(a, W_i8)`; anything else is refused with the reason (tract still runs such
//! graphs on `std`).

use alloc::vec::Vec;

use crate::format::onnx::{Graph, Node, Tensor, data_type, next_node};
use crate::format::{WEIGHT_ZERO_POINT, signed_weight};

use super::kernels::Kernel;
use super::layer::Layer;

/// Why a graph is not the exported int8 layout.
pub type Mismatch = &'static str;

fn scalar_f32(t: &Tensor<'_>) -> Option<f32> {
    let v = *t.f32s(1)?.first()?;
    (v.is_finite() && v > 0.0).then_some(v)
}

fn zero_u8(t: &Tensor<'_>) -> bool {
    u8_scalar(t) == Some(0)
}

/// The value of a u8 scalar (dims `[]` or `[1]`).
fn u8_scalar(t: &Tensor<'_>) -> Option<u8> {
    t.raw(data_type::UINT8, 1, 1).map(|b| b[0])
}

/// The initializer an operand names (the layout's operands past the first are constants).
fn constant<'g, 'a>(graph: &'g Graph<'a>, name: &str) -> Result<&'g Tensor<'a>, Mismatch> {
    graph
        .initializer(name)
        .ok_or("an operand is not a constant")
}

/// A `MatMulInteger`'s weight matrix as the file stores it.
struct StoredWeights<'a> {
    /// `[d_in, d_out]`, row-major.
    bytes: &'a [u8],
    /// How a byte reads as a signed weight.
    signed: fn(u8) -> i8,
    d_in: usize,
    d_out: usize,
}

/// The weights of a `MatMulInteger`: u8 with the zero points of the exported layout (a: 0,
/// W: [`WEIGHT_ZERO_POINT`]), or int8 without zero points (files of an earlier layout).
fn matmul_weights<'a>(graph: &Graph<'a>, mm: &Node<'_>) -> Result<StoredWeights<'a>, Mismatch> {
    let get = |name: &str| constant(graph, name);
    let w = get(mm.inputs[1])?;
    let (d_in, d_out) = w.matrix_dims()?;
    if mm.inputs.len() == 2 {
        let bytes = w
            .raw(data_type::INT8, d_in * d_out, 1)
            .ok_or("weights are not raw int8")?;
        let signed = |b| b as i8;
        return Ok(StoredWeights {
            bytes,
            signed,
            d_in,
            d_out,
        });
    }
    if !zero_u8(get(mm.inputs[2])?) {
        return Err("a MatMulInteger's activation zero point is not u8 0");
    }
    if u8_scalar(get(mm.inputs[3])?) != Some(WEIGHT_ZERO_POINT) {
        return Err("a MatMulInteger's weight zero point is not u8 128");
    }
    let bytes = w
        .raw(data_type::UINT8, d_in * d_out, 1)
        .ok_or("weights with a u8 zero point are not raw u8")?;
    Ok(StoredWeights {
        bytes,
        signed: signed_weight,
        d_in,
        d_out,
    })
}

/// The input's `1 / scale` and the layers of `graph`, which must read `input` and write
/// `output`.
pub(crate) fn layers(
    graph: &Graph<'_>,
    input: &str,
    output: &str,
    kernel: Kernel,
) -> Result<(f32, Vec<Layer>), Mismatch> {
    let get = |name: &str| constant(graph, name);
    let mut nodes = graph.nodes.iter();
    let mut next = |op: &'static str, n_in: &[usize]| next_node(&mut nodes, op, n_in);
    let q = next("QuantizeLinear", &[3])?;
    if q.inputs[0] != input || !zero_u8(get(q.inputs[2])?) {
        return Err("the input is not quantized to u8 with zero point 0");
    }
    let input_inv_scale = scalar_f32(get(q.inputs[1])?)
        .ok_or("bad input scale")?
        .recip();
    let mut cur = q.outputs[0];
    let mut layers: Vec<Layer> = Vec::new();
    loop {
        let mm = next("MatMulInteger", &[4, 2])?;
        let StoredWeights {
            bytes: wq,
            signed,
            d_in,
            d_out,
        } = matmul_weights(graph, mm)?;
        if mm.inputs[0] != cur || layers.last().is_some_and(|l| l.d_out != d_in) {
            return Err("layers are not chained");
        }
        let cast = next("Cast", &[1])?;
        let to_float = cast
            .attributes
            .iter()
            .any(|a| a.name == "to" && a.i == i64::from(data_type::FLOAT));
        if cast.inputs[0] != mm.outputs[0] || !to_float || cast.attributes.len() != 1 {
            return Err("the product is not cast to f32");
        }
        let mul = next("Mul", &[2])?;
        if mul.inputs[0] != cast.outputs[0] {
            return Err("layers are not chained");
        }
        // One multiplier for the layer (dims []) or one per output (dims [d_out]).
        let m = get(mul.inputs[1])?;
        let multiplier = match m.dims[..] {
            [] => {
                alloc::vec![*m.f32s(1).ok_or("bad multiplier")?.first().ok_or("bad multiplier")?; d_out]
            }
            [d] if d == d_out as i64 => m.f32s(d_out).ok_or("bad multiplier")?,
            _ => return Err("bad multiplier"),
        };
        if !multiplier.iter().all(|v| v.is_finite()) {
            return Err("bad multiplier");
        }
        let add = next("Add", &[2])?;
        let b = get(add.inputs[1])?;
        if add.inputs[0] != mul.outputs[0] || b.dims[..] != [d_out as i64] {
            return Err("bad bias");
        }
        let bias = b.f32s(d_out).ok_or("bad bias")?;
        let mut layer = Layer::new(wq, signed, d_in, d_out, multiplier, bias, kernel);
        if add.outputs[0] == output {
            layers.push(layer);
            break;
        }
        let q = next("QuantizeLinear", &[3])?;
        if q.inputs[0] != add.outputs[0] || !zero_u8(get(q.inputs[2])?) {
            return Err("a hidden layer is not quantized to u8 with zero point 0");
        }
        layer.next_inv_scale = Some(
            scalar_f32(get(q.inputs[1])?)
                .ok_or("bad activation scale")?
                .recip(),
        );
        cur = q.outputs[0];
        layers.push(layer);
    }
    if nodes.next().is_some() {
        return Err("operators after the output");
    }
    Ok((input_inv_scale, layers))
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;
    use crate::format::onnx::{Attribute, Model, Node};

    /// The fuzz targets' seed: an exported 8-bit hash model, 784 -> 4 -> 8, one multiplier
    /// per layer.
    const TINY: &[u8] = include_bytes!("../../../fuzz/models/tiny_hash8.int8.onnx");

    /// The layers of the tiny model's graph after `edit`.
    fn layers_after(edit: impl FnOnce(&mut Graph<'static>)) -> Result<(f32, Vec<Layer>), Mismatch> {
        let mut g = Model::parse(TINY).unwrap().graph;
        edit(&mut g);
        layers(&g, "pixels", "logits", Kernel::Generic)
    }

    fn node<'g>(g: &'g mut Graph<'static>, output: &str) -> &'g mut Node<'static> {
        g.nodes.iter_mut().find(|n| n.outputs[0] == output).unwrap()
    }

    fn tensor<'g>(g: &'g mut Graph<'static>, name: &str) -> &'g mut Tensor<'static> {
        g.initializers.iter_mut().find(|t| t.name == name).unwrap()
    }

    /// The little-endian bytes of one f32 as a `'static` constant (a leaked buffer would be
    /// a leak under Miri).
    macro_rules! f32_bytes {
        ($x:expr) => {{
            const BYTES: [u8; 4] = f32::to_le_bytes($x);
            &BYTES
        }};
    }

    /// Eight different multipliers, one per output of the tiny model's last layer, and their
    /// bytes.
    const PER_OUTPUT: [f32; 8] = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08];
    const PER_OUTPUT_BYTES: [u8; 32] = {
        let mut bytes = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            bytes[i] = PER_OUTPUT[i / 4].to_le_bytes()[i % 4];
            i += 1;
        }
        bytes
    };

    /// The exported graph is read as written: its scales, widths, multipliers and biases.
    #[test]
    fn the_exported_graph_gives_its_layers() {
        let g = Model::parse(TINY).unwrap().graph;
        let (inv, layers) = layers_after(|_| ()).unwrap();
        let f = |name: &str| g.initializer(name).unwrap().f32s(1).unwrap()[0];
        assert_eq!(inv, f("one").recip());
        assert_eq!(layers.len(), 2);
        let (a, b) = (&layers[0], &layers[1]);
        assert_eq!((a.d_in, a.stride, a.d_out), (784, 832, 4));
        assert_eq!((b.d_in, b.stride, b.d_out), (4, 64, 8));
        assert_eq!(a.next_inv_scale, Some(f("s1").recip()));
        assert_eq!(b.next_inv_scale, None);
        assert_eq!(a.multiplier, vec![f("m0"); 4]);
        assert_eq!(b.multiplier, vec![f("m1"); 8]);
        assert_eq!(a.bias, g.initializer("b0").unwrap().f32s(4).unwrap());
        assert_eq!(b.bias, g.initializer("b1").unwrap().f32s(8).unwrap());
        let want = last_layer_rows(|b| i8::try_from(i16::from(b) - 128).unwrap());
        assert_eq!(b.weights, want);
    }

    /// The tiny model's last weight matrix (4 x 8) in the portable layout, each stored byte
    /// read by `signed`.
    fn last_layer_rows(signed: impl Fn(u8) -> i8) -> super::super::layer::Weights {
        let g = Model::parse(TINY).unwrap().graph;
        let wq1 = g.initializer("wq1").unwrap().raw_data;
        let rows = (0..8).flat_map(|j| {
            let mut row: Vec<i8> = (0..4).map(|k| signed(wq1[k * 8 + j])).collect();
            row.resize(64, 0);
            row
        });
        super::super::layer::Weights::Rows(rows.collect())
    }

    /// A file of the earlier layout (int8 weights, `MatMulInteger` without zero points) is
    /// read with its bytes as the signed weights; its u8 bytes without the zero points, or
    /// int8 bytes with them, are refused.
    #[test]
    fn the_earlier_int8_layout_is_read_too() {
        let earlier = |g: &mut Graph<'static>| {
            for mm in ["acc0", "acc1"] {
                node(g, mm).inputs.truncate(2);
            }
            for w in ["wq0", "wq1"] {
                tensor(g, w).data_type = data_type::INT8;
            }
        };
        let (_, layers) = layers_after(earlier).unwrap();
        assert_eq!(layers[1].weights, last_layer_rows(|b| b as i8));
        let e = layers_after(|g| node(g, "acc1").inputs.truncate(2)).unwrap_err();
        assert_eq!(e, "weights are not raw int8");
        let e = layers_after(|g| tensor(g, "wq1").data_type = data_type::INT8).unwrap_err();
        assert_eq!(e, "weights with a u8 zero point are not raw u8");
    }

    /// A multiplier per output (per-column weight scales) is read as such.
    #[test]
    fn a_multiplier_per_output_is_read() {
        let (_, layers) = layers_after(|g| {
            let m = tensor(g, "m1");
            m.dims = vec![8];
            m.raw_data = &PER_OUTPUT_BYTES;
        })
        .unwrap();
        assert_eq!(layers[1].multiplier, PER_OUTPUT);
    }

    /// Every departure from the exported layout is refused with its reason.
    #[test]
    fn graphs_off_the_exported_layout_are_refused() {
        type Edit = fn(&mut Graph<'static>);
        let cases: &[(&str, Edit)] = &[
            ("the input is not quantized", |g| {
                node(g, "q0").inputs[0] = "other"
            }),
            ("the input is not quantized", |g| {
                tensor(g, "zp_u8").raw_data = &[1]
            }),
            ("the input is not quantized", |g| {
                tensor(g, "zp_u8").data_type = data_type::INT8
            }),
            ("bad input scale", |g| {
                tensor(g, "one").raw_data = f32_bytes!(0.0)
            }),
            ("bad input scale", |g| {
                tensor(g, "one").raw_data = f32_bytes!(-1.0)
            }),
            ("bad input scale", |g| {
                tensor(g, "one").raw_data = f32_bytes!(f32::INFINITY)
            }),
            ("bad input scale", |g| {
                tensor(g, "one").raw_data = f32_bytes!(f32::NAN)
            }),
            ("weights with a u8 zero point are not raw u8", |g| {
                tensor(g, "wq1").data_type = data_type::INT8
            }),
            ("a MatMulInteger's activation zero point is not u8 0", |g| {
                node(g, "acc1").inputs[2] = "zp_w"
            }),
            ("a MatMulInteger's weight zero point is not u8 128", |g| {
                node(g, "acc1").inputs[3] = "zp_u8"
            }),
            ("a MatMulInteger's weight zero point is not u8 128", |g| {
                tensor(g, "zp_w").raw_data = &[127]
            }),
            ("a MatMulInteger's weight zero point is not u8 128", |g| {
                tensor(g, "zp_w").data_type = data_type::INT8
            }),
            ("an operand is not a constant", |g| {
                node(g, "acc1").inputs[3] = "q1"
            }),
            ("unexpected operator", |g| {
                node(g, "acc1").inputs.truncate(3)
            }),
            ("layers are not chained", |g| {
                node(g, "acc1").inputs[0] = "q0"
            }),
            ("layers are not chained", |g| {
                // A second layer of 5 inputs after a first of 4 outputs.
                let w = tensor(g, "wq1");
                w.dims = vec![5, 8];
                w.raw_data = &[1; 40];
            }),
            ("the product is not cast to f32", |g| {
                node(g, "accf1").inputs[0] = "acc0"
            }),
            ("the product is not cast to f32", |g| {
                node(g, "accf1").attributes[0].i = 7
            }),
            ("the product is not cast to f32", |g| {
                node(g, "accf1").attributes[0].name = "saturate"
            }),
            ("the product is not cast to f32", |g| {
                node(g, "accf1").attributes.push(Attribute {
                    name: "saturate",
                    i: 1,
                    f: 0.0,
                })
            }),
            ("layers are not chained", |g| {
                node(g, "y1").inputs[0] = "accf0"
            }),
            ("bad multiplier", |g| tensor(g, "m1").dims = vec![7]),
            ("bad multiplier", |g| tensor(g, "m1").dims = vec![1, 1]),
            ("bad multiplier", |g| {
                tensor(g, "m1").raw_data = f32_bytes!(f32::NAN)
            }),
            ("bad multiplier", |g| {
                tensor(g, "m1").raw_data = f32_bytes!(f32::INFINITY)
            }),
            ("bad multiplier", |g| {
                tensor(g, "m1").data_type = data_type::INT8
            }),
            ("bad bias", |g| node(g, "logits").inputs[0] = "accf1"),
            ("bad bias", |g| tensor(g, "b1").dims = vec![4, 2]),
            ("bad bias", |g| tensor(g, "b1").data_type = data_type::INT8),
            ("a hidden layer is not quantized", |g| {
                node(g, "q1").inputs[0] = "y0"
            }),
            ("a hidden layer is not quantized", |g| {
                node(g, "q1").inputs[2] = "wq1"
            }),
            ("bad activation scale", |g| {
                tensor(g, "s1").raw_data = f32_bytes!(0.0)
            }),
            ("bad activation scale", |g| {
                tensor(g, "s1").raw_data = f32_bytes!(f32::NAN)
            }),
            ("operators after the output", |g| {
                let mut extra = g.nodes[0].clone();
                extra.inputs[0] = "logits";
                extra.outputs[0] = "more";
                g.nodes.push(extra);
            }),
            ("an operand is not a constant", |g| {
                node(g, "acc1").inputs[1] = "missing"
            }),
            ("the graph ends early", |g| {
                g.nodes.pop();
            }),
        ];
        for (i, (want, edit)) in cases.iter().enumerate() {
            let err = layers_after(edit).map(|_| ()).unwrap_err();
            assert!(err.starts_with(want), "case {i}: {err:?}, not {want:?}");
        }
    }
}
