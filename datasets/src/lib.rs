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

/// A class number of a labelled sample, as the metrics take it: up to 65,536 classes
/// (ImageNet's 1,000 and more; an IDX label file's bytes hold 256), of which only equality
/// matters.
pub type Label = u16;
