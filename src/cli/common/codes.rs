//! Codes read from files: raw little-endian u64 words, or packed `.npy` bytes.

use std::path::Path;

use imsat_runtime::code::Codes;

use super::bad_input;

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
    if bytes.starts_with(b"\x93NUMPY") {
        // Its header would be read as codes, and every code after it shifted.
        return Err(bad_input(format!(
            "{}: a .npy file, not raw u64 codes: pass it with --npy (index import) or export \
             raw codes with `imsat encode --out codes.u64`",
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
        bad_input(format!(
            "{}: {e} (codes wider than {bits} bits: made by a model of another width?)",
            path.display()
        ))
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
