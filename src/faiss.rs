//! faiss `IndexBinaryFlat` files, written and read by hand (what `faiss.write_index_binary`
//! writes and `faiss.read_index_binary` reads), all little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | fourcc `IBxF` |
//! | 4 | `d`: bits per code, i32 (a multiple of 8) |
//! | 4 | `code_size`: bytes per code, i32 (`d / 8`) |
//! | 8 | `ntotal`: number of codes, i64 |
//! | 1 | `is_trained`, bool (1) |
//! | 4 | `metric_type`, i32 (1, `METRIC_L2`, what faiss writes for binary indexes) |
//! | 8 | length of the code bytes, u64 (`ntotal * code_size`) |
//! | ... | the codes, `code_size` bytes each, in id order |
//!
//! The code bytes are the packed byte layout of [`Codes::to_packed_bytes`]; faiss counts Hamming
//! distances on whole bytes, so a code of `bits` bits not a multiple of 8 goes in padded with
//! zero bits (the distances are unchanged) and comes back `8 * code_size` bits wide.

use imsat_runtime::code::Codes;

use crate::npy::codes_from_bytes;
use imsat_runtime::code::packed_bytes;

/// The fourcc that starts an `IndexBinaryFlat` file.
pub const FOURCC: &[u8; 4] = b"IBxF";
const HEADER: usize = 4 + 4 + 4 + 8 + 1 + 4 + 8;
/// faiss's `METRIC_L2`, which `IndexBinaryFlat` carries (it always counts Hamming distances).
const METRIC_L2: i32 = 1;

/// The bytes of an `IndexBinaryFlat` holding `codes` (ids 0..n-1 in order).
pub fn write_flat(codes: &Codes) -> Vec<u8> {
    let size = packed_bytes(codes.bits());
    let data = codes.to_packed_bytes();
    let mut out = Vec::with_capacity(HEADER + data.len());
    out.extend_from_slice(FOURCC);
    out.extend_from_slice(&((size * 8) as i32).to_le_bytes());
    out.extend_from_slice(&(size as i32).to_le_bytes());
    out.extend_from_slice(&(codes.len() as i64).to_le_bytes());
    out.push(1);
    out.extend_from_slice(&METRIC_L2.to_le_bytes());
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// Names of the faiss binary index fourccs other than `IBxF`, for a clear refusal.
fn binary_kind(fourcc: &[u8]) -> Option<&'static str> {
    Some(match fourcc {
        b"IBMp" => "IndexBinaryIDMap",
        b"IBM2" => "IndexBinaryIDMap2",
        b"IBHh" => "IndexBinaryHash",
        b"IBHf" => "IndexBinaryHNSW",
        b"IBHc" => "IndexBinaryHNSWCagra",
        b"IBHm" => "IndexBinaryMultiHash",
        b"IBwF" | b"IBwf" => "IndexBinaryIVF",
        b"IBFf" => "IndexBinaryFromFloat",
        _ => return None,
    })
}

/// Whether `bytes` are a faiss binary index of any kind, by content: a binary fourcc, then
/// the header every binary index starts with (`d` a positive multiple of 8, `code_size =
/// d / 8`). Twelve bytes, so that raw codes which merely begin with a fourcc are still codes.
pub fn is_binary_index(bytes: &[u8]) -> bool {
    let Some(head) = bytes.get(..12) else {
        return false;
    };
    let i32_at = |o: usize| i32::from_le_bytes([head[o], head[o + 1], head[o + 2], head[o + 3]]);
    let (d, code_size) = (i32_at(4), i32_at(8));
    (&head[..4] == FOURCC || binary_kind(&head[..4]).is_some())
        && d > 0
        && d % 8 == 0
        && code_size == d / 8
}

/// faiss's metric types (`MetricType`, as `read_index_binary` accepts them); a binary index
/// counts Hamming distances whatever it carries.
const METRICS: [i32; 11] = [0, 1, 2, 3, 4, 20, 21, 22, 23, 24, 25];

/// The codes of an `IndexBinaryFlat` file's bytes (`d` bits each). Any other index, and any
/// inconsistent or truncated file, is an error saying why.
pub fn read_flat(bytes: &[u8]) -> Result<Codes, String> {
    if bytes.len() < 4 {
        return Err(format!(
            "{} bytes: too short for a faiss index",
            bytes.len()
        ));
    }
    let fourcc = &bytes[..4];
    if fourcc != FOURCC {
        let shown = String::from_utf8_lossy(fourcc).escape_debug().to_string();
        if bytes.starts_with(crate::npy::MAGIC) {
            return Err("a .npy file, not a faiss one: import packed codes with --npy".into());
        }
        if bytes.starts_with(&imsat_runtime::index::MAGIC) {
            return Err(
                "an imsat index file, not a faiss one: search it as it is (--index), or \
                 `imsat index export` it to faiss"
                    .into(),
            );
        }
        return Err(match binary_kind(fourcc) {
            Some(kind) => format!(
                "a faiss {kind} (fourcc {shown}); only IndexBinaryFlat (IBxF) is imported: \
                 copy the codes into a faiss.IndexBinaryFlat first"
            ),
            None if fourcc.starts_with(b"I") => format!(
                "fourcc {shown} is not a faiss binary flat index (float indexes such as \
                 IndexFlatL2 hold no binary codes); only IndexBinaryFlat (IBxF) is imported"
            ),
            None => {
                let hex: Vec<String> = fourcc.iter().map(|b| format!("{b:02x}")).collect();
                format!(
                    "not a faiss index file (it begins with the bytes {})",
                    hex.join(" ")
                )
            }
        });
    }
    if bytes.len() < HEADER {
        return Err(format!(
            "truncated: {} bytes, shorter than the {HEADER}-byte IndexBinaryFlat header",
            bytes.len()
        ));
    }
    let i32_at = |o: usize| i32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
    let (d, code_size, ntotal) = (i32_at(4), i32_at(8), u64_at(12) as i64);
    let (is_trained, metric) = (bytes[20], i32_at(21));
    let len = u64_at(25);
    // What faiss refuses, refused: a damaged header is not read as codes.
    if is_trained > 1 {
        return Err(format!(
            "is_trained = {is_trained}, not a bool: a damaged header"
        ));
    }
    if !METRICS.contains(&metric) {
        return Err(format!(
            "metric_type = {metric} is none of faiss's: a damaged header"
        ));
    }
    if d <= 0 || d % 8 != 0 || code_size != d / 8 {
        return Err(format!(
            "d = {d} bits with code_size = {code_size} bytes: expected d a positive multiple \
             of 8 and code_size = d / 8"
        ));
    }
    if d as usize > imsat_runtime::code::MAX_BITS {
        return Err(format!(
            "d = {d} bits is wider than the {} bits imsat codes hold",
            imsat_runtime::code::MAX_BITS
        ));
    }
    if ntotal <= 0 {
        return Err(format!("ntotal = {ntotal}: no codes to import"));
    }
    let expected = (ntotal as u64).checked_mul(code_size as u64);
    if expected != Some(len) {
        return Err(format!(
            "the code vector holds {len} bytes, but ntotal = {ntotal} codes of {code_size} \
             bytes need {}",
            expected.map_or("too many".into(), |e| e.to_string())
        ));
    }
    let data = &bytes[HEADER..];
    if (data.len() as u64) < len {
        return Err(format!(
            "truncated: {} of the {len} code bytes are present",
            data.len()
        ));
    }
    if data.len() as u64 > len {
        return Err(format!(
            "{} bytes after the codes: not a lone IndexBinaryFlat",
            data.len() as u64 - len
        ));
    }
    codes_from_bytes(d as usize, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let codes = Codes::from_words(16, vec![0x0201, 0x0403, 0x00ff]).unwrap();
        let bytes = write_flat(&codes);
        // The bytes faiss 1.15 writes for the same three codes.
        let faiss = "49 42 78 46 10 00 00 00 02 00 00 00 03 00 00 00 00 00 00 00 01 01 00 00 00 \
                     06 00 00 00 00 00 00 00 01 02 03 04 ff 00";
        let want: Vec<u8> = faiss
            .split_whitespace()
            .map(|h| u8::from_str_radix(h, 16).unwrap())
            .collect();
        assert_eq!(bytes, want);
        assert_eq!(read_flat(&bytes).unwrap(), codes);
    }

    #[test]
    fn refuses_other_indexes_and_bad_files() {
        let codes = Codes::from_words(16, vec![1, 2]).unwrap();
        let good = write_flat(&codes);
        let mut idmap = good.clone();
        idmap[..4].copy_from_slice(b"IBMp");
        assert!(read_flat(&idmap).unwrap_err().contains("IndexBinaryIDMap"));
        let mut float = good.clone();
        float[..4].copy_from_slice(b"IxF2");
        assert!(read_flat(&float).unwrap_err().contains("float"));
        assert!(
            read_flat(&good[..good.len() - 1])
                .unwrap_err()
                .contains("truncated")
        );
        assert!(read_flat(&good[..10]).unwrap_err().contains("truncated"));
        let mut d = good.clone();
        d[4] = 12;
        assert!(read_flat(&d).unwrap_err().contains("multiple of 8"));
        // A header faiss refuses: is_trained not a bool, a metric that is none of faiss's.
        let mut trained = good.clone();
        trained[20] = 2;
        assert!(read_flat(&trained).unwrap_err().contains("is_trained = 2"));
        let mut metric = good.clone();
        metric[21] = 5;
        assert!(read_flat(&metric).unwrap_err().contains("metric_type = 5"));
        metric[21] = 25;
        assert_eq!(read_flat(&metric).unwrap(), codes);
        // Any binary kind is a faiss file by content, and so is a flat one with bytes after
        // it; codes that only begin with a fourcc are not.
        let mut extra = good.clone();
        extra.extend([0; 7]);
        for file in [&good, &idmap, &extra] {
            assert!(is_binary_index(file));
        }
        let mut cagra = good.clone();
        cagra[..4].copy_from_slice(b"IBHc");
        assert!(
            read_flat(&cagra)
                .unwrap_err()
                .contains("IndexBinaryHNSWCagra")
        );
        assert!(!is_binary_index(&float));
        assert!(!is_binary_index(&d));
        assert!(!is_binary_index(&good[..11]));
    }

    /// Each header check of `read_flat` at its edge: what faiss would refuse or misread is
    /// refused, saying which field is wrong; a header just inside every bound reads.
    #[test]
    fn every_header_field_is_checked_at_its_edge() {
        let codes = Codes::from_words(16, vec![1, 2]).unwrap();
        let good = write_flat(&codes);
        let with = |at: usize, field: &[u8]| {
            let mut b = good.clone();
            b[at..at + field.len()].copy_from_slice(field);
            b
        };
        let refused = |bytes: &[u8], want: &str| {
            let e = read_flat(bytes).unwrap_err();
            assert!(e.contains(want), "{e}");
        };
        refused(b"IBx", "3 bytes: too short");
        refused(&good[..HEADER - 1], "shorter than the 33-byte");
        refused(b"\x89PNG\r\n", "begins with the bytes 89 50 4e 47");
        refused(
            b"\x93NUMPY\x01\x00",
            "a .npy file, not a faiss one: import packed codes with --npy",
        );
        let mut ours = imsat_runtime::index::MAGIC.to_vec();
        ours.extend([0; 40]);
        refused(&ours, "an imsat index file, not a faiss one");
        // Metric 0 (inner product) reads as 25 does; 26 and -1 are none of faiss's.
        assert_eq!(read_flat(&with(21, &0i32.to_le_bytes())).unwrap(), codes);
        refused(&with(21, &26i32.to_le_bytes()), "metric_type = 26");
        refused(&with(21, &(-1i32).to_le_bytes()), "metric_type = -1");
        // d and code_size: a positive multiple of 8 whose bytes are d / 8.
        refused(&with(4, &0i32.to_le_bytes()), "d = 0 bits");
        refused(&with(4, &(-16i32).to_le_bytes()), "d = -16 bits");
        refused(&with(8, &3i32.to_le_bytes()), "code_size = 3 bytes");
        let wide = (imsat_runtime::code::MAX_BITS + 8) as i32;
        let mut too_wide = with(4, &wide.to_le_bytes());
        too_wide[8..12].copy_from_slice(&(wide / 8).to_le_bytes());
        refused(&too_wide, "wider than the 16777216 bits");
        // ntotal: at least one code, and the code vector's length must be ntotal x code_size.
        refused(&with(12, &0i64.to_le_bytes()), "ntotal = 0: no codes");
        refused(&with(12, &(-2i64).to_le_bytes()), "ntotal = -2: no codes");
        refused(
            &with(12, &3i64.to_le_bytes()),
            "holds 4 bytes, but ntotal = 3 codes of 2 bytes need 6",
        );
        let mut huge = with(4, &24i32.to_le_bytes());
        huge[8..12].copy_from_slice(&3i32.to_le_bytes());
        huge[12..20].copy_from_slice(&i64::MAX.to_le_bytes());
        refused(&huge, "codes of 3 bytes need too many");
        refused(&with(25, &5u64.to_le_bytes()), "holds 5 bytes");
        let mut extra = good.clone();
        extra.push(0);
        refused(&extra, "1 bytes after the codes");
        // A fourcc that starts like faiss's but names no binary index; what is_binary_index
        // takes for a faiss file by content.
        refused(
            &with(0, b"IwFl"),
            "fourcc IwFl is not a faiss binary flat index",
        );
        assert!(!is_binary_index(&with(8, &3i32.to_le_bytes())));
        assert!(!is_binary_index(&with(4, &0i32.to_le_bytes())));
        assert!(is_binary_index(&with(0, b"IBwf")));
    }
}
