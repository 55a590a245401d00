//! The IDX reader (images and labels, gzipped or raw) on arbitrary bytes: never panics,
//! and what it accepts is consistent with its header.

#![no_main]

use std::path::Path;

use imsat_data::idx as data;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let path = Path::new("fuzz.idx");
    match data::parse_idx_images(path, bytes.to_vec()) {
        Ok(images) => {
            assert!(images.n > 0 && images.dim() > 0);
            assert_eq!(images.pixels.len(), images.n * images.dim());
            // Raw (not gzip) input: the header and payload are the whole file.
            if !bytes.starts_with(&[0x1f, 0x8b]) {
                assert_eq!(
                    bytes.len(),
                    4 + 4 * (images.shape.len() + 1) + images.pixels.len()
                );
                assert_eq!(
                    data::idx_u8_bytes(&[&[images.n][..], &images.shape].concat(), &images.pixels),
                    bytes
                );
            }
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.idx: "), "{e}"),
    }
    let max_classes = bytes.first().map_or(10, |&b| b as usize + 1);
    match data::parse_idx_labels(path, bytes.to_vec(), max_classes) {
        Ok(labels) => {
            assert!(!labels.is_empty());
            assert!(labels.iter().all(|&l| (l as usize) < max_classes));
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.idx: "), "{e}"),
    }
});
