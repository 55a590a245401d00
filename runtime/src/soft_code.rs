//! Soft codes: each bit's confidence beside the code, for a second check of near-duplicate
//! candidates.
//!
//! A code keeps only the sign of each logit `z`; its soft code keeps `tanh(z / 2)` (the
//! bit's probability mapped to -1..1) as an f16, 2 bytes a bit. Two images' soft distance is
//! the squared Euclidean distance of their soft codes: a bit on which both are confident and
//! disagree costs up to 4, one that either barely decided costs little. On photo64's
//! held-out photos that ranks copies above other pictures better than the Hamming distance
//! (README, "Near-duplicate photos"), so [`SoftCheck`] confirms the pairs a wider Hamming
//! radius proposes.

use alloc::vec::Vec;
use half::f16;

use crate::code::rows_of_values;
use crate::error::{Error, Result};

/// Soft codes of `len()` images, `bits` f16 values each, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct SoftCodes {
    bits: usize,
    values: Vec<f16>,
}

impl SoftCodes {
    /// Soft codes from per-bit logits (row-major, `bits` values per image), as
    /// [`Codes::from_logits`](crate::code::Codes::from_logits) takes them; NaN is rejected.
    pub fn from_logits(bits: usize, logits: &[f32]) -> Result<Self> {
        if bits == 0 {
            return Err(Error::ZeroBits);
        }
        rows_of_values(bits, logits)?;
        let values = logits
            .iter()
            .map(|&z| f16::from_f32(libm::tanhf(z / 2.0)))
            .collect();
        Ok(Self { bits, values })
    }

    /// Soft codes stored as [`SoftCodes::to_le_bytes`] wrote them: little-endian f16, `bits`
    /// a row. A value that is NaN or outside -1..=1 (no `tanh` gives it) is refused, so a
    /// damaged store cannot confirm a pair.
    pub fn from_le_bytes(bits: usize, bytes: &[u8]) -> Result<Self> {
        if bits == 0 {
            return Err(Error::ZeroBits);
        }
        // Two bytes a bit: a width whose row would not fit in memory holds no whole row.
        let whole_rows = match bits.checked_mul(2) {
            Some(row) => bytes.len().is_multiple_of(row),
            None => bytes.is_empty(),
        };
        if !whole_rows {
            return Err(Error::ValueCount {
                values: bytes.len() / 2,
                bits,
            });
        }
        let values: Vec<f16> = bytes
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]))
            .collect();
        if let Some(position) = values
            .iter()
            .position(|v| v.is_nan() || v.to_f32().abs() > 1.0)
        {
            return Err(Error::SoftValue { position });
        }
        Ok(Self { bits, values })
    }

    /// The values as little-endian f16 bytes, row after row (2 bytes a bit).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        self.values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Bits per image.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.values.len() / self.bits
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Image `i`'s values, each in -1..=1 (panics when `i >= len()`).
    pub fn row(&self, i: usize) -> &[f16] {
        &self.values[i * self.bits..(i + 1) * self.bits]
    }

    /// The soft distance of images `i` and `j` ([`distance`] of their rows; panics when
    /// either is out of range).
    pub fn distance(&self, i: usize, j: usize) -> f32 {
        distance(self.row(i), self.row(j))
    }
}

/// The soft distance of two soft codes' rows (of one set or of two): the squared Euclidean
/// distance, 0..=4 x bits; infinite between rows of two widths (codes of two models are never
/// near).
pub fn distance(a: &[f16], b: &[f16]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = x.to_f32() - y.to_f32();
            d * d
        })
        .sum()
}

/// How a model groups near-duplicates with its soft codes: the pairs within `radius` bits are
/// candidates, and those within `max_distance` of each other's soft code are duplicates
/// (metadata `imsat.dedup_soft_radius` and `imsat.dedup_soft_distance`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftCheck {
    /// Hamming radius of the candidates.
    pub radius: u32,
    /// Largest soft distance of a duplicate pair.
    pub max_distance: f32,
}

impl SoftCheck {
    /// Whether images `i` and `j` of `soft` pass the check (their codes are assumed within
    /// `radius`); panics when either is out of range, as [`SoftCodes::row`].
    pub fn confirms(&self, soft: &SoftCodes, i: usize, j: usize) -> bool {
        self.confirms_rows(soft.row(i), soft.row(j))
    }

    /// Whether two soft codes' rows (of one set or of two: a query and an index's rows) pass
    /// the check (their codes are assumed within `radius`); rows of two widths never do.
    pub fn confirms_rows(&self, a: &[f16], b: &[f16]) -> bool {
        // (Said first: their distance is infinite, which an infinite `max_distance` admits.)
        a.len() == b.len() && distance(a, b) <= self.max_distance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each value is tanh(z/2) to f16 precision; the distance is the f64 sum of squares of
    /// the differences, up to f16 rounding (a relative 2^-11 per value).
    #[test]
    fn values_and_distance_match_a_float64_reference() {
        let logits = [3.0f32, -0.2, 0.0, -7.5, 0.5, 0.4, -2.0, 9.0, -0.1, 1.0];
        let soft = SoftCodes::from_logits(5, &logits).unwrap();
        assert_eq!((soft.len(), soft.bits()), (2, 5));
        let reference: Vec<f64> = logits.iter().map(|&z| (z as f64 / 2.0).tanh()).collect();
        for (v, r) in soft.row(0).iter().chain(soft.row(1)).zip(&reference) {
            assert!(
                (v.to_f64() - r).abs() <= r.abs() / 2048.0 + 1e-7,
                "{v} vs {r}"
            );
        }
        let d: f64 = (0..5)
            .map(|k| (reference[k] - reference[5 + k]).powi(2))
            .sum();
        assert!((soft.distance(0, 1) as f64 - d).abs() < 1e-3 * d, "{d}");
        assert_eq!(soft.distance(1, 0), soft.distance(0, 1));
        assert_eq!(soft.distance(1, 1), 0.0);
        let check = SoftCheck {
            radius: 3,
            max_distance: d as f32 + 0.01,
        };
        assert!(check.confirms(&soft, 0, 1));
        assert!(
            !SoftCheck {
                max_distance: d as f32 - 0.01,
                ..check
            }
            .confirms(&soft, 0, 1)
        );
    }

    /// A confident disagreement costs up to 4, an undecided bit little: the distance is not
    /// the Hamming distance.
    #[test]
    fn confident_disagreements_cost_more_than_undecided_bits() {
        let soft = SoftCodes::from_logits(2, &[20.0, 0.05, -20.0, 0.05, 20.0, -0.05]).unwrap();
        // Images 0 and 1: one confident bit apart; 0 and 2: one undecided bit apart.
        assert!((soft.distance(0, 1) - 4.0).abs() < 1e-3);
        assert!(soft.distance(0, 2) < 0.01);
        // Rows of two widths (two models' soft codes) are never near: the shorter one once
        // confirmed every candidate.
        let narrow = SoftCodes::from_logits(1, &[20.0]).unwrap();
        assert_eq!(distance(soft.row(0), narrow.row(0)), f32::INFINITY);
        let check = SoftCheck {
            radius: 0,
            max_distance: 100.0,
        };
        assert!(!check.confirms_rows(soft.row(0), &[]));
        let any = SoftCheck {
            radius: 0,
            max_distance: f32::INFINITY,
        };
        assert!(!any.confirms_rows(soft.row(0), narrow.row(0)));
        assert!(any.confirms_rows(soft.row(0), soft.row(2)));
    }

    #[test]
    fn stored_bytes_round_trip_and_damaged_ones_are_refused() {
        let soft = SoftCodes::from_logits(3, &[3.0, -0.2, 0.0, -7.5, 0.5, 40.0]).unwrap();
        let bytes = soft.to_le_bytes();
        assert_eq!(bytes.len(), 12);
        assert_eq!(SoftCodes::from_le_bytes(3, &bytes), Ok(soft));
        assert_eq!(
            SoftCodes::from_le_bytes(3, &bytes[..10]),
            Err(Error::ValueCount { values: 5, bits: 3 })
        );
        let mut nan = bytes.clone();
        nan[2..4].copy_from_slice(&f16::NAN.to_le_bytes());
        assert_eq!(
            SoftCodes::from_le_bytes(3, &nan),
            Err(Error::SoftValue { position: 1 })
        );
        let mut big = bytes;
        big[0..2].copy_from_slice(&f16::from_f32(2.0).to_le_bytes());
        assert_eq!(
            SoftCodes::from_le_bytes(3, &big),
            Err(Error::SoftValue { position: 0 })
        );
        assert_eq!(SoftCodes::from_le_bytes(0, &[]), Err(Error::ZeroBits));
        // A width whose doubled row wraps to 2 bytes in usize took 4 bytes as two rows.
        let huge = usize::MAX / 2 + 2;
        assert_eq!(
            SoftCodes::from_le_bytes(huge, &[0; 4]),
            Err(Error::ValueCount {
                values: 2,
                bits: huge
            })
        );
    }

    #[test]
    fn bad_logits_are_refused() {
        assert_eq!(SoftCodes::from_logits(0, &[]), Err(Error::ZeroBits));
        assert_eq!(
            SoftCodes::from_logits(3, &[1.0; 4]),
            Err(Error::ValueCount { values: 4, bits: 3 })
        );
        assert_eq!(
            SoftCodes::from_logits(2, &[1.0, f32::NAN]),
            Err(Error::NotANumber { position: 1 })
        );
        assert!(SoftCodes::from_logits(2, &[]).unwrap().is_empty());
    }

    /// Empty means no images: none from no logits, two (not empty) from ten logits of five
    /// bits, and from their stored bytes.
    #[test]
    fn empty_means_no_images() {
        assert!(SoftCodes::from_logits(5, &[]).unwrap().is_empty());
        let soft = SoftCodes::from_logits(5, &[0.5; 10]).unwrap();
        assert!(!soft.is_empty());
        assert_eq!(soft.len(), 2);
        let stored = SoftCodes::from_le_bytes(5, &soft.to_le_bytes()).unwrap();
        assert!(!stored.is_empty());
        assert!(SoftCodes::from_le_bytes(5, &[]).unwrap().is_empty());
    }
}
