//! The photo set on small synthetic photos whose views are known: which photo each item is
//! cut from, which item each edited copy is made from, what the seed fixes, and the view
//! items are made in.

use super::*;
use crate::backend::inference_device;
use crate::train::TrainConfig;
use imsat_runtime::view::{Colour, Contrast};

/// An 8x8 grayscale view as resized (no stretch), with a centre part when `centre` is set.
fn raw_view(centre: Option<u8>) -> View {
    View {
        colour: Colour::Gray,
        rows: 8,
        cols: 8,
        contrast: Contrast::Raw,
        centre,
        top: None,
        bottom: None,
        unbox: false,
    }
}

fn uniform(level: u8, w: u32, h: u32) -> RgbImage {
    RgbImage::from_pixel(w, h, image::Rgb([level; 3]))
}

/// Gray levels 10-100 (so a brightness up to x2.2 stays below 255) along x or along y:
/// crops of it, and the two ramps, all look different.
fn ramp(along_x: bool) -> RgbImage {
    RgbImage::from_fn(64, 48, |x, y| {
        let t = if along_x { x * 90 / 63 } else { y * 90 / 47 };
        image::Rgb([(10 + t) as u8; 3])
    })
}

fn config(items_per_photo: usize, edits_per_item: usize, edits: Vec<EditKind>) -> PhotoSetConfig {
    PhotoSetConfig {
        items_per_photo,
        edits_per_item,
        edits,
        ..PhotoSetConfig::default()
    }
}

/// Uniform photos of three gray levels (three sizes), grayscale edits (the identity on
/// gray): every item is its photo's level, so is every copy of it, and the progress bar
/// counts the items.
#[test]
fn items_come_from_their_photo_and_copies_from_their_item() {
    let photos = [
        uniform(30, 48, 40),
        uniform(110, 40, 56),
        uniform(190, 64, 64),
    ];
    let progress = ProgressBar::hidden();
    let set = build_photo_set(
        &photos,
        raw_view(None),
        &config(3, 2, vec![EditKind::Gray]),
        0,
        &progress,
    )
    .unwrap();
    assert_eq!(set.items.n, 9);
    assert_eq!(set.items.shape, vec![8, 8]);
    assert_eq!(set.per_item, 2);
    assert_eq!(set.photo_of, [0, 0, 0, 1, 1, 1, 2, 2, 2]);
    assert_eq!(progress.position(), 9);
    let levels = [30u8, 110, 190];
    for (i, item) in set.items.pixels.chunks_exact(64).enumerate() {
        let level = levels[i / 3];
        assert!(item.iter().all(|&v| v == level), "item {i}: {item:?}");
    }
    assert_eq!(set.edited.len(), 9 * 2 * 64);
    for (c, copy) in set.edited.chunks_exact(64).enumerate() {
        let level = levels[c / 2 / 3];
        assert!(copy.iter().all(|&v| v == level), "copy {c}: {copy:?}");
    }
    // One item (the full frame) with one copy is the least; none is refused, as are settings
    // no set is built with (they were raised to one, or panicked in a worker thread).
    let one = build_photo_set(
        &photos[..1],
        raw_view(None),
        &config(1, 1, vec![EditKind::Gray]),
        0,
        &ProgressBar::hidden(),
    )
    .unwrap();
    assert_eq!((one.items.n, one.per_item, one.edited.len()), (1, 1, 64));
    for (c, words) in [
        (config(0, 1, vec![EditKind::Gray]), "photos.items_per_photo"),
        (config(1, 0, vec![EditKind::Gray]), "photos.edits_per_item"),
        (config(2, 1, Vec::new()), "photos.edits is empty"),
        (
            PhotoSetConfig {
                item_area: (0.5, 0.2),
                ..config(2, 1, vec![EditKind::Gray])
            },
            "photos.item_area",
        ),
    ] {
        let refused = build_photo_set(&photos, raw_view(None), &c, 0, &ProgressBar::hidden());
        match refused {
            Err(crate::train::TrainError::Config(m)) => assert!(m.contains(words), "{m}"),
            other => panic!("expected a settings error, got {:?}", other.err()),
        }
    }
}

/// Least-squares factor `f` of `copy ~ f item` and the largest residual, in gray levels.
fn brightness_fit(item: &[u8], copy: &[u8]) -> (f64, f64) {
    let (i, c): (Vec<f64>, Vec<f64>) = item
        .iter()
        .zip(copy)
        .map(|(&a, &b)| (f64::from(a), f64::from(b)))
        .unzip();
    let f =
        i.iter().zip(&c).map(|(a, b)| a * b).sum::<f64>() / i.iter().map(|a| a * a).sum::<f64>();
    let worst = i
        .iter()
        .zip(&c)
        .map(|(a, b)| (b - f * a).abs())
        .fold(0.0, f64::max);
    (f, worst)
}

/// On ramps: the first item of a photo is its full frame and the others are crops (a part
/// of the ramp); each copy is its own item under one brightness factor drawn for it; the
/// seed fixes the whole set and another seed draws other crops.
#[test]
fn crops_and_edits_are_drawn_for_each_item_from_the_seed() {
    let photos = [ramp(true), ramp(false)];
    let view = raw_view(None);
    let c = config(3, 4, vec![EditKind::Brightness]);
    let set = build_photo_set(&photos, view, &c, 7, &ProgressBar::hidden()).unwrap();
    let item = |s: &PhotoSet, i: usize| s.items.pixels[i * 64..(i + 1) * 64].to_vec();
    for (p, photo) in photos.iter().enumerate() {
        let full = view_of(&view, photo);
        assert_eq!(item(&set, 3 * p), full, "photo {p}'s first item");
        for i in [3 * p + 1, 3 * p + 2] {
            assert_ne!(item(&set, i), full, "item {i} is a crop");
        }
    }
    assert_ne!(item(&set, 1), item(&set, 2));
    let mut factors = Vec::new();
    for i in 0..6 {
        for e in 0..4 {
            let copy = &set.edited[(i * 4 + e) * 64..(i * 4 + e + 1) * 64];
            let (f, worst) = brightness_fit(&item(&set, i), copy);
            assert!(
                worst <= 2.5,
                "copy {e} of item {i}: x{f:.3}, off by {worst}"
            );
            assert!((0.3..=2.3).contains(&f), "copy {e} of item {i}: x{f:.3}");
            factors.push(f);
        }
    }
    // One factor per copy, not one for all.
    assert!(
        factors.iter().any(|f| (f - factors[0]).abs() > 0.05),
        "{factors:?}"
    );
    let again = build_photo_set(&photos, view, &c, 7, &ProgressBar::hidden()).unwrap();
    assert_eq!(again.items.pixels, set.items.pixels);
    assert_eq!(again.edited, set.edited);
    let other = build_photo_set(&photos, view, &c, 8, &ProgressBar::hidden()).unwrap();
    assert_eq!(item(&other, 0), item(&set, 0));
    assert_ne!(item(&other, 1), item(&set, 1));
    // Each item has a generator of its own, at seed 0 too (one mixed from the item's index).
    let zero = build_photo_set(&photos, view, &c, 0, &ProgressBar::hidden()).unwrap();
    assert_ne!(item(&zero, 1), item(&zero, 2));
    assert_ne!(item(&zero, 4), item(&zero, 5));
}

/// Training items hold the whole photo's view only unless every view is asked for, and are
/// never caption-filled; an item of four views is four model rows.
#[test]
fn training_view_and_item_rows() {
    let view = TrainConfig::photo_hash(64)
        .photo_view()
        .expect("the photo defaults name a view");
    assert_eq!(
        (view.views(), view.unbox, view.dim()),
        (4, true, 3 * 16 * 16)
    );
    let whole = PhotoSetConfig::default();
    let t = whole.training_view(view);
    assert_eq!(
        t,
        View {
            unbox: false,
            ..view.whole_only()
        }
    );
    assert_eq!(whole.item_bytes(view), 768);
    let all = PhotoSetConfig {
        all_views: true,
        ..PhotoSetConfig::default()
    };
    assert_eq!(
        all.training_view(view),
        View {
            unbox: false,
            ..view
        }
    );
    assert_eq!(all.item_bytes(view), 4 * 768);

    let centre = raw_view(Some(50));
    let set = build_photo_set(
        &[ramp(true)],
        centre,
        &PhotoSetConfig {
            all_views: true,
            ..config(3, 1, vec![EditKind::Gray])
        },
        0,
        &ProgressBar::hidden(),
    )
    .unwrap();
    assert_eq!(set.items.shape, vec![16, 8]);
    let rows = set.item_rows();
    // Three items of two views: six rows.
    assert_eq!((rows.n, rows.shape.clone()), (6, vec![8, 8]));
    assert_eq!(rows.pixels, set.items.pixels);
    // The whole photo's view, then the centre's.
    assert_eq!(&rows.pixels[..128], &view_of(&centre, &ramp(true))[..]);
}

/// A photo's logits are the mean of its views' logits, each view run as its own row; the
/// views of several photos come one photo after another.
#[test]
fn photo_logits_average_each_photos_views() {
    let view = raw_view(Some(50));
    let photos = [ramp(true), ramp(false), uniform(90, 40, 40)];
    let refs: Vec<&RgbImage> = photos.iter().collect();
    let rows = views_of(&view, &refs);
    assert_eq!(
        rows,
        photos
            .iter()
            .flat_map(|p| view_of(&view, p))
            .collect::<Vec<_>>()
    );
    inference_device().seed(11);
    let model = Encoder::new(64, &[], 5, &inference_device());
    let got = photo_logits(&model, &view, &refs).unwrap();
    assert_eq!(got.len(), 3 * 5);
    for (p, photo) in got.chunks_exact(5).enumerate() {
        let one = |v: usize| {
            let row = &rows[(2 * p + v) * 64..(2 * p + v + 1) * 64];
            predict_logits(&model, &scale_pixels(row), 1).unwrap()
        };
        let (whole, part) = (one(0), one(1));
        for j in 0..5 {
            let want = (whole[j] + part[j]) / 2.0;
            assert!((photo[j] - want).abs() < 1e-6, "photo {p}, output {j}");
        }
    }
}
