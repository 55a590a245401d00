//! Output into a pipe whose reader has gone (`imsat dedup DIR | head`): the command stops
//! quietly with the status of a process ended by SIGPIPE, never a panic or an error line; a
//! standard error gone the same way loses the warnings, never the run.

use std::process::Stdio;

use crate::common::{expect_success, imsat, imsat_command, mnist_images, s};

/// Which of the command's output pipes loses its reader.
enum Gone {
    Stdout,
    Stderr,
}

/// Runs `imsat --quiet ARGS` with one output pipe closed by its reader before any line is
/// written (the pipe's read end dropped at once); the other is captured.
fn with_reader_gone(args: &[&str], gone: Gone) -> std::process::Output {
    let mut child = imsat_command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running imsat");
    match gone {
        Gone::Stdout => drop(child.stdout.take()),
        Gone::Stderr => drop(child.stderr.take()),
    }
    child.wait_with_output().expect("waiting for imsat")
}

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let images = mnist_images();
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hash16.int8.onnx");
    let index = dir.path().join("digits.idx");
    let built = imsat(&[
        "index",
        "build",
        "--model",
        s(&model),
        "--data",
        s(&images),
        "--out",
        s(&index),
    ]);
    expect_success(&built);
    for args in [
        // dedup printed its groups with println!, which panics on a closed pipe
        vec![
            "dedup",
            "--model",
            s(&model),
            "--radius",
            "0",
            "--min-similarity",
            "0",
            s(&images),
        ],
        vec![
            "search",
            "--index",
            s(&index),
            "--model",
            s(&model),
            "--query",
            s(&images),
            "-k",
            "3",
        ],
    ] {
        let out = with_reader_gone(&args, Gone::Stdout);
        let (code, stderr) = (out.status.code(), String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            code,
            Some(141),
            "{} with its reader gone: {stderr}",
            args[0]
        );
        assert!(stderr.is_empty(), "{} wrote to stderr: {stderr}", args[0]);
    }
}

/// A closed standard error (its reader gone before anything is written) loses the warnings
/// and the summary, not the run: `dedup` names a file it skips and prints its summary there,
/// and once panicked on the first such line.
#[test]
fn a_closed_stderr_loses_the_warnings_not_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let photo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/photos/train/0001.jpg");
    std::fs::copy(&photo, dir.path().join("a.jpg")).expect("the bundled photo 0001.jpg");
    std::fs::copy(&photo, dir.path().join("b.jpg")).unwrap();
    std::fs::write(dir.path().join("broken.jpg"), b"not a JPEG").unwrap();
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/photo64.int8.onnx");
    let out = with_reader_gone(
        &[
            "dedup",
            "--model",
            s(&model),
            "--duplicates-only",
            s(dir.path()),
        ],
        Gone::Stderr,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}");
    assert!(stdout.trim_end().ends_with("b.jpg"), "stdout: {stdout}");
}

/// Standard output on a full device (`/dev/full`): the command fails (status 1) saying that
/// standard output could not be written, whether its output is a few lines (a search's,
/// held in a buffer to the end) or a single line.
#[cfg(target_os = "linux")]
#[test]
fn a_full_standard_output_is_an_error_that_names_it() {
    let d = tempfile::tempdir().unwrap();
    let raw = d.path().join("c.u64");
    let words: Vec<u8> = (0..3u64).flat_map(|w| (w * 3).to_le_bytes()).collect();
    std::fs::write(&raw, words).unwrap();
    let idx = d.path().join("c.idx");
    expect_success(&crate::common::run(
        "index import --raw-u64 {} --bits 8 --out {}",
        &[&raw, &idx],
    ));
    for args in [
        &[
            "search",
            "--index",
            s(&idx),
            "--queries-raw-u64",
            s(&raw),
            "-k",
            "2",
        ][..],
        &["index", "info", "--index", s(&idx)],
    ] {
        let out = imsat_command(args)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("writing standard output: No space left on device"),
            "{args:?}: {stderr}"
        );
    }
}

/// `imsat encode` of the bundled digits with hash16 (int8) into `out`.
fn encode_digits(out: &str) -> std::process::Output {
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hash16.int8.onnx");
    imsat(&[
        "encode",
        "--model",
        s(&model),
        "--data",
        s(&mnist_images()),
        "--out",
        out,
    ])
}

/// Runs that write their codes to standard output, which a shell sent to one file (`for d
/// in a b; do imsat encode ... --out -; done > all.u64`, or `>>`), each add theirs to what
/// the file holds: each run replaced the file, so the shell's next writes, the next run's
/// codes among them, went to a deleted file (the second run wrote `all.u64 (deleted)`).
#[cfg(target_os = "linux")]
#[test]
fn runs_writing_to_stdout_add_to_the_file_it_is_open_on() {
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hash16.int8.onnx");
    let images = mnist_images();
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.u64");
    std::fs::write(&all, b"header").unwrap();
    for out in ["-", "/dev/stdout"] {
        let shell_append = std::fs::OpenOptions::new().append(true).open(&all).unwrap();
        let status = imsat_command(&["encode", "--model", s(&model), "--data", s(&images)])
            .args(["--out", out])
            .stdout(shell_append)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "--out {out}");
    }
    let own = tempfile::tempdir().unwrap();
    let codes_path = own.path().join("codes.u64");
    expect_success(&encode_digits(s(&codes_path)));
    let codes = std::fs::read(&codes_path).unwrap();
    let held = std::fs::read(&all).unwrap();
    assert_eq!(held.len(), 6 + 2 * codes.len());
    assert!(
        held == [&b"header"[..], &codes, &codes].concat(),
        "header, codes, codes"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["all.u64"]);
}

/// `--out /dev/stdout` into a pipe writes the codes into the pipe (the link leads to
/// `pipe:[N]`, which was followed as a path and refused: "No such file or directory"), and
/// the codes alone: the summary line goes to stderr (it followed the codes into the pipe, 300
/// bytes of JSON a reader took for codes). So with stdout sent to a file, and for an index.
#[cfg(target_os = "linux")]
#[test]
fn codes_written_to_dev_stdout_go_into_the_pipe() {
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hash16.int8.onnx");
    let images = mnist_images();
    let encode = encode_digits;
    let out = encode("/dev/stdout");
    expect_success(&out);
    let summary: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(summary["count"], 10_000);
    let file = tempfile::NamedTempFile::new().unwrap();
    let to_file = encode(s(file.path()));
    expect_success(&to_file);
    let codes = std::fs::read(file.path()).unwrap();
    assert_eq!(codes.len(), 10_000 * 8);
    assert_eq!(out.stdout, codes);
    // A file named by the path: the summary stays on stdout.
    let summary: serde_json::Value = serde_json::from_slice(&to_file.stdout).unwrap();
    assert_eq!(summary["count"], 10_000);

    // Stdout sent to a file (`> codes.u64`): that file holds the codes alone.
    let redirected = tempfile::NamedTempFile::new().unwrap();
    let status = imsat_command(&["encode", "--model", s(&model), "--data", s(&images)])
        .args(["--out", "/dev/stdout"])
        .stdout(redirected.reopen().unwrap())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read(redirected.path()).unwrap(), codes);

    // An index exported to stdout: the faiss file alone.
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("digits.idx");
    expect_success(&imsat(&[
        "index",
        "build",
        "--model",
        s(&model),
        "--data",
        s(&images),
        "--out",
        s(&index),
    ]));
    let faiss = dir.path().join("digits.faiss");
    let export = |out: &str| {
        imsat(&[
            "index",
            "export",
            "--index",
            s(&index),
            "--format",
            "faiss",
            "--out",
            out,
        ])
    };
    expect_success(&export(s(&faiss)));
    // It waited for ever: the check that --out is no index card read the pipe.
    let piped = export("/dev/stdout");
    expect_success(&piped);
    assert_eq!(piped.stdout, std::fs::read(&faiss).unwrap());
    // An index imported into stdout: the index file alone.
    let raw = dir.path().join("digits.u64");
    std::fs::write(&raw, &codes).unwrap();
    let import = |out: &str| {
        imsat(&[
            "index",
            "import",
            "--raw-u64",
            s(&raw),
            "--bits",
            "16",
            "--out",
            out,
        ])
    };
    let imported = dir.path().join("imported.idx");
    expect_success(&import(s(&imported)));
    let piped = import("/dev/stdout");
    expect_success(&piped);
    assert_eq!(piped.stdout, std::fs::read(&imported).unwrap());

    // `-` is stdout; appending to it is refused (reading the pipe for the index waited).
    let dash = encode("-");
    expect_success(&dash);
    assert_eq!(dash.stdout, codes);
    let dash = import("-");
    expect_success(&dash);
    assert_eq!(dash.stdout, std::fs::read(&imported).unwrap());
    let appended = imsat(&[
        "index",
        "import",
        "--raw-u64",
        s(&raw),
        "--bits",
        "16",
        "--out",
        "-",
        "--append",
    ]);
    crate::common::expect_bad_input(&appended, &["--append", "a device or a pipe"]);
}

/// Codes piped in: `-` is standard input for an import's codes and a search's queries
/// (it was taken for a file named `-`).
#[test]
fn codes_and_queries_are_read_from_standard_input_given_as_dash() {
    use std::io::Write;
    let d = tempfile::tempdir().unwrap();
    let piped = |args: &[&str], input: &[u8]| {
        let mut child = imsat_command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    };
    let words: Vec<u8> = [1u64, 6, 0xFF, 7]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    let idx = d.path().join("c.idx");
    let import = ["index", "import", "--raw-u64", "-", "--bits", "8", "--out"];
    expect_success(&piped(&[&import[..], &[s(&idx)]].concat(), &words));
    let search = [
        "search",
        "--index",
        s(&idx),
        "--queries-raw-u64",
        "-",
        "-k",
        "1",
    ];
    let out = piped(&search, &words[8..16]);
    expect_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().next(), Some("1:0"), "{stdout}");
    // A .npy from standard input, as `index export --format npy --out -` writes one.
    let npy = imsat(&[
        "index",
        "export",
        "--index",
        s(&idx),
        "--format",
        "npy",
        "--out",
        "-",
    ]);
    expect_success(&npy);
    let again = d.path().join("again.idx");
    let import = ["index", "import", "--npy", "-", "--out", s(&again)];
    expect_success(&piped(&import, &npy.stdout));
    assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&idx).unwrap());
    // The index itself from standard input, as `index import --out -` writes one.
    let index_bytes = std::fs::read(&idx).unwrap();
    let queries = d.path().join("q.u64");
    std::fs::write(&queries, &words[8..16]).unwrap();
    let search = ["search", "--index", "-", "--queries-raw-u64", s(&queries)];
    let out = piped(&[&search[..], &["-k", "1"]].concat(), &index_bytes);
    expect_success(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().next(),
        Some("1:0")
    );
    let out = piped(&["index", "info", "--index", "-"], &index_bytes);
    expect_success(&out);
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((&info["codes"], &info["bits"]), (&4.into(), &8.into()));
    let out = piped(
        &[
            "index", "export", "--index", "-", "--format", "npy", "--out", "-",
        ],
        &index_bytes,
    );
    expect_success(&out);
    assert_eq!(out.stdout, npy.stdout);
    let both = ["search", "--index", "-", "--queries-raw-u64", "-"];
    let out = piped(&both, &index_bytes);
    crate::common::expect_bad_input(&out, &["both read", "one stream"]);
}
