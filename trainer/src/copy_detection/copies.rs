//! The protocol's edits and the edited copies they make of every original.

use image::RgbImage;
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::Strength;
use crate::edits::{Edit, jpeg};

/// One edit of the protocol.
#[derive(Debug, Clone)]
pub struct ProtocolEdit {
    pub name: &'static str,
    pub strength: Strength,
    /// The edit for original `i` (random positions are drawn per original from the seed).
    pub make: fn(&mut StdRng) -> Edit,
}

/// Quality every copy is saved at.
pub const COPY_JPEG_QUALITY: u8 = 90;

/// The fixed edit list (the moderate part is the hidden benchmark's list).
pub fn protocol_edits() -> Vec<ProtocolEdit> {
    use Strength::*;
    let e = |name, strength, make| ProtocolEdit {
        name,
        strength,
        make,
    };
    vec![
        e("jpeg_q30", Moderate, |_| Edit::Jpeg { quality: 30 }),
        e("jpeg_q50", Moderate, |_| Edit::Jpeg { quality: 50 }),
        e("rescale_50", Moderate, |_| Edit::Rescale { factor: 0.5 }),
        e("rescale_25", Moderate, |_| Edit::Rescale { factor: 0.25 }),
        e("crop_80", Moderate, |_| Edit::Crop {
            area: 0.8,
            at: (0.5, 0.5),
        }),
        e("crop_90", Moderate, |_| Edit::Crop {
            area: 0.9,
            at: (0.5, 0.5),
        }),
        e("rotate_+3", Moderate, |_| Edit::Rotate { degrees: 3.0 }),
        e("rotate_-3", Moderate, |_| Edit::Rotate { degrees: -3.0 }),
        e("brightness_1.2", Moderate, |_| Edit::Brightness {
            factor: 1.2,
        }),
        e("brightness_0.8", Moderate, |_| Edit::Brightness {
            factor: 0.8,
        }),
        e("contrast_0.7", Moderate, |_| Edit::Contrast { factor: 0.7 }),
        e("gray", Moderate, |_| Edit::Gray),
        e("blur_1", Moderate, |_| Edit::Blur { sigma: 1.0 }),
        e("caption_5", Moderate, |r| Edit::Caption {
            area: 0.05,
            at: (r.random(), r.random_range(0.75..=1.0)),
            seed: r.random(),
        }),
        e("crop_60_random", Strong, |r| Edit::Crop {
            area: 0.6,
            at: (r.random(), r.random()),
        }),
        e("rotate_+10", Strong, |_| Edit::Rotate { degrees: 10.0 }),
        e("rotate_-10", Strong, |_| Edit::Rotate { degrees: -10.0 }),
        e("crop_70+rotate_5+jpeg_50", Strong, |r| {
            Edit::Chain(vec![
                Edit::Crop {
                    area: 0.7,
                    at: (r.random(), r.random()),
                },
                Edit::Rotate { degrees: 5.0 },
                Edit::Jpeg { quality: 50 },
            ])
        }),
        e("rescale_33+caption_8+contrast_1.3", Strong, |r| {
            Edit::Chain(vec![
                Edit::Rescale { factor: 0.33 },
                Edit::Caption {
                    area: 0.08,
                    at: (r.random(), r.random()),
                    seed: r.random(),
                },
                Edit::Contrast { factor: 1.3 },
            ])
        }),
        e("flip", Flip, |_| Edit::Flip),
    ]
}

/// An edited copy: which original and which protocol edit.
#[derive(Debug, Clone)]
pub struct Copy {
    pub original: usize,
    pub edit: usize,
    pub image: RgbImage,
}

/// The (original, edit) pair of every copy: every protocol edit of every original, in the
/// order [`make_copies`] makes them and the scores count them.
pub fn copy_pairs(originals: usize, edits: usize) -> Vec<(usize, usize)> {
    (0..originals)
        .flat_map(|o| (0..edits).map(move |e| (o, e)))
        .collect()
}

/// Every protocol edit of every original, saved as JPEG q90, seeded (the same copies for every
/// hash scored). Runs on every core.
pub fn make_copies(originals: &[RgbImage], edits: &[ProtocolEdit], seed: u64) -> Vec<Copy> {
    make_copies_of(
        originals,
        edits,
        seed,
        &copy_pairs(originals.len(), edits.len()),
    )
}

/// The copies of `pairs` (some of [`copy_pairs`]): each the same as [`make_copies`] makes, its
/// random draws seeded by its own pair, so that a large folder's copies can be made a part at
/// a time and dropped once hashed. Runs on every core.
pub fn make_copies_of(
    originals: &[RgbImage],
    edits: &[ProtocolEdit],
    seed: u64,
    pairs: &[(usize, usize)],
) -> Vec<Copy> {
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .clamp(1, 16);
    let chunk = pairs.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = pairs
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|&(o, e)| {
                            let mut rng = StdRng::seed_from_u64(
                                seed ^ ((o as u64) << 20 | e as u64)
                                    .wrapping_mul(0x9E37_79B9_7F4A_7C15),
                            );
                            let edit = (edits[e].make)(&mut rng);
                            Copy {
                                original: o,
                                edit: e,
                                image: jpeg(&edit.apply(&originals[o]), COPY_JPEG_QUALITY),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("an edit worker panicked"))
            .collect()
    })
}
