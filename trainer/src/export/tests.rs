//! Folding, quantization and the model metadata on a tiny encoder with non-trivial
//! BatchNorm statistics.

use super::*;
use crate::backend::inference_device;
use crate::loss::Task;
use crate::model::{Encoder, Norm};
use burn::module::{Param, RunningState};
use burn::tensor::{Tensor, TensorData};
use imsat_runtime::format::onnx::Model;
use imsat_runtime::int8::Int8Model;

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
    let pixels: Vec<u8> = (0..10 * 6).map(|i| (i * 41 % 256) as u8).collect();
    let x = crate::train::scale_pixels(&pixels);
    let q = quantize_layers(&layers, &x, 10).unwrap();
    assert_eq!(q.len(), 3);
    assert_eq!(q[0].input_scale, 1.0 / 128.0);
    for (l, f) in q.iter().zip(&layers) {
        assert!(l.weight.iter().all(|&w| w >= -127));
        for j in 0..l.d_out {
            assert!((l.multiplier[j] - l.input_scale * l.weight_scale[j]).abs() < 1e-12);
            // Every column at its own scale: its largest weight maps to 127.
            let max = (0..l.d_in).fold(0f32, |m, k| m.max(f.weight[k * l.d_out + j].abs()));
            assert!((l.weight_scale[j] - max / 127.0).abs() <= 1e-7 * max);
        }
    }
    // Layer 0 on pixels p is (p/128 - 1) . (s Wq) + a bias: the -1 is folded into the bias
    // (differences between rows are the steps alone) ...
    let l = &q[0];
    let int8_layer0 = |p: &[u8]| -> Vec<f64> {
        (0..l.d_out)
            .map(|j| {
                let acc: i32 = (0..6)
                    .map(|k| p[k] as i32 * l.weight[k * l.d_out + j] as i32)
                    .sum();
                acc as f64 * l.multiplier[j] as f64 + l.bias[j] as f64
            })
            .collect()
    };
    let (a, b) = (&pixels[..6], &pixels[6..12]);
    for (j, (ya, yb)) in int8_layer0(a).iter().zip(int8_layer0(b)).enumerate() {
        let want: f64 = (0..6)
            .map(|k| {
                (a[k] as f64 - b[k] as f64) / 128.0
                    * l.weight_scale[j] as f64
                    * l.weight[k * l.d_out + j] as f64
            })
            .sum();
        assert!((ya - yb - want).abs() < 1e-5, "{} vs {want}", ya - yb);
    }
    // ... and the bias is the f32 layer's, corrected so that the mean output over the
    // calibration rows is the f32 layer's.
    let f32_layer0 = forward_layers(
        &[Dense {
            relu: false,
            ..layers[0].clone()
        }],
        &x,
        10,
    )
    .pop()
    .unwrap();
    for j in 0..l.d_out {
        let mean_int8: f64 = pixels.chunks(6).map(|p| int8_layer0(p)[j]).sum::<f64>() / 10.0;
        let mean_f32: f64 = (0..10)
            .map(|r| f32_layer0[r * l.d_out + j] as f64)
            .sum::<f64>()
            / 10.0;
        assert!(
            (mean_int8 - mean_f32).abs() < 1e-5,
            "{mean_int8} vs {mean_f32}"
        );
    }
    assert!(quantize_layers(&layers, &[], 0).is_err());
}

/// `gptq_round` against numpy on the same case (`trainer/tests/fixtures/gptq_reference.py`,
/// the paper's algorithm as its reference code writes it): every int8 step equal.
#[test]
fn gptq_rounds_as_the_numpy_reference() {
    #[derive(serde::Deserialize)]
    struct Case {
        n: usize,
        d_in: usize,
        d_out: usize,
        inputs: Vec<f32>,
        weight: Vec<f32>,
        scale: Vec<f32>,
        steps: Vec<i8>,
    }
    let case: Case =
        serde_json::from_str(include_str!("../../tests/fixtures/gptq_reference.json")).unwrap();
    let x = gptq::matrix(&case.inputs, case.n, case.d_in);
    let w = gptq::matrix(&case.weight, case.d_in, case.d_out);
    let steps = gptq::gptq_round(&w, &case.scale, &x).unwrap();
    assert_eq!(steps, case.steps);
    // Not nearest rounding in disguise.
    let nearest: Vec<i8> = case
        .weight
        .iter()
        .enumerate()
        .map(|(k, v)| (v / case.scale[k % case.d_out]).round() as i8)
        .collect();
    assert_ne!(steps, nearest);
}

/// On inputs that move together (positive, in pairs), GPTQ leaves a much smaller output
/// error on the calibration rows than rounding each weight to its nearest step; and
/// calibration that is not finite is refused by name.
#[test]
fn gptq_keeps_the_outputs_closer_than_nearest_rounding() {
    let (n, d_in, d_out) = (200, 32, 8);
    let noise = |i: usize| ((i * 7919 % 1009) as f32 / 1009.0) - 0.5;
    let inputs: Vec<f32> = (0..n * d_in)
        .map(|i| (noise(i / 2 * 2 + 1) + 0.5) * 2.0 + 0.05 * noise(i * 13 + 5).abs())
        .collect();
    let weight: Vec<f32> = (0..d_in * d_out).map(|i| noise(i * 31 + 3)).collect();
    let scale: Vec<f32> = (0..d_out)
        .map(|j| (0..d_in).fold(0f32, |m, k| m.max(weight[k * d_out + j].abs())) / 127.0)
        .collect();
    let (x, w) = (
        gptq::matrix(&inputs, n, d_in),
        gptq::matrix(&weight, d_in, d_out),
    );
    let error = |steps: &[i8]| {
        let q = nalgebra::DMatrix::from_fn(d_in, d_out, |k, j| {
            steps[k * d_out + j] as f64 * scale[j] as f64
        });
        (&x * (&w - q)).norm_squared()
    };
    let nearest: Vec<i8> = (0..d_in * d_out)
        .map(|k| (weight[k] / scale[k % d_out]).round() as i8)
        .collect();
    let gptq = gptq::gptq_round(&w, &scale, &x).unwrap();
    let (e_gptq, e_nearest) = (error(&gptq), error(&nearest));
    assert!(
        e_gptq < 0.5 * e_nearest,
        "GPTQ {e_gptq}, nearest {e_nearest}"
    );

    let mut bad = inputs.clone();
    bad[5] = f32::NAN;
    let e = gptq::gptq_round(&w, &scale, &gptq::matrix(&bad, n, d_in)).unwrap_err();
    assert!(e.to_string().contains("not finite"), "{e}");
}

#[test]
fn models_refuse_metadata_that_does_not_match_the_layers() {
    let layers = fold_layers(&encoder());
    let mut info = ModelInfo {
        task: Task::Hash,
        outputs: 3,
        input_shape: vec![2, 3],
        int8: false,
        report: "{}".into(),
        view: None,
        input: imsat_runtime::format::Input::Pixels,
        dedup_radius: None,
        soft_check: None,
    };
    let m = f32_model(&layers, &info).unwrap();
    let props: Vec<_> = m
        .metadata_props
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    assert!(props.contains(&(meta::INPUT_SHAPE, "2x3")) && props.contains(&(meta::INT8, "false")));
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

/// The runtime's own readers (the metadata parser and the native int8 loader) open both
/// models of both tasks with the constants the trainer wrote.
#[test]
fn the_runtime_reads_back_what_the_trainer_writes() {
    let layers = fold_layers(&encoder());
    let pixels: Vec<u8> = (0..10 * 6).map(|i| (i * 41 % 256) as u8).collect();
    let x = crate::train::scale_pixels(&pixels);
    let quant = quantize_layers(&layers, &x, 10).unwrap();
    let want_f32 = forward_layers(&layers, &x, 10).pop().unwrap();
    for task in [Task::Hash, Task::Cluster] {
        let info = ModelInfo {
            task,
            outputs: 3,
            input_shape: vec![2, 3],
            int8: false,
            report: r#"{"n":10}"#.into(),
            view: Some(imsat_runtime::view::View::from_metadata("gray-area-2x3-norm").unwrap()),
            input: imsat_runtime::format::Input::Pixels,
            dedup_radius: Some(2),
            soft_check: Some(imsat_runtime::soft_code::SoftCheck {
                radius: 3,
                max_distance: 1.5,
            }),
        };
        let f32_bytes = to_bytes(&f32_model(&layers, &info).unwrap());
        let int8_bytes = to_bytes(&int8_model(&quant, &info, 10).unwrap());
        for (bytes, int8) in [(&f32_bytes, false), (&int8_bytes, true)] {
            let model = Model::parse(bytes).unwrap();
            let read = imsat_runtime::format::ModelInfo::from_metadata(|k| model.metadata(k))
                .unwrap_or_else(|e| panic!("{task} int8={int8}: {e}"));
            assert_eq!(read.task, task);
            assert_eq!(read.outputs, 3);
            assert_eq!(read.input_shape, vec![2, 3]);
            assert_eq!(read.int8, int8);
            assert_eq!(read.report, info.report);
            assert_eq!(read.view, info.view);
            assert_eq!(read.dedup_radius, Some(2));
            assert_eq!(read.soft_check, info.soft_check);
        }
        let native = Int8Model::from_onnx(&int8_bytes).unwrap();
        assert_eq!(native.info().task, task);
        assert_eq!(native.input_dim(), 6);
        let logits = native.logits(&pixels).unwrap();
        assert_eq!(logits.len(), want_f32.len());
        // Close to the f32 layers: the quantized weights and calibrated scales were kept.
        let scale = want_f32.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (a, b) in logits.iter().zip(&want_f32) {
            assert!((a - b).abs() <= 0.1 * scale, "{a} vs {b} (scale {scale})");
        }
        assert!(Int8Model::from_onnx(&f32_bytes).is_err());
    }
}

/// A layer wider than GPTQ factors in reasonable time is rounded to the nearest steps (a
/// 16384-wide hidden layer kept the export busy for over 7 minutes).
#[test]
fn layers_wider_than_gptq_takes_round_to_the_nearest_step() {
    let (d_in, d_out, n) = (GPTQ_MAX_INPUTS + 1, 3, 4);
    let weight: Vec<f32> = (0..d_in * d_out)
        .map(|k| ((k * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let layer = Dense {
        d_in,
        d_out,
        weight: weight.clone(),
        bias: vec![0.0; d_out],
        relu: false,
    };
    let calibration: Vec<f32> = (0..n * d_in).map(|k| (k % 13) as f32 / 13.0).collect();
    let q = quantize_layers(&[layer], &calibration, n).unwrap();
    for (k, (&w, &step)) in weight.iter().zip(&q[0].weight).enumerate() {
        let scale = q[0].weight_scale[k % d_out];
        assert_eq!(step, (w / scale).round() as i8, "weight {k}");
    }
}

/// Finite weights whose outputs overflow f32 on the training rows (what a last step at a
/// huge learning rate leaves) are refused as divergence, naming the layer; the same layers
/// scaled down pass.
#[test]
fn layers_whose_outputs_are_not_finite_are_refused() {
    let layer = |w: f32, relu| Dense {
        d_in: 2,
        d_out: 2,
        weight: vec![w, -w, w, w],
        bias: vec![0.0, 1.0],
        relu,
    };
    let rows = [1.0f32, 0.5, -0.25, 1.0, 0.75, -1.0];
    check_outputs(&[layer(1.0, true), layer(2.0, false)], &rows).unwrap();
    let huge = [layer(1e30, true), layer(1e30, false)];
    assert!(huge.iter().all(|l| l.weight.iter().all(|v| v.is_finite())));
    check_finite(&huge).unwrap();
    let e = check_outputs(&huge, &rows).unwrap_err().to_string();
    assert!(e.contains("layer 2") && e.contains("not finite"), "{e}");
    assert!(e.contains("--lr"), "{e}");
}
