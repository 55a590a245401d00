//! Codes read from files: raw little-endian u64 words, or packed `.npy` bytes.

use std::path::Path;

use imsat_runtime::code::Codes;

use super::bad_input;

/// The first bytes of the other files imsat reads or writes, and what each is. Raw codes
/// could start so only by a 1-in-2^32 chance (and never with a code under 32 bits wide).
const OTHER_FORMATS: [(&[u8], &str); 5] = [
    (crate::npy::MAGIC, "a .npy file"),
    (b"PK\x03\x04", "a zip file (an .npz of `imsat encode`?)"),
    (&imsat_runtime::index::MAGIC, "an imsat index file"),
    (crate::faiss::FOURCC, "a faiss binary index"),
    (b"name,", "a CSV of codes"),
];

/// Read raw u64 codes of `bits` bits from a file.
pub fn read_raw_codes(path: &Path, bits: usize) -> anyhow::Result<Codes> {
    if bits == 0 {
        return Err(bad_input("--bits must be at least 1"));
    }
    // A file that cannot be read is the user's to fix, as an unreadable index is (exit 2).
    let bytes = std::fs::read(path)
        .map_err(|e| bad_input(format!("{}: cannot read: {e}", path.display())))?;
    let words_per_code = bits.div_ceil(64);
    if bytes.is_empty() {
        return Err(bad_input(format!(
            "{}: empty file, no codes",
            path.display()
        )));
    }
    // Another format's bytes would be read as codes (a header shifting every code after it),
    // with no error: the formats imsat reads and writes are told by their first bytes.
    if let Some((_, what)) = OTHER_FORMATS.iter().find(|(m, _)| bytes.starts_with(m)) {
        return Err(bad_input(format!(
            "{}: {what}, not raw u64 codes: `imsat index import` reads .npy (--npy) and faiss \
             (--faiss) files, and `imsat encode --out codes.u64` writes raw codes",
            path.display()
        )));
    }
    if bytes.len() % (8 * words_per_code) != 0 {
        return Err(bad_input(format!(
            "{}: {} bytes is not a whole number of {bits}-bit codes ({} bytes each)",
            path.display(),
            bytes.len(),
            8 * words_per_code
        )));
    }
    let words = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8-byte chunk")))
        .collect();
    Codes::from_words(bits, words).map_err(|e| {
        // Bits set above the width: codes of a wider model, most likely.
        let hint = match e {
            imsat_runtime::error::Error::Padding { .. } => {
                format!(" (codes wider than {bits} bits: made by a model of another width?)")
            }
            _ => String::new(),
        };
        bad_input(format!("{}: {e}{hint}", path.display()))
    })
}

/// Read packed codes from a `.npy` uint8 [N, B] array; `bits` defaults to 8 B.
pub fn read_npy_codes(path: &Path, bits: Option<usize>) -> anyhow::Result<Codes> {
    let bad = |m: String| bad_input(format!("{}: {m}", path.display()));
    let (shape, bytes) = crate::npy::read_u8_matrix(path)?;
    let per = shape.1;
    let bits = bits.unwrap_or(8 * per);
    if bits == 0 || crate::npy::code_bytes(bits) != per {
        return Err(bad(format!(
            "{per} bytes per code do not hold {bits}-bit codes (ceil(bits/8) bytes each)"
        )));
    }
    crate::npy::codes_from_bytes(bits, &bytes).map_err(bad)
}
