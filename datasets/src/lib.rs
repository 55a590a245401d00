//! imsat-data: the readers of the files a user hands to `imsat` as data, in a crate of their
//! own so that the trainer, the CLI's inference commands and the fuzzers share one parser
//! without building burn.
//!
//! [`idx`] reads MNIST-style IDX files (gzipped or raw) into [`Images`]; [`photos`] reads folders of photos
//! (feature `photos`, on by default), and [`progress`] draws the bar of such long steps. Every
//! reader fails with a [`DataError`] naming the file.

mod error;
pub mod idx;
mod images;
#[cfg(feature = "photos")]
pub mod photos;
#[cfg(feature = "photos")]
pub mod progress;

pub use error::DataError;
pub use images::Images;
