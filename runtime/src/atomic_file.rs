//! Safe file writes (std): never leave a half-written file where the user's file was.
//! Everything written (index files, models, codes, reports) goes to a fresh temporary file
//! beside the target, is synced, and is renamed over the target, so a crash or a full disk
//! leaves either the old file or the new one. The file replaced keeps its permissions; a
//! symbolic link is written through (its target is replaced, the link stays), and a device
//! or a pipe (`/dev/null`, a FIFO) is written into, not replaced by a regular file.

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

/// A fresh temporary path next to `path` (hidden, unique per process and call), named after
/// the first [`TEMP_NAME_CHARS`] characters of its name (a name the file system allows must
/// not fail for the few bytes the temporary adds).
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path does not name a file"))?;
    let name: std::string::String = name
        .to_string_lossy()
        .chars()
        .take(TEMP_NAME_CHARS)
        .collect();
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(std::format!(
        ".{}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    Ok(path.with_file_name(tmp))
}

/// Characters of the target's name kept in its temporary's name.
const TEMP_NAME_CHARS: usize = 40;

/// Where a write to `path` lands: a symbolic link's target (followed link by link, a
/// relative one from the link's folder), else `path`.
fn write_target(path: &Path) -> PathBuf {
    let mut at = path.to_path_buf();
    // A bound on the chain, as the OS has (a loop then fails at the write, by name).
    for _ in 0..40 {
        match fs::read_link(&at) {
            Ok(next) => at = at.parent().unwrap_or(Path::new("")).join(next),
            Err(_) => break,
        }
    }
    at
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
    let target = write_target(path);
    let path = target.as_path();
    let existing = fs::metadata(path).ok();
    if existing
        .as_ref()
        .is_some_and(|m| !m.is_file() && !m.is_dir())
    {
        // A device or a pipe: nothing to keep whole, and replacing it would break it.
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(fail(Step::Write, path))?;
        let mut w = BufWriter::with_capacity(1 << 16, file);
        return write(&mut w)
            .and_then(|()| w.flush())
            .map_err(fail(Step::Write, path));
    }
    let tmp = temp_path(path).map_err(fail(Step::Create, path))?;
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(fail(Step::Create, &tmp))?;
    if let Some(m) = &existing
        && let Err(e) = file.set_permissions(m.permissions())
    {
        let _ = fs::remove_file(&tmp);
        return Err(fail(Step::Create, &tmp)(e));
    }
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

    /// A name as long as the file system allows is written (the temporary's name is short).
    #[test]
    fn a_long_name_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(std::format!("{}.idx", "y".repeat(250)));
        write_atomic(&p, b"codes").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"codes");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// What a user pointed the output at stays what it was: a link stays a link to the file
    /// written, a file keeps its permissions, a pipe is written into (each was replaced by a
    /// regular file, and `--out /dev/null` as root replaced the device).
    #[cfg(unix)]
    #[test]
    fn links_permissions_and_pipes_are_kept() {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        let target = dir.path().join("real/codes.idx");
        write_atomic(&target, b"old").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link.idx");
        symlink("real/codes.idx", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&target).unwrap(), b"new");
        let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read_dir(dir.path().join("real")).unwrap().count(), 1);

        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        write_atomic(&fifo, b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    }
}
