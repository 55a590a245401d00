//! Bad input through the `imsat` binary: every case exits with status 2 and one line
//! `imsat: error: ...` naming the file (or flag) and the problem, and never panics.
//!
//! Cases of one kind share a table: a file or flags, and what the error line must say.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use crate::common::{expect_bad_input, expect_error, expect_success, mnist_images, run, write};
use imsat_runtime::code::Codes;
use imsat_runtime::index::Index;
use imsat_trainer::data::idx_u8_bytes;
use prost::Message;

#[path = "../../runtime/tests/common/rank4_graph.rs"]
mod rank4_graph;

/// Two tiny models trained once through the CLI (500 images, 1 epoch, 32-32 hidden).
struct Models {
    dir: PathBuf,
}

impl Models {
    fn hash(&self) -> PathBuf {
        self.dir.join("hash/model.onnx")
    }
    fn hash_int8(&self) -> PathBuf {
        self.dir.join("hash/model.int8.onnx")
    }
    fn cluster(&self) -> PathBuf {
        self.dir.join("cluster/model.onnx")
    }
}

fn models() -> &'static Models {
    static MODELS: OnceLock<Models> = OnceLock::new();
    MODELS.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("cli_errors_models")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep();
        for (name, task) in [("hash", "hash --bits 8"), ("cluster", "cluster --classes 10")] {
            let out = run(
                &format!("train --task {task} --epochs 1 --limit 500 --hidden 32,32 --batch 100 --data {{}} --out {{}}"),
                &[&mnist_images(), &dir.join(name)],
            );
            assert!(out.status.success(), "training {name}: {}", stderr(&out));
        }
        Models { dir }
    })
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Five 28x28 images (all black) as a raw IDX file.
fn images28(dir: &Path) -> PathBuf {
    write(dir, "img28.idx", &idx_u8_bytes(&[5, 28, 28], &[0; 5 * 784]))
}

/// Ten images of 10x10: they do not fit a 28x28 model.
fn images10(dir: &Path) -> PathBuf {
    write(dir, "small.idx", &idx_u8_bytes(&[10, 10, 10], &[7; 1000]))
}

/// `imsat train --data DATA --out DIR/out` plus `flags`, with `--task cluster` unless `flags`
/// name the task (a flag given twice is an error of its own).
fn train_on(dir: &Path, data: &Path, flags: &str) -> Output {
    let task = if flags.contains("--task") {
        ""
    } else {
        "--task cluster"
    };
    let command = format!("train {task} --data {{}} --out {{}} {flags}");
    run(&command, &[data, &dir.join("out")])
}

/// The needles of a case, after the name of its file.
fn naming<'a>(name: &'a str, needles: &[&'a str]) -> Vec<&'a str> {
    [&[name], needles].concat()
}

// ---- IDX image and label files ---------------------------------------------------------

#[test]
fn idx_image_files_that_cannot_be_read() {
    let mut short = idx_u8_bytes(&[5, 28, 28], &[0; 5 * 784]);
    short.truncate(short.len() - 100);
    // Four billion images promised, ten bytes present: refused before any allocation.
    let huge = idx_u8_bytes(&[u32::MAX as usize, 28, 28], &[0; 10]);
    let cases: [(&str, Vec<u8>, &[&str]); 8] = [
        (
            "zip.idx",
            b"PK\x03\x04 a zip file".to_vec(),
            &["wrong magic", "not an IDX file"],
        ),
        ("short.idx", short, &["truncated", "promises 3920 bytes"]),
        ("head.idx", vec![0, 0, 8, 3, 0, 0], &["truncated", "header"]),
        ("huge.idx", huge, &["truncated", "file has 10"]),
        (
            "images.idx.gz",
            b"just some text, not gzip".to_vec(),
            &["not an IDX file"],
        ),
        (
            "broken.gz",
            vec![0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5],
            &["corrupt gzip"],
        ),
        ("empty.idx", vec![], &["empty file"]),
        ("labels.idx", idx_u8_bytes(&[3], &[0, 1, 2]), &["rank >= 2"]),
    ];
    for (name, bytes, needles) in cases {
        let d = tmp();
        let p = write(d.path(), name, &bytes);
        expect_bad_input(&train_on(d.path(), &p, ""), &naming(name, needles));
    }
    let d = tmp();
    let nowhere = d.path().join("nowhere.idx");
    expect_bad_input(
        &train_on(d.path(), &nowhere, ""),
        &["nowhere.idx", "cannot read"],
    );
}

#[test]
fn label_files_that_do_not_fit() {
    let d = tmp();
    let imgs = images28(d.path());
    // IDX type 0x0c (i32): label values outside u8 cannot be represented, so they are refused.
    let mut i32_labels = vec![0, 0, 0x0c, 1, 0, 0, 0, 5];
    i32_labels.extend_from_slice(&[0; 20]);
    let cases: [(&str, Vec<u8>, &str); 2] = [
        (
            "labels4.idx",
            idx_u8_bytes(&[4], &[0, 1, 2, 3]),
            "4 labels but 5 images",
        ),
        ("labels_i32.idx", i32_labels, "0x0c is not supported"),
    ];
    for (name, bytes, needle) in cases {
        let labels = write(d.path(), name, &bytes);
        let command = "train --task cluster --data {} --labels {} --out {}";
        let out = run(command, &[&imgs, &labels, &d.path().join("out")]);
        expect_bad_input(&out, &[name, needle]);
    }
    let out = run(
        "eval --model {} --data {} --labels {}",
        &[&models().cluster(), &imgs, &imgs],
    );
    expect_bad_input(&out, &["img28.idx", "a label file has rank 1"]);
}

// ---- folders of images -----------------------------------------------------------------

#[test]
fn folders_without_usable_images() {
    let d = tmp();
    let cases: [(&str, &str, &[u8], &[&str]); 2] = [
        (
            "photos",
            "broken.png",
            b"not a png at all",
            &["broken.png", "cannot decode image"],
        ),
        ("docs", "notes.txt", b"hello", &["docs", "no image files"]),
    ];
    for (folder, file, bytes, needles) in cases {
        let folder = d.path().join(folder);
        std::fs::create_dir(&folder).unwrap();
        write(&folder, file, bytes);
        expect_bad_input(&dedup(&models().hash(), &folder), needles);
    }
    // One image given for a folder: said so, not read as a broken IDX file.
    let one = d.path().join("one.jpg");
    image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]))
        .save(&one)
        .unwrap();
    expect_bad_input(
        &dedup(&models().hash(), &one),
        &["one.jpg", "is one image file", "folder"],
    );
}

#[test]
fn a_photo_folder_too_small_to_train_on_says_why() {
    // One photo, one item from it: no batch of two. Used to blame a --batch never given.
    let d = tmp();
    let folder = d.path().join("one");
    std::fs::create_dir(&folder).unwrap();
    image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]))
        .save(folder.join("a.png"))
        .unwrap();
    let out = train_on(
        d.path(),
        &folder,
        "--task hash --bits 8 --epochs 1 --items-per-photo 1 --holdout 0",
    );
    expect_bad_input(
        &out,
        &["one", "1 training photo", "1 training item", "at least 2"],
    );
}

#[test]
fn encode_reads_a_folder_of_images() {
    // `--data` may be a folder (as `index build` documents); a folder of valid images works.
    let d = tmp();
    let folder = d.path().join("pics");
    std::fs::create_dir(&folder).unwrap();
    for i in 0..3u8 {
        image::GrayImage::from_pixel(20, 30, image::Luma([i * 100]))
            .save(folder.join(format!("{i}.png")))
            .unwrap();
    }
    let codes = d.path().join("codes.u64");
    let out = encode(&models().hash(), &folder, &codes);
    expect_success(&out);
    assert_eq!(std::fs::read(&codes).unwrap().len(), 3 * 8);
}

// ---- ONNX models -----------------------------------------------------------------------

fn encode(model: &Path, data: &Path, out: &Path) -> Output {
    run("encode --model {} --data {} --out {}", &[model, data, out])
}

fn dedup(model: &Path, data: &Path) -> Output {
    run("dedup --model {} {}", &[model, data])
}

/// The CLI-trained hash model with its metadata edited by `edit`, written as `name`.
fn edited_model(dir: &Path, name: &str, edit: impl Fn(&mut tract_onnx::pb::ModelProto)) -> PathBuf {
    let bytes = std::fs::read(models().hash()).unwrap();
    let mut proto = tract_onnx::pb::ModelProto::decode(&bytes[..]).unwrap();
    assert!(!proto.metadata_props.is_empty());
    edit(&mut proto);
    write(dir, name, &proto.encode_to_vec())
}

#[test]
fn onnx_files_that_are_not_imsat_models() {
    let d = tmp();
    let (imgs, o) = (images28(d.path()), d.path().join("o"));
    let noise: Vec<u8> = (0u32..4096)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let model = write(d.path(), "noise.onnx", &noise);
    expect_bad_input(
        &encode(&model, &imgs, &o),
        &["noise.onnx", "not a valid ONNX model"],
    );

    let model = write(d.path(), "empty.onnx", &[]);
    let needles = ["empty.onnx", "not a valid ONNX model", "empty file"];
    expect_bad_input(&dedup(&model, &imgs), &needles);

    let model = edited_model(d.path(), "plain.onnx", |p| p.metadata_props.clear());
    let needles = [
        "plain.onnx",
        "not an imsat model",
        "imsat.format_version",
        "missing",
    ];
    expect_bad_input(&encode(&model, &imgs, &o), &needles);

    let model = edited_model(d.path(), "task.onnx", |p| {
        let task = p
            .metadata_props
            .iter_mut()
            .find(|prop| prop.key == "imsat.task");
        task.unwrap().value = "segment".into();
    });
    expect_bad_input(
        &dedup(&model, &imgs),
        &["task.onnx", "unknown task \"segment\""],
    );

    // A key given twice: readers differ on which wins (this one took the last: a hash model
    // with a second `imsat.task = cluster` was read as a cluster model).
    let model = edited_model(d.path(), "twice.onnx", |p| {
        let mut task = p.metadata_props[0].clone();
        task.key = "imsat.task".into();
        task.value = "cluster".into();
        p.metadata_props.push(task);
    });
    expect_bad_input(
        &encode(&model, &imgs, &o),
        &["twice.onnx", "a metadata key is given twice"],
    );

    // A hash model exported with its sigmoid: every logit above 0, one code for every image
    // (it encoded, exit 0).
    use tract_onnx::pb;
    let model = edited_model(d.path(), "sigmoid.onnx", |p| {
        let g = p.graph.as_mut().unwrap();
        let out = g.output[0].name.clone();
        for o in g.node.iter_mut().flat_map(|n| n.output.iter_mut()) {
            if *o == out {
                *o = "logits_before_sigmoid".into();
            }
        }
        g.node.push(pb::NodeProto {
            op_type: "Sigmoid".into(),
            input: vec!["logits_before_sigmoid".into()],
            output: vec![out],
            ..Default::default()
        });
    });
    expect_bad_input(
        &encode(&model, &imgs, &o),
        &[
            "sigmoid.onnx",
            "its output comes from Sigmoid",
            "export the layer before",
        ],
    );

    // A network that takes [N, 1, 28, 28] (a convolution first): imsat feeds [N, 784] rows,
    // and tract's error from deep in the graph was all the user saw.
    let model = edited_model(d.path(), "rank4.onnx", |p| {
        rank4_graph::behind_a_convolution(p, false)
    });
    expect_bad_input(
        &encode(&model, &imgs, &o),
        &["rank4.onnx", "declared with 4 dimensions", "put a Reshape"],
    );
}

#[test]
fn onnx_model_of_the_wrong_task() {
    let d = tmp();
    let (imgs, cluster, x) = (
        images28(d.path()),
        models().cluster(),
        d.path().join("x.idx"),
    );
    let out = run(
        "index build --model {} --data {} --out {}",
        &[&cluster, &imgs, &x],
    );
    expect_bad_input(&out, &["cluster/model.onnx", "cluster", "use a hash model"]);
    assert!(!x.exists());
    expect_bad_input(
        &dedup(&cluster, &imgs),
        &["cluster/model.onnx", "use a hash model"],
    );

    let labels = write(d.path(), "l.idx", &idx_u8_bytes(&[5], &[0, 1, 2, 3, 4]));
    let command = "eval --model {} --data {} --labels {} --reference {}";
    let out = run(command, &[&models().hash_int8(), &imgs, &labels, &cluster]);
    expect_bad_input(&out, &["cluster/model.onnx", "cannot be compared"]);
}

#[test]
fn onnx_wrong_input_width() {
    let d = tmp();
    let (imgs, hash) = (images10(d.path()), models().hash());
    let needles = ["small.idx", "10x10", "do not fit", "784"];
    expect_bad_input(&encode(&hash, &imgs, &d.path().join("o")), &needles);
    let needles = ["small.idx", "10x10", "do not fit", "28x28"];
    expect_bad_input(&dedup(&hash, &imgs), &needles);
    // As many values as a digit, in another layout: not a digit (once encoded as one).
    let wide = write(
        d.path(),
        "wide.idx",
        &idx_u8_bytes(&[3, 14, 56], &[7; 3 * 784]),
    );
    let needles = [
        "wide.idx",
        "14x56",
        "do not fit",
        "28x28",
        "as many values, but rows and columns must match",
    ];
    expect_bad_input(&encode(&hash, &wide, &d.path().join("o")), &needles);
    let labels = write(d.path(), "l.idx", &idx_u8_bytes(&[10], &[0; 10]));
    let out = run(
        "eval --model {} --data {} --labels {}",
        &[&models().cluster(), &imgs, &labels],
    );
    expect_bad_input(&out, &["small.idx", "do not fit"]);
}

/// A photo model takes each photo as its four views (whole, centre, top, bottom; three planes
/// each), made from the file: an IDX file of one plane's size is refused with that said, by
/// encode and by dedup alike.
#[test]
fn idx_pixels_to_a_photo_model() {
    let d = tmp();
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/photo64.int8.onnx");
    let imgs = write(
        d.path(),
        "views.idx",
        &idx_u8_bytes(&[3, 16, 16], &[9; 768]),
    );
    let needles = [
        "views.idx",
        "256 values",
        "photo files (a folder)",
        "+centre75+top80+bottom80",
        "3072",
    ];
    expect_bad_input(&encode(&photo, &imgs, &d.path().join("o")), &needles);
    expect_bad_input(&dedup(&photo, &imgs), &needles);
    // Pixels as many as a photo's views are still no photo.
    let imgs = write(
        d.path(),
        "as_many.idx",
        &idx_u8_bytes(&[2, 48, 64], &[9; 2 * 3072]),
    );
    let needles = ["as_many.idx", "48x64", "photo files (a folder)"];
    expect_bad_input(&encode(&photo, &imgs, &d.path().join("o")), &needles);
}

// ---- index files -----------------------------------------------------------------------

/// A valid 8-bit index of 4 codes.
fn index_bytes() -> Vec<u8> {
    Index::from_codes(Codes::from_words(8, vec![1, 2, 3, 200]).unwrap()).to_bytes()
}

/// `imsat search --index INDEX --queries-raw-u64 QUERIES` plus `flags`.
fn search(index: &Path, queries: &Path, flags: &str) -> Output {
    run(
        &format!("search --index {{}} --queries-raw-u64 {{}} {flags}"),
        &[index, queries],
    )
}

/// Searches index bytes `bytes` (written as `name`) with one valid 8-bit query, loaded and
/// in place (memory-mapped): both must give the same answers and the same errors.
fn search_index(name: &str, bytes: &[u8]) -> Output {
    let d = tmp();
    let index = write(d.path(), name, bytes);
    let queries = write(d.path(), "q.u64", &1u64.to_le_bytes());
    let loaded = search(&index, &queries, "");
    let mapped = search(&index, &queries, "--in-place");
    assert_eq!(loaded.status.code(), mapped.status.code(), "{name}");
    assert_eq!(loaded.stderr, mapped.stderr, "{name}: errors");
    let answers = |o: &Output| {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let lines: Vec<String> = text.lines().map(String::from).collect();
        lines[..lines.len().saturating_sub(1)].to_vec()
    };
    assert_eq!(answers(&loaded), answers(&mapped), "{name}: answers");
    if loaded.status.success() {
        assert!(String::from_utf8_lossy(&mapped.stdout).contains("in place"));
    }
    loaded
}

#[test]
fn index_valid_file_is_searched() {
    let out = search_index("good.idx", &index_bytes());
    expect_success(&out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    // Query 0b1 against codes 1, 2, 3, 200: distances 0, 2, 1, 4.
    assert!(stdout.starts_with("0:0 2:1 1:2 3:4\n"), "{stdout}");
}

#[test]
fn index_files_that_are_damaged() {
    let good = index_bytes();
    let patched = |at: usize, new: &[u8]| {
        let mut b = good.clone();
        b[at..at + new.len()].copy_from_slice(new);
        b
    };
    let mut flipped = good.clone();
    let last_code = flipped.len() - 4 - 8;
    flipped[last_code] ^= 0x10;
    let cases: [(&str, Vec<u8>, &[&str]); 9] = [
        (
            "magic.idx",
            patched(0, b"NOTANIDX"),
            &["bad magic", "not an imsat index"],
        ),
        (
            "v7.idx",
            patched(8, &7u32.to_le_bytes()),
            &["format version 7 is not supported"],
        ),
        ("cut.idx", good[..good.len() - 9].to_vec(), &["truncated"]),
        ("tiny.idx", good[..10].to_vec(), &["too short"]),
        ("flip.idx", flipped, &["checksum mismatch"]),
        (
            "bits0.idx",
            patched(12, &0u32.to_le_bytes()),
            &["code width 0 is invalid"],
        ),
        (
            "more.idx",
            patched(16, &5u64.to_le_bytes()),
            &["truncated", "5 codes"],
        ),
        (
            "fewer.idx",
            patched(16, &3u64.to_le_bytes()),
            &["unexpected bytes"],
        ),
        (
            "huge.idx",
            patched(16, &u64::MAX.to_le_bytes()),
            &["impossibly large"],
        ),
    ];
    for (name, bytes, needles) in cases {
        expect_bad_input(&search_index(name, &bytes), &naming(name, needles));
    }
}

/// `imsat index import --raw-u64 RAW --bits BITS --out OUT` plus `flags`.
fn import(raw: &Path, bits: u32, out: &Path, flags: &str) -> Output {
    run(
        &format!("index import --raw-u64 {{}} --bits {bits} --out {{}} {flags}"),
        &[raw, out],
    )
}

#[test]
fn index_append_to_a_damaged_index() {
    let d = tmp();
    let mut b = index_bytes();
    b[30] ^= 1;
    let index = write(d.path(), "old.idx", &b);
    let raw = write(d.path(), "new.u64", &5u64.to_le_bytes());
    let out = import(&raw, 8, &index, "--append");
    expect_bad_input(&out, &["old.idx", "checksum mismatch"]);
    let after = std::fs::read(&index).unwrap();
    assert_eq!(after, b, "a damaged index is left as it was");
}

#[test]
fn index_append_past_the_largest_id() {
    let d = tmp();
    let full = Index::new(
        vec![0, u64::MAX - 1],
        Codes::from_words(8, vec![1, 2]).unwrap(),
    )
    .unwrap();
    let index = d.path().join("full.idx");
    full.save(&index).unwrap();
    let before = std::fs::read(&index).unwrap();
    let raw = write(
        d.path(),
        "new.u64",
        &[5u64, 6].map(u64::to_le_bytes).concat(),
    );
    let out = import(&raw, 8, &index, "--append");
    expect_bad_input(
        &out,
        &[
            "full.idx",
            "largest id is 18446744073709551614",
            "2 more ids",
        ],
    );
    assert_eq!(std::fs::read(&index).unwrap(), before);
    // One more id still fits.
    let one = write(d.path(), "one.u64", &5u64.to_le_bytes());
    let last = import(&one, 8, &index, "--append");
    expect_success(&last);
    assert_eq!(Index::load(&index).unwrap().ids().last(), Some(u64::MAX));
}

// ---- raw u64 code files ----------------------------------------------------------------

#[test]
fn raw_queries_that_do_not_fit_the_index() {
    let d = tmp();
    let index = write(d.path(), "good.idx", &index_bytes());
    let cases: [(&[u8], &str); 2] = [
        (
            &[1, 2, 3, 4, 5],
            "5 bytes is not a whole number of 8-bit codes",
        ),
        (&0x1ffu64.to_le_bytes(), "beyond its width of 8 bits"),
    ];
    for (bytes, needle) in cases {
        let queries = write(d.path(), "q.u64", bytes);
        expect_bad_input(&search(&index, &queries, ""), &["q.u64", needle]);
    }
    // Bits above the width suggest codes of another model; a width past the maximum does not.
    let queries = write(d.path(), "q.u64", &0x1ffu64.to_le_bytes());
    expect_bad_input(
        &search(&index, &queries, ""),
        &["made by a model of another width"],
    );
    let wide = imsat_runtime::code::MAX_BITS + 64;
    let zeros = write(d.path(), "zeros.u64", &vec![0; wide / 8]);
    let o = import(&zeros, wide as u32, &d.path().join("wide.idx"), "");
    let err = expect_bad_input(&o, &["exceeds the maximum"]);
    assert!(!err.contains("another width"), "{err}");
}

#[test]
fn raw_imports_that_cannot_be_indexed() {
    let d = tmp();
    let raw = write(d.path(), "none.u64", &[]);
    let out = import(&raw, 64, &d.path().join("x.idx"), "");
    expect_bad_input(&out, &["none.u64", "empty file"]);

    let index = write(d.path(), "good.idx", &index_bytes());
    let raw = write(d.path(), "new.u64", &5u64.to_le_bytes());
    let out = import(&raw, 16, &index, "--append");
    expect_bad_input(&out, &["good.idx", "8-bit codes, cannot append 16-bit"]);
    assert_eq!(std::fs::read(&index).unwrap(), index_bytes());
}

// ---- flags -----------------------------------------------------------------------------

#[test]
fn train_flags_out_of_range() {
    let d = tmp();
    let imgs = images28(d.path());
    let cases: [(&str, &str); 20] = [
        ("--task hash --bits 0", "--bits must be between 1 and"),
        (
            "--task hash --radius 3 --batch 5",
            "--radius and --soft-check set how a photo model deduplicates",
        ),
        // 100000 bits used to abort with a 40 GB allocation in the pairwise-MI term.
        (
            "--task hash --bits 100000",
            "--bits must be between 1 and 4096, got 100000",
        ),
        ("--classes 1", "--classes must be between 2 and"),
        (
            "--hidden 0 --batch 5",
            "hidden layer sizes must be positive",
        ),
        (
            "--hidden 100000000 --batch 5",
            "--hidden: layer size 100000000",
        ),
        (
            "--batch 100",
            "--batch 100 is larger than the data (5 samples)",
        ),
        ("--limit 0", "--limit must be at least 1"),
        (
            "--lr=NaN --batch 5",
            "--lr must be a finite non-negative number",
        ),
        (
            "--lr=-1 --batch 5",
            "--lr must be a finite non-negative number",
        ),
        (
            "--lr=inf --batch 5",
            "--lr must be a finite non-negative number",
        ),
        (
            "--lr=1e300 --batch 5",
            "--lr must be a finite non-negative number",
        ),
        // Used to pass validation and fail at step 0 with "the loss is NaN" (exit 1).
        (
            "--eps-scale nan --batch 5",
            "--eps-scale must be a finite non-negative number",
        ),
        (
            "--heads 0 --batch 5",
            "--heads must be between 1 and 64, got 0",
        ),
        (
            "--restarts 0 --batch 5",
            "--restarts must be between 1 and 32, got 0",
        ),
        (
            "--thickness 1.5 --batch 5",
            "--thickness is a probability between 0 and 1, got 1.5",
        ),
        (
            "--shear=-0.2 --batch 5",
            "--shear must be a finite non-negative number",
        ),
        // A SAT's own setting without that SAT changed nothing, silently.
        (
            "--sat vat --rotation 30 --batch 5",
            "--rotation tunes the affine SAT, which this run does not train (--sat vat)",
        ),
        (
            "--sat affine --eps-scale 0.5 --batch 5",
            "--eps-scale tunes the vat or rpt SAT",
        ),
        // Finite in f64 but infinite in f32, where training computes: used to fail at step 0.
        (
            "--lam 1e39 --batch 5",
            "--lam must be a finite non-negative number",
        ),
    ];
    for (flags, needle) in cases {
        expect_bad_input(&train_on(d.path(), &imgs, flags), &[needle]);
    }
    // Images one pixel high cannot be moved by the default affine SAT: said in those words.
    let varied: Vec<u8> = (0..5 * 28).map(|i| (i * 7 % 251) as u8).collect();
    let strips = write(d.path(), "strips.idx", &idx_u8_bytes(&[5, 1, 28], &varied));
    let out = train_on(d.path(), &strips, "--task hash --bits 8 --batch 5");
    expect_bad_input(&out, &["affine SAT", "1x28", "--sat"]);
    // Images all the same: nothing to learn, said before a model that gives them all one
    // code is trained and written.
    let same = write(
        d.path(),
        "same.idx",
        &idx_u8_bytes(&[5, 4, 4], &[9; 5 * 16]),
    );
    let out = train_on(d.path(), &same, "--task hash --bits 8 --batch 5 --sat vat");
    expect_bad_input(&out, &["same.idx", "every one of the 5 images is the same"]);
    let out = train_on(d.path(), &imgs, "--sat vat,blur --batch 5");
    expect_bad_input(&out, &["--sat", "unknown SAT kind `blur`"]);
    assert!(!d.path().join("out").exists());
    // The default batch follows data smaller than it (tests/cli/npy.rs), but one sample,
    // after --limit, is too little data to train on.
    let out = train_on(d.path(), &mnist_images(), "--limit 1");
    expect_bad_input(&out, &["--data", "1 sample", "at least 2"]);
}

#[test]
fn other_flags_out_of_range() {
    let d = tmp();
    let raw = write(d.path(), "c.u64", &[0; 8]);
    let out = import(&raw, 0, &d.path().join("x.idx"), "");
    expect_bad_input(&out, &["--bits must be at least 1"]);

    let index = write(d.path(), "good.idx", &index_bytes());
    let queries = write(d.path(), "q.u64", &1u64.to_le_bytes());
    expect_bad_input(
        &search(&index, &queries, "-k 0"),
        &["-k must be at least 1"],
    );
    let too_wide = ["--radius 9 is larger than the code width (8 bits)"];
    expect_bad_input(&search(&index, &queries, "--radius 9"), &too_wide);
    let out = run(
        "dedup --model {} --radius 9 {}",
        &[&models().hash(), &images28(d.path())],
    );
    expect_bad_input(&out, &too_wide);
    // The code width itself is a radius (every code within it of every other), and the
    // pixel check's bounds are 0 and 1, both given.
    let out = run(
        "dedup --json --model {} --radius 8 --min-similarity 0 {}",
        &[&models().hash(), &images28(d.path())],
    );
    expect_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&report["radius"], &report["group_members"]),
        (
            &serde_json::json!(8),
            &serde_json::json!([["0", "1", "2", "3", "4"]])
        ),
        "{report}"
    );
    let out = run(
        "dedup --json --model {} --min-similarity 1 {}",
        &[&models().hash(), &images28(d.path())],
    );
    expect_success(&out);
    for bad in ["1.5", "-0.1", "NaN"] {
        let out = run(
            &format!("dedup --model {{}} --min-similarity={bad} {{}}"),
            &[&models().hash(), &images28(d.path())],
        );
        expect_bad_input(&out, &["--min-similarity must be between 0 and 1"]);
    }

    let labels = mnist_images().with_file_name("labels-idx1-ubyte.gz");
    let command = "demo --out {} --data {} --labels {} --hash-epochs 0";
    let out = run(command, &[&d.path().join("demo"), &mnist_images(), &labels]);
    expect_bad_input(&out, &["--hash-epochs must be at least 1"]);
    let features = write(d.path(), "x.npy", b"\x93NUMPY\x01\x00");
    let out = run(command, &[&d.path().join("demo"), &features, &labels]);
    expect_bad_input(&out, &["x.npy: a .npy file", "imsat train --data"]);
    // On data smaller than the default batch of 500 it runs (it was refused as "batch 500 is
    // larger than the data"), and a second run replaces the first's folders whole.
    let images = imsat_trainer::data::read_idx_images(mnist_images()).unwrap();
    let labels = imsat_data::idx::read_idx_labels(&labels, 256).unwrap();
    let small = write(
        d.path(),
        "small-images.idx",
        &idx_u8_bytes(&[120, 28, 28], &images.pixels[..120 * 784]),
    );
    let small_labels = write(
        d.path(),
        "small-labels.idx",
        &idx_u8_bytes(
            &[120],
            &labels[..120].iter().map(|&l| l as u8).collect::<Vec<_>>(),
        ),
    );
    let command = "demo --out {} --data {} --labels {} --cluster-epochs 1 --hash-epochs 1";
    // Rows of values, not pictures: the demo's affine SAT has nothing to move (it advised a
    // --sat flag it does not have, exit 1).
    let rows = write(
        d.path(),
        "rows.idx",
        &idx_u8_bytes(&[120, 784], &images.pixels[..120 * 784]),
    );
    let out = run(
        command,
        &[&d.path().join("rows-demo"), &rows, &small_labels],
    );
    expect_bad_input(
        &out,
        &["rows.idx: images of shape 784", "imsat train --sat vat"],
    );
    assert!(!d.path().join("rows-demo").exists());
    let demo = d.path().join("small-demo");
    for _ in 0..2 {
        expect_success(&run(command, &[&demo, &small, &small_labels]));
        let hidden = std::fs::read_dir(demo.join("hash32"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .count();
        assert_eq!(hidden, 0, "a staging folder left");
        assert!(demo.join("hash32/model.int8.onnx").exists());
    }
}

// ---- output paths ----------------------------------------------------------------------

#[test]
fn output_in_a_missing_folder() {
    let d = tmp();
    let codes = d.path().join("no/such/codes.u64");
    let out = encode(&models().hash(), &images28(d.path()), &codes);
    expect_bad_input(&out, &["codes.u64", "does not exist"]);
    let raw = write(d.path(), "c.u64", &[0; 8]);
    let out = import(&raw, 8, &d.path().join("gone/x.idx"), "");
    expect_bad_input(&out, &["x.idx", "does not exist"]);
}

#[test]
fn output_that_is_a_folder_or_a_file() {
    let d = tmp();
    let imgs = images28(d.path());
    expect_bad_input(&encode(&models().hash(), &imgs, d.path()), &["is a folder"]);
    let out = run(
        "train --task cluster --data {} --out {} --batch 5",
        &[&imgs, &imgs],
    );
    expect_bad_input(&out, &["img28.idx", "is a file, expected a folder"]);
    // Below a file, no folder can be made: said before any work (it was exit status 1,
    // "Not a directory").
    let below = imgs.join("run");
    let out = run(
        "train --task cluster --data {} --out {} --batch 5",
        &[&imgs, &below],
    );
    expect_bad_input(
        &out,
        &[
            "img28.idx/run",
            "img28.idx is a file, so no folder can be made below it",
        ],
    );
    // Copy detection on a folder that is not there says so.
    let photo64 = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/photo64.int8.onnx");
    let out = run(
        "eval --task copy-detection --model {} --data {}",
        &[&photo64, &d.path().join("none")],
    );
    expect_bad_input(&out, &["none: not found"]);
}

// ---- training that diverges --------------------------------------------------------------

#[test]
fn diverging_training_stops_naming_the_step_and_the_term() {
    // lr 1e30 is a valid (finite) setting, but the first Adam step throws the weights to
    // ~1e30 and the second step's loss is NaN: training must stop there with exit status 1,
    // name the epoch, the step and the loss term, and write no model, nor leave the empty
    // folders it made for one.
    let d = tmp();
    let out_dir = d.path().join("runs").join("run");
    let command = "train --task hash --bits 8 --epochs 2 --limit 500 --hidden 32,32 --batch 100 \
                   --lr 1e30 --data {} --out {}";
    let out = run(command, &[&mnist_images(), &out_dir]);
    let line = expect_error(&out, 1, &["training diverged at epoch 1, step 2", " is "]);
    assert!(
        line.contains("is NaN") || line.contains("is inf") || line.contains("is -inf"),
        "{line}"
    );
    assert!(!d.path().join("runs").exists());
    // A folder that was there stays, as it was.
    std::fs::create_dir(d.path().join("mine")).unwrap();
    let out = run(command, &[&mnist_images(), &d.path().join("mine")]);
    expect_error(&out, 1, &["training diverged"]);
    assert!(d.path().join("mine").is_dir());
}

/// Raw words carry no width: 16-bit codes imported as `--bits 64` are taken without an
/// error, so a note says that no code uses the upper half of the width.
#[test]
fn raw_codes_narrower_than_bits_are_noted() {
    let d = tmp();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hash16.int8.onnx");
    let raw = d.path().join("codes.u64");
    expect_success(&run(
        "encode --model {} --data {} --out {}",
        &[&model, &mnist_images(), &raw],
    ));
    let out = d.path().join("codes.idx");
    let import = |bits: &str| {
        run(
            &format!("index import --raw-u64 {{}} --bits {bits} --out {{}}"),
            &[&raw, &out],
        )
    };
    let wide = import("64");
    expect_success(&wide);
    let said = stderr(&wide);
    assert!(
        said.contains("codes.u64: no code sets a bit above the lowest 16 of 64")
            && said.contains("--bits"),
        "{said}"
    );
    let right = import("16");
    expect_success(&right);
    assert!(!stderr(&right).contains("note:"), "{}", stderr(&right));
}

/// A faiss file or a `.npy` of codes given to `search --index` says what it is and the
/// command that makes an index of it (it said only "bad magic").
#[test]
fn a_faiss_or_npy_file_given_as_an_index_points_to_index_import() {
    let d = tmp();
    let raw = write(d.path(), "c.u64", &[1u8; 16]);
    let idx = d.path().join("c.idx");
    let import = "index import --raw-u64 {} --bits 64 --out {}";
    expect_success(&run(import, &[&raw, &idx]));
    for (format, name, flag) in [("faiss", "c.faiss", "--faiss"), ("npy", "c.npy", "--npy")] {
        let out = d.path().join(name);
        let export = format!("index export --index {{}} --format {format} --out {{}}");
        expect_success(&run(&export, &[&idx, &out]));
        let r = run("search --index {} --queries-raw-u64 {}", &[&out, &raw]);
        let import_it = format!("`imsat index import {flag} FILE --out INDEX`");
        expect_bad_input(&r, &[name, "not an imsat index", &import_it]);
    }
}
