//! The photo reader's own byte parsers in `imsat-data` (pub(crate), included here by
//! #[path]): the JPEG marker walk, the EXIF orientation reader, the TIFF sample check, and
//! the jpeg-decoder paths (reduced DCT decode, lossless) with their size checks: never
//! panic; decoded pictures are the size the frame header claims (or its reduction).

#![no_main]
#![allow(dead_code)]

use image::DynamicImage;
use libfuzzer_sys::fuzz_target;

// The private parts of `imsat-data`'s photo reader, compiled here as it compiles them: each
// finds `check_decoded_size` and its siblings one level up, at this crate's root.
pub use imsat_data::photos::check_decoded_size;
#[path = "../../datasets/src/photos/exif.rs"]
mod exif;
#[path = "../../datasets/src/photos/jpeg.rs"]
mod jpeg;
#[path = "../../datasets/src/photos/tiff_samples.rs"]
mod tiff_samples;

fn header(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut d = jpeg_decoder::Decoder::new(bytes);
    d.read_info().ok()?;
    let i = d.info()?;
    Some((u32::from(i.width), u32::from(i.height)))
}

fn same_or_turned(a: (u32, u32), b: (u32, u32)) -> bool {
    a == b || a == (b.1, b.0)
}

fn consistent(img: &DynamicImage) -> (u32, u32) {
    let (w, h) = (img.width(), img.height());
    assert!(w > 0 && h > 0);
    let per = img.color().bytes_per_pixel() as usize;
    assert_eq!(img.as_bytes().len(), w as usize * h as usize * per);
    (w, h)
}

fuzz_target!(|data: &[u8]| {
    let w = jpeg::walk(data);
    if w.whole || w.frame.is_some() {
        assert!(data.starts_with(&[0xFF, 0xD8]));
    }
    if let Some(f) = w.frame {
        assert!(matches!(f, 0xC0..=0xCF));
        let _ = jpeg::unread_frame(f);
    }
    let _ = exif::orientation(data);
    // EXIF inside an APP1 segment is what `image`/jpeg-decoder hand over: skip "Exif\0\0".
    if let Some(rest) = data.strip_prefix(b"Exif\0\0") {
        let _ = exif::orientation(rest);
    }
    let _ = tiff_samples::unread_samples(data);
    let claimed = header(data);
    if let Some(Ok(img)) = jpeg::decode_lossless(data) {
        let got = consistent(&img);
        let c = claimed.expect("decoded, so its header reads");
        assert!(same_or_turned(got, c), "lossless {got:?} of {c:?}");
    }
    for min_side in [1u32, 4, 8] {
        if let Some(img) = jpeg::decode_reduced(data, min_side) {
            let got = consistent(&img);
            let (cw, ch) = claimed.expect("decoded, so its header reads");
            assert!(
                [1u32, 2, 4]
                    .iter()
                    .any(|&k| same_or_turned(got, ((cw * k).div_ceil(8), (ch * k).div_ceil(8)))),
                "reduced {got:?} of {cw}x{ch}"
            );
            assert!(got.0.min(got.1) >= min_side);
        }
    }
});
