//! The errors of the in-memory core: bad widths, shapes and arguments.
//!
//! One enum for the whole core so callers handle a single type; the index file format has
//! its own errors in [`crate::index`] because they describe bytes, not arguments.

/// What went wrong in the in-memory core. The core's functions return this for bad input
/// instead of panicking, except these, which say so: [`SoftCodes::row`],
/// [`SoftCodes::distance`] and [`SoftCheck::confirms`] panic on a row out of range (as slice
/// indexing does), and [`Codes::reserve`] on room past `isize::MAX` bytes (as
/// `Vec::reserve` does).
///
/// [`SoftCodes::row`]: crate::soft_code::SoftCodes::row
/// [`SoftCodes::distance`]: crate::soft_code::SoftCodes::distance
/// [`SoftCheck::confirms`]: crate::soft_code::SoftCheck::confirms
/// [`Codes::reserve`]: crate::code::Codes::reserve
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Codes must have at least one bit.
    #[error("code width must be at least 1 bit")]
    ZeroBits,
    /// The width is beyond [`crate::code::MAX_BITS`].
    #[error("code width {bits} exceeds the maximum of {max} bits")]
    TooManyBits {
        /// The width asked for.
        bits: usize,
        /// The largest width supported.
        max: usize,
    },
    /// A buffer of words does not hold a whole number of codes.
    #[error("{words} words is not a whole number of {words_per_code}-word codes")]
    WordCount {
        /// Words given.
        words: usize,
        /// Words per code at this width.
        words_per_code: usize,
    },
    /// A buffer of per-bit values (probabilities, logits) does not hold a whole number of codes.
    #[error("{values} values is not a whole number of {bits}-bit codes")]
    ValueCount {
        /// Values given.
        values: usize,
        /// Code width.
        bits: usize,
    },
    /// A per-bit value was NaN, so the bit is undefined.
    #[error("value at position {position} is NaN")]
    NotANumber {
        /// Index of the value in the input.
        position: usize,
    },
    /// A stored soft-code value is NaN or outside -1..=1 (a damaged store).
    #[error("soft-code value at position {position} is not in -1..=1")]
    SoftValue {
        /// Index of the value in the store.
        position: usize,
    },
    /// A stored code has bits set above its width (they must be zero).
    #[error("code {code} has bits set beyond its width of {bits} bits")]
    Padding {
        /// Row of the offending code.
        code: usize,
        /// Code width.
        bits: usize,
    },
    /// A single code (or query) has the wrong number of words.
    #[error("expected a code of {expected} words, got {got}")]
    CodeLength {
        /// Words per code at this width.
        expected: usize,
        /// Words given.
        got: usize,
    },
    /// A query has bits set above the code width.
    #[error("query has bits set beyond the code width of {bits} bits")]
    QueryPadding {
        /// Code width.
        bits: usize,
    },
    /// Two code sets of different widths were combined.
    #[error("code widths differ: {expected} vs {got} bits")]
    BitsMismatch {
        /// Width of the receiving set.
        expected: usize,
        /// Width of the other set.
        got: usize,
    },
    /// Ids and codes differ in number.
    #[error("{ids} ids for {codes} codes")]
    IdCount {
        /// Number of ids.
        ids: usize,
        /// Number of codes.
        codes: usize,
    },
    /// Packed bytes are not a whole number of codes.
    #[error("{bytes} bytes are not a whole number of {bytes_per_code}-byte codes")]
    ByteCount {
        /// Bytes given.
        bytes: usize,
        /// Bytes per code at this width.
        bytes_per_code: usize,
    },
    /// Two sets of logits to compare differ in length, so their rows do not pair.
    #[error("{first} values against {second}: the two sets of logits do not pair row for row")]
    LogitCount {
        /// Values in the first set.
        first: usize,
        /// Values in the second set.
        second: usize,
    },
    /// Soft codes and codes differ in number.
    #[error("{soft} soft codes for {codes} codes")]
    SoftCount {
        /// Number of soft codes.
        soft: usize,
        /// Number of codes.
        codes: usize,
    },
    /// The same id was given twice.
    #[error("duplicate id {0}")]
    DuplicateId(u64),
    /// `k` is above the capacity of a fixed-capacity result buffer.
    #[error("k = {k} exceeds the result capacity {capacity}")]
    KTooLarge {
        /// The k asked for.
        k: usize,
        /// The capacity of the buffer.
        capacity: usize,
    },
    /// The number of multi-index substrings does not suit the code width.
    #[error(
        "{substrings} substrings do not suit {bits}-bit codes (need 1..={bits} substrings of at most 32 bits each)"
    )]
    Substrings {
        /// Substrings asked for.
        substrings: usize,
        /// Code width.
        bits: usize,
    },
    /// More codes than a multi-index or dedup can number: they hold rows as `u32`.
    #[error(
        "{0} codes is more than a multi-index or dedup can number (rows are u32: at most {max})",
        max = u32::MAX
    )]
    TooManyCodes(usize),
    /// Room for this many codes could not be reserved (too many to address, or no memory).
    #[error("room for {0} codes cannot be reserved")]
    NoRoom(usize),
    /// A multi-index given to an index it was not built over ([`crate::index::Index::mih`]
    /// builds one): its rows would be read as another index's.
    #[error("the multi-index was built over other codes than this index's")]
    ForeignMih,
}

/// Short for `core::result::Result<T, Error>`.
pub type Result<T> = core::result::Result<T, Error>;
