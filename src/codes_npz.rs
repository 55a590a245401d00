//! Codes as an `.npz` archive of `names` and `codes`: the copy-detection benchmark's other
//! hand-over format, which `np.load` opens without pickle.
//!
//! `names` is a unicode array `<U` [N] (each image's path below the folder, or the row number
//! for IDX and `.npy` data, as in the CSV); `codes` is exactly the `.npy` output, uint8
//! [N, ceil(bits/8)]; a cluster model writes `clusters`, int64 [N], in its place. The entries
//! are stored uncompressed, as `np.savez` writes them.

use std::io::{Cursor, Write as _};
use std::path::Path;

use anyhow::Context;
use imsat_runtime::atomic_file::write_atomic;
use imsat_runtime::code::Codes;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::npy::{clusters_array, codes_array, strings_array};

/// Whether `path` names an `.npz` file (by its extension, any case).
pub fn is_npz(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("npz"))
}

/// The first bytes of a zip archive (its first entry's local file header), as of an `.npz`.
pub const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// The name of the first entry of a zip archive beginning with `start` (its local file
/// header's), if it begins as one.
pub fn first_entry(start: &[u8]) -> Option<&str> {
    let header = start.strip_prefix(ZIP_MAGIC)?;
    let len = u16::from_le_bytes([*header.get(22)?, *header.get(23)?]) as usize;
    std::str::from_utf8(header.get(26..26 + len)?).ok()
}

/// Write `names` and `codes` (packed as the `.npy` output packs them).
pub fn write_codes(path: &Path, names: &[String], codes: &Codes) -> anyhow::Result<()> {
    write_archive(
        path,
        &[
            ("names", strings_array(names)),
            ("codes", codes_array(codes)),
        ],
    )
}

/// Write `names` and `clusters` (int64).
pub fn write_clusters(path: &Path, names: &[String], ids: &[u32]) -> anyhow::Result<()> {
    write_archive(
        path,
        &[
            ("names", strings_array(names)),
            ("clusters", clusters_array(ids)),
        ],
    )
}

/// The archive is built in memory and written atomically: a failed write leaves any earlier
/// file at `path` as it was.
fn write_archive(path: &Path, arrays: &[(&str, Vec<u8>)]) -> anyhow::Result<()> {
    let bytes = archive_bytes(arrays).with_context(|| format!("writing {}", path.display()))?;
    write_atomic(path, &bytes).with_context(|| format!("writing {}", path.display()))
}

/// A zip of `NAME.npy` entries, stored, with ZIP64 records where an entry needs them.
fn archive_bytes(arrays: &[(&str, Vec<u8>)]) -> zip::result::ZipResult<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, npy) in arrays {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .large_file(npy.len() as u64 >= u64::from(u32::MAX));
        zip.start_file(format!("{name}.npy"), options)?;
        zip.write_all(npy)?;
    }
    Ok(zip.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn the_first_entry_is_named_from_the_archive_s_first_bytes() {
        let bytes = archive_bytes(&[("names", vec![1, 2]), ("codes", vec![3])]).unwrap();
        assert_eq!(first_entry(&bytes), Some("names.npy"));
        assert_eq!(first_entry(&bytes[..30]), None);
        assert_eq!(first_entry(b"not a zip"), None);
    }

    /// The archive holds each array's `.npy` bytes unchanged under `NAME.npy`, and the names
    /// come back from their `<U` array.
    #[test]
    fn entries_are_the_npy_arrays_and_names_read_back() {
        // Two 12-bit codes: bits 0 and 9 set, then every bit but 0.
        let logits: Vec<f32> = (0..24)
            .map(|i| match i {
                0 | 9 | 13..24 => 1.0,
                _ => -1.0,
            })
            .collect();
        let codes = Codes::from_logits(12, &logits).unwrap();
        let names = vec!["a/ü.jpg".to_string(), "b,c.png".to_string()];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("codes.npz");
        write_codes(&path, &names, &codes).unwrap();

        let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(zip.len(), 2);
        let mut read = |entry: &str| {
            let mut f = zip.by_name(entry).unwrap();
            assert_eq!(f.compression(), CompressionMethod::Stored);
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).unwrap();
            bytes
        };
        let codes_npy = read("codes.npy");
        assert_eq!(codes_npy, codes_array(&codes));
        assert!(codes_npy.ends_with(&[0x01, 0x02, 0xfe, 0x0f]));
        let names_npy = read("names.npy");
        let file = npyz::NpyFile::new(&names_npy[..]).unwrap();
        assert_eq!(file.dtype().descr(), "'<U7'");
        assert_eq!(file.into_vec::<String>().unwrap(), names);
    }
}
