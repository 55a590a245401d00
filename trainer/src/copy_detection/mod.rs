//! The copy-detection protocol: how well a hash finds edited copies of photos.
//!
//! Every original gets a fixed list of edited copies ([`protocol_edits`]), each saved as JPEG
//! q90 as a real copy would be. A copy is a query that must find its own original among all
//! originals plus all copies of the *other* originals. Scored per group of edits
//! ([`Strength`]):
//! - TPR at FPR 1e-3 and 1e-4: the largest Hamming threshold whose false-positive rate over
//!   pairs (copy, image of another original) stays within the target, and the fraction of
//!   (copy, own original) pairs within it. The number of negative pairs says how many false
//!   positives the target allows (1e-4 of 300 k pairs is 30). Originals cut from one source
//!   (the tiles of one photograph and its full frame) are not negatives of each other: a
//!   tile is a crop of the full frame, and the benchmark counts false positives over images
//!   of different sources; they still rank in the mAP.
//! - TPR per edit at the FPR 1e-3 threshold of its group.
//! - mAP of retrieving the original: 1 / (expected rank of the original, ties in random order).
//!
//! It works on packed codes of any width, so learned codes and perceptual hashes are scored
//! by the same lines, and on soft codes ([`score_soft`]), whose distance replaces the
//! Hamming distance throughout.
//!
//! The files: the protocol's edits and the copies they make in `copies.rs`, the scores in
//! `score.rs`, a run of the benchmark over several hashes in `bench.rs`.

mod bench;
mod copies;
mod score;
#[cfg(test)]
mod tests;

use serde::Serialize;

pub use bench::{Bench, BenchError, Hash, HashFn};
pub use copies::{
    COPY_JPEG_QUALITY, Copy, ProtocolEdit, copy_pairs, make_copies, make_copies_of, protocol_edits,
};
pub use score::{GroupScore, HashScore, OperatingPoint, score, score_soft, source_ids};

/// Edit groups, scored separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strength {
    /// JPEG, rescale, 80/90% centre crops, +-3 degrees, brightness, contrast, gray, blur 1,
    /// a caption box: what pHash already handles.
    Moderate,
    /// 60% crops at a random position, +-10 degrees, and combinations.
    Strong,
    /// Horizontal mirror (only a hash trained with `flip` is expected to see through it).
    Flip,
}
