//! Photo models through the `imsat` binary, on a few of the bundled real photos
//! (`../shared/data/photos/train`; the test fails if they are missing): train on a folder,
//! then encode, dedup and evaluate with the model's own view and no other flag; the shipped
//! photo64's int8 bits against its f32 ones; a photo's EXIF turn. The helpers here (the
//! folder, the model trained once) serve `photo_refusals` (bad photo input and configs that
//! cannot work) and `photo_dedup` (where dedup takes its operating point, which copy it keeps).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use crate::common::{imsat, numpy_npz, python_with, s};

pub(crate) const PHOTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/photos/train");

pub(crate) fn ok(out: &Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().expect("a JSON line");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"))
}

/// A folder with the first 12 bundled photos (copies), made once.
pub(crate) fn photo_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        for i in 1..=12 {
            let name = format!("{i:04}.jpg");
            std::fs::copy(Path::new(PHOTOS).join(&name), d.path().join(&name))
                .unwrap_or_else(|e| panic!("the bundled photos are needed ({PHOTOS}): {e}"));
        }
        d
    })
    .path()
}

/// A tiny photo model trained once through the CLI (12 photos, 3 epochs).
pub(crate) fn photo_model() -> &'static Path {
    static RUN: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, run) = RUN.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        let report = ok(&imsat(&[
            "train",
            "--task",
            "hash",
            "--bits",
            "16",
            "--data",
            s(photo_dir()),
            "--out",
            s(&run),
            "--epochs",
            "3",
            "--items-per-photo",
            "2",
            "--edits-per-item",
            "2",
            "--holdout",
            "0.25",
            "--edits",
            "jpeg,crop,rotate",
            "--radius",
            "7",
            "--soft-check",
            "9,3.5",
        ]));
        assert_eq!(report["photos_train"], 9);
        assert_eq!(report["photos_validation"], 3);
        assert_eq!(
            report["edits"],
            serde_json::json!(["jpeg", "crop", "rotate"])
        );
        // Measured where a threshold holds the FPR (this 3-epoch model may have none: null).
        let measured_or_null = |v: &serde_json::Value| v.is_u64() || v.is_null();
        assert!(measured_or_null(&report["radius_at_fpr_1e-3"]), "{report}");
        // --radius overrides the measured operating point, which is kept beside it.
        assert_eq!(report["radius_at_fpr_1e-4"], 7, "{report}");
        // So does --soft-check; the measured soft check is kept beside it.
        assert_eq!(
            report["soft_check"],
            serde_json::json!({"radius": 9, "distance": 3.5})
        );
        let measured = &report["soft_check_measured"];
        assert!(
            measured.is_null()
                || (measured["radius"].as_u64().unwrap() <= 16
                    && measured["distance"].as_f64().unwrap() >= 0.0),
            "{report}"
        );
        // Both models carry them in their metadata, where the runtime reads them.
        for file in ["model.onnx", "model.int8.onnx"] {
            let bytes = std::fs::read(run.join(file)).unwrap();
            let model = imsat::runtime::format::onnx::Model::parse(&bytes).unwrap();
            let info = imsat::runtime::format::ModelInfo::from_metadata(|k| model.metadata(k));
            let info = info.unwrap();
            assert_eq!(info.dedup_radius, Some(7), "{file}");
            let check = imsat::runtime::soft_code::SoftCheck {
                radius: 9,
                max_distance: 3.5,
            };
            assert_eq!(info.soft_check, Some(check), "{file}");
        }
        assert!(
            measured_or_null(&report["radius_measured_at_fpr_1e-4"]),
            "{report}"
        );
        let soft = &report["validation"]["learned_soft"];
        assert_eq!(soft["distance"], "soft", "{report}");
        assert!(soft["moderate"]["tpr_at_fpr_1e-3"].is_f64(), "{report}");
        assert!(report["validation"]["learned"]["moderate"]["tpr_at_fpr_1e-3"].is_f64());
        let held = std::fs::read_to_string(run.join("validation.txt")).unwrap();
        assert_eq!(held.lines().count(), 3);
        (d, run)
    });
    run
}

#[test]
fn a_photo_model_encodes_dedups_and_evaluates_with_its_own_view() {
    let model = photo_model().join("model.int8.onnx");
    let out_dir = tempfile::tempdir().unwrap();
    let encode_to = |out: &Path| {
        ok(&imsat(&[
            "encode",
            "--model",
            s(&model),
            "--data",
            s(photo_dir()),
            "--out",
            s(out),
        ]))
    };
    let codes = out_dir.path().join("codes.u64");
    let summary = encode_to(&codes);
    assert_eq!(summary["count"], 12);
    assert!(summary["read_seconds"].as_f64().unwrap() > 0.0, "{summary}");
    let words = std::fs::read(&codes).unwrap();
    assert_eq!(words.len(), 12 * 8);
    // The benchmark's hand-over format: `name,hex` rows in file-name order, the same codes
    // (a 16-bit model: the first two bytes of each little-endian word).
    let csv = out_dir.path().join("codes.csv");
    encode_to(&csv);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(photo_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let expected: String = names
        .iter()
        .zip(words.chunks(8))
        .map(|(n, w)| {
            let hex: String = w[..2].iter().map(|b| format!("{b:02x}")).collect();
            format!("{n},{hex}\n")
        })
        .collect();
    assert_eq!(text, format!("name,hex\n{expected}"));
    // Its other hand-over format, `.npz` with `names` and `codes`, as NumPy reads it
    // (without pickle): the same names and the `.npy` output's bytes.
    let npz = out_dir.path().join("codes.npz");
    encode_to(&npz);
    if python_with("numpy", "numpy") {
        let bytes: Vec<Vec<u8>> = words.chunks(8).map(|w| w[..2].to_vec()).collect();
        assert_eq!(
            numpy_npz(&npz),
            serde_json::json!({
                "names": {"dtype": "<U8", "shape": [12], "values": names},
                "codes": {"dtype": "uint8", "shape": [12, 2], "values": bytes},
            })
        );
    }

    // An exact copy of a photo is a duplicate at the model's own radius.
    let dup = tempfile::tempdir().unwrap();
    for name in ["0001.jpg", "0005.jpg", "0009.jpg"] {
        std::fs::copy(photo_dir().join(name), dup.path().join(name)).unwrap();
    }
    std::fs::copy(
        photo_dir().join("0005.jpg"),
        dup.path().join("0005-copy.jpg"),
    )
    .unwrap();
    let dedup = |extra: &[&str]| {
        let mut args = vec!["dedup", "--json", "--model", s(&model)];
        args.extend_from_slice(extra);
        args.push(s(dup.path()));
        ok(&imsat(&args))
    };
    let copy_grouped = |groups: &serde_json::Value| {
        groups["group_members"].as_array().unwrap().iter().any(|g| {
            let g: Vec<&str> = g
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            g.iter().any(|p| p.ends_with("0005.jpg"))
                && g.iter().any(|p| p.ends_with("0005-copy.jpg"))
        })
    };
    // By default the model's soft check: candidates within its radius, confirmed by their
    // soft distance (both printed).
    let groups = dedup(&[]);
    assert_eq!(
        (&groups["radius"], &groups["soft_distance"]),
        (&9.into(), &3.5.into()),
        "the model's soft check is printed: {groups}"
    );
    assert!(copy_grouped(&groups), "{groups}");
    // Without it, the codes alone at the model's radius.
    let groups = dedup(&["--no-soft-check"]);
    assert_eq!(
        (&groups["radius"], &groups["soft_distance"]),
        (&7.into(), &serde_json::Value::Null),
        "the model's radius is printed: {groups}"
    );
    assert!(copy_grouped(&groups), "{groups}");
    // The pixel check on candidates compares each photo's own whole-frame view (a photo's
    // pixels hold both of its views): an exact copy passes it at any threshold.
    let checked = dedup(&["--min-similarity", "0.99"]);
    assert!(copy_grouped(&checked), "{checked}");

    // Copy detection on the 12 photos, with one more flag and its value.
    let eval_args = [
        "eval",
        "--task",
        "copy-detection",
        "--model",
        s(&model),
        "--data",
    ];
    let copy_detection = |flag: &str, value: &Path| {
        ok(&imsat(
            &[&eval_args[..], &[s(photo_dir()), flag, s(value)]].concat(),
        ))
    };
    let report = copy_detection("--reference", &photo_model().join("model.onnx"));
    let names: Vec<&str> = report["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["model.int8.onnx", "phash", "dhash", "model.int8.onnx soft"]
    );
    assert_eq!(report["photos"], 12);
    // What the numbers were measured on: the folder, and its photos in their order.
    assert_eq!(report["data"], s(photo_dir()));
    assert_eq!(report["photos_crc32"].as_str().map(str::len), Some(8));
    assert_eq!(
        report["copies"],
        12 * report["edits"].as_array().unwrap().len()
    );
    for h in report["hashes"].as_array().unwrap() {
        let m = &h["moderate"];
        let negatives = m["negative_pairs"].as_u64().unwrap();
        assert!(negatives > 1000, "{h}");
        let tpr = m["tpr_at_fpr_1e-3"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&tpr));
        // The rate reached is at most the target, and a whole number of false pairs.
        for target in ["1e-3", "1e-4"] {
            let fpr = m[format!("fpr_reached_{target}")].as_f64().unwrap();
            assert!(fpr <= target.parse::<f64>().unwrap(), "{h}");
            let false_pairs = fpr * negatives as f64;
            assert!((false_pairs - false_pairs.round()).abs() < 1e-6, "{h}");
        }
    }
    assert!(report["encode_ms_per_photo"]["model"].as_f64().unwrap() > 0.0);
    assert!(report["bits_equal_to_reference"].as_f64().unwrap() > 0.9);
    // --plot draws the hashes' ROC curves into a PNG.
    let plot = out_dir.path().join("roc.png");
    copy_detection("--plot", &plot);
    let png = image::open(&plot).unwrap();
    assert_eq!((png.width(), png.height()), (1000, 440));
    let inked = png
        .to_rgb8()
        .pixels()
        .filter(|p| p.0 != [255, 255, 255])
        .count();
    assert!(inked > 20_000, "{inked} non-white pixels");
    // An earlier plot is replaced; a run's training curves, also drawn by imsat, are not.
    copy_detection("--plot", &plot);
    let curves = photo_model().join("curves.png");
    let before = std::fs::read(&curves).unwrap();
    let out = imsat(&[&eval_args[..], &[s(photo_dir()), "--plot", s(&curves)]].concat());
    crate::common::expect_bad_input(
        &out,
        &[
            "curves.png",
            "is not an ROC plot imsat drew",
            "training curves",
        ],
    );
    assert_eq!(std::fs::read(&curves).unwrap(), before);
    // A reference whose bits cannot be compared says how it differs.
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    for (reference, how) in [
        ("hash16.onnx", "is not a photo model"),
        ("photo64.onnx", "64-bit codes"),
    ] {
        let out = imsat(
            &[
                &eval_args[..],
                &[s(photo_dir()), "--reference", s(&models.join(reference))],
            ]
            .concat(),
        );
        crate::common::expect_bad_input(&out, &[reference, how, "cannot be compared"]);
    }

    // With the manifest's groups, photos of one picture (0001-0005 are one photograph and its
    // tiles) are not false positives of each other: fewer negative pairs, same queries.
    let manifest = Path::new(PHOTOS).join("../manifest.csv");
    let grouped = copy_detection("--groups", &manifest);
    assert_eq!(report["sources"], 12, "{report}");
    let sources = grouped["sources"].as_u64().unwrap();
    assert!((2..12).contains(&sources), "{grouped}");
    for (all, by_source) in report["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .zip(grouped["hashes"].as_array().unwrap())
    {
        let negatives = |h: &serde_json::Value| h["moderate"]["negative_pairs"].as_u64().unwrap();
        assert!(negatives(by_source) < negatives(all), "{by_source}");
        assert_eq!(by_source["moderate"]["queries"], all["moderate"]["queries"]);
    }

    // Two files with the same pixels are one photo saved twice: put in one group, as a
    // training run's validation puts them, and said; their copies are then no false matches
    // of each other, exactly as with a manifest that groups them (where nothing is said).
    let twins = tempfile::tempdir().unwrap();
    for (name, photo) in [
        ("a.jpg", "0010.jpg"),
        ("b.jpg", "0010.jpg"),
        ("c.jpg", "0020.jpg"),
    ] {
        std::fs::copy(Path::new(PHOTOS).join(photo), twins.path().join(name)).unwrap();
    }
    let twin_groups = out_dir.path().join("twins.csv");
    std::fs::write(&twin_groups, "name,group\na.jpg,x\nb.jpg,x\nc.jpg,y\n").unwrap();
    let mut reports = Vec::new();
    for (flags, said) in [(vec![], true), (vec!["--groups", s(&twin_groups)], false)] {
        let r = imsat(&[&eval_args[..], &[s(twins.path())], &flags[..]].concat());
        let report = ok(&r);
        let stderr = String::from_utf8_lossy(&r.stderr);
        let warned = stderr.contains("2 photos have the same pixels as another, in 1 set(s)")
            && stderr.contains("a.jpg and")
            && stderr.contains("not counted as false matches");
        assert_eq!(warned, said, "{stderr}");
        assert_eq!(report["sources"], 2, "{report}");
        reports.push(report["hashes"].clone());
    }
    assert_eq!(reports[0], reports[1]);

    // A bare file name naming photos of that name in two folders puts them in one group: said,
    // with the row's line (two different pictures called IMG_0001.jpg would otherwise stop
    // counting as false matches of each other without a word).
    let nest = tempfile::tempdir().unwrap();
    for (name, photo) in [
        ("a/x.jpg", "0031.jpg"),
        ("b/x.jpg", "0036.jpg"),
        ("y.jpg", "0041.jpg"),
    ] {
        let to = nest.path().join(name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(Path::new(PHOTOS).join(photo), to).unwrap();
    }
    // A file that is not read is said, as encode and dedup say it.
    std::fs::write(nest.path().join("notes.txt"), "taken in May\n").unwrap();
    let bare = out_dir.path().join("bare.csv");
    std::fs::write(&bare, "name,group\nx.jpg,g1\n").unwrap();
    let r = imsat(&[&eval_args[..], &[s(nest.path()), "--groups", s(&bare)]].concat());
    let report = ok(&r);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(
        stderr.contains("the row of line 2 names 2 photos of one file name")
            && stderr.contains("a/x.jpg")
            && stderr.contains("b/x.jpg")
            && stderr.contains("1 file without an image extension not read (first: "),
        "{stderr}"
    );
    assert_eq!(report["sources"], 2, "{report}");
}

/// The shipped photo64: its int8 bits equal its f32 bits on >= 99.8% of the bits of the 182
/// bundled photos and their 20 protocol copies each (the card states 99.95%, with the weights
/// rounded by GPTQ and four views; rounded to the nearest step the model gave 99.69% with
/// three, so this fails if the exporter loses GPTQ; the target is 99.5%; the first 12
/// photos alone, the sample of earlier versions, are too few to tell such numbers apart), and
/// the dedup radius and soft check it carries are the ones its card gives.
#[test]
fn shipped_photo64_int8_agrees_with_f32() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let (int8, f32) = (
        models.join("photo64.int8.onnx"),
        models.join("photo64.onnx"),
    );
    let report = ok(&crate::common::run(
        "eval --task copy-detection --model {} --reference {} --data {}",
        &[&int8, &f32, Path::new(PHOTOS)],
    ));
    let agree = report["bits_equal_to_reference"].as_f64().unwrap();
    assert!(agree >= 0.998, "int8 bits equal to f32: {agree}");
    assert_eq!(report["copies"], 182 * 20, "{report}");
    let groups = ok(&crate::common::run(
        "dedup --json --no-soft-check --model {} {}",
        &[&int8, photo_dir()],
    ));
    assert_eq!(groups["radius"], 9, "{groups}");
    // ... read from the model contract's keys, as an app reads them through the runtime,
    // with the soft check the card gives.
    let check = imsat::runtime::soft_code::SoftCheck {
        radius: 18,
        max_distance: 32.09,
    };
    for file in [&int8, &f32] {
        let bytes = std::fs::read(file).unwrap();
        let model = imsat::runtime::format::onnx::Model::parse(&bytes).unwrap();
        let info = imsat::runtime::format::ModelInfo::from_metadata(|k| model.metadata(k));
        let info = info.unwrap();
        assert_eq!(info.dedup_radius, Some(9), "{}", file.display());
        assert_eq!(info.soft_check, Some(check), "{}", file.display());
    }
}

/// A phone stores a portrait photo turned, with an EXIF orientation tag; the copy it shares
/// has the turn applied and no tag. `imsat encode` reads both upright, so the shipped model
/// gives them one code; the same turned pixels without the tag are another picture to it.
#[test]
fn a_photo_stored_turned_with_its_exif_tag_encodes_as_upright() {
    use image::ImageEncoder;
    use image::codecs::jpeg::JpegEncoder;
    let photo = image::open(Path::new(PHOTOS).join("0001.jpg"))
        .unwrap()
        .to_rgb8();
    // EXIF (TIFF, little endian) with one entry: orientation 6, "turn 90 degrees clockwise
    // to view"; the pixels stored are the upright photo turned a quarter counter-clockwise.
    let mut exif = b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
    exif.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]);
    let turned = image::imageops::rotate270(&photo);
    let d = tempfile::tempdir().unwrap();
    for (name, img, exif) in [
        ("a_upright.jpg", &photo, None),
        ("b_turned_tagged.jpg", &turned, Some(exif)),
        ("c_turned_untagged.jpg", &turned, None),
    ] {
        let mut bytes = Vec::new();
        let mut enc = JpegEncoder::new_with_quality(&mut bytes, 95);
        if let Some(exif) = exif {
            enc.set_exif_metadata(exif).unwrap();
        }
        let colour = image::ExtendedColorType::Rgb8;
        enc.write_image(img.as_raw(), img.width(), img.height(), colour)
            .unwrap();
        std::fs::write(d.path().join(name), bytes).unwrap();
    }
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/photo64.int8.onnx");
    let codes = d.path().join("codes.u64");
    ok(&crate::common::run(
        "encode --model {} --data {} --out {}",
        &[&model, d.path(), &codes],
    ));
    let words: Vec<u64> = std::fs::read(&codes)
        .unwrap()
        .chunks(8)
        .map(|w| u64::from_le_bytes(w.try_into().unwrap()))
        .collect();
    let bits = |i: usize, j: usize| (words[i] ^ words[j]).count_ones();
    assert!(
        bits(0, 1) <= 2,
        "tagged copy {} bits from upright",
        bits(0, 1)
    );
    // photo64's dedup radius is 9: the untagged turn is not a near-duplicate.
    assert!(
        bits(0, 2) > 9,
        "untagged turn {} bits from upright",
        bits(0, 2)
    );
}
