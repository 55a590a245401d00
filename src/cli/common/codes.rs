//! Codes read from files: raw little-endian u64 words, or packed `.npy` bytes.

use std::path::Path;

use imsat_runtime::code::Codes;

use super::bad_input;

/// What `bytes` are when they are a file of another format imsat reads or writes: told by
/// their first bytes and, where those are as short as a code's first word (a zip, faiss, a
/// CSV), by more of the format, so that codes which merely begin with those bytes (a
/// 27-bit code can be `PK\x03\x04`) are still read as codes.
fn other_format(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(crate::npy::MAGIC) {
        Some("a .npy file")
    } else if bytes.starts_with(&imsat_runtime::index::MAGIC) {
        Some("an imsat index file")
    } else if bytes.starts_with(crate::codes_npz::ZIP_MAGIC) && ends_as_zip(bytes) {
        Some("a zip file (an .npz of `imsat encode`?)")
    } else if crate::faiss::is_binary_index(bytes) {
        Some("a faiss binary index")
    } else if [&b"name,hex"[..], b"name,cluster"]
        .iter()
        .any(|h| bytes.starts_with(h) && matches!(bytes.get(h.len()), Some(b'\n' | b'\r')))
    {
        Some("a CSV of codes")
    } else if is_text_file(bytes) {
        Some("text (codes written out as text?)")
    } else {
        None
    }
}

/// Whether `bytes` are text ending in a line break: UTF-8 with no control character but
/// line breaks and tabs. Codes begin so about once in 200,000 one-code files.
fn is_text_file(bytes: &[u8]) -> bool {
    bytes.ends_with(b"\n")
        && std::str::from_utf8(bytes)
            .is_ok_and(|t| t.chars().all(|c| !c.is_control() || "\n\r\t".contains(c)))
}

/// Whether a zip's end record (`PK\x05\x06`, at most a 64 KiB comment before the end) is in
/// the last bytes.
fn ends_as_zip(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(22 + 0xFFFF)..];
    tail.windows(4).any(|w| w == b"PK\x05\x06")
}

/// Read raw u64 codes of `bits` bits from a file.
pub fn read_raw_codes(path: &Path, bits: usize) -> anyhow::Result<Codes> {
    if bits == 0 {
        return Err(bad_input("--bits must be at least 1"));
    }
    if bits > imsat_runtime::code::MAX_BITS {
        return Err(bad_input(format!(
            "--bits {bits} exceeds the maximum of {} bits (the widest code)",
            imsat_runtime::code::MAX_BITS
        )));
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
    if let Some(what) = other_format(&bytes) {
        return Err(bad_input(format!(
            "{}: {what}, not raw u64 codes: `.npy` codes go in with --npy (`imsat index \
             import`) or --queries-npy (`imsat search`), faiss files with --faiss, and `imsat \
             encode --out codes.u64` writes raw codes",
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
    if bits == 0 || imsat_runtime::code::packed_bytes(bits) != per {
        return Err(bad(format!(
            "{per} bytes per code do not hold {bits}-bit codes (ceil(bits/8) bytes each)"
        )));
    }
    crate::npy::codes_from_bytes(bits, &bytes).map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_not_taken_for_raw_codes() {
        for text in [
            &b"0123456789abcde\n"[..],
            b"12\r\n7\r\n",
            "caf\u{e9} 1\t2\n".as_bytes(),
        ] {
            assert_eq!(
                other_format(text),
                Some("text (codes written out as text?)")
            );
        }
        // Codes whose bytes happen to be printable, without a final line break; a line break
        // after control bytes or bytes that are not UTF-8.
        for codes in [&b"abcdefgh"[..], b"\x01bcdefg\n", b"\xffbcdefg\n"] {
            assert_eq!(other_format(codes), None, "{codes:?}");
        }
    }
}
