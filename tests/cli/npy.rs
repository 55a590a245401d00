//! `.npy` in and out through the `imsat` binary: training on feature vectors, encoding them to
//! `.npy` codes and cluster ids, indexing them, and every bad file exiting with status 2 and
//! one line naming it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::common::{
    expect_bad_input, expect_success, imsat, mnist_images, numpy_npz, python_with, run as cli, s,
};

use npyz::WriterBuilder;

/// Rows, dimensions and classes of the synthetic feature set.
const N: usize = 600;
const D: usize = 12;
const CLASSES: usize = 4;

/// Write an `.npy` array (C order unless `fortran`).
fn write_npy<T: npyz::AutoSerialize + Clone>(
    path: &Path,
    shape: &[u64],
    data: &[T],
    fortran: bool,
) {
    let mut buf = Vec::new();
    let order = if fortran {
        npyz::Order::Fortran
    } else {
        npyz::Order::C
    };
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .order(order)
        .writer(&mut buf)
        .begin_nd()
        .unwrap();
    w.extend(data.iter().cloned()).unwrap();
    w.finish().unwrap();
    std::fs::write(path, buf).unwrap();
}

fn read_npy(path: &Path) -> (String, Vec<u64>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let f = npyz::NpyFile::new(&bytes[..]).unwrap();
    let descr = f.dtype().descr();
    let shape = f.shape().to_vec();
    // The data: the last len x itemsize bytes.
    let item = match &*descr {
        "'|u1'" => 1,
        _ => 8,
    };
    let len = shape.iter().product::<u64>() as usize * item;
    (descr, shape, bytes[bytes.len() - len..].to_vec())
}

/// `CLASSES` well separated Gaussian blobs (a fixed LCG, so every run has the same data),
/// with large offsets so that the model must undo the scaling.
fn blobs() -> (Vec<f32>, Vec<i64>) {
    let mut state = 12345u64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64) as f32
    };
    let centres: Vec<Vec<f32>> = (0..CLASSES)
        .map(|_| (0..D).map(|_| uniform() * 20.0 - 10.0).collect())
        .collect();
    let mut x = Vec::with_capacity(N * D);
    let mut y = Vec::with_capacity(N);
    for i in 0..N {
        let c = i % CLASSES;
        for (j, &m) in centres[c].iter().enumerate() {
            let noise = (uniform() + uniform() + uniform() - 1.5) * 2.0;
            x.push(1000.0 + 10.0 * j as f32 + m + noise);
        }
        y.push(c as i64 * 7 + 3);
    }
    (x, y)
}

pub(crate) struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    pub(crate) fn x(&self) -> PathBuf {
        self.dir.join("x.npy")
    }
    fn y(&self) -> PathBuf {
        self.dir.join("y.npy")
    }
    pub(crate) fn hash(&self) -> PathBuf {
        self.dir.join("hash/model.onnx")
    }
    fn cluster(&self) -> PathBuf {
        self.dir.join("cluster/model.onnx")
    }
}

/// The feature files and a 16-bit hash and 4-cluster model trained on them, once.
pub(crate) fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("npy_cli")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep();
        let (x, y) = blobs();
        write_npy(&dir.join("x.npy"), &[N as u64, D as u64], &x, false);
        write_npy(&dir.join("y.npy"), &[N as u64], &y, false);
        let f = Fixture { dir };
        for (name, task) in [
            ("hash", ["--task", "hash", "--bits", "16"]),
            ("cluster", ["--task", "cluster", "--classes", "4"]),
        ] {
            let out_dir = f.dir.join(name);
            let mut args = vec!["train"];
            args.extend(task);
            let (xp, yp) = (f.x(), f.y());
            args.extend([
                "--epochs",
                "3",
                "--hidden",
                "32,32",
                "--batch",
                "100",
                "--heads",
                "1",
                "--data",
                s(&xp),
                "--labels",
                s(&yp),
                "--out",
                s(&out_dir),
            ]);
            let out = imsat(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "training {name}: {err}");
            assert!(!err.contains("set the features' scale"), "{err}");
        }
        f
    })
}

fn report(model: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(model.with_file_name("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn hash_on_features_exports_a_feature_model_with_metadata() {
    let f = fixture();
    let r = report(&f.hash());
    assert_eq!(r["input"], "features");
    assert_eq!(r["dim"], D);
    assert_eq!(r["sat"], serde_json::json!(["vat"]));
    // Separated blobs: retrieval is near perfect even after 3 epochs.
    assert!(r["map"].as_f64().unwrap() > 0.8, "{r}");
    assert!(!f.hash().with_file_name("model.int8.onnx").exists());
    let enc = imsat_runtime::encoder::Encoder::open(f.hash()).unwrap();
    assert_eq!(enc.info().input, imsat_runtime::format::Input::Features);
    assert_eq!(enc.info().input_shape, vec![D]);
    assert!(!enc.info().int8);
    // Its eval names the data as its training report does: the same CRC-32 of the values.
    let o = cli(
        "eval --model {} --data {} --labels {}",
        &[&f.hash(), &f.x(), &f.y()],
    );
    expect_success(&o);
    let eval: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(eval["data_crc32"], r["data_crc32"], "{eval}");
}

#[test]
fn a_far_row_that_sets_the_scale_alone_is_named_in_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (mut x, _) = blobs();
    x.extend([1e6f32; D]);
    let xp = dir.path().join("x.npy");
    write_npy(&xp, &[N as u64 + 1, D as u64], &x, false);
    let out = dir.path().join("run");
    let o = cli(
        "train --task hash --bits 8 --epochs 1 --hidden 16 --batch 100 --data {} --out {}",
        &[&xp, &out],
    );
    expect_success(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: ")
            && err.contains("1 row far from the rest sets the features' scale alone")
            && err.contains(&format!("row {N}, counting from 0, lies")),
        "{err}"
    );
    assert!(out.join("model.onnx").exists());
}

#[test]
fn encode_writes_packed_codes_that_match_the_raw_words_and_the_index() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let (npy, raw, idx) = (
        dir.path().join("codes.npy"),
        dir.path().join("codes.u64"),
        dir.path().join("codes.index"),
    );
    let model = f.hash();
    let x = f.x();
    for out in [&npy, &raw] {
        let o = cli("encode --model {} --data {} --out {}", &[&model, &x, out]);
        expect_success(&o);
    }
    let (descr, shape, data) = read_npy(&npy);
    assert_eq!(descr, "'|u1'");
    assert_eq!(shape, vec![N as u64, 2]);
    let words: Vec<u64> = std::fs::read(&raw)
        .unwrap()
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(words.len(), N);
    for (i, w) in words.iter().enumerate() {
        // Byte j holds bits 8j..8j+7, least significant first (np.unpackbits little).
        assert_eq!(data[2 * i] as u64 | (data[2 * i + 1] as u64) << 8, *w);
    }
    let distinct: std::collections::HashSet<_> = words.iter().collect();
    assert!(distinct.len() >= CLASSES, "codes collapsed: {distinct:?}");
    let o = cli(
        "index build --model {} --data {} --out {}",
        &[&model, &x, &idx],
    );
    expect_success(&o);
    let index = imsat_runtime::index::Index::load(&idx).unwrap();
    assert_eq!(index.codes().as_words(), &words[..]);
    // The .npy given where raw u64 codes go: its header would be read as codes and every
    // code after it shifted; refused, pointing to --npy.
    let imported = dir.path().join("wrong.index");
    let o = cli(
        "index import --raw-u64 {} --bits 16 --out {}",
        &[&npy, &imported],
    );
    crate::common::expect_bad_input(
        &o,
        &["codes.npy", "a .npy file, not raw u64 codes", "--npy"],
    );
    assert!(!imported.exists());
    let o = cli("search --index {} --queries-raw-u64 {} -k 1", &[&idx, &npy]);
    crate::common::expect_bad_input(
        &o,
        &[
            "codes.npy",
            "a .npy file, not raw u64 codes",
            "--queries-npy",
        ],
    );
    // Given as --queries-npy, the same answers as its raw words (all but the summary line,
    // which holds timings).
    let answers = |flag: &str, queries: &Path| {
        let o = cli(
            &format!("search --index {{}} {flag} {{}} -k 3"),
            &[&idx, queries],
        );
        expect_success(&o);
        let stdout = String::from_utf8(o.stdout).unwrap();
        let lines: Vec<String> = stdout.lines().map(str::to_string).collect();
        lines[..lines.len() - 1].to_vec()
    };
    let by_npy = answers("--queries-npy", &npy);
    assert_eq!(by_npy.len(), N);
    assert_eq!(by_npy, answers("--queries-raw-u64", &raw));
    // Codes of another width than the index's: refused, saying both.
    let wide = dir.path().join("wide.npy");
    write_npy(&wide, &[2, 3], &[1u8, 2, 3, 4, 5, 6], false);
    let o = cli("search --index {} --queries-npy {} -k 1", &[&idx, &wide]);
    crate::common::expect_bad_input(&o, &["wide.npy", "16-bit", "3 bytes per code"]);
    // So are the other formats imsat writes (an .npz and an index were read as codes, exit 0).
    let npz = dir.path().join("codes.npz");
    let o = cli("encode --model {} --data {} --out {}", &[&model, &x, &npz]);
    expect_success(&o);
    let csv = dir.path().join("codes.csv");
    expect_success(&cli(
        "encode --model {} --data {} --out {}",
        &[&model, &x, &csv],
    ));
    for (file, what) in [
        (&npz, "a zip file"),
        (&idx, "an imsat index file"),
        (&csv, "a CSV of codes"),
    ] {
        let o = cli("search --index {} --queries-raw-u64 {} -k 1", &[&idx, file]);
        crate::common::expect_bad_input(&o, &[what, "not raw u64 codes"]);
    }
    // A faiss binary index of another kind (its header as every binary index starts) read as
    // 64-bit codes: imported as 5 garbage codes with exit 0, before.
    let idmap = dir.path().join("idmap.faiss");
    let mut bytes = b"IBMp".to_vec();
    bytes.extend(64i32.to_le_bytes());
    bytes.extend(8i32.to_le_bytes());
    bytes.extend(1i64.to_le_bytes());
    bytes.push(1);
    bytes.extend(1i32.to_le_bytes());
    bytes.resize(40, 0);
    std::fs::write(&idmap, bytes).unwrap();
    let o = cli(
        "index import --raw-u64 {} --bits 64 --out {}",
        &[&idmap, &dir.path().join("idmap.idx")],
    );
    crate::common::expect_bad_input(&o, &["a faiss binary index, not raw u64 codes"]);
    // Codes that only begin with a zip's or faiss's first bytes are codes: a 27-bit code can
    // be `PK\x03\x04`, a 32-bit one `IBxF` (both were refused as those formats).
    let (lookalike, imported) = (dir.path().join("look.u64"), dir.path().join("look.idx"));
    for (word, bits) in [(0x0403_4B50u64, "27"), (0x4678_4249, "32")] {
        let bytes: Vec<u8> = [word, 5].iter().flat_map(|w| w.to_le_bytes()).collect();
        std::fs::write(&lookalike, bytes).unwrap();
        let command = format!("index import --raw-u64 {{}} --bits {bits} --out {{}}");
        expect_success(&cli(&command, &[&lookalike, &imported]));
        let index = imsat_runtime::index::Index::load(&imported).unwrap();
        assert_eq!(index.codes().as_words(), &[word, 5]);
    }
    // Codes are scored against labels; a copy-detection flag with them is not ignored.
    let y = f.y();
    let o = cli("eval --codes {} --labels {}", &[&npy, &y]);
    expect_success(&o);
    let scored: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(scored["map"].as_f64().unwrap() > 0.0, "{scored}");
    assert!(scored["queries"].as_u64().unwrap() > 0, "{scored}");
    // A gallery of at most 500 codes: precision@500 would be each query's class share of it,
    // whatever the codes, so it is null.
    assert!(scored["precision_at_500"].is_null(), "{scored}");
    assert!(scored["precision_within_r2"].is_f64(), "{scored}");
    // Every label its own class: no query has a match to find, so nothing is measured (the
    // report once said mAP 0.0).
    let (few, unique) = (dir.path().join("few.npy"), dir.path().join("unique.npy"));
    write_npy(&few, &[5, 2], &data[..10], false);
    write_npy(&unique, &[5], &(0..5i64).collect::<Vec<_>>(), false);
    let o = cli("eval --codes {} --labels {}", &[&few, &unique]);
    expect_success(&o);
    let scored: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(scored["queries"], 0, "{scored}");
    assert!(scored["map"].is_null(), "{scored}");
    let o = cli(
        "eval --codes {} --labels {} --task copy-detection",
        &[&npy, &y],
    );
    crate::common::expect_bad_input(&o, &["--codes is scored against --labels only"]);
}

#[test]
fn cluster_ids_go_out_as_int64() {
    let f = fixture();
    let r = report(&f.cluster());
    assert!(r["acc"].as_f64().unwrap() > 0.5, "{r}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ids.npy");
    let (model, x) = (f.cluster(), f.x());
    let o = cli("encode --model {} --data {} --out {}", &[&model, &x, &out]);
    expect_success(&o);
    let (descr, shape, data) = read_npy(&out);
    assert_eq!(descr, "'<i8'");
    assert_eq!(shape, vec![N as u64]);
    let ids: Vec<i64> = data
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    for id in &ids {
        assert!((0..4).contains(id), "{id}");
    }
    // `.npz`: the row numbers as `names` beside the same ids as `clusters`, read by NumPy.
    let npz = dir.path().join("ids.npz");
    let o = cli("encode --model {} --data {} --out {}", &[&model, &x, &npz]);
    expect_success(&o);
    if python_with("numpy", "numpy") {
        let names: Vec<String> = (0..N).map(|i| i.to_string()).collect();
        assert_eq!(
            numpy_npz(&npz),
            serde_json::json!({
                "names": {"dtype": "<U3", "shape": [N], "values": names},
                "clusters": {"dtype": "int64", "shape": [N], "values": ids},
            })
        );
    }
}

#[test]
fn float64_features_encode_like_float32() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let (x, _) = blobs();
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let p64 = dir.path().join("x64.npy");
    write_npy(&p64, &[N as u64, D as u64], &x64, false);
    let model = f.hash();
    let mut outs = Vec::new();
    for (i, data) in [f.x(), p64].iter().enumerate() {
        let out = dir.path().join(format!("c{i}.npy"));
        let o = cli(
            "encode --model {} --data {} --out {}",
            &[&model, data, &out],
        );
        expect_success(&o);
        outs.push(std::fs::read(out).unwrap());
    }
    assert_eq!(outs[0], outs[1]);
}

/// Every bad feature file, for training and for encoding: exit 2, one line naming the file.
#[test]
fn bad_npy_files_exit_2_naming_the_file() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let (x, _) = blobs();
    let shape = [N as u64, D as u64];
    write_npy(&p("int.npy"), &shape, &vec![1i32; N * D], false);
    write_npy(&p("fortran.npy"), &shape, &x, true);
    let mut nan = x.clone();
    nan[5 * D + 3] = f32::NAN;
    write_npy(&p("nan.npy"), &shape, &nan, false);
    write_npy(&p("narrow.npy"), &[N as u64, 8], &x[..N * 8], false);
    write_npy(&p("flat.npy"), &[(N * D) as u64], &x, false);
    let good = std::fs::read(f.x()).unwrap();
    std::fs::write(p("truncated.npy"), &good[..good.len() - 100]).unwrap();
    std::fs::write(p("text.npy"), b"1,2,3\n").unwrap();
    // Two arrays joined: the second was read as nothing, silently.
    std::fs::write(p("joined.npy"), [&good[..], &good[..]].concat()).unwrap();
    // A header nesting lists 20 deep (npyz took 7 s to parse it; 1,000 deep, forever).
    let dict = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': {}{}}}\n",
        "[".repeat(20),
        "]".repeat(20)
    );
    let npy_with = |dict: &str, data: &[u8]| {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        b.extend_from_slice(dict.as_bytes());
        b.extend_from_slice(data);
        b
    };
    std::fs::write(p("nested.npy"), npy_with(&dict, &[0; 16])).unwrap();
    // Python objects (pickled) are no numbers.
    let objects = "{'descr': '|O', 'fortran_order': False, 'shape': (2, 2), }\n";
    std::fs::write(p("objects.npy"), npy_with(objects, &[0x80; 40])).unwrap();
    // A float64 past float32's range is named as the file holds it, not as the inf it casts to.
    let mut wide: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    wide[2 * D + 1] = 1e300;
    write_npy(&p("wide.npy"), &shape, &wide, false);
    // An .npz (a zip of arrays) named as one.
    std::fs::write(p("zip.npy"), b"PK\x03\x04\x14\0\0\0\0\0").unwrap();
    // A header that is no Python dict: named, with its text, in one line (it was the
    // parser's dump over six).
    let garbled = "{descr: <f4, fortran_order: False, shape: (2, 2), }\n";
    std::fs::write(p("garbled.npy"), npy_with(garbled, &[0; 16])).unwrap();
    let cases: [(&str, &[&str]); 13] = [
        ("int.npy", &["not float32 or float64"]),
        ("fortran.npy", &["Fortran"]),
        ("nan.npy", &["row 5, column 3", "NaN"]),
        ("narrow.npy", &["8 features", "takes 12"]),
        ("flat.npy", &["expected a 2-D array"]),
        ("truncated.npy", &["truncated"]),
        ("text.npy", &["not a .npy file"]),
        ("joined.npy", &["bytes follow the", "not one .npy array"]),
        ("nested.npy", &["brackets nested deeper than 3"]),
        (
            "objects.npy",
            &["holds no plain numbers (expected float32 or float64 features)"],
        ),
        ("wide.npy", &["row 2, column 1 is 1e300", "fit in float32"]),
        ("zip.npy", &["a zip archive", "np.save"]),
        (
            "garbled.npy",
            &["{descr: <f4", "not the Python dict NumPy writes"],
        ),
    ];
    let model = f.hash();
    for (name, needles) in cases {
        let data = p(name);
        let mut needles = needles.to_vec();
        needles.push(name);
        let out = p("out.npy");
        let o = cli(
            "encode --model {} --data {} --out {}",
            &[&model, &data, &out],
        );
        let said = expect_bad_input(&o, &needles);
        assert_eq!(said.trim_end().lines().count(), 1, "{said}");
        if name == "narrow.npy" {
            continue; // any width trains
        }
        let run = p("run");
        let o = cli(
            "train --task hash --bits 8 --epochs 1 --data {} --out {}",
            &[&data, &run],
        );
        expect_bad_input(&o, &needles);
    }
    // A file without the magic is refused from its first bytes: a device that never ends
    // (the memory limit turns the old whole read into an error rather than the machine's).
    #[cfg(unix)]
    {
        let zero = p("zero.npy");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let o = std::process::Command::new("bash")
            .args(["-c", "ulimit -v 3000000; exec \"$@\"", "bash"])
            .arg(env!("CARGO_BIN_EXE_imsat"))
            .args([
                "--quiet",
                "encode",
                "--model",
                s(&model),
                "--data",
                s(&zero),
            ])
            .args(["--out", s(&p("out.npy"))])
            .output()
            .unwrap();
        expect_bad_input(&o, &["zero.npy", "not a .npy file"]);
    }
}

#[test]
fn bad_labels_pixel_sats_and_mismatched_models_exit_2() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let (x, y) = (f.x(), f.y());
    let mut floats = dir.path().join("yf.npy");
    write_npy(&floats, &[N as u64], &vec![0.5f32; N], false);
    let o = cli(
        "train --task hash --bits 8 --epochs 1 --data {} --labels {} --out {}",
        &[&x, &floats, &run],
    );
    expect_bad_input(&o, &["yf.npy", "not an integer type"]);
    floats.set_file_name("short.npy");
    write_npy(&floats, &[10], &[1i64; 10], false);
    let o = cli(
        "train --task hash --bits 8 --epochs 1 --data {} --labels {} --out {}",
        &[&x, &floats, &run],
    );
    expect_bad_input(&o, &["short.npy", "10 labels", "600 rows"]);
    for sat in ["affine", "vat,edits"] {
        let o = imsat(&[
            "train",
            "--task",
            "hash",
            "--bits",
            "8",
            "--epochs",
            "1",
            "--sat",
            sat,
            "--data",
            s(&x),
            "--labels",
            s(&y),
            "--out",
            s(&run),
        ]);
        expect_bad_input(&o, &["needs pixels", "x.npy", "vat, rpt or neighbour"]);
    }
    // Nor do convolutions (they trained on each row as a 1 x d picture).
    let conv = "train --task hash --bits 8 --epochs 1 --data {} --out {} --conv";
    let o = cli(&format!("{conv} 4,1,1,1"), &[&x, &run]);
    expect_bad_input(&o, &["--conv applies to images", "x.npy", "feature rows"]);
    assert!(!run.exists());
    // A feature model does not read images, nor a pixel model features.
    let images = mnist_images();
    let out = dir.path().join("c.npy");
    let model = f.hash();
    let o = cli(
        "encode --model {} --data {} --out {}",
        &[&model, &images, &out],
    );
    expect_bad_input(&o, &["model.onnx", "takes 12 features from a .npy file"]);
    let pixel_model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hash16.onnx");
    let o = cli(
        "encode --model {} --data {} --out {}",
        &[&pixel_model, &x, &out],
    );
    expect_bad_input(&o, &["hash16.onnx", "takes images", "x.npy"]);
    // Nor does eval score a pixel model on features (it once gave chance-level numbers).
    let o = cli(
        "eval --model {} --data {} --labels {}",
        &[&pixel_model, &x, &y],
    );
    expect_bad_input(&o, &["hash16.onnx", "takes images", "x.npy"]);
    // --reference goes by the same rule: on features it was ignored (no comparison in the
    // report), and a feature model given as the reference of a pixel model was fed pixels.
    let with_reference = "eval --model {} --reference {} --data {} --labels {}";
    let o = cli(with_reference, &[&model, &model, &x, &y]);
    expect_success(&o);
    let scored: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(scored["bits_equal_to_f32"], 1.0, "{scored}");
    // Copy detection on features points to labels (and, with --labels, the reverse sent the
    // user back).
    let o = cli(
        "eval --task copy-detection --model {} --data {}",
        &[&model, &x],
    );
    expect_bad_input(
        &o,
        &["x.npy", "copy detection edits photos", "--task labels"],
    );
    let o = cli(with_reference, &[&model, &pixel_model, &x, &y]);
    expect_bad_input(
        &o,
        &[
            "hash16.onnx: the reference takes images",
            "takes .npy features",
        ],
    );
    let labels = images.with_file_name("labels-idx1-ubyte.gz");
    let o = cli(with_reference, &[&pixel_model, &model, &images, &labels]);
    expect_bad_input(&o, &["model.onnx: the reference takes .npy features"]);
}

#[test]
fn npy_labels_go_with_idx_images_as_idx_labels_do() {
    let d = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let idx_labels = root.join("data/mnist10k/labels-idx1-ubyte.gz");
    let labels: Vec<i64> = imsat_data::idx::read_idx_labels(&idx_labels, 256)
        .unwrap()
        .into_iter()
        .map(i64::from)
        .collect();
    let npy_labels = d.path().join("labels.npy");
    write_npy(&npy_labels, &[labels.len() as u64], &labels, false);
    let model = root.join("models/cluster10.onnx");
    let score = |labels: &Path| {
        let out = cli(
            "eval --model {} --data {} --labels {}",
            &[&model, &mnist_images(), labels],
        );
        expect_success(&out);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (v["acc"].clone(), v["nmi"].clone(), v["n"].clone())
    };
    let (acc, nmi, n) = score(&npy_labels);
    assert_eq!((acc.clone(), nmi, n), score(&idx_labels));
    assert!(acc.as_f64().unwrap() > 0.9, "{acc}");
    // One label short: named, before any training.
    let short = d.path().join("short.npy");
    write_npy(&short, &[9_999], &labels[..9_999], false);
    let out = cli(
        "train --task cluster --data {} --labels {} --out {}",
        &[&mnist_images(), &short, &d.path().join("run")],
    );
    expect_bad_input(&out, &["short.npy", "9999 labels but 10000 images"]);
}

/// Labels of more classes than a byte holds (ImageNet's 1,000): each digit split into 100
/// classes, scored with the split's queries of every class; 65,537 classes are refused.
#[test]
fn labels_of_a_thousand_classes_are_scored_and_more_than_65536_refused() {
    let d = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let digits =
        imsat_data::idx::read_idx_labels(root.join("data/mnist10k/labels-idx1-ubyte.gz"), 256)
            .unwrap();
    let labels: Vec<i64> = digits
        .iter()
        .enumerate()
        .map(|(i, &l)| i64::from(l) * 100 + (i % 100) as i64)
        .collect();
    let y = d.path().join("y1000.npy");
    write_npy(&y, &[labels.len() as u64], &labels, false);
    let out = cli(
        "eval --model {} --data {} --labels {}",
        &[&root.join("models/hash16.int8.onnx"), &mnist_images(), &y],
    );
    expect_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Each class gives min(100, half its samples) queries.
    let mut count = std::collections::HashMap::new();
    for l in &labels {
        *count.entry(l).or_insert(0usize) += 1;
    }
    assert_eq!(count.len(), 1000);
    let queries: usize = count.values().map(|&c| (c / 2).min(100)).sum();
    assert_eq!(v["queries"], queries, "{v}");
    assert!(v["map"].as_f64().unwrap() > 0.0, "{v}");
    // 65,537 distinct labels for 65,537 codes: refused, naming the limit.
    let n = 65_537usize;
    let codes = d.path().join("codes.npy");
    let bytes: Vec<u8> = (0..2 * n).map(|i| (i * 7) as u8).collect();
    write_npy(&codes, &[n as u64, 2], &bytes, false);
    let many = d.path().join("many.npy");
    write_npy(
        &many,
        &[n as u64],
        &(0..n as i64).collect::<Vec<_>>(),
        false,
    );
    let out = cli("eval --codes {} --labels {}", &[&codes, &many]);
    expect_bad_input(
        &out,
        &["many.npy", "65537 distinct labels; at most 65536 classes"],
    );
}

/// A user's first run on a handful of rows: the default batch (250) follows the data rather
/// than being refused as a `--batch` never given; one row is refused as too little data.
#[test]
fn few_rows_train_with_the_default_batch_and_one_row_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let (x, _) = blobs();
    let (seven, one) = (d.path().join("seven.npy"), d.path().join("one.npy"));
    write_npy(&seven, &[7, D as u64], &x[..7 * D], false);
    write_npy(&one, &[1, D as u64], &x[..D], false);
    let out = d.path().join("run");
    let o = cli(
        "train --task hash --bits 8 --epochs 2 --data {} --out {}",
        &[&seven, &out],
    );
    expect_success(&o);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["batch"], 7, "{config}");
    let o = cli(
        "train --task hash --bits 8 --epochs 2 --data {} --out {}",
        &[&one, &d.path().join("run1")],
    );
    expect_bad_input(&o, &["1 sample", "at least 2"]);
}

/// Headers `np.load` reads, as NumPy under Python 2 wrote them (`(600L, 12L)`) or with a
/// native byte order (`'=f4'`), encode as the same array saved today does (npyz refused both).
#[test]
fn older_numpy_headers_encode_like_today_s() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(f.x()).unwrap();
    let len = u16::from_le_bytes([good[8], good[9]]) as usize;
    let text = std::str::from_utf8(&good[10..10 + len]).unwrap();
    let old_text = text
        .replace("'<f4'", "'=f4'")
        .replace(&format!("({N}, {D})"), &format!("({N}L, {D}L)"));
    assert_ne!(old_text.trim_end(), text.trim_end());
    // The same header length: two spaces of padding fewer.
    let old_text = format!("{:<1$}\n", old_text.trim_end(), len - 1);
    let old = [&good[..10], old_text.as_bytes(), &good[10 + len..]].concat();
    assert_eq!(old.len(), good.len());
    let old_x = dir.path().join("python2.npy");
    std::fs::write(&old_x, old).unwrap();
    let codes = |data: &Path, name: &str| {
        let out = dir.path().join(name);
        expect_success(&cli(
            "encode --model {} --data {} --out {}",
            &[&f.hash(), data, &out],
        ));
        std::fs::read(out).unwrap()
    };
    let today = codes(&f.x(), "new.npy");
    assert_eq!(codes(&old_x, "old.npy"), today);
    // Other spellings of float32 that np.load reads (hand-written headers, other writers), and
    // a header ended by `\r\n`: they were refused as an "Invalid type-string", an "invalid
    // endianness" or "not the Python dict NumPy writes".
    let data = &good[10 + len..];
    for (descr, end) in [
        ("f4", "\n"),
        ("|f4", "\n"),
        ("float32", "\n"),
        ("f", "\n"),
        ("<f4", "\r\n"),
    ] {
        let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({N}, {D}), }}");
        let padded = (10 + dict.len() + end.len()).div_ceil(64) * 64 - 10;
        let text = format!("{dict:<0$}{end}", padded - end.len());
        let header = [b"\x93NUMPY\x01\x00", &(padded as u16).to_le_bytes()[..]].concat();
        let spelled = dir.path().join("spelled.npy");
        std::fs::write(&spelled, [&header[..], text.as_bytes(), data].concat()).unwrap();
        assert_eq!(
            codes(&spelled, "spelled_codes.npy"),
            today,
            "{descr:?} {end:?}"
        );
    }
}
