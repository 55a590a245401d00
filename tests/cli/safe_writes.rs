//! A writer killed part-way never damages the file it was replacing: `imsat index import
//! --append` writes the merged index to a temporary file beside the old one and renames it
//! into place, so a SIGKILL during the write leaves the old index readable and unchanged.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{expect_success, run, s};
use std::time::{Duration, Instant};

use imsat_runtime::code::Codes;
use imsat_runtime::index::Index;

/// Temporary files (`.name....tmp`) in `dir`.
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.ends_with(".tmp"))
        .collect()
}

/// `imsat --quiet index import --append` of the 64-bit raw codes `raw` into `index`.
fn append_raw(raw: &Path, index: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_imsat"));
    command
        .args(["--quiet", "index", "import", "--append", "--bits", "64"])
        .arg("--raw-u64")
        .arg(raw)
        .arg("--out")
        .arg(index);
    command
}

/// `dir/new.u64`: 4 M codes of 64 bits to append, so that the merged index is 64 MB, whose
/// write and fsync take far longer than a test's polling needs to see its temporary file.
fn many_raw_codes(dir: &Path) -> std::path::PathBuf {
    let raw: Vec<u8> = (0..4u64 << 20)
        .flat_map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes())
        .collect();
    let path = dir.join("new.u64");
    std::fs::write(&path, &raw).unwrap();
    path
}

#[test]
fn append_killed_while_writing_leaves_the_old_index_intact() {
    let dir = tempfile::tempdir().unwrap();
    let index_path = dir.path().join("codes.idx");
    let old = Index::from_codes(Codes::from_words(64, vec![1, 2, 3, u64::MAX]).unwrap());
    old.save(&index_path).unwrap();
    let before = std::fs::read(&index_path).unwrap();

    let n = 4usize << 20;
    let raw_path = many_raw_codes(dir.path());

    let mut killed_mid_write = false;
    for attempt in 0..5 {
        let mut child = append_raw(&raw_path, &index_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill it once its temporary file holds a few megabytes: the write is then under
        // way and the rename has not happened.
        let started = Instant::now();
        let mut seen = false;
        while started.elapsed() < Duration::from_secs(120) {
            let written = temporaries(dir.path())
                .iter()
                .filter_map(|t| std::fs::metadata(dir.path().join(t)).ok())
                .map(|m| m.len())
                .max();
            if written.is_some_and(|w| w >= 4 << 20) {
                seen = true;
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        if seen {
            child.kill().unwrap(); // SIGKILL: no destructor, no cleanup runs
        }
        let status = child.wait().unwrap();
        if seen && !status.success() {
            killed_mid_write = true;
            // The old index is untouched, byte for byte, and still loads.
            assert_eq!(
                std::fs::read(&index_path).unwrap(),
                before,
                "attempt {attempt}: the index changed"
            );
            assert_eq!(Index::load(&index_path).unwrap(), old);
            // What the killed writer left is only its (partial) temporary file.
            let left = temporaries(dir.path());
            assert_eq!(left.len(), 1, "{left:?}");
            assert!(left[0].starts_with(".codes.idx."), "{left:?}");
            let partial = std::fs::metadata(dir.path().join(&left[0])).unwrap().len();
            let whole = (24 + (n + 4) * 16 + 4) as u64;
            assert!(
                partial >= 4 << 20 && partial <= whole,
                "{partial} of {whole}"
            );
            eprintln!("attempt {attempt}: killed with {partial} of {whole} bytes written");
            std::fs::remove_file(dir.path().join(&left[0])).unwrap();
            break;
        }
        // The writer finished before the kill landed: start again from the old index.
        for t in temporaries(dir.path()) {
            std::fs::remove_file(dir.path().join(t)).unwrap();
        }
        old.save(&index_path).unwrap();
    }
    assert!(
        killed_mid_write,
        "never managed to kill the writer during its write"
    );

    // A later append, not interrupted, works on the very same file.
    let small = dir.path().join("two.u64");
    std::fs::write(&small, [7u64, 8].map(u64::to_le_bytes).concat()).unwrap();
    let out = append_raw(&small, &index_path).output().unwrap();
    expect_success(&out);
    let merged = Index::load(&index_path).unwrap();
    assert_eq!(merged.len(), 6);
    assert_eq!(merged.code_of(5), Some(&[8u64][..]));
    assert!(temporaries(dir.path()).is_empty());
}

#[test]
fn every_cli_output_is_written_through_a_temporary_file() {
    // `write_atomic` replaces whole files and leaves no temporary behind; a write that
    // cannot happen (missing folder) leaves nothing either and reports an error.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("report.json");
    imsat_runtime::atomic_file::write_atomic(&p, b"old").unwrap();
    imsat_runtime::atomic_file::write_atomic(&p, b"new").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"new");
    assert!(temporaries(dir.path()).is_empty());
    assert!(imsat_runtime::atomic_file::write_atomic(&dir.path().join("no/x"), b"x").is_err());

    // The CLI modules write files only through `write_atomic`, `Index::save` or the
    // exporter (which uses `write_atomic`): no direct `fs::write` / `File::create`.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = vec![root.join("src/input.rs")];
    let mut folders = vec![
        root.join("src/cli"),
        root.join("src/plot"),
        root.join("trainer/src/export"),
    ];
    while let Some(folder) = folders.pop() {
        for e in std::fs::read_dir(folder).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                sources.push(path);
            }
        }
    }
    assert!(sources.len() > 15, "{sources:?}");
    for path in sources {
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for needle in ["fs::write(", "File::create(", "OpenOptions::new("] {
            assert!(
                !code.contains(needle),
                "{} writes with {needle} instead of write_atomic",
                path.display()
            );
        }
    }
}

#[test]
fn an_output_that_is_one_of_the_inputs_is_refused_and_the_input_kept() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let copy = |from: &Path, name: &str| {
        let to = dir.join(name);
        std::fs::copy(from, &to).unwrap();
        to
    };
    let model = copy(&root.join("models/hash16.onnx"), "hash16.onnx");
    let photo_model = copy(&root.join("models/photo64.int8.onnx"), "photo64.int8.onnx");
    let images = copy(&crate::common::mnist_images(), "images.gz");
    let index = dir.join("codes.idx");
    let npy = dir.join("codes.npy");
    let built = run(
        "index build --model {} --data {} --out {}",
        &[&model, &images, &index],
    );
    assert!(built.status.success());
    let exported = run(
        "index export --index {} --format npy --out {}",
        &[&index, &npy],
    );
    assert!(exported.status.success());
    let photos = dir.join("photos");
    std::fs::create_dir(&photos).unwrap();
    let shared = root.join("../shared/data/photos/train");
    for name in ["0001.jpg", "0002.jpg", "0003.jpg"] {
        std::fs::copy(shared.join(name), photos.join(name)).unwrap();
    }
    let photo = photos.join("0002.jpg");
    // The same file by another spelling is the same file.
    let dotted = dir.join("photos/../photos/0002.jpg");
    let reference = copy(&root.join("models/photo64.onnx"), "photo64.onnx");
    let cases: [(&str, Vec<&Path>, &Path, &str); 8] = [
        (
            "encode --model {} --data {} --out {}",
            vec![&model, &images, &images],
            &images,
            "--out",
        ),
        (
            "encode --model {} --data {} --out {}",
            vec![&model, &images, &model],
            &model,
            "--out",
        ),
        (
            "index build --model {} --data {} --out {}",
            vec![&model, &images, &model],
            &model,
            "--out",
        ),
        (
            "index export --index {} --format faiss --out {}",
            vec![&index, &index],
            &index,
            "--out",
        ),
        (
            "index import --npy {} --out {}",
            vec![&npy, &npy],
            &npy,
            "--out",
        ),
        (
            "dedup --model {} --sheet {} {}",
            vec![&photo_model, &dotted, &photos],
            &photo,
            "--sheet",
        ),
        (
            "eval --task copy-detection --model {} --data {} --plot {}",
            vec![&photo_model, &photos, &photo],
            &photo,
            "--plot",
        ),
        (
            "eval --task copy-detection --model {} --data {} --reference {} --plot {}",
            vec![&photo_model, &photos, &reference, &reference],
            &reference,
            "--plot",
        ),
    ];
    for (command, paths, input, flag) in cases {
        let before = std::fs::read(input).unwrap();
        let out = run(command, &paths);
        let line = crate::common::expect_bad_input(&out, &[flag, "which writing would replace"]);
        assert!(
            line.contains(input.file_name().unwrap().to_str().unwrap()),
            "{line}"
        );
        assert_eq!(std::fs::read(input).unwrap(), before, "{command}: {line}");
    }
    // A new image in the photo folder replaces nothing, but the next run over the folder would
    // read it as a photo: refused, and nothing is written there; beside the folder it is drawn.
    let sheet = photos.join("sheet.png");
    let out = run(
        "dedup --model {} --sheet {} {}",
        &[&photo_model, &sheet, &photos],
    );
    crate::common::expect_bad_input(&out, &["--sheet", "inside the input folder"]);
    assert!(!sheet.exists());
    let sheet = photos.parent().unwrap().join("sheet.png");
    let out = run(
        "dedup --model {} --sheet {} {}",
        &[&photo_model, &sheet, &photos],
    );
    expect_success(&out);
    assert!(sheet.is_file());
    // A sheet is a PNG, whatever the name says: a .jpg name is refused.
    let jpg = photos.parent().unwrap().join("sheet.jpg");
    let out = run(
        "dedup --model {} --sheet {} {}",
        &[&photo_model, &jpg, &photos],
    );
    crate::common::expect_bad_input(&out, &["--sheet", "give a name ending in .png"]);
    assert!(!jpg.exists());
}

#[test]
fn a_training_run_is_replaced_only_with_overwrite_and_never_written_into_its_photos() {
    let d = tempfile::tempdir().unwrap();
    let images = crate::common::mnist_images();
    let out = d.path().join("run");
    let train = "train --task hash --bits 8 --hidden 32 --epochs 1 --limit 300 --data {} --out {}";
    let first = run(&format!("{train} --seed 0"), &[&images, &out]);
    expect_success(&first);
    let model = std::fs::read(out.join("model.onnx")).unwrap();
    let report = std::fs::read(out.join("report.json")).unwrap();

    let again = run(&format!("{train} --seed 1"), &[&images, &out]);
    crate::common::expect_bad_input(
        &again,
        &[
            "--out",
            "already holds a training run",
            "model.onnx",
            "--overwrite",
        ],
    );
    assert_eq!(std::fs::read(out.join("model.onnx")).unwrap(), model);
    assert_eq!(std::fs::read(out.join("report.json")).unwrap(), report);

    // Files an earlier run of another kind left (a feature run's scaling, a photo run's
    // held-out list) go with it: they would stand beside the new model as its own.
    std::fs::write(out.join("scaling.json"), r#"{"mean":[0.5],"scale":2.0}"#).unwrap();
    std::fs::write(out.join("validation.txt"), "old\n").unwrap();
    let replaced = run(&format!("{train} --seed 1 --overwrite"), &[&images, &out]);
    expect_success(&replaced);
    assert_ne!(std::fs::read(out.join("model.onnx")).unwrap(), model);
    assert!(!out.join("scaling.json").exists() && !out.join("validation.txt").exists());

    // A file of a run's name that no run wrote (a photo called curves.png) is refused even
    // with --overwrite, which would replace it: named, with what it is, and kept.
    let curves = std::fs::read(out.join("curves.png")).unwrap();
    let photo = std::fs::read(Path::new(crate::photos::PHOTOS).join("0001.jpg")).unwrap();
    std::fs::write(out.join("curves.png"), &photo).unwrap();
    let refused = run(&format!("{train} --seed 1 --overwrite"), &[&images, &out]);
    crate::common::expect_bad_input(
        &refused,
        &[
            "curves.png",
            "is not a training run's",
            "a JPEG image",
            "move the file",
        ],
    );
    assert_eq!(std::fs::read(out.join("curves.png")).unwrap(), photo);
    std::fs::write(out.join("curves.png"), &curves).unwrap();

    // A run writes into a hidden staging folder and moves its files in at the end: while it
    // trains, a second run into the folder is refused (their files would mix); killed, it
    // leaves the run it was to replace whole (it used to have deleted it already); the next
    // run clears what the killed one left.
    let model = std::fs::read(out.join("model.onnx")).unwrap();
    let long = format!("{train} --seed 2 --overwrite").replace("--epochs 1", "--epochs 500");
    let mut args: Vec<String> = long.split(' ').map(String::from).collect();
    let (at_data, at_out) = (
        args.iter().position(|a| a == "{}").unwrap(),
        args.iter().rposition(|a| a == "{}").unwrap(),
    );
    args[at_data] = images.display().to_string();
    args[at_out] = out.display().to_string();
    let mut first = crate::common::imsat_command(&[])
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let staging = || {
        std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".imsat-run-"))
    };
    let started = std::time::Instant::now();
    while !staging() {
        assert!(first.try_wait().unwrap().is_none(), "the first run ended");
        assert!(started.elapsed().as_secs() < 60, "no staging folder");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = run(&format!("{train} --seed 3 --overwrite"), &[&images, &out]);
    // Not bad input: the same command succeeds once the other is done.
    crate::common::expect_error(&second, 1, &["another imsat is writing a run into it"]);
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(std::fs::read(out.join("model.onnx")).unwrap(), model);
    assert!(staging(), "the killed run's staging folder");
    expect_success(&run(
        &format!("{train} --seed 3 --overwrite"),
        &[&images, &out],
    ));
    assert!(!staging());
    assert_ne!(std::fs::read(out.join("model.onnx")).unwrap(), model);

    // A run inside the photo folder it learns from: its curves.png would be a photo next time.
    let photos = d.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/photos/train");
    for name in ["0001.jpg", "0002.jpg"] {
        std::fs::copy(shared.join(name), photos.join(name)).unwrap();
    }
    let nested = photos.join("runs").join("mine");
    let inside = run(
        "train --task hash --bits 8 --epochs 1 --data {} --out {}",
        &[&photos, &nested],
    );
    crate::common::expect_bad_input(&inside, &["--out", "inside the photo folder"]);
    assert!(!photos.join("runs").exists());
}

/// A file of a run's name put into `--out` while the run trains (checked before, not then) is
/// neither replaced nor removed when the run is put in place: the run is refused there and
/// kept aside, named, so that neither the file nor the trained model is lost.
#[cfg(unix)]
#[test]
fn a_file_put_into_the_run_folder_while_it_trains_is_kept_and_so_is_the_run() {
    use std::io::Read as _;
    let d = tempfile::tempdir().unwrap();
    let images = crate::common::mnist_images();
    let out = d.path().join("run");
    let mut command = crate::common::imsat_command(&[]);
    command
        .args(["train", "--task", "hash", "--bits", "8", "--hidden", "32"])
        .args(["--epochs", "200", "--limit", "300", "--seed", "0", "--data"])
        .arg(&images)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    wait_for_staging(&mut child, &out);
    let settings = "{\"project\": \"my own settings\"}\n";
    std::fs::write(out.join("config.json"), settings).unwrap();
    // Its output is a line or two: the pipes cannot fill while it runs.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("the run did not end in 2 minutes (a deadlock at its commit?)");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    let ended = std::process::Output {
        status,
        stdout,
        stderr,
    };
    let said = crate::common::expect_error(
        &ended,
        1,
        &[
            "config.json",
            "is not a training run's",
            "replace or remove it",
            "kept in",
            "unplaced-run-",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("config.json")).unwrap(),
        settings
    );
    let kept: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(kept.len(), 1, "one folder kept aside: {kept:?}");
    assert!(said.contains(&kept[0].display().to_string()), "{said}");
    for f in ["model.onnx", "config.json", "report.json"] {
        assert!(kept[0].join(f).is_file(), "{f} kept aside");
    }
    assert!(!out.join("model.onnx").exists(), "nothing put in place");
}

/// An index and its card of names change together: an append whose card cannot be written
/// (a file-size limit stands in for a full disk) leaves the old index and card as they were,
/// and an append beside a card cut short is refused rather than writing over its names.
#[cfg(unix)]
#[test]
fn an_index_and_its_card_change_together_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let (idx, card) = (
        dir.path().join("digits.idx"),
        dir.path().join("digits.idx.names.json"),
    );
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hash16.int8.onnx");
    let digits = crate::common::mnist_images();
    expect_success(&run(
        "index build --model {} --data {} --out {}",
        &[&model, &digits, &idx],
    ));
    let (index_before, card_before) = (std::fs::read(&idx).unwrap(), std::fs::read(&card).unwrap());
    // The same digits by another name: 10,000 rows to append. The merged index (320 KB) fits
    // under a 500 KiB limit on the size of a file written; its card (about 800 KB) does not.
    let again = dir.path().join("again-idx3-ubyte.gz");
    std::fs::copy(&digits, &again).unwrap();
    let append = [
        "--quiet",
        "index",
        "build",
        "--append",
        "--model",
        s(&model),
    ];
    let out = Command::new("bash")
        .args(["-c", "trap '' XFSZ; ulimit -f 500; exec \"$@\"", "bash"])
        .arg(env!("CARGO_BIN_EXE_imsat"))
        .args(append)
        .args(["--data", s(&again), "--out", s(&idx)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the limit did not stop the card: {stderr}"
    );
    assert!(stderr.contains("digits.idx.names.json"), "{stderr}");
    assert_eq!(std::fs::read(&idx).unwrap(), index_before, "{stderr}");
    assert_eq!(std::fs::read(&card).unwrap(), card_before);
    assert!(temporaries(dir.path()).is_empty());

    // A card cut short (its names may still be read out of it) is kept, and so is the index.
    std::fs::write(&card, &card_before[..500]).unwrap();
    let out = run(
        "index build --append --model {} --data {} --out {}",
        &[&model, &again, &idx],
    );
    crate::common::expect_bad_input(
        &out,
        &["digits.idx.names.json", "not an index card", "move it away"],
    );
    assert_eq!(std::fs::read(&card).unwrap(), &card_before[..500]);
    assert_eq!(std::fs::read(&idx).unwrap(), index_before);

    // With its card whole and room to write, the append names all 20,000 rows.
    std::fs::write(&card, &card_before).unwrap();
    expect_success(&run(
        "index build --append --model {} --data {} --out {}",
        &[&model, &again, &idx],
    ));
    let names: serde_json::Value = serde_json::from_slice(&std::fs::read(&card).unwrap()).unwrap();
    let names = names["names"].as_array().unwrap();
    assert_eq!(names.len(), 20_000);
    assert!(
        names[19_999]
            .as_str()
            .unwrap()
            .ends_with("again-idx3-ubyte.gz#9999")
    );
    assert_eq!(Index::load(&idx).unwrap().len(), 20_000);

    // An index written into a device leaves no file to name: no card (it landed in /dev).
    let out = run(
        "index build --model {} --data {} --out {}",
        &[&model, &digits, Path::new("/dev/null")],
    );
    expect_success(&out);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary.get("names").is_none(), "{summary}");
    assert!(!Path::new("/dev/null.names.json").exists());
}

/// Two appends into one index at once: the second waits for the first and adds its rows to
/// the first's, so no row is lost and the card names every row (each used to read the old
/// index and the last rename dropped the other's rows, both exiting 0).
#[cfg(unix)]
#[test]
fn two_appends_at_once_keep_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/photo64.int8.onnx");
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/photos/train");
    let names: Vec<_> = std::fs::read_dir(&shared)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().ends_with(".jpg"))
        .collect();
    let mut names = names;
    names.sort();
    let folders: Vec<_> = ["base", "a", "b"]
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let folder = dir.path().join(f);
            std::fs::create_dir(&folder).unwrap();
            let take = if k == 0 { 2 } else { 40 };
            for n in names.iter().skip(2 + 40 * k).take(take) {
                std::fs::copy(shared.join(n), folder.join(n)).unwrap();
            }
            folder
        })
        .collect();
    let idx = dir.path().join("photos.idx");
    let build = |data: &Path| {
        crate::common::imsat_command(&["index", "build", "--append", "--model", s(&model)])
            .args(["--data", s(data), "--out", s(&idx)])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    assert!(build(&folders[0]).wait().unwrap().success());
    let (a, b) = (build(&folders[1]), build(&folders[2]));
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let index = Index::load(&idx).unwrap();
    assert_eq!(index.len(), 82);
    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("photos.idx.names.json")).unwrap())
            .unwrap();
    let named = card["names"].as_array().unwrap();
    assert_eq!(named.len(), 82);
    for folder in &folders[1..] {
        let prefix = format!("{}/", folder.display());
        let rows = named
            .iter()
            .filter(|n| n.as_str().is_some_and(|n| n.starts_with(&prefix)))
            .count();
        assert_eq!(rows, 40, "{prefix}");
    }
    let searched = run(
        "search --index {} --model {} --query {} -k 1 --json",
        &[&idx, &model, &folders[1].join(&names[42])],
    );
    let stderr = String::from_utf8_lossy(&searched.stderr);
    assert!(!stderr.contains("warning"), "{stderr}");
}

/// `dedup --duplicates-only --sheet`: a sheet that cannot be written (a file-size limit for a
/// full disk) fails the run before a file is listed for deletion, not after.
#[cfg(unix)]
#[test]
fn a_dedup_sheet_that_cannot_be_written_lists_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/photos/train");
    for (from, to) in [
        ("0001.jpg", "a.jpg"),
        ("0001.jpg", "b.jpg"),
        ("0002.jpg", "c.jpg"),
    ] {
        std::fs::copy(shared.join(from), photos.join(to)).unwrap();
    }
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/photo64.int8.onnx");
    let sheet = dir.path().join("groups.png");
    let dedup = [
        "--quiet",
        "dedup",
        "--duplicates-only",
        "--model",
        s(&model),
    ];
    let out = Command::new("bash")
        .args(["-c", "trap '' XFSZ; ulimit -f 4; exec \"$@\"", "bash"])
        .arg(env!("CARGO_BIN_EXE_imsat"))
        .args(dedup)
        .args(["--sheet", s(&sheet), s(&photos)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("groups.png"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!sheet.exists());
    // Without the limit, the copy is listed and the sheet drawn.
    let out = crate::common::imsat_command(&dedup[1..])
        .args(["--sheet", s(&sheet), s(&photos)])
        .output()
        .unwrap();
    expect_success(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(sheet.exists());
}

/// `command` with SIGINT and SIGTERM at their default: a test run in the background of a
/// script (`cargo test &`, CI under nohup) inherits SIGINT ignored, and imsat rightly keeps an
/// ignored signal ignored.
#[cfg(unix)]
fn with_default_signals(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only `signal`, which is async-signal-safe, is called.
    unsafe {
        command.pre_exec(|| {
            for signal in [libc::SIGINT, libc::SIGTERM] {
                if libc::signal(signal, libc::SIG_DFL) == libc::SIG_ERR {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        })
    }
}

/// Wait until the training `child` has made its staging folder in `out` (its run is under
/// way), failing if it ends first or takes a minute.
#[cfg(unix)]
fn wait_for_staging(child: &mut std::process::Child, out: &Path) {
    let started = Instant::now();
    while !out.exists()
        || !std::fs::read_dir(out)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".imsat-run-"))
    {
        assert!(child.try_wait().unwrap().is_none(), "the run ended");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no staging folder"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Send `signal` (a name `kill` knows: INT, TERM) to `child`.
#[cfg(unix)]
fn send(child: &std::process::Child, signal: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal}");
}

/// Ctrl-C or `kill` removes what the command was writing, and the command ends by that signal
/// (as a shell's loop expects; a signal it was started to ignore stays ignored): a training run's staging folder, and the folders made for it,
/// went nowhere before; an append's hidden temporary, as large as the index, stayed for good.
#[cfg(unix)]
#[test]
fn a_signal_removes_what_a_command_was_writing() {
    use std::os::unix::process::ExitStatusExt;
    let d = tempfile::tempdir().unwrap();
    let images = crate::common::mnist_images();
    let out = d.path().join("new").join("run");
    // Under `nohup`, which ignores SIGHUP: a closed terminal must not end it.
    let mut training = with_default_signals(&mut Command::new("nohup"))
        .args([
            env!("CARGO_BIN_EXE_imsat"),
            "--quiet",
            "train",
            "--task",
            "hash",
        ])
        .args(["--bits", "8", "--hidden", "32"])
        .args(["--epochs", "500", "--limit", "300", "--data"])
        .arg(&images)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_staging(&mut training, &out);
    send(&training, "HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        training.try_wait().unwrap().is_none(),
        "ended by SIGHUP under nohup"
    );
    send(&training, "INT");
    let ended = training.wait_with_output().unwrap();
    assert_eq!(ended.status.signal(), Some(2), "{:?}", ended.status);
    let stderr = String::from_utf8_lossy(&ended.stderr);
    assert!(stderr.contains("removed 1 unfinished file"), "{stderr}");
    assert!(!d.path().join("new").exists(), "the run's folders stayed");

    // An append stopped by SIGTERM while it writes the merged index (64 MB).
    let index_path = d.path().join("codes.idx");
    let old = Index::from_codes(Codes::from_words(64, vec![1, 2, 3]).unwrap());
    old.save(&index_path).unwrap();
    let before = std::fs::read(&index_path).unwrap();
    let raw_path = many_raw_codes(d.path());
    let mut stopped_mid_write = false;
    for _attempt in 0..5 {
        let mut child = with_default_signals(&mut append_raw(&raw_path, &index_path))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let mut ended = None;
        while temporaries(d.path()).is_empty() && started.elapsed() < Duration::from_secs(120) {
            ended = child.try_wait().unwrap();
            if ended.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        if ended.is_none() {
            send(&child, "TERM");
        }
        let status = child.wait().unwrap();
        assert!(
            temporaries(d.path()).is_empty(),
            "{:?}",
            temporaries(d.path())
        );
        if status.signal() == Some(15) {
            stopped_mid_write = std::fs::read(&index_path).unwrap() == before;
            if stopped_mid_write {
                assert_eq!(Index::load(&index_path).unwrap(), old);
                break;
            }
        }
        // It finished first (or renamed before the signal): start again from the old index.
        old.save(&index_path).unwrap();
    }
    assert!(
        stopped_mid_write,
        "never stopped the append during its write"
    );

    // With stderr gone (its reader closed: a terminal hung up), the message cannot be written,
    // and the signal still ends the run (the failed write panicked the cleanup thread, and
    // the training went on to its end).
    let out = d.path().join("quiet");
    let mut training = with_default_signals(&mut crate::common::imsat_command(&[]))
        .args(["train", "--task", "hash", "--bits", "8", "--hidden", "32"])
        .args(["--epochs", "5000", "--limit", "300", "--data"])
        .arg(&images)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(training.stderr.take());
    wait_for_staging(&mut training, &out);
    send(&training, "TERM");
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = training.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(20) {
            training.kill().unwrap();
            panic!("still training 20 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.signal(), Some(15), "{status:?}");
    assert!(!out.exists(), "the run's folder stayed");

    // The demo, stopped in its first training, leaves none of the folders it made.
    let demo_out = d.path().join("demo").join("out");
    let mut demo = with_default_signals(&mut crate::common::imsat_command(&[]))
        .args(["demo", "--cluster-epochs", "50", "--out"])
        .arg(&demo_out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let cluster_run = demo_out.join("cluster10");
    while !cluster_run.exists() {
        assert!(demo.try_wait().unwrap().is_none(), "the demo ended");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no cluster10 folder"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    send(&demo, "INT");
    assert_eq!(demo.wait().unwrap().signal(), Some(2));
    assert!(!d.path().join("demo").exists(), "the demo's folders stayed");
}

/// A signal as a run writes its models or moves them into place leaves one whole run, the
/// earlier or the new, and ends the command by the signal: the cleanup and the commit once
/// interleaved, the commit finding its staged files gone and removing the earlier run's (an
/// empty folder, exit 0 and a report), or failing on a removed staging folder (exit 1).
#[cfg(unix)]
#[test]
fn a_signal_as_a_run_is_put_in_place_leaves_one_whole_run() {
    use std::os::unix::process::ExitStatusExt;
    let d = tempfile::tempdir().unwrap();
    let images = crate::common::mnist_images();
    let out = d.path().join("run");
    let train = |seed: &str, overwrite: bool| {
        let mut c = crate::common::imsat_command(&[]);
        with_default_signals(&mut c).args([
            "train", "--task", "hash", "--bits", "16", "--hidden", "400,400", "--epochs", "3",
            "--limit", "1000", "--seed", seed,
        ]);
        c.arg("--data").arg(&images).arg("--out").arg(&out);
        if overwrite {
            c.arg("--overwrite");
        }
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        c
    };
    expect_success(&train("0", false).output().unwrap());
    let files = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut f: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()),
                )
            })
            .map(|(n, b)| (n, b.unwrap_or_default()))
            .collect();
        f.sort();
        f
    };
    let earlier = files(&out);
    let names: Vec<&String> = earlier.iter().map(|(n, _)| n).collect();
    let mut stopped = 0;
    // Eight delays, then (on a loaded machine the poll below can miss the moment, and every
    // run end before its signal) up to 16 more tries at once until one is stopped.
    let delays = [0u64, 1, 2, 5, 10, 20, 40, 80];
    for (tries, delay_ms) in delays.into_iter().chain([0; 16]).enumerate() {
        if tries >= delays.len() && stopped > 0 {
            break;
        }
        let mut child = train("1", true).spawn().unwrap();
        // The int8 model's temporary in the staging folder: the models are being written.
        let writing_int8 = || {
            std::fs::read_dir(&out).unwrap().flatten().any(|e| {
                e.file_name().to_string_lossy().starts_with(".imsat-run-")
                    && std::fs::read_dir(e.path()).is_ok_and(|mut s| {
                        s.any(|f| {
                            f.is_ok_and(|f| {
                                f.file_name()
                                    .to_string_lossy()
                                    .starts_with(".model.int8.onnx")
                            })
                        })
                    })
            })
        };
        let started = Instant::now();
        while child.try_wait().unwrap().is_none()
            && !writing_int8()
            && started.elapsed() < Duration::from_secs(60)
        {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        // It may have ended already: then kill finds no process.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let ended = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&ended.stderr);
        let now = files(&out);
        let now_names: Vec<&String> = now.iter().map(|(n, _)| n).collect();
        assert_eq!(
            now_names, names,
            "after {delay_ms} ms ({:?}): {stderr}",
            ended.status
        );
        let kept = now == earlier;
        let model = |f: &[(String, Vec<u8>)], name: &str| {
            f.iter().find(|(n, _)| n == name).unwrap().1.clone()
        };
        let new_whole = ["model.onnx", "model.int8.onnx", "config.json", "model.bpk"]
            .iter()
            .all(|name| model(&now, name) != model(&earlier, name));
        assert!(
            kept || new_whole,
            "a mix of two runs after {delay_ms} ms: {stderr}"
        );
        match ended.status.signal() {
            Some(15) => stopped += 1,
            _ => {
                assert!(
                    ended.status.success() && new_whole,
                    "{:?}: {stderr}",
                    ended.status
                );
            }
        }
        if new_whole {
            // Start again from the earlier run.
            for (name, bytes) in &earlier {
                std::fs::write(out.join(name), bytes).unwrap();
            }
        }
    }
    assert!(stopped > 0, "every run ended before its signal");
}

#[test]
fn an_index_output_replaces_only_a_file_of_its_own_kind() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let images = crate::common::mnist_images();
    let model = dir.join("hash16.onnx");
    std::fs::copy(root.join("models/hash16.onnx"), &model).unwrap();
    // A user's files that an index, a faiss file or a `.npy` array must never replace.
    let onnx = dir.join("model.onnx");
    std::fs::copy(&model, &onnx).unwrap();
    let notes = crate::common::write(dir, "notes.txt", b"call the vet on Monday\n");
    let words: Vec<u8> = (0..8u64).flat_map(|i| (i * 4099).to_le_bytes()).collect();
    let raw = crate::common::write(dir, "c16.u64", &words);
    let lib = dir.join("lib.idx");
    expect_success(&run(
        "index import --raw-u64 {} --bits 16 --out {}",
        &[&raw, &lib],
    ));
    let npy = dir.join("c16.npy");
    let faiss = dir.join("c16.faiss");
    for (format, to) in [("npy", &npy), ("faiss", &faiss)] {
        let command = format!("index export --index {{}} --format {format} --out {{}}");
        expect_success(&run(&command, &[&lib, to]));
    }
    let not_index = "exists and is not an imsat index";
    let cases: [(&str, Vec<&Path>, &Path, &str); 9] = [
        (
            "index import --npy {} --out {}",
            vec![&npy, &onnx],
            &onnx,
            not_index,
        ),
        (
            "index import --faiss {} --out {}",
            vec![&faiss, &notes],
            &notes,
            not_index,
        ),
        (
            "index import --npy {} --out {}",
            vec![&npy, &faiss],
            &faiss,
            not_index,
        ),
        (
            "index build --model {} --data {} --out {}",
            vec![&model, &images, &notes],
            &notes,
            not_index,
        ),
        (
            "index build --model {} --data {} --out {}",
            vec![&model, &images, &npy],
            &npy,
            not_index,
        ),
        (
            "index export --index {} --format faiss --out {}",
            vec![&lib, &notes],
            &notes,
            "exists and is not a faiss IndexBinaryFlat",
        ),
        (
            "index export --index {} --format faiss --out {}",
            vec![&lib, &npy],
            &npy,
            "exists and is not a faiss IndexBinaryFlat",
        ),
        (
            "index export --index {} --format npy --out {}",
            vec![&lib, &onnx],
            &onnx,
            "exists and is not a .npy file",
        ),
        (
            "index export --index {} --format npy --out {}",
            vec![&lib, &faiss],
            &faiss,
            "exists and is not a .npy file",
        ),
    ];
    for (command, paths, kept, problem) in cases {
        let before = std::fs::read(kept).unwrap();
        let out = run(command, &paths);
        let name = kept.file_name().unwrap().to_str().unwrap();
        let line = crate::common::expect_bad_input(&out, &["--out", name, problem]);
        assert!(line.contains("give a new name, or remove it"), "{line}");
        assert_eq!(std::fs::read(kept).unwrap(), before, "{command}: {line}");
    }
    // --append to a file that is not an index is refused too (it must be an index to load).
    let before = std::fs::read(&notes).unwrap();
    let out = run("index import --append --npy {} --out {}", &[&npy, &notes]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&notes).unwrap(), before);

    // An earlier run's output is replaced as ever, and so is an empty file; a device or a pipe
    // is written into, never read.
    let empty = crate::common::write(dir, "empty.idx", b"");
    expect_success(&run("index import --npy {} --out {}", &[&npy, &lib]));
    expect_success(&run("index import --faiss {} --out {}", &[&faiss, &lib]));
    expect_success(&run("index import --npy {} --out {}", &[&npy, &empty]));
    assert!(Index::load(&empty).is_ok());
    let build = "index build --model {} --data {} --out {}";
    expect_success(&run(build, &[&model, &images, &lib]));
    for (format, to) in [("npy", &npy), ("faiss", &faiss)] {
        let command = format!("index export --index {{}} --format {format} --out {{}}");
        expect_success(&run(&command, &[&lib, to]));
        for device in ["-", "/dev/null"] {
            let command = format!("index export --index {{}} --format {format} --out {device}");
            expect_success(&run(&command, &[&lib]));
        }
    }
    expect_success(&run("index import --npy {} --out -", &[&npy]));
    assert_eq!(std::fs::read(&notes).unwrap(), b"call the vet on Monday\n");
}

#[test]
fn codes_and_pictures_replace_only_files_of_their_own_kind() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let images = crate::common::mnist_images();
    let model = root.join("models/hash16.int8.onnx");
    // A photo, an index and a text the user had, where codes or a sheet would go.
    // (Written, not copied: the bundled photos are read-only, a refusal of its own below.)
    let jpeg = std::fs::read(root.join("../shared/data/photos/train/0001.jpg")).unwrap();
    let photo = crate::common::write(dir, "holiday.jpg", &jpeg);
    let lib = dir.join("lib.idx");
    expect_success(&run(
        "index build --model {} --data {} --out {}",
        &[&model, &images, &lib],
    ));
    let notes_csv = crate::common::write(dir, "notes.csv", b"date,amount\n2026-12-05,12\n");
    let notes_npz = crate::common::write(dir, "notes.npz", b"not a zip\n");
    let jpeg_png = crate::common::write(dir, "sheet.png", &jpeg);
    // Files a user has that share a kind's extension or have no first bytes of their own:
    // a PNG photo, a CSV of other columns, float features, another archive; a model, a
    // text, a PDF, an index's card, where raw codes would go.
    let photo_png = dir.join("beach.png");
    image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 6, y as u8 * 8, 90]))
        .save(&photo_png)
        .unwrap();
    let people_csv = crate::common::write(dir, "people.csv", b"name,age\nbob,3\n");
    let mut features = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    features.extend(format!("{dict:<117}\n").bytes());
    features.extend([0u8; 8]);
    let features = crate::common::write(dir, "features.npy", &features);
    let other_npz = dir.join("other.npz");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&other_npz).unwrap());
        zip.start_file("x.npy", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, &std::fs::read(&features).unwrap()).unwrap();
        zip.finish().unwrap();
    }
    let onnx = dir.join("mine.onnx");
    std::fs::copy(&model, &onnx).unwrap();
    let notes = crate::common::write(dir, "notes.txt", b"call the vet on Monday\n");
    let pdf = crate::common::write(dir, "paper.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n");
    let card = dir.join("lib.idx.names.json");
    let encode = "encode --model {} --data {} --out {}";
    let empty = tempfile::tempdir().unwrap();
    let cases: [(&str, Vec<&Path>, &Path, &str); 14] = [
        (
            encode,
            vec![&model, &images, &photo],
            &photo,
            "is not raw codes (a JPEG image",
        ),
        (
            encode,
            vec![&model, &images, &lib],
            &lib,
            "is not raw codes (an imsat index",
        ),
        (
            encode,
            vec![&model, &images, &notes_csv],
            &notes_csv,
            "is not a CSV of codes",
        ),
        (
            encode,
            vec![&model, &images, &notes_npz],
            &notes_npz,
            "is not a .npz file",
        ),
        (
            "dedup --model {} --sheet {} {}",
            vec![&model, &jpeg_png, empty.path()],
            &jpeg_png,
            "is not a dedup sheet imsat drew (a JPEG image",
        ),
        (
            "dedup --model {} --sheet {} {}",
            vec![&model, &photo_png, empty.path()],
            &photo_png,
            "is not a dedup sheet imsat drew (a PNG image",
        ),
        (
            encode,
            vec![&model, &images, &people_csv],
            &people_csv,
            "is not a CSV of codes",
        ),
        (
            encode,
            vec![&model, &images, &features],
            &features,
            "is not a .npy file of codes or ids",
        ),
        (
            encode,
            vec![&model, &images, &other_npz],
            &other_npz,
            "is not a .npz file of codes or ids (a zip",
        ),
        (
            encode,
            vec![&model, &images, &onnx],
            &onnx,
            "is not raw codes (an ONNX model",
        ),
        (
            encode,
            vec![&model, &images, &notes],
            &notes,
            "is not raw codes (a text file",
        ),
        (encode, vec![&model, &images, &pdf], &pdf, "(a PDF document"),
        (
            encode,
            vec![&model, &images, &card],
            &card,
            "is not raw codes (the card of names of an index",
        ),
        (
            "index export --index {} --format npy --out {}",
            vec![&lib, &features],
            &features,
            "is not a .npy file of codes or ids",
        ),
    ];
    for (command, paths, kept, problem) in cases {
        let before = std::fs::read(kept).unwrap();
        let out = run(command, &paths);
        let line = crate::common::expect_bad_input(&out, &["exists and", problem]);
        assert!(line.contains("give a new name, or remove it"), "{line}");
        assert_eq!(std::fs::read(kept).unwrap(), before, "{command}");
    }
    // An earlier run's output of each kind is replaced as ever: codes by codes, a cluster
    // model's ids by codes and codes by ids, an earlier sheet by a new one.
    let cluster = root.join("models/cluster10.int8.onnx");
    for name in ["codes.u64", "codes.csv", "codes.npy", "codes.npz"] {
        let out = dir.join(name);
        expect_success(&run(encode, &[&model, &images, &out]));
        expect_success(&run(encode, &[&model, &images, &out]));
        expect_success(&run(encode, &[&cluster, &images, &out]));
        expect_success(&run(encode, &[&cluster, &images, &out]));
        expect_success(&run(encode, &[&model, &images, &out]));
    }
    let pics = dir.join("pics");
    std::fs::create_dir(&pics).unwrap();
    std::fs::copy(&photo_png, pics.join("a.png")).unwrap();
    std::fs::copy(&photo_png, pics.join("b.png")).unwrap();
    let sheet = dir.join("groups.png");
    for _ in 0..2 {
        expect_success(&run(
            "dedup --model {} --sheet {} {}",
            &[&model, &sheet, &pics],
        ));
    }

    // A read-only file is not replaced, whoever runs (root's writes ignore the mode; the
    // rename of a new file over it would too).
    let kept = dir.join("codes.u64");
    let before = std::fs::read(&kept).unwrap();
    let mut mode = std::fs::metadata(&kept).unwrap().permissions();
    mode.set_readonly(true);
    std::fs::set_permissions(&kept, mode).unwrap();
    let out = run(encode, &[&model, &images, &kept]);
    crate::common::expect_bad_input(&out, &["codes.u64", "exists and is read-only"]);
    assert_eq!(std::fs::read(&kept).unwrap(), before);

    // A name ending in `/` names a folder, existing or not: refused before the work (it was
    // refused by the rename after it, exit 1).
    let folder = format!("{}/", dir.join("not_yet").display());
    for command in [encode, "index build --model {} --data {} --out {}"] {
        let out = run(command, &[&model, &images, Path::new(&folder)]);
        crate::common::expect_bad_input(&out, &["not_yet/", "names a folder"]);
    }
    assert!(!dir.join("not_yet").exists());
}

/// A small labelled set for a quick demo: MNIST-10k's first `n` images, as raw IDX files.
fn small_mnist(dir: &Path, n: usize) -> (std::path::PathBuf, std::path::PathBuf) {
    use imsat_data::idx::{idx_u8_bytes, read_idx_images, read_idx_labels};
    let gz = crate::common::mnist_images();
    let images = read_idx_images(&gz).unwrap();
    let labels = read_idx_labels(gz.with_file_name("labels-idx1-ubyte.gz"), 256).unwrap();
    (
        crate::common::write(
            dir,
            "images.idx",
            &idx_u8_bytes(&[n, 28, 28], &images.pixels[..n * 784]),
        ),
        crate::common::write(
            dir,
            "labels.idx",
            &idx_u8_bytes(
                &[n],
                &labels[..n].iter().map(|&l| l as u8).collect::<Vec<_>>(),
            ),
        ),
    )
}

/// Every file under `dir` (relative path) with its bytes.
fn tree(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for e in std::fs::read_dir(folder).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.push((path.strip_prefix(dir).unwrap().to_path_buf(), bytes));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn the_demo_writes_only_into_a_new_or_empty_folder_or_over_an_earlier_demo() {
    let d = tempfile::tempdir().unwrap();
    let (images, labels) = small_mnist(d.path(), 120);
    let demo = "demo --out {} --data {} --labels {} --cluster-epochs 1 --hash-epochs 1";
    let refused = |out: &Path, name: &str| {
        let before = tree(out);
        let line = crate::common::expect_bad_input(
            &run(demo, &[out, &images, &labels]),
            &["--out", "holds files that are not an earlier demo's", name],
        );
        assert!(line.contains("give a new or empty folder"), "{line}");
        assert_eq!(tree(out), before, "{line}");
    };
    // A photo folder: no models, index or pictures written among the photos.
    let photos = d.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/photos/train");
    for name in ["0001.jpg", "0002.jpg"] {
        std::fs::copy(shared.join(name), photos.join(name)).unwrap();
    }
    refused(&photos, "0001.jpg");
    // A user's own summary.json, or hash32.idx, in a folder of the demo's names alone.
    let mine = d.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    crate::common::write(&mine, "summary.json", br#"{"total": 3, "models": []}"#);
    refused(&mine, "summary.json");
    std::fs::remove_file(mine.join("summary.json")).unwrap();
    crate::common::write(&mine, "hash32.idx", b"my hash notes\n");
    refused(&mine, "hash32.idx");
    // A training run's folder: said to be one.
    let trained = d.path().join("trained");
    std::fs::create_dir(&trained).unwrap();
    crate::common::write(&trained, "config.json", b"{}");
    refused(&trained, "config.json, a training run's file");

    // An empty folder takes a demo, and the demo's folder takes another, with what a killed
    // demo leaves (a temporary file, a staging folder) and a browser's file.
    let out = d.path().join("empty");
    std::fs::create_dir(&out).unwrap();
    expect_success(&run(demo, &[&out, &images, &labels]));
    crate::common::write(&out, ".summary.json.4242-0.tmp", b"{");
    std::fs::create_dir(out.join("hash32/.imsat-run-4242")).unwrap();
    crate::common::write(&out, ".DS_Store", b"\0");
    let summary = std::fs::read(out.join("summary.json")).unwrap();
    expect_success(&run(demo, &[&out, &images, &labels]));
    assert_ne!(std::fs::read(out.join("summary.json")).unwrap(), summary);
    // A rerun that cannot lock a folder of the demo (here the hash model's, held by another
    // writer: another demo into the same --out) is refused before it trains, and the earlier
    // demo is left whole, its summary with it.
    let before = tree(&out);
    let held = std::fs::File::open(out.join("hash32")).unwrap();
    held.lock().unwrap();
    let stopped = run(demo, &[&out, &images, &labels]);
    crate::common::expect_error(&stopped, 1, &["hash32", "another imsat is writing"]);
    drop(held);
    assert_eq!(tree(&out), before);
    // Stopped by a signal part-way (its clustering model staged, its hash model training), a
    // rerun leaves the earlier demo whole (it had put its clustering model in place, and
    // removed the summary: a mix of two demos) and nothing of its own.
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        let mut rerun = with_default_signals(&mut crate::common::imsat_command(&[]))
            .args([
                "demo",
                "--cluster-epochs",
                "1",
                "--hash-epochs",
                "5000",
                "--out",
            ])
            .arg(&out)
            .arg("--data")
            .arg(&images)
            .arg("--labels")
            .arg(&labels)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let staged = || {
            let entries = std::fs::read_dir(out.join("cluster10")).unwrap();
            entries.flatten().any(|e| {
                e.file_name().to_string_lossy().starts_with(".imsat-run-")
                    && e.path().join("model.int8.onnx").exists()
            })
        };
        let started = Instant::now();
        while !staged() {
            assert!(rerun.try_wait().unwrap().is_none(), "the demo ended");
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "nothing staged"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        send(&rerun, "TERM");
        assert_eq!(rerun.wait().unwrap().signal(), Some(15));
        assert_eq!(tree(&out), before);
        for dir in [out.clone(), out.join("cluster10"), out.join("hash32")] {
            let entries = std::fs::read_dir(&dir).unwrap().flatten();
            let names: Vec<String> = entries
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            assert!(
                !names.iter().any(|n| n.starts_with(".imsat-run-")),
                "{dir:?}: {names:?}"
            );
        }
    }
    // A demo under way into the same --out (its lock on the folder held): a second is refused
    // before it trains, the folder untouched.
    let held = std::fs::File::open(&out).unwrap();
    held.lock().unwrap();
    let second = run(demo, &[&out, &images, &labels]);
    crate::common::expect_error(&second, 1, &["another imsat is writing"]);
    drop(held);
    assert_eq!(tree(&out), before);
    // A file of the user's among the demo's is not replaced, nor written beside.
    crate::common::write(&out.join("hash32"), "notes.txt", b"mine");
    refused(&out, "hash32/notes.txt");
}
