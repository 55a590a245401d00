//! Safe file writes: never leave a half-written file where the user's file was.
//! Everything written (index files, models, codes, reports) goes to a fresh temporary file
//! beside the target, is synced, and is renamed over the target, so a crash or a full disk
//! leaves either the old file or the new one. The file replaced keeps its permissions; a
//! symbolic link is written through (its target is replaced, the link stays), and a device
//! or a pipe (`/dev/null`, a FIFO) is written into, not replaced by a regular file, as is a
//! descriptor of this process named by a path (`/dev/stdout`, `/dev/fd/N`), whatever it is
//! open on.
//!
//! A temporary file is as large as its output and hidden: one left by a process that a signal
//! ended (Ctrl-C, `kill`) is found by nobody. [`remove_unfinished`] removes them, for a
//! signal handler to call before the process ends.
//!
//! Needs the `std` feature.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::string::ToString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

/// The step of an atomic write that failed, and on which file (the temporary one for
/// `Create` and `Write`, the target for `Replace`).
#[derive(Debug)]
pub struct WriteError {
    /// The step that failed.
    pub step: Step,
    /// The file being written: the target, not the temporary beside it, which is this
    /// module's business (a missing folder named `dir/.x.idx.5833-1.tmp` said less).
    pub path: PathBuf,
    /// What the operating system said.
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
    /// The verb for messages: "PATH: cannot {verb}: ...", as a read error says "cannot read".
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
            "{}: cannot {}: {}",
            self.path.display(),
            self.step.verb(),
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
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    Ok(path.with_file_name(tmp))
}

/// The number of the next temporary name of this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Characters of the target's name kept in its temporary's name.
const TEMP_NAME_CHARS: usize = 40;

/// Temporary names tried past one already taken before a write gives up.
const TEMP_NAME_TRIES: usize = 1000;

/// Whether `name` is the name of a temporary file that a write to a file named `target`
/// makes beside it (`.NAME.PID-N.tmp`): what a process killed mid-write leaves there.
pub fn is_temporary_of(name: &str, target: &str) -> bool {
    let kept: std::string::String = target.chars().take(TEMP_NAME_CHARS).collect();
    name.strip_prefix('.')
        .and_then(|n| n.strip_prefix(kept.as_str()))
        .and_then(|n| n.strip_prefix('.'))
        .and_then(|n| n.strip_suffix(".tmp"))
        .is_some_and(|n| n.split_once('-').is_some())
}

/// `path`, then each path its symbolic links lead to, link by link (a relative one read from
/// the link's folder), up to a bound on the chain as the OS has (a loop then fails at the
/// write, by name).
fn link_chain(path: &Path) -> impl Iterator<Item = PathBuf> {
    core::iter::successors(Some(path.to_path_buf()), |at| {
        let next = fs::read_link(at).ok()?;
        Some(at.parent().unwrap_or(Path::new("")).join(next))
    })
    .take(41)
}

/// Where a write to `path` lands: a symbolic link's target, else `path`.
fn write_target(path: &Path) -> PathBuf {
    link_chain(path)
        .last()
        .unwrap_or_else(|| path.to_path_buf())
}

/// Whether a write to `path` goes into what is there rather than replacing it (and no other
/// file belongs beside it, such as an index's card): a device or a pipe (its links followed
/// by the kernel), or a descriptor of this process named by a path (`/dev/stdout`,
/// `/dev/fd/N`, `/proc/self/fd/N`), written through whatever it is open on.
pub fn is_written_into(path: &Path) -> bool {
    descriptor(path).is_some() || is_device_or_pipe(path)
}

/// Whether `path` (its links followed by the kernel) is a device or a pipe.
fn is_device_or_pipe(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// The open descriptor of this process that `path` names, itself or through its links:
/// `/dev/stdout` (and stdin, stderr), `/dev/fd/N`, `/proc/self/fd/N`, `/proc/PID/fd/N`.
/// A write goes through a duplicate of it, at its offset and with its flags, as a program
/// writing to its standard output does: a shell's `>>` appends, and a loop's `done >
/// codes.u64` gets every run's codes. Replacing the file it is open on left the shell's
/// descriptor on a deleted file (the next run wrote `codes.u64 (deleted)`), and opening the
/// path again (Linux) starts at offset 0, without `O_APPEND`.
#[cfg(unix)]
fn descriptor(path: &Path) -> Option<i32> {
    let fd = link_chain(path).find_map(|at| descriptor_named(&at))?;
    // Open: the kernel resolves a closed descriptor's path to nothing.
    fs::metadata(path).is_ok().then_some(fd)
}

#[cfg(not(unix))]
fn descriptor(_path: &Path) -> Option<i32> {
    None
}

/// The descriptor a path names by its text alone (no link followed).
#[cfg(unix)]
fn descriptor_named(path: &Path) -> Option<i32> {
    let text = path.to_str()?;
    let standard = ["/dev/stdin", "/dev/stdout", "/dev/stderr"];
    if let Some(fd) = standard.iter().position(|&s| s == text) {
        return Some(fd as i32);
    }
    let own = std::format!("/proc/{}/fd/", std::process::id());
    let number = ["/dev/fd/", "/proc/self/fd/", own.as_str()]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix))?;
    // Digits only: no sign (`-1` is no descriptor, and may not be borrowed).
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse::<u32>().ok()?.try_into().ok()
}

/// A file handle of its own on this process's descriptor `fd`, open as [`descriptor`] found
/// it a moment before.
#[cfg(unix)]
fn duplicate(fd: i32) -> io::Result<File> {
    use std::os::fd::BorrowedFd;
    // SAFETY: `fd` was open when `descriptor` looked, and is only borrowed to be duplicated;
    // a descriptor closed since fails the duplication (EBADF), an error.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(File::from(borrowed.try_clone_to_owned()?))
}

#[cfg(not(unix))]
fn duplicate(_fd: i32) -> io::Result<File> {
    Err(io::ErrorKind::Unsupported.into())
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
    stage(path, write)?.commit()
}

/// A file written and synced beside its target but not yet in place: [`Staged::commit`]
/// renames it over the target; dropped uncommitted, it is removed. Two files that must change
/// together (an index and the card naming its version) are both staged before either is
/// committed, so a write that fails (a full disk) leaves the old pair as it was: only the
/// renames, which need no space, stand between them.
#[derive(Debug)]
pub struct Staged {
    /// The temporary file; `None` once committed, or where the target is written into
    /// directly ([`is_written_into`]: nothing to stage).
    tmp: Option<PathBuf>,
    target: PathBuf,
}

/// Write the file that will replace `path` (see [`write_with`]), without replacing it yet.
pub fn stage(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<Staged, WriteError> {
    // A descriptor, a device or a pipe ([`is_written_into`]): nothing to keep whole, and
    // replacing it would break it. A descriptor is duplicated; the rest are opened by the
    // name given.
    let into = match descriptor(path) {
        Some(fd) => Some(duplicate(fd)),
        None if is_device_or_pipe(path) => Some(OpenOptions::new().write(true).open(path)),
        None => None,
    };
    if let Some(file) = into {
        let file = file.map_err(fail(Step::Write, path))?;
        let mut w = BufWriter::with_capacity(1 << 16, file);
        write(&mut w)
            .and_then(|()| w.flush())
            .map_err(fail(Step::Write, path))?;
        return Ok(Staged {
            tmp: None,
            target: path.to_path_buf(),
        });
    }
    let target = write_target(path);
    let path = target.as_path();
    let existing = fs::metadata(path).ok();
    let (tmp, file) = create_temp(path)?;
    // From here on the temporary file is removed on every error (by `Staged`'s drop).
    let staged = Staged {
        tmp: Some(tmp.clone()),
        target: target.clone(),
    };
    if let Some(m) = &existing {
        file.set_permissions(m.permissions())
            .map_err(fail(Step::Create, path))?;
    }
    let mut w = BufWriter::with_capacity(1 << 16, file);
    write(&mut w)
        .and_then(|()| w.into_inner().map_err(|e| e.into_error()))
        .and_then(|f| f.sync_all())
        .map_err(fail(Step::Write, path))?;
    Ok(staged)
}

impl Staged {
    /// Rename the staged file over its target (and sync the folder where the platform
    /// allows it, so the rename itself is durable).
    pub fn commit(self) -> Result<(), WriteError> {
        commit_together(std::vec![self])
    }

    /// [`Staged::commit`], with the record of unfinished temporaries held by the caller.
    fn rename_into_place(mut self, u: &mut Unfinished) -> Result<(), WriteError> {
        let Some(tmp) = self.tmp.take() else {
            return Ok(());
        };
        let path = self.target.as_path();
        let renamed = fs::rename(&tmp, path);
        if renamed.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        u.paths.retain(|p| *p != tmp);
        renamed.map_err(fail(Step::Replace, path))?;
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
}

/// Commit staged files in order, as one step for [`remove_unfinished`], which waits until
/// every rename is done: a signal never leaves the first file new and the second old (an
/// index beside the card of its previous version). A rename that fails stops there; the
/// files not yet committed are removed.
pub fn commit_together(staged: Vec<Staged>) -> Result<(), WriteError> {
    let mut rest = staged.into_iter();
    let committed = {
        let mut u = unfinished();
        rest.by_ref().try_for_each(|s| s.rename_into_place(&mut u))
    };
    // Dropped after the lock is released: each removes its temporary and its record.
    drop(rest);
    committed
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = fs::remove_file(&tmp);
            finished(&tmp);
        }
    }
}

/// Whether a write to `path` can start: its temporary file can be made beside its target
/// (created and removed at once). For a check before long work, so that a folder that
/// cannot be written is said before an hour of encoding, not after. What is written into
/// ([`is_written_into`]) is not opened: opening a pipe waits for its reader.
pub fn check_writable(path: &Path) -> Result<(), WriteError> {
    if is_written_into(path) {
        return Ok(());
    }
    let (tmp, _) = create_temp(&write_target(path))?;
    let _ = fs::remove_file(&tmp);
    finished(&tmp);
    Ok(())
}

/// A fresh temporary file beside `target` (the one a write stages in), created, not there
/// before.
fn create_temp(target: &Path) -> Result<(PathBuf, File), WriteError> {
    // Made and recorded under one lock, so that `remove_unfinished` sees every temporary.
    let mut u = unfinished();
    if u.stopped {
        let stopping = io::Error::new(io::ErrorKind::Interrupted, "the process is stopping");
        return Err(fail(Step::Create, target)(stopping));
    }
    // A name taken is another's temporary: a process of this one's id killed while writing
    // (in a container every run is process 1), or one of another PID namespace writing now.
    // Neither is ours to remove: the next number is tried.
    let mut tries = 0;
    let (tmp, file) = loop {
        let tmp = temp_path(target).map_err(fail(Step::Create, target))?;
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < TEMP_NAME_TRIES => {
                tries += 1;
            }
            Err(e) => return Err(fail(Step::Create, target)(e)),
        }
    };
    u.paths.push(tmp.clone());
    Ok((tmp, file))
}

/// The temporary files this process has made and not yet renamed or removed.
struct Unfinished {
    paths: Vec<PathBuf>,
    /// Set by [`remove_unfinished`]: no temporary is made after it.
    stopped: bool,
}

static UNFINISHED: Mutex<Unfinished> = Mutex::new(Unfinished {
    paths: Vec::new(),
    stopped: false,
});

fn unfinished() -> MutexGuard<'static, Unfinished> {
    UNFINISHED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// No longer unfinished: removed (or, for [`check_writable`], never written).
fn finished(tmp: &Path) {
    unfinished().paths.retain(|p| p != tmp);
}

/// Remove every temporary file this process is writing, and refuse to make new ones: for a
/// handler of SIGINT or SIGTERM to call before it ends the process (no destructor runs then).
/// A write under way fails at its next step, or its rename fails; the files it was to replace
/// are untouched. Returns how many temporaries were removed.
pub fn remove_unfinished() -> usize {
    let mut u = unfinished();
    u.stopped = true;
    let removed = u
        .paths
        .iter()
        .filter(|p| fs::remove_file(p).is_ok())
        .count();
    u.paths.clear();
    removed
}

/// Write `bytes` to `path` atomically (see [`write_with`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, |w| w.write_all(bytes)).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Temporaries a process of this one's id left (killed while writing: in a container every
    /// run is process 1) take the names this one would use: the write takes the next free one,
    /// and leaves those files alone (they could be another PID namespace's, writing now).
    #[test]
    fn names_taken_by_other_temporaries_are_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("codes.u64");
        let next = TEMP_COUNTER.load(Ordering::Relaxed);
        let taken: Vec<PathBuf> = (next..next + 100)
            .map(|n| {
                dir.path()
                    .join(std::format!(".codes.u64.{}-{n}.tmp", std::process::id()))
            })
            .collect();
        for t in &taken {
            fs::write(t, b"left by a killed run").unwrap();
        }
        write_atomic(&target, b"new codes").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new codes");
        for t in &taken {
            assert_eq!(fs::read(t).unwrap(), b"left by a killed run");
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), taken.len() + 1);
    }

    #[test]
    fn a_writable_target_is_checked_without_a_trace() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("codes.csv");
        check_writable(&p).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        write_atomic(&p, b"old").unwrap();
        check_writable(&p).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("no/such/x");
        let e = check_writable(&missing).unwrap_err();
        assert_eq!(e.step, Step::Create);
        // The message names the step and the target (not the temporary beside it), and
        // keeps what the OS said as its source.
        let os = e.source.to_string();
        assert_eq!(
            e.to_string(),
            std::format!("{}: cannot create: {os}", missing.display())
        );
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some(os.as_str()));
        let verbs = [Step::Create, Step::Write, Step::Replace].map(Step::verb);
        assert_eq!(verbs, ["create", "write", "replace"]);
        #[cfg(unix)]
        check_writable(Path::new("/dev/null")).unwrap();
    }

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
        assert_eq!((e.step, e.path.as_path()), (Step::Write, p.as_path()));
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // A folder that does not exist: an error naming the step, not a panic.
        // It names the file asked for, not the temporary beside it.
        let missing = dir.path().join("no/such/x");
        let e = write_with(&missing, |_| Ok(())).unwrap_err();
        assert_eq!(
            (e.step, e.path.as_path()),
            (Step::Create, missing.as_path())
        );
        assert!(!e.to_string().contains("/.x."), "{e}");
        assert!(write_atomic(&dir.path().join("no/such/x"), b"x").is_err());
    }

    /// Two staged files change together or not at all: a second one that cannot be written
    /// leaves the first uncommitted, removed, and both old files as they were.
    #[test]
    fn staged_files_replace_their_targets_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            dir.path().join("lib.idx"),
            dir.path().join("lib.idx.names.json"),
        );
        write_atomic(&a, b"old index").unwrap();
        write_atomic(&b, b"old card").unwrap();
        let first = stage(&a, |w| w.write_all(b"new index")).unwrap();
        let e = stage(&b, |_| Err(io::Error::other("disk full"))).unwrap_err();
        assert_eq!(e.step, Step::Write);
        drop(first);
        assert_eq!(fs::read(&a).unwrap(), b"old index");
        assert_eq!(fs::read(&b).unwrap(), b"old card");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
        let first = stage(&a, |w| w.write_all(b"new index")).unwrap();
        let second = stage(&b, |w| w.write_all(b"new card")).unwrap();
        assert_eq!(
            fs::read(&a).unwrap(),
            b"old index",
            "staged is not in place"
        );
        commit_together(std::vec![first, second]).unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"new index");
        assert_eq!(fs::read(&b).unwrap(), b"new card");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    /// Files committed together stop at the first rename that fails, and the ones after it
    /// leave no temporary behind.
    #[test]
    fn files_committed_together_stop_at_a_failed_rename() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        let first = stage(&a, |w| w.write_all(b"a")).unwrap();
        let second = stage(&b, |w| w.write_all(b"b")).unwrap();
        let third = stage(&c, |w| w.write_all(b"c")).unwrap();
        // A folder that is not empty cannot be renamed over.
        fs::create_dir(&b).unwrap();
        fs::write(b.join("inside"), b"x").unwrap();
        let e = commit_together(std::vec![first, second, third]).unwrap_err();
        assert_eq!((e.step, e.path.as_path()), (Step::Replace, b.as_path()));
        assert_eq!(fs::read(&a).unwrap(), b"a");
        assert!(!c.exists());
        let mut left: std::vec::Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["a", "b"]);
    }

    /// A temporary file is known by its name as one of its target's, and of no other's.
    #[test]
    fn a_temporary_is_known_as_its_target_s() {
        let dir = tempfile::tempdir().unwrap();
        for target in ["summary.json", &"z".repeat(60)] {
            let staged = stage(&dir.path().join(target), |w| w.write_all(b"x")).unwrap();
            let name = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .find(|n| n.ends_with(".tmp"))
                .unwrap();
            assert!(is_temporary_of(&name, target), "{name}");
            assert!(!is_temporary_of(&name, "hash32.idx"), "{name}");
            assert!(!is_temporary_of(target, target));
            drop(staged);
        }
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

    /// A committed (or dropped) file leaves the record of temporaries a signal handler
    /// removes; the file staged beside it stays in it until it, too, is committed.
    #[test]
    fn committing_one_file_forgets_its_temporary_and_only_its() {
        let dir = tempfile::tempdir().unwrap();
        let stage_one = |name: &str| stage(&dir.path().join(name), |w| w.write_all(b"x")).unwrap();
        let (index, card) = (stage_one("codes.idx"), stage_one("codes.idx.json"));
        let temporaries = [&index, &card].map(|s| s.tmp.clone().unwrap());
        let recorded = |p: &PathBuf| unfinished().paths.contains(p);
        assert!(temporaries.iter().all(recorded));
        index.commit().unwrap();
        assert!(!recorded(&temporaries[0]) && recorded(&temporaries[1]));
        card.commit().unwrap();
        assert!(!temporaries.iter().any(recorded));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
        let dropped = stage_one("codes.csv");
        let tmp = dropped.tmp.clone().unwrap();
        assert!(recorded(&tmp));
        drop(dropped);
        assert!(!recorded(&tmp) && !tmp.exists());
        // Nor does checking a target leave a record (its probe file is removed).
        check_writable(&dir.path().join("report.json")).unwrap();
        let mine = |p: &PathBuf| p.starts_with(dir.path());
        assert!(!unfinished().paths.iter().any(mine));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    /// A path naming one of this process's descriptors is written through it: a file open
    /// to append (a shell's `>>`) keeps what it held and gets each write after it, the same
    /// file (not one put in its place), nothing else in its folder. Each write was renamed
    /// over the file, the second onto `codes.u64 (deleted)`.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_descriptor_named_by_a_path_is_written_through() {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("codes.u64");
        fs::write(&path, b"head;").unwrap();
        let inode = fs::metadata(&path).unwrap().ino();
        let open = OpenOptions::new().append(true).open(&path).unwrap();
        let fd = open.as_raw_fd();
        let names = [
            std::format!("/dev/fd/{fd}"),
            std::format!("/proc/self/fd/{fd}"),
            std::format!("/proc/{}/fd/{fd}", std::process::id()),
        ];
        for name in &names {
            assert_eq!(descriptor(Path::new(name)), Some(fd), "{name}");
            assert!(is_written_into(Path::new(name)), "{name}");
            check_writable(Path::new(name)).unwrap();
            write_atomic(Path::new(name), b"codes;").unwrap();
        }
        assert_eq!(fs::read(&path).unwrap(), b"head;codes;codes;codes;");
        assert_eq!(fs::metadata(&path).unwrap().ino(), inode);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // The standard streams by name; a closed descriptor and a file are none.
        assert_eq!(descriptor(Path::new("/dev/stdout")), Some(1));
        assert_eq!(descriptor_named(Path::new("/dev/fd/-1")), None);
        assert_eq!(descriptor_named(Path::new("/dev/fd/+1")), None);
        drop(open);
        // A closed descriptor names nothing. Not `fd` itself once closed: a test running
        // beside this one may open a file and get its number at once (seen under qemu).
        assert_eq!(descriptor(Path::new("/dev/fd/999999")), None);
        assert_eq!(descriptor_named(Path::new("/dev/fd/999999")), Some(999_999));
        assert_eq!(descriptor(&path), None);
        assert!(!is_written_into(&path));
    }
}
