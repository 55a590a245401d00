//! The CLI's `.npy` readers (`src/npy.rs`: features, packed codes, labels) on arbitrary
//! file bytes: never panic; errors are bad input naming the file; what is accepted is
//! consistent with its header; packed codes go on through `codes_from_bytes` as
//! `read_npy_codes` takes them.

#![no_main]
#![allow(dead_code)]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// The one item `npy.rs` takes from the CLI: its bad-input error.
mod cli {
    #[derive(Debug)]
    pub struct BadInput(pub String);
    impl std::fmt::Display for BadInput {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for BadInput {}
    pub fn bad_input(msg: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(BadInput(msg.into()))
    }
}

#[path = "../../src/npy.rs"]
mod npy;

fn scratch() -> &'static std::path::Path {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::path::PathBuf::from(format!(
            "/dev/shm/imsat-fuzz-npy-{}.npy",
            std::process::id()
        ))
    })
}

fn bad(e: &anyhow::Error, path: &std::path::Path) {
    let shown = format!("{}: ", path.display());
    assert!(
        e.downcast_ref::<cli::BadInput>().is_some(),
        "not bad input: {e:#}"
    );
    assert!(e.to_string().starts_with(&shown), "{e}");
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).unwrap();
    match npy::read_features(path) {
        Ok(f) => {
            assert!(f.n > 0 && f.d > 0);
            assert_eq!(f.x.len(), f.n * f.d);
            assert!(f.x.iter().all(|v| v.is_finite()));
        }
        Err(e) => bad(&e, path),
    }
    match npy::read_u8_matrix(path) {
        Ok(((n, b), bytes)) => {
            assert!(n > 0 && b > 0);
            assert_eq!(bytes.len(), n * b);
            // `read_npy_codes` with the default width (8 bits a byte) and a narrower one.
            for bits in [8 * b, 8 * b - 7, 8 * b - 1] {
                if bits == 0 || imsat_runtime::code::packed_bytes(bits) != b {
                    continue;
                }
                if let Ok(codes) = npy::codes_from_bytes(bits, &bytes) {
                    assert_eq!(codes.len(), n);
                    assert_eq!(codes.bits(), bits);
                    assert_eq!(codes.to_packed_bytes(), bytes);
                }
            }
        }
        Err(e) => bad(&e, path),
    }
    match npy::read_labels(path) {
        Ok(labels) => assert!(!labels.is_empty()),
        Err(e) => bad(&e, path),
    }
});
