//! Every native int8 kernel this CPU runs gives the generic kernel's logits exactly, for every
//! shipped int8 model on the 10,000 bundled digits, and the codes (or cluster ids) of tract
//! (`IMSAT_TEST_INT8_DIGITS` sets fewer; the ARM CI sets 2,000, see
//! `common::int8_digits`).
//! This is the runtime crate's own check, so it also runs on aarch64 under qemu, where the
//! root crate's `tests/onnx_export.rs` (which trains with burn) is too heavy. A kernel the
//! CPU lacks prints `NOT RUN`.
#![cfg(feature = "encoder")]

mod common;

use common::{int8_digits, root, test_per_model};
use std::time::Instant;

use imsat_runtime::encoder::{Encoder, Task};
use imsat_runtime::output::argmax_rows;
use imsat_runtime::prelude::Codes;

const MODELS: [&str; 4] = ["hash16", "hash32", "hash64", "cluster10"];
const KERNELS: [&str; 4] = ["vnni", "avx2", "dotprod", "neon"];

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

test_per_model!(
    native_int8_kernels_give_the_generic_logits_on_the_digits,
    super::kernels_give_the_generic_logits,
    [hash16, hash32, hash64, cluster10]
);

fn kernels_give_the_generic_logits(model: &str) {
    let (n, images) = int8_digits();
    let enc = Encoder::open(root().join(format!("models/{model}.int8.onnx"))).unwrap();
    let generic = enc.clone().with_int8_kernel("generic").unwrap();
    let t = Instant::now();
    let want = generic.logits(&images).unwrap();
    let generic_s = t.elapsed().as_secs_f64();
    println!("{model} generic: {generic_s:.2} s for {n} digits");
    for kernel in KERNELS {
        let Some(native) = enc.clone().with_int8_kernel(kernel) else {
            println!("{model} {kernel}: NOT RUN (this CPU lacks it)");
            continue;
        };
        let t = Instant::now();
        let got = native.logits(&images).unwrap();
        let s = t.elapsed().as_secs_f64();
        println!(
            "{model} {kernel}: {s:.2} s, {:.1}x the generic kernel, logits identical",
            generic_s / s
        );
        assert!(bits(&got) == bits(&want), "{model} {kernel}: logits differ");
        // Batches of 1, 3 and 5 (partial row tiles) give the same rows.
        let k = enc.outputs();
        for (from, len) in [(7, 1), (10, 3), (20, 5)] {
            let part = native
                .logits(&images[784 * from..784 * (from + len)])
                .unwrap();
            assert_eq!(
                bits(&part),
                bits(&want[from * k..(from + len) * k]),
                "{model} {kernel} rows {from}+{len}"
            );
        }
    }
}

#[test]
fn native_int8_is_the_default_where_a_simd_kernel_exists() {
    #[cfg(target_arch = "aarch64")]
    let expected = Some(if std::arch::is_aarch64_feature_detected!("dotprod") {
        "dotprod"
    } else {
        "neon"
    });
    #[cfg(target_arch = "x86_64")]
    let expected = if std::is_x86_feature_detected!("avx512vnni")
        && std::is_x86_feature_detected!("avx512bw")
    {
        Some("vnni")
    } else {
        std::is_x86_feature_detected!("avx2").then_some("avx2")
    };
    #[cfg(not(any(target_arch = "aarch64", target_arch = "x86_64")))]
    let expected = None;
    for model in MODELS {
        let enc = Encoder::open(root().join(format!("models/{model}.int8.onnx"))).unwrap();
        println!("{model}: default int8 kernel {:?}", enc.int8_kernel());
        assert_eq!(enc.int8_kernel(), expected, "{model}: default kernel");
        assert_eq!(enc.uses_native_int8(), expected.is_some(), "{model}");
    }
}

test_per_model!(
    native_int8_codes_equal_tract_on_the_digits,
    super::codes_equal_tracts,
    [hash16, hash32, hash64, cluster10]
);

fn codes_equal_tracts(model: &str) {
    let (n, images) = int8_digits();
    let enc = Encoder::open(root().join(format!("models/{model}.int8.onnx"))).unwrap();
    let tract = enc.clone().tract_only();
    let t = Instant::now();
    let lt = tract.logits(&images).unwrap();
    let tract_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let ln = enc.logits(&images).unwrap();
    let native_s = t.elapsed().as_secs_f64();
    println!(
        "{model}: tract {tract_s:.2} s, default ({:?}) {native_s:.2} s for {n} digits",
        enc.int8_kernel()
    );
    let k = enc.outputs();
    match enc.task() {
        Task::Hash => assert_eq!(
            Codes::from_logits(k, &ln).unwrap(),
            Codes::from_logits(k, &lt).unwrap(),
            "{model}: codes"
        ),
        Task::Cluster => assert_eq!(
            argmax_rows(&ln, k).unwrap(),
            argmax_rows(&lt, k).unwrap(),
            "{model}: cluster ids"
        ),
    }
}

/// The photo model (`photo64`: 768 -> 768 -> 64, its convolution as a dense layer) on every
/// kernel: the inputs are the first 2,000 digits through the model's own view (real pixels;
/// the runtime has no JPEG decoder), logits identical to the generic kernel's, codes equal to
/// tract's.
#[test]
fn photo_model_kernels_give_the_generic_logits() {
    let (_, digits) = int8_digits();
    let enc = Encoder::open(root().join("models/photo64.int8.onnx")).unwrap();
    let view = enc.info().view.expect("photo64 carries its view");
    let images: Vec<u8> = digits
        .chunks_exact(784)
        .take(2000)
        .flat_map(|d| view.apply(d, 28, 28, 1).unwrap())
        .collect();
    let want = enc
        .clone()
        .with_int8_kernel("generic")
        .unwrap()
        .logits(&images)
        .unwrap();
    for kernel in KERNELS {
        let Some(native) = enc.clone().with_int8_kernel(kernel) else {
            println!("photo64 {kernel}: NOT RUN (this CPU lacks it)");
            continue;
        };
        assert_eq!(
            bits(&native.logits(&images).unwrap()),
            bits(&want),
            "photo64 {kernel}"
        );
        println!("photo64 {kernel}: logits identical");
    }
    let tract = enc.clone().tract_only().logits(&images).unwrap();
    assert_eq!(
        Codes::from_logits(64, &enc.logits(&images).unwrap()).unwrap(),
        Codes::from_logits(64, &tract).unwrap(),
        "photo64: codes"
    );
}
