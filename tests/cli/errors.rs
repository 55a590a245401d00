//! Bad input through the `imsat` binary: every case exits with status 2 and one line
//! `imsat: error: ...` naming the file (or flag) and the problem, and never panics.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{expect_bad_input, expect_error, imsat, s};
use std::sync::OnceLock;

use imsat_runtime::code::Codes;
use imsat_runtime::index::Index;
use imsat_trainer::data::idx_u8_bytes;
use prost::Message;

fn mnist_images() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist10k/images-idx3-ubyte.gz")
}

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
        for (name, task_args) in [
            ("hash", ["--task", "hash", "--bits", "8"]),
            ("cluster", ["--task", "cluster", "--classes", "10"]),
        ] {
            let out_dir = dir.join(name);
            let mut args = vec!["train"];
            args.extend(task_args);
            let data = mnist_images();
            args.extend([
                "--epochs",
                "1",
                "--limit",
                "500",
                "--hidden",
                "32,32",
                "--batch",
                "100",
                "--data",
                s(&data),
                "--out",
                s(&out_dir),
            ]);
            let out = imsat(&args);
            assert!(
                out.status.success(),
                "training {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Models { dir }
    })
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Five 28x28 images (all black) as a raw IDX file.
fn images28(dir: &tempfile::TempDir) -> PathBuf {
    write(dir, "img28.idx", &idx_u8_bytes(&[5, 28, 28], &[0; 5 * 784]))
}

/// `imsat train --task cluster --data PATH --out DIR/out` plus `extra`.
fn train_on(dir: &tempfile::TempDir, data: &Path, extra: &[&str]) -> Output {
    let out = dir.path().join("out");
    let mut args = vec![
        "train",
        "--task",
        "cluster",
        "--data",
        s(data),
        "--out",
        s(&out),
    ];
    args.extend_from_slice(extra);
    imsat(&args)
}

// ---- IDX image files -------------------------------------------------------------------

#[test]
fn idx_with_wrong_magic() {
    let d = tmp();
    let p = write(&d, "zip.idx", b"PK\x03\x04 this is a zip file");
    expect_bad_input(
        &train_on(&d, &p, &[]),
        &["zip.idx", "wrong magic", "not an IDX file"],
    );
}

#[test]
fn idx_truncated_payload() {
    let d = tmp();
    let mut bytes = idx_u8_bytes(&[5, 28, 28], &[0; 5 * 784]);
    bytes.truncate(bytes.len() - 100);
    let p = write(&d, "short.idx", &bytes);
    expect_bad_input(
        &train_on(&d, &p, &[]),
        &["short.idx", "truncated", "promises 3920 bytes"],
    );
}

#[test]
fn idx_truncated_inside_the_header() {
    let d = tmp();
    let p = write(&d, "head.idx", &[0, 0, 8, 3, 0, 0]);
    expect_bad_input(&train_on(&d, &p, &[]), &["head.idx", "truncated", "header"]);
}

#[test]
fn idx_header_larger_than_file() {
    // Four billion images promised, ten bytes present: refused before any allocation.
    let d = tmp();
    let p = write(
        &d,
        "huge.idx",
        &idx_u8_bytes(&[u32::MAX as usize, 28, 28], &[0; 10]),
    );
    expect_bad_input(
        &train_on(&d, &p, &[]),
        &["huge.idx", "truncated", "file has 10"],
    );
}

#[test]
fn idx_named_gz_but_not_gzip() {
    let d = tmp();
    let p = write(&d, "images.idx.gz", b"just some text, not gzip");
    expect_bad_input(
        &train_on(&d, &p, &[]),
        &["images.idx.gz", "not an IDX file"],
    );
}

#[test]
fn idx_corrupt_gzip_stream() {
    let d = tmp();
    let p = write(&d, "broken.gz", &[0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5]);
    expect_bad_input(&train_on(&d, &p, &[]), &["broken.gz", "corrupt gzip"]);
}

#[test]
fn idx_empty_file() {
    let d = tmp();
    let p = write(&d, "empty.idx", &[]);
    expect_bad_input(&train_on(&d, &p, &[]), &["empty.idx", "empty file"]);
}

#[test]
fn idx_missing_file() {
    let d = tmp();
    let p = d.path().join("nowhere.idx");
    expect_bad_input(&train_on(&d, &p, &[]), &["nowhere.idx", "cannot read"]);
}

#[test]
fn idx_label_file_given_as_images() {
    let d = tmp();
    let p = write(&d, "labels.idx", &idx_u8_bytes(&[3], &[0, 1, 2]));
    expect_bad_input(&train_on(&d, &p, &[]), &["labels.idx", "rank >= 2"]);
}

// ---- label files -----------------------------------------------------------------------

#[test]
fn labels_count_differs_from_images() {
    let d = tmp();
    let imgs = images28(&d);
    let labels = write(&d, "labels4.idx", &idx_u8_bytes(&[4], &[0, 1, 2, 3]));
    let out = train_on(&d, &imgs, &["--labels", s(&labels)]);
    expect_bad_input(&out, &["labels4.idx", "4 labels but 5 images"]);
}

#[test]
fn labels_of_an_unsupported_element_type() {
    // IDX type 0x0c (i32): label values outside u8 cannot be represented, so they are refused.
    let d = tmp();
    let imgs = images28(&d);
    let mut bytes = vec![0, 0, 0x0c, 1, 0, 0, 0, 5];
    bytes.extend_from_slice(&[0; 20]);
    let labels = write(&d, "labels_i32.idx", &bytes);
    let out = train_on(&d, &imgs, &["--labels", s(&labels)]);
    expect_bad_input(&out, &["labels_i32.idx", "0x0c is not supported"]);
}

#[test]
fn labels_that_are_an_image_file() {
    let d = tmp();
    let imgs = images28(&d);
    let out = imsat(&[
        "eval",
        "--model",
        s(&models().cluster()),
        "--data",
        s(&imgs),
        "--labels",
        s(&imgs),
    ]);
    expect_bad_input(&out, &["img28.idx", "a label file has rank 1"]);
}

// ---- folders of images -----------------------------------------------------------------

#[test]
fn folder_with_an_undecodable_image() {
    let d = tmp();
    let folder = d.path().join("photos");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("broken.png"), b"not a png at all").unwrap();
    let out = imsat(&["dedup", "--model", s(&models().hash()), s(&folder)]);
    expect_bad_input(&out, &["broken.png", "cannot decode image"]);
}

#[test]
fn folder_without_images() {
    let d = tmp();
    let folder = d.path().join("docs");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("notes.txt"), b"hello").unwrap();
    let out = imsat(&["dedup", "--model", s(&models().hash()), s(&folder)]);
    expect_bad_input(&out, &["docs", "no image files"]);
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
    let out = imsat(&[
        "encode",
        "--model",
        s(&models().hash()),
        "--data",
        s(&folder),
        "--out",
        s(&codes),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&codes).unwrap().len(), 3 * 8);
}

// ---- ONNX models -----------------------------------------------------------------------

#[test]
fn onnx_random_bytes() {
    let d = tmp();
    let bytes: Vec<u8> = (0u32..4096)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let model = write(&d, "noise.onnx", &bytes);
    let imgs = images28(&d);
    let out = imsat(&[
        "encode",
        "--model",
        s(&model),
        "--data",
        s(&imgs),
        "--out",
        s(&d.path().join("o")),
    ]);
    expect_bad_input(&out, &["noise.onnx", "not a valid ONNX model"]);
}

#[test]
fn onnx_empty_file() {
    let d = tmp();
    let model = write(&d, "empty.onnx", &[]);
    let imgs = images28(&d);
    let out = imsat(&["dedup", "--model", s(&model), s(&imgs)]);
    expect_bad_input(
        &out,
        &["empty.onnx", "not a valid ONNX model", "empty file"],
    );
}

#[test]
fn onnx_without_our_metadata() {
    let d = tmp();
    let bytes = std::fs::read(models().hash()).unwrap();
    let mut proto = tract_onnx::pb::ModelProto::decode(&bytes[..]).unwrap();
    assert!(!proto.metadata_props.is_empty());
    proto.metadata_props.clear();
    let model = write(&d, "plain.onnx", &proto.encode_to_vec());
    let imgs = images28(&d);
    let out = imsat(&[
        "encode",
        "--model",
        s(&model),
        "--data",
        s(&imgs),
        "--out",
        s(&d.path().join("o")),
    ]);
    expect_bad_input(
        &out,
        &[
            "plain.onnx",
            "not an imsat model",
            "imsat.format_version",
            "missing",
        ],
    );
}

#[test]
fn onnx_with_a_bad_metadata_value() {
    let d = tmp();
    let bytes = std::fs::read(models().hash()).unwrap();
    let mut proto = tract_onnx::pb::ModelProto::decode(&bytes[..]).unwrap();
    for p in &mut proto.metadata_props {
        if p.key == "imsat.task" {
            p.value = "segment".into();
        }
    }
    let model = write(&d, "task.onnx", &proto.encode_to_vec());
    let out = imsat(&["dedup", "--model", s(&model), s(&images28(&d))]);
    expect_bad_input(&out, &["task.onnx", "unknown task \"segment\""]);
}

#[test]
fn onnx_cluster_model_for_index_build() {
    let d = tmp();
    let out = imsat(&[
        "index",
        "build",
        "--model",
        s(&models().cluster()),
        "--data",
        s(&images28(&d)),
        "--out",
        s(&d.path().join("x.idx")),
    ]);
    expect_bad_input(&out, &["cluster/model.onnx", "cluster", "use a hash model"]);
    assert!(!d.path().join("x.idx").exists());
}

#[test]
fn onnx_cluster_model_for_dedup() {
    let d = tmp();
    let out = imsat(&["dedup", "--model", s(&models().cluster()), s(&images28(&d))]);
    expect_bad_input(&out, &["cluster/model.onnx", "use a hash model"]);
}

#[test]
fn onnx_reference_of_another_task() {
    let d = tmp();
    let imgs = images28(&d);
    let labels = write(&d, "l.idx", &idx_u8_bytes(&[5], &[0, 1, 2, 3, 4]));
    let out = imsat(&[
        "eval",
        "--model",
        s(&models().hash_int8()),
        "--data",
        s(&imgs),
        "--labels",
        s(&labels),
        "--reference",
        s(&models().cluster()),
    ]);
    expect_bad_input(&out, &["cluster/model.onnx", "cannot be compared"]);
}

/// Ten images of 10x10: they do not fit a 28x28 model.
fn images10(d: &tempfile::TempDir) -> PathBuf {
    write(d, "small.idx", &idx_u8_bytes(&[10, 10, 10], &[7; 1000]))
}

#[test]
fn onnx_wrong_input_width_for_encode() {
    let d = tmp();
    let out = imsat(&[
        "encode",
        "--model",
        s(&models().hash()),
        "--data",
        s(&images10(&d)),
        "--out",
        s(&d.path().join("o")),
    ]);
    expect_bad_input(&out, &["small.idx", "[10, 10]", "do not fit", "784"]);
}

#[test]
fn onnx_wrong_input_width_for_dedup() {
    let d = tmp();
    let out = imsat(&["dedup", "--model", s(&models().hash()), s(&images10(&d))]);
    expect_bad_input(&out, &["small.idx", "[10, 10]", "do not fit", "28x28"]);
}

#[test]
fn onnx_wrong_input_width_for_eval() {
    let d = tmp();
    let labels = write(&d, "l.idx", &idx_u8_bytes(&[10], &[0; 10]));
    let out = imsat(&[
        "eval",
        "--model",
        s(&models().cluster()),
        "--data",
        s(&images10(&d)),
        "--labels",
        s(&labels),
    ]);
    expect_bad_input(&out, &["small.idx", "do not fit"]);
}

// ---- index files -----------------------------------------------------------------------

/// A valid 8-bit index of 4 codes.
fn index_bytes() -> Vec<u8> {
    Index::from_codes(Codes::from_words(8, vec![1, 2, 3, 200]).unwrap()).to_bytes()
}

/// Searches index bytes `bytes` (written as `name`) with one valid 8-bit query, loaded and
/// in place (memory-mapped): both must give the same answers and the same errors.
fn search_index(name: &str, bytes: &[u8]) -> Output {
    let d = tmp();
    let index = write(&d, name, bytes);
    let queries = write(&d, "q.u64", &1u64.to_le_bytes());
    let args = [
        "search",
        "--index",
        s(&index),
        "--queries-raw-u64",
        s(&queries),
    ];
    let loaded = imsat(&args);
    let mapped = imsat(&[&args[..], &["--in-place"]].concat());
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    // Query 0b1 against codes 1, 2, 3, 200: distances 0, 2, 1, 4.
    assert!(stdout.starts_with("0:0 2:1 1:2 3:4\n"), "{stdout}");
}

#[test]
fn index_bad_magic() {
    let mut b = index_bytes();
    b[..8].copy_from_slice(b"NOTANIDX");
    expect_bad_input(
        &search_index("magic.idx", &b),
        &["magic.idx", "bad magic", "not an imsat index"],
    );
}

#[test]
fn index_bad_version() {
    let mut b = index_bytes();
    b[8..12].copy_from_slice(&7u32.to_le_bytes());
    expect_bad_input(
        &search_index("v7.idx", &b),
        &["v7.idx", "format version 7 is not supported"],
    );
}

#[test]
fn index_truncated() {
    let b = index_bytes();
    expect_bad_input(
        &search_index("cut.idx", &b[..b.len() - 9]),
        &["cut.idx", "truncated"],
    );
    expect_bad_input(
        &search_index("tiny.idx", &b[..10]),
        &["tiny.idx", "too short"],
    );
}

#[test]
fn index_checksum_mismatch() {
    let mut b = index_bytes();
    let last_code = b.len() - 4 - 8;
    b[last_code] ^= 0x10;
    expect_bad_input(
        &search_index("flip.idx", &b),
        &["flip.idx", "checksum mismatch"],
    );
}

#[test]
fn index_bit_width_zero() {
    let mut b = index_bytes();
    b[12..16].copy_from_slice(&0u32.to_le_bytes());
    expect_bad_input(
        &search_index("bits0.idx", &b),
        &["bits0.idx", "code width 0 is invalid"],
    );
}

#[test]
fn index_count_does_not_match_size() {
    let mut b = index_bytes();
    b[16..24].copy_from_slice(&5u64.to_le_bytes());
    expect_bad_input(
        &search_index("more.idx", &b),
        &["more.idx", "truncated", "5 codes"],
    );
    b[16..24].copy_from_slice(&3u64.to_le_bytes());
    expect_bad_input(
        &search_index("fewer.idx", &b),
        &["fewer.idx", "unexpected bytes"],
    );
    b[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    expect_bad_input(
        &search_index("huge.idx", &b),
        &["huge.idx", "impossibly large"],
    );
}

#[test]
fn index_append_to_a_damaged_index() {
    let d = tmp();
    let mut b = index_bytes();
    b[30] ^= 1;
    let index = write(&d, "old.idx", &b);
    let raw = write(&d, "new.u64", &5u64.to_le_bytes());
    let out = imsat(&[
        "index",
        "import",
        "--raw-u64",
        s(&raw),
        "--bits",
        "8",
        "--out",
        s(&index),
        "--append",
    ]);
    expect_bad_input(&out, &["old.idx", "checksum mismatch"]);
    assert_eq!(
        std::fs::read(&index).unwrap(),
        b,
        "a damaged index is left as it was"
    );
}

// ---- raw u64 code files ----------------------------------------------------------------

#[test]
fn raw_queries_of_the_wrong_length() {
    let d = tmp();
    let index = write(&d, "good.idx", &index_bytes());
    let queries = write(&d, "q.u64", &[1, 2, 3, 4, 5]);
    let out = imsat(&[
        "search",
        "--index",
        s(&index),
        "--queries-raw-u64",
        s(&queries),
    ]);
    expect_bad_input(
        &out,
        &["q.u64", "5 bytes is not a whole number of 8-bit codes"],
    );
}

#[test]
fn raw_queries_with_bits_beyond_the_width() {
    let d = tmp();
    let index = write(&d, "good.idx", &index_bytes());
    let queries = write(&d, "q.u64", &0x1ffu64.to_le_bytes());
    let out = imsat(&[
        "search",
        "--index",
        s(&index),
        "--queries-raw-u64",
        s(&queries),
    ]);
    expect_bad_input(&out, &["q.u64", "beyond its width of 8 bits"]);
}

#[test]
fn raw_import_empty_file() {
    let d = tmp();
    let raw = write(&d, "none.u64", &[]);
    let out = imsat(&[
        "index",
        "import",
        "--raw-u64",
        s(&raw),
        "--bits",
        "64",
        "--out",
        s(&d.path().join("x.idx")),
    ]);
    expect_bad_input(&out, &["none.u64", "empty file"]);
}

#[test]
fn raw_import_of_another_width_into_an_index() {
    let d = tmp();
    let index = write(&d, "good.idx", &index_bytes());
    let raw = write(&d, "new.u64", &5u64.to_le_bytes());
    let out = imsat(&[
        "index",
        "import",
        "--raw-u64",
        s(&raw),
        "--bits",
        "16",
        "--out",
        s(&index),
        "--append",
    ]);
    expect_bad_input(&out, &["good.idx", "8-bit codes, cannot append 16-bit"]);
    assert_eq!(std::fs::read(&index).unwrap(), index_bytes());
}

// ---- flags -----------------------------------------------------------------------------

#[test]
fn flag_bits_zero() {
    let d = tmp();
    let imgs = images28(&d);
    let out = imsat(&[
        "train",
        "--task",
        "hash",
        "--bits",
        "0",
        "--data",
        s(&imgs),
        "--out",
        s(&d.path().join("o")),
    ]);
    expect_bad_input(&out, &["--bits must be between 1 and"]);
    let raw = write(&d, "c.u64", &[0; 8]);
    let out = imsat(&[
        "index",
        "import",
        "--raw-u64",
        s(&raw),
        "--bits",
        "0",
        "--out",
        s(&d.path().join("x.idx")),
    ]);
    expect_bad_input(&out, &["--bits must be at least 1"]);
}

#[test]
fn flag_bits_too_large_to_train() {
    // 100000 bits used to abort with a 40 GB allocation in the pairwise-MI term.
    let d = tmp();
    let out = imsat(&[
        "train",
        "--task",
        "hash",
        "--bits",
        "100000",
        "--data",
        s(&images28(&d)),
        "--out",
        s(&d.path().join("o")),
    ]);
    expect_bad_input(&out, &["--bits must be between 1 and 4096, got 100000"]);
    assert!(!d.path().join("o").exists());
}

#[test]
fn flag_classes_one() {
    let d = tmp();
    let out = train_on(&d, &images28(&d), &["--classes", "1"]);
    expect_bad_input(&out, &["--classes must be between 2 and"]);
}

#[test]
fn flag_hidden_zero_or_huge() {
    let d = tmp();
    let imgs = images28(&d);
    let out = train_on(&d, &imgs, &["--hidden", "0", "--batch", "5"]);
    expect_bad_input(&out, &["hidden layer sizes must be positive"]);
    let out = train_on(&d, &imgs, &["--hidden", "100000000", "--batch", "5"]);
    expect_bad_input(&out, &["--hidden", "100000000"]);
}

#[test]
fn flag_k_zero() {
    let d = tmp();
    let index = write(&d, "good.idx", &index_bytes());
    let queries = write(&d, "q.u64", &1u64.to_le_bytes());
    let out = imsat(&[
        "search",
        "--index",
        s(&index),
        "--queries-raw-u64",
        s(&queries),
        "-k",
        "0",
    ]);
    expect_bad_input(&out, &["-k must be at least 1"]);
}

#[test]
fn flag_radius_beyond_the_bits() {
    let d = tmp();
    let index = write(&d, "good.idx", &index_bytes());
    let queries = write(&d, "q.u64", &1u64.to_le_bytes());
    let out = imsat(&[
        "search",
        "--index",
        s(&index),
        "--queries-raw-u64",
        s(&queries),
        "--radius",
        "9",
    ]);
    expect_bad_input(&out, &["--radius 9 is larger than the code width (8 bits)"]);
    let out = imsat(&[
        "dedup",
        "--model",
        s(&models().hash()),
        "--radius",
        "9",
        s(&images28(&d)),
    ]);
    expect_bad_input(&out, &["--radius 9 is larger than the code width (8 bits)"]);
}

#[test]
fn flag_batch_larger_than_the_data() {
    let d = tmp();
    let out = train_on(&d, &images28(&d), &["--batch", "100"]);
    expect_bad_input(&out, &["--batch 100 is larger than the data (5 samples)"]);
    // The default batch too, and after --limit.
    let data = mnist_images();
    let out = train_on(&d, &data, &["--limit", "50"]);
    expect_bad_input(&out, &["is larger than the data (50 samples)"]);
}

#[test]
fn flag_limit_zero() {
    let d = tmp();
    let out = train_on(&d, &images28(&d), &["--limit", "0"]);
    expect_bad_input(&out, &["--limit must be at least 1"]);
}

#[test]
fn flag_lr_nan_negative_or_infinite() {
    let d = tmp();
    let imgs = images28(&d);
    for lr in ["NaN", "-1", "inf", "1e300"] {
        let flag = format!("--lr={lr}");
        let out = train_on(&d, &imgs, &[&flag, "--batch", "5"]);
        expect_bad_input(&out, &["--lr must be a finite non-negative number"]);
    }
}

#[test]
fn flag_eps_scale_nan() {
    // Used to pass validation and fail at step 0 with "the loss is NaN" (exit 1).
    let d = tmp();
    let out = train_on(&d, &images28(&d), &["--eps-scale", "nan", "--batch", "5"]);
    expect_bad_input(&out, &["--eps-scale must be a finite non-negative number"]);
}

#[test]
fn flag_heads_zero() {
    let d = tmp();
    let out = train_on(&d, &images28(&d), &["--heads", "0", "--batch", "5"]);
    expect_bad_input(&out, &["--heads must be between 1 and 64, got 0"]);
}

#[test]
fn flag_thickness_above_one() {
    let d = tmp();
    let out = train_on(&d, &images28(&d), &["--thickness", "1.5", "--batch", "5"]);
    expect_bad_input(
        &out,
        &["--thickness is a probability between 0 and 1, got 1.5"],
    );
}

#[test]
fn flag_shear_negative() {
    let d = tmp();
    let out = train_on(&d, &images28(&d), &["--shear=-0.2", "--batch", "5"]);
    expect_bad_input(&out, &["--shear must be a finite non-negative number"]);
}

#[test]
fn flag_lam_beyond_f32() {
    // Finite in f64 but infinite in f32, where training computes: used to fail at step 0.
    let d = tmp();
    let out = train_on(&d, &images28(&d), &["--lam", "1e39", "--batch", "5"]);
    expect_bad_input(&out, &["--lam must be a finite non-negative number"]);
}

#[test]
fn flag_unknown_sat_kind() {
    let d = tmp();
    let out = train_on(&d, &images28(&d), &["--sat", "vat,blur", "--batch", "5"]);
    expect_bad_input(&out, &["--sat", "unknown SAT kind `blur`"]);
}

#[test]
fn demo_with_zero_epochs() {
    let d = tmp();
    let out = imsat(&[
        "demo",
        "--out",
        s(&d.path().join("demo")),
        "--data",
        s(&mnist_images()),
        "--labels",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/mnist10k/labels-idx1-ubyte.gz"
        ),
        "--hash-epochs",
        "0",
    ]);
    expect_bad_input(&out, &["--hash-epochs must be at least 1"]);
}

// ---- output paths ----------------------------------------------------------------------

#[test]
fn output_in_a_missing_folder() {
    let d = tmp();
    let out_path = d.path().join("no/such/codes.u64");
    let out = imsat(&[
        "encode",
        "--model",
        s(&models().hash()),
        "--data",
        s(&images28(&d)),
        "--out",
        s(&out_path),
    ]);
    expect_bad_input(&out, &["codes.u64", "does not exist"]);
    let raw = write(&d, "c.u64", &[0; 8]);
    let out = imsat(&[
        "index",
        "import",
        "--raw-u64",
        s(&raw),
        "--bits",
        "8",
        "--out",
        s(&d.path().join("gone/x.idx")),
    ]);
    expect_bad_input(&out, &["x.idx", "does not exist"]);
}

#[test]
fn output_that_is_a_folder() {
    let d = tmp();
    let out = imsat(&[
        "encode",
        "--model",
        s(&models().hash()),
        "--data",
        s(&images28(&d)),
        "--out",
        s(d.path()),
    ]);
    expect_bad_input(&out, &["is a folder"]);
}

#[test]
fn train_output_folder_that_is_a_file() {
    let d = tmp();
    let imgs = images28(&d);
    let out = imsat(&[
        "train",
        "--task",
        "cluster",
        "--data",
        s(&imgs),
        "--out",
        s(&imgs),
        "--batch",
        "5",
    ]);
    expect_bad_input(&out, &["img28.idx", "is a file, expected a folder"]);
}

// ---- training that diverges --------------------------------------------------------------

#[test]
fn diverging_training_stops_naming_the_step_and_the_term() {
    // lr 1e30 is a valid (finite) setting, but the first Adam step throws the weights to
    // ~1e30 and the second step's loss is NaN: training must stop there with exit status 1,
    // name the epoch, the step and the loss term, and write no model.
    let d = tmp();
    let out_dir = d.path().join("run");
    let data = mnist_images();
    let out = imsat(&[
        "train",
        "--task",
        "hash",
        "--bits",
        "8",
        "--epochs",
        "2",
        "--limit",
        "500",
        "--hidden",
        "32,32",
        "--batch",
        "100",
        "--lr",
        "1e30",
        "--data",
        s(&data),
        "--out",
        s(&out_dir),
    ]);
    let line = expect_error(&out, 1, &["training diverged at epoch 1, step 2", " is "]);
    assert!(
        line.contains("is NaN") || line.contains("is inf") || line.contains("is -inf"),
        "{line}"
    );
    assert!(!out_dir.join("model.onnx").exists());
    assert!(!out_dir.join("report.json").exists());
}
