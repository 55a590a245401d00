//! imsat-runtime: the edge side of imsat.
//!
//! The core (codes, Hamming distance, exact search, multi-index hashing, dedup and the
//! index file format) is `no_std` and needs only `alloc`, so the same code answers queries
//! on a microcontroller with a heap and on a server. File I/O sits behind the `std` feature.
//!
//! Search results name codes by their row (position in [`Codes`](code::Codes)); an
//! [`Index`](index::Index) maps rows to the caller's ids, keeping rows sorted by id so that
//! "ties broken by lower row" and "ties broken by lower id" are the same rule.
//!
//! ```
//! use imsat_runtime::prelude::*;
//!
//! // Four 8-bit codes from per-bit logits (bit i is 1 when logit i > 0).
//! let logits = [
//!     1.0, 1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, // 0b0000_0011
//!     1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, // 0b0000_0001
//!     -1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0, // 0b1111_0000
//!     1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0, -1.0, // 0b0000_0111
//! ];
//! let codes = Codes::from_logits(8, &logits)?;
//! let index = Index::new(vec![10, 20, 30, 40], codes)?;
//!
//! // k nearest (ties go to the lower id) and radius search, by linear scan.
//! let top = index.knn(&[0b0000_0011], 2)?;
//! assert_eq!(top, [Neighbor { distance: 0, id: 10 }, Neighbor { distance: 1, id: 20 }]);
//! assert_eq!(index.radius(&[0b1111_0000], 0)?.len(), 1);
//!
//! // The same answers through multi-index hashing, as ids.
//! let mih = index.mih()?;
//! let hits = index.mih_radius(&mih, &[0b0000_0011], 1)?;
//! assert_eq!(hits.iter().map(|n| n.id).collect::<Vec<_>>(), [10, 20, 40]);
//!
//! // Near-duplicate groups, and the file form.
//! assert_eq!(index.dedup(1)?, vec![vec![10, 20, 40]]);
//! let back = Index::from_bytes(&index.to_bytes())?;
//! assert_eq!(back, index);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! * `std` (default): index files (`Index::save`, `Index::load`, `index::append`), the
//!   `atomic_file` writes, and CPU features detected at run time; without it the SIMD kernels
//!   are those the build target enables ([`cpu`]).
//! * `encoder` (default, implies `std`): `encoder::Encoder`, which runs an exported ONNX model
//!   on tract or on the native executors (`float_mlp` for f32, on the `gemm` crate; [`int8`]
//!   for int8).
//! * `alloc`: a marker only. The core always links `alloc` and needs a global allocator.
//!
//! With `default-features = false` the crate is `no_std`. Everything above works the same
//! (file I/O aside), and a board without an OS has [`int8::Int8Model`] to turn pixels into
//! codes, [`view::View`] to make a photo into a photo model's input, and
//! [`index_view::IndexView`] to search an index file's bytes in place (flash, an aligned
//! static) without copying them.
#![no_std]
// Every public item says what it is; clippy's -D warnings in CI keeps it so.
#![warn(missing_docs)]

// The core always needs a heap: `alloc` exists on every target we care about, so it is
// linked unconditionally and the `alloc` feature is only a marker for dependents.
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

#[cfg(feature = "std")]
pub mod atomic_file;
pub mod code;
pub mod cpu;
pub mod dedup;
#[cfg(feature = "encoder")]
pub mod encoder;
pub mod error;
#[cfg(feature = "encoder")]
pub mod float_mlp;
pub mod format;
pub mod hamming;
pub mod index;
pub mod index_view;
pub mod int8;
pub mod mih;
pub mod output;
#[doc(hidden)]
pub mod reference;
pub mod search;
pub mod soft_code;
#[cfg(test)]
mod test_rng;
pub mod view;

/// The names most callers need, in one import.
pub mod prelude {
    pub use crate::code::Codes;
    pub use crate::dedup::dedup;
    pub use crate::error::Error;
    pub use crate::hamming::distance;
    #[cfg(feature = "std")]
    pub use crate::index::FileError;
    pub use crate::index::{FormatError, Index};
    pub use crate::index_view::IndexView;
    pub use crate::mih::Mih;
    pub use crate::search::{Neighbor, knn, knn_into, radius};
}
