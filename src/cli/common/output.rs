//! Checks on a file or folder a command is about to write, before any work: that it exists
//! where it must, that it is not one of the command's inputs, and that it replaces only a
//! file of its own kind (never a model, a data file or a photo the user had).

use super::bad_input;
use super::index_card::CARD_START;
use crate::codes_npz::ZIP_MAGIC;

/// Check a file we are about to write: its folder must exist, it must not be a folder, and
/// it must not be one of the command's `inputs` (files, or folders whose images are read):
/// the write would replace a model, a data file or a photo the user had. A new image inside
/// an input folder is refused too: the next run over that folder would read it as a photo.
/// So are a name ending in `/` and a read-only file. All are the user's mistake (exit status
/// 2), reported before any work is done.
pub fn check_output_file(
    path: &std::path::Path,
    flag: &str,
    inputs: &[&std::path::Path],
) -> anyhow::Result<()> {
    if path.is_dir() {
        return Err(bad_input(format!(
            "{flag} {}: is a folder, expected a file name",
            path.display()
        )));
    }
    // `out/` names a folder whether or not it exists (the write would fail after the work).
    if path.as_os_str().as_encoded_bytes().ends_with(b"/") || path.file_name().is_none() {
        return Err(bad_input(format!(
            "{flag} {}: names a folder, expected a file name",
            path.display()
        )));
    }
    if let Some(input) = inputs.iter().find(|input| replaces(path, input)) {
        return Err(bad_input(format!(
            "{flag} {}: is {} {}, which writing would replace; give another path",
            path.display(),
            if input.is_dir() {
                "an image of the input folder"
            } else {
                "the input"
            },
            input.display()
        )));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !parent.is_dir() {
        return Err(bad_input(format!(
            "{flag} {}: folder {} does not exist",
            path.display(),
            parent.display()
        )));
    }
    let folder = inputs
        .iter()
        .find(|input| imsat_data::photos::is_photo(path) && inside_folder(parent, input));
    if let Some(folder) = folder {
        return Err(bad_input(format!(
            "{flag} {}: is inside the input folder {}, whose next read would take the \
             new image for a photo; write it outside that folder",
            path.display(),
            folder.display()
        )));
    }
    // A file its owner made read-only is not replaced behind that protection (the write
    // renames a new file over it, which the file's own mode does not stop).
    let read_only = !imsat_runtime::atomic_file::is_written_into(path)
        && std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().readonly());
    if read_only {
        return Err(bad_input(format!(
            "{flag} {}: exists and is read-only; make it writable, or give another name",
            path.display()
        )));
    }
    // A folder without write permission (or a read-only disk): said now, not after the work.
    imsat_runtime::atomic_file::check_writable(path).map_err(|e| {
        bad_input(format!(
            "{flag} {}: cannot be written there: {}",
            path.display(),
            e.source
        ))
    })
}

/// Whether writing `out` replaces `input`: the same file (by its resolved path, so through
/// links and `..` too), or an image file in the folder `input` or below it.
fn replaces(out: &std::path::Path, input: &std::path::Path) -> bool {
    let (Ok(out), Ok(input)) = (out.canonicalize(), input.canonicalize()) else {
        // A path that does not exist yet replaces nothing.
        return false;
    };
    out == input
        || (input.is_dir() && out.starts_with(&input) && imsat_data::photos::is_photo(&out))
}

/// Whether the existing folder `dir` is the folder `input` or lies below it (resolved paths).
pub fn inside_folder(dir: &std::path::Path, input: &std::path::Path) -> bool {
    match (dir.canonicalize(), input.canonicalize()) {
        (Ok(dir), Ok(input)) => input.is_dir() && dir.starts_with(input),
        _ => false,
    }
}

/// Whether `path` is a regular file that begins with `magic` (only those bytes are read). A
/// pipe or a terminal is not opened: reading one (`--out /dev/stdout`) waits for input that
/// never comes.
pub fn file_begins_with(path: &std::path::Path, magic: &[u8]) -> bool {
    use std::io::Read;
    let mut start = Vec::with_capacity(magic.len());
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
        && std::fs::File::open(path)
            .and_then(|f| f.take(magic.len() as u64).read_to_end(&mut start))
            .is_ok_and(|_| start == magic)
}

/// The kind of file a command writes at its `--out`, which is all it may replace there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// An imsat index file (`imsat index import` / `build`).
    Index,
    /// A faiss IndexBinaryFlat file (`imsat index export --format faiss`).
    Faiss,
    /// A `.npy` array (`imsat index export --format npy`, `imsat encode`).
    Npy,
    /// A `.npz` archive (`imsat encode`).
    Npz,
    /// A CSV of codes or cluster ids (`imsat encode`).
    Csv,
    /// Raw u64 codes or a cluster id a line (`imsat encode`).
    Raw,
    /// A PNG picture of this kind (`imsat dedup --sheet`, `imsat eval --plot`).
    Png(crate::plot::Picture),
}

impl OutputKind {
    /// Whether a file of `len` bytes beginning with `start` (its first [`START_BYTES`] or
    /// fewer) is what the command writes there, an earlier run's output it may replace.
    fn is_own(self, start: &[u8], len: u64) -> bool {
        match self {
            OutputKind::Index => start.starts_with(&imsat_runtime::index::MAGIC),
            OutputKind::Faiss => start.starts_with(crate::faiss::FOURCC),
            // Codes (uint8) or cluster ids (int64), not a float array of features.
            OutputKind::Npy => crate::npy::holds_integers(start),
            // Its first entry is one `imsat encode` writes (names, then codes or clusters).
            OutputKind::Npz => crate::codes_npz::first_entry(start)
                .is_some_and(|name| ["names.npy", "codes.npy", "clusters.npy"].contains(&name)),
            // The header row `imsat encode` writes.
            OutputKind::Csv => [b"name,hex".as_slice(), b"name,cluster"].iter().any(|h| {
                start
                    .strip_prefix(*h)
                    .is_some_and(|rest| rest.starts_with(b"\n") || rest.starts_with(b"\r\n"))
            }),
            OutputKind::Raw => is_raw_output(start, len),
            OutputKind::Png(what) => {
                start.starts_with(PNG_MAGIC) && crate::plot::drawn_by_imsat(start, what)
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            OutputKind::Index => "an imsat index",
            OutputKind::Faiss => "a faiss IndexBinaryFlat",
            OutputKind::Npy => "a .npy file of codes or ids",
            OutputKind::Npz => "a .npz file of codes or ids",
            OutputKind::Csv => "a CSV of codes",
            OutputKind::Raw => "raw codes",
            OutputKind::Png(crate::plot::Picture::DedupSheet) => "a dedup sheet imsat drew",
            OutputKind::Png(crate::plot::Picture::CopyDetectionRoc) => "an ROC plot imsat drew",
            OutputKind::Png(_) => "a picture of this kind imsat drew",
        }
    }
}

/// How many first bytes of an existing output are read to tell its kind: a `.npy` header
/// (NumPy writes 128 bytes) and a PNG's chunks before its pixels fit.
const START_BYTES: u64 = 512;

/// Whether a file of `len` bytes beginning with `start` may be raw output of `imsat encode`:
/// whole 64-bit words of codes that begin as no kind imsat knows, as no ONNX model and as no
/// text, or a text of cluster ids (digits, a line each). Raw codes have no first bytes of
/// their own, so this is what is left when the rest is ruled out.
fn is_raw_output(start: &[u8], len: u64) -> bool {
    let ids = !start.is_empty() && start.iter().all(|&b| b.is_ascii_digit() || b == b'\n');
    let codes = len.is_multiple_of(8)
        && known_kind(start).is_none()
        && !is_onnx(start)
        && !is_text(start)
        && !start.starts_with(CARD_START);
    ids || codes
}

/// Whether `start` begins as an ONNX model: a serialized `ModelProto`, whose writers put its
/// `ir_version` (field 1: 3 to 14 today) first and the next field present after it: a short
/// printable string (producer, version, domain, doc string), the model version or the graph.
/// Of raw codes, about one file in 300,000 begins so.
pub(super) fn is_onnx(start: &[u8]) -> bool {
    let [0x08, 3..=31, tag, rest @ ..] = start else {
        return false;
    };
    match tag {
        0x12 | 0x1a | 0x22 | 0x32 => match rest {
            [len, text @ ..] => {
                (1..=64).contains(len)
                    && text
                        .iter()
                        .take(*len as usize)
                        .all(|b| b.is_ascii_graphic() || *b == b' ')
            }
            [] => false,
        },
        0x28 | 0x3a => true,
        _ => false,
    }
}

/// Whether `start` is text: UTF-8 (a character cut at the end of the bytes read aside), no
/// control characters but line breaks and tabs.
pub(super) fn is_text(start: &[u8]) -> bool {
    let text = match std::str::from_utf8(start) {
        Ok(t) => Some(t),
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&start[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    text.is_some_and(|t| {
        !t.is_empty() && t.chars().all(|c| !c.is_control() || "\n\r\t".contains(c))
    })
}

/// The first bytes of a PNG.
pub const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Kinds of file known by their first three bytes or more, for a refusal: what imsat writes,
/// images, archives, databases and the files beside them in a data folder. Raw codes begin
/// with any bytes, so a kind known by fewer (a BMP's `BM`) would refuse an earlier run's codes
/// one time in 65,536 (these: one in 16 million at most each).
const KNOWN_STARTS: [(&[u8], &str); 27] = [
    (&imsat_runtime::index::MAGIC, "an imsat index"),
    (crate::faiss::FOURCC, "a faiss IndexBinaryFlat"),
    (crate::npy::MAGIC, "a .npy file"),
    (PNG_MAGIC, "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"II*\0", "a TIFF image"),
    (b"MM\0*", "a TIFF image"),
    (b"RIFF", "a RIFF file (a WebP image, a WAV)"),
    (ZIP_MAGIC, "a zip or .npz file"),
    (b"\x1f\x8b\x08", "a gzip file"),
    (b"%PDF-", "a PDF document"),
    (b"\x7fELF", "a program (ELF)"),
    (b"SQLite format 3\0", "an SQLite database"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
    (b"PAR1", "a Parquet file"),
    (b"ARROW1", "an Arrow file"),
    (b"\x80\x04\x95", "a Python pickle"),
    (b"\x80\x05\x95", "a Python pickle"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
    (b"\xfd7zXZ\0", "an xz file"),
    (b"\x28\xb5\x2f\xfd", "a zstd file"),
    (b"BZh", "a bzip2 file"),
    (b"OggS", "an Ogg file"),
    (b"fLaC", "a FLAC file"),
    (b"\x1a\x45\xdf\xa3", "a Matroska or WebM video"),
    (b"\xcf\xfa\xed\xfe", "a program (Mach-O)"),
];

/// Where a tar archive says `ustar` (its first header's magic, 257 bytes in).
const TAR_MAGIC_AT: usize = 257;

/// An index file that cannot be read, as bad input: `e` said, and where the file is of a
/// kind imsat knows, what it is and the command that reads it (a faiss file or a `.npy`
/// of codes given to `search --index` is made an index by `index import`).
pub fn unreadable_index(path: &std::path::Path, e: impl std::fmt::Display) -> anyhow::Error {
    use std::io::Read;
    let mut start = [0u8; 8];
    // Only a regular file is read again: a pipe's bytes were the ones read.
    let read = std::fs::metadata(path)
        .is_ok_and(|m| m.is_file())
        .then(|| {
            std::fs::File::open(path)
                .and_then(|mut f| f.read(&mut start))
                .ok()
        })
        .flatten();
    let start = &start[..read.unwrap_or(0)];
    let hint = if start.starts_with(crate::faiss::FOURCC) {
        " (it is a faiss IndexBinaryFlat: `imsat index import --faiss FILE --out INDEX` makes an \
         index of it)"
            .to_string()
    } else if start.starts_with(crate::npy::MAGIC) {
        " (it is a .npy file: `imsat index import --npy FILE --out INDEX` makes an index of \
         packed codes)"
            .to_string()
    } else {
        match known_kind(start) {
            Some(kind) if !start.starts_with(&imsat_runtime::index::MAGIC) => {
                format!(" (it is {kind})")
            }
            _ => String::new(),
        }
    };
    bad_input(format!("{e}{hint}"))
}

/// What a file beginning with `start` is, if it begins as a kind in [`KNOWN_STARTS`].
fn known_kind(start: &[u8]) -> Option<&'static str> {
    let known = KNOWN_STARTS
        .iter()
        .find(|(magic, _)| start.starts_with(magic));
    let tar = start.get(TAR_MAGIC_AT..TAR_MAGIC_AT + 5) == Some(b"ustar");
    known
        .map(|(_, name)| *name)
        .or(tar.then_some("a tar archive"))
}

/// Refuse an existing output `path` that is not a file of the `kind` the command writes: an
/// earlier run's output is replaced as usual, but a model, a text or any other file the user
/// named by mistake is not (it was replaced without a word). What is written into rather
/// than replaced (standard output, whatever it is open on; a device; a pipe, whose reading
/// waits for ever) is not checked; of a regular file only the first bytes are read; an empty
/// file holds nothing to lose. Bad input (exit status 2), said before any work.
pub fn check_replaces_only(
    path: &std::path::Path,
    flag: &str,
    kind: OutputKind,
) -> anyhow::Result<()> {
    use std::io::Read;
    if imsat_runtime::atomic_file::is_written_into(path) {
        return Ok(());
    }
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    if !meta.is_file() || meta.len() == 0 {
        return Ok(());
    }
    let mut start = Vec::with_capacity(START_BYTES as usize);
    let read = std::fs::File::open(path).and_then(|f| f.take(START_BYTES).read_to_end(&mut start));
    let what = match read {
        Ok(_) if kind.is_own(&start, meta.len()) => return Ok(()),
        Ok(_) => describe_file_start(&start, meta.len()),
        Err(e) => format!("it cannot be read: {e}"),
    };
    Err(bad_input(format!(
        "{flag} {}: exists and is not {} ({what}); give a new name, or remove it",
        path.display(),
        kind.name()
    )))
}

/// The first [`START_BYTES`] of the regular file at `path`, and its length; `None` for what
/// is not a regular file (a pipe is not opened) or cannot be read.
pub(super) fn file_start(path: &std::path::Path) -> Option<(Vec<u8>, u64)> {
    use std::io::Read;
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    let mut start = Vec::with_capacity(START_BYTES as usize);
    let file = std::fs::File::open(path).ok()?;
    file.take(START_BYTES).read_to_end(&mut start).ok()?;
    Some((start, meta.len()))
}

/// What the file at `path` is, for a refusal: a folder, something else that is not a regular
/// file, or what its first bytes say ([`describe_file_start`]).
pub(super) fn describe_file(path: &std::path::Path) -> String {
    match file_start(path) {
        Some((start, len)) => describe_file_start(&start, len),
        None if path.is_dir() => "a folder".to_string(),
        None => "not a regular file, or unreadable".to_string(),
    }
}

/// What a file of `len` bytes beginning with `start` is, for a refusal: a picture imsat drew,
/// a kind imsat knows by its first bytes, an index's card of names, an ONNX model, a text, or
/// its first bytes in hex.
fn describe_file_start(start: &[u8], len: u64) -> String {
    let picture = crate::plot::Picture::ALL
        .into_iter()
        .find(|&p| start.starts_with(PNG_MAGIC) && crate::plot::drawn_by_imsat(start, p));
    if let Some(picture) = picture {
        return format!("imsat's {} of {len} bytes", picture.name());
    }
    if let Some(name) = known_kind(start) {
        return format!("{name} of {len} bytes");
    }
    if start.starts_with(CARD_START) {
        return format!("the card of names of an index, {len} bytes");
    }
    if is_onnx(start) {
        return format!("an ONNX model of {len} bytes");
    }
    if is_text(start) {
        return format!("a text file of {len} bytes");
    }
    if !len.is_multiple_of(8) {
        return format!("{len} bytes, not whole 64-bit words");
    }
    let hex: Vec<String> = start.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{len} bytes beginning {}", hex.join(" "))
}

/// Check a PNG we are about to draw: its name must end in `.png` (a `.jpg` name holding PNG
/// bytes would mislead every viewer that trusts the extension), and a file already there must
/// be a picture of the kind `what` imsat drew, which carries its mark ([`check_replaces_only`]):
/// never a photo, nor another picture (a run's training curves).
pub fn check_png_output(
    path: &std::path::Path,
    flag: &str,
    what: crate::plot::Picture,
) -> anyhow::Result<()> {
    let png = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if !png {
        return Err(bad_input(format!(
            "{flag} {}: it is drawn as a PNG; give a name ending in .png",
            path.display()
        )));
    }
    check_replaces_only(path, flag, OutputKind::Png(what))
}

/// Check an output folder: it may not exist yet, but must not be a file, nor lie below one
/// (`notes.txt/run`: its folders could not be made).
pub fn check_output_dir(path: &std::path::Path, flag: &str) -> anyhow::Result<()> {
    if path.exists() && !path.is_dir() {
        return Err(bad_input(format!(
            "{flag} {}: is a file, expected a folder",
            path.display()
        )));
    }
    let file_above = path
        .ancestors()
        .skip(1)
        .find(|a| !a.as_os_str().is_empty() && a.exists() && !a.is_dir());
    if let Some(file) = file_above {
        return Err(bad_input(format!(
            "{flag} {}: {} is a file, so no folder can be made below it",
            path.display(),
            file.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Raw output replaces an earlier run's codes or cluster ids, and nothing that begins as
    /// a model, a text, a card or a known kind, or is not whole 64-bit words.
    #[test]
    fn raw_output_replaces_only_what_raw_output_could_be() {
        let raw = |bytes: &[u8]| is_raw_output(&bytes[..bytes.len().min(512)], bytes.len() as u64);
        let codes: Vec<u8> = (0..64u64)
            .flat_map(|i| (i * 0x9e37_79b9_7f4a_7c15).to_le_bytes())
            .collect();
        assert!(raw(&codes));
        assert!(raw(b"3\n7\n0\n"));
        assert!(!raw(&codes[..60]), "not whole words");
        for model in ["hash16.onnx", "photo64.int8.onnx"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("models")
                .join(model);
            let bytes = std::fs::read(path).unwrap();
            assert!(is_onnx(&bytes), "{model}");
            let whole = &bytes[..bytes.len() / 8 * 8];
            assert!(!raw(whole), "{model}");
        }
        assert!(!raw(b"call the vet on Monday.\n"));
        assert!(!raw(
            b"{\"format\":\"imsat index names 1\", \"x\": 1}    \n"
        ));
        assert!(!raw(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0"));
        assert!(!raw(b"\xff\xd8\xff\xe0\0\x10JFIF"));
        // A database or an archive beside the data (a photo catalogue is page-sized: whole
        // words) is refused, with what it is.
        let mut sqlite = b"SQLite format 3\0".to_vec();
        sqlite.resize(8192, 0);
        assert!(!raw(&sqlite));
        assert_eq!(
            describe_file_start(&sqlite, 8192),
            "an SQLite database of 8192 bytes"
        );
        let mut tar = vec![0u8; 1024];
        tar[..6].copy_from_slice(b"a.jpg\0");
        tar[TAR_MAGIC_AT..TAR_MAGIC_AT + 6].copy_from_slice(b"ustar\0");
        assert!(!raw(&tar));
        assert!(describe_file_start(&tar[..512], 1024).starts_with("a tar archive"));
        // Every magic is three bytes or more, so codes are refused one time in 16 million at most.
        assert!(KNOWN_STARTS.iter().all(|(magic, _)| magic.len() >= 3));
        // What the onnx package writes for a bare graph (IR version 14, the graph first).
        assert!(is_onnx(&[0x08, 0x0e, 0x3a, 0x03, 0x12, 0x01, 0x67, 0x42]));
        // Code words that begin with ONNX's first tag but go on otherwise.
        assert!(!is_onnx(&[0x08, 0x80, 0x12, 5, b'i', b'm', b's', b'a']));
        assert!(!is_onnx(&[0x08, 0x08, 0x13, 0, 0, 0, 0, 0]));
        assert!(!is_onnx(&[0x08, 0x08, 0x12, 5, b'i', 0, b's', b'a']));
        assert!(!is_onnx(&[0x08, 0x08, 0x12, 0, 0, 0, 0, 0]));
    }
}
