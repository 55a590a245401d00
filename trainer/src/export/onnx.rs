//! The ONNX graphs of the f32 and int8 models, built from `tract_onnx::pb` protobuf types,
//! with the metadata every encoder reads.

use prost::Message;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

pub use imsat_runtime::format::ModelInfo;
use imsat_runtime::format::{WEIGHT_ZERO_POINT, stored_weight};

use super::{Dense, ExportError, INPUT_NAME, IR_VERSION, OPSET, OUTPUT_NAME, QuantDense};

fn tensor_f32(name: &str, dims: &[usize], data: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// The initializers holding the activations' zero point (u8 0) and the weights' (u8
/// [`WEIGHT_ZERO_POINT`]), each `MatMulInteger`'s third and fourth inputs.
pub(crate) const ACTIVATION_ZERO: &str = "zp_u8";
pub(crate) const WEIGHT_ZERO: &str = "zp_w";

/// The end of an int8 model's quantization note that says how its weights are stored.
pub(crate) const U8_WEIGHTS_NOTE: &str = "; weights stored as u8 with zero point 128";

/// Signed weights as the int8 model stores them: u8 with zero point [`WEIGHT_ZERO_POINT`].
fn weights_u8(name: &str, dims: &[usize], data: &[i8]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Uint8 as i32,
        raw_data: data.iter().map(|&v| stored_weight(v)).collect(),
        ..Default::default()
    }
}

pub(crate) fn scalar_u8(name: &str, v: u8) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        data_type: DataType::Uint8 as i32,
        raw_data: vec![v],
        ..Default::default()
    }
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

fn value_info(name: &str, width: usize) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    let dims = vec![
        Dimension {
            value: Some(Value::DimParam("N".into())),
            ..Default::default()
        },
        Dimension {
            value: Some(Value::DimValue(width as i64)),
            ..Default::default()
        },
    ];
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim: dims }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The ONNX model around `graph`, its metadata written from `info` by the runtime's own
/// [`ModelInfo::to_metadata`] (the int8 flag set from `int8`, the quantization note).
fn model_proto(graph: pb::GraphProto, info: &ModelInfo, int8: Option<String>) -> pb::ModelProto {
    let info = ModelInfo {
        int8: int8.is_some(),
        ..info.clone()
    };
    let props = info.to_metadata(int8.as_deref());
    pb::ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "imsat".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: "IMSAT encoder: raw pixels (f32, 0..255) -> logits".into(),
        graph: Some(graph),
        metadata_props: props
            .into_iter()
            .map(|(k, v)| pb::StringStringEntryProto {
                key: k.into(),
                value: v,
            })
            .collect(),
        ..Default::default()
    }
}

fn check_info(layers_in: usize, layers_out: usize, info: &ModelInfo) -> Result<(), ExportError> {
    let d: usize = info.input_shape.iter().product();
    if info.input_shape.is_empty() || d != layers_in {
        return Err(ExportError::Invalid(format!(
            "input shape {:?} does not match the model's input width {layers_in}",
            info.input_shape
        )));
    }
    if info.outputs != layers_out {
        return Err(ExportError::Invalid(format!(
            "{} outputs declared but the model has {layers_out}",
            info.outputs
        )));
    }
    Ok(())
}

/// The graph of `nodes` from `INPUT_NAME` (`d_in` wide) to `OUTPUT_NAME` (`d_out` wide).
fn graph_proto(
    name: &str,
    nodes: Vec<pb::NodeProto>,
    init: Vec<pb::TensorProto>,
    d_in: usize,
    d_out: usize,
) -> pb::GraphProto {
    pb::GraphProto {
        name: name.into(),
        node: nodes,
        initializer: init,
        input: vec![value_info(INPUT_NAME, d_in)],
        output: vec![value_info(OUTPUT_NAME, d_out)],
        ..Default::default()
    }
}

/// The f32 ONNX model of folded layers.
pub fn f32_model(layers: &[Dense], info: &ModelInfo) -> Result<pb::ModelProto, ExportError> {
    let (first, last) = match (layers.first(), layers.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => return Err(ExportError::Invalid("the model has no layers".into())),
    };
    check_info(first.d_in, last.d_out, info)?;
    let mut nodes = vec![
        node("Mul", "scale", &[INPUT_NAME, "inv128"], "x_div"),
        node("Add", "shift", &["x_div", "minus_one"], "x0"),
    ];
    let mut init = vec![
        tensor_f32("inv128", &[], &[1.0 / 128.0]),
        tensor_f32("minus_one", &[], &[-1.0]),
    ];
    let mut cur = "x0".to_string();
    for (i, l) in layers.iter().enumerate() {
        let (w, b) = (format!("w{i}"), format!("b{i}"));
        init.push(tensor_f32(&w, &[l.d_in, l.d_out], &l.weight));
        init.push(tensor_f32(&b, &[l.d_out], &l.bias));
        let mm = format!("mm{i}");
        nodes.push(node("MatMul", &format!("matmul{i}"), &[&cur, &w], &mm));
        let last = i + 1 == layers.len();
        let added = if last {
            OUTPUT_NAME.to_string()
        } else {
            format!("lin{i}")
        };
        nodes.push(node("Add", &format!("bias{i}"), &[&mm, &b], &added));
        cur = added;
        if l.relu {
            let r = format!("h{i}");
            nodes.push(node("Relu", &format!("relu{i}"), &[&cur], &r));
            cur = r;
        }
    }
    let graph = graph_proto("imsat_encoder", nodes, init, first.d_in, last.d_out);
    Ok(model_proto(graph, info, None))
}

/// The int8 ONNX model of quantized layers.
pub fn int8_model(
    layers: &[QuantDense],
    info: &ModelInfo,
    calibration_rows: usize,
) -> Result<pb::ModelProto, ExportError> {
    let (first, last) = match (layers.first(), layers.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => return Err(ExportError::Invalid("the model has no layers".into())),
    };
    check_info(first.d_in, last.d_out, info)?;
    let mut nodes = vec![node(
        "QuantizeLinear",
        "quantize0",
        &[INPUT_NAME, "one", ACTIVATION_ZERO],
        "q0",
    )];
    let mut init = vec![
        tensor_f32("one", &[], &[1.0]),
        scalar_u8(ACTIVATION_ZERO, 0),
        scalar_u8(WEIGHT_ZERO, WEIGHT_ZERO_POINT),
    ];
    for (i, l) in layers.iter().enumerate() {
        let (w, m, b) = (format!("wq{i}"), format!("m{i}"), format!("b{i}"));
        init.push(weights_u8(&w, &[l.d_in, l.d_out], &l.weight));
        init.push(tensor_f32(&m, &[l.d_out], &l.multiplier));
        init.push(tensor_f32(&b, &[l.d_out], &l.bias));
        let q = format!("q{i}");
        let acc = format!("acc{i}");
        nodes.push(node(
            "MatMulInteger",
            &format!("matmul{i}"),
            &[&q, &w, ACTIVATION_ZERO, WEIGHT_ZERO],
            &acc,
        ));
        let mut cast = node("Cast", &format!("cast{i}"), &[&acc], &format!("accf{i}"));
        cast.attribute.push(pb::AttributeProto {
            name: "to".into(),
            r#type: pb::attribute_proto::AttributeType::Int as i32,
            i: DataType::Float as i64,
            ..Default::default()
        });
        nodes.push(cast);
        nodes.push(node(
            "Mul",
            &format!("rescale{i}"),
            &[&format!("accf{i}"), &m],
            &format!("y{i}"),
        ));
        match layers.get(i + 1) {
            None => nodes.push(node(
                "Add",
                &format!("bias{i}"),
                &[&format!("y{i}"), &b],
                OUTPUT_NAME,
            )),
            Some(next) => {
                // Quantizing to u8 with zero point 0 clamps at 0: that is the ReLU.
                let s = format!("s{}", i + 1);
                init.push(tensor_f32(&s, &[], &[next.input_scale]));
                nodes.push(node(
                    "Add",
                    &format!("bias{i}"),
                    &[&format!("y{i}"), &b],
                    &format!("lin{i}"),
                ));
                nodes.push(node(
                    "QuantizeLinear",
                    &format!("quantize{}", i + 1),
                    &[&format!("lin{i}"), &s, ACTIVATION_ZERO],
                    &format!("q{}", i + 1),
                ));
            }
        }
    }
    let graph = graph_proto("imsat_encoder_int8", nodes, init, first.d_in, last.d_out);
    let how = format!(
        "MatMulInteger: u8 activations (zero point 0, scale = max over {calibration_rows} \
         calibration rows / 255; pixels exact) x symmetric int8 weights, one scale per output column, \
         rounded by GPTQ on those rows, mean error moved into the bias{U8_WEIGHTS_NOTE}"
    );
    Ok(model_proto(graph, info, Some(how)))
}

/// Serialize a model to ONNX bytes.
pub fn to_bytes(model: &pb::ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}
