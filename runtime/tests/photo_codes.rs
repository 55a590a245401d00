//! A photo has one code wherever it is encoded: an index built on a workstation is searched
//! with codes a board computes. The 182 bundled photos, decoded as `imsat encode` decodes
//! them (`imsat_data::photos::decode_image_at_least` with the view's `min_source_side`), made
//! into photo64's view and encoded by the `no_std` int8 executor, give the codes in
//! `runtime/tests/data/photo64_codes.csv`; so does each photo with a caption box painted over
//! its bottom quarter, which the view finds and fills (`+unbox`). That file was written on
//! x86_64 (AVX-512) by this test with `IMSAT_WRITE_CODES=1`, and its originals' rows are what
//! `imsat encode --model models/photo64.int8.onnx --data ../shared/data/photos/train --out
//! X.csv` writes; the ARM CI runs this test on aarch64 under qemu, where the JPEG decoder, the
//! view's arithmetic and the integer kernels are other code paths. Rewrite the file when
//! photo64 or its view changes on purpose: every code a user has stored changes with it.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use imsat_data::photos::{decode_image_at_least, photo_files};
use imsat_runtime::int8::Int8Model;
use imsat_runtime::view::unbox::find_box;

const CODES: &str = "runtime/tests/data/photo64_codes.csv";

/// The repository root (the shipped model lives there, the bundled photos beside it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A white caption box over the middle 40% x 12% of the bottom quarter, with black strokes
/// for a word and a square for a logo (what the view's fill looks for).
fn paint_caption(rgb: &mut [u8], w: usize, h: usize) {
    let (bw, bh) = (w * 2 / 5, h * 3 / 25);
    let (x0, y0) = ((w - bw) / 2, h - h / 8 - bh);
    let mut set = |x: usize, y: usize, v: u8| {
        rgb[(y * w + x) * 3..][..3].fill(v);
    };
    for y in y0..y0 + bh {
        for x in x0..x0 + bw {
            let (dx, dy) = (x - x0, y - y0);
            let logo = dx >= bh / 4 && dx < bh * 3 / 4 && dy >= bh / 4 && dy < bh * 3 / 4;
            let word = dx >= bh && dx < bw - bh / 4 && dy >= bh / 3 && dy < bh * 2 / 3;
            let stroke = word && (dx / 3) % 3 != 2;
            set(x, y, if logo || stroke { 20 } else { 245 });
        }
    }
}

fn hex(code: &[u64]) -> String {
    code.iter()
        .flat_map(|w| w.to_le_bytes())
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[test]
fn bundled_photos_have_the_codes_written_on_x86_64() {
    let bytes = std::fs::read(root().join("models/photo64.int8.onnx")).unwrap();
    let model = Int8Model::from_onnx(&bytes).unwrap();
    let view = model.info().view.expect("photo64 carries its view");
    let dir = root().join("../shared/data/photos/train");
    let files = photo_files(&dir).unwrap().photos;
    assert_eq!(files.len(), 182, "the bundled photos in {}", dir.display());
    let (mut rows, mut boxes_found) = (String::from("name,hex\n"), 0);
    for f in &files {
        let rgb = decode_image_at_least(f, view.min_source_side())
            .unwrap()
            .to_rgb8();
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        let mut boxed = rgb.as_raw().clone();
        paint_caption(&mut boxed, w, h);
        boxes_found += usize::from(find_box(&boxed, w, h, 3).is_some());
        let name = f.file_name().unwrap().to_str().unwrap();
        for (suffix, pixels) in [("", rgb.as_raw()), ("+caption", &boxed)] {
            let input = view.apply(pixels, w, h, 3).unwrap();
            let codes = model.codes(&input).unwrap();
            writeln!(rows, "{name}{suffix},{}", hex(codes.get(0).unwrap())).unwrap();
        }
    }
    // The painted boxes exercise the fill: most of them must be found.
    println!("caption boxes found on {boxes_found} of 182 photos");
    assert!(boxes_found >= 150, "boxes found on {boxes_found} of 182");
    let path = root().join(CODES);
    if std::env::var_os("IMSAT_WRITE_CODES").is_some_and(|v| v == "1") {
        std::fs::write(&path, &rows).unwrap();
        println!("wrote {}", path.display());
    }
    let want = std::fs::read_to_string(&path).unwrap();
    let differ: Vec<(&str, &str)> = rows
        .lines()
        .zip(want.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert!(
        differ.is_empty() && rows.lines().count() == want.lines().count(),
        "{} of {} codes differ from {CODES} on {} (first: {:?})",
        differ.len(),
        want.lines().count() - 1,
        std::env::consts::ARCH,
        differ.first()
    );
}
