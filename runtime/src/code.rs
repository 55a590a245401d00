//! A set of binary codes of one width, packed as contiguous `u64` words.
//!
//! Codes are stored back to back (`words_per_code = ceil(bits / 64)` words each) in a single
//! `Vec<u64>`: no per-code allocation and no padding beyond the last word of each code, so
//! N codes of B bits take `N * ceil(B / 64) * 8` bytes and the words can be searched with
//! wide loads or mapped straight from an index file. Bit `p` of a code is bit `p % 64`
//! (LSB = 0) of word `p / 64`; bits above the width are always zero, which every
//! constructor checks, so distances never count garbage.

use alloc::vec::Vec;

use crate::error::{Error, Result};

/// The widest code accepted (16 Mi bits). Keeps every distance far below `u32::MAX`.
pub const MAX_BITS: usize = 1 << 24;

/// A set of binary codes of one width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codes {
    bits: usize,
    words_per_code: usize,
    words: Vec<u64>,
}

/// Bytes of a code of `bits` bits in the packed byte layout ([`Codes::to_packed_bytes`]):
/// `ceil(bits / 8)`.
pub const fn packed_bytes(bits: usize) -> usize {
    bits.div_ceil(8)
}

/// Words needed for a code of `bits` bits, after checking the width.
pub fn words_for(bits: usize) -> Result<usize> {
    if bits == 0 {
        return Err(Error::ZeroBits);
    }
    if bits > MAX_BITS {
        return Err(Error::TooManyBits {
            bits,
            max: MAX_BITS,
        });
    }
    Ok(bits.div_ceil(64))
}

/// Mask of the bits of the last word of a code that belong to the code.
pub(crate) fn last_word_mask(bits: usize) -> u64 {
    match bits % 64 {
        0 => u64::MAX,
        r => (1u64 << r) - 1,
    }
}

/// Rows of `bits` per-bit values (logits, probabilities) in `values`: a whole number of
/// them, none NaN. `bits` must be at least 1.
pub(crate) fn rows_of_values(bits: usize, values: &[f32]) -> Result<usize> {
    if !values.len().is_multiple_of(bits) {
        return Err(Error::ValueCount {
            values: values.len(),
            bits,
        });
    }
    if let Some(position) = values.iter().position(|v| v.is_nan()) {
        return Err(Error::NotANumber { position });
    }
    Ok(values.len() / bits)
}

impl Codes {
    /// An empty set of `bits`-bit codes.
    pub fn new(bits: usize) -> Result<Self> {
        Self::with_capacity(bits, 0)
    }

    /// An empty set with room for `n` codes, so pushing them never reallocates.
    pub fn with_capacity(bits: usize, n: usize) -> Result<Self> {
        let words_per_code = words_for(bits)?;
        let mut words = Vec::new();
        n.checked_mul(words_per_code)
            .and_then(|len| words.try_reserve_exact(len).ok())
            .ok_or(Error::NoRoom(n))?;
        Ok(Self {
            bits,
            words_per_code,
            words,
        })
    }

    /// Codes from raw words (row-major, `words_per_code` words each). Fails if the length
    /// is not a whole number of codes or if any code has bits set above its width.
    pub fn from_words(bits: usize, words: Vec<u64>) -> Result<Self> {
        let words_per_code = words_for(bits)?;
        if !words.len().is_multiple_of(words_per_code) {
            return Err(Error::WordCount {
                words: words.len(),
                words_per_code,
            });
        }
        let mask = last_word_mask(bits);
        if mask != u64::MAX {
            let bad = words
                .chunks_exact(words_per_code)
                .position(|c| c[words_per_code - 1] & !mask != 0);
            if let Some(code) = bad {
                return Err(Error::Padding { code, bits });
            }
        }
        Ok(Self {
            bits,
            words_per_code,
            words,
        })
    }

    /// Codes of `bits` bits from bytes in the packed byte layout ([`Codes::to_packed_bytes`]),
    /// [`packed_bytes`]`(bits)` a code. Fails if the length is not a whole number of codes or
    /// if any code has bits set above its width.
    pub fn from_packed_bytes(bits: usize, bytes: &[u8]) -> Result<Self> {
        let words_per_code = words_for(bits)?;
        let per = packed_bytes(bits);
        if !bytes.len().is_multiple_of(per) {
            return Err(Error::ByteCount {
                bytes: bytes.len(),
                bytes_per_code: per,
            });
        }
        let mut words = Vec::with_capacity(bytes.len() / per * words_per_code);
        for code in bytes.chunks_exact(per) {
            for chunk in code.chunks(8) {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                words.push(u64::from_le_bytes(word));
            }
        }
        Self::from_words(bits, words)
    }

    /// Codes from per-bit probabilities (row-major, `bits` values per code): a bit is 1
    /// when its probability is above 0.5. NaN is rejected.
    pub fn from_probabilities(bits: usize, probabilities: &[f32]) -> Result<Self> {
        Self::from_values(bits, probabilities, 0.5)
    }

    /// Codes from per-bit logits (row-major, `bits` values per code): a bit is 1 when its
    /// logit is above 0. NaN is rejected.
    pub fn from_logits(bits: usize, logits: &[f32]) -> Result<Self> {
        Self::from_values(bits, logits, 0.0)
    }

    fn from_values(bits: usize, values: &[f32], threshold: f32) -> Result<Self> {
        let words_per_code = words_for(bits)?;
        let n = rows_of_values(bits, values)?;
        let mut words = alloc::vec![0u64; n * words_per_code];
        for (code, row) in words
            .chunks_exact_mut(words_per_code)
            .zip(values.chunks_exact(bits))
        {
            for (word, chunk) in code.iter_mut().zip(row.chunks(64)) {
                *word = chunk
                    .iter()
                    .enumerate()
                    .fold(0u64, |w, (i, &v)| w | (u64::from(v > threshold) << i));
            }
        }
        Ok(Self {
            bits,
            words_per_code,
            words,
        })
    }

    /// Appends one code given as `words_per_code` words.
    pub fn push(&mut self, code: &[u64]) -> Result<()> {
        self.check_code(code).map_err(|e| match e {
            Error::QueryPadding { bits } => Error::Padding {
                code: self.len(),
                bits,
            },
            e => e,
        })?;
        self.words.extend_from_slice(code);
        Ok(())
    }

    /// Appends all codes of `other`, which must have the same width.
    pub fn append(&mut self, other: &Codes) -> Result<()> {
        if other.bits != self.bits {
            return Err(Error::BitsMismatch {
                expected: self.bits,
                got: other.bits,
            });
        }
        self.words.extend_from_slice(&other.words);
        Ok(())
    }

    /// The words of code `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&[u64]> {
        let start = i.checked_mul(self.words_per_code)?;
        self.words
            .get(start..start.checked_add(self.words_per_code)?)
    }

    /// Bit `p` of code `i` (bit `p % 64` of word `p / 64`).
    pub fn bit(&self, i: usize, p: usize) -> Option<bool> {
        if p >= self.bits {
            return None;
        }
        self.get(i).map(|w| (w[p / 64] >> (p % 64)) & 1 == 1)
    }

    /// Iterates over the codes, each as `words_per_code` words.
    pub fn iter(&self) -> core::slice::ChunksExact<'_, u64> {
        self.words.chunks_exact(self.words_per_code)
    }

    /// Code width in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Words per code: `ceil(bits / 64)`.
    pub fn words_per_code(&self) -> usize {
        self.words_per_code
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        self.words.len() / self.words_per_code
    }

    /// Whether there are no codes.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// All words, row-major.
    pub fn as_words(&self) -> &[u64] {
        &self.words
    }

    /// Gives the words back, row-major.
    pub fn into_words(self) -> Vec<u64> {
        self.words
    }

    /// The codes in the packed byte layout, [`packed_bytes`]`(bits)` bytes a code: bit `p` of
    /// a code in bit `p % 8` (least significant first) of byte `p / 8`, the little-endian
    /// bytes of its words cut to whole bytes. It is the layout of faiss's binary indexes and
    /// of `np.packbits(bits, axis=1, bitorder="little")`.
    pub fn to_packed_bytes(&self) -> Vec<u8> {
        let per = packed_bytes(self.bits);
        let mut out = Vec::with_capacity(self.len() * per);
        for code in self.iter() {
            let mut left = per;
            for w in code {
                let take = left.min(8);
                out.extend_from_slice(&w.to_le_bytes()[..take]);
                left -= take;
            }
        }
        out
    }

    /// Heap bytes held (capacity, not length): what the set costs in memory.
    pub fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
    }

    /// Drops spare capacity left by pushes.
    pub fn shrink_to_fit(&mut self) {
        self.words.shrink_to_fit();
    }

    /// Reserves room for `n` more codes. Panics, as `Vec::reserve` does, when that room would
    /// pass `isize::MAX` bytes; [`Codes::with_capacity`] returns [`Error::NoRoom`] instead.
    pub fn reserve(&mut self, n: usize) {
        self.words.reserve(n.saturating_mul(self.words_per_code));
    }

    /// Checks that `code` could be a member: right length, no bits above the width.
    pub fn check_code(&self, code: &[u64]) -> Result<()> {
        check_code(self.bits, self.words_per_code, code)
    }
}

/// Checks that `code` could be a code of `bits` bits in `words_per_code` words: right length,
/// no bits above the width (for codes held elsewhere, as an index file's bytes).
pub(crate) fn check_code(bits: usize, words_per_code: usize, code: &[u64]) -> Result<()> {
    if code.len() != words_per_code {
        return Err(Error::CodeLength {
            expected: words_per_code,
            got: code.len(),
        });
    }
    if code[words_per_code - 1] & !last_word_mask(bits) != 0 {
        return Err(Error::QueryPadding { bits });
    }
    Ok(())
}

impl<'a> IntoIterator for &'a Codes {
    type Item = &'a [u64];
    type IntoIter = core::slice::ChunksExact<'a, u64>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn widths_and_padding() {
        assert_eq!(Codes::new(0), Err(Error::ZeroBits));
        // Room no allocator can give is an error, not a capacity-overflow panic.
        assert_eq!(
            Codes::with_capacity(64, usize::MAX),
            Err(Error::NoRoom(usize::MAX))
        );
        assert!(Codes::new(MAX_BITS + 1).is_err());
        // The widest code is accepted: MAX_BITS is the last width allowed, not the first refused.
        assert_eq!(words_for(MAX_BITS), Ok(MAX_BITS / 64));
        let mut widest = Codes::new(MAX_BITS).unwrap();
        assert!(widest.is_empty());
        widest.push(&vec![u64::MAX; MAX_BITS / 64]).unwrap();
        assert!(!widest.is_empty());
        assert_eq!(widest.len(), 1);
        // heap_bytes counts at least the words held: 8 bytes each, whatever the capacity.
        assert!(widest.heap_bytes() >= MAX_BITS / 8);
        let room = Codes::with_capacity(130, 10).unwrap();
        assert!(room.heap_bytes() >= 10 * 3 * 8);
        let c = Codes::from_words(65, vec![1, 1, 2, 0]).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.words_per_code(), 2);
        assert_eq!(c.get(1), Some(&[2u64, 0][..]));
        assert_eq!(c.get(2), None);
        assert_eq!(
            Codes::from_words(65, vec![0, 2]),
            Err(Error::Padding { code: 0, bits: 65 })
        );
        assert_eq!(
            Codes::from_words(65, vec![0, 0, 0]),
            Err(Error::WordCount {
                words: 3,
                words_per_code: 2
            })
        );
        assert!(Codes::from_words(64, vec![u64::MAX]).is_ok());
    }

    #[test]
    fn from_probabilities_and_logits() {
        let p = [0.9, 0.1, 0.6, 0.5, 0.0, 1.0];
        let c = Codes::from_probabilities(3, &p).unwrap();
        assert_eq!(c.as_words(), &[0b101, 0b100]);
        let l = [1.0, -1.0, 0.0];
        assert_eq!(Codes::from_logits(3, &l).unwrap().as_words(), &[0b001]);
        assert_eq!(
            Codes::from_logits(2, &[0.0, f32::NAN]),
            Err(Error::NotANumber { position: 1 })
        );
        assert!(Codes::from_logits(2, &[0.0]).is_err());
        let mut v = vec![0.0f32; 130];
        v[64] = 1.0;
        v[129] = 1.0;
        let c = Codes::from_logits(130, &v).unwrap();
        assert_eq!(c.as_words(), &[0, 1, 2]);
        assert_eq!(c.bit(0, 64), Some(true));
        assert_eq!(c.bit(0, 129), Some(true));
        assert_eq!(c.bit(0, 128), Some(false));
        assert_eq!(c.bit(0, 130), None);
        assert_eq!(c.bit(1, 0), None);
    }

    /// The packed byte layout against numpy's `np.packbits(bits, bitorder="little")` of the
    /// same bits, written out by hand: bit p in bit p % 8 of byte p / 8.
    #[test]
    fn packed_bytes_are_numpys_little_bitorder_and_round_trip() {
        // Two 12-bit codes: bits 0, 3, 8, 11 set; bit 4 set.
        let codes = Codes::from_words(12, vec![0b1001_0000_1001, 0b1_0000]).unwrap();
        assert_eq!(packed_bytes(12), 2);
        assert_eq!(
            codes.to_packed_bytes(),
            [0b0000_1001, 0b0000_1001, 0b0001_0000, 0]
        );
        assert_eq!(
            Codes::from_packed_bytes(12, &codes.to_packed_bytes()).unwrap(),
            codes
        );
        // 130 bits: three words, 17 bytes a code; the last byte holds bits 128 and 129.
        let mut v = vec![0.0f32; 130];
        v[0] = 1.0;
        v[129] = 1.0;
        let wide = Codes::from_logits(130, &v).unwrap();
        let bytes = wide.to_packed_bytes();
        assert_eq!(bytes.len(), 17);
        assert_eq!((bytes[0], bytes[16]), (1, 0b10));
        assert_eq!(Codes::from_packed_bytes(130, &bytes).unwrap(), wide);
        assert_eq!(
            Codes::from_packed_bytes(12, &[1, 2, 3]),
            Err(Error::ByteCount {
                bytes: 3,
                bytes_per_code: 2
            })
        );
        // Bits above the width (numpy's default big bitorder puts padding at the bottom).
        assert_eq!(
            Codes::from_packed_bytes(12, &[0, 0x10]),
            Err(Error::Padding { code: 0, bits: 12 })
        );
        assert_eq!(Codes::from_packed_bytes(0, &[]), Err(Error::ZeroBits));
    }

    #[test]
    fn push_and_append() {
        let mut c = Codes::new(3).unwrap();
        c.push(&[5]).unwrap();
        assert_eq!(c.push(&[8]), Err(Error::Padding { code: 1, bits: 3 }));
        assert!(c.push(&[1, 1]).is_err());
        c.push(&[6]).unwrap();
        assert_eq!(c.as_words(), &[5, 6]);
        let other = c.clone();
        c.append(&other).unwrap();
        assert_eq!(c.len(), 4);
        assert!(c.append(&Codes::new(4).unwrap()).is_err());
        assert_eq!(c.bit(3, 1), Some(true));
    }
}
