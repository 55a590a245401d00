//! One writer at a time for an index being appended to or replaced. An append reads the index
//! and its card, adds rows, and renames new files over both: two appends at once each read the
//! old version, and the second rename dropped the first's rows without a word (and could pair
//! one run's index with the other's card). The lock is an advisory lock on the index file itself,
//! so no lock file is left beside it; the file is replaced by each append, so a writer that
//! waited locks the version it finds once the other is done. A new index written over one
//! takes the lock too, for its write alone: an append that read the old index before would
//! otherwise rename its rows over the new one, and the new index would be lost without a word.

use std::fs::{File, TryLockError};
use std::path::Path;

use anyhow::Context;

/// The index file `out`, locked until dropped (see the module doc).
pub struct IndexLock {
    _file: File,
}

/// Lock the existing index `out` for an append, waiting (said once on stderr) while another
/// process holds it. On a file system without locks, the append goes on unguarded.
pub fn lock_for_append(out: &Path) -> anyhow::Result<IndexLock> {
    // Opened to be read, a pipe (`--out -`) would wait for input that never comes; and the
    // merged index would be written after the old one in a file open on standard output.
    if imsat_runtime::atomic_file::is_written_into(out) {
        return Err(crate::cli::common::bad_input(format!(
            "--out {} --append: is standard output, a device or a pipe, which holds no index \
             to add to; give the index file",
            out.display()
        )));
    }
    let mut waited = false;
    loop {
        let file = File::open(out).with_context(|| format!("{}: cannot open", out.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                if !waited {
                    errln!(
                        "note: another imsat is writing {}; waiting for it to finish",
                        out.display()
                    );
                    waited = true;
                }
                file.lock()
                    .with_context(|| format!("{}: cannot lock", out.display()))?;
            }
            Err(TryLockError::Error(_)) => return Ok(IndexLock { _file: file }),
        }
        // Replaced while this waited: lock the version now at the path.
        if is_at(&file, out) {
            return Ok(IndexLock { _file: file });
        }
    }
}

/// Lock the index `out` that a new one is about to replace, where there is one (a regular
/// file): an append under way finishes first, and the new index then replaces its result.
pub fn lock_to_replace(out: &Path) -> anyhow::Result<Option<IndexLock>> {
    if imsat_runtime::atomic_file::is_written_into(out) || !out.is_file() {
        return Ok(None);
    }
    match lock_for_append(out) {
        // Removed meanwhile: nothing to replace, nothing to wait for.
        Err(_) if !out.exists() => Ok(None),
        locked => locked.map(Some),
    }
}

/// Whether `file` is the file `path` names now.
#[cfg(unix)]
fn is_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Whether `file` is the file `path` names now (no inode to compare: taken as so).
#[cfg(not(unix))]
fn is_at(_file: &File, _path: &Path) -> bool {
    true
}
