//! Codes out to faiss and back, checked with the faiss Python package (`pip install
//! faiss-cpu`; `.ci/run` installs it): `imsat index export --format faiss` opens with
//! `faiss.read_index_binary`, and its k-NN answers equal `imsat search`'s, ids and distances,
//! ties included (both order equal distances by id); an IndexBinaryFlat written by faiss
//! imports and searches the same; other faiss indexes are refused. Without faiss the test
//! fails unless IMSAT_ALLOW_SKIP=1.

use std::path::{Path, PathBuf};

use crate::common::{
    expect_bad_input, expect_success, imsat, mnist_images, python_with, run as cli, s,
};

use imsat_runtime::code::Codes;
use imsat_runtime::index::Index;

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "imsat failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `imsat search -k K --json`: (ids, distances) per query.
fn imsat_knn(index: &Path, queries: &Path, k: usize) -> Vec<(Vec<u64>, Vec<u64>)> {
    let k = k.to_string();
    let out = ok(&imsat(&[
        "search",
        "--index",
        s(index),
        "--queries-raw-u64",
        s(queries),
        "-k",
        &k,
        "--json",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    lines[..lines.len() - 1]
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let list = |key: &str| -> Vec<u64> {
                v[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap())
                    .collect()
            };
            (list("ids"), list("distances"))
        })
        .collect()
}

const FAISS_SCRIPT: &str = r#"
import json, sys, numpy as np, faiss
exported, codes_npy, queries_npy, k, written = sys.argv[1:6]
k = int(k)
codes = np.load(codes_npy)
queries = np.load(queries_npy)
assert codes.dtype == np.uint8 and codes.ndim == 2, (codes.dtype, codes.shape)
index = faiss.read_index_binary(exported)
assert isinstance(index, faiss.IndexBinaryFlat), type(index)
assert index.d == 8 * codes.shape[1] and index.ntotal == codes.shape[0], (index.d, index.ntotal)
# The exported codes are the .npy codes, byte for byte.
assert np.array_equal(faiss.vector_to_array(index.xb).reshape(codes.shape), codes)
fresh = faiss.IndexBinaryFlat(8 * codes.shape[1])
fresh.add(codes)
faiss.write_index_binary(fresh, written)
for idx in (index, fresh):
    D, I = idx.search(queries, k)
    for d, i in zip(D, I):
        print(json.dumps({"ids": i.tolist(), "distances": d.tolist()}))
"#;

/// faiss's answers (read from the exported file, then from a fresh index of the `.npy`
/// codes): two lists of (ids, distances) per query.
type Answers = Vec<(Vec<u64>, Vec<u64>)>;

fn faiss_knn(
    exported: &Path,
    codes: &Path,
    queries: &Path,
    k: usize,
    written: &Path,
) -> [Answers; 2] {
    let out = std::process::Command::new("python3")
        .args(["-c", FAISS_SCRIPT])
        .args([exported, codes, queries])
        .arg(k.to_string())
        .arg(written)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "faiss script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Answers = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let list = |key: &str| -> Vec<u64> {
                v[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_i64().unwrap() as u64)
                    .collect()
            };
            (list("ids"), list("distances"))
        })
        .collect();
    let half = rows.len() / 2;
    [rows[..half].to_vec(), rows[half..].to_vec()]
}

fn write_raw(path: &Path, codes: &Codes) {
    let bytes: Vec<u8> = codes
        .as_words()
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    std::fs::write(path, bytes).unwrap();
}

/// The whole round trip on one index: export to faiss and to .npy, faiss's answers equal
/// imsat's (ties included), and faiss's own file imports back to the same codes.
fn round_trip(dir: &Path, index_path: &Path, queries: &Codes, k: usize) -> usize {
    let index = Index::load(index_path).unwrap();
    let exported = dir.join("exported.faiss");
    let codes_npy = dir.join("codes.npy");
    ok(&cli(
        "index export --index {} --format faiss --out {}",
        &[index_path, &exported],
    ));
    ok(&cli(
        "index export --index {} --format npy --out {}",
        &[index_path, &codes_npy],
    ));
    // The queries as both raw words (imsat) and .npy bytes (faiss).
    let q_raw = dir.join("q.u64");
    write_raw(&q_raw, queries);
    let q_index = dir.join("q.index");
    ok(&imsat(&[
        "index",
        "import",
        "--raw-u64",
        s(&q_raw),
        "--bits",
        &queries.bits().to_string(),
        "--out",
        s(&q_index),
    ]));
    let q_npy = dir.join("q.npy");
    ok(&cli(
        "index export --index {} --format npy --out {}",
        &[&q_index, &q_npy],
    ));
    let written = dir.join("written.faiss");
    let want = imsat_knn(index_path, &q_raw, k);
    let [from_export, from_fresh] = faiss_knn(&exported, &codes_npy, &q_npy, k, &written);
    assert_eq!(want.len(), queries.len());
    assert_eq!(
        from_export, want,
        "faiss on the exported file vs imsat search"
    );
    assert_eq!(from_fresh, want, "faiss on the .npy codes vs imsat search");
    // Ties: queries whose answers hold equal distances, which both order by id.
    let ties = want
        .iter()
        .filter(|(_, d)| d.windows(2).any(|w| w[0] == w[1]))
        .count();
    // faiss's own file back into imsat, at the index's width.
    let imported = dir.join("imported.index");
    ok(&imsat(&[
        "index",
        "import",
        "--faiss",
        s(&written),
        "--bits",
        &index.bits().to_string(),
        "--out",
        s(&imported),
    ]));
    assert_eq!(
        Index::load(&imported).unwrap().codes(),
        index.codes(),
        "codes after faiss -> imsat"
    );
    assert_eq!(imsat_knn(&imported, &q_raw, k), want);
    ties
}

/// 10,000 MNIST codes of the bundled 64-bit model, the first 200 as queries (each finds
/// itself, and duplicates tie).
#[test]
fn mnist_hash64_codes_give_faiss_the_answers_of_imsat_search() {
    if !python_with("faiss, numpy", "faiss (pip install faiss-cpu) and numpy") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let index_path = dir.path().join("mnist.index");
    let model = root.join("models/hash64.onnx");
    let images = mnist_images();
    ok(&cli(
        "index build --model {} --data {} --out {}",
        &[&model, &images, &index_path],
    ));
    let index = Index::load(&index_path).unwrap();
    let words = index.codes().as_words()[..200].to_vec();
    let queries = Codes::from_words(64, words).unwrap();
    let ties = round_trip(dir.path(), &index_path, &queries, 10);
    println!("mnist 64-bit: 200 queries, {ties} with tied distances");
    assert!(ties > 0, "no ties: the tie order went unchecked");
}

/// The whole chain from feature vectors: `imsat train --data x.npy` (the npy tests' feature
/// hash), `imsat encode --out codes.npy`, an index of those codes, then faiss: the same
/// neighbours as `imsat search`.
#[test]
fn codes_of_a_hash_trained_on_npy_features_give_faiss_the_answers_of_imsat_search() {
    if !python_with("faiss, numpy", "faiss (pip install faiss-cpu) and numpy") {
        return;
    }
    let f = crate::npy::fixture();
    let dir = tempfile::tempdir().unwrap();
    let codes_npy = dir.path().join("codes.npy");
    let index_path = dir.path().join("features.index");
    ok(&cli(
        "encode --model {} --data {} --out {}",
        &[&f.hash(), &f.x(), &codes_npy],
    ));
    ok(&cli(
        "index import --npy {} --out {}",
        &[&codes_npy, &index_path],
    ));
    let index = Index::load(&index_path).unwrap();
    let bits = index.bits();
    let wpc = index.codes().words_per_code();
    let words = index.codes().as_words()[..50 * wpc].to_vec();
    let queries = Codes::from_words(bits, words).unwrap();
    let ties = round_trip(dir.path(), &index_path, &queries, 10);
    println!("features {bits}-bit: 50 queries, {ties} with tied distances");
}

/// 12-bit codes (padded to 16 bits in faiss) with many exact duplicates: ties everywhere.
#[test]
fn odd_width_codes_with_many_ties_round_trip() {
    if !python_with("faiss, numpy", "faiss (pip install faiss-cpu) and numpy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut state = 7u64;
    let words: Vec<u64> = (0..3000)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) & 0x0f0f & 0xfff
        })
        .collect();
    let codes = Codes::from_words(12, words).unwrap();
    let raw = dir.path().join("codes.u64");
    write_raw(&raw, &codes);
    let index_path = dir.path().join("c.index");
    ok(&cli(
        "index import --raw-u64 {} --bits 12 --out {}",
        &[&raw, &index_path],
    ));
    let queries = Codes::from_words(12, codes.as_words()[..100].to_vec()).unwrap();
    let ties = round_trip(dir.path(), &index_path, &queries, 10);
    assert_eq!(ties, 100);
    // The export appended back: its codes read as 16 bits unless told the index's width.
    let exported = dir.path().join("exported.faiss");
    let append = "index import --faiss {} --out {} --append";
    let out = cli(append, &[&exported, &index_path]);
    expect_bad_input(&out, &["12-bit", "16-bit", "give --bits 12"]);
    ok(&cli(
        &format!("{append} --bits 12"),
        &[&exported, &index_path],
    ));
    assert_eq!(Index::load(&index_path).unwrap().len(), 6000);
}

/// faiss indexes other than IndexBinaryFlat are refused, naming the file and the kind.
#[test]
fn other_faiss_indexes_are_refused() {
    if !python_with("faiss, numpy", "faiss (pip install faiss-cpu) and numpy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
import sys, numpy as np, faiss
d = sys.argv[1]
x = np.arange(32, dtype=np.uint8).reshape(16, 2)
m = faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(16))
m.add_with_ids(x, np.arange(16) + 100)
faiss.write_index_binary(m, d + "/idmap.faiss")
h = faiss.IndexBinaryHNSW(16, 8)
h.add(x)
faiss.write_index_binary(h, d + "/hnsw.faiss")
for name, index in [("multihash", faiss.IndexBinaryMultiHash(16, 2, 8)), ("hash", faiss.IndexBinaryHash(16, 8))]:
    index.add(x)
    faiss.write_index_binary(index, d + "/" + name + ".faiss")
f = faiss.IndexFlatL2(4)
f.add(np.zeros((3, 4), dtype=np.float32))
faiss.write_index(f, d + "/float.faiss")
"#;
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let out = dir.path().join("x.index");
    for (name, needles) in [
        (
            "idmap.faiss",
            &["IndexBinaryIDMap", "only IndexBinaryFlat"][..],
        ),
        (
            "hnsw.faiss",
            &["IndexBinaryHNSW", "only IndexBinaryFlat"][..],
        ),
        // Its fourcc (IBHm) was taken for a float index's.
        (
            "multihash.faiss",
            &["IndexBinaryMultiHash", "only IndexBinaryFlat"][..],
        ),
        (
            "hash.faiss",
            &["IndexBinaryHash ", "only IndexBinaryFlat"][..],
        ),
        ("float.faiss", &["float", "only IndexBinaryFlat"][..]),
    ] {
        let p: PathBuf = dir.path().join(name);
        let o = cli("index import --faiss {} --out {}", &[&p, &out]);
        let mut needles = needles.to_vec();
        needles.push(name);
        expect_bad_input(&o, &needles);
    }
    // An imsat index given as a faiss one is named as what it is.
    let raw = dir.path().join("codes.u64");
    std::fs::write(&raw, [7u64, 9, 11].map(u64::to_le_bytes).concat()).unwrap();
    let ours = dir.path().join("ours.idx");
    let o = cli(
        "index import --raw-u64 {} --bits 16 --out {}",
        &[&raw, &ours],
    );
    expect_success(&o);
    let o = cli("index import --faiss {} --out {}", &[&ours, &out]);
    expect_bad_input(&o, &["ours.idx", "an imsat index file, not a faiss one"]);
}

/// An export whose file name says another format is refused before anything is written
/// (faiss bytes in `x.npy` failed only in `np.load`); an index whose ids are not its rows
/// exports to `.npy` with a note that the ids are not in it.
#[test]
fn export_refuses_a_name_of_another_format_and_notes_ids_it_leaves_out() {
    let dir = tempfile::tempdir().unwrap();
    let index_path = dir.path().join("ids.idx");
    let codes = Codes::from_words(16, vec![3, 5, 9]).unwrap();
    Index::new(vec![0, 5, 1 << 40], codes)
        .unwrap()
        .save(&index_path)
        .unwrap();
    for (format, name, says) in [
        (
            "faiss",
            "x.npy",
            "its name says a .npy array, but --format faiss writes",
        ),
        (
            "npy",
            "x.faiss",
            "its name says a faiss index, but --format npy writes",
        ),
        ("npy", "x.NPZ", "its name says an .npz archive"),
        ("faiss", "x.idx", "its name says an imsat index"),
    ] {
        let out = dir.path().join(name);
        let command = format!("index export --index {{}} --format {format} --out {{}}");
        expect_bad_input(&cli(&command, &[&index_path, &out]), &[name, says]);
        assert!(!out.exists());
    }
    let npy = dir.path().join("codes.npy");
    let o = cli(
        "index export --index {} --format npy --out {}",
        &[&index_path, &npy],
    );
    expect_success(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("its ids are not the rows 0..N-1 (row 1 has id 5)") && err.contains("no ids"),
        "{err}"
    );
    let plain = dir.path().join("plain.idx");
    Index::from_codes(Codes::from_words(16, vec![1]).unwrap())
        .save(&plain)
        .unwrap();
    let o = cli(
        "index export --index {} --format npy --out {}",
        &[&plain, &dir.path().join("p.npy")],
    );
    expect_success(&o);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("note:"));
}
