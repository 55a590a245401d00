//! Safe file writes (std): never leave a half-written file where the user's file was.
//! Everything written (index files, models, codes, reports) goes to a fresh temporary file
//! beside the target, is synced, and is renamed over the target, so a crash or a full disk
//! leaves either the old file or the new one.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::string::ToString;
use std::sync::atomic::{AtomicU64, Ordering};

/// The step of an atomic write that failed, and on which file (the temporary one for
/// `Create` and `Write`, the target for `Replace`).
#[derive(Debug)]
pub struct WriteError {
    pub step: Step,
    pub path: PathBuf,
    pub source: io::Error,
}

/// What was being done when an atomic write failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Choosing or creating the temporary file.
    Create,
    /// Writing or syncing it.
    Write,
    /// Renaming it over the target.
    Replace,
}

impl Step {
    /// The verb for messages: "cannot {verb} PATH".
    pub fn verb(self) -> &'static str {
        match self {
            Step::Create => "create",
            Step::Write => "write",
            Step::Replace => "replace",
        }
    }
}

impl core::fmt::Display for WriteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "cannot {} {}: {}",
            self.step.verb(),
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl From<WriteError> for io::Error {
    fn from(e: WriteError) -> io::Error {
        io::Error::new(e.source.kind(), e.to_string())
    }
}

/// A fresh temporary path next to `path` (hidden, unique per process and call).
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path does not name a file"))?;
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(std::format!(
        ".{}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    Ok(path.with_file_name(tmp))
}

fn fail(step: Step, path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |source| WriteError {
        step,
        path: path.to_path_buf(),
        source,
    }
}

/// Write `path` atomically through `write`, which gets a buffered writer on the temporary
/// file; on any error the temporary file is removed and the old `path` is untouched.
pub fn write_with(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), WriteError> {
    let tmp = temp_path(path).map_err(fail(Step::Create, path))?;
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(fail(Step::Create, &tmp))?;
    let mut w = BufWriter::with_capacity(1 << 16, file);
    let written = write(&mut w)
        .and_then(|()| w.into_inner().map_err(|e| e.into_error()))
        .and_then(|f| f.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(fail(Step::Write, &tmp)(e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(fail(Step::Replace, path)(e));
    }
    // Make the rename itself durable where the platform allows it.
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Write `bytes` to `path` atomically (see [`write_with`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, |w| w.write_all(bytes)).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("report.json");
        write_atomic(&p, b"old").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // A failing writer keeps the old file and removes its temporary.
        let e = write_with(&p, |_| Err(io::Error::other("disk full"))).unwrap_err();
        assert_eq!(e.step, Step::Write);
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // A folder that does not exist: an error naming the step, not a panic.
        let e = write_with(&dir.path().join("no/such/x"), |_| Ok(())).unwrap_err();
        assert_eq!(e.step, Step::Create);
        assert!(write_atomic(&dir.path().join("no/such/x"), b"x").is_err());
    }
}
