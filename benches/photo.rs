//! One 384-px JPEG photo to a 64-bit code, end to end (decode, view, encode), with the shipped
//! `models/photo64.int8.onnx`, against `image_hasher`'s pHash on the same file (decode,
//! hash). One thread. Run with `cargo bench --bench photo` (`PHOTO_MODEL=path` for another
//! photo model); the view alone, the model alone and the decode alone are timed too. Then the
//! same on a phone-size photo (that one upscaled to 4000 px, JPEG q90): decoded whole, and
//! decoded at a reduced size from its DCT coefficients as `imsat encode` decodes it.

use std::path::Path;

use criterion::Criterion;
use imsat_runtime::encoder::Encoder;
use imsat_trainer::perceptual::{Perceptual, hash_word};
use imsat_trainer::photo_set::view_of;
use imsat_trainer::photos::{decode_image_at_least, decode_photo};

const PHOTO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/photos/train/0001.jpg"
);

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // PHOTO_MODEL=path benches another photo model.
    let model = std::env::var_os("PHOTO_MODEL")
        .map_or_else(|| root.join("models/photo64.int8.onnx"), Into::into);
    let enc = Encoder::open(&model).expect("models/photo64 (or PHOTO_MODEL)");
    let view = enc.info().view.expect("a photo model");
    let photo = Path::new(PHOTO);
    decode_photo(photo).expect("the bundled photo 0001.jpg (../shared/data/photos)");
    let phash = Perceptual::PHash.hasher();
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("photo_end_to_end");
    g.bench_function("imsat_photo64_int8", |b| {
        b.iter(|| {
            let img = decode_photo(photo).unwrap();
            enc.codes(&view_of(&view, &img)).unwrap()
        })
    });
    // Where the photo model's time goes: the view alone, and the model on a ready view.
    let img = decode_photo(photo).unwrap();
    let ready = view_of(&view, &img);
    g.bench_function("imsat_photo64_view_only", |b| {
        b.iter(|| view_of(&view, &img))
    });
    // The caption-box search of the view (`+unbox`), on a photo without a box.
    g.bench_function("unbox_find_box", |b| {
        let (w, h) = (img.width() as usize, img.height() as usize);
        b.iter(|| imsat_runtime::view::unbox::find_box(img.as_raw(), w, h, 3))
    });
    g.bench_function("imsat_photo64_model_only", |b| {
        b.iter(|| enc.codes(&ready).unwrap())
    });
    g.bench_function("decode_only", |b| b.iter(|| decode_photo(photo).unwrap()));
    g.bench_function("phash_image_hasher", |b| {
        b.iter(|| {
            let img = decode_photo(photo).unwrap();
            hash_word(&phash, &img)
        })
    });
    g.finish();

    // A phone-size photo: the same picture at 4000 px, saved as a camera would (JPEG q90).
    let dir = tempfile::tempdir().expect("a temporary folder");
    let big = dir.path().join("big.jpg");
    let (w, h) = (4000, img.height() * 4000 / img.width());
    let pixels = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&pixels)
        .expect("encoding the 4000-px photo");
    std::fs::write(&big, jpeg).expect("writing the 4000-px photo");
    let mut g = c.benchmark_group("photo_4000px_end_to_end");
    g.sample_size(10);
    g.bench_function("imsat_photo64_int8_whole_decode", |b| {
        b.iter(|| {
            let img = decode_photo(&big).unwrap();
            enc.codes(&view_of(&view, &img)).unwrap()
        })
    });
    g.bench_function("imsat_photo64_int8_reduced_decode", |b| {
        b.iter(|| {
            let img = decode_image_at_least(&big, view.min_source_side())
                .unwrap()
                .to_rgb8();
            enc.codes(&view_of(&view, &img)).unwrap()
        })
    });
    g.bench_function("phash_image_hasher", |b| {
        b.iter(|| {
            let img = decode_photo(&big).unwrap();
            hash_word(&phash, &img)
        })
    });
    g.finish();
    c.final_summary();
}
