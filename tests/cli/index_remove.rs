//! `imsat index remove`: photos deleted from a library leave its index and card together
//! (`--missing`), rows leave by id (`--ids`), the other rows keep their ids and names, and
//! what cannot be done safely (an unknown id, every file gone, no card to go by) is refused
//! with the index untouched. Real photos and the shipped `photo64`.

use std::path::Path;

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
    let (m, idx) = (model("photo64.int8.onnx"), d.path().join("lib.idx"));
    json_lines(&run(
        "index build --model {} --data {} --out {}",
        &[&m, &lib, &idx],
    ));
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
}

#[test]
fn an_index_without_a_card_removes_by_id_only() {
    let d = tempfile::tempdir().unwrap();
    let raw = d.path().join("codes.u64");
    let words: Vec<u8> = (0..5u64).flat_map(|w| (w * 0x0101).to_le_bytes()).collect();
    std::fs::write(&raw, words).unwrap();
    let idx = d.path().join("codes.idx");
    json_lines(&run(
        "index import --raw-u64 {} --bits 16 --out {}",
        &[&raw, &idx],
    ));
    let out = run("index remove --index {} --missing", &[&idx]);
    expect_bad_input(&out, &["codes.idx", "no card of names", "--ids"]);
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
