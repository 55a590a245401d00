//! The caption-box fill of the view (`imsat_runtime::view::unbox`) on real photos (the bundled
//! training photos in `../shared/data/photos`): it finds the protocol's caption boxes and
//! leaves the photos and their other edited copies alone. Fails, not skips, when the photos
//! are missing.

use imsat_runtime::view::unbox::find_box;
use imsat_trainer::copy_detection::{make_copies, protocol_edits};
use imsat_trainer::photos::read_photo_folder;

const PHOTOS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/photos/train"
);

fn has_box(img: &image::RgbImage) -> bool {
    let (w, h) = img.dimensions();
    find_box(img.as_raw(), w as usize, h as usize, 3).is_some()
}

#[test]
fn caption_boxes_are_found_on_real_photos_and_nothing_else_is() {
    let folder = read_photo_folder(std::path::Path::new(PHOTOS), &|_| {})
        .unwrap_or_else(|e| panic!("the bundled photos are needed: {e}"));
    let photos = folder.photos;
    assert_eq!(photos.len(), 182);
    let originals = photos.iter().filter(|p| has_box(p)).count();
    let edits = protocol_edits();
    let copies = make_copies(&photos, &edits, 7);
    let mut found = vec![0usize; edits.len()];
    for c in &copies {
        found[c.edit] += has_box(&c.image) as usize;
    }
    for (e, n) in edits.iter().zip(&found) {
        eprintln!("{}: a box on {n} of {} copies", e.name, photos.len());
    }
    eprintln!("originals: a box on {originals} of {}", photos.len());
    assert_eq!(originals, 0, "a box found on an original photo");
    for (e, &n) in edits.iter().zip(&found) {
        if e.name.contains("caption") {
            assert!(
                n * 100 >= 60 * photos.len(),
                "{}: only {n} boxes found",
                e.name
            );
        } else {
            assert!(n <= 2, "{}: a box found on {n} copies without one", e.name);
        }
    }
}
