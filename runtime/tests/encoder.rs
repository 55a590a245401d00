//! The ONNX encoder (`encoder::Encoder`) against tract run directly, outside it: on every
//! path (the native int8 executor with this CPU's kernel and the portable one, the native
//! f32 executor, tract alone) its logits are the model's on each image (a photo's the mean over its views),
//! in batches longer than one run and one image at a time; codes and cluster ids follow the
//! logits; and every file or batch it cannot serve is refused with an error naming the
//! problem. The CLI's tests reach the encoder too, but through minutes of build; this is the
//! runtime's own check, so it also runs on ARM under qemu.
#![cfg(feature = "encoder")]

mod common;
#[path = "common/rank4_graph.rs"]
mod rank4_graph;

use std::path::{Path, PathBuf};

use common::{digits, inputs_for, root};
use imsat_runtime::code::Codes;
use imsat_runtime::encoder::{Encoded, Encoder, EncoderError, MAX_ROWS_PER_RUN, Task, argmax_rows};
use imsat_runtime::int8::Kernel;
use prost::Message;
use rank4_graph::behind_a_convolution;
use tract_onnx::pb;
use tract_onnx::prelude::*;

fn model_path(file: &str) -> PathBuf {
    root().join("models").join(file)
}

/// Logits of `rows` model rows (`d` values each) through tract, loaded here for a batch of
/// exactly that many rows and not optimized (the encoder optimizes for any batch size).
fn tract_logits(file: &Path, rows: &[f32], d: usize) -> Vec<f32> {
    let n = rows.len() / d;
    let plan = tract_onnx::onnx()
        .model_for_path(file)
        .and_then(|m| m.with_input_fact(0, f32::fact([n, d]).into()))
        .and_then(|m| m.into_typed())
        .and_then(|m| m.into_runnable())
        .unwrap();
    let input = Tensor::from_shape(&[n, d], rows).unwrap();
    let out = plan.run(tvec!(input.into_tvalue())).unwrap();
    let view = out[0].to_plain_array_view::<f32>().unwrap();
    view.iter().copied().collect()
}

/// The mean over each image's `views` consecutive rows, written out (the encoder's
/// `per_image`).
fn mean_of_views(rows: &[f32], views: usize, outputs: usize) -> Vec<f32> {
    let mut out = Vec::new();
    for image in rows.chunks_exact(views * outputs) {
        for j in 0..outputs {
            let sum: f32 = (0..views).map(|v| image[v * outputs + j]).sum();
            out.push(sum / views as f32);
        }
    }
    out
}

/// `want` and `got` as equal as their path promises: bit for bit (int8: integer sums, then
/// the same float steps) or to float rounding (f32: sums in another order).
fn assert_close(got: &[f32], want: &[f32], exact: bool, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: logit count");
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = if exact {
            g.to_bits() == w.to_bits()
        } else {
            (g - w).abs() <= 1e-5 * scale
        };
        assert!(ok, "{what}: logit {i} is {g}, tract's {w}");
    }
}

/// The ways this encoder can run the model: its default, the native int8 executor on the
/// portable kernel (int8 models), and tract alone; with whether its logits equal tract's bit
/// for bit. (`int8_kernels.rs` checks every other kernel against the portable one.)
fn paths(enc: &Encoder) -> Vec<(&'static str, Encoder, bool)> {
    let int8 = enc.info().int8;
    let mut out = vec![
        ("default", enc.clone(), int8),
        ("tract", enc.clone().tract_only(), true),
    ];
    if let Some(generic) = enc.clone().with_int8_kernel("generic") {
        out.push(("generic", generic, true));
    }
    out
}

/// `n` images for `enc`: digits, through its view for a photo model.
fn images_for(enc: &Encoder, n: usize) -> Vec<u8> {
    let mut d = digits();
    d.truncate(n * 784);
    let images = inputs_for(enc.info(), &d);
    assert_eq!(images.len(), n * enc.input_dim());
    images
}

/// Logits on every path equal tract's on the model's rows (a photo's: the mean over its
/// views), for a batch, for its images one at a time, and from f32 pixels; codes are the
/// logits' signs, cluster ids their argmax. hash16's batch is longer than one run, so that
/// each path splits it and runs a short last part (on ARM too: about a minute under qemu);
/// photo64 runs four rows a photo.
#[test]
fn logits_codes_and_clusters_are_the_models_on_every_path() {
    let longer_than_a_run = MAX_ROWS_PER_RUN + 3;
    for (file, n) in [
        ("hash16.onnx", longer_than_a_run),
        ("hash16.int8.onnx", longer_than_a_run),
        ("cluster10.int8.onnx", 40),
        ("photo64.onnx", 5),
        ("photo64.int8.onnx", 5),
    ] {
        let path = model_path(file);
        let enc = Encoder::open(&path).unwrap();
        let images = images_for(&enc, n);
        let (views, k) = (enc.info().rows_per_image(), enc.outputs());
        let pixels: Vec<f32> = images.iter().map(|&p| p as f32).collect();
        let rows = tract_logits(&path, &pixels, enc.info().input_dim());
        assert_eq!(rows.len(), n * views * k, "{file}");
        let want = mean_of_views(&rows, views, k);
        for (name, e, exact) in paths(&enc) {
            let what = format!("{file} {name}");
            let logits = e.logits(&images).unwrap();
            assert_close(&logits, &want, exact, &what);
            assert_close(&e.logits_f32(&pixels).unwrap(), &want, exact, &what);
            for i in [0, 1, n - 1] {
                let one = &images[i * e.input_dim()..(i + 1) * e.input_dim()];
                let got = e.logits(one).unwrap();
                assert_close(&got, &want[i * k..(i + 1) * k], exact, &what);
            }
            // Codes and cluster ids of the first images (on 20, not to run the batch again).
            let (few, some) = (20.min(n), &images[..20.min(n) * e.input_dim()]);
            let logits = &logits[..few * k];
            match (e.task(), e.encode(some).unwrap()) {
                (Task::Hash, Encoded::Codes(codes)) => {
                    assert_eq!(codes, Codes::from_logits(k, logits).unwrap(), "{what}");
                    assert_eq!(codes, e.codes(some).unwrap(), "{what}");
                    assert_eq!((codes.len(), codes.bits()), (few, k), "{what}");
                }
                (Task::Cluster, Encoded::Clusters(ids)) => {
                    assert_eq!(ids, argmax_rows(logits, k).unwrap(), "{what}");
                    assert_eq!(ids, e.clusters(some).unwrap(), "{what}");
                    assert_eq!(ids.len(), few, "{what}");
                    assert!(ids.iter().any(|&c| c != ids[0]), "{what}: one cluster");
                }
                (task, other) => panic!("{what}: a {task} model gave {other:?}"),
            }
        }
        println!("{file}: {n} images, logits equal tract's on every path");
    }
}

/// Which executor runs: an int8 model in the exported layout on the native executor with
/// this CPU's best kernel (tract where that is the portable one), an f32 model on the native
/// f32 executor; a kernel picked by name, or tract alone, on request. And what the encoder
/// says of its model.
#[test]
fn the_executor_is_chosen_by_the_models_layout_and_the_cpu() {
    let best = Kernel::best();
    let int8 = Encoder::open(model_path("hash16.int8.onnx")).unwrap();
    let native = best != Kernel::Generic;
    assert_eq!(int8.uses_native_int8(), native);
    assert_eq!(int8.int8_kernel(), native.then(|| best.name()));
    assert!(!int8.uses_native_f32());
    for kernel in imsat_runtime::int8::kernels::ALL {
        let picked = int8.clone().with_int8_kernel(kernel.name());
        assert_eq!(picked.is_some(), kernel.supported(), "{}", kernel.name());
        if let Some(e) = picked {
            assert!(e.uses_native_int8());
            assert_eq!(e.int8_kernel(), Some(kernel.name()));
        }
    }
    assert!(int8.clone().with_int8_kernel("sse9").is_none());
    let tract = int8
        .clone()
        .with_int8_kernel("generic")
        .unwrap()
        .tract_only();
    assert!(!tract.uses_native_int8() && !tract.uses_native_f32());
    assert_eq!(tract.int8_kernel(), None);

    let f32 = Encoder::open(model_path("hash16.onnx")).unwrap();
    assert!(f32.uses_native_f32() && !f32.uses_native_int8());
    assert_eq!(f32.int8_kernel(), None);
    assert!(f32.clone().with_int8_kernel("generic").is_none());
    assert!(!f32.tract_only().uses_native_f32());

    let photo = model_path("photo64.int8.onnx");
    let enc = Encoder::open(&photo).unwrap();
    assert_eq!(enc.path(), photo.as_path());
    assert_eq!((enc.task(), enc.outputs()), (Task::Hash, 64));
    // Four views of 3 planes of 16x16 per photo; the metadata's shape is one view's.
    assert_eq!((enc.input_dim(), enc.info().input_dim()), (4 * 768, 768));
    let cluster = Encoder::open(model_path("cluster10.int8.onnx")).unwrap();
    assert_eq!((cluster.task(), cluster.outputs()), (Task::Cluster, 10));
    assert_eq!(cluster.input_dim(), 784);
}

/// A batch that is empty or not whole images (a photo's views belong together) is refused
/// on every path, and so is the other task's output, naming the model.
#[test]
fn batches_that_are_not_whole_images_and_the_other_task_are_refused() {
    for file in ["hash16.onnx", "photo64.int8.onnx", "cluster10.int8.onnx"] {
        let enc = Encoder::open(model_path(file)).unwrap();
        let width = enc.input_dim();
        for (name, e, _) in paths(&enc) {
            let what = format!("{file} {name}");
            let empty = [
                e.logits(&[]).unwrap_err(),
                e.logits_f32(&[]).unwrap_err(),
                e.encode(&[]).unwrap_err(),
            ];
            for err in empty {
                assert!(matches!(err, EncoderError::EmptyBatch), "{what}: {err:?}");
            }
            // One row short of an image (photo64: three of its four views), one value over.
            for len in [width - enc.info().input_dim(), width + 1, 2 * width - 1] {
                if len == 0 {
                    continue;
                }
                for err in [
                    e.logits(&vec![0; len]).unwrap_err(),
                    e.logits_f32(&vec![0.0; len]).unwrap_err(),
                    e.encode(&vec![0; len]).unwrap_err(),
                ] {
                    assert!(
                        matches!(err, EncoderError::BatchWidth { len: l, width: w }
                            if l == len && w == width),
                        "{what} {len}: {err:?}"
                    );
                }
            }
        }
        let two = vec![0u8; 2 * width];
        let (wrong, right) = match enc.task() {
            Task::Hash => (enc.clusters(&two).unwrap_err(), Task::Cluster),
            Task::Cluster => (enc.codes(&two).unwrap_err(), Task::Hash),
        };
        assert!(
            matches!(&wrong, EncoderError::WrongTask { path, expected, actual }
                if path == &model_path(file) && *expected == right && *actual == enc.task()),
            "{file}: {wrong:?}"
        );
        assert!(wrong.to_string().contains(file), "{wrong}");
        // A good call after the bad ones still works.
        assert!(enc.encode(&two).is_ok(), "{file}");
    }
}

/// A shipped model with `edit` made to its protobuf, as bytes.
fn edited(file: &str, edit: impl FnOnce(&mut pb::ModelProto)) -> Vec<u8> {
    let bytes = std::fs::read(model_path(file)).unwrap();
    let mut proto = pb::ModelProto::decode(&bytes[..]).unwrap();
    edit(&mut proto);
    proto.encode_to_vec()
}

/// The model's metadata `key` (which it has) set to `value`.
fn set_metadata(p: &mut pb::ModelProto, key: &str, value: &str) {
    let m = p.metadata_props.iter_mut().find(|m| m.key == key);
    m.unwrap().value = value.into();
}

/// The error opening `bytes` as `name` gives; it must name the file and say `words`.
fn refusal(bytes: &[u8], name: &str, words: &[&str]) -> EncoderError {
    let err = Encoder::from_bytes(bytes, name).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(name), "{text}");
    for w in words {
        assert!(text.contains(w), "{name}: {w:?} not in {text}");
    }
    err
}

/// The graph's output renamed `before`, and a node `op` from it to the output.
fn output_through(proto: &mut pb::ModelProto, op: &str) {
    let g = proto.graph.as_mut().unwrap();
    let out = g.output[0].name.clone();
    for o in g.node.iter_mut().flat_map(|n| n.output.iter_mut()) {
        if *o == out {
            *o = "before".into();
        }
    }
    g.node.push(pb::NodeProto {
        op_type: op.into(),
        input: vec!["before".into()],
        output: vec![out],
        ..Default::default()
    });
}

/// What cannot be read, is not an imsat model, or does not take and give what its metadata
/// says, is refused when opened, naming the file and the problem.
#[test]
fn files_it_cannot_serve_are_refused_naming_the_problem() {
    let missing = root().join("models/no-such-model.onnx");
    let err = Encoder::open(&missing).unwrap_err();
    assert!(matches!(err, EncoderError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-model.onnx"), "{err}");

    let err = refusal(&[], "empty.onnx", &["not a valid ONNX model", "empty file"]);
    assert!(matches!(err, EncoderError::NotOnnx { .. }));
    let err = refusal(b"not a model", "text.onnx", &["not a valid ONNX model"]);
    assert!(matches!(err, EncoderError::NotOnnx { .. }));

    let plain = edited("hash16.onnx", |p| p.metadata_props.clear());
    let err = refusal(&plain, "plain.onnx", &["not an imsat model"]);
    assert!(matches!(err, EncoderError::Metadata { .. }));
    let twice = edited("hash16.onnx", |p| {
        let mut task = p.metadata_props[0].clone();
        task.value = "cluster".into();
        p.metadata_props.push(task);
    });
    refusal(&twice, "twice.onnx", &["a metadata key is given twice"]);

    let two_outputs = edited("hash16.onnx", |p| {
        let g = p.graph.as_mut().unwrap();
        let mut second = g.output[0].clone();
        second.name = "h1".into();
        g.output.push(second);
    });
    let err = refusal(
        &two_outputs,
        "two.onnx",
        &["1 input and 1 output, found 1 and 2"],
    );
    assert!(matches!(err, EncoderError::Prepare { .. }));

    // The metadata promises 17 outputs; the graph gives 16.
    let wider = edited("hash16.onnx", |p| set_metadata(p, "imsat.outputs", "17"));
    refusal(&wider, "wider.onnx", &["the metadata promises f32 [N, 17]"]);

    // A hash model's output squashed into (0, 1) or below 0 would set (or clear) every bit;
    // a cluster model's argmax is the same after a softmax.
    for op in ["Sigmoid", "HardSigmoid", "Softmax", "LogSoftmax"] {
        let squashed = edited("hash16.onnx", |p| output_through(p, op));
        let name = format!("{op}.onnx");
        let words = [
            format!("its output comes from {op}"),
            format!("before the {op}"),
        ];
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        refusal(&squashed, &name, &words);
        let cluster = edited("cluster10.int8.onnx", |p| output_through(p, op));
        let enc = Encoder::from_bytes(&cluster, &name).unwrap();
        assert_eq!(enc.task(), Task::Cluster, "{op}");
    }
    // Another last operator is no reason to refuse.
    let relu = edited("hash16.onnx", |p| output_through(p, "Relu"));
    let enc = Encoder::from_bytes(&relu, "relu.onnx").unwrap();
    let codes = enc.codes(&digits()[..784 * 4]).unwrap();
    assert_eq!(codes.len(), 4);

    // The metadata's shape is not the graph's: tract's reason, and no word of a Reshape, as
    // the input is declared with two dimensions.
    let shape = edited("hash16.onnx", |p| {
        set_metadata(p, "imsat.input_shape", "27x27")
    });
    let err = refusal(&shape, "shape.onnx", &["the model cannot be prepared"]);
    assert!(!err.to_string().contains("Reshape"), "{err}");

    // imsat feeds rows [N, d]: a network declared for [N, 1, 28, 28] is told to reshape,
    // whether or not its initializers are listed as inputs before its input.
    for listed in [false, true] {
        let conv = edited("hash16.onnx", |p| behind_a_convolution(p, listed));
        let err = refusal(
            &conv,
            "rank4.onnx",
            &["declared with 4 dimensions", "[N, 784]", "put a Reshape"],
        );
        assert!(matches!(err, EncoderError::Prepare { .. }));
    }
}
