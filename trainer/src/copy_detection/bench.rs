//! The benchmark run: every hash scored on one set of edited copies, made a part at a time
//! (what `imsat eval --task copy-detection` and the validation of `imsat train` on photos run).

use image::RgbImage;
use imsat_runtime::code::Codes;
use imsat_runtime::encoder::Encoder;
use imsat_runtime::soft_code::SoftCodes;
use imsat_runtime::view::View;
use rayon::prelude::*;

use super::{
    HashScore, ProtocolEdit, copy_pairs, make_copies_of, protocol_edits, score, score_soft,
    source_ids,
};
use crate::perceptual::{Perceptual, hash_word};
use crate::photo_set::views_of;

/// Why a hash could not hash a batch (an encoder's error, or the caller's own).
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// Copies made and hashed at a time, per core. A copy is at most 1,024 px on a side
/// (`imsat_data::photos::MAX_SIDE`; 2.4 MB at 1024x768), so a part holds about 77 MB a core,
/// where all 20 copies a photo at once would need 48 GB for a thousand photos.
const COPIES_PER_CORE: usize = 32;

/// Originals and the edited copies every hash is scored on.
pub struct Bench {
    pub originals: Vec<RgbImage>,
    /// The source of each original (photos of one group share one).
    pub sources: Vec<usize>,
    /// The (original, edit) pair of every copy, in the order they are scored.
    pub pairs: Vec<(usize, usize)>,
    pub edits: Vec<ProtocolEdit>,
    seed: u64,
}

/// What a hash makes of a batch of images: one `T` row per image, flat.
pub type HashFn<'a, T> = Box<dyn Fn(&[&RgbImage]) -> Result<Vec<T>, BenchError> + 'a>;

/// A hash to score: what it makes of a batch of images.
pub enum Hash<'a> {
    /// A model's logits, scored by its codes (bit = logit > 0) and by its soft codes.
    Logits {
        name: String,
        bits: usize,
        of: HashFn<'a, f32>,
    },
    /// Packed codes (a perceptual hash).
    Words {
        name: String,
        bits: usize,
        of: HashFn<'a, u64>,
    },
}

impl Hash<'_> {
    /// A model through the runtime encoder and its view.
    pub fn model<'a>(name: &str, enc: &'a Encoder, view: &'a View) -> Hash<'a> {
        Hash::Logits {
            name: name.to_string(),
            bits: enc.outputs(),
            of: Box::new(move |imgs| Ok(enc.logits(&views_of(view, imgs))?)),
        }
    }

    /// A perceptual hash of `image_hasher`.
    pub fn perceptual(p: Perceptual) -> Hash<'static> {
        let hasher = p.hasher();
        Hash::Words {
            name: p.name().to_string(),
            bits: 64,
            of: Box::new(move |imgs| Ok(imgs.par_iter().map(|i| hash_word(&hasher, i)).collect())),
        }
    }

    /// Outputs for no image yet (an encoder refuses an empty batch).
    fn no_outputs(&self) -> Outputs {
        match self {
            Hash::Logits { .. } => Outputs::Logits(Vec::new()),
            Hash::Words { .. } => Outputs::Words(Vec::new()),
        }
    }

    fn outputs(&self, imgs: &[&RgbImage]) -> Result<Outputs, BenchError> {
        Ok(match self {
            Hash::Logits { of, .. } => Outputs::Logits(of(imgs)?),
            Hash::Words { of, .. } => Outputs::Words(of(imgs)?),
        })
    }
}

/// A hash's outputs for a list of images.
enum Outputs {
    Logits(Vec<f32>),
    Words(Vec<u64>),
}

impl Outputs {
    fn extend(&mut self, more: Outputs) {
        match (self, more) {
            (Outputs::Logits(a), Outputs::Logits(b)) => a.extend(b),
            (Outputs::Words(a), Outputs::Words(b)) => a.extend(b),
            _ => unreachable!("one hash gives one kind of output"),
        }
    }
}

impl Bench {
    /// The edited copies of `originals`, of which `groups[i]` names original `i`'s group.
    pub fn new<S: AsRef<str>>(originals: Vec<RgbImage>, groups: &[S], seed: u64) -> Self {
        assert_eq!(groups.len(), originals.len(), "one group per original");
        let edits = protocol_edits();
        Bench {
            pairs: copy_pairs(originals.len(), edits.len()),
            originals,
            sources: source_ids(groups),
            edits,
            seed,
        }
    }

    /// Every hash's score, in the order given, then the soft-code score of each `Logits` hash.
    /// The copies are made a part at a time, hashed by every hash and dropped; `on_copies(n)`
    /// is called with each part's size (a progress bar's step).
    pub fn score(
        &self,
        hashes: &[Hash],
        on_copies: &dyn Fn(usize),
    ) -> Result<Vec<HashScore>, BenchError> {
        let originals: Vec<&RgbImage> = self.originals.iter().collect();
        let mut outputs = Vec::with_capacity(hashes.len());
        for h in hashes {
            outputs.push((h.outputs(&originals)?, h.no_outputs()));
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        for part in self.pairs.chunks(COPIES_PER_CORE * cores.clamp(1, 16)) {
            let copies = make_copies_of(&self.originals, &self.edits, self.seed, part);
            let images: Vec<&RgbImage> = copies.iter().map(|c| &c.image).collect();
            for (h, (_, of_copies)) in hashes.iter().zip(&mut outputs) {
                of_copies.extend(h.outputs(&images)?);
            }
            on_copies(part.len());
        }
        let (edits, sources, meta) = (&self.edits, &self.sources, &self.pairs);
        let mut scores = Vec::new();
        let mut soft = Vec::new();
        for (h, (o, c)) in hashes.iter().zip(outputs) {
            match (h, o, c) {
                (Hash::Words { name, bits, .. }, Outputs::Words(o), Outputs::Words(c)) => {
                    scores.push(score(name, *bits, &o, &c, meta, edits, sources));
                }
                (Hash::Logits { name, bits, .. }, Outputs::Logits(o), Outputs::Logits(c)) => {
                    let words = |l: &[f32]| Codes::from_logits(*bits, l).map(Codes::into_words);
                    scores.push(score(
                        name,
                        *bits,
                        &words(&o)?,
                        &words(&c)?,
                        meta,
                        edits,
                        sources,
                    ));
                    let (so, sc) = (
                        SoftCodes::from_logits(*bits, &o)?,
                        SoftCodes::from_logits(*bits, &c)?,
                    );
                    soft.push(score_soft(
                        &format!("{name} soft"),
                        &so,
                        &sc,
                        meta,
                        edits,
                        sources,
                    ));
                }
                _ => unreachable!("one hash gives one kind of output"),
            }
        }
        scores.extend(soft);
        Ok(scores)
    }
}
