//! Export a trained encoder as ONNX: an f32 model and a calibrated int8 model.
//!
//! Both models take raw pixels, f32 `[N, d]` in 0..255, and return the logits `[N, K or M]`,
//! so a caller never has to know the training-time scaling (x/128 - 1).
//!
//! * Every BatchNorm (running statistics) is folded into the Linear before it.
//! * **f32** (`model.onnx`): `Mul(1/128) -> Add(-1)`, then `MatMul -> Add -> Relu` per hidden
//!   layer and `MatMul -> Add` for the output.
//! * **int8** (`model.int8.onnx`): per layer `MatMulInteger(u8 activations, i8 weights) ->
//!   Cast -> Mul(activation scale x weight scale, one per output) -> Add(bias)`, then `QuantizeLinear` to u8
//!   (zero point 0, which also does the ReLU) for the next layer. The pixels enter as u8
//!   exactly (`QuantizeLinear` scale 1); the `-1` of the input scaling and the first layer's
//!   bias are folded into one bias. Weights are symmetric int8 with one scale per output column;
//!   the activation scales are calibrated on training data (largest value seen on the
//!   calibration rows). tract runs `MatMulInteger` with integer kernels and onnxruntime runs
//!   it too; QDQ weights would be turned back into f32 by tract.
//!
//! The graph is built from the ONNX protobuf types of `tract_onnx::pb` and serialized with
//! prost. Metadata (`metadata_props`) says what the model is; see [`meta`].

use std::path::{Path, PathBuf};

use burn::tensor::Tensor;
use prost::Message;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

use crate::data::Images;
use crate::io::write_atomic;
use crate::loss::Task;
use crate::model::Encoder;
use crate::train::{Trained, scale_pixels};

/// The metadata keys and I/O names every exported model carries: the runtime's, so that
/// what the trainer writes is what every encoder reads.
pub use imsat_runtime::format::keys as meta;
pub use imsat_runtime::format::{FORMAT_VERSION, INPUT_NAME, OUTPUT_NAME};
/// ONNX operator set used by both models.
pub const OPSET: i64 = 13;
/// ONNX IR version written (IR 8 goes with opsets up to 17).
pub const IR_VERSION: i64 = 8;
/// File names written by [`write_models`].
pub const F32_FILE: &str = "model.onnx";
/// File name of the int8 model.
pub const INT8_FILE: &str = "model.int8.onnx";
/// At most this many rows of the training data calibrate the activation scales.
pub const MAX_CALIBRATION_ROWS: usize = 5000;

/// What can go wrong while exporting.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: cannot write: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot export: {0}")]
    Invalid(String),
}

/// One dense layer of the folded network, `y = x W + b` (then ReLU when `relu`).
/// `weight` is row-major `[d_in, d_out]`, as burn's Linear.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    pub d_in: usize,
    pub d_out: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub relu: bool,
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// The encoder as plain dense layers on *scaled* inputs (x/128 - 1), a convolutional front
/// end written as a dense layer and its pooling folded into the next one
/// ([`crate::conv::ConvFront::toeplitz`]), every BatchNorm folded into its Linear with the
/// running statistics:
/// `W'[:, j] = W[:, j] a_j`, `b'_j = (b_j - mean_j) a_j + beta_j`, `a_j = gamma_j / sqrt(var_j + eps)`.
pub fn fold_layers(model: &Encoder) -> Vec<Dense> {
    let linear = |l: &burn::nn::Linear| {
        let [d_in, d_out] = l.weight.shape().dims::<2>();
        let weight = values(l.weight.val());
        let bias = l
            .bias
            .as_ref()
            .map(|b| values(b.val()))
            .unwrap_or_else(|| vec![0.0; d_out]);
        (d_in, d_out, weight, bias)
    };
    let mut out = Vec::new();
    for (layer, bn) in model.hidden.iter().zip(&model.norms) {
        let (d_in, d_out, w, b) = linear(layer);
        let gamma = values(bn.gamma.val());
        let beta = values(bn.beta.val());
        let mean = values(bn.running_mean.value());
        let var = values(bn.running_var.value());
        let a: Vec<f64> = (0..d_out)
            .map(|j| gamma[j] as f64 / (var[j] as f64 + bn.epsilon).sqrt())
            .collect();
        let weight = w
            .chunks_exact(d_out)
            .flat_map(|row| row.iter().zip(&a).map(|(&v, &s)| (v as f64 * s) as f32))
            .collect();
        let bias = (0..d_out)
            .map(|j| ((b[j] as f64 - mean[j] as f64) * a[j] + beta[j] as f64) as f32)
            .collect();
        out.push(Dense {
            d_in,
            d_out,
            weight,
            bias,
            relu: true,
        });
    }
    let (d_in, d_out, weight, bias) = linear(&model.output);
    out.push(Dense {
        d_in,
        d_out,
        weight,
        bias,
        relu: false,
    });
    if let Some(front) = &model.conv {
        // The pooling moves into the layer after it, and the convolution goes first.
        front.fold_next(&mut out[0]);
        out.insert(0, front.toeplitz());
    }
    out
}

/// Run folded layers on `n` scaled rows in f32 (reference and calibration).
/// Returns the output of every layer (after ReLU for hidden layers).
pub fn forward_layers(layers: &[Dense], x: &[f32], n: usize) -> Vec<Vec<f32>> {
    let mut outs: Vec<Vec<f32>> = Vec::with_capacity(layers.len());
    for (i, l) in layers.iter().enumerate() {
        let input = if i == 0 { x } else { &outs[i - 1][..] };
        let mut y = Vec::with_capacity(n * l.d_out);
        for row in input.chunks_exact(l.d_in).take(n) {
            let mut acc = l.bias.clone();
            for (&v, w) in row.iter().zip(l.weight.chunks_exact(l.d_out)) {
                if v != 0.0 {
                    acc.iter_mut().zip(w).for_each(|(a, &w)| *a += v * w);
                }
            }
            if l.relu {
                acc.iter_mut().for_each(|a| *a = a.max(0.0));
            }
            y.extend(acc);
        }
        outs.push(y);
    }
    outs
}

/// One layer of the int8 model: `y = (a_u8 . W_i8) * multiplier + bias`, with `a_u8` the
/// layer input quantized at `input_scale` (zero point 0).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantDense {
    pub d_in: usize,
    pub d_out: usize,
    /// Row-major `[d_in, d_out]`, symmetric (-127..=127).
    pub weight: Vec<i8>,
    /// One weight scale per output column: a column of small weights keeps its resolution
    /// beside a column of large ones (per-tensor scales flipped 0.1% more code bits of the
    /// photo hash).
    pub weight_scale: Vec<f32>,
    /// Scale of this layer's u8 input.
    pub input_scale: f32,
    /// `input_scale * weight_scale[j]` per output.
    pub multiplier: Vec<f32>,
    /// Bias in the output domain (for the first layer it also holds the `-1` of the scaling).
    pub bias: Vec<f32>,
    pub relu: bool,
}

/// Symmetric int8 weights of a row-major `[d_in, d_out]` matrix, one scale per column.
fn symmetric_i8_columns(w: &[f32], d_out: usize) -> (Vec<i8>, Vec<f32>) {
    let mut max = vec![0f32; d_out];
    for row in w.chunks_exact(d_out) {
        max.iter_mut()
            .zip(row)
            .for_each(|(m, v)| *m = m.max(v.abs()));
    }
    let scale: Vec<f32> = max
        .iter()
        .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 })
        .collect();
    let q = w
        .chunks_exact(d_out)
        .flat_map(|row| {
            row.iter()
                .zip(&scale)
                .map(|(&v, &s)| (v / s).round().clamp(-127.0, 127.0) as i8)
        })
        .collect();
    (q, scale)
}

/// Quantize folded layers. `calibration` holds `n` scaled rows (x/128 - 1); each hidden
/// activation gets the scale `max / 255` over those rows.
pub fn quantize_layers(
    layers: &[Dense],
    calibration: &[f32],
    n: usize,
) -> Result<Vec<QuantDense>, ExportError> {
    if layers.is_empty() {
        return Err(ExportError::Invalid("the model has no layers".into()));
    }
    if n == 0 || calibration.len() < n * layers[0].d_in {
        return Err(ExportError::Invalid(format!(
            "calibration needs at least one row of {} values",
            layers[0].d_in
        )));
    }
    let acts = forward_layers(&layers[..layers.len() - 1], calibration, n);
    let mut out = Vec::with_capacity(layers.len());
    for (i, l) in layers.iter().enumerate() {
        let (weight, weight_scale) = symmetric_i8_columns(&l.weight, l.d_out);
        let (input_scale, bias) = if i == 0 {
            // Pixels p enter as u8 exactly: x = p/128 - 1, so
            // x.Wq*s = (s/128) p.Wq - s colsum(Wq): fold the second term into the bias.
            let mut colsum = vec![0i64; l.d_out];
            for row in weight.chunks_exact(l.d_out) {
                colsum
                    .iter_mut()
                    .zip(row)
                    .for_each(|(c, &w)| *c += w as i64);
            }
            let bias = l
                .bias
                .iter()
                .zip(&colsum)
                .zip(&weight_scale)
                .map(|((&b, &c), &s)| (b as f64 - s as f64 * c as f64) as f32)
                .collect();
            (1.0 / 128.0, bias)
        } else {
            let max = acts[i - 1].iter().fold(0f32, |m, &v| m.max(v));
            let scale = if max > 0.0 && max.is_finite() {
                max / 255.0
            } else {
                1.0
            };
            (scale, l.bias.clone())
        };
        let multiplier = weight_scale.iter().map(|s| input_scale * s).collect();
        out.push(QuantDense {
            d_in: l.d_in,
            d_out: l.d_out,
            weight,
            weight_scale,
            input_scale,
            multiplier,
            bias,
            relu: l.relu,
        });
    }
    Ok(out)
}

/// Describes the model for its metadata.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub task: Task,
    pub outputs: usize,
    /// Shape of one image (e.g. `[28, 28]`).
    pub input_shape: Vec<usize>,
    /// The training report, JSON.
    pub report_json: String,
    /// The view rule of a photo model (`imsat.view`), if any.
    pub view: Option<String>,
}

// ---- protobuf helpers ----

fn tensor_f32(name: &str, dims: &[usize], data: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn tensor_i8(name: &str, dims: &[usize], data: &[i8]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Int8 as i32,
        raw_data: data.iter().map(|&v| v as u8).collect(),
        ..Default::default()
    }
}

fn scalar_u8(name: &str, v: u8) -> pb::TensorProto {
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

fn model_proto(graph: pb::GraphProto, info: &ModelInfo, int8: Option<String>) -> pb::ModelProto {
    let shape = info
        .input_shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x");
    let mut props = vec![
        (meta::TASK, info.task.as_str().to_string()),
        (meta::OUTPUTS, info.outputs.to_string()),
        (meta::INPUT_SHAPE, shape),
        (meta::FORMAT_VERSION, FORMAT_VERSION.to_string()),
        (meta::REPORT, info.report_json.clone()),
        (meta::INT8, int8.is_some().to_string()),
    ];
    if let Some(q) = int8 {
        props.push((meta::QUANTIZATION, q));
    }
    if let Some(v) = &info.view {
        props.push((meta::VIEW, v.clone()));
    }
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
    let graph = pb::GraphProto {
        name: "imsat_encoder".into(),
        node: nodes,
        initializer: init,
        input: vec![value_info(INPUT_NAME, first.d_in)],
        output: vec![value_info(OUTPUT_NAME, last.d_out)],
        ..Default::default()
    };
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
        &[INPUT_NAME, "one", "zp_u8"],
        "q0",
    )];
    let mut init = vec![tensor_f32("one", &[], &[1.0]), scalar_u8("zp_u8", 0)];
    for (i, l) in layers.iter().enumerate() {
        let (w, m, b) = (format!("wq{i}"), format!("m{i}"), format!("b{i}"));
        init.push(tensor_i8(&w, &[l.d_in, l.d_out], &l.weight));
        init.push(tensor_f32(&m, &[l.d_out], &l.multiplier));
        init.push(tensor_f32(&b, &[l.d_out], &l.bias));
        let q = format!("q{i}");
        let acc = format!("acc{i}");
        nodes.push(node(
            "MatMulInteger",
            &format!("matmul{i}"),
            &[&q, &w],
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
                    &[&format!("lin{i}"), &s, "zp_u8"],
                    &format!("q{}", i + 1),
                ));
            }
        }
    }
    let graph = pb::GraphProto {
        name: "imsat_encoder_int8".into(),
        node: nodes,
        initializer: init,
        input: vec![value_info(INPUT_NAME, first.d_in)],
        output: vec![value_info(OUTPUT_NAME, last.d_out)],
        ..Default::default()
    };
    let how = format!(
        "MatMulInteger: u8 activations (zero point 0, scale = max over {calibration_rows} \
         calibration rows / 255; pixels exact) x symmetric int8 weights, one scale per output column"
    );
    Ok(model_proto(graph, info, Some(how)))
}

/// Serialize a model to ONNX bytes.
pub fn to_bytes(model: &pb::ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Evenly spaced rows (at most [`MAX_CALIBRATION_ROWS`]) of the images, scaled.
pub fn calibration_rows(images: &Images) -> (Vec<f32>, usize) {
    let d = images.dim();
    let take = images.n.min(MAX_CALIBRATION_ROWS);
    let mut pixels = Vec::with_capacity(take * d);
    for k in 0..take {
        let i = k * images.n / take.max(1);
        pixels.extend_from_slice(&images.pixels[i * d..(i + 1) * d]);
    }
    (scale_pixels(&pixels), take)
}

/// What [`write_models`] wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    pub f32_path: PathBuf,
    pub int8_path: PathBuf,
    pub f32_bytes: usize,
    pub int8_bytes: usize,
}

/// Write `model.onnx` (f32) and `model.int8.onnx` (int8, calibrated on `calibration`, the
/// training images) into `out_dir`, each through a temporary file and a rename.
pub fn write_models(
    trained: &Trained,
    calibration: &Images,
    report_json: &str,
    out_dir: &Path,
) -> Result<Exported, ExportError> {
    let layers = fold_layers(&trained.model);
    let info = ModelInfo {
        task: trained.config.task,
        outputs: trained.config.outputs,
        input_shape: calibration.shape.clone(),
        report_json: report_json.to_string(),
        view: trained.config.view.clone(),
    };
    let f32_bytes = to_bytes(&f32_model(&layers, &info)?);
    let (x, n) = calibration_rows(calibration);
    let quant = quantize_layers(&layers, &x, n)?;
    let int8_bytes = to_bytes(&int8_model(&quant, &info, n)?);
    let save = |name: &str, bytes: &[u8]| {
        let path = out_dir.join(name);
        write_atomic(&path, bytes).map_err(|source| ExportError::Io {
            path: path.clone(),
            source,
        })?;
        Ok::<_, ExportError>(path)
    };
    Ok(Exported {
        f32_path: save(F32_FILE, &f32_bytes)?,
        int8_path: save(INT8_FILE, &int8_bytes)?,
        f32_bytes: f32_bytes.len(),
        int8_bytes: int8_bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::inference_device;
    use crate::model::Norm;
    use burn::module::{Param, RunningState};
    use burn::tensor::TensorData;

    fn t1(v: Vec<f32>) -> Tensor<1> {
        let n = v.len();
        Tensor::from_data(TensorData::new(v, [n]), &inference_device())
    }

    /// A tiny encoder whose BatchNorm has non-trivial statistics and affine parameters.
    fn encoder() -> Encoder {
        let mut enc = Encoder::new(6, &[5, 4], 3, &inference_device());
        for (i, bn) in enc.norms.iter_mut().enumerate() {
            let d = bn.gamma.shape().dims::<1>()[0];
            let f = |a: f32, b: f32| (0..d).map(|j| a + b * (j + i) as f32).collect::<Vec<_>>();
            bn.gamma = Param::from_tensor(t1(f(0.5, 0.3)));
            bn.beta = Param::from_tensor(t1(f(-0.2, 0.1)));
            bn.running_mean = RunningState::new(t1(f(0.1, -0.05)));
            bn.running_var = RunningState::new(t1(f(0.2, 0.7)));
        }
        enc
    }

    #[test]
    fn folded_layers_compute_the_encoder_with_running_statistics() {
        let enc = encoder();
        let n = 7;
        let x: Vec<f32> = (0..n * 6)
            .map(|i| ((i * 37 % 23) as f32 / 11.5) - 1.0)
            .collect();
        let want = enc
            .forward(
                Tensor::from_data(TensorData::new(x.clone(), [n, 6]), &inference_device()),
                Norm::Train,
            )
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let layers = fold_layers(&enc);
        assert_eq!(layers.len(), 3);
        assert!(layers[0].relu && layers[1].relu && !layers[2].relu);
        let got = forward_layers(&layers, &x, n);
        for (a, b) in got[2].iter().zip(&want) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn quantized_layers_are_symmetric_and_fold_the_pixel_offset() {
        let layers = fold_layers(&encoder());
        let x: Vec<f32> = (0..10 * 6)
            .map(|i| (i * 41 % 256) as u8 as f32 / 128.0 - 1.0)
            .collect();
        let q = quantize_layers(&layers, &x, 10).unwrap();
        assert_eq!(q.len(), 3);
        assert_eq!(q[0].input_scale, 1.0 / 128.0);
        for (l, f) in q.iter().zip(&layers) {
            assert!(l.weight.iter().all(|&w| w >= -127));
            for j in 0..l.d_out {
                let col = |w: &[i8]| (0..l.d_in).map(|k| w[k * l.d_out + j]).collect::<Vec<_>>();
                // Every column uses its full range, at its own scale.
                let q_max = col(&l.weight).iter().map(|w| w.unsigned_abs()).max();
                assert_eq!(q_max, Some(127), "column {j}");
                assert!((l.multiplier[j] - l.input_scale * l.weight_scale[j]).abs() < 1e-12);
                let max = (0..l.d_in).fold(0f32, |m, k| m.max(f.weight[k * l.d_out + j].abs()));
                assert!((l.weight_scale[j] - max / 127.0).abs() <= 1e-7 * max);
            }
        }
        // Layer 0 on pixels p: s/128 * (p . Wq) + bias' equals (p/128 - 1) . (s Wq) + b.
        let (l, p) = (&q[0], [0u8, 255, 128, 7, 99, 200]);
        for j in 0..l.d_out {
            let acc: i32 = (0..6)
                .map(|k| p[k] as i32 * l.weight[k * l.d_out + j] as i32)
                .sum();
            let got = acc as f64 * l.multiplier[j] as f64 + l.bias[j] as f64;
            let want: f64 = (0..6)
                .map(|k| {
                    (p[k] as f64 / 128.0 - 1.0)
                        * l.weight_scale[j] as f64
                        * l.weight[k * l.d_out + j] as f64
                })
                .sum::<f64>()
                + layers[0].bias[j] as f64;
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
        assert!(quantize_layers(&layers, &[], 0).is_err());
    }

    #[test]
    fn models_refuse_metadata_that_does_not_match_the_layers() {
        let layers = fold_layers(&encoder());
        let mut info = ModelInfo {
            task: Task::Hash,
            outputs: 3,
            input_shape: vec![2, 3],
            report_json: "{}".into(),
            view: None,
        };
        let m = f32_model(&layers, &info).unwrap();
        let props: Vec<_> = m
            .metadata_props
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect();
        assert!(
            props.contains(&(meta::INPUT_SHAPE, "2x3")) && props.contains(&(meta::INT8, "false"))
        );
        info.input_shape = vec![28, 28];
        let e = f32_model(&layers, &info).unwrap_err().to_string();
        assert!(e.contains("input shape"), "{e}");
        info.input_shape = vec![6];
        info.outputs = 4;
        assert!(
            f32_model(&layers, &info)
                .unwrap_err()
                .to_string()
                .contains("outputs")
        );
    }
}
