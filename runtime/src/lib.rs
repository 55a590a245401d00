//! imsat-runtime: the edge side of imsat.
//!
//! The core (codes, Hamming distance, exact search, multi-index hashing, dedup and the
//! index file format) is `no_std` and needs only `alloc`, so the same code answers queries
//! on a microcontroller with a heap and on a server. File I/O sits behind the `std` feature.
//!
//! Search results name codes by their row (position in [`Codes`](code::Codes)); an
//! [`Index`](index::Index) maps rows to the caller's ids, keeping rows sorted by id so that
//! "ties broken by lower row" and "ties broken by lower id" are the same rule.
#![no_std]

// The core always needs a heap: `alloc` exists on every target we care about, so it is
// linked unconditionally and the `alloc` feature is only a marker for dependents.
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod code;
pub mod dedup;
#[cfg(feature = "encoder")]
pub mod encoder;
pub mod error;
pub mod hamming;
pub mod index;
pub mod mih;
pub mod search;

/// The names most callers need, in one import.
pub mod prelude {
    pub use crate::code::Codes;
    pub use crate::dedup::dedup;
    pub use crate::error::Error;
    pub use crate::hamming::distance;
    #[cfg(feature = "std")]
    pub use crate::index::FileError;
    pub use crate::index::{FormatError, Index};
    pub use crate::mih::Mih;
    pub use crate::search::{Neighbor, knn, knn_into, radius};
}
