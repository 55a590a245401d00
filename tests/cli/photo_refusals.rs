//! Bad photo input and photo training setups that cannot work, through the `imsat` binary:
//! each a one-line error naming the problem, or a named skip, never a panic.

use std::path::Path;
use std::process::Output;

use crate::common::{expect_bad_input, expect_success, imsat, mnist_images, s};
use crate::photos::{PHOTOS, ok, photo_dir, photo_model};

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
    // Labels for unlabeled photos (once ignored without a word, even a missing file).
    let r = train("hash", photo_dir(), &["--labels", "no-such-labels.npy"]);
    expect_bad_input(&r, &["--labels", "no-such-labels.npy", "unlabeled"]);
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
    // All views with none but the whole photo's would train as without the flag.
    let no_parts = [
        "--view-centre",
        "0",
        "--view-top",
        "0",
        "--view-bottom",
        "0",
        "--train-all-views",
        "true",
    ];
    let r = train("hash", photo_dir(), &no_parts);
    expect_bad_input(&r, &["--train-all-views", "no parts"]);
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
    // An index of the folder: stopped by the cut file, or, with --skip-bad, built without
    // it (the card names each row's file, so no row is taken for another).
    let idx = d.path().join("mixed.idx");
    let build = |out: &Path, flags: &[&str]| {
        let args = ["index", "build", "--model", s(&model), "--data"];
        imsat(&[&args[..], &[s(mixed.path()), "--out", s(out)], flags].concat())
    };
    expect_bad_input(&build(&idx, &[]), &["b.jpg", "truncated JPEG"]);
    assert!(!idx.exists());
    let r = build(&idx, &["--skip-bad"]);
    let summary = ok(&r);
    assert_eq!(
        (&summary["codes"], &summary["skipped"]),
        (&1.into(), &1.into())
    );
    let card = std::fs::read_to_string(d.path().join("mixed.idx.names.json")).unwrap();
    assert!(card.contains("a.jpg") && !card.contains("b.jpg"), "{card}");
    let r = build(Path::new("/dev/null"), &["--skip-bad"]);
    expect_bad_input(&r, &["--skip-bad needs the card of names", "/dev/null"]);
    // A file name with a line break is quoted in its skip line, which it would otherwise
    // split into a line that reads as another skip.
    let odd = tempfile::tempdir().unwrap();
    std::fs::write(odd.path().join("a.jpg"), &whole).unwrap();
    let evil = "b\nimsat: skipped nothing.jpg";
    std::fs::write(odd.path().join(evil), &whole[..whole.len() / 2]).unwrap();
    let r = encode(odd.path(), &csv, &["--skip-bad"]);
    expect_success(&r);
    let stderr = String::from_utf8_lossy(&r.stderr);
    let skips: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("imsat: skipped"))
        .collect();
    assert_eq!(skips.len(), 1, "{stderr}");
    assert!(
        skips[0].contains("b\\nimsat: skipped nothing.jpg"),
        "{stderr}"
    );
    // An output where nothing can be written is refused before the folder is encoded.
    let r = encode(mixed.path(), Path::new("/proc/imsat-codes.csv"), &[]);
    expect_bad_input(
        &r,
        &["--out /proc/imsat-codes.csv: cannot be written there"],
    );
    // A photo in a format that is not read (a phone's HEIC) stops an output whose rows are
    // the files' order: a script pairing them with its own listing of the folder counts it,
    // and every later row would be paired with the wrong file. With --skip-bad and rows that
    // name their files, or an index (its card names them), it is left out and named.
    let phone = tempfile::tempdir().unwrap();
    std::fs::write(phone.path().join("a.jpg"), &whole).unwrap();
    std::fs::write(phone.path().join("b.HEIC"), b"ftypheic").unwrap();
    std::fs::write(phone.path().join("c.jpg"), &whole).unwrap();
    let r = encode(phone.path(), &codes, &[]);
    expect_bad_input(
        &r,
        &["b.HEIC: heic images are not read", "shift", "--skip-bad"],
    );
    assert!(!codes.exists(), "no partial output");
    let r = encode(phone.path(), &csv, &["--skip-bad"]);
    expect_success(&r);
    let summary: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(
        (&summary["count"], &summary["skipped"]),
        (&2.into(), &1.into())
    );
    assert!(String::from_utf8_lossy(&r.stderr).contains("skipped"));
    // A link to a folder is not followed: the same.
    #[cfg(unix)]
    {
        let linked = tempfile::tempdir().unwrap();
        std::fs::write(linked.path().join("a.jpg"), &whole).unwrap();
        std::os::unix::fs::symlink(mixed.path(), linked.path().join("more")).unwrap();
        let r = encode(linked.path(), &codes, &[]);
        expect_bad_input(&r, &["more: a link to a folder, not followed", "shift"]);
    }
    // Building an index from the folder names it the same way.
    let idx = d.path().join("phone.idx");
    let args = ["index", "build", "--model", s(&model), "--data"];
    let r = imsat(&[&args[..], &[s(phone.path()), "--out", s(&idx)]].concat());
    expect_bad_input(&r, &["b.HEIC: heic images are not read", "--skip-bad"]);
    let r = imsat(
        &[
            &args[..],
            &[s(phone.path()), "--out", s(&idx), "--skip-bad"],
        ]
        .concat(),
    );
    let summary = ok(&r);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(
        stderr.contains("imsat: skipped") && stderr.contains("b.HEIC: heic images are not read"),
        "{stderr}"
    );
    assert_eq!(
        (&summary["codes"], &summary["skipped"]),
        (&2.into(), &1.into())
    );
    std::fs::remove_file(phone.path().join("a.jpg")).unwrap();
    std::fs::remove_file(phone.path().join("c.jpg")).unwrap();
    // A folder with nothing usable is reported in one wording by every command.
    let none = d.path().join("none.csv");
    let only_heic = [
        "no usable photos (1 file skipped",
        "b.HEIC",
        "heic images are not read",
    ];
    expect_bad_input(&encode(phone.path(), &none, &["--skip-bad"]), &only_heic);
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
    // Copy detection by the photo model, with `extra` flags.
    let model = photo_model().join("model.int8.onnx");
    let photo_eval = |extra: &[&str]| {
        let task = ["eval", "--task", "copy-detection", "--model", s(&model)];
        imsat(&[&task[..], &["--data", s(photo_dir())], extra].concat())
    };
    // Groups: a missing manifest, and groups for a task that has none.
    let missing = d.path().join("no-manifest.csv");
    let r = photo_eval(&["--groups", s(&missing)]);
    expect_bad_input(&r, &["no-manifest.csv", "cannot read"]);
    // --groups and --plot are for copy detection only.
    let (plot, mnist) = (d.path().join("roc.png"), mnist_images());
    let digits_eval = ["eval", "--model", s(&digits), "--data", s(&mnist)];
    for (flag, value) in [
        ("--groups", s(&missing)),
        ("--plot", s(&plot)),
        ("--seed", "7"),
    ] {
        let r = imsat(&[&digits_eval[..], &[flag, value]].concat());
        expect_bad_input(&r, &[flag, "copy-detection"]);
    }
    // And --labels is not for it (it was once ignored without a word).
    let labels = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist10k/labels-idx1-ubyte.gz");
    let r = photo_eval(&["--labels", s(&labels)]);
    expect_bad_input(&r, &["--labels", "--task labels"]);
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
    let train_bits = |bits: &str, out: &Path, more: &[&str]| {
        let mut args = vec![
            "train",
            "--task",
            "hash",
            "--bits",
            bits,
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
    let train_one = |out: &Path, more: &[&str]| train_bits("16", out, more);
    let run = d.path().join("one-run");
    let out = train_one(&run, &["--groups", s(&manifest)]);
    let report = ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no dedup radius measured") && stderr.contains("0 pairs"),
        "{stderr}"
    );
    assert!(report["radius_at_fpr_1e-4"].is_null(), "{report}");
    // No negative pair, no rate of false matches: its TPRs are null, not a 0 that reads as
    // "no copy found".
    let moderate = &report["validation"]["learned"]["moderate"];
    assert_eq!(moderate["negative_pairs"], 0, "{report}");
    for key in ["tpr_at_fpr_1e-3", "tpr_at_fpr_1e-4", "fpr_reached_1e-3"] {
        assert!(moderate[key].is_null(), "{key}: {moderate}");
    }
    let per_edit = moderate["tpr_per_edit_at_fpr_1e-3"].as_object().unwrap();
    assert!(
        !per_edit.is_empty() && per_edit.values().all(|v| v.is_null()),
        "{moderate}"
    );
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
    // The smaller split it offers fits those bits; and without the convolutions (`--conv
    // none`, the linear encoder) the default split is left out, not refused.
    assert!(line.contains("--colour-split 2,2"), "{line}");
    for (name, flags) in [
        ("split", ["--colour-split", "2,2"]),
        ("linear", ["--conv", "none"]),
    ] {
        ok(&train_bits("8", &d.path().join(name), &flags));
    }

    // Edit settings for a run that trains no edit SAT would change nothing: refused by name.
    let out = train_one(&d.path().join("vat"), &["--sat", "vat"]);
    expect_bad_input(
        &out,
        &["--edits-per-item tunes the edits SAT", "(--sat vat)"],
    );
    assert!(!d.path().join("vat").exists());

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

/// A folder to deduplicate holds duplicates: photos with the same pixels are one group, held
/// out or trained on together (one held out and its twin trained on leaked, two held out were
/// false matches of each other and no radius was measured). And a `--radius` given to train is
/// the radius `imsat dedup` groups within: no measured soft check is written beside it (its
/// wider radius won by default).
#[test]
fn a_folder_s_own_duplicates_are_one_group_and_a_given_radius_is_dedup_s() {
    let d = tempfile::tempdir().unwrap();
    let photos = d.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    // The full frames of 8 photographs (manifest groups g000..g007: 0001, 0006, ...), and
    // byte copies of four of them under other names.
    for i in 0..8 {
        let name = format!("{:04}.jpg", 1 + 5 * i);
        std::fs::copy(Path::new(PHOTOS).join(&name), photos.join(&name)).unwrap();
    }
    for i in 0..4 {
        let (from, to) = (
            format!("{:04}.jpg", 1 + 5 * i),
            format!("{:04}_copy.jpg", 1 + 5 * i),
        );
        std::fs::copy(photos.join(from), photos.join(to)).unwrap();
    }
    let run = d.path().join("run");
    let out = imsat(&[
        "train",
        "--task",
        "hash",
        "--bits",
        "16",
        "--epochs",
        "1",
        "--items-per-photo",
        "2",
        "--edits-per-item",
        "2",
        "--holdout",
        "0.5",
        "--radius",
        "5",
        "--data",
        s(&photos),
        "--out",
        s(&run),
    ]);
    let report = ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("8 photos have the same pixels as another, in 4 set(s)"),
        "{stderr}"
    );
    let held = std::fs::read_to_string(run.join("validation.txt")).unwrap();
    let held: Vec<&str> = held.lines().collect();
    assert!(!held.is_empty(), "nothing held out");
    for i in 0..4 {
        let original = format!("{:04}.jpg", 1 + 5 * i);
        let copy = format!("{:04}_copy.jpg", 1 + 5 * i);
        let is_held = |name: &str| held.iter().any(|h| h.ends_with(&format!("/{name}")));
        assert_eq!(is_held(&original), is_held(&copy), "{original}: {held:?}");
    }
    assert_eq!(report["radius_at_fpr_1e-4"], 5, "{report}");
    assert!(report["soft_check"].is_null(), "{report}");
    let model = run.join("model.int8.onnx");
    let info = imsat::runtime::encoder::Encoder::open(&model)
        .unwrap()
        .info()
        .clone();
    assert_eq!((info.dedup_radius, info.soft_check), (Some(5), None));
    let dedup = ok(&imsat(&[
        "dedup",
        "--json",
        "--model",
        s(&model),
        s(&photos),
    ]));
    assert_eq!(dedup["radius"], 5, "{dedup}");
}
