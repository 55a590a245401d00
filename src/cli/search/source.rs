//! The index a search runs on: read into memory, or memory-mapped and searched in place.

use std::path::Path;

use imsat_runtime::index::{FileError, Index};
use imsat_runtime::index_view::IndexView;
use memmap2::Mmap;

/// Index files at least this large are memory-mapped and searched in place instead of
/// being read into memory (the answers are the same; only the memory differs).
pub const IN_PLACE_BYTES: u64 = 64 << 20;

/// An index file, read into memory or mapped.
pub enum Opened {
    Loaded(Index),
    Mapped(Mmap),
}

/// What the search runs on: the loaded index or a view of the mapped bytes.
pub enum Source<'a> {
    Loaded(&'a Index),
    InPlace(IndexView<'a>),
}

impl Opened {
    pub fn open(path: &Path, in_place: bool) -> Result<Self, FileError> {
        let io = |action, source| FileError::Io {
            path: path.to_path_buf(),
            action,
            source,
        };
        // By its path: a pipe is read once, by `Index::load`.
        let meta = std::fs::metadata(path).map_err(|e| io("open", e))?;
        // A pipe or a device cannot be mapped: it is read, whatever its size.
        let stream = !meta.is_file();
        if stream && in_place {
            return Err(io(
                "search in place",
                std::io::Error::other("a pipe or a device cannot be mapped: give a file"),
            ));
        }
        if stream || (!in_place && meta.len() < IN_PLACE_BYTES) {
            return Index::load(path).map(Opened::Loaded);
        }
        let file = std::fs::File::open(path).map_err(|e| io("open", e))?;
        // SAFETY: the map is read-only and outlives the views made from it. imsat never
        // rewrites an index file in place (writes go to a temporary file that is renamed),
        // so the bytes only change under us if another program edits the file during the
        // search.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| io("map", e))?;
        Ok(Opened::Mapped(map))
    }

    /// The loaded index, or the mapped file checked (header, CRC, ids, padding) and viewed.
    pub fn source(&self, path: &Path) -> Result<Source<'_>, FileError> {
        Ok(match self {
            Opened::Loaded(index) => Source::Loaded(index),
            Opened::Mapped(map) => Source::InPlace(IndexView::from_bytes(map).map_err(
                |source| FileError::Format {
                    path: path.to_path_buf(),
                    source,
                },
            )?),
        })
    }
}

impl Source<'_> {
    /// Code width in bits.
    pub fn bits(&self) -> usize {
        match self {
            Source::Loaded(index) => index.bits(),
            Source::InPlace(view) => view.bits(),
        }
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        match self {
            Source::Loaded(index) => index.len(),
            Source::InPlace(view) => view.len(),
        }
    }

    /// The row of an id (rows are in id order).
    pub fn row_of(&self, id: u64) -> Option<usize> {
        match self {
            Source::Loaded(index) => index.row_of(id),
            Source::InPlace(view) => view.row_of(id),
        }
    }
}
