//! The native f32 executor (`float_mlp`, the `gemm` crate's products) against tract, an
//! independent implementation, on every shipped f32 model: the four digit models on 2,000
//! bundled digits, photo64 on those digits through its own view. The sums run in a
//! different order, so logits agree to float rounding and a code bit may differ only where
//! its logit is within that rounding of zero.
//!
//! `IMSAT_TEST_F32_DIGITS` sets the number of digits (at least 24: 16 single rows, a batch
//! of 7, the rest as one batch); the ARM CI sets 200 (`common::f32_digits`). Every
//! product path (one row, a small batch, gemm's blocked batch) runs with either count.
#![cfg(feature = "encoder")]

mod common;

use common::{f32_digits, inputs_for, root, test_per_model};

use imsat_runtime::encoder::Encoder;

test_per_model!(
    native_f32_logits_equal_tracts_to_rounding_on_the_digits,
    super::check,
    [hash16, hash32, hash64, cluster10, photo64]
);

fn check(name: &str) {
    let (rows, digits) = f32_digits();
    let path = root().join(format!("models/{name}.onnx"));
    let native = Encoder::open(&path).unwrap();
    assert!(native.uses_native_f32(), "{name}: the exported f32 layout");
    let tract = native.clone().tract_only();
    assert!(!tract.uses_native_f32());
    let images = inputs_for(native.info(), &digits);
    // 16 rows one at a time (a single row has its own product, `float_mlp::row_times`),
    // a batch of 7 and the rest (gemm).
    let d = native.input_dim();
    let mut got = Vec::new();
    for row in images[..16 * d].chunks_exact(d) {
        got.extend(native.logits(row).unwrap());
    }
    for part in [&images[16 * d..23 * d], &images[23 * d..]] {
        got.extend(native.logits(part).unwrap());
    }
    let want = tract.logits(&images).unwrap();
    assert_eq!(got.len(), want.len(), "{name}");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let tolerance = 1e-5 * scale.max(1.0);
    let worst = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0f32, f32::max);
    assert!(
        worst <= tolerance,
        "{name}: logits differ by {worst} (largest logit {scale})"
    );
    // Signs (the code bits) differ only within the tolerance of zero.
    let flipped = got
        .iter()
        .zip(&want)
        .filter(|(g, w)| (**g > 0.0) != (**w > 0.0))
        .inspect(|(_, w)| assert!(w.abs() <= tolerance, "{name}: a sign flip at {w}"))
        .count();
    println!(
        "{name}: {rows} rows, largest logit difference {worst:.2e} of {scale:.1}, \
         {flipped} of {} signs differ",
        want.len()
    );
}

/// A pixel that is not a finite number is refused, by position, on every path: the native
/// int8 executor quantized NaN to 0 and returned a code; f32 and tract gave NaN logits.
#[test]
fn a_pixel_that_is_not_a_finite_number_is_refused_on_every_path() {
    for file in ["hash16.int8.onnx", "hash16.onnx"] {
        let encoder = Encoder::open(root().join("models").join(file)).unwrap();
        let d = encoder.input_dim();
        for path in [encoder.clone(), encoder.clone().tract_only()] {
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut pixels = vec![10.0f32; 2 * d];
                pixels[d + 3] = bad;
                let err = path.logits_f32(&pixels).unwrap_err().to_string();
                assert!(
                    err.contains(&format!("input value {} is", d + 3)),
                    "{file}: {err}"
                );
            }
            assert!(path.logits_f32(&vec![10.0f32; 2 * d]).is_ok(), "{file}");
        }
    }
}

/// The native executor takes only the exported layout, wired as exported: a graph that
/// differs in one connection (or whose input scale is not a scalar) is refused, so that it
/// runs through tract as written rather than natively as the layout it resembles. And
/// `widest`, which the encoder splits batches by, is the widest layer.
#[test]
fn a_graph_wired_otherwise_is_not_taken_for_the_exported_layout() {
    use imsat_runtime::float_mlp::F32Mlp;
    use imsat_runtime::format::onnx::Model;
    use prost::Message;
    use tract_onnx::pb;

    let bytes = std::fs::read(root().join("models/hash16.onnx")).unwrap();
    let exported = pb::ModelProto::decode(&bytes[..]).unwrap();
    let native = |m: &pb::ModelProto| {
        let bytes = m.encode_to_vec();
        F32Mlp::from_model(&Model::parse(&bytes).unwrap()).map(|mlp| mlp.widest())
    };
    let widest = exported.graph.as_ref().unwrap().initializer.iter();
    let widest = widest
        .filter(|t| t.dims.len() == 2)
        .flat_map(|t| t.dims.iter().map(|&d| d as usize))
        .max();
    assert_eq!(native(&exported).ok(), widest);
    assert!(widest.is_some_and(|w| w >= 784));

    type Edit = fn(&mut pb::GraphProto);
    let edits: [(&str, Edit); 5] = [
        ("the input scale is a 1-vector", |g| {
            let mul = g.node.iter().find(|n| n.op_type == "Mul").unwrap();
            let name = mul.input[1].clone();
            let t = g.initializer.iter_mut().find(|t| t.name == name).unwrap();
            t.dims = vec![1];
        }),
        ("Mul reads another value", |g| {
            let mul = g.node.iter_mut().find(|n| n.op_type == "Mul").unwrap();
            mul.input[0] = "elsewhere".into();
        }),
        ("the second MatMul reads another value", |g| {
            let mm = g.node.iter_mut().filter(|n| n.op_type == "MatMul").nth(1);
            mm.unwrap().input[0] = "elsewhere".into();
        }),
        ("a bias Add reads another value", |g| {
            // The Adds: the input shift, then one bias per layer.
            let add = g.node.iter_mut().filter(|n| n.op_type == "Add").nth(1);
            add.unwrap().input[0] = "elsewhere".into();
        }),
        ("the input shift Add reads another value", |g| {
            let add = g.node.iter_mut().find(|n| n.op_type == "Add").unwrap();
            add.input[0] = "elsewhere".into();
        }),
    ];
    for (what, edit) in edits {
        let mut m = exported.clone();
        edit(m.graph.as_mut().unwrap());
        assert!(native(&m).is_err(), "{what}: taken for the exported layout");
    }
}
