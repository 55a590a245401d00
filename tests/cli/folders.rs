//! Image folders are read with their subfolders, in path order, and `encode --out X.csv`
//! names each row by its path below the folder.

use std::path::Path;

use crate::common::{imsat, mnist_images, s};
use imsat::trainer::data::read_idx_images;

#[test]
fn a_nested_folder_is_encoded_in_path_order_with_its_relative_names() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("models/hash32.int8.onnx");
    let images = read_idx_images(mnist_images()).unwrap();
    let digit = |i: usize| {
        let px = images.pixels[i * 784..(i + 1) * 784].to_vec();
        image::GrayImage::from_raw(28, 28, px).unwrap()
    };
    // The same three digits nested (a/sub/y, a/x, b: path order) and flat, in that order.
    let (nested, flat) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::create_dir_all(nested.path().join("a/sub")).unwrap();
    for (i, (deep, shallow)) in [
        ("a/sub/y.png", "0.png"),
        ("a/x.png", "1.png"),
        ("b.png", "2.png"),
    ]
    .iter()
    .enumerate()
    {
        digit(i).save(nested.path().join(deep)).unwrap();
        digit(i).save(flat.path().join(shallow)).unwrap();
    }
    let csv = |dir: &Path, out: &Path| {
        let run = imsat(&[
            "encode",
            "--model",
            s(&model),
            "--data",
            s(dir),
            "--out",
            s(out),
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        std::fs::read_to_string(out).unwrap()
    };
    let nested_csv = csv(nested.path(), &nested.path().join("codes.csv"));
    let flat_csv = csv(flat.path(), &flat.path().join("codes.csv"));
    let rows = |text: &str| -> Vec<(String, String)> {
        text.lines()
            .skip(1)
            .map(|l| {
                let (n, h) = l.split_once(',').unwrap();
                (n.to_string(), h.to_string())
            })
            .collect()
    };
    let (nested_rows, flat_rows) = (rows(&nested_csv), rows(&flat_csv));
    let names: Vec<&str> = nested_rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a/sub/y.png", "a/x.png", "b.png"]);
    let flat_names: Vec<&str> = flat_rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(flat_names, ["0.png", "1.png", "2.png"]);
    let hex = |r: &[(String, String)]| r.iter().map(|(_, h)| h.clone()).collect::<Vec<_>>();
    assert_eq!(hex(&nested_rows), hex(&flat_rows));
    // Three different digits, three different codes: the rows are not one image repeated.
    let mut distinct = hex(&nested_rows);
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{nested_csv}");
}
