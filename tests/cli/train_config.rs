//! `imsat train --config runs/x/config.json` reproduces a run: the same settings and the
//! same metrics from the saved config alone; a config that does not fit is refused by name.

use std::path::Path;

use crate::common::{expect_bad_input, expect_success, imsat, s};

const IMAGES: &str = "data/mnist10k/images-idx3-ubyte.gz";
const LABELS: &str = "data/mnist10k/labels-idx1-ubyte.gz";

fn report(out: &std::process::Output) -> serde_json::Value {
    expect_success(out);
    let mut r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    r.as_object_mut().unwrap().remove("seconds_per_epoch");
    r
}

#[test]
fn a_saved_config_reproduces_the_run() {
    let d = tempfile::tempdir().unwrap();
    let (first, again) = (d.path().join("first"), d.path().join("again"));
    let data = ["--data", IMAGES, "--labels", LABELS, "--limit", "600"];
    let flags = [
        "train", "--task", "hash", "--bits", "8", "--epochs", "2", "--hidden", "64", "--seed", "3",
    ];
    let a = report(&imsat(&[&flags[..], &data, &["--out", s(&first)]].concat()));
    let config = first.join("config.json");
    let b = report(&imsat(
        &[
            &["train", "--config", s(&config)][..],
            &data,
            &["--out", s(&again)],
        ]
        .concat(),
    ));
    // Each report keeps its command line, with the data flags a rerun repeats.
    for r in [&a, &b] {
        let command: Vec<&str> = r["command"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert!(command.windows(2).any(|w| w == ["--limit", "600"]), "{r}");
    }
    let strip = |mut r: serde_json::Value| {
        r.as_object_mut().unwrap().remove("command");
        r
    };
    let (a, b) = (strip(a), strip(b));
    assert_eq!(a, b, "same metrics from the config alone");
    // And the same models, byte for byte: no timing nor path in their metadata.
    for file in ["model.onnx", "model.int8.onnx"] {
        let bytes = |run: &Path| std::fs::read(run.join(file)).unwrap();
        assert!(bytes(&first) == bytes(&again), "{file} differs");
    }
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    assert_eq!(read(&config), read(&again.join("config.json")));
    assert!(read(&config).contains("\"seed\": 3"));
    // Its eval names the data it scored, by path and by the CRC-32 of its pixels.
    let eval = imsat(&[
        "eval",
        "--model",
        s(&first.join("model.int8.onnx")),
        "--data",
        IMAGES,
        "--labels",
        LABELS,
    ]);
    expect_success(&eval);
    let eval: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let pixels = imsat::trainer::data::read_idx_images(IMAGES)
        .unwrap()
        .pixels;
    assert_eq!(eval["data"], IMAGES);
    assert_eq!(
        eval["data_crc32"],
        format!("{:08x}", crc32fast::hash(&pixels))
    );

    // A flag the config already sets is refused (clap: exit 2).
    let out = imsat(&[
        "train",
        "--config",
        s(&config),
        "--epochs",
        "5",
        "--data",
        IMAGES,
        "--out",
        "unused",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}

#[test]
fn a_config_that_does_not_fit_is_refused_by_name() {
    let d = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let run = |config: &Path, data: &str| {
        imsat(&[
            "train",
            "--config",
            s(config),
            "--data",
            data,
            "--out",
            s(&d.path().join("o")),
        ])
    };
    let partial = write("partial.json", r#"{"task": "hash"}"#);
    expect_bad_input(
        &run(&partial, IMAGES),
        &["partial.json", "missing field `outputs`"],
    );
    let garbage = write("garbage.json", "not json");
    expect_bad_input(
        &run(&garbage, IMAGES),
        &["garbage.json", "not a training config"],
    );
    let missing = d.path().join("missing.json");
    expect_bad_input(&run(&missing, IMAGES), &["missing.json", "cannot read"]);

    // A real config, edited: too wide, and a task the runtime does not know.
    let out = d.path().join("real");
    let r = imsat(&[
        "train",
        "--task",
        "hash",
        "--bits",
        "8",
        "--epochs",
        "1",
        "--hidden",
        "16",
        "--data",
        IMAGES,
        "--limit",
        "300",
        "--out",
        s(&out),
    ]);
    expect_success(&r);
    let text = std::fs::read_to_string(out.join("config.json")).unwrap();
    let wide = write(
        "wide.json",
        &text.replace("\"outputs\": 8", "\"outputs\": 100000"),
    );
    expect_bad_input(&run(&wide, IMAGES), &["wide.json", "outputs is 100000"]);
    // The trainer's own checks name the file's field, not a flag.
    let big = write(
        "big.json",
        &text.replace("\"batch\": 250", "\"batch\": 100000"),
    );
    let err = expect_bad_input(&run(&big, IMAGES), &["big.json", "batch 100000 is larger"]);
    assert!(!err.contains("--batch"), "{err}");
    // A convolution that does not fit the images names the file (it exited 1 unnamed).
    let conv = text.replace(
        "\"conv\": null",
        r#""conv": {"channels": 4, "kernel": 40, "stride": 1, "grid": 1}"#,
    );
    assert_ne!(conv, text, "the config holds \"conv\": null");
    let conv = write("conv.json", &conv);
    expect_bad_input(
        &run(&conv, IMAGES),
        &["conv.json", "conv", "a kernel no larger than the view"],
    );
    // The dedup flags, and the photo-only flags a config leaves to the command line, are
    // checked with a config as without one.
    let config = out.join("config.json");
    for (flag, value, needle) in [
        ("--radius", "3", "folder of photos"),
        ("--groups", "manifest.csv", "applies to photo folders"),
        ("--holdout", "0.3", "applies to photo folders"),
    ] {
        let o = imsat(&[
            "train",
            "--config",
            s(&config),
            "--data",
            IMAGES,
            "--out",
            s(&d.path().join("r")),
            flag,
            value,
        ]);
        expect_bad_input(&o, &[flag, needle]);
    }
    let task = write("task.json", &text.replace("\"hash\"", "\"regress\""));
    expect_bad_input(
        &run(&task, IMAGES),
        &["task.json", "unknown task \"regress\""],
    );
    // A digit config given a photo folder.
    let photos = d.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    let real = out.join("config.json");
    expect_bad_input(
        &run(&real, s(&photos)),
        &["config.json", "non-photo run", "a folder"],
    );
}
