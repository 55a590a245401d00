//! imsat-trainer: host-side IMSAT training, evaluation and ONNX export.
//!
//! Modules follow the method: [`data`] reads IDX files (re-exported from `imsat-data`),
//! [`model`] is the encoder MLP, [`loss`] the information terms and KL, [`sat`] the
//! self-augmentations (VAT, RPT, affine, neighbours), [`knn`] the nearest-neighbour radii,
//! [`train`] the loop, [`metrics`] the evaluation, [`features`] the same on feature vectors
//! instead of pixels. [`backend`] is the one place where the compute backend is chosen.

pub mod backend;
pub mod colour_split;
pub mod conv;
pub mod copy_detection;
pub mod edits;
pub mod export;
pub mod features;
pub mod knn;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod perceptual;
pub mod photo_set;
pub mod sat;
pub mod train;

/// The IDX reader, from `imsat-data` (shared with the CLI and the fuzzers).
pub use imsat_data::idx as data;
/// The photo-folder reader, from `imsat-data`.
pub use imsat_data::photos;
