//! Photo models through the `imsat` binary, on a few of the bundled real photos
//! (`../shared/data/photos/train`; the test fails if they are missing): train on a folder,
//! then encode, dedup and evaluate with the model's own view and no other flag; and the bad
//! photo inputs, each a one-line error or a named skip, never a panic.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use crate::common::{
    expect_bad_input, expect_success, imsat, mnist_images, numpy_npz, python_with, s,
};

const PHOTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/photos/train");

fn ok(out: &Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().expect("a JSON line");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"))
}

/// A folder with the first 12 bundled photos (copies), made once.
fn photo_dir() -> &'static Path {
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
fn photo_model() -> &'static Path {
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
    assert_eq!(
        report["copies"],
        12 * report["edits"].as_array().unwrap().len()
    );
    for h in report["hashes"].as_array().unwrap() {
        let m = &h["moderate"];
        assert!(m["negative_pairs"].as_u64().unwrap() > 1000, "{h}");
        let tpr = m["tpr_at_fpr_1e-3"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&tpr));
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

    // Two files of one picture in different groups are said: their copies find each other,
    // which counts as false matches. In one group (--groups), nothing is said.
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
    for (flags, said) in [(vec![], true), (vec!["--groups", s(&twin_groups)], false)] {
        let r = imsat(&[&eval_args[..], &[s(twins.path())], &flags[..]].concat());
        ok(&r);
        let stderr = String::from_utf8_lossy(&r.stderr);
        let warned = stderr
            .contains("1 pair(s) of photos of different groups have the same pixels")
            && stderr.contains("a.jpg and");
        assert_eq!(warned, said, "{stderr}");
    }
}

#[test]
fn bad_photo_input_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("run");
    let train = |task: &str, data: &Path, extra: &[&str]| {
        let mut args = vec!["train", "--task", task, "--data", s(data), "--out", s(&out)];
        args.extend_from_slice(extra);
        imsat(&args)
    };
    // A folder with no photos.
    let empty = tempfile::tempdir().unwrap();
    let r = train("hash", empty.path(), &[]);
    expect_bad_input(&r, &["no image files", s(empty.path())]);
    // Only an unreadable photo: named.
    let junk = tempfile::tempdir().unwrap();
    std::fs::write(junk.path().join("broken.jpg"), b"not a jpeg").unwrap();
    let r = train("hash", junk.path(), &[]);
    expect_bad_input(&r, &["no usable photos", "broken.jpg"]);
    // Clustering a photo folder, an unknown edit, a bad view size.
    let r = train("cluster", photo_dir(), &[]);
    expect_bad_input(&r, &["photo folder", "--task hash"]);
    let r = train("hash", photo_dir(), &["--edits", "jpeg,sepia"]);
    expect_bad_input(&r, &["--edits", "sepia"]);
    let r = train("hash", photo_dir(), &["--view-size", "2"]);
    expect_bad_input(&r, &["--view-size"]);
    // A view the convolutional front end cannot pool evenly (10x10 -> a 5x5 map, 4x4 grid).
    let r = train("hash", photo_dir(), &["--view-size", "10"]);
    expect_bad_input(&r, &["--conv", "--view-size 10", "--conv none"]);
    // A bank of edited copies no machine holds (12 photos x 1,000 items x 1,000 copies of a
    // 256x256 colour view: 2.4 TB) is refused before it is built, with the sum. The memory
    // available is read from /proc/meminfo: elsewhere the run would try to build it.
    #[cfg(target_os = "linux")]
    {
        let r = train(
            "hash",
            photo_dir(),
            &[
                "--view-size",
                "256",
                "--items-per-photo",
                "1000",
                "--edits-per-item",
                "1000",
                "--holdout",
                "0",
            ],
        );
        expect_bad_input(&r, &["2359.3 GB", "memory available", "--edits-per-item"]);
    }
    let r = train("hash", photo_dir(), &["--conv", "8,3"]);
    expect_bad_input(&r, &["--conv", "channels,kernel,stride,grid"]);
    let r = train("hash", photo_dir(), &["--soft-check", "70,3"]);
    expect_bad_input(&r, &["--soft-check", "radius 70", "bits"]);
    let r = train("hash", &mnist_images(), &["--soft-check", "7,3"]);
    expect_bad_input(&r, &["--soft-check", "folder of photos"]);
    let r = train("hash", photo_dir(), &["--view-contrast", "median"]);
    expect_bad_input(&r, &["--view-contrast", "robust"]);
    let r = train("hash", &mnist_images(), &["--view-contrast", "robust"]);
    expect_bad_input(&r, &["--view-contrast", "photo folders"]);
    // The colour view and its split: named values, a split that fits, and photos only.
    let r = train("hash", photo_dir(), &["--view-colour", "rgb"]);
    expect_bad_input(&r, &["--view-colour rgb", "ycc"]);
    let r = train(
        "hash",
        photo_dir(),
        &["--view-colour", "gray", "--colour-split", "4,12"],
    );
    expect_bad_input(&r, &["--colour-split", "colour view"]);
    let r = train("hash", photo_dir(), &["--colour-split", "12,12"]);
    expect_bad_input(&r, &["--colour-split", "12 colour kernels of 12"]);
    let r = train("hash", photo_dir(), &["--colour-split", "4"]);
    expect_bad_input(&r, &["--colour-split", "kernels,bits"]);
    for (flag, value) in [
        ("--view-colour", "ycc"),
        ("--colour-split", "4,12"),
        ("--view-top", "80"),
        ("--view-bottom", "80"),
    ] {
        let r = train("hash", &mnist_images(), &[flag, value]);
        expect_bad_input(&r, &[flag, "photo folders"]);
    }
    // The views of parts take a percentage (0 for none).
    for flag in ["--view-centre", "--view-top", "--view-bottom"] {
        let r = train("hash", photo_dir(), &[flag, "100"]);
        expect_bad_input(&r, &[flag, "from 1 to 99"]);
    }
    // Encoding a folder where one photo is cut short names that file (the lenient JPEG
    // decoder alone would hash it with its missing half gray).
    let mixed = tempfile::tempdir().unwrap();
    let whole = std::fs::read(photo_dir().join("0001.jpg")).unwrap();
    std::fs::write(mixed.path().join("a.jpg"), &whole).unwrap();
    std::fs::write(mixed.path().join("b.jpg"), &whole[..whole.len() * 9 / 10]).unwrap();
    let model = photo_model().join("model.int8.onnx");
    let codes = d.path().join("c.u64");
    let encode = |dir: &Path, out: &Path, flags: &[&str]| {
        let args = ["encode", "--model", s(&model), "--data", s(dir), "--out"];
        imsat(&[&args[..], &[s(out)], flags].concat())
    };
    let encode_mixed = |out: &Path, flags: &[&str]| encode(mixed.path(), out, flags);
    // One file encoded and one named as skipped, for `why`.
    let one_skipped = |r: &Output, why: &str| {
        expect_success(r);
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(
            stderr.contains("imsat: skipped") && stderr.contains(why),
            "{stderr}"
        );
        let summary: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
        assert_eq!(
            (&summary["count"], &summary["skipped"]),
            (&1.into(), &1.into())
        );
    };
    let r = encode_mixed(&codes, &[]);
    expect_bad_input(&r, &["b.jpg", "cannot decode", "truncated JPEG"]);
    assert!(!codes.exists(), "no partial output");
    // With --skip-bad it is left out and named, and the rows that name their files say
    // which were encoded; an output whose rows are only the files' order refuses the flag.
    let r = encode_mixed(&codes, &["--skip-bad"]);
    expect_bad_input(&r, &["--skip-bad", ".csv or .npz", "c.u64"]);
    let csv = d.path().join("c.csv");
    let r = encode_mixed(&csv, &["--skip-bad"]);
    one_skipped(&r, "b.jpg: cannot decode");
    let text = std::fs::read_to_string(&csv).unwrap();
    let names: Vec<&str> = text.lines().map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(names, ["name", "a.jpg"]);
    // A photo in a format that is not read (a phone's HEIC) is named, not silently left
    // out; it was never a row, so the codes in file order stay those of the readable files.
    let phone = tempfile::tempdir().unwrap();
    std::fs::write(phone.path().join("a.jpg"), &whole).unwrap();
    std::fs::write(phone.path().join("b.HEIC"), b"ftypheic").unwrap();
    let r = encode(phone.path(), &codes, &[]);
    one_skipped(&r, "b.HEIC: heic images are not read");
    assert_eq!(std::fs::read(&codes).unwrap().len(), 8);
    // Building an index from the folder names it the same way.
    let idx = d.path().join("phone.idx");
    let args = ["index", "build", "--model", s(&model), "--data"];
    let r = imsat(&[&args[..], &[s(phone.path()), "--out", s(&idx)]].concat());
    let summary = ok(&r);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(
        stderr.contains("imsat: skipped") && stderr.contains("b.HEIC: heic images are not read"),
        "{stderr}"
    );
    assert_eq!(
        (&summary["codes"], &summary["skipped"]),
        (&1.into(), &1.into())
    );
    std::fs::remove_file(phone.path().join("a.jpg")).unwrap();
    // A folder with nothing usable is reported in one wording by every command.
    let none = d.path().join("none.csv");
    let only_heic = [
        "no usable photos (1 file skipped",
        "b.HEIC",
        "heic images are not read",
    ];
    expect_bad_input(&encode(phone.path(), &none, &[]), &only_heic);
    expect_bad_input(&train("hash", phone.path(), &[]), &only_heic);
    let only_broken = [
        "no usable photos (1 file skipped",
        "broken.jpg",
        "cannot decode",
    ];
    expect_bad_input(&encode(junk.path(), &none, &["--skip-bad"]), &only_broken);
    // Copy detection needs a photo model.
    let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hash64.int8.onnx");
    let r = imsat(&[
        "eval",
        "--task",
        "copy-detection",
        "--model",
        s(&digits),
        "--data",
        s(photo_dir()),
    ]);
    expect_bad_input(&r, &["not a photo model"]);
    // Groups: a missing manifest, and groups for a task that has none.
    let missing = d.path().join("no-manifest.csv");
    let r = imsat(&[
        "eval",
        "--task",
        "copy-detection",
        "--model",
        s(&photo_model().join("model.int8.onnx")),
        "--data",
        s(photo_dir()),
        "--groups",
        s(&missing),
    ]);
    expect_bad_input(&r, &["no-manifest.csv", "cannot read"]);
    // --groups and --plot are for copy detection only.
    let (plot, mnist) = (d.path().join("roc.png"), mnist_images());
    for (flag, value) in [("--groups", &missing), ("--plot", &plot)] {
        let digits_eval = ["eval", "--model", s(&digits), "--data", s(&mnist)];
        let r = imsat(&[&digits_eval[..], &[flag, s(value)]].concat());
        expect_bad_input(&r, &[flag, "copy-detection"]);
    }
}

/// The shipped photo64: its int8 bits equal its f32 bits on >= 99.8% of the bits of the 182
/// bundled photos and their 20 protocol copies each (the card states 99.95%, with the weights
/// rounded by GPTQ and four views; rounded to the nearest step the model gave 99.69% with
/// three, so this fails if the exporter loses GPTQ; the issue's target is 99.5%; the first 12
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

/// Where `imsat dedup` takes a photo model's operating point from: its soft check
/// (`imsat.dedup_soft_*`) when it has one, as the shipped photo64 does; else
/// `imsat.dedup_radius`; for a model exported before that key, the training report's
/// `radius_at_fpr_1e-4`; with neither, or a radius wider than the code, a one-line error
/// naming the key.
#[test]
fn dedup_radius_from_the_model_contract() {
    use prost::Message;
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/photo64.int8.onnx");
    let d = tempfile::tempdir().unwrap();
    let edited = |name: &str, radius: Option<&str>, report: Option<&str>| {
        let bytes = std::fs::read(&shipped).unwrap();
        let mut proto = tract_onnx::pb::ModelProto::decode(&bytes[..]).unwrap();
        let props = &mut proto.metadata_props;
        // Without the soft check, which would set the candidates' radius.
        props.retain(|p| !p.key.starts_with("imsat.dedup_"));
        if let Some(r) = radius {
            props.push(tract_onnx::pb::StringStringEntryProto {
                key: "imsat.dedup_radius".into(),
                value: r.into(),
            });
        }
        if let Some(text) = report {
            let entry = props.iter_mut().find(|p| p.key == "imsat.report").unwrap();
            entry.value = text.into();
        }
        let path = d.path().join(name);
        std::fs::write(&path, proto.encode_to_vec()).unwrap();
        path
    };
    let dedup = |model: &Path| imsat(&["dedup", "--json", "--model", s(model), s(photo_dir())]);
    // The shipped model groups by its soft check, measured on the folds' held-out photos.
    let info = imsat::runtime::encoder::Encoder::open(&shipped)
        .unwrap()
        .info()
        .clone();
    let check = info.soft_check.expect("photo64 carries its soft check");
    let out = ok(&dedup(&shipped));
    assert_eq!(out["radius"], check.radius);
    assert_eq!(
        out["soft_distance"].as_f64(),
        Some(check.max_distance as f64).map(|d| (d * 100.0).round() / 100.0)
    );
    assert!(check.radius > info.dedup_radius.unwrap(), "{check:?}");

    let with_key = edited("key.onnx", Some("3"), None);
    assert_eq!(ok(&dedup(&with_key))["radius"], 3);
    let older = edited("older.onnx", None, Some(r#"{"radius_at_fpr_1e-4": 6}"#));
    assert_eq!(ok(&dedup(&older))["radius"], 6);
    let neither = edited("neither.onnx", None, Some("{}"));
    expect_bad_input(
        &dedup(&neither),
        &[
            "neither.onnx",
            "no dedup radius",
            "imsat.dedup_radius",
            "--radius",
        ],
    );
    let wide = edited("wide.onnx", Some("65"), None);
    expect_bad_input(
        &dedup(&wide),
        &["wide.onnx", "imsat.dedup_radius", "at most 64"],
    );
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

/// Writes `img` as a JPEG of `quality` to `dir/name`.
fn save_jpeg(dir: &Path, name: &str, img: &image::RgbImage, quality: u8) {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(img)
        .unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn dedup_keeps_the_largest_copy_and_lists_the_others_for_deletion() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/photo64.int8.onnx");
    let d = tempfile::tempdir().unwrap();
    let photo = image::open(Path::new(PHOTOS).join("0001.jpg"))
        .unwrap()
        .to_rgb8();
    let (w, h) = photo.dimensions();
    // Three copies of one photo, the full-size q95 original second in path order: a half-size
    // copy (fewer pixels), and one of as many pixels at q40 (a smaller file); an unrelated photo.
    let half = image::imageops::resize(&photo, w / 2, h / 2, image::imageops::Triangle);
    save_jpeg(d.path(), "a_half.jpg", &half, 95);
    std::fs::copy(
        Path::new(PHOTOS).join("0001.jpg"),
        d.path().join("b_original.jpg"),
    )
    .unwrap();
    save_jpeg(d.path(), "c_q40.jpg", &photo, 40);
    std::fs::copy(
        Path::new(PHOTOS).join("0150.jpg"),
        d.path().join("d_other.jpg"),
    )
    .unwrap();

    let json = ok(&imsat(&[
        "dedup",
        "--json",
        "--model",
        s(&model),
        s(d.path()),
    ]));
    let path = |name: &str| d.path().join(name).display().to_string();
    assert_eq!(
        json["group_members"],
        serde_json::json!([[
            path("a_half.jpg"),
            path("b_original.jpg"),
            path("c_q40.jpg")
        ]])
    );
    assert_eq!(json["kept"], serde_json::json!([path("b_original.jpg")]));

    let duplicates_only = || {
        imsat(&[
            "dedup",
            "--duplicates-only",
            "--model",
            s(&model),
            s(d.path()),
        ])
    };
    let out = duplicates_only();
    expect_success(&out);
    let listed: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(listed, [path("a_half.jpg"), path("c_q40.jpg")]);
    // The summary went to stderr, where it does not mix with the paths.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"duplicates\":2"), "{stderr}");

    // A name with a line break in it would list part of it as another path: refused.
    std::fs::rename(d.path().join("c_q40.jpg"), d.path().join("c\nd_other.jpg")).unwrap();
    let out = duplicates_only();
    expect_bad_input(&out, &["--duplicates-only", "line break", "--json"]);
    assert!(out.stdout.is_empty());
    // The default output, a tab-separated line per group, quotes such a name with its escapes:
    // still a line per group, then the summary.
    let out = imsat(&["dedup", "--model", s(&model), s(d.path())]);
    expect_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let members: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(
        members,
        [
            path("a_half.jpg"),
            path("b_original.jpg"),
            format!("{:?}", path("c\nd_other.jpg")),
        ],
        "{text}"
    );
}

/// What `--duplicates-only` lists must be safe to delete: a colour copy is kept over a gray
/// one (even a larger file saved as RGB), the most pixels whatever the file's name says, a
/// file over a symbolic link to it; and plain pictures, which a photo view gives one code
/// whatever their colour, group only with those of their colour, on every grouping path.
#[test]
fn dedup_keeps_colour_and_link_targets_and_groups_plain_pictures_by_colour() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/photo64.int8.onnx");
    let dedup_json = |dir: &Path, flags: &[&str]| {
        let args = ["dedup", "--json", "--model", s(&model)];
        ok(&imsat(&[&args[..], flags, &[s(dir)]].concat()))
    };
    let names = |dir: &Path, v: &serde_json::Value| -> Vec<String> {
        let strip = |p: &serde_json::Value| {
            let p = p.as_str().unwrap();
            p.strip_prefix(&format!("{}/", dir.display()))
                .unwrap()
                .to_string()
        };
        v.as_array().unwrap().iter().map(strip).collect()
    };

    // A black-and-white copy saved as RGB (a larger file) and the colour original.
    let d = tempfile::tempdir().unwrap();
    let original = Path::new(PHOTOS).join("0001.jpg");
    std::fs::copy(&original, d.path().join("b_colour.jpg")).unwrap();
    let gray = d.path().join("a_gray.png");
    let photo = image::open(&original).unwrap();
    let desaturated = image::DynamicImage::ImageLuma8(photo.to_luma8()).to_rgb8();
    desaturated.save(&gray).unwrap();
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    assert!(
        size(&gray) > size(&original),
        "the gray copy is the larger file"
    );
    let json = dedup_json(d.path(), &[]);
    assert_eq!(
        names(d.path(), &json["group_members"][0]),
        ["a_gray.png", "b_colour.jpg"]
    );
    assert_eq!(names(d.path(), &json["kept"]), ["b_colour.jpg"]);
    // A PNG of twice the size named .jpg has the most pixels.
    let (w, h) = (photo.width() * 2, photo.height() * 2);
    let big = photo.resize_exact(w, h, image::imageops::FilterType::Triangle);
    big.save_with_format(d.path().join("c_big.jpg"), image::ImageFormat::Png)
        .unwrap();
    let json = dedup_json(d.path(), &[]);
    assert_eq!(names(d.path(), &json["kept"]), ["c_big.jpg"], "{json}");

    #[cfg(unix)]
    {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("photos")).unwrap();
        std::fs::copy(&original, d.path().join("photos/beach.jpg")).unwrap();
        std::os::unix::fs::symlink("photos/beach.jpg", d.path().join("album.jpg")).unwrap();
        let json = dedup_json(d.path(), &[]);
        assert_eq!(
            names(d.path(), &json["group_members"][0]),
            ["album.jpg", "photos/beach.jpg"]
        );
        assert_eq!(names(d.path(), &json["kept"]), ["photos/beach.jpg"]);
    }

    let d = tempfile::tempdir().unwrap();
    let fill = |name: &str, rgb: [u8; 3]| {
        let img = image::RgbImage::from_pixel(400, 300, image::Rgb(rgb));
        match name.ends_with(".jpg") {
            true => save_jpeg(d.path(), name, &img, 70),
            false => img.save(d.path().join(name)).unwrap(),
        }
    };
    fill("black.png", [0; 3]);
    fill("black_q70.jpg", [0; 3]);
    fill("near_black.png", [3, 3, 3]);
    fill("dark_gray.png", [16; 3]);
    fill("white.png", [255; 3]);
    fill("gray.png", [128; 3]);
    fill("red.png", [255, 0, 0]);
    std::fs::copy(&original, d.path().join("photo.jpg")).unwrap();
    // The soft check (the default), codes alone, and the pixel check, which refuses
    // pictures without detail.
    for (flags, groups) in [
        (&[][..], 1),
        (&["--no-soft-check"][..], 1),
        (&["--min-similarity", "0.5"][..], 0),
    ] {
        let json = dedup_json(d.path(), flags);
        assert_eq!(json["groups"], groups, "{flags:?}: {json}");
        if groups == 1 {
            assert_eq!(
                names(d.path(), &json["group_members"][0]),
                ["black.png", "black_q70.jpg", "near_black.png"],
                "{flags:?}"
            );
        }
    }
}

#[test]
fn a_photo_config_or_a_validation_set_that_cannot_work_is_refused_or_said() {
    let d = tempfile::tempdir().unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(photo_model().join("config.json")).unwrap()).unwrap();
    let train = |config: &serde_json::Value, name: &str, flags: &[&str]| {
        let path = d.path().join(name);
        std::fs::write(&path, config.to_string()).unwrap();
        let out = d.path().join(format!("out-{name}"));
        let mut args = vec!["train", "--config", s(&path), "--data", s(photo_dir())];
        args.extend(["--out", s(&out)]);
        args.extend(flags);
        imsat(&args)
    };
    // Edited configs: each refused before any work, naming the file and the field (these
    // panicked, trained nothing to learn, or ran out of memory).
    let edit = |pointer: &str, value: serde_json::Value| {
        let mut c = config.clone();
        *c.pointer_mut(pointer).unwrap() = value;
        c
    };
    let cases = [
        (
            "/photos/item_area",
            serde_json::json!([0.9, 0.1]),
            "photos.item_area",
        ),
        (
            "/photos/edits",
            serde_json::json!([]),
            "photos.edits is empty",
        ),
        (
            "/photos/edits_per_item",
            serde_json::json!(0),
            "photos.edits_per_item",
        ),
        (
            "/view",
            serde_json::json!("ycc-area-4096x4096-robust"),
            "outside 4 to 256",
        ),
        ("/task", serde_json::json!("cluster"), "trains a hash"),
        (
            "/conv/grid",
            serde_json::json!(3),
            "conv: the 8x8 feature map",
        ),
    ];
    for (k, (pointer, value, needle)) in cases.into_iter().enumerate() {
        let name = format!("edited{k}.json");
        expect_bad_input(&train(&edit(pointer, value), &name, &[]), &[&name, needle]);
    }
    // The dedup and holdout flags are checked with --config as without it.
    for (flags, needle) in [
        (&["--radius", "1000"][..], "more than the 16 bits"),
        (&["--soft-check", "999,1"][..], "more than the 16 bits"),
        (&["--holdout", "5"][..], "--holdout"),
    ] {
        expect_bad_input(&train(&config, "flags.json", flags), &[flags[0], needle]);
    }

    // Validation photos all of one photograph (0001-0005 in the manifest) give no pair of
    // different photos: no radius can be measured, so none is written (it was the code width,
    // and dedup then grouped every photo), and eval refuses to score such a folder.
    let one = d.path().join("one");
    std::fs::create_dir(&one).unwrap();
    for i in 1..=5 {
        let name = format!("{i:04}.jpg");
        std::fs::copy(Path::new(PHOTOS).join(&name), one.join(&name)).unwrap();
    }
    let manifest = Path::new(PHOTOS).join("../manifest.csv");
    // A one-epoch 16-bit run on those photos, nothing held out, with `more` flags.
    let train_one = |out: &Path, more: &[&str]| {
        let mut args = vec![
            "train",
            "--task",
            "hash",
            "--bits",
            "16",
            "--epochs",
            "1",
            "--holdout",
            "0",
            "--items-per-photo",
            "2",
            "--edits-per-item",
            "2",
            "--data",
            s(&one),
            "--out",
            s(out),
        ];
        args.extend_from_slice(more);
        imsat(&args)
    };
    let run = d.path().join("one-run");
    let out = train_one(&run, &["--groups", s(&manifest)]);
    let report = ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no dedup radius measured") && stderr.contains("0 pairs"),
        "{stderr}"
    );
    assert!(report["radius_at_fpr_1e-4"].is_null(), "{report}");
    let info = imsat::runtime::encoder::Encoder::open(run.join("model.int8.onnx"))
        .unwrap()
        .info()
        .clone();
    assert_eq!((info.dedup_radius, info.soft_check), (None, None));
    let dedup = imsat(&["dedup", "--model", s(&run.join("model.int8.onnx")), s(&one)]);
    expect_bad_input(&dedup, &["no dedup radius", "--radius"]);
    let eval = imsat(&[
        "eval",
        "--task",
        "copy-detection",
        "--model",
        s(&run.join("model.int8.onnx")),
        "--data",
        s(&one),
        "--groups",
        s(&manifest),
    ]);
    expect_bad_input(&eval, &["one", "all 5 photos are of one group"]);

    // Trained on all of its views: config.json says so, and the model still takes one view a
    // row (the runtime averages the views' logits), so it encodes the photos like any other.
    let all = d.path().join("all-views");
    let report = ok(&train_one(&all, &["--train-all-views", "true"]));
    assert_eq!(report["photos_train"], 5, "{report}");
    // `n` counts training items, as without the flag, not the model rows of their views.
    assert_eq!(report["n"], report["items"], "{report}");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(all.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["photos"]["all_views"], true, "{config}");
    let codes = d.path().join("all-views.u64");
    let out = imsat(&[
        "encode",
        "--model",
        s(&all.join("model.int8.onnx")),
        "--data",
        s(&one),
        "--out",
        s(&codes),
    ]);
    expect_success(&out);
    assert_eq!(std::fs::read(&codes).unwrap().len(), 5 * 8);

    // Too few bits for the photo default's colour split: said as the default's, not a flag's.
    let out = imsat(&[
        "train",
        "--task",
        "hash",
        "--bits",
        "8",
        "--data",
        s(&one),
        "--out",
        s(&d.path().join("bits8")),
    ]);
    let line = expect_bad_input(
        &out,
        &["the photo default's colour split", "--colour-split none"],
    );
    assert!(!line.contains("--colour-split 12"), "{line}");

    // A photo folder scored against labels, and photo groups for IDX data: said, not ignored
    // nor read as "Is a directory".
    let labels = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist10k/labels-idx1-ubyte.gz");
    let model = run.join("model.int8.onnx");
    let out = imsat(&[
        "eval",
        "--model",
        s(&model),
        "--data",
        s(&one),
        "--labels",
        s(&labels),
    ]);
    expect_bad_input(&out, &["--task copy-detection"]);
    // Every photo-only flag, those with a default too, is refused on IDX data, not ignored.
    for (flag, value) in [
        ("--groups", s(&manifest)),
        ("--holdout", "0.3"),
        ("--view-size", "32"),
        ("--items-per-photo", "3"),
        ("--edits-per-item", "3"),
        ("--train-all-views", "true"),
    ] {
        let out = imsat(&[
            "train",
            "--task",
            "hash",
            "--data",
            s(&mnist_images()),
            flag,
            value,
            "--out",
            s(&d.path().join("idx")),
        ]);
        expect_bad_input(&out, &[&format!("{flag} applies to photo folders")]);
    }
}
