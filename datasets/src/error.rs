//! The one error of every reader: what went wrong, naming the file.

use std::path::{Path, PathBuf};

/// What can go wrong while reading a data file. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Invalid { path: PathBuf, what: String },
}

impl DataError {
    pub(crate) fn invalid(path: &Path, what: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}
