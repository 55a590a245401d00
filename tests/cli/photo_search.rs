//! A photo library searched by image: `imsat index build` on a folder writes the index and
//! its card of names (`lib.idx.names.json`), `imsat search --query` encodes new photos with
//! the model that built it and answers with file names; another model, a stale card and a
//! file that is not a card are each refused or said, never trusted or replaced. Real photos:
//! eight bundled photos of eight different pictures and the shipped `photo64`.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{expect_bad_input, imsat, run, s};

const PHOTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/photos/train");

/// Full frames of eight different pictures (`manifest.csv`: groups g000 to g055).
const LIBRARY: [&str; 8] = [
    "0001.jpg", "0026.jpg", "0051.jpg", "0076.jpg", "0101.jpg", "0122.jpg", "0127.jpg", "0136.jpg",
];

pub(crate) fn model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

/// The JSON lines of a successful run's stdout (the last is the summary), and its stderr.
pub(crate) fn json_lines(out: &Output) -> (Vec<serde_json::Value>, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (lines, stderr)
}

/// `lib/` with the eight photos, `new/` with an edited copy of 0051.jpg (half size, JPEG
/// q50) and a ninth picture the library does not hold.
pub(crate) fn folders() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let (lib, new) = (d.path().join("lib"), d.path().join("new"));
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::create_dir_all(&new).unwrap();
    for name in LIBRARY {
        std::fs::copy(Path::new(PHOTOS).join(name), lib.join(name))
            .unwrap_or_else(|e| panic!("the bundled photos are needed ({PHOTOS}): {e}"));
    }
    let original = image::open(lib.join("0051.jpg")).unwrap().to_rgb8();
    let half = image::imageops::resize(
        &original,
        original.width() / 2,
        original.height() / 2,
        image::imageops::FilterType::Triangle,
    );
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 50)
        .encode_image(&half)
        .unwrap();
    std::fs::write(new.join("copy_of_0051.jpg"), bytes).unwrap();
    std::fs::copy(Path::new(PHOTOS).join("0146.jpg"), new.join("other.jpg")).unwrap();
    (d, lib, new)
}

#[test]
fn a_photo_library_is_searched_by_image_and_answers_with_file_names() {
    let (d, lib, new) = folders();
    let (m, idx) = (model("photo64.int8.onnx"), d.path().join("lib.idx"));
    let (built, _) = json_lines(&run(
        "index build --model {} --data {} --out {}",
        &[&m, &lib, &idx],
    ));
    assert_eq!(built[0]["codes"], 8);
    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("lib.idx.names.json")).unwrap())
            .unwrap();
    assert_eq!(card["names"][2], s(&lib.join("0051.jpg")));
    assert_eq!(card["model_sha256"].as_str().unwrap().len(), 64);

    let (lines, _) = json_lines(&run(
        "search --index {} --model {} --query {} -k 3 --json",
        &[&idx, &m, &new],
    ));
    let radius = lines[2]["dedup_radius"].as_u64().expect("photo64's radius");
    assert_eq!(lines[0]["query"], s(&new.join("copy_of_0051.jpg")));
    assert_eq!(
        lines[0]["names"][0],
        s(&lib.join("0051.jpg")),
        "{}",
        lines[0]
    );
    assert!(
        lines[0]["distances"][0].as_u64().unwrap() <= radius,
        "{}",
        lines[0]
    );
    // The picture the library does not hold is further than the radius from every photo.
    assert_eq!(lines[1]["query"], s(&new.join("other.jpg")));
    assert!(
        lines[1]["distances"][0].as_u64().unwrap() > radius,
        "{}",
        lines[1]
    );

    // --copies: what the model takes for copies, as dedup pairs them: candidates within
    // its soft radius confirmed by the soft codes the card keeps.
    let (copies, _) = json_lines(&run(
        "search --index {} --model {} --query {} --copies --json",
        &[&idx, &m, &new],
    ));
    let check = &copies[2]["copies"];
    let (radius, max_soft) = (
        check["radius"].as_u64().unwrap(),
        check["soft_distance"].as_f64().unwrap(),
    );
    assert_eq!((radius, max_soft), (18, 32.09), "{}", copies[2]);
    assert_eq!(
        copies[0]["names"],
        serde_json::json!([s(&lib.join("0051.jpg"))])
    );
    assert_eq!(copies[1]["ids"], serde_json::json!([]), "{}", copies[1]);
    // The same as a radius search filtered by soft distance.
    let (wide, _) = json_lines(&run(
        "search --index {} --model {} --query {} --radius 17 --json",
        &[&idx, &m, &new],
    ));
    for (c, w) in copies[..2].iter().zip(&wide[..2]) {
        let kept: Vec<u64> = w["ids"]
            .as_array()
            .unwrap()
            .iter()
            .zip(w["soft_distances"].as_array().unwrap())
            .filter(|(_, d)| d.as_f64().unwrap() <= max_soft)
            .map(|(id, _)| id.as_u64().unwrap())
            .collect();
        assert_eq!(c["ids"], serde_json::json!(kept), "{w}");
    }

    // One image file is a query too; the text answer names the files, nearest first.
    let out = run(
        "search --index {} --model {} --query {} -k 2",
        &[&idx, &m, &new.join("copy_of_0051.jpg")],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rows = text.lines();
    assert_eq!(
        rows.next(),
        Some(s(&new.join("copy_of_0051.jpg"))),
        "{text}"
    );
    let first = rows.next().unwrap();
    let expected = format!("{} (id 2, soft distance ", s(&lib.join("0051.jpg")));
    assert!(first.contains(&expected), "{text}");

    // Appended photos are named and searched; a copy of a library photo finds it at 0.
    let more = d.path().join("more");
    std::fs::create_dir_all(&more).unwrap();
    std::fs::copy(lib.join("0101.jpg"), more.join("again.jpg")).unwrap();
    let (appended, _) = json_lines(&run(
        "index build --model {} --data {} --out {} --append",
        &[&m, &more, &idx],
    ));
    assert_eq!(appended[0]["codes"], 9);
    let (lines, _) = json_lines(&run(
        "search --index {} --model {} --query {} --radius 0 --json",
        &[&idx, &m, &more],
    ));
    assert_eq!(lines[0]["ids"], serde_json::json!([4, 8]));
    assert_eq!(
        lines[0]["names"],
        serde_json::json!([s(&lib.join("0101.jpg")), s(&more.join("again.jpg"))])
    );
    // Appending a folder again adds only the files not in the index yet.
    std::fs::copy(lib.join("0122.jpg"), more.join("new.jpg")).unwrap();
    let (appended, stderr) = json_lines(&run(
        "index build --model {} --data {} --out {} --append",
        &[&m, &more, &idx],
    ));
    assert_eq!(appended[0]["codes"], 10, "{stderr}");
    assert!(stderr.contains("1 of the 2 image files are in"), "{stderr}");
    // The same folder by another path (`..`) is known too: nothing is read or added.
    let (again, stderr) = json_lines(&run(
        "index build --model {} --data {} --out {} --append",
        &[&m, &more.join("..").join("more"), &idx],
    ));
    assert_eq!(again[0]["codes"], 10, "{stderr}");
    assert!(stderr.contains("2 of the 2 image files are in"), "{stderr}");
    // The appended rows keep their soft codes: an exact copy is a copy at distance 0.
    let (lines, _) = json_lines(&run(
        "search --index {} --model {} --query {} --copies --json",
        &[&idx, &m, &more.join("new.jpg")],
    ));
    assert_eq!(lines[0]["ids"], serde_json::json!([5, 9]), "{}", lines[0]);
    assert_eq!(lines[0]["soft_distances"], serde_json::json!([0.0, 0.0]));
}

#[test]
fn the_card_follows_a_linked_index_and_a_copied_index_without_it_is_said() {
    let (d, lib, new) = folders();
    let m = model("photo64.int8.onnx");
    let real = d.path().join("real");
    std::fs::create_dir_all(&real).unwrap();
    let (target, link) = (real.join("lib.idx"), d.path().join("link.idx"));
    json_lines(&run(
        "index build --model {} --data {} --out {}",
        &[&m, &lib, &target],
    ));
    std::os::unix::fs::symlink(&target, &link).unwrap();
    // Through the link: the card beside the file it leads to names the answers.
    let (lines, _) = json_lines(&run(
        "search --index {} --model {} --query {} -k 1 --json",
        &[&link, &m, &new.join("copy_of_0051.jpg")],
    ));
    assert_eq!(
        lines[0]["names"][0],
        s(&lib.join("0051.jpg")),
        "{}",
        lines[0]
    );
    // Copied without its card: searched, and said.
    let copy = d.path().join("copy.idx");
    std::fs::copy(&target, &copy).unwrap();
    let (lines, stderr) = json_lines(&run(
        "search --index {} --model {} --query {} -k 1 --json",
        &[&copy, &m, &new],
    ));
    assert!(stderr.contains("no card of names"), "{stderr}");
    assert!(lines[0].get("names").is_none());
}

#[test]
fn another_model_a_stale_card_or_a_file_that_is_not_a_card_is_refused_or_said() {
    let (d, lib, new) = folders();
    let (m, idx) = (model("photo64.int8.onnx"), d.path().join("lib.idx"));
    json_lines(&run(
        "index build --model {} --data {} --out {}",
        &[&m, &lib, &idx],
    ));
    let before = std::fs::read(&idx).unwrap();
    // hash64 makes 64-bit codes too, of digits: same width, another code space.
    let digits = model("hash64.int8.onnx");
    for command in [
        "search --index {} --model {} --query {}",
        "index build --out {} --model {} --data {} --append",
    ] {
        let out = run(command, &[&idx, &digits, &new]);
        expect_bad_input(
            &out,
            &["photo64.int8.onnx", "hash64.int8.onnx", "not comparable"],
        );
    }
    let out = run(
        "search --index {} --model {} --query {}",
        &[&idx, &model("hash32.int8.onnx"), &new],
    );
    expect_bad_input(&out, &["32-bit codes", "64-bit codes"]);
    assert_eq!(
        std::fs::read(&idx).unwrap(),
        before,
        "a refused append changed the index"
    );

    // Imported over by raw codes, the index is another file: the card is set aside, said.
    let raw = d.path().join("codes.u64");
    std::fs::write(&raw, [7u8; 16]).unwrap();
    let (_, stderr) = json_lines(&run(
        "index import --raw-u64 {} --bits 64 --out {}",
        &[&raw, &idx],
    ));
    assert!(
        stderr.contains("card of names beside the index no longer fits it"),
        "{stderr}"
    );
    let (lines, stderr) = json_lines(&run(
        "search --index {} --model {} --query {} -k 1 --json",
        &[&idx, &digits, &new],
    ));
    assert!(stderr.contains("another version"), "{stderr}");
    assert!(lines[0].get("names").is_none(), "{}", lines[0]);

    // A card given as an output is refused; so is a folder at the card's path, before
    // the index beside it is written.
    let card = d.path().join("lib.idx.names.json");
    for command in [
        "index build --model {} --data {} --out {}",
        "index import --raw-u64 {} --bits 64 --out {}",
    ] {
        let paths: &[&Path] = if command.contains("build") {
            &[&m, &lib, &card]
        } else {
            &[&raw, &card]
        };
        expect_bad_input(&run(command, paths), &["card of names", "--out"]);
    }
    let index_before = std::fs::read(&idx).unwrap();
    let folder_idx = d.path().join("f.idx");
    std::fs::copy(&idx, &folder_idx).unwrap();
    std::fs::create_dir(d.path().join("f.idx.names.json")).unwrap();
    let out = run(
        "index build --model {} --data {} --out {}",
        &[&m, &lib, &folder_idx],
    );
    expect_bad_input(&out, &["f.idx.names.json", "is a folder"]);
    assert_eq!(std::fs::read(&folder_idx).unwrap(), index_before);

    // A file of the user's at the card's path is never replaced.
    let theirs = d.path().join("mine.idx.names.json");
    std::fs::write(&theirs, b"my notes").unwrap();
    let out = run(
        "index build --model {} --data {} --out {}",
        &[&m, &lib, &d.path().join("mine.idx")],
    );
    expect_bad_input(&out, &["mine.idx.names.json", "not an imsat index card"]);
    assert_eq!(std::fs::read(&theirs).unwrap(), b"my notes");
    assert!(!d.path().join("mine.idx").exists());
}

#[test]
fn one_image_file_is_data_named_by_its_file_name() {
    let (d, lib, _) = folders();
    let csv = d.path().join("one.csv");
    let out = imsat(&[
        "encode",
        "--model",
        s(&model("photo64.int8.onnx")),
        "--data",
        s(&lib.join("0026.jpg")),
        "--out",
        s(&csv),
    ]);
    json_lines(&out);
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows[1].starts_with("0026.jpg,"), "{text}");
    // One file of a format that is not read: named as such, not read as an IDX file.
    let heic = d.path().join("phone.heic");
    std::fs::write(&heic, b"\0\0\0\x18ftypheic").unwrap();
    let out = imsat(&[
        "encode",
        "--model",
        s(&model("photo64.int8.onnx")),
        "--data",
        s(&heic),
        "--out",
        s(&d.path().join("h.u64")),
    ]);
    expect_bad_input(&out, &["phone.heic", "not read", "convert it"]);
}

#[test]
fn copies_of_a_plain_picture_are_plain_pictures_of_its_colour() {
    // photo64 gives every plain picture one code (its view stretches contrast); as in
    // `imsat dedup`, a fill is a copy only of a fill of its colour, never of a photo.
    let d = tempfile::tempdir().unwrap();
    let (lib, new) = (d.path().join("lib"), d.path().join("new"));
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::create_dir_all(&new).unwrap();
    let fill = |rgb: [u8; 3]| image::RgbImage::from_pixel(400, 300, image::Rgb(rgb));
    fill([20, 40, 200]).save(lib.join("blue.png")).unwrap();
    std::fs::copy(Path::new(PHOTOS).join("0001.jpg"), lib.join("photo.jpg")).unwrap();
    fill([200, 30, 30]).save(new.join("red.png")).unwrap();
    fill([22, 41, 198])
        .save(new.join("blue_again.png"))
        .unwrap();
    let (m, idx) = (model("photo64.int8.onnx"), d.path().join("lib.idx"));
    json_lines(&run(
        "index build --model {} --data {} --out {}",
        &[&m, &lib, &idx],
    ));
    let (lines, _) = json_lines(&run(
        "search --index {} --model {} --query {} --copies --json",
        &[&idx, &m, &new],
    ));
    assert_eq!(lines[0]["query"], s(&new.join("blue_again.png")));
    assert_eq!(
        lines[0]["names"],
        serde_json::json!([s(&lib.join("blue.png"))])
    );
    assert_eq!(lines[1]["query"], s(&new.join("red.png")));
    assert_eq!(lines[1]["ids"], serde_json::json!([]), "{}", lines[1]);
    // By codes alone the red fill is as near the blue one as its copy is.
    let (near, _) = json_lines(&run(
        "search --index {} --model {} --query {} -k 1 --json",
        &[&idx, &m, &new.join("red.png")],
    ));
    assert_eq!(
        near[0]["names"],
        serde_json::json!([s(&lib.join("blue.png"))])
    );
}

/// An index built with one file of a model is searched and extended with another file that
/// declares the first one's SHA-256 (`imsat.same_codes_as`, as a rewritten int8 file does):
/// the same answers, said in a note, and the card keeps naming the first file. A file that
/// declares another SHA-256 is refused as another model.
#[test]
fn a_file_that_declares_the_same_codes_searches_and_extends_the_index() {
    use imsat::trainer::export::declare_same_codes;
    use sha2::{Digest, Sha256};
    let (d, lib, new) = folders();
    let (first, idx) = (d.path().join("first.int8.onnx"), d.path().join("lib.idx"));
    std::fs::copy(model("photo64.int8.onnx"), &first).unwrap();
    let first_bytes = std::fs::read(&first).unwrap();
    let first_sha = format!("{:x}", Sha256::digest(&first_bytes));
    let (same, other) = (
        d.path().join("same.int8.onnx"),
        d.path().join("other.int8.onnx"),
    );
    std::fs::write(
        &same,
        declare_same_codes(&first_bytes, &[first_sha.to_uppercase()]).unwrap(),
    )
    .unwrap();
    std::fs::write(
        &other,
        declare_same_codes(&first_bytes, &["5".repeat(64)]).unwrap(),
    )
    .unwrap();
    // A copy of 0051.jpg at first, another file: the append adds all eight.
    let start = d.path().join("start");
    std::fs::create_dir_all(&start).unwrap();
    std::fs::copy(lib.join("0051.jpg"), start.join("0051.jpg")).unwrap();
    json_lines(&run(
        "index build --model {} --data {} --out {}",
        &[&first, &start, &idx],
    ));
    let search = |m: &Path| {
        json_lines(&run(
            "search --index {} --model {} --query {} -k 1 --json",
            &[&idx, m, &new],
        ))
    };
    let (by_first, stderr) = search(&first);
    assert!(!stderr.contains("same_codes_as"), "{stderr}");
    let (by_same, stderr) = search(&same);
    assert!(
        stderr.contains("makes the same codes") && stderr.contains(&first_sha),
        "{stderr}"
    );
    assert_eq!(by_same[..2], by_first[..2]);
    expect_bad_input(
        &run(
            "search --index {} --model {} --query {}",
            &[&idx, &other, &new],
        ),
        &["other.int8.onnx", "not comparable"],
    );

    let (appended, stderr) = json_lines(&run(
        "index build --model {} --data {} --out {} --append",
        &[&same, &lib, &idx],
    ));
    assert_eq!(appended[0]["codes"], 9, "{stderr}");
    assert!(stderr.contains("the card keeps naming"), "{stderr}");
    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("lib.idx.names.json")).unwrap())
            .unwrap();
    assert_eq!(card["model_sha256"], first_sha.as_str());
    assert_eq!(card["model"], s(&first));
    // Both files search the extended index, with the same answers.
    let (by_first, _) = search(&first);
    let (by_same, _) = search(&same);
    assert_eq!(by_same[..2], by_first[..2]);
    let nearest = by_first[0]["names"][0].as_str().unwrap();
    assert!(nearest.ends_with("0051.jpg"), "{nearest}");
    let out = run(
        "index build --model {} --data {} --out {} --append",
        &[&other, &lib, &idx],
    );
    expect_bad_input(&out, &["other.int8.onnx", "not comparable"]);

    // The other way: an index built with the newer file is searched and extended with the
    // earlier one, which cannot name its successor: the card names what the newer declares.
    let by_new = d.path().join("by_new.idx");
    json_lines(&run(
        "index build --model {} --data {} --out {}",
        &[&same, &start, &by_new],
    ));
    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("by_new.idx.names.json")).unwrap())
            .unwrap();
    let declared = card["model_same_codes_as"].as_array().unwrap();
    assert!(
        declared.contains(&first_sha.as_str().into()),
        "{declared:?}"
    );
    let (by_first, stderr) = json_lines(&run(
        "search --index {} --model {} --query {} -k 1 --json",
        &[&by_new, &first, &new],
    ));
    assert!(stderr.contains("makes the same codes"), "{stderr}");
    let (by_same, _) = json_lines(&run(
        "search --index {} --model {} --query {} -k 1 --json",
        &[&by_new, &same, &new],
    ));
    assert_eq!(by_first[..2], by_same[..2]);
    let (appended, stderr) = json_lines(&run(
        "index build --model {} --data {} --out {} --append",
        &[&first, &lib, &by_new],
    ));
    assert_eq!(appended[0]["codes"], 9, "{stderr}");
    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("by_new.idx.names.json")).unwrap())
            .unwrap();
    assert_eq!(card["model"], s(&same));
    assert_eq!(&card["model_same_codes_as"], &serde_json::json!(declared));
    expect_bad_input(
        &run(
            "search --index {} --model {} --query {}",
            &[&by_new, &other, &new],
        ),
        &["other.int8.onnx", "not comparable"],
    );
}
