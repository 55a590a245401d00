//! Folding, quantization and the model metadata on a tiny encoder with non-trivial
//! BatchNorm statistics.

use super::*;
use crate::backend::{host_values, inference_device};
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
    let want = host_values(enc.forward(
        Tensor::from_data(TensorData::new(x.clone(), [n, 6]), &inference_device()),
        Norm::Train,
    ));
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

/// `gptq_round` against numpy on the same cases (`trainer/tests/fixtures/gptq_reference.py`,
/// the paper's algorithm as its reference code writes it): every int8 step equal, on inputs
/// of about unit size and on inputs 25 times larger, whose steps depend on the damping being
/// 1% of the Hessian's mean diagonal.
#[test]
fn gptq_rounds_as_the_numpy_reference() {
    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        n: usize,
        d_in: usize,
        d_out: usize,
        inputs: Vec<f32>,
        weight: Vec<f32>,
        scale: Vec<f32>,
        steps: Vec<i8>,
    }
    let cases: Vec<Case> =
        serde_json::from_str(include_str!("../../tests/fixtures/gptq_reference.json")).unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let x = gptq::matrix(&case.inputs, case.n, case.d_in);
        let w = gptq::matrix(&case.weight, case.d_in, case.d_out);
        let steps = gptq::gptq_round(&w, &case.scale, &x).unwrap();
        assert_eq!(steps, case.steps, "{}", case.name);
        // Not nearest rounding in disguise.
        let nearest: Vec<i8> = case
            .weight
            .iter()
            .enumerate()
            .map(|(k, v)| (v / case.scale[k % case.d_out]).round() as i8)
            .collect();
        assert_ne!(steps, nearest, "{}", case.name);
    }
}

/// Inputs that are all zero (a layer whose every input is a dead ReLU) leave nothing to
/// trade: each weight rounds to its nearest step. Shapes that do not match are refused.
#[test]
fn gptq_on_silent_inputs_rounds_to_the_nearest_step_and_checks_shapes() {
    let (n, d_in, d_out) = (10, 4, 3);
    let weight: Vec<f32> = (0..d_in * d_out).map(|i| (i as f32 * 0.37).sin()).collect();
    let scale = vec![1.0 / 127.0; d_out];
    let w = gptq::matrix(&weight, d_in, d_out);
    let zeros = nalgebra::DMatrix::zeros(n, d_in);
    let nearest: Vec<i8> = weight.iter().map(|v| (v * 127.0).round() as i8).collect();
    assert_eq!(gptq::gptq_round(&w, &scale, &zeros).unwrap(), nearest);
    let refused = |x: &nalgebra::DMatrix<f64>, scale: &[f32]| {
        let e = gptq::gptq_round(&w, scale, x).unwrap_err().to_string();
        assert!(
            e.contains("GPTQ needs calibration rows of 4 values and 3 scales"),
            "{e}"
        );
    };
    refused(&nalgebra::DMatrix::zeros(n, d_in + 1), &scale);
    refused(&zeros, &scale[..2]);
    refused(&nalgebra::DMatrix::zeros(0, d_in), &scale);
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

/// The metadata of a 3-bit hash on 2x3 pixels, as the tiny encoder's layers take them.
fn hash_info() -> ModelInfo {
    ModelInfo {
        task: Task::Hash,
        outputs: 3,
        input_shape: vec![2, 3],
        int8: false,
        report: "{}".into(),
        view: None,
        input: imsat_runtime::format::Input::Pixels,
        dedup_radius: None,
        soft_check: None,
        same_codes_as: Vec::new(),
    }
}

#[test]
fn models_refuse_metadata_that_does_not_match_the_layers() {
    let layers = fold_layers(&encoder());
    let mut info = hash_info();
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
            same_codes_as: vec!["ab".repeat(32)],
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

/// A zero running variance (a unit that never varied in training) folds as burn normalizes
/// it, with the epsilon added, not subtracted.
#[test]
fn a_unit_with_zero_running_variance_folds_as_burn_computes_it() {
    let mut enc = encoder();
    let d = enc.norms[0].running_var.value().dims()[0];
    let var: Vec<f32> = (0..d).map(|j| if j == 0 { 0.0 } else { 0.5 }).collect();
    enc.norms[0].running_var = RunningState::new(t1(var));
    // Its running mean far below its inputs: the unit is on (past the ReLU) for every row,
    // so what it computes reaches the output.
    let mean: Vec<f32> = (0..d).map(|j| if j == 0 { -10.0 } else { 0.1 }).collect();
    enc.norms[0].running_mean = RunningState::new(t1(mean));
    let n = 5;
    let x: Vec<f32> = (0..n * 6).map(|i| (i as f32 * 0.7).cos()).collect();
    let want = crate::train::predict_logits(&enc, &x, n).unwrap();
    let layers = fold_layers(&enc);
    check_finite(&layers).unwrap();
    let got = forward_layers(&layers, &x, n).pop().unwrap();
    for (a, b) in got.iter().zip(&want) {
        assert!(
            a.is_finite() && (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
            "{a} vs {b}"
        );
    }
}

/// Weights or biases that are not finite are refused, naming the folded layer.
#[test]
fn layers_holding_values_that_are_not_finite_are_refused_by_name() {
    let mut layers = fold_layers(&encoder());
    check_finite(&layers).unwrap();
    layers[1].weight[3] = f32::NAN;
    let e = check_finite(&layers).unwrap_err().to_string();
    assert!(e.contains("layer 2 ") && e.contains("not finite"), "{e}");
    layers[1].weight[3] = 0.5;
    layers[2].bias[0] = f32::INFINITY;
    let e = check_finite(&layers).unwrap_err().to_string();
    assert!(e.contains("layer 3 "), "{e}");
}

/// The output check reads up to 256 evenly spaced rows, each whole: a row that overflows
/// among them is found, whether the rows are few (all read) or many.
#[test]
fn the_output_check_reads_evenly_spaced_whole_rows() {
    // Overflows only where a row's two values differ (1e30 x their difference).
    let layer = Dense {
        d_in: 2,
        d_out: 1,
        weight: vec![1e30, -1e30],
        bias: vec![0.0],
        relu: false,
    };
    for (n, bad) in [(100usize, 99usize), (100, 0), (1000, 996), (1000, 500)] {
        let mut rows: Vec<f32> = (0..n).flat_map(|i| [i as f32, i as f32]).collect();
        check_outputs(std::slice::from_ref(&layer), &rows).unwrap();
        rows[2 * bad] += 1e10;
        let e = check_outputs(std::slice::from_ref(&layer), &rows);
        assert!(e.is_err(), "{n} rows, overflow in row {bad}: not found");
    }
}

/// Calibration takes evenly spaced rows, at most [`MAX_CALIBRATION_ROWS`], scaled as the
/// training scaled them.
#[test]
fn calibration_rows_are_evenly_spaced_and_scaled() {
    let rows = |n: usize| Images {
        n,
        shape: vec![2, 3],
        pixels: (0..n)
            .flat_map(|i| [(i % 256) as u8, (i / 256) as u8, 128, 0, 255, 7])
            .collect(),
    };
    for n in [7usize, 5000, 12_000] {
        let (x, take) = calibration_rows(&rows(n));
        assert_eq!(take, n.min(MAX_CALIBRATION_ROWS));
        assert_eq!(x.len(), take * 6);
        for (k, row) in x.chunks(6).enumerate() {
            let i = k * n / take;
            let pixel = |v: f32| ((v + 1.0) * 128.0).round() as usize;
            assert_eq!(pixel(row[0]) + 256 * pixel(row[1]), i, "{n} rows: row {k}");
            assert_eq!(
                &row[2..],
                &[0.0, -1.0, 255.0 / 128.0 - 1.0, 7.0 / 128.0 - 1.0]
            );
        }
    }
    assert_eq!(calibration_rows(&rows(0)), (vec![], 0));
}

/// Change a Linear's row-major `[d_in, d_out]` weights in place.
fn edit_weight(linear: &mut burn::nn::Linear, edit: impl FnOnce(&mut [f32], usize)) {
    let [d_in, d_out] = linear.weight.shape().dims::<2>();
    let mut values = host_values(linear.weight.val());
    edit(&mut values, d_out);
    linear.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(values, [d_in, d_out]),
        &inference_device(),
    ));
}

fn trained(model: Encoder, view: Option<&str>) -> crate::train::Trained {
    let mut config = crate::train::TrainConfig::hash(3);
    config.view = view.map(str::to_string);
    crate::train::Trained::untrained(model, config)
}

fn pixel_rows(n: usize) -> Images {
    Images {
        n,
        shape: vec![2, 3],
        pixels: (0..n * 6).map(|i| (i * 7919 % 251) as u8).collect(),
    }
}

/// Calibration images that are not the model's input (another width, or fields that
/// disagree) are refused before anything is written: they were sliced out of bounds, or set
/// the exported model's declared shape.
#[test]
fn calibration_images_must_be_the_model_s_input() {
    let t = trained(encoder(), None);
    let dir = tempfile::tempdir().unwrap();
    let wide = Images {
        n: 10,
        shape: vec![3, 3],
        pixels: vec![9; 90],
    };
    let short = Images {
        pixels: vec![9; 59],
        ..pixel_rows(10)
    };
    for (images, words) in [
        (wide, "have 9 pixels each, and the model takes 6"),
        (short, "59 pixels are not 10 images"),
    ] {
        let e = write_models(&t, &images, "{}", None, None, dir.path()).unwrap_err();
        assert!(matches!(e, ExportError::Invalid(_)), "{e}");
        assert!(e.to_string().contains(words), "{e}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// `write_models` writes both files, says their sizes, and measures the int8 model's code-bit
/// agreement on evenly spaced rows (up to 1,024) against burn's own forward pass; a photo
/// model's is not measured here.
#[test]
fn written_models_report_their_sizes_and_the_int8_agreement() {
    for n in [600usize, 3000] {
        let images = pixel_rows(n);
        let t = trained(encoder(), None);
        let dir = tempfile::tempdir().unwrap();
        let out = write_models(&t, &images, "{}", None, None, dir.path()).unwrap();
        let f32_file = std::fs::read(&out.f32_path).unwrap();
        let int8_file = std::fs::read(&out.int8_path).unwrap();
        assert_eq!(out.f32_path, dir.path().join(F32_FILE));
        assert_eq!(out.int8_path, dir.path().join(INT8_FILE));
        assert_eq!(
            (out.f32_bytes, out.int8_bytes),
            (f32_file.len(), int8_file.len())
        );

        let take = n.min(1024);
        let pixels: Vec<u8> = (0..take)
            .flat_map(|k| {
                let i = k * n / take;
                images.pixels[i * 6..(i + 1) * 6].to_vec()
            })
            .collect();
        let int8 = Int8Model::from_onnx(&int8_file)
            .unwrap()
            .logits(&pixels)
            .unwrap();
        let exact = crate::train::predict_logits(&t.model, &scale_pixels(&pixels), take).unwrap();
        let same = int8
            .iter()
            .zip(&exact)
            .filter(|(a, b)| (**a > 0.0) == (**b > 0.0))
            .count();
        let want = same as f64 / exact.len() as f64;
        let got = out.int8_agreement.expect("a hash model's agreement");
        assert!((got - want).abs() < 1e-9, "{n} rows: {got} vs {want}");
        assert!(got > 0.9, "{got}");
    }
    let dir = tempfile::tempdir().unwrap();
    let photo = trained(encoder(), Some("gray-area-2x3-norm"));
    let out = write_models(&photo, &pixel_rows(50), "{}", None, None, dir.path()).unwrap();
    assert_eq!(out.int8_agreement, None);
    assert!(out.int8_path.exists());
}

/// A model that cannot be exported is refused before anything is written: the files already
/// in the folder stay as they were.
#[test]
fn refused_models_leave_the_folder_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    for name in [F32_FILE, INT8_FILE] {
        write_atomic(&dir.path().join(name), b"the user's model").unwrap();
    }
    let kept = || {
        for name in [F32_FILE, INT8_FILE] {
            assert_eq!(
                std::fs::read(dir.path().join(name)).unwrap(),
                b"the user's model"
            );
        }
    };
    // A weight that is not finite.
    let mut enc = encoder();
    edit_weight(&mut enc.output, |w, _| w[0] = f32::NAN);
    let e = write_models(
        &trained(enc, None),
        &pixel_rows(50),
        "{}",
        None,
        None,
        dir.path(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("layer 3 of the trained model") && e.contains("not finite"),
        "{e}"
    );
    kept();

    // Finite f32 weights whose int8 bias overflows: four inputs that are always 0 (pixel
    // 128) carry weights near f32's largest, harmless in f32 (times 0) but summed into the
    // first layer's folded bias (-scale x the column's step sum).
    let mut enc = encoder();
    edit_weight(&mut enc.hidden[0], |w, d_out| {
        for k in 0..4 {
            w[k * d_out] = 1e38;
        }
    });
    let mut images = pixel_rows(50);
    for row in images.pixels.chunks_mut(6) {
        row[..4].fill(128);
    }
    let e = write_models(&trained(enc, None), &images, "{}", None, None, dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("layer 1 of the int8 model") && e.contains("not finite"),
        "{e}"
    );
    kept();
}

/// What ONNX readers other than tract require of both files: the IR version and the default
/// opset declared, every node named (names unique), the input and output typed f32 `[N,
/// width]`; and who wrote the file.
#[test]
fn model_files_declare_their_onnx_version_and_typed_inputs_and_outputs() {
    use prost::Message;
    use tract_onnx::pb::tensor_shape_proto::dimension::Value;
    let enc = encoder();
    let layers = fold_layers(&enc);
    let x = crate::train::scale_pixels(&pixel_rows(10).pixels);
    let quant = quantize_layers(&layers, &x, 10).unwrap();
    let info = hash_info();
    let files = [
        to_bytes(&f32_model(&layers, &info).unwrap()),
        to_bytes(&int8_model(&quant, &info, 10).unwrap()),
    ];
    // Both run, through tract as the runtime's encoder opens them, and give burn's logits
    // (the int8 one within its rounding).
    let pixels = pixel_rows(10).pixels;
    let want = crate::train::predict_logits(&enc, &x, 10).unwrap();
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (bytes, tolerance) in files.iter().zip([1e-4 * scale, 0.1 * scale]) {
        let got = imsat_runtime::encoder::Encoder::from_bytes(bytes, "test.onnx")
            .unwrap()
            .logits(&pixels)
            .unwrap();
        assert_eq!(got.len(), want.len());
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() <= tolerance, "{a} vs {b}");
        }
    }
    for bytes in files {
        let m = tract_onnx::pb::ModelProto::decode(bytes.as_slice()).unwrap();
        assert_eq!((m.ir_version, IR_VERSION), (8, 8));
        assert_eq!(m.opset_import.len(), 1);
        assert_eq!(
            (m.opset_import[0].domain.as_str(), m.opset_import[0].version),
            ("", 13)
        );
        assert_eq!(m.producer_name, "imsat");
        assert_eq!(m.producer_version, env!("CARGO_PKG_VERSION"));
        assert!(m.doc_string.contains("raw pixels"), "{}", m.doc_string);
        let g = m.graph.unwrap();
        assert!(g.name.starts_with("imsat_encoder"), "graph {:?}", g.name);
        let mut names: Vec<&str> = g.node.iter().map(|n| n.name.as_str()).collect();
        assert!(names.iter().all(|n| !n.is_empty()));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), g.node.len());
        // Attributes say their type (the int8 model's Cast to float).
        for n in &g.node {
            for a in &n.attribute {
                assert_ne!(a.r#type, 0, "{}: attribute {} has no type", n.name, a.name);
            }
            if n.op_type == "Cast" {
                let to = &n.attribute[0];
                assert_eq!(to.name, "to");
                assert_eq!(
                    to.r#type,
                    tract_onnx::pb::attribute_proto::AttributeType::Int as i32
                );
                assert_eq!(to.i, tract_onnx::pb::tensor_proto::DataType::Float as i64);
            }
        }
        for (io, name, width) in [(&g.input, INPUT_NAME, 6), (&g.output, OUTPUT_NAME, 3)] {
            assert_eq!(io.len(), 1);
            assert_eq!(io[0].name, name);
            let Some(tract_onnx::pb::type_proto::Value::TensorType(t)) =
                io[0].r#type.as_ref().and_then(|t| t.value.as_ref())
            else {
                panic!("{name} has no tensor type");
            };
            assert_eq!(
                t.elem_type,
                tract_onnx::pb::tensor_proto::DataType::Float as i32
            );
            let dims: Vec<Option<Value>> = t
                .shape
                .as_ref()
                .unwrap()
                .dim
                .iter()
                .map(|d| d.value.clone())
                .collect();
            assert_eq!(
                dims,
                [
                    Some(Value::DimParam("N".into())),
                    Some(Value::DimValue(width))
                ]
            );
        }
    }
}

/// Calibration shorter than its row count says is refused by name, as is none at all; a
/// column of zero weights keeps a usable scale (1, not 0 that a reader would divide by).
#[test]
fn quantization_refuses_short_calibration_and_keeps_zero_columns_usable() {
    let mut layers = fold_layers(&encoder());
    let x = crate::train::scale_pixels(&pixel_rows(4).pixels);
    for (rows, n) in [(&x[..0], 0), (&x[..11], 2), (&x[..], 5)] {
        let e = quantize_layers(&layers, rows, n).unwrap_err().to_string();
        assert!(
            e.contains("calibration needs at least one row of 6 values"),
            "{e}"
        );
    }
    let d_out = layers[1].d_out;
    for k in 0..layers[1].d_in {
        layers[1].weight[k * d_out + 2] = 0.0;
    }
    let q = quantize_layers(&layers, &x, 4).unwrap();
    assert_eq!(q[1].weight_scale[2], 1.0);
    assert!((0..q[1].d_in).all(|k| q[1].weight[k * d_out + 2] == 0));
    assert!(q.iter().all(|l| l.weight_scale.iter().all(|s| *s > 0.0)));
}

/// A hidden layer that is dead on every calibration row (all its ReLUs at 0) still
/// quantizes: the next layer's input scale is 1, not 0 (which would divide by zero).
#[test]
fn a_layer_dead_on_the_calibration_rows_still_quantizes() {
    let mut layers = fold_layers(&encoder());
    layers[0].bias.iter_mut().for_each(|b| *b = -1e3);
    let x = crate::train::scale_pixels(&pixel_rows(8).pixels);
    let q = quantize_layers(&layers, &x, 8).unwrap();
    assert_eq!(q[1].input_scale, 1.0);
    assert!(q[1].bias.iter().chain(&q[2].bias).all(|b| b.is_finite()));
}

/// An int8 file of the earlier layout (int8 weights, `MatMulInteger` without zero points)
/// upgrades to the bytes the exporter writes now, and both layouts give the same logits on
/// the native executor and tract; other files are refused, each with its reason.
#[test]
fn an_earlier_int8_file_upgrades_to_the_current_export() {
    use super::onnx::U8_WEIGHTS_NOTE;
    use imsat_runtime::format::{keys, signed_weight};
    use tract_onnx::pb::tensor_proto::DataType;
    let layers = fold_layers(&encoder());
    let rows = pixel_rows(10);
    let quant = quantize_layers(&layers, &crate::train::scale_pixels(&rows.pixels), 10).unwrap();
    let info = hash_info();
    let current = int8_model(&quant, &info, 10).unwrap();
    let mut earlier = current.clone();
    let g = earlier.graph.as_mut().unwrap();
    g.initializer.retain(|t| t.name != "zp_w");
    for n in g.node.iter_mut().filter(|n| n.op_type == "MatMulInteger") {
        assert_eq!(n.input[2..], ["zp_u8", "zp_w"]);
        n.input.truncate(2);
    }
    for t in g
        .initializer
        .iter_mut()
        .filter(|t| t.name.starts_with("wq"))
    {
        assert_eq!(t.data_type, DataType::Uint8 as i32);
        t.data_type = DataType::Int8 as i32;
        t.raw_data
            .iter_mut()
            .for_each(|b| *b = signed_weight(*b) as u8);
    }
    let note = earlier
        .metadata_props
        .iter_mut()
        .find(|p| p.key == keys::QUANTIZATION)
        .unwrap();
    note.value = note
        .value
        .strip_suffix(U8_WEIGHTS_NOTE)
        .unwrap()
        .to_string();
    let (earlier, current) = (to_bytes(&earlier), to_bytes(&current));
    assert_ne!(earlier, current);
    assert_eq!(upgrade_int8(&earlier).unwrap(), current);

    let logits = |bytes: &[u8]| {
        let native = Int8Model::from_onnx(bytes)
            .unwrap()
            .logits(&rows.pixels)
            .unwrap();
        let tract = imsat_runtime::encoder::Encoder::from_bytes(bytes, "test.int8.onnx")
            .unwrap()
            .tract_only()
            .logits(&rows.pixels)
            .unwrap();
        assert_eq!(native, tract);
        native
    };
    assert_eq!(logits(&earlier), logits(&current));

    let f32_file = to_bytes(&f32_model(&layers, &info).unwrap());
    for (bytes, why) in [
        (&current[..], "already stored as u8"),
        (&f32_file[..], "an f32 model"),
        (&[][..], "not a model exported by imsat"),
        (&[0x6a, 0x75][..], "not an ONNX model"),
    ] {
        let e = upgrade_int8(bytes).unwrap_err().to_string();
        assert!(e.contains(why), "{why}: {e}");
    }
}

/// A declaration adds SHA-256s to the metadata (lowercased, each once, after those already
/// named) and leaves the graph as it was; a list that is not SHA-256s and a file that is not
/// imsat's are refused.
#[test]
fn a_model_declares_the_files_of_the_same_codes() {
    use super::declare_same_codes;
    use tract_onnx::pb;
    let layers = fold_layers(&encoder());
    let exported = to_bytes(&f32_model(&layers, &hash_info()).unwrap());
    let (a, b) = ("ab".repeat(32), "0C".repeat(32));
    let once = declare_same_codes(&exported, std::slice::from_ref(&a)).unwrap();
    let twice = declare_same_codes(&once, &[b.clone(), a.to_uppercase()]).unwrap();
    let parse = |bytes: &[u8]| {
        let model = Model::parse(bytes).unwrap();
        imsat_runtime::format::ModelInfo::from_metadata(|k| model.metadata(k)).unwrap()
    };
    assert!(parse(&exported).same_codes_as.is_empty());
    assert_eq!(declare_same_codes(&exported, &[]).unwrap(), exported);
    assert_eq!(parse(&once).same_codes_as, std::slice::from_ref(&a));
    assert_eq!(parse(&twice).same_codes_as, [a.clone(), b.to_lowercase()]);
    let graph = |bytes: &[u8]| {
        use prost::Message;
        pb::ModelProto::decode(bytes).unwrap().graph.unwrap()
    };
    assert_eq!(graph(&twice), graph(&exported));
    let x = pixel_rows(4).pixels;
    let logits = |bytes: &[u8]| {
        imsat_runtime::encoder::Encoder::from_bytes(bytes, "test.onnx")
            .unwrap()
            .logits(&x)
            .unwrap()
    };
    assert_eq!(logits(&twice), logits(&exported));
    for (bytes, list, why) in [
        (&exported[..], vec![a[1..].to_string()], "not a SHA-256"),
        (&exported[..], vec![format!("{a},{b}")], "not a SHA-256"),
        (&[][..], vec![a.clone()], "not a model exported by imsat"),
        (&[0x6a, 0x75][..], vec![a.clone()], "not an ONNX model"),
    ] {
        let e = declare_same_codes(bytes, &list).unwrap_err().to_string();
        assert!(e.contains(why), "{why}: {e}");
    }
}
