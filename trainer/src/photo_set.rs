//! The training set of a photo hash: items cut from a few hundred photos, each with a bank of
//! edited copies for the edit SAT.
//!
//! A few hundred photos are too few items for IMSAT's marginal entropy to see variety, so
//! each photo gives several items: the full frame and random crops of it at other scales (as
//! the tiles of a large photo are other pictures). Every item then gets `edits_per_item`
//! random edits of the chosen family, applied to its full-resolution pixels and only then
//! turned into the model's view. Edits are the slow part (a JPEG round trip, a blur), so the
//! bank is made once, on every core, and training draws from it.

use std::sync::Arc;

use image::RgbImage;
use imsat_runtime::view::{View, mean_over_views};
use indicatif::ProgressBar;
use rand::{Rng, SeedableRng, rngs::StdRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::edits::{EditKind, random_edit};
use crate::model::Encoder;
use crate::train::{TrainError, predict_logits, scale_pixels};
use imsat_data::Images;

/// How items and edited copies are drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoSetConfig {
    /// Items per photo: the full frame, then random crops.
    pub items_per_photo: usize,
    /// Edited copies kept per item.
    pub edits_per_item: usize,
    /// Area range of the crops that make the extra items.
    pub item_area: (f32, f32),
    /// The edits to be invariant to.
    pub edits: Vec<EditKind>,
    /// Items carry every view of the rule (the whole photo's and its parts'), whose logits
    /// are averaged in training as the runtime averages them; by default the whole view only,
    /// about 4 times faster to train and, on the bundled photos, as good (see
    /// [`build_photo_set`]).
    #[serde(default)]
    pub all_views: bool,
}

impl Default for PhotoSetConfig {
    fn default() -> Self {
        PhotoSetConfig {
            items_per_photo: 6,
            edits_per_item: 24,
            item_area: (0.2, 0.5),
            edits: EditKind::default_family(),
            all_views: false,
        }
    }
}

/// The most training items per photo, and edited copies per item: 1,000 x 1,000 views of a
/// 16x16 colour view are 768 MB a photo.
pub const MAX_PER_PHOTO: usize = 1000;

impl PhotoSetConfig {
    /// Whether a set can be built with these settings; else the problem, naming the field
    /// as a run's `config.json` does (`photos.item_area`).
    pub fn check(&self) -> Result<(), String> {
        let counts = 1..=MAX_PER_PHOTO;
        if !counts.contains(&self.items_per_photo) || !counts.contains(&self.edits_per_item) {
            return Err(format!(
                "photos.items_per_photo and photos.edits_per_item must be from 1 to \
                 {MAX_PER_PHOTO}, got {} and {}",
                self.items_per_photo, self.edits_per_item
            ));
        }
        let (low, high) = self.item_area;
        if !(low > 0.0 && low <= high && high <= 1.0) {
            return Err(format!(
                "photos.item_area needs 0 < low <= high <= 1, got [{low}, {high}]"
            ));
        }
        if self.edits.is_empty() {
            return Err("photos.edits is empty: name at least one edit".into());
        }
        Ok(())
    }

    /// The view that items and their edited copies are made with: `view` with all its parts
    /// under [`PhotoSetConfig::all_views`], else the whole photo's alone; without the caption
    /// fill either way (see [`build_photo_set`]).
    pub fn training_view(&self, view: View) -> View {
        let view = if self.all_views {
            view
        } else {
            view.whole_only()
        };
        View {
            unbox: false,
            ..view
        }
    }

    /// Bytes of one item, or of one edited copy: a model row per view of the training view.
    pub fn item_bytes(&self, view: View) -> usize {
        let v = self.training_view(view);
        v.dim() * v.views()
    }
}

/// Items (their views) and, per item, `per_item` views of edited copies.
#[derive(Debug, Clone)]
pub struct PhotoSet {
    pub view: View,
    pub items: Images,
    pub per_item: usize,
    /// `items.n * per_item` views: copy `e` of item `i` is view `i * per_item + e`. Shared
    /// with the trainer (the largest buffer of a photo run: one copy, not one per restart).
    pub edited: Arc<Vec<u8>>,
    /// The photo each item was cut from.
    pub photo_of: Vec<usize>,
}

impl PhotoSet {
    /// The items as model rows, one per view (`items` itself when items are single views):
    /// what the exported model takes, and its int8 calibration data.
    pub fn item_rows(&self) -> Images {
        let views = self.view.views();
        Images {
            n: self.items.n * views,
            shape: self.view.input_shape().to_vec(),
            pixels: self.items.pixels.clone(),
        }
    }
}

/// The model's view of an RGB photo.
pub fn view_of(view: &View, img: &RgbImage) -> Vec<u8> {
    view.apply(img.as_raw(), img.width() as usize, img.height() as usize, 3)
        .expect("an RgbImage is a valid 3-channel image of nonzero size")
}

/// [`view_of`] of each photo, made on every core, one after another: a batch's model rows.
pub fn views_of(view: &View, photos: &[&RgbImage]) -> Vec<u8> {
    let views: Vec<Vec<u8>> = photos.par_iter().map(|p| view_of(view, p)).collect();
    views.concat()
}

/// A trained encoder's logits of photos through `view`, as the runtime encodes a photo:
/// each photo's views (two with a centre view) run as rows, their logits averaged. An error
/// where the view's rows are not the model's input width.
pub fn photo_logits(
    model: &Encoder,
    view: &View,
    photos: &[&RgbImage],
) -> Result<Vec<f32>, TrainError> {
    let pixels = views_of(view, photos);
    let rows = predict_logits(model, &scale_pixels(&pixels), photos.len() * view.views())?;
    Ok(mean_over_views(&rows, view.views(), model.output_dim()))
}

/// Build the set from decoded photos, seeded; `progress` advances once per item. The result
/// does not depend on the number of threads (each item has its own seeded generator). Items
/// carry the views of [`PhotoSetConfig::training_view`]: by default the whole photo's alone
/// (a model row), the views of parts ([`View::centre`], [`View::top`], [`View::bottom`])
/// being for encoding, where the logits of all views are averaged, and the random crops of
/// training covering them. Trained on all views, their logits averaged as the runtime does
/// ([`PhotoSetConfig::all_views`]), the group 4-fold estimate at seed 0 was 0.997 / 0.637
/// (moderate / strong) against 0.997 / 0.642, trading the caption box (0.972 against 0.996)
/// for the 80% crops (0.990 against 0.977) at 4 times the training time
/// (`models/photo64-experiments.md`). The caption fill ([`View::unbox`]) is for encoding
/// only: items and their edited copies are left as drawn, so that the edit SAT still teaches
/// the bits to hold under the boxes the fill misses (a third of the trainer's caption
/// copies). Trained with the fill, the same recipe scored 0.002 lower on the moderate edits.
pub fn build_photo_set(
    photos: &[RgbImage],
    view: View,
    config: &PhotoSetConfig,
    seed: u64,
    progress: &ProgressBar,
) -> Result<PhotoSet, TrainError> {
    config.check().map_err(TrainError::Config)?;
    let d = config.item_bytes(view);
    let view = config.training_view(view);
    let per_photo = config.items_per_photo;
    let n = photos.len() * per_photo;
    let per_item = config.edits_per_item;
    let mut items = vec![0u8; n * d];
    let mut edited = vec![0u8; n * per_item * d];
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .clamp(1, 16);
    let chunk = n.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for ((t, item_out), edit_out) in items
            .chunks_mut(chunk * d)
            .enumerate()
            .zip(edited.chunks_mut(chunk * per_item * d))
        {
            s.spawn(move || {
                for (k, (item, copies)) in item_out
                    .chunks_mut(d)
                    .zip(edit_out.chunks_mut(per_item * d))
                    .enumerate()
                {
                    let i = t * chunk + k;
                    let mut rng = StdRng::seed_from_u64(
                        seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    );
                    let photo = &photos[i / per_photo];
                    let cut = if i.is_multiple_of(per_photo) {
                        photo.clone()
                    } else {
                        let area = rng.random_range(config.item_area.0..=config.item_area.1);
                        crate::edits::Edit::Crop {
                            area,
                            at: (rng.random(), rng.random()),
                        }
                        .apply(photo)
                    };
                    item.copy_from_slice(&view_of(&view, &cut));
                    for copy in copies.chunks_mut(d) {
                        let e = random_edit(&config.edits, &mut rng);
                        copy.copy_from_slice(&view_of(&view, &e.apply(&cut)));
                    }
                    progress.inc(1);
                }
            });
        }
    });
    Ok(PhotoSet {
        view,
        items: Images {
            n,
            shape: {
                let [r, c] = view.input_shape();
                vec![view.views() * r, c]
            },
            pixels: items,
        },
        per_item,
        edited: Arc::new(edited),
        photo_of: (0..n).map(|i| i / per_photo).collect(),
    })
}

#[cfg(test)]
mod tests;
