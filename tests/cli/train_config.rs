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

/// The `config.json` of a small hash run (8 bits, 300 digits, one epoch) trained into `out`.
fn small_run_config(out: &Path) -> String {
    expect_success(&imsat(&[
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
        s(out),
    ]));
    std::fs::read_to_string(out.join("config.json")).unwrap()
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
    let text = small_run_config(&out);
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

/// Settings an edited `config.json` holds and the flags refuse, named by their field: an
/// `eps_neighbour` of 0 panicked (a neighbour at index -1), a thickness past 1 was taken as
/// certain, a view on digits trained a model that no reader opens.
#[test]
fn edited_configs_out_of_range_are_refused_by_field() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("real");
    let text = small_run_config(&out);
    for (name, from, to, needle) in [
        (
            "eps.json",
            "\"eps_neighbour\": 10",
            "\"eps_neighbour\": 0",
            "eps_neighbour",
        ),
        (
            "thick.json",
            "\"thickness\": 0.0",
            "\"thickness\": 2.0",
            "affine.thickness",
        ),
        (
            "view.json",
            "\"view\": null",
            "\"view\": \"gray-area-16x16-norm\"",
            "view is for a photo-folder run",
        ),
    ] {
        assert!(text.contains(from), "{from} in {text}");
        let p = d.path().join(name);
        std::fs::write(&p, text.replace(from, to)).unwrap();
        let o = imsat(&[
            "train",
            "--config",
            s(&p),
            "--data",
            IMAGES,
            "--limit",
            "300",
            "--out",
            s(&d.path().join("o")),
        ]);
        expect_bad_input(&o, &[name, needle]);
    }
    // A misspelt setting trains at its default: said, not passed by.
    let typo = d.path().join("typo.json");
    let misspelt = text.replace("\"shear\":", "\"sheer\":");
    assert_ne!(misspelt, text);
    std::fs::write(&typo, misspelt).unwrap();
    let o = imsat(&[
        "train",
        "--config",
        s(&typo),
        "--data",
        IMAGES,
        "--limit",
        "300",
        "--out",
        s(&d.path().join("t")),
    ]);
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(
        said.contains("typo.json: `affine.sheer` is no setting imsat reads"),
        "{said}"
    );
}

/// Flags another setting makes meaningless are refused, not ignored; a model too large to
/// export is refused before training (a 256-pixel view's convolution asked for 154 GB at the
/// export); a run whose weights overflowed in its last steps says it diverged.
#[test]
fn flags_that_would_be_ignored_or_fail_late_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let o = |name: &str| s(&d.path().join(name)).to_string();
    let hash16 = "models/hash16.onnx";
    for (args, needle) in [
        (
            vec![
                "train", "--task", "cluster", "--bits", "64", "--data", IMAGES,
            ],
            "--bits is the hash task's",
        ),
        (
            vec![
                "train",
                "--task",
                "cluster",
                "--pairwise-mi-weight",
                "100",
                "--data",
                IMAGES,
            ],
            "--pairwise-mi-weight is the hash task's",
        ),
        (
            vec![
                "train",
                "--task",
                "hash",
                "--classes",
                "3",
                "--data",
                IMAGES,
            ],
            "--classes is the cluster task's",
        ),
        (
            vec![
                "eval", "--model", hash16, "--data", IMAGES, "--labels", LABELS, "--bits", "9",
            ],
            "--bits is the width of --codes",
        ),
    ] {
        let mut args = args;
        if args[0] == "train" {
            args.extend(["--out", "/nonexistent/never"]);
        }
        expect_bad_input(&imsat(&args), &[needle]);
    }
    // Codes scored with --data, and raw queries with a model.
    let codes = d.path().join("codes.npy");
    expect_success(&imsat(&[
        "encode",
        "--model",
        hash16,
        "--data",
        IMAGES,
        "--out",
        s(&codes),
    ]));
    expect_bad_input(
        &imsat(&[
            "eval",
            "--codes",
            s(&codes),
            "--labels",
            LABELS,
            "--data",
            IMAGES,
        ]),
        &["--codes are scored against --labels alone"],
    );
    let index = d.path().join("i.idx");
    expect_success(&imsat(&[
        "index",
        "build",
        "--model",
        hash16,
        "--data",
        IMAGES,
        "--out",
        s(&index),
    ]));
    let queries = d.path().join("q.u64");
    std::fs::write(&queries, [0u8; 16]).unwrap();
    expect_bad_input(
        &imsat(&[
            "search",
            "--index",
            s(&index),
            "--queries-raw-u64",
            s(&queries),
            "--model",
            hash16,
        ]),
        &["--model encodes --query images"],
    );

    // A view too large for the convolution's export.
    let photos = d.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/photos/train");
    for name in ["0001.jpg", "0002.jpg", "0003.jpg"] {
        std::fs::copy(shared.join(name), photos.join(name)).unwrap();
    }
    let big = o("big");
    expect_bad_input(
        &imsat(&[
            "train",
            "--task",
            "hash",
            "--bits",
            "16",
            "--data",
            s(&photos),
            "--epochs",
            "1",
            "--items-per-photo",
            "2",
            "--edits-per-item",
            "1",
            "--view-size",
            "64",
            "--out",
            &big,
        ]),
        &[
            "--conv",
            "exported model of 144 M weights",
            "more than 64 M",
        ],
    );
    assert!(!Path::new(&big).exists());
    // One photo where training reads a folder.
    expect_bad_input(
        &imsat(&[
            "train",
            "--task",
            "hash",
            "--data",
            s(&photos.join("0001.jpg")),
            "--out",
            &o("one"),
        ]),
        &[
            "0001.jpg",
            "is an image file",
            "give the folder that holds it",
        ],
    );

    // Weights that overflowed in the last epoch: a divergence, not a quantizer's failure.
    let lr = imsat(&[
        "train",
        "--task",
        "hash",
        "--bits",
        "8",
        "--data",
        IMAGES,
        "--limit",
        "300",
        "--epochs",
        "1",
        "--lr",
        "1e30",
        "--out",
        &o("lr"),
    ]);
    crate::common::expect_error(&lr, 1, &["not finite", "training diverged", "--lr"]);
}

/// A run whose model ends up giving every sample one output is said, though it exits 0: a
/// linear hash under the default SATs on 2,000 digits ends at H(Y) = 2e-4 nats, one code
/// for all (the warning asked for H(Y) < 1e-6 before and stayed silent); a run that spreads
/// its codes says nothing.
#[test]
fn a_run_that_collapses_to_one_code_is_warned() {
    let dir = tempfile::tempdir().unwrap();
    let train = |hidden: &str, out: &str| {
        let out = dir.path().join(out);
        let o = imsat(&[
            "train",
            "--task",
            "hash",
            "--bits",
            "16",
            "--hidden",
            hidden,
            "--epochs",
            "5",
            "--limit",
            "2000",
            "--data",
            IMAGES,
            "--out",
            s(&out),
        ]);
        expect_success(&o);
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let linear = train("none", "linear");
    assert!(
        linear.contains(
            "warning: training collapsed: in its last epoch every sample got the same code"
        ),
        "{linear}"
    );
    let mlp = train("64", "mlp");
    assert!(!mlp.contains("collapsed"), "{mlp}");
}

/// An int8 model that flips the f32 model's outputs is said at training (nothing measured it
/// there; `eval --reference` printed it without comment): a 10-cluster run at --lr 0.5 on 500
/// digits leaves logits that nearly tie, and its int8 ids agree on 85%; at the default rate,
/// no warning.
#[test]
fn an_int8_model_far_from_its_f32_model_is_warned() {
    let dir = tempfile::tempdir().unwrap();
    let train = |lr: &str| {
        let out = dir.path().join(format!("lr{lr}"));
        let o = imsat(&[
            "train",
            "--task",
            "cluster",
            "--classes",
            "10",
            "--hidden",
            "16",
            "--epochs",
            "1",
            "--limit",
            "500",
            "--lr",
            lr,
            "--data",
            IMAGES,
            "--out",
            s(&out),
        ]);
        expect_success(&o);
        assert!(out.join("model.int8.onnx").exists());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let high = train("0.5");
    let share: f64 = high
        .split("warning: the int8 model gives ")
        .nth(1)
        .and_then(|t| t.split('%').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no warning: {high}"));
    assert!(share < 95.0, "{high}");
    assert!(
        high.contains("of the f32 model's cluster ids on training rows"),
        "{high}"
    );
    let default = train("0.002");
    assert!(!default.contains("int8 model gives"), "{default}");
}
