//! Index files with `std`: written atomically (temporary file + rename), read in a
//! streaming pass that checks the size before allocating, and appended to.

use super::format::{IdCollector, check_header, file_len, header_bytes, words_from_le};
use super::*;
use crate::atomic_file::{Staged, WriteError};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Why an index file could not be read or written; always names the file. Needs the `std`
/// feature, as every file function does.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The operating system refused (missing file, permissions, disk full, ...).
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is not a valid index.
    #[error("{}: not a valid imsat index: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: FormatError,
    },
    /// The content to write is inconsistent (e.g. a duplicate id on append).
    #[error("{}: {source}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: Error,
    },
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> FileError + 'a {
    move |source| FileError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// Hashes everything written through it.
struct Hashing<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Hashing<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.crc.update(bytes);
        self.inner.write_all(bytes)
    }

    fn put_words(&mut self, words: impl Iterator<Item = u64>) -> io::Result<()> {
        let mut buf = [0u8; 8192];
        let mut n = 0;
        for w in words {
            buf[n..n + 8].copy_from_slice(&w.to_le_bytes());
            n += 8;
            if n == buf.len() {
                self.put(&buf)?;
                n = 0;
            }
        }
        self.put(&buf[..n])
    }
}

/// Writes `index` to `w`; returns the file's checksum (its CRC-32 trailer).
fn write_index<W: Write>(index: &Index, w: W) -> io::Result<u32> {
    let mut h = Hashing {
        inner: w,
        crc: crc32fast::Hasher::new(),
    };
    h.put(&header_bytes(index.bits() as u32, index.len() as u64))?;
    h.put_words(index.ids())?;
    h.put_words(index.codes.as_words().iter().copied())?;
    let crc = h.crc.finalize();
    h.inner.write_all(&crc.to_le_bytes())?;
    Ok(crc)
}

impl From<WriteError> for FileError {
    fn from(e: WriteError) -> FileError {
        FileError::Io {
            path: e.path,
            action: e.step.verb(),
            source: e.source,
        }
    }
}

/// Reads `n` little-endian words in 8 KiB chunks, each hashed and handed to `take`.
fn read_chunks<R: Read>(
    r: &mut R,
    n: usize,
    crc: &mut crc32fast::Hasher,
    mut take: impl FnMut(&[u8]),
) -> io::Result<()> {
    let mut buf = [0u8; 8192];
    let mut left = n * 8;
    while left > 0 {
        let chunk = &mut buf[..left.min(8192)];
        r.read_exact(chunk)?;
        crc.update(chunk);
        take(chunk);
        left -= chunk.len();
    }
    Ok(())
}

fn read_words<R: Read>(r: &mut R, n: usize, crc: &mut crc32fast::Hasher) -> io::Result<Vec<u64>> {
    let mut out = Vec::with_capacity(n);
    read_chunks(r, n, crc, |chunk| words_from_le(chunk, &mut out))?;
    Ok(out)
}

/// Reads `n` ids through an [`IdCollector`].
fn read_ids<R: Read>(r: &mut R, n: usize, crc: &mut crc32fast::Hasher) -> io::Result<Vec<u64>> {
    let mut ids = IdCollector::new(n);
    read_chunks(r, n, crc, |chunk| ids.feed(chunk))?;
    Ok(ids.finish())
}

impl Index {
    /// Writes the index to `path` through a temporary file and a rename, so an
    /// existing file is replaced whole or not at all. Needs the `std` feature (without it,
    /// [`Index::to_bytes`] gives the bytes to store).
    ///
    /// ```
    /// use imsat_runtime::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("lib.idx");
    /// let index = Index::new(vec![7, 9], Codes::from_words(64, vec![0b1011, 0b1001])?)?;
    /// index.save(&path)?;
    /// assert_eq!(Index::load(&path)?, index);
    /// // Appending rewrites the file the same way, whole or not at all.
    /// imsat_runtime::index::append(&path, &[12], &Codes::from_words(64, vec![u64::MAX])?)?;
    /// assert_eq!(Index::load(&path)?.ids().collect::<Vec<_>>(), [7, 9, 12]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> std::result::Result<(), FileError> {
        Ok(self.stage(path)?.0.commit()?)
    }

    /// Writes the index that will replace `path` to a synced temporary file beside it, not
    /// yet in place, and returns it with the file's checksum (its CRC-32 trailer): a file
    /// that names this version (the command line's card of names) is staged before either
    /// is committed, so the pair changes together or not at all. Needs the `std` feature.
    pub fn stage(&self, path: impl AsRef<Path>) -> std::result::Result<(Staged, u32), FileError> {
        let mut crc = 0;
        let staged = crate::atomic_file::stage(path.as_ref(), |w| {
            crc = write_index(self, w)?;
            Ok(())
        })?;
        Ok((staged, crc))
    }

    /// Reads and checks an index file, streaming (memory: the index itself). Needs the `std`
    /// feature (without it, [`Index::from_bytes`] reads the bytes, or
    /// [`IndexView`](crate::index_view::IndexView) searches them in place).
    pub fn load(path: impl AsRef<Path>) -> std::result::Result<Self, FileError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(io_err(path, "open"))?;
        let meta = file.metadata().map_err(io_err(path, "stat"))?;
        if !meta.is_file() {
            return load_stream(path, file);
        }
        let len = meta.len();
        let format = |source| FileError::Format {
            path: path.to_path_buf(),
            source,
        };
        let mut r = BufReader::with_capacity(1 << 16, file);
        let mut header = [0u8; HEADER_LEN];
        if len < HEADER_LEN as u64 {
            return Err(format(FormatError::TooShort { len }));
        }
        r.read_exact(&mut header).map_err(io_err(path, "read"))?;
        let layout = check_header(&header, len).map_err(format)?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header);
        let ids = read_ids(&mut r, layout.count, &mut crc).map_err(io_err(path, "read"))?;
        let words = read_words(&mut r, layout.count * layout.words_per_code, &mut crc)
            .map_err(io_err(path, "read"))?;
        let mut stored = [0u8; 4];
        r.read_exact(&mut stored).map_err(io_err(path, "read"))?;
        let stored = u32::from_le_bytes(stored);
        let computed = crc.finalize();
        if stored != computed {
            return Err(format(FormatError::Checksum { stored, computed }));
        }
        Index::from_parts(layout, ids, words).map_err(format)
    }
}

/// [`Index::load`] of a pipe or a device (`--index <(...)`, `/dev/stdin`), whose size is not
/// known before it is read: its header first, so that a stream of anything else stops at the
/// magic, then at most the bytes the header accounts for and one more; a longer stream is
/// read to its end only to count what is left over.
fn load_stream(path: &Path, mut file: File) -> std::result::Result<Index, FileError> {
    let format = |source| FileError::Format {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    let mut read = |limit: u64, bytes: &mut Vec<u8>| {
        (&mut file)
            .take(limit)
            .read_to_end(bytes)
            .map_err(io_err(path, "read"))
    };
    read(HEADER_LEN as u64, &mut bytes)?;
    let total = file_len(&bytes).map_err(format)?;
    read(total - HEADER_LEN as u64 + 1, &mut bytes)?;
    if bytes.len() as u64 > total {
        let rest = io::copy(&mut file, &mut io::sink()).map_err(io_err(path, "read"))?;
        return Err(format(FormatError::TrailingBytes {
            expected: total,
            extra: bytes.len() as u64 - total + rest,
        }));
    }
    Index::from_bytes(&bytes).map_err(format)
}

/// Adds entries to the index file at `path`: the merged index is written to a
/// temporary file and renamed into place, so until the rename the old file stays
/// readable and unchanged. Returns the merged index. Needs the `std` feature.
pub fn append(
    path: impl AsRef<Path>,
    ids: &[u64],
    codes: &Codes,
) -> std::result::Result<Index, FileError> {
    let path = path.as_ref();
    let mut index = Index::load(path)?;
    index
        .extend(ids, codes)
        .map_err(|source| FileError::Invalid {
            path: path.to_path_buf(),
            source,
        })?;
    index.save(path)?;
    Ok(index)
}
