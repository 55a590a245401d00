//! Paths as given on the command line (`-` for standard input or output), the summary line
//! that must not follow data written to standard output, and file names printed in text
//! output.

use std::borrow::Cow;
use std::path::Path;

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

/// Standard output whose write errors say that they are its own: "No space left on device"
/// alone, after a command wrote its files, would seem to be about them.
pub struct NamedStdout<W>(pub W);

impl<W: std::io::Write> std::io::Write for NamedStdout<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(stdout_error)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(stdout_error)
    }
}

/// `e` as an error of writing standard output, of the same kind (a closed pipe stays one).
fn stdout_error(e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("writing standard output: {e}"))
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

/// The refusal of a file whose name is not UTF-8, saying `which` output cannot hold it
/// exactly ("a CSV or NPZ name cannot hold; rename it"): written lossily, two files could
/// share one name. One wording for every command that refuses such a name.
pub fn not_utf8(path: &Path, which: &str) -> anyhow::Error {
    super::bad_input(format!(
        "{}: the file name is not UTF-8, which {which}",
        path.display()
    ))
}

/// A path for a text list of a line per file: [`text_name`] of it, or, where it is not
/// UTF-8, quoted with escapes for the bytes that are not (`"a\xE9.jpg"`), never a lossy
/// spelling that names another file.
pub fn text_path(path: &Path) -> Cow<'_, str> {
    match path.to_str() {
        Some(name) => text_name(name),
        None => Cow::Owned(format!("{path:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_path_is_exact_or_quoted_with_escapes() {
        assert_eq!(text_path(Path::new("fold/a b.jpg")), "fold/a b.jpg");
        assert_eq!(text_path(Path::new("fold/a\nb.jpg")), r#""fold/a\nb.jpg""#);
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let odd = Path::new(std::ffi::OsStr::from_bytes(b"fold/caf\xe9.jpg"));
            assert_eq!(text_path(odd), r#""fold/caf\xE9.jpg""#);
        }
    }
}
