//! imsat-trainer: host-side IMSAT training, evaluation and ONNX export.
//!
//! Modules follow the method: [`data`] reads IDX files, [`model`] is the encoder MLP,
//! [`loss`] the information terms and KL, [`sat`] the self-augmentations (VAT, RPT, affine,
//! neighbours), [`knn`] the nearest-neighbour radii, [`train`] the loop, [`metrics`] the
//! evaluation, [`features`] the same on feature vectors instead of pixels. [`backend`] is the
//! one place where the compute backend is chosen.

pub mod backend;
pub mod conv;
pub mod copy_detection;
pub mod data;
pub mod edits;
pub mod export;
pub mod features;
pub mod io;
pub mod knn;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod perceptual;
pub mod photo_set;
pub mod photos;
pub mod sat;
pub mod train;
