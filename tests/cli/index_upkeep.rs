//! Keeping an index. `imsat index remove`: photos deleted from a library leave its index and
//! card together (`--missing`), rows leave by id (`--ids`), the other rows keep their ids and
//! names, and what cannot be done safely (an unknown id, every file gone, no card to go by)
//! is refused with the index untouched. `imsat index info` describes the index and its card,
//! checked. Real photos and the shipped `photo64`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::{expect_bad_input, run, s};
use crate::photo_search::{folders, json_lines, model};

fn card(index: &Path) -> Value {
    let mut path = index.as_os_str().to_owned();
    path.push(".names.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn deleted_photos_leave_the_index_with_their_names() {
    let (d, lib, new) = folders();
    // A copy of the model, which is later rewritten and deleted.
    let (m, idx) = (d.path().join("photo64.int8.onnx"), d.path().join("lib.idx"));
    std::fs::copy(model("photo64.int8.onnx"), &m).unwrap();
    json_lines(&run(
        "index build --model {} --data {} --out {}",
        &[&m, &lib, &idx],
    ));
    let (info, _) = json_lines(&run("index info --index {}", &[&idx]));
    let info = &info[0];
    let (sha, card_now) = (card(&idx)["model_sha256"].clone(), &info["card"]);
    assert_eq!(
        (
            &info["codes"],
            &info["bits"],
            &info["first_id"],
            &info["last_id"]
        ),
        (&json!(8), &json!(64), &json!(0), &json!(7)),
        "{info}"
    );
    assert_eq!(
        (&info["ids_are_rows"], &info["format_version"]),
        (&json!(true), &json!(1))
    );
    assert_eq!(
        info["bytes"].as_u64(),
        Some(std::fs::metadata(&idx).unwrap().len())
    );
    assert_eq!(
        (&card_now["fits"], &card_now["model_sha256"]),
        (&json!(true), &sha)
    );
    assert_eq!(
        (&card_now["named_rows"], &card_now["model"]),
        (&json!(8), &json!(s(&m)))
    );
    assert_eq!(
        (
            &card_now["model_at_path"],
            &card_now["soft_codes"],
            &card_now["flatness"]
        ),
        (&json!("the same file"), &json!(true), &json!(true)),
        "{info}"
    );
    let search = || {
        json_lines(&run(
            "search --index {} --model {} --query {} -k 8 --json",
            &[&idx, &m, &lib],
        ))
        .0
    };
    // Each library photo finds itself first, by its id and name.
    let before = search();
    let names: Vec<Value> = card(&idx)["names"].as_array().unwrap().clone();
    for (row, line) in before[..8].iter().enumerate() {
        assert_eq!(line["ids"][0], row, "{line}");
        assert_eq!(line["names"][0], names[row], "{line}");
    }
    // 0001.jpg (id 0) and 0051.jpg (id 2) are deleted.
    std::fs::remove_file(lib.join("0001.jpg")).unwrap();
    std::fs::remove_file(lib.join("0051.jpg")).unwrap();
    let bytes = std::fs::read(&idx).unwrap();
    let (dry, stderr) = json_lines(&run("index remove --index {} --missing --dry-run", &[&idx]));
    assert_eq!(dry[0]["removed_ids"], json!([0, 2]), "{}", dry[0]);
    assert_eq!(dry[0]["codes"], 6);
    assert!(
        stderr.contains("would remove id 2: ") && stderr.contains("0051.jpg"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&idx).unwrap(),
        bytes,
        "a dry run changes nothing"
    );

    let (removed, stderr) = json_lines(&run("index remove --index {} --missing", &[&idx]));
    assert_eq!(removed[0]["removed_ids"], json!([0, 2]), "{}", removed[0]);
    assert_eq!(removed[0]["codes"], 6);
    assert!(
        stderr.contains("removed id 0: ") && stderr.contains("0001.jpg"),
        "{stderr}"
    );
    let after = card(&idx);
    let kept: Vec<Value> = [1, 3, 4, 5, 6, 7]
        .iter()
        .map(|&r| names[r].clone())
        .collect();
    assert_eq!(after["names"], json!(kept));
    assert_eq!(
        after["flatness"].as_array().map(Vec::len),
        Some(6),
        "{after}"
    );
    // The other photos keep their ids, names and soft codes (a distance of 0 to themselves).
    let now = search();
    for (line, (&id, name)) in now[..6].iter().zip([1, 3, 4, 5, 6, 7].iter().zip(&kept)) {
        assert_eq!(
            (&line["ids"][0], &line["names"][0]),
            (&json!(id), name),
            "{line}"
        );
        assert_eq!(line["soft_distances"][0], 0.0, "{line}");
        assert_eq!(line["ids"].as_array().unwrap().len(), 6, "{line}");
    }
    let (info, _) = json_lines(&run("index info --index {}", &[&idx]));
    assert_eq!(
        (
            &info[0]["codes"],
            &info[0]["first_id"],
            &info[0]["ids_are_rows"]
        ),
        (&json!(6), &json!(1), &json!(false)),
        "{}",
        info[0]
    );
    assert_eq!(info[0]["card"]["named_rows"], 6);
    // The copy of 0051.jpg no longer finds it.
    let (copy, _) = json_lines(&run(
        "search --index {} --model {} --query {} -k 1 --json",
        &[&idx, &m, &new.join("copy_of_0051.jpg")],
    ));
    assert_ne!(copy[0]["names"][0], s(&lib.join("0051.jpg")));

    // By id: all present, or nothing is removed.
    let bytes = std::fs::read(&idx).unwrap();
    let out = run("index remove --index {} --ids 3,2,99", &[&idx]);
    expect_bad_input(
        &out,
        &["lib.idx", "no entry of id 2, 99", "nothing was removed"],
    );
    assert_eq!(std::fs::read(&idx).unwrap(), bytes);
    let (by_id, _) = json_lines(&run("index remove --index {} --ids 7,3,7", &[&idx]));
    assert_eq!(by_id[0]["removed_ids"], json!([3, 7]));
    assert_eq!(card(&idx)["names"].as_array().unwrap().len(), 4);
    // Appending the folder again adds back the two photos still in it, after the largest id
    // left (6): 0076.jpg as 7 (0136.jpg's id until it was removed), 0136.jpg as 8.
    let (appended, _) = json_lines(&run(
        "index build --model {} --data {} --out {} --append",
        &[&m, &lib, &idx],
    ));
    assert_eq!(appended[0]["codes"], 6);
    let last = &search()[5];
    assert_eq!(last["names"][0], s(&lib.join("0136.jpg")), "{last}");
    assert_eq!(last["ids"][0], 8, "{last}");

    // The card's model rewritten, then gone.
    let model_at_path =
        || json_lines(&run("index info --index {}", &[&idx])).0[0]["card"]["model_at_path"].clone();
    std::fs::write(&m, b"not the model").unwrap();
    assert_eq!(model_at_path(), "another file");
    std::fs::remove_file(&m).unwrap();
    assert_eq!(model_at_path(), "missing");

    // Every file gone (the folder moved): refused, nothing removed.
    std::fs::rename(&lib, d.path().join("moved")).unwrap();
    let bytes = std::fs::read(&idx).unwrap();
    let out = run("index remove --index {} --missing", &[&idx]);
    expect_bad_input(
        &out,
        &[
            "every one of the 6 files",
            "not mounted",
            "Nothing was removed",
        ],
    );
    assert_eq!(std::fs::read(&idx).unwrap(), bytes);
    // One photo indexed, then deleted: its row goes (one file is no folder that moved), and
    // the index is left empty, with its card.
    let (one, one_idx) = (d.path().join("one"), d.path().join("one.idx"));
    std::fs::create_dir_all(&one).unwrap();
    std::fs::copy(d.path().join("moved/0026.jpg"), one.join("0026.jpg")).unwrap();
    json_lines(&run(
        "index build --model {} --data {} --out {}",
        &[&model("photo64.int8.onnx"), &one, &one_idx],
    ));
    std::fs::remove_file(one.join("0026.jpg")).unwrap();
    let (removed, _) = json_lines(&run("index remove --index {} --missing", &[&one_idx]));
    assert_eq!(
        (&removed[0]["removed"], &removed[0]["codes"]),
        (&json!(1), &json!(0))
    );
    let (info, _) = json_lines(&run("index info --index {}", &[&one_idx]));
    assert_eq!(
        (
            &info[0]["codes"],
            &info[0]["first_id"],
            &info[0]["card"]["named_rows"]
        ),
        (&json!(0), &Value::Null, &json!(0)),
        "{}",
        info[0]
    );
    // Another index copied over it: the card is said not to fit, and why.
    json_lines(&run(
        "index build --model {} --data {} --out {}",
        &[
            &model("photo64.int8.onnx"),
            &new,
            &d.path().join("other.idx"),
        ],
    ));
    std::fs::copy(d.path().join("other.idx"), &idx).unwrap();
    let (info, _) = json_lines(&run("index info --index {}", &[&idx]));
    let stale = &info[0]["card"];
    assert_eq!(
        (&info[0]["codes"], &stale["fits"]),
        (&json!(2), &json!(false)),
        "{stale}"
    );
    assert!(
        stale["why"].as_str().unwrap().contains("another version"),
        "{stale}"
    );
    // Rows removed beside a card that does not fit (of another version, or cut short) would
    // leave it unmatchable for good: refused, as an append refuses it, index and card kept.
    let card_file = d.path().join("lib.idx.names.json");
    let cut_card = std::fs::read(&card_file).unwrap()[..200].to_vec();
    for card_bytes in [std::fs::read(&card_file).unwrap(), cut_card] {
        std::fs::write(&card_file, &card_bytes).unwrap();
        let other = std::fs::read(&idx).unwrap();
        for flags in ["--ids 0", "--ids 0 --dry-run", "--missing"] {
            let out = run(&format!("index remove --index {{}} {flags}"), &[&idx]);
            expect_bad_input(
                &out,
                &["lib.idx.names.json", "move it away", "nothing was removed"],
            );
            assert_eq!(std::fs::read(&idx).unwrap(), other, "{flags}");
            assert_eq!(std::fs::read(&card_file).unwrap(), card_bytes, "{flags}");
        }
    }
    std::fs::write(&idx, &bytes[..bytes.len() - 1]).unwrap();
    expect_bad_input(&run("index info --index {}", &[&idx]), &["lib.idx"]);
}

#[test]
fn an_index_without_a_card_removes_by_id_only() {
    let d = tempfile::tempdir().unwrap();
    let idx = five_codes(d.path());
    let (info, _) = json_lines(&run("index info --index {}", &[&idx]));
    assert_eq!(
        (&info[0]["codes"], &info[0]["card"]),
        (&json!(5), &Value::Null)
    );
    let out = run("index remove --index {} --missing", &[&idx]);
    expect_bad_input(&out, &["codes.idx", "no card of names", "--ids"]);
    let out = run(
        "index remove --index {} --ids 0,10,11,12,13,14,15,16,17,18,19,20,21",
        &[&idx],
    );
    expect_bad_input(
        &out,
        &["no entry of id 10, 11, 12, 13, 14, 15, 16, 17, 18, 19 and 2 more"],
    );
    let out = run(
        "index remove --index {} --ids 0,10,11,12,13,14,15,16,17,18,19",
        &[&idx],
    );
    let said = expect_bad_input(
        &out,
        &["no entry of id 10, 11, 12, 13, 14, 15, 16, 17, 18, 19 ("],
    );
    assert!(!said.contains("more"), "{said}");
    let (removed, _) = json_lines(&run("index remove --index {} --ids 1", &[&idx]));
    assert_eq!(removed[0]["codes"], 4);
    let (exported, _) = json_lines(&run(
        "index export --index {} --format npy --out {}",
        &[&idx, &d.path().join("left.npy")],
    ));
    assert_eq!(exported[0]["codes"], 4);
    let missing = d.path().join("none.idx");
    let out = run("index remove --index {} --ids 1", &[&missing]);
    expect_bad_input(&out, &["none.idx"]);
    let out = run("index remove --index {}", &[&idx]);
    assert_eq!(out.status.code(), Some(2));
}

/// A removal waits for another writer of the index (an append, or another removal) holding
/// its lock, saying so, and then removes from the version that writer left.
#[cfg(unix)]
#[test]
fn a_removal_waits_for_another_writer() {
    let d = tempfile::tempdir().unwrap();
    let idx = five_codes(d.path());
    let held = std::fs::File::open(&idx).unwrap();
    held.lock().unwrap();
    let child =
        crate::common::imsat_command(&["index", "remove", "--index", s(&idx), "--ids", "2"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let bytes = std::fs::read(&idx).unwrap();
    drop(held);
    let out = child.wait_with_output().unwrap();
    let (removed, stderr) = json_lines(&out);
    assert!(stderr.contains("another imsat is writing"), "{stderr}");
    assert_eq!(removed[0]["codes"], 4);
    assert_ne!(std::fs::read(&idx).unwrap(), bytes);
    let while_held = imsat_runtime::index::Index::from_bytes(&bytes).unwrap();
    assert_eq!(
        while_held.len(),
        5,
        "the index is left whole while the lock is held"
    );
}

/// A new index written over one waits for an append under way (here: the lock held), so the
/// append's rows are not renamed over it afterwards, the new index lost without a word; then
/// it replaces the index. For `index import` and `index build` alike.
#[test]
fn a_new_index_over_one_waits_for_an_append_under_way() {
    let d = tempfile::tempdir().unwrap();
    let idx = five_codes(d.path());
    let raw = d.path().join("codes.u64");
    let digits = crate::common::mnist_images();
    for (what, command, rows) in [
        (
            "import",
            vec!["index", "import", "--raw-u64", s(&raw), "--bits", "16"],
            5,
        ),
        (
            "build",
            vec![
                "index",
                "build",
                "--model",
                s(&model("hash16.int8.onnx")),
                "--data",
                s(&digits),
            ],
            10_000,
        ),
    ] {
        // Three rows, so that each new index differs from the one held.
        json_lines(&run("index remove --index {} --ids 0,1", &[&idx]));
        let held = std::fs::File::open(&idx).unwrap();
        held.lock().unwrap();
        let mut child = crate::common::imsat_command(&[&command[..], &["--out", s(&idx)]].concat())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Until it says it waits (its work done, its write to come), however long that takes.
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let (said, waiting) = std::sync::mpsc::channel();
        let lines = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut all = String::new();
            for line in stderr.lines().map_while(Result::ok) {
                if line.contains("another imsat is writing") {
                    let _ = said.send(());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let waited = waiting.recv_timeout(std::time::Duration::from_secs(120));
        let while_held = imsat_runtime::index::Index::load(&idx).unwrap();
        drop(held);
        let out = child.wait_with_output().unwrap();
        let stderr = lines.join().unwrap();
        assert!(
            waited.is_ok(),
            "{what}: it did not wait for the lock: {stderr}"
        );
        assert_eq!(
            while_held.len(),
            3,
            "{what}: replaced while the lock was held"
        );
        let written: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(out.status.success(), "{what}: {stderr}");
        assert_eq!(written[0]["codes"], rows, "{what}");
        assert_eq!(imsat_runtime::index::Index::load(&idx).unwrap().len(), rows);
    }
}

/// Codes appended to a photo index by `index import --append` carry no soft codes, so the
/// append is refused where the card holds them (it would drop `search --copies`' second check
/// for every row), the index and card left as they were; a card without them keeps each
/// row's flatness and names, the imported rows unnamed. An import over the index says that
/// its card no longer fits.
#[test]
fn imported_codes_appended_keep_what_the_card_knows_of_the_other_rows() {
    let (d, lib, _new) = folders();
    let (m, idx) = (model("photo64.int8.onnx"), d.path().join("lib.idx"));
    json_lines(&run(
        "index build --model {} --data {} --out {}",
        &[&m, &lib, &idx],
    ));
    let one = d.path().join("one.u64");
    json_lines(&run(
        "encode --model {} --data {} --out {}",
        &[&m, &lib.join("0001.jpg"), &one],
    ));
    let card_file = d.path().join("lib.idx.names.json");
    let (index_bytes, card_bytes) = (
        std::fs::read(&idx).unwrap(),
        std::fs::read(&card_file).unwrap(),
    );
    let append = || {
        run(
            "index import --raw-u64 {} --bits 64 --out {} --append",
            &[&one, &idx],
        )
    };
    expect_bad_input(
        &append(),
        &["lib.idx.names.json", "soft code", "index build --append"],
    );
    assert_eq!(std::fs::read(&idx).unwrap(), index_bytes);
    assert_eq!(std::fs::read(&card_file).unwrap(), card_bytes);

    // The same card without soft codes (as a photo model without a soft check writes),
    // the field cut from its text (which must begin as imsat writes a card).
    let text = String::from_utf8(card_bytes).unwrap();
    let start = text
        .find(r#","soft_f16_le_base64":""#)
        .expect("soft codes in the card");
    let end = start + 1 + text[start + 1..].find(r#"","#).unwrap() + 1;
    std::fs::write(&card_file, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let without = card(&idx);
    assert!(without.get("soft_f16_le_base64").is_none(), "{without}");
    let flatness = without["flatness"].clone();
    assert_eq!(flatness.as_array().map(Vec::len), Some(8), "{without}");
    let (appended, stderr) = json_lines(&append());
    assert_eq!(appended[0]["codes"], 9);
    assert!(stderr.contains("have no file names"), "{stderr}");
    let after = card(&idx);
    let mut expected = flatness.as_array().unwrap().clone();
    expected.push(Value::Null);
    assert_eq!(after["flatness"], Value::Array(expected), "{after}");
    let names = |card: &Value| card["names"].as_array().unwrap().clone();
    assert_eq!(names(&after)[..8], names(&without)[..]);
    assert_eq!(names(&after)[8], Value::Null);

    // Exported and imported back over itself, the index is the same file: its card still
    // fits, and nothing is said.
    let faiss = d.path().join("lib.faiss");
    json_lines(&run(
        "index export --index {} --format faiss --out {}",
        &[&idx, &faiss],
    ));
    let same = std::fs::read(&idx).unwrap();
    let (_, stderr) = json_lines(&run("index import --faiss {} --out {}", &[&faiss, &idx]));
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(std::fs::read(&idx).unwrap(), same);
    let (_, stderr) = json_lines(&run(
        "index import --raw-u64 {} --bits 64 --out {}",
        &[&one, &idx],
    ));
    assert!(
        stderr.contains("card of names beside the index no longer fits it (")
            && stderr.contains("lib.idx.names.json: it describes another version"),
        "{stderr}"
    );
}

/// `dir/codes.idx`: five 16-bit codes imported from raw words, without a card.
fn five_codes(dir: &Path) -> PathBuf {
    let raw = dir.join("codes.u64");
    let words: Vec<u8> = (0..5u64).flat_map(|w| (w * 0x0101).to_le_bytes()).collect();
    std::fs::write(&raw, words).unwrap();
    let idx = dir.join("codes.idx");
    json_lines(&run(
        "index import --raw-u64 {} --bits 16 --out {}",
        &[&raw, &idx],
    ));
    idx
}
