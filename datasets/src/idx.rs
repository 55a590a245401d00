//! Reading data sets: MNIST-style IDX files (gzipped or raw).
//!
//! The header is checked against the file size *before* anything is allocated, so a corrupt
//! or hostile header cannot make us reserve gigabytes.

use crate::Label;
use std::io::Read;
use std::path::Path;

/// The error and the image rows every reader shares (at the crate root; also here, where
/// callers of the IDX reader have always found them).
pub use crate::{DataError, Images};

/// Largest IDX file we agree to read or decompress to (1 GiB); full MNIST is 47 MB.
const MAX_IDX_BYTES: u64 = 1 << 30;

/// Bytes read before the rest of a file: enough for its magic, or an image format's.
const HEAD_BYTES: u64 = 64;

/// The file's bytes, at most `limit` (the readers pass [`MAX_IDX_BYTES`]). A file that begins
/// as neither gzip nor IDX (0, 0, a type code) is read no further than its head, which is
/// enough for the parser to say what it is: a wrong file is refused at once, and a device
/// (`/dev/zero`) does not fill the memory first.
fn read_raw(path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    (&mut file)
        .take(HEAD_BYTES)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let gzip = bytes.starts_with(&[0x1f, 0x8b]);
    let idx = bytes.len() >= 3
        && bytes[..2] == [0, 0]
        && matches!(bytes[2], 0x08 | 0x09 | 0x0B | 0x0C | 0x0D | 0x0E);
    if !gzip && !idx {
        return Ok(bytes);
    }
    // One byte past the limit tells a file that is too large from one that fits exactly.
    file.take((limit + 1).saturating_sub(bytes.len() as u64))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(DataError::invalid(
            path,
            format!("is larger than {limit} bytes, the most an IDX file may be"),
        ));
    }
    Ok(bytes)
}

/// The bytes un-gzipped when they start with the gzip magic, else as they are; refused when
/// they decompress to more than `limit` bytes ([`MAX_IDX_BYTES`]).
fn gunzip_if_gzip(path: &Path, raw: Vec<u8>, limit: u64) -> Result<Vec<u8>, DataError> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        // One byte past the limit tells a file that is too large from one that fits exactly.
        flate2::read::MultiGzDecoder::new(&raw[..])
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| DataError::invalid(path, format!("corrupt gzip stream: {e}")))?;
        if out.len() as u64 > limit {
            return Err(DataError::invalid(
                path,
                format!("decompresses to more than {limit} bytes, the most a gzipped IDX file may"),
            ));
        }
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parse an IDX header for u8 data (type code 0x08); returns dims and the payload.
fn parse_idx_u8<'a>(path: &Path, bytes: &'a [u8]) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    if bytes.is_empty() {
        return Err(DataError::invalid(path, "empty file"));
    }
    if bytes.len() < 4 {
        return Err(DataError::invalid(
            path,
            "truncated: shorter than the 4-byte IDX magic",
        ));
    }
    // (Without the photo readers, a photo falls to the magic check below.)
    #[cfg(feature = "photos")]
    if let (false, Ok(format)) = (bytes[..3] == [0, 0, 0x08], image::guess_format(bytes)) {
        // One photo given where a folder of them (or an IDX file) goes. A name without a
        // photo extension is why a command that reads one image took it for IDX; with one,
        // this command reads folders (training learns from many photos).
        let why = if crate::photos::is_photo(path) {
            "give the folder that holds it"
        } else {
            "its name lacks a photo extension (.jpg, .png, ...); rename it, or give the \
             folder that holds it"
        };
        return Err(DataError::invalid(
            path,
            format!("is an image file ({format:?}), not an IDX file: {why}"),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(DataError::invalid(
            path,
            format!(
                "wrong magic {:02x}{:02x}{:02x}{:02x}: not an IDX file",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(DataError::invalid(
            path,
            format!(
                "IDX element type 0x{:02x} is not supported (only u8, 0x08)",
                bytes[2]
            ),
        ));
    }
    let rank = bytes[3] as usize;
    if rank == 0 {
        return Err(DataError::invalid(path, "IDX rank 0: no dimensions"));
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(DataError::invalid(
            path,
            format!(
                "truncated: header needs {header} bytes, file has {}",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| DataError::invalid(path, format!("dimensions {dims:?} overflow")))?;
    let payload = &bytes[header..];
    if payload.len() < expected {
        return Err(DataError::invalid(
            path,
            format!(
                "truncated: header {dims:?} promises {expected} bytes of data, file has {}",
                payload.len()
            ),
        ));
    }
    if payload.len() > expected {
        return Err(DataError::invalid(
            path,
            format!(
                "{} trailing bytes after the {expected} bytes that header {dims:?} promises",
                payload.len() - expected
            ),
        ));
    }
    Ok((dims, payload))
}

/// Read an IDX image file: u8 values with rank >= 2 (N x d or N x rows x cols x ...).
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<Images, DataError> {
    let path = path.as_ref();
    parse_idx_images(path, read_raw(path, MAX_IDX_BYTES)?)
}

/// Parse the content of an IDX image file, gzipped or not (`path` only names it in errors).
/// Never panics, whatever the bytes (fuzzed: see `fuzz/`).
pub fn parse_idx_images(path: &Path, bytes: Vec<u8>) -> Result<Images, DataError> {
    let bytes = gunzip_if_gzip(path, bytes, MAX_IDX_BYTES)?;
    let (dims, payload) = parse_idx_u8(path, &bytes)?;
    if dims.len() < 2 {
        return Err(DataError::invalid(
            path,
            format!(
                "an image file needs rank >= 2, this one has rank {} (a label file?)",
                dims.len()
            ),
        ));
    }
    let n = dims[0];
    let shape = dims[1..].to_vec();
    if n == 0 || shape.contains(&0) {
        return Err(DataError::invalid(
            path,
            format!("empty: dimensions {dims:?}"),
        ));
    }
    Ok(Images {
        n,
        shape,
        pixels: payload.to_vec(),
    })
}

/// Read an IDX label file: rank-1 u8 values, each below `max_classes`, as [`Label`]s.
pub fn read_idx_labels(
    path: impl AsRef<Path>,
    max_classes: usize,
) -> Result<Vec<Label>, DataError> {
    let path = path.as_ref();
    parse_idx_labels(path, read_raw(path, MAX_IDX_BYTES)?, max_classes)
}

/// Parse the content of an IDX label file, gzipped or not (`path` only names it in errors).
pub fn parse_idx_labels(
    path: &Path,
    bytes: Vec<u8>,
    max_classes: usize,
) -> Result<Vec<Label>, DataError> {
    let bytes = gunzip_if_gzip(path, bytes, MAX_IDX_BYTES)?;
    let (dims, payload) = parse_idx_u8(path, &bytes)?;
    if dims.len() != 1 {
        return Err(DataError::invalid(
            path,
            format!(
                "a label file has rank 1, this one has rank {} (an image file?)",
                dims.len()
            ),
        ));
    }
    if dims[0] == 0 {
        return Err(DataError::invalid(path, "empty: 0 labels"));
    }
    if let Some((i, &v)) = payload
        .iter()
        .enumerate()
        .find(|(_, v)| **v as usize >= max_classes)
    {
        return Err(DataError::invalid(
            path,
            format!("label {v} at index {i} is out of range (expected 0..{max_classes})"),
        ));
    }
    Ok(payload.iter().map(|&v| Label::from(v)).collect())
}

/// Read images and their labels, checking that the counts agree.
pub fn read_labelled(
    images: impl AsRef<Path>,
    labels: impl AsRef<Path>,
) -> Result<(Images, Vec<Label>), DataError> {
    let imgs = read_idx_images(images)?;
    let labels_path = labels.as_ref();
    let labs = read_idx_labels(labels_path, 256)?;
    if labs.len() != imgs.n {
        return Err(DataError::invalid(
            labels_path,
            format!("{} labels but {} images", labs.len(), imgs.n),
        ));
    }
    Ok((imgs, labs))
}

/// Write u8 data as a raw IDX file (used by tests and by tools that save subsets).
pub fn idx_u8_bytes(dims: &[usize], payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn mnist() -> (Images, Vec<Label>) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist10k");
        read_labelled(
            root.join("images-idx3-ubyte.gz"),
            root.join("labels-idx1-ubyte.gz"),
        )
        .unwrap()
    }

    #[test]
    fn vendored_mnist10k_has_the_known_shape_and_class_counts() {
        let (imgs, labels) = mnist();
        assert_eq!(imgs.n, 10_000);
        assert_eq!(imgs.shape, vec![28, 28]);
        assert_eq!(imgs.pixels.len(), 10_000 * 784);
        let mut counts = [0usize; 10];
        for &l in &labels {
            counts[l as usize] += 1;
        }
        assert_eq!(
            counts,
            [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
        );
        // Real digits: dark background, bright strokes.
        let mean = imgs.pixels.iter().map(|&p| p as f64).sum::<f64>() / imgs.pixels.len() as f64;
        assert!((20.0..50.0).contains(&mean), "mean pixel {mean}");
    }

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn err_text<T: std::fmt::Debug>(r: Result<T, DataError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn raw_and_gzipped_files_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let payload: Vec<u8> = (0..2 * 3 * 4).map(|v| v as u8).collect();
        let raw = idx_u8_bytes(&[2, 3, 4], &payload);
        let p_raw = write(&dir, "a.idx", &raw);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        let p_gz = write(&dir, "a.idx.gz", &gz.finish().unwrap());
        let a = read_idx_images(&p_raw).unwrap();
        assert_eq!(a, read_idx_images(&p_gz).unwrap());
        assert_eq!((a.n, a.dim()), (2, 12));
    }

    /// A gzip stream longer than the limit is said to be too large (it was cut at the limit
    /// and read as a truncated file, or, matching its header, with its tail dropped); one of
    /// exactly the limit is read whole.
    #[test]
    fn a_gzip_stream_past_the_limit_is_too_large_and_one_at_it_is_read() {
        let raw = idx_u8_bytes(&[2, 3, 4], &[9; 24]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        let gz = gz.finish().unwrap();
        let path = Path::new("x.idx.gz");
        let len = raw.len() as u64;
        assert_eq!(gunzip_if_gzip(path, gz.clone(), len).unwrap(), raw);
        let e = gunzip_if_gzip(path, gz, len - 1).unwrap_err().to_string();
        assert!(
            e.contains("x.idx.gz") && e.contains("decompresses to more than 39 bytes"),
            "{e}"
        );
    }

    /// A raw IDX file longer than the head is read whole up to the limit, and one byte past
    /// it is said to be too large (not read as a truncated file, or with its tail dropped).
    #[test]
    fn a_raw_file_past_the_limit_is_too_large_and_one_at_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let payload: Vec<u8> = (0..3 * 50).map(|v| v as u8).collect();
        let raw = idx_u8_bytes(&[3, 50], &payload);
        assert!(raw.len() as u64 > 2 * HEAD_BYTES);
        let p = write(&dir, "long.idx", &raw);
        let len = raw.len() as u64;
        for limit in [len, len + 1, MAX_IDX_BYTES] {
            assert_eq!(read_raw(&p, limit).unwrap(), raw, "limit {limit}");
        }
        let e = err_text(read_raw(&p, len - 1));
        assert!(
            e.contains("long.idx") && e.contains(&format!("larger than {} bytes", len - 1)),
            "{e}"
        );
        // A limit inside the head (no underflow).
        assert!(err_text(read_raw(&p, 10)).contains("larger than 10 bytes"));
        let imgs = read_idx_images(&p).unwrap();
        assert_eq!(
            (imgs.n, imgs.shape.clone(), imgs.pixels),
            (3, vec![50], payload)
        );
    }

    /// Each check of the header at its edge: the length of the magic, each of its two zero
    /// bytes, every byte of a dimension, the rank an image file needs, bytes past the data.
    #[test]
    fn the_header_is_checked_at_each_edge() {
        let path = Path::new("h.idx");
        let images = |bytes: &[u8]| parse_idx_images(path, bytes.to_vec());
        for n in 1..4 {
            let e = images(&[0, 0, 8][..n]).unwrap_err().to_string();
            assert!(e.contains("shorter than the 4-byte IDX magic"), "{n}: {e}");
        }
        let e = images(&[0, 0, 8, 1]).unwrap_err().to_string();
        assert!(e.contains("header needs 8 bytes, file has 4"), "{e}");
        for magic in [[0, 1, 8, 2], [1, 0, 8, 2]] {
            let mut bytes = idx_u8_bytes(&[1, 1], &[7]);
            bytes[..4].copy_from_slice(&magic);
            let e = images(&bytes).unwrap_err().to_string();
            assert!(e.contains("wrong magic"), "{magic:?}: {e}");
        }
        // A dimension whose four bytes all differ, in a rank-2 file (N x d).
        let d = 0x0001_0203;
        let payload: Vec<u8> = (0..d).map(|v| (v % 251) as u8).collect();
        let imgs = images(&idx_u8_bytes(&[1, d], &payload)).unwrap();
        assert_eq!((imgs.n, imgs.shape.clone(), imgs.dim()), (1, vec![d], d));
        assert_eq!(imgs.pixels, payload);
        let mut long = idx_u8_bytes(&[2, 2], &[1; 4]);
        long.push(0);
        let e = images(&long).unwrap_err().to_string();
        assert!(e.contains("1 trailing bytes"), "{e}");
        let e = parse_idx_labels(path, long, 10).unwrap_err().to_string();
        assert!(e.contains("1 trailing bytes"), "{e}");
    }

    #[test]
    fn each_broken_idx_file_gets_an_error_naming_file_and_problem() {
        let dir = tempfile::tempdir().unwrap();
        let good = idx_u8_bytes(&[2, 2, 2], &[1; 8]);

        let p = write(&dir, "magic.idx", &[0x50, 0x4b, 3, 4, 0, 0, 0, 0]);
        let e = err_text(read_idx_images(&p));
        assert!(e.contains("magic.idx") && e.contains("wrong magic"), "{e}");
        // One photo where a folder of them goes: said, not "wrong magic".
        let p = write(
            &dir,
            "photo.jpg",
            &[0xff, 0xd8, 0xff, 0xe0, 0, 0x10, b'J', b'F'],
        );
        let e = err_text(read_idx_images(&p));
        if cfg!(feature = "photos") {
            assert!(
                e.contains("an image file (Jpeg)") && e.contains("folder"),
                "{e}"
            );
        } else {
            assert!(e.contains("photo.jpg") && e.contains("wrong magic"), "{e}");
        }

        let p = write(&dir, "trunc.idx", &good[..good.len() - 3]);
        let e = err_text(read_idx_images(&p));
        assert!(e.contains("trunc.idx") && e.contains("truncated"), "{e}");

        let p = write(&dir, "header.idx", &good[..7]);
        assert!(err_text(read_idx_images(&p)).contains("truncated"));

        // A header that promises 4 billion images must fail before allocating.
        let p = write(
            &dir,
            "huge.idx",
            &idx_u8_bytes(&[u32::MAX as usize, 28, 28], &[0; 10]),
        );
        assert!(err_text(read_idx_images(&p)).contains("truncated"));

        let p = write(&dir, "empty.idx", &[]);
        assert!(err_text(read_idx_images(&p)).contains("empty file"));

        // A device that never ends is refused from its first bytes, not read into memory
        // (it once was, until the process ran out of memory).
        #[cfg(unix)]
        {
            let e = err_text(read_idx_images("/dev/zero"));
            assert!(e.contains("/dev/zero") && e.contains("type 0x00"), "{e}");
        }

        let p = write(&dir, "zero.idx", &idx_u8_bytes(&[0, 28, 28], &[]));
        assert!(err_text(read_idx_images(&p)).contains("empty"));

        let p = write(&dir, "float.idx", &[0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert!(err_text(read_idx_images(&p)).contains("not supported"));

        let p = write(&dir, "notgz.idx.gz", &[0x1f, 0x8b, 8, 0, 1, 2, 3]);
        assert!(err_text(read_idx_images(&p)).contains("corrupt gzip"));

        let e = err_text(read_idx_images(dir.path().join("missing.idx")));
        assert!(
            e.contains("missing.idx") && e.contains("cannot read"),
            "{e}"
        );

        let imgs = write(&dir, "imgs.idx", &good);
        let labels3 = write(&dir, "labels3.idx", &idx_u8_bytes(&[3], &[0, 1, 2]));
        let e = err_text(read_labelled(&imgs, &labels3));
        assert!(
            e.contains("labels3.idx") && e.contains("3 labels but 2 images"),
            "{e}"
        );

        let bad = write(&dir, "bad.idx", &idx_u8_bytes(&[2], &[1, 12]));
        let e = err_text(read_idx_labels(&bad, 10));
        assert!(e.contains("label 12 at index 1 is out of range"), "{e}");

        assert!(err_text(read_idx_labels(&imgs, 10)).contains("rank 1"));
        assert!(err_text(read_idx_images(&labels3)).contains("rank >= 2"));
    }
}
