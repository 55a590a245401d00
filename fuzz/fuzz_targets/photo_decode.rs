//! Photo decoding as `imsat encode` / `index build` / `dedup` do it (`imsat-data`:
//! `decode_image`, `decode_image_at_least`), on arbitrary file bytes under a photo name:
//! never panics or runs out of memory; errors are `Err`; a decoded picture has the size its
//! header claims (turned by its orientation) or a DCT reduction of it.

#![no_main]

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::OnceLock;

use image::{DynamicImage, ImageReader};
use imsat_data::photos::{decode_image, decode_image_at_least};
use libfuzzer_sys::fuzz_target;

const EXTS: [&str; 6] = ["jpg", "png", "bmp", "tif", "gif", "webp"];

fn paths() -> &'static Vec<PathBuf> {
    static P: OnceLock<Vec<PathBuf>> = OnceLock::new();
    P.get_or_init(|| {
        EXTS.iter()
            .map(|e| {
                PathBuf::from(format!(
                    "/dev/shm/imsat-fuzz-photo-{}.{e}",
                    std::process::id()
                ))
            })
            .collect()
    })
}

fn consistent(img: &DynamicImage) {
    let (w, h) = (img.width(), img.height());
    assert!(w > 0 && h > 0);
    let per = img.color().bytes_per_pixel() as usize;
    assert_eq!(img.as_bytes().len(), w as usize * h as usize * per);
}

fn same_or_turned(a: (u32, u32), b: (u32, u32)) -> bool {
    a == b || a == (b.1, b.0)
}

fuzz_target!(|data: &[u8]| {
    // The name's extension is the format only when the content names none.
    let path = &paths()[data.len() % EXTS.len()];
    std::fs::write(path, data).unwrap();
    // What the header claims, by the `image` crate (lossless JPEGs aside).
    let claimed = ImageReader::new(Cursor::new(data))
        .with_guessed_format()
        .ok()
        .filter(|r| r.format().is_some())
        .and_then(|r| r.into_dimensions().ok());
    let full = decode_image(path);
    if let Ok(img) = &full {
        consistent(img);
        if let Some(c) = claimed {
            assert!(
                same_or_turned((img.width(), img.height()), c),
                "decoded {}x{}, header {c:?}",
                img.width(),
                img.height()
            );
        }
    }
    for min_side in [1u32, 4, 8] {
        if let Ok(img) = decode_image_at_least(path, min_side) {
            consistent(&img);
            let got = (img.width(), img.height());
            if let Ok(f) = &full {
                let (fw, fh) = (f.width(), f.height());
                let fits = same_or_turned(got, (fw, fh))
                    || [1u32, 2, 4].iter().any(|&k| {
                        same_or_turned(got, ((fw * k).div_ceil(8), (fh * k).div_ceil(8)))
                    });
                assert!(
                    fits,
                    "reduced {got:?} of a {fw}x{fh} picture (min side {min_side})"
                );
                if !same_or_turned(got, (fw, fh)) {
                    assert!(got.0.min(got.1) >= min_side, "{got:?} < {min_side}");
                }
            }
        }
    }
});
