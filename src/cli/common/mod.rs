//! What more than one command needs: the error convention (bad input exits 2), output
//! checks, opening and running models, reading codes, an index's card and its lock, the run
//! folder, dedup's radius and groups, the copy-detection benchmark, and what a signal leaves
//! unfinished.

pub mod codes;
#[cfg(feature = "train")]
pub mod copy_detection;
pub mod groups;
pub mod index_card;
pub mod index_lock;
pub mod interrupt;
pub mod model;
pub mod radius;
#[cfg(feature = "train")]
pub mod run_folder;

use std::borrow::Cow;
use std::process::ExitCode;

pub use imsat_data::progress::progress_bar;

/// Options shared by every subcommand.
pub struct Ctx {
    pub quiet: bool,
}

/// An error caused by what the user gave us (a file, a flag): exit status 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Shorthand for a bad-input error.
pub fn bad_input(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(BadInput(msg.into()))
}

/// A folder's photos for training or copy detection ([`imsat_data::photos::read_photo_folder`]),
/// with a progress bar when `show`, and each file left out named on stderr.
#[cfg(feature = "train")]
pub fn read_photos(
    dir: &std::path::Path,
    show: bool,
) -> anyhow::Result<imsat_data::photos::PhotoFolder> {
    let reading = progress_bar(0, "reading", show);
    let folder = imsat_data::photos::read_photo_folder(dir, &|n| {
        reading.set_length(n as u64);
        reading.inc(1);
    })
    .map_err(|e| bad_input(e.to_string()))?;
    reading.finish_and_clear();
    report_skipped(&folder.skipped);
    Ok(folder)
}

/// Name on stderr each file of a folder that was left out, with why (undecodable photos).
/// A name with a line break or other control character is quoted ([`text_name`]): printed
/// as it is, it would add lines that read as other skips.
pub fn report_skipped(skipped: &[(std::path::PathBuf, String)]) {
    for (p, why) in skipped {
        errln!(
            "imsat: skipped {}: {why}",
            text_name(&p.display().to_string())
        );
    }
}

/// An output file as given on the command line, `-` meaning standard output (taken as
/// `/dev/stdout`, which every writer writes into rather than replaces, and whose command's
/// summary goes to stderr); a file named `-` is `./-`.
pub fn out_path(arg: &str) -> Result<std::path::PathBuf, String> {
    dash_for(arg, "/dev/stdout", "standard output")
}

/// An input file as given on the command line, `-` meaning standard input (taken as
/// `/dev/stdin`: codes piped from another command); a file named `-` is `./-`.
pub fn in_path(arg: &str) -> Result<std::path::PathBuf, String> {
    dash_for(arg, "/dev/stdin", "standard input")
}

/// `arg` as a path, `-` being `device` (the `stream` it names), on Unix systems.
fn dash_for(arg: &str, device: &str, stream: &str) -> Result<std::path::PathBuf, String> {
    match arg {
        "-" if cfg!(unix) => Ok(device.into()),
        "-" => Err(format!(
            "- ({stream}) needs a Unix system here; give a file name"
        )),
        _ => Ok(arg.into()),
    }
}

/// Whether `path` is this process's standard output (`--out /dev/stdout`, `/dev/fd/1`, or
/// the file stdout is redirected to). Asked before the write, which may replace that file.
pub fn is_stdout(path: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        use std::os::unix::fs::MetadataExt;
        let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
            return false;
        };
        let Ok(stdout) = std::fs::File::from(fd).metadata() else {
            return false;
        };
        std::fs::metadata(path).is_ok_and(|m| m.dev() == stdout.dev() && m.ino() == stdout.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// Print a command's one-line summary: on stdout, or on stderr where the command's output
/// file is stdout itself ([`is_stdout`]), whose reader takes the data and would get the line
/// after it (a JSON line after raw codes).
pub fn print_summary(output_is_stdout: bool, summary: &serde_json::Value) -> std::io::Result<()> {
    if output_is_stdout {
        errln!("{summary}");
        Ok(())
    } else {
        outln!("{summary}")
    }
}

/// Print one clear line for an error and pick the exit status: 2 for bad input, 1 otherwise.
///
/// Output cut short because its reader went away (`| head`) is no error to report: no line,
/// and the status of a process ended by SIGPIPE (141), as `seq 1 100000 | head -1` gives.
/// After a caught Ctrl-C or `kill`, nothing: the signal's thread ends the process by it.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    interrupt::wait_if_stopping();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::from(141),
        Err(e) => {
            errln!("imsat: error: {}", one_line(&e));
            if is_bad_input(&e) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// The error and its causes on one line, `: `-separated. A cause whose text the line already
/// ends with (a typed error that prints its source) is not repeated.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for c in e.chain() {
        let text = c.to_string();
        if msg.is_empty() {
            msg = text;
        } else if !msg.ends_with(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
    }
    msg.replace('\n', " ")
}

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
    /// A PNG picture (`imsat dedup --sheet`, `imsat eval --plot`).
    Png,
}

impl OutputKind {
    /// The bytes every file of the kind begins with; `None` for raw codes, which have no first
    /// bytes of their own and replace any file but one that begins as a kind imsat knows.
    fn magic(self) -> Option<&'static [u8]> {
        match self {
            OutputKind::Index => Some(&imsat_runtime::index::MAGIC),
            OutputKind::Faiss => Some(crate::faiss::FOURCC),
            OutputKind::Npy => Some(crate::npy::MAGIC),
            OutputKind::Npz => Some(ZIP_MAGIC),
            // The header row `imsat encode` writes (`name,hex` or `name,cluster`).
            OutputKind::Csv => Some(b"name,"),
            OutputKind::Raw => None,
            OutputKind::Png => Some(PNG_MAGIC),
        }
    }

    fn name(self) -> &'static str {
        match self {
            OutputKind::Index => "an imsat index",
            OutputKind::Faiss => "a faiss IndexBinaryFlat",
            OutputKind::Npy => "a .npy file",
            OutputKind::Npz => "a .npz file",
            OutputKind::Csv => "a CSV of codes",
            OutputKind::Raw => "raw codes",
            OutputKind::Png => "a PNG picture",
        }
    }
}

/// The first bytes of a zip archive's first entry (an `.npz`).
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// The first bytes of a PNG.
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Kinds of file known by their first three bytes or more, for a refusal: what imsat writes,
/// images and archives. Raw codes begin with any bytes, so a kind known by fewer (a BMP's
/// `BM`) would refuse an earlier run's codes one time in 65,536 (these: one in 16 million
/// at most).
const KNOWN_STARTS: [(&[u8], &str); 11] = [
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
];

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
    known.map(|(_, name)| *name)
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
    let mut start = Vec::with_capacity(64);
    let read = std::fs::File::open(path).and_then(|f| f.take(64).read_to_end(&mut start));
    let what = match (read, kind.magic()) {
        (Ok(_), Some(magic)) if start.starts_with(magic) => return Ok(()),
        (Ok(_), None) if known_kind(&start).is_none() => return Ok(()),
        (Ok(_), _) => describe_file_start(&start, meta.len()),
        (Err(e), _) => format!("it cannot be read: {e}"),
    };
    Err(bad_input(format!(
        "{flag} {}: exists and is not {} ({what}); give a new name, or remove it",
        path.display(),
        kind.name()
    )))
}

/// What a file of `len` bytes beginning with `start` is, for a refusal: a kind imsat knows by
/// its first bytes, a text, or its first bytes in hex.
fn describe_file_start(start: &[u8], len: u64) -> String {
    if let Some(name) = known_kind(start) {
        return format!("{name} of {len} bytes");
    }
    // Text: UTF-8 (a character cut at the end of the bytes read aside), no control characters
    // but line breaks and tabs.
    let text = match std::str::from_utf8(start) {
        Ok(t) => Some(t),
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&start[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    if text.is_some_and(|t| t.chars().all(|c| !c.is_control() || "\n\r\t".contains(c))) {
        return format!("a text file of {len} bytes");
    }
    let hex: Vec<String> = start.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{len} bytes beginning {}", hex.join(" "))
}

/// Check a PNG we are about to draw: its name must end in `.png` (a `.jpg` name holding PNG
/// bytes would mislead every viewer that trusts the extension), and a file already there must
/// be a PNG ([`check_replaces_only`]).
pub fn check_png_output(path: &std::path::Path, flag: &str) -> anyhow::Result<()> {
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
    check_replaces_only(path, flag, OutputKind::Png)
}

/// Check an output folder: it may not exist yet, but must not be a file.
pub fn check_output_dir(path: &std::path::Path, flag: &str) -> anyhow::Result<()> {
    if path.exists() && !path.is_dir() {
        return Err(bad_input(format!(
            "{flag} {}: is a file, expected a folder",
            path.display()
        )));
    }
    Ok(())
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn is_bad_input(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.is::<BadInput>() || c.is::<imsat_data::DataError>())
}

/// A file name for a text output of a line per group or result: as it is, or quoted with
/// Rust's escapes where a tab, line break or other control character (or a leading quote)
/// would make the line read as something else.
pub fn text_name(name: &str) -> Cow<'_, str> {
    if name.chars().any(char::is_control) || name.starts_with('"') {
        Cow::Owned(format!("{name:?}"))
    } else {
        Cow::Borrowed(name)
    }
}
