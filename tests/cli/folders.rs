//! Image folders are read with their subfolders, in path order, and `encode --out X.csv`
//! names each row by its path below the folder.

use std::path::Path;

use crate::common::{expect_success, imsat, mnist_images, s};
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
        expect_success(&run);
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

/// Rows follow the paths compared as byte strings, as a script lists the tree
/// (`sorted(glob("**/*", recursive=True))`): a photo `a.png` before the folder `a/` of its
/// copies, which goes after `a b.png`. Compared part by part, `a/x.png` came first, and a
/// benchmark pairing raw codes with its own listing paired the original with a copy's code.
/// Files of no image name are not rows, and a note counts them.
#[test]
fn a_photo_beside_the_folder_of_its_copies_comes_first_and_other_files_are_counted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let images = read_idx_images(mnist_images()).unwrap();
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("a")).unwrap();
    for (i, name) in ["a/x.png", "a.png", "a b.png"].iter().enumerate() {
        let px = images.pixels[i * 784..(i + 1) * 784].to_vec();
        let digit = image::GrayImage::from_raw(28, 28, px).unwrap();
        digit.save(d.path().join(name)).unwrap();
    }
    std::fs::write(d.path().join("notes.txt"), b"not a photo").unwrap();
    let o = tempfile::tempdir().unwrap();
    let out = o.path().join("codes.csv");
    let model = root.join("models/hash32.int8.onnx");
    let run = imsat(&[
        "encode",
        "--model",
        s(&model),
        "--data",
        s(d.path()),
        "--out",
        s(&out),
    ]);
    expect_success(&run);
    let text = std::fs::read_to_string(&out).unwrap();
    let names: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(names, ["a b.png", "a.png", "a/x.png"], "{text}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("note: 1 file without an image extension not read")
            && stderr.contains("notes.txt"),
        "{stderr}"
    );
}

/// A folder's photos are decoded on every core (rayon): the rows keep file order whatever
/// the number of threads, and a file that cannot be decoded is left out the same way.
#[test]
fn a_folder_read_on_four_threads_gives_the_rows_of_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let photos = root.join("../shared/data/photos/train");
    let dir = tempfile::tempdir().unwrap();
    let mut names: Vec<_> = std::fs::read_dir(&photos)
        .unwrap_or_else(|e| panic!("{}: {e} (the bundled photos)", photos.display()))
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for n in &names[..24] {
        std::fs::copy(photos.join(n), dir.path().join(n)).unwrap();
    }
    std::fs::write(dir.path().join("0010x.jpg"), b"not a jpeg").unwrap();
    let csv = |threads: &str| {
        let out = dir.path().join(format!("codes{threads}.csv"));
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_imsat"))
            .args(["--quiet", "encode", "--skip-bad", "--model"])
            .arg(root.join("models/photo64.int8.onnx"))
            .arg("--data")
            .arg(dir.path())
            .arg("--out")
            .arg(&out)
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        expect_success(&run);
        let stderr = String::from_utf8_lossy(&run.stderr).to_string();
        assert!(stderr.contains("0010x.jpg"), "the skip is named: {stderr}");
        std::fs::read_to_string(out).unwrap()
    };
    let (one, four) = (csv("1"), csv("4"));
    assert_eq!(one, four);
    let rows: Vec<&str> = one.lines().skip(1).collect();
    assert_eq!(rows.len(), 24, "{one}");
    let listed: Vec<String> = rows
        .iter()
        .map(|r| r.split(',').next().unwrap().to_string())
        .collect();
    let want: Vec<String> = names[..24]
        .iter()
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    assert_eq!(listed, want);
    // Each row is its own file's code: a photo encoded alone gives the same.
    for (i, n) in [0, 9, 23].map(|i| (i, &names[i])) {
        let alone = tempfile::tempdir().unwrap();
        std::fs::copy(photos.join(n), alone.path().join(n)).unwrap();
        let out = alone.path().join("one.csv");
        let run = crate::common::imsat(&[
            "encode",
            "--model",
            s(&root.join("models/photo64.int8.onnx")),
            "--data",
            s(alone.path()),
            "--out",
            s(&out),
        ]);
        assert!(run.status.success());
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.lines().nth(1), Some(rows[i]), "{n:?}");
    }
    let mut codes: Vec<&str> = rows.iter().map(|r| r.split(',').nth(1).unwrap()).collect();
    codes.sort();
    codes.dedup();
    assert!(codes.len() > 20, "different photos, different codes: {one}");
}

/// A file name that is not UTF-8 cannot be a CSV or NPZ row name (written lossily, two such
/// files would share one): refused, naming the file; raw codes need no names.
#[cfg(unix)]
#[test]
fn a_file_name_that_is_not_utf8_is_refused_for_named_codes() {
    use std::os::unix::ffi::OsStrExt;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("models/hash32.int8.onnx");
    let images = read_idx_images(mnist_images()).unwrap();
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("digits");
    std::fs::create_dir(&data).unwrap();
    for (i, name) in [&b"bad\xff.png"[..], b"bad\xfe.png"]
        .into_iter()
        .enumerate()
    {
        let px = images.pixels[i * 784..(i + 1) * 784].to_vec();
        image::GrayImage::from_raw(28, 28, px)
            .unwrap()
            .save(data.join(std::ffi::OsStr::from_bytes(name)))
            .unwrap();
    }
    let encode = |out: &Path, flags: &[&str]| {
        let mut args = vec!["encode", "--model", s(&model), "--data", s(&data)];
        args.extend(["--out", s(out)]);
        args.extend(flags);
        imsat(&args)
    };
    // Said before the folder is encoded, with --skip-bad too (a name is not a decode error).
    for (out, flags) in [
        ("codes.csv", &[][..]),
        ("codes.npz", &[]),
        ("codes.csv", &["--skip-bad"]),
    ] {
        let out = d.path().join(out);
        let run = encode(&out, flags);
        crate::common::expect_bad_input(&run, &["bad", "not UTF-8", ".u64"]);
        assert!(!out.exists());
    }
    let raw = d.path().join("codes.u64");
    let run = encode(&raw, &[]);
    expect_success(&run);
    assert_eq!(std::fs::metadata(&raw).unwrap().len(), 16);
    // Dedup prints grouped files' paths, which a lossy name could turn into another file's
    // (a `--duplicates-only | xargs rm` deleting it): refused in every output. The two files
    // are one digit, so they group.
    let copy = std::ffi::OsStr::from_bytes(b"bad\xfe.png");
    std::fs::copy(
        data.join(std::ffi::OsStr::from_bytes(b"bad\xff.png")),
        data.join(copy),
    )
    .unwrap();
    for flags in [&[][..], &["--json"], &["--duplicates-only"]] {
        let mut args = vec!["dedup", "--model", s(&model), s(&data)];
        args.extend(flags);
        crate::common::expect_bad_input(&imsat(&args), &["bad", "not UTF-8", "rename it"]);
    }
    // An index's card names its rows: refused before the folder is encoded, so before a
    // broken file later in it stops the read.
    std::fs::write(data.join("zz.png"), b"not a png").unwrap();
    let idx = d.path().join("digits.idx");
    let build = ["index", "build", "--model", s(&model), "--data", s(&data)];
    let run = imsat(&[&build[..], &["--out", s(&idx)]].concat());
    crate::common::expect_bad_input(&run, &["bad", "not UTF-8", "rename it"]);
    assert!(!idx.exists());
    // A search names its queries by their paths: refused too, in text and JSON (after the
    // warnings that the index has no card and that zz.png is skipped).
    let raw_idx = d.path().join("raw.idx");
    expect_success(&crate::common::run(
        "index import --raw-u64 {} --bits 32 --out {}",
        &[&raw, &raw_idx],
    ));
    for flags in [&[][..], &["--json"]] {
        let mut args = vec!["search", "--index", s(&raw_idx), "--model", s(&model)];
        args.extend(["--query", s(&data), "-k", "1"]);
        args.extend(flags);
        let needles = ["bad", "not UTF-8", "rename it"];
        crate::common::expect_bad_input_after_notes(&imsat(&args), &needles);
    }
}
