//! A searchable index (ids + codes) and its versioned binary file format.
//!
//! File layout, all integers little-endian, every section 8-byte aligned so the codes can
//! be memory-mapped:
//!
//! | offset            | size          | field                                   |
//! |-------------------|---------------|-----------------------------------------|
//! | 0                 | 8             | magic `b"IMSATIDX"`                     |
//! | 8                 | 4             | format version (`u32`, currently 1)     |
//! | 12                | 4             | code width in bits (`u32`, nonzero)     |
//! | 16                | 8             | number of codes `n` (`u64`)             |
//! | 24                | 8 n           | ids (`u64`, strictly ascending)         |
//! | 24 + 8 n          | 8 n w         | codes (`w = ceil(bits / 64)` words each)|
//! | 24 + 8 n (1 + w)  | 4             | CRC-32 (IEEE) of every byte before it   |
//!
//! Rows are kept sorted by id (ties in search go to the lower row, so also to the lower
//! id). Reading checks every field and the size before allocating, so a damaged or hostile
//! file yields a [`FormatError`], never a panic or a huge allocation. With `std`, files are
//! written to a temporary file in the same folder and renamed into place, so an existing
//! index is never left half-written.

use alloc::vec::Vec;

use crate::code::{Codes, MAX_BITS};
use crate::error::{Error, Result};
use crate::mih::Mih;
use crate::search::{self, Neighbor};

/// First eight bytes of every index file.
pub const MAGIC: [u8; 8] = *b"IMSATIDX";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 24;
/// Size of the checksum trailer.
pub const TRAILER_LEN: usize = 4;

/// Why bytes are not a valid index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Too short to hold the header.
    #[error("{len} bytes is too short for the {HEADER_LEN}-byte header")]
    TooShort {
        /// Bytes available.
        len: u64,
    },
    /// Does not start with [`MAGIC`].
    #[error("bad magic {found:02x?}: not an imsat index")]
    BadMagic {
        /// The first eight bytes.
        found: [u8; 8],
    },
    /// A format version this build cannot read.
    #[error("format version {found} is not supported (this build reads version {VERSION})")]
    Version {
        /// Version in the file.
        found: u32,
    },
    /// The header's code width is 0 or too large.
    #[error("header code width {bits} is invalid (must be 1..={MAX_BITS})")]
    Bits {
        /// Width in the file.
        bits: u32,
    },
    /// The header's count implies a size that does not fit in memory or a file.
    #[error("header count {count} is impossibly large")]
    Count {
        /// Count in the file.
        count: u64,
    },
    /// Fewer bytes than the header says.
    #[error(
        "truncated: header says {count} codes of {bits} bits ({expected} bytes), found {found} bytes"
    )]
    Truncated {
        /// Codes in the header.
        count: u64,
        /// Width in the header.
        bits: u32,
        /// Size the header implies.
        expected: u64,
        /// Size found.
        found: u64,
    },
    /// More bytes than the header says.
    #[error("{extra} unexpected bytes after the {expected} the header accounts for")]
    TrailingBytes {
        /// Size the header implies.
        expected: u64,
        /// Bytes beyond it.
        extra: u64,
    },
    /// [`IndexView`](crate::index_view::IndexView) only: the bytes do not start on an 8-byte
    /// boundary, or this target is big-endian, so they cannot be read as `u64` in place
    /// ([`Index::from_bytes`] copies and reads them anywhere).
    #[error(
        "the bytes start {offset} bytes past an 8-byte boundary (or the target is big-endian): they cannot be read in place"
    )]
    Unaligned {
        /// Address of the first byte modulo 8.
        offset: usize,
    },
    /// The checksum does not match the content.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x} (file damaged)")]
    Checksum {
        /// CRC in the file.
        stored: u32,
        /// CRC of the content.
        computed: u32,
    },
    /// Ids are not strictly ascending.
    #[error("ids not strictly ascending at row {row} (id {id} after {previous})")]
    IdsNotAscending {
        /// Row of the offending id.
        row: u64,
        /// The offending id.
        id: u64,
        /// The id before it.
        previous: u64,
    },
    /// A code has bits set above its width.
    #[error("code at row {row} has bits set beyond its width of {bits} bits")]
    Padding {
        /// Row of the offending code.
        row: u64,
        /// Code width.
        bits: u32,
    },
}

/// What a valid header describes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub(crate) bits: u32,
    pub(crate) count: usize,
    pub(crate) words_per_code: usize,
}

/// Checks a whole file form in memory: the header against the size, then the CRC over
/// everything before the trailer. Returns the layout and that checked body (header included),
/// so the owned [`Index`] and the borrowing view parse it the same way.
pub(crate) fn check_file(bytes: &[u8]) -> core::result::Result<(Layout, &[u8]), FormatError> {
    let layout = check_header(bytes, bytes.len() as u64)?;
    let body = &bytes[..bytes.len() - TRAILER_LEN];
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[bytes.len() - TRAILER_LEN..]);
    let stored = u32::from_le_bytes(crc);
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(FormatError::Checksum { stored, computed });
    }
    Ok((layout, body))
}

/// Checks a header against the total size available; nothing is allocated.
pub(crate) fn check_header(header: &[u8], len: u64) -> core::result::Result<Layout, FormatError> {
    if header.len() < HEADER_LEN || len < HEADER_LEN as u64 {
        return Err(FormatError::TooShort { len });
    }
    let mut found = [0u8; 8];
    found.copy_from_slice(&header[..8]);
    if found != MAGIC {
        return Err(FormatError::BadMagic { found });
    }
    let u32_at =
        |o: usize| u32::from_le_bytes([header[o], header[o + 1], header[o + 2], header[o + 3]]);
    let version = u32_at(8);
    if version != VERSION {
        return Err(FormatError::Version { found: version });
    }
    let bits = u32_at(12);
    if bits == 0 || bits as usize > MAX_BITS {
        return Err(FormatError::Bits { bits });
    }
    let mut c = [0u8; 8];
    c.copy_from_slice(&header[16..24]);
    let count = u64::from_le_bytes(c);
    let words_per_code = (bits as usize).div_ceil(64);
    let total = count
        .checked_mul(8 * (1 + words_per_code as u64))
        .and_then(|b| b.checked_add((HEADER_LEN + TRAILER_LEN) as u64))
        .ok_or(FormatError::Count { count })?;
    if len < total {
        return Err(FormatError::Truncated {
            count,
            bits,
            expected: total,
            found: len,
        });
    }
    if len > total {
        return Err(FormatError::TrailingBytes {
            expected: total,
            extra: len - total,
        });
    }
    // The size matched the available bytes, so the count fits in memory terms.
    let count = usize::try_from(count).map_err(|_| FormatError::Count { count })?;
    Ok(Layout {
        bits,
        count,
        words_per_code,
    })
}

fn header_bytes(bits: u32, count: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&bits.to_le_bytes());
    h[16..24].copy_from_slice(&count.to_le_bytes());
    h
}

fn words_from_le(bytes: &[u8], out: &mut Vec<u64>) {
    out.extend(bytes.chunks_exact(8).map(|c| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        u64::from_le_bytes(w)
    }));
}

/// Collects ids from little-endian bytes, holding none while they are just the rows
/// `0..`, so a plain index never allocates an id table, not even while loading.
struct IdCollector {
    ids: Vec<u64>,
    row: u64,
    count: usize,
}

impl IdCollector {
    fn new(count: usize) -> Self {
        Self {
            ids: Vec::new(),
            row: 0,
            count,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        for c in bytes.chunks_exact(8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            let id = u64::from_le_bytes(w);
            if self.ids.is_empty() {
                if id == self.row {
                    self.row += 1;
                    continue;
                }
                self.ids.reserve_exact(self.count);
                self.ids.extend(0..self.row);
            }
            self.ids.push(id);
        }
    }

    /// The ids, or an empty vector when they are the rows.
    fn finish(self) -> Vec<u64> {
        self.ids
    }
}

/// Ids and codes, rows sorted by id. Ids `0..n` in order are not stored at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// Empty when the ids are the rows (`0..n`).
    ids: Vec<u64>,
    codes: Codes,
}

impl Index {
    /// An index whose ids are the rows `0..codes.len()`.
    pub fn from_codes(codes: Codes) -> Self {
        Self {
            ids: Vec::new(),
            codes,
        }
    }

    /// An index of `codes` under `ids` (one per code, all different). Rows are reordered
    /// by id if needed.
    pub fn new(ids: Vec<u64>, codes: Codes) -> Result<Self> {
        if ids.len() != codes.len() {
            return Err(Error::IdCount {
                ids: ids.len(),
                codes: codes.len(),
            });
        }
        if ids.windows(2).all(|w| w[0] < w[1]) {
            return Ok(Self::compact(ids, codes));
        }
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_unstable_by_key(|&i| ids[i]);
        if let Some(w) = order.windows(2).find(|w| ids[w[0]] == ids[w[1]]) {
            return Err(Error::DuplicateId(ids[w[0]]));
        }
        let wpc = codes.words_per_code();
        let mut words = Vec::with_capacity(codes.as_words().len());
        for &i in &order {
            words.extend_from_slice(&codes.as_words()[i * wpc..(i + 1) * wpc]);
        }
        let sorted_ids = order.iter().map(|&i| ids[i]).collect();
        let codes = Codes::from_words(codes.bits(), words)?;
        Ok(Self::compact(sorted_ids, codes))
    }

    /// Drops ids that are just the rows.
    fn compact(ids: Vec<u64>, codes: Codes) -> Self {
        let rows = ids.iter().enumerate().all(|(i, &id)| id == i as u64);
        Self {
            ids: if rows { Vec::new() } else { ids },
            codes,
        }
    }

    /// The codes, in row order.
    pub fn codes(&self) -> &Codes {
        &self.codes
    }

    /// Code width in bits.
    pub fn bits(&self) -> usize {
        self.codes.bits()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The id of `row`.
    pub fn id(&self, row: usize) -> Option<u64> {
        if row >= self.len() {
            None
        } else if self.ids.is_empty() {
            Some(row as u64)
        } else {
            Some(self.ids[row])
        }
    }

    /// All ids, ascending.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len()).map(|row| self.ids.get(row).copied().unwrap_or(row as u64))
    }

    /// The row holding `id`.
    pub fn row_of(&self, id: u64) -> Option<usize> {
        if self.ids.is_empty() {
            usize::try_from(id).ok().filter(|&r| r < self.len())
        } else {
            self.ids.binary_search(&id).ok()
        }
    }

    /// The code of `id`.
    pub fn code_of(&self, id: u64) -> Option<&[u64]> {
        self.row_of(id).and_then(|r| self.codes.get(r))
    }

    /// Adds entries; ids must be new and the width equal.
    pub fn extend(&mut self, ids: &[u64], codes: &Codes) -> Result<()> {
        if codes.bits() != self.bits() {
            return Err(Error::BitsMismatch {
                expected: self.bits(),
                got: codes.bits(),
            });
        }
        if ids.len() != codes.len() {
            return Err(Error::IdCount {
                ids: ids.len(),
                codes: codes.len(),
            });
        }
        let mut all_ids: Vec<u64> = Vec::with_capacity(self.len() + ids.len());
        all_ids.extend(self.ids());
        all_ids.extend_from_slice(ids);
        let mut all_codes = Codes::with_capacity(self.bits(), self.len() + codes.len())?;
        all_codes.append(&self.codes)?;
        all_codes.append(codes)?;
        *self = Self::new(all_ids, all_codes)?;
        Ok(())
    }

    /// Replaces rows by ids in search results (order is kept: ids ascend with rows).
    pub fn resolve(&self, neighbors: &mut [Neighbor]) {
        if self.ids.is_empty() {
            return;
        }
        for n in neighbors {
            if let Some(&id) = self.ids.get(n.id as usize) {
                n.id = id;
            }
        }
    }

    /// The `k` nearest entries by linear scan, as ids.
    pub fn knn(&self, query: &[u64], k: usize) -> Result<Vec<Neighbor>> {
        let mut out = search::knn(&self.codes, query, k)?;
        self.resolve(&mut out);
        Ok(out)
    }

    /// The `k` nearest entries for each query, as ids; queries share each pass over the
    /// codes (see [`search::knn_batch`]), the fastest way to answer many queries.
    pub fn knn_batch(&self, queries: &Codes, k: usize) -> Result<Vec<Vec<Neighbor>>> {
        let mut out = search::knn_batch(&self.codes, queries, k)?;
        for list in &mut out {
            self.resolve(list);
        }
        Ok(out)
    }

    /// Every entry within `r`, as ids, by linear scan.
    pub fn radius(&self, query: &[u64], r: u32) -> Result<Vec<Neighbor>> {
        let mut out = search::radius(&self.codes, query, r)?;
        self.resolve(&mut out);
        Ok(out)
    }

    /// A multi-index over the codes; pass its results through [`Index::resolve`].
    pub fn mih(&self) -> Result<Mih<'_>> {
        Mih::new(&self.codes)
    }

    /// Near-duplicate groups (see [`crate::dedup::dedup`]), as ids.
    pub fn dedup(&self, r: u32) -> Result<Vec<Vec<u64>>> {
        let mut groups = crate::dedup::dedup(&self.codes, r)?;
        if !self.ids.is_empty() {
            for id in groups.iter_mut().flatten() {
                *id = self.ids[*id as usize];
            }
        }
        Ok(groups)
    }

    /// Size of the file form.
    pub fn byte_len(&self) -> usize {
        HEADER_LEN + self.len() * 8 + self.codes.as_words().len() * 8 + TRAILER_LEN
    }

    /// The file form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.byte_len());
        out.extend_from_slice(&header_bytes(self.bits() as u32, self.len() as u64));
        for id in self.ids() {
            out.extend_from_slice(&id.to_le_bytes());
        }
        for w in self.codes.as_words() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses the file form, checking every field.
    pub fn from_bytes(bytes: &[u8]) -> core::result::Result<Self, FormatError> {
        let (layout, body) = check_file(bytes)?;
        let ids_end = HEADER_LEN + layout.count * 8;
        let mut ids = IdCollector::new(layout.count);
        ids.feed(&body[HEADER_LEN..ids_end]);
        let ids = ids.finish();
        let mut words = Vec::with_capacity(layout.count * layout.words_per_code);
        words_from_le(&body[ids_end..], &mut words);
        Self::from_parts(layout, ids, words)
    }

    fn from_parts(
        layout: Layout,
        ids: Vec<u64>,
        words: Vec<u64>,
    ) -> core::result::Result<Self, FormatError> {
        if let Some(row) = ids.windows(2).position(|w| w[0] >= w[1]) {
            return Err(FormatError::IdsNotAscending {
                row: row as u64 + 1,
                id: ids[row + 1],
                previous: ids[row],
            });
        }
        let codes = Codes::from_words(layout.bits as usize, words).map_err(|e| match e {
            Error::Padding { code, .. } => FormatError::Padding {
                row: code as u64,
                bits: layout.bits,
            },
            // The layout was checked, so only padding can be wrong.
            _ => FormatError::Bits { bits: layout.bits },
        })?;
        Ok(Self::compact(ids, codes))
    }
}

#[cfg(feature = "std")]
pub use file::{FileError, append};

#[cfg(feature = "std")]
mod file {
    use super::*;
    use std::fs::{self, File, OpenOptions};
    use std::io::{self, BufReader, BufWriter, Read, Write};
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Why an index file could not be read or written; always names the file.
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

    fn io_err<'a>(
        path: &'a Path,
        action: &'static str,
    ) -> impl FnOnce(io::Error) -> FileError + 'a {
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

    /// Writes `index` to `w`; returns the writer.
    fn write_index<W: Write>(index: &Index, w: W) -> io::Result<W> {
        let mut h = Hashing {
            inner: w,
            crc: crc32fast::Hasher::new(),
        };
        h.put(&header_bytes(index.bits() as u32, index.len() as u64))?;
        h.put_words(index.ids())?;
        h.put_words(index.codes.as_words().iter().copied())?;
        let crc = h.crc.finalize();
        h.inner.write_all(&crc.to_le_bytes())?;
        Ok(h.inner)
    }

    /// A fresh temporary path next to `path`.
    fn temp_path(path: &Path) -> io::Result<PathBuf> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = path.file_name().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "path does not name a file")
        })?;
        let mut tmp = std::ffi::OsString::from(".");
        tmp.push(name);
        tmp.push(std::format!(
            ".{}-{}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        Ok(path.with_file_name(tmp))
    }

    /// Writes to a temporary file beside `path`, syncs it, and renames it over `path`.
    fn write_atomically(path: &Path, index: &Index) -> std::result::Result<(), FileError> {
        let tmp = temp_path(path).map_err(io_err(path, "choose a temporary file for"))?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err(&tmp, "create"))?;
        let written = write_index(index, BufWriter::with_capacity(1 << 16, file))
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .and_then(|f| f.sync_all());
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(&tmp, "write")(e));
        }
        if let Err(e) = fs::rename(&tmp, path) {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(path, "replace")(e));
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

    fn read_words<R: Read>(
        r: &mut R,
        n: usize,
        crc: &mut crc32fast::Hasher,
    ) -> io::Result<Vec<u64>> {
        let mut out = Vec::with_capacity(n);
        let mut buf = [0u8; 8192];
        let mut left = n * 8;
        while left > 0 {
            let chunk = &mut buf[..left.min(8192)];
            r.read_exact(chunk)?;
            crc.update(chunk);
            words_from_le(chunk, &mut out);
            left -= chunk.len();
        }
        Ok(out)
    }

    /// Reads `n` ids through an [`IdCollector`].
    fn read_ids<R: Read>(r: &mut R, n: usize, crc: &mut crc32fast::Hasher) -> io::Result<Vec<u64>> {
        let mut ids = IdCollector::new(n);
        let mut buf = [0u8; 8192];
        let mut left = n * 8;
        while left > 0 {
            let chunk = &mut buf[..left.min(8192)];
            r.read_exact(chunk)?;
            crc.update(chunk);
            ids.feed(chunk);
            left -= chunk.len();
        }
        Ok(ids.finish())
    }

    impl Index {
        /// Writes the index to `path` through a temporary file and a rename, so an
        /// existing file is replaced whole or not at all.
        pub fn save(&self, path: impl AsRef<Path>) -> std::result::Result<(), FileError> {
            write_atomically(path.as_ref(), self)
        }

        /// Reads and checks an index file, streaming (memory: the index itself).
        pub fn load(path: impl AsRef<Path>) -> std::result::Result<Self, FileError> {
            let path = path.as_ref();
            let file = File::open(path).map_err(io_err(path, "open"))?;
            let len = file.metadata().map_err(io_err(path, "stat"))?.len();
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

    /// Adds entries to the index file at `path`: the merged index is written to a
    /// temporary file and renamed into place, so until the rename the old file stays
    /// readable and unchanged. Returns the merged index.
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
}
