//! The faiss IndexBinaryFlat importer (`src/faiss.rs`, `imsat index import --faiss`) on
//! arbitrary bytes, and on the bytes with their length fields made consistent: never panics;
//! an accepted file writes back as the same codes.

#![no_main]
#![allow(dead_code)]

use libfuzzer_sys::fuzz_target;

mod cli {
    pub fn bad_input(msg: impl Into<String>) -> anyhow::Error {
        anyhow::anyhow!(msg.into())
    }
}

#[path = "../../src/npy.rs"]
mod npy;

#[path = "../../src/faiss.rs"]
mod faiss;

const HEADER: usize = 4 + 4 + 4 + 8 + 1 + 4 + 8;

fn check(bytes: &[u8]) {
    let _ = faiss::is_binary_index(bytes);
    if let Ok(codes) = faiss::read_flat(bytes) {
        assert!(faiss::is_binary_index(bytes));
        assert!(codes.len() > 0);
        assert_eq!(codes.bits() % 8, 0);
        let back = faiss::write_flat(&codes);
        assert_eq!(back.len(), bytes.len());
        // Same fourcc, d, code_size, ntotal; same code bytes (is_trained, metric may differ).
        assert_eq!(back[..20], bytes[..20]);
        assert_eq!(back[25..], bytes[25..]);
        assert_eq!(faiss::read_flat(&back).unwrap(), codes);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    // Make the header consistent with the data, so that the codes' own checks are reached.
    if data.len() >= HEADER {
        let mut b = data.to_vec();
        b[..4].copy_from_slice(faiss::FOURCC);
        let d = i32::from_le_bytes(b[4..8].try_into().unwrap());
        let size = (d / 8).max(0);
        b[8..12].copy_from_slice(&size.to_le_bytes());
        let len = (b.len() - HEADER) as u64;
        if size > 0 {
            b[12..20].copy_from_slice(&((len / size as u64) as i64).to_le_bytes());
        }
        b[20] &= 1;
        b[21..25].copy_from_slice(&1i32.to_le_bytes());
        b[25..33].copy_from_slice(&len.to_le_bytes());
        check(&b);
    }
});
