//! Reading the int8 graph `imsat train` exports into layers. The exported layout is
//!
//! ```text
//! QuantizeLinear(input, s0, 0u8)
//! { MatMulInteger(a, W_i8) -> Cast(to float) -> Mul(multiplier) -> Add(bias)
//!   [-> QuantizeLinear(s_i, 0u8) for hidden layers] }+
//! ```
//!
//! and anything else is refused with the reason (tract still runs such graphs on `std`).

use alloc::vec::Vec;

use crate::format::onnx::{Graph, Tensor, data_type, next_node};

use super::kernels::Kernel;
use super::layer::Layer;

/// Why a graph is not the exported int8 layout.
pub type Mismatch = &'static str;

fn scalar_f32(t: &Tensor<'_>) -> Option<f32> {
    let v = *t.f32s(1)?.first()?;
    (v.is_finite() && v > 0.0).then_some(v)
}

fn zero_u8(t: &Tensor<'_>) -> bool {
    t.raw(data_type::UINT8, 1, 1) == Some(&[0u8][..])
}

/// The input's `1 / scale` and the layers of `graph`, which must read `input` and write
/// `output`.
pub(crate) fn layers(
    graph: &Graph<'_>,
    input: &str,
    output: &str,
    kernel: Kernel,
) -> Result<(f32, Vec<Layer>), Mismatch> {
    let get = |name: &str| {
        graph
            .initializer(name)
            .ok_or("an operand is not a constant")
    };
    let mut nodes = graph.nodes.iter();
    let mut next = |op: &'static str, n_in: usize| next_node(&mut nodes, op, n_in);
    let q = next("QuantizeLinear", 3)?;
    if q.inputs[0] != input || !zero_u8(get(q.inputs[2])?) {
        return Err("the input is not quantized to u8 with zero point 0");
    }
    let input_inv_scale = scalar_f32(get(q.inputs[1])?)
        .ok_or("bad input scale")?
        .recip();
    let mut cur = q.outputs[0];
    let mut layers: Vec<Layer> = Vec::new();
    loop {
        let mm = next("MatMulInteger", 2)?;
        let w = get(mm.inputs[1])?;
        let (d_in, d_out) = w.matrix_dims()?;
        let wq = w
            .raw(data_type::INT8, d_in * d_out, 1)
            .ok_or("weights are not raw int8")?;
        if mm.inputs[0] != cur || layers.last().is_some_and(|l| l.d_out != d_in) {
            return Err("layers are not chained");
        }
        let cast = next("Cast", 1)?;
        let to_float = cast
            .attributes
            .iter()
            .any(|a| a.name == "to" && a.i == i64::from(data_type::FLOAT));
        if cast.inputs[0] != mm.outputs[0] || !to_float || cast.attributes.len() != 1 {
            return Err("the product is not cast to f32");
        }
        let mul = next("Mul", 2)?;
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
        let add = next("Add", 2)?;
        let b = get(add.inputs[1])?;
        if add.inputs[0] != mul.outputs[0] || b.dims[..] != [d_out as i64] {
            return Err("bad bias");
        }
        let bias = b.f32s(d_out).ok_or("bad bias")?;
        let mut layer = Layer::new(wq, d_in, d_out, multiplier, bias, kernel);
        if add.outputs[0] == output {
            layers.push(layer);
            break;
        }
        let q = next("QuantizeLinear", 3)?;
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
