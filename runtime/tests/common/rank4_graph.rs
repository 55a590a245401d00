//! A model edited to take `[N, 1, 28, 28]` behind a convolution, as a network exported from
//! elsewhere would: the runtime's tests and the CLI's check that it is refused with a hint to
//! put a Reshape first (shared by `#[path]`: it needs tract, which not every runtime test has).

use tract_onnx::pb;

fn dim(v: i64) -> pb::tensor_shape_proto::Dimension {
    pb::tensor_shape_proto::Dimension {
        value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)),
        ..Default::default()
    }
}

fn f32_input(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto {
                    dim: dims.iter().map(|&d| dim(d)).collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// hash16 behind a convolution that takes `[1, 1, 28, 28]`, as a network exported from
/// elsewhere would: its input declared with four dimensions, and (IR 3 style) its
/// initializers listed as inputs before it when `listed` (each of two dimensions).
pub fn behind_a_convolution(p: &mut pb::ModelProto, listed: bool) {
    let g = p.graph.as_mut().unwrap();
    let x = g.input[0].name.clone();
    for i in g.node.iter_mut().flat_map(|n| n.input.iter_mut()) {
        if *i == x {
            *i = "x_flat".into();
        }
    }
    g.input[0] = f32_input(&x, &[1, 1, 28, 28]);
    if listed {
        let weights: Vec<_> = (g.initializer.iter())
            .filter(|t| t.dims.len() == 2)
            .map(|t| f32_input(&t.name, &t.dims))
            .collect();
        g.input.splice(0..0, weights);
    }
    g.initializer.push(pb::TensorProto {
        name: "one".into(),
        dims: vec![1, 1, 1, 1],
        data_type: 1,
        float_data: vec![1.0],
        ..Default::default()
    });
    let node = |op: &str, input: Vec<String>, output: &str| pb::NodeProto {
        op_type: op.into(),
        input,
        output: vec![output.into()],
        ..Default::default()
    };
    let conv = node("Conv", vec![x, "one".into()], "x_conv");
    let flatten = node("Flatten", vec!["x_conv".into()], "x_flat");
    g.node.splice(0..0, [conv, flatten]);
}
