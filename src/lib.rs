//! imsat: learn compact discrete codes with IMSAT and run them on small devices.
//!
//! This crate is a thin facade over the role crates:
//! - [`trainer`] (host side): IMSAT training, evaluation, ONNX export;
//! - [`runtime`] (edge side, `no_std` core): codes, Hamming search, dedup, index, encoder;
//! - [`data`], the readers both sides share: IDX files and photos decoded as `imsat`
//! decodes them (upright by EXIF, transparency on white, a large JPEG at a reduced size).
//!
//! Data flows one way: data -> trainer -> ONNX file -> runtime encoder -> codes -> index -> search.
//!
//! The README follows; its Rust sample runs as a doctest.
#![doc = include_str!("../README.md")]

pub use imsat_data as data;
pub use imsat_runtime as runtime;
#[cfg(feature = "train")]
pub use imsat_trainer as trainer;
