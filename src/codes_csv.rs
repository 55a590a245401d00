//! Codes as CSV text, `name,hex`: the hand-over format of copy-detection benchmarks, one row
//! per image, readable by any tool without NumPy.
//!
//! `hex` is the code's bytes as `imsat encode --out X.npy` lays them out (bit p in bit p%8 of
//! byte p/8, least significant first), two lowercase digits per byte, so every row has the
//! same length. Cluster models write `name,cluster`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use imsat_runtime::atomic_file::write_atomic;
use imsat_runtime::code::Codes;

use imsat_runtime::code::packed_bytes;

/// Whether `path` names a CSV file (by its extension).
pub fn is_csv(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// Write `name,hex` rows (with that header), `names[i]` for code i.
pub fn write_codes(path: &Path, names: &[String], codes: &Codes) -> anyhow::Result<()> {
    let per = packed_bytes(codes.bits());
    let bytes = codes.to_packed_bytes();
    let rows = names
        .iter()
        .zip(bytes.chunks(per.max(1)))
        .map(|(name, code)| (name, hex(code)));
    write_rows(path, "name,hex", rows)
}

/// Bytes as lower-case hex, two digits each.
pub fn hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(2 * bytes.len());
    for b in bytes {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// Write `name,cluster` rows (with that header).
pub fn write_clusters(path: &Path, names: &[String], ids: &[u32]) -> anyhow::Result<()> {
    write_rows(path, "name,cluster", names.iter().zip(ids))
}

fn write_rows<T: std::fmt::Display>(
    path: &Path,
    header: &str,
    rows: impl Iterator<Item = (impl AsRef<str>, T)>,
) -> anyhow::Result<()> {
    let text = csv_text(header, rows).with_context(|| format!("writing {}", path.display()))?;
    write_atomic(path, &text).with_context(|| format!("writing {}", path.display()))
}

/// The CSV text, RFC 4180: a name is quoted, quotes doubled, only when it holds a comma, a
/// quote or a line break; `\n` ends every row.
fn csv_text<T: std::fmt::Display>(
    header: &str,
    rows: impl Iterator<Item = (impl AsRef<str>, T)>,
) -> csv::Result<Vec<u8>> {
    let mut csv = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    csv.write_record(header.split(','))?;
    for (name, value) in rows {
        csv.write_record([name.as_ref(), value.to_string().as_str()])?;
    }
    // `into_inner` flushes the writer's buffer into the Vec.
    csv.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_hold_the_npy_bytes_in_hex_and_quote_odd_names() {
        // 12 bits: bit 0 and bit 9 set -> bytes 01 02.
        let codes = Codes::from_logits(
            12,
            &[
                1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, 1.0, -1.0, -1.0, //
                -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, 1.0,
            ],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("codes.csv");
        let names = ["a.jpg".to_string(), "b, \"c\".jpg".to_string()];
        write_codes(&out, &names, &codes).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "name,hex\na.jpg,0102\n\"b, \"\"c\"\".jpg\",0008\n"
        );
        write_clusters(&out, &names[..1], &[7]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "name,cluster\na.jpg,7\n"
        );
        assert!(is_csv(Path::new("x.CSV")) && !is_csv(Path::new("x.u64")));
    }
}
