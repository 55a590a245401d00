//! imsat-trainer: host-side IMSAT training, evaluation and ONNX export.
//!
//! Modules follow the method: [`data`] reads IDX files and [`photos`] photo folders (both
//! re-exported from `imsat-data`), [`model`] is the encoder (an MLP, behind a convolutional
//! front end [`conv`] for photo hashes, with [`colour_split`] keeping colour to a few bits),
//! [`loss`] the information terms and KL, [`sat`] the self-augmentations (VAT, RPT, affine,
//! photo edits), [`edits`] the photo edits a copy detector must see through, [`photo_set`]
//! the items cut from a photo folder, [`knn`] the nearest-neighbour radii, [`train`] the
//! loop, [`metrics`] the evaluation, [`copy_detection`] the photo benchmark with
//! [`perceptual`] hashes beside the learned one, [`features`] training on feature vectors
//! instead of pixels, and [`export`] the f32 and int8 ONNX files. [`backend`] is the one
//! place where the compute backend is chosen.

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
