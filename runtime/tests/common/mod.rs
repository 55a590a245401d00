//! What the runtime's integration tests share: the repository's paths and the bundled digits.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

use imsat_runtime::format::ModelInfo;

/// The repository root (the shipped models and data live there).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The 10,000 bundled digits, 784 bytes each (IDX, gzip; header checked).
pub fn digits() -> Vec<u8> {
    let file = std::fs::File::open(root().join("data/mnist10k/images-idx3-ubyte.gz")).unwrap();
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut raw)
        .unwrap();
    let word = |i: usize| u32::from_be_bytes(raw[4 * i..4 * i + 4].try_into().unwrap()) as usize;
    assert_eq!(
        (word(0), word(1), word(2), word(3)),
        (0x803, 10_000, 28, 28),
        "IDX header"
    );
    assert_eq!(raw.len(), 16 + 10_000 * 784, "IDX size");
    raw.split_off(16)
}

/// The first digits of [`digits`]: `default` of them, or as many as the environment variable
/// `var` says. The ARM CI sets fewer: qemu emulates SIMD and float arithmetic instruction by
/// instruction (f32 at about 10 MFLOP/s), so the 10,000 digits took 9 minutes through the
/// int8 tests and 2,000 took 16 minutes through the f32 one. A count below `min` (what the
/// test's batch splits need) or above 10,000 stops the test with the reason.
fn first_digits(var: &str, default: usize, min: usize) -> (usize, Vec<u8>) {
    let n = match std::env::var(var) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{var}={v:?} is not a number of digits")),
        Err(_) => default,
    };
    assert!(
        (min..=10_000).contains(&n),
        "{var}={n}: between {min} and the 10,000 bundled digits"
    );
    let mut d = digits();
    d.truncate(n * 784);
    (n, d)
}

/// The digits the int8 checks run on: 10,000, or `IMSAT_TEST_INT8_DIGITS` (at least 25, for
/// the partial batches of `int8_kernels.rs`).
pub fn int8_digits() -> (usize, Vec<u8>) {
    first_digits("IMSAT_TEST_INT8_DIGITS", 10_000, 25)
}

/// The digits the f32 check runs on: 2,000, or `IMSAT_TEST_F32_DIGITS` (at least 24: 16
/// single rows, a batch of 7, the rest as one batch).
pub fn f32_digits() -> (usize, Vec<u8>) {
    first_digits("IMSAT_TEST_F32_DIGITS", 2_000, 24)
}

/// `digits` as a model takes them: through a photo model's own view, else as they are.
pub fn inputs_for(info: &ModelInfo, digits: &[u8]) -> Vec<u8> {
    match info.view {
        Some(view) => digits
            .chunks_exact(784)
            .flat_map(|d| view.apply(d, 28, 28, 1).unwrap())
            .collect(),
        None => digits.to_vec(),
    }
}

/// `mod $check_name { #[test] fn hash16() { $check("hash16") } ... }`: one test per shipped
/// model, so the harness runs the models side by side (under qemu each takes minutes) and a
/// failure names its model.
#[allow(unused_macros)]
macro_rules! test_per_model {
    ($module:ident, $check:path, [$($model:ident),+ $(,)?]) => {
        mod $module {
            $(
                #[test]
                fn $model() {
                    $check(stringify!($model));
                }
            )+
        }
    };
}
#[allow(unused_imports)]
pub(crate) use test_per_model;
