//! The index's versioned byte form: layout, checks, and `Index::to_bytes`/`from_bytes`.
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
//! file yields a [`FormatError`], never a panic or a huge allocation. (Writing a file, through a
//! temporary one renamed into place, is `file.rs`'s.)

use alloc::vec::Vec;

use super::Index;
use crate::code::{Codes, MAX_BITS};
use crate::error::Error;

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
    let (bits, count, total) = header_fields(header)?;
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
        words_per_code: (bits as usize).div_ceil(64),
    })
}

/// The size of the whole file a header describes (what a stream without a known size must
/// hold), after its magic, version and width are checked.
#[cfg(feature = "std")]
pub(crate) fn file_len(header: &[u8]) -> core::result::Result<u64, FormatError> {
    if header.len() < HEADER_LEN {
        return Err(FormatError::TooShort {
            len: header.len() as u64,
        });
    }
    header_fields(header).map(|(_, _, total)| total)
}

/// Width, count and file size of a header of at least [`HEADER_LEN`] bytes.
fn header_fields(header: &[u8]) -> core::result::Result<(u32, u64, u64), FormatError> {
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
    Ok((bits, count, total))
}

pub(super) fn header_bytes(bits: u32, count: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&bits.to_le_bytes());
    h[16..24].copy_from_slice(&count.to_le_bytes());
    h
}

pub(super) fn words_from_le(bytes: &[u8], out: &mut Vec<u64>) {
    out.extend(bytes.chunks_exact(8).map(|c| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        u64::from_le_bytes(w)
    }));
}

/// Collects ids from little-endian bytes, holding none while they are just the rows
/// `0..`, so a plain index never allocates an id table, not even while loading.
pub(super) struct IdCollector {
    ids: Vec<u64>,
    row: u64,
    count: usize,
}

impl IdCollector {
    pub(super) fn new(count: usize) -> Self {
        Self {
            ids: Vec::new(),
            row: 0,
            count,
        }
    }

    pub(super) fn feed(&mut self, bytes: &[u8]) {
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
    pub(super) fn finish(self) -> Vec<u64> {
        self.ids
    }
}

impl Index {
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

    pub(super) fn from_parts(
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
