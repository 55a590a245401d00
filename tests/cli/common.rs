//! Helpers shared by the CLI tests: run the `imsat` binary and check its one-line errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `imsat --quiet ARGS` with backtraces on, so that a panic could not go unseen.
pub fn imsat(args: &[&str]) -> Output {
    imsat_command(args).output().expect("running imsat")
}

/// The command [`imsat`] runs, for a test that wires its pipes itself.
pub fn imsat_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_imsat"));
    command.arg("--quiet").args(args).env("RUST_BACKTRACE", "1");
    command
}

/// The vendored MNIST-10k images (IDX, gzipped).
pub fn mnist_images() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist10k/images-idx3-ubyte.gz")
}

/// Whether `python3` imports `modules` (`"faiss, numpy"`), the independent readers some tests
/// check against; `.ci/run` installs them. Without them the test fails, naming `what`, unless
/// `IMSAT_ALLOW_SKIP=1`, when it says NOT RUN and the caller returns.
pub fn python_with(modules: &str, what: &str) -> bool {
    let probe = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output();
    if probe.is_ok_and(|o| o.status.success()) {
        return true;
    }
    let why = format!("python3 with {what} is not available (.ci/run installs them)");
    if std::env::var_os("IMSAT_ALLOW_SKIP").is_some_and(|v| v == "1") {
        println!("NOT RUN (IMSAT_ALLOW_SKIP=1): {why}");
        return false;
    }
    panic!("{why}; set IMSAT_ALLOW_SKIP=1 to skip locally");
}

/// An `.npz` file as NumPy loads it (without pickle): `{array: {"dtype", "shape", "values"}}`
/// for every array, values as nested lists. Call after [`python_with`]`("numpy", ..)`.
pub fn numpy_npz(path: &Path) -> serde_json::Value {
    const SCRIPT: &str = "import sys, json, numpy as np\n\
        z = np.load(sys.argv[1])\n\
        print(json.dumps({k: {'dtype': str(z[k].dtype), 'shape': list(z[k].shape),\n\
        'values': z[k].tolist()} for k in z.files}))";
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(path)
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "numpy could not load {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script's JSON")
}

/// Checks that a run succeeded; its stderr is the failure message (the caller's line is the
/// one reported).
#[track_caller]
pub fn expect_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// The one line `imsat: error: ...` of a failed run with this exit status; checks it holds
/// every needle, and that nothing panicked.
pub fn expect_error(out: &Output, status: i32, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked") && !stderr.contains("stack backtrace"),
        "panic: {stderr}"
    );
    assert_eq!(out.status.code(), Some(status), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {stderr}");
    assert!(lines[0].starts_with("imsat: error: "), "{stderr}");
    for n in needles {
        assert!(lines[0].contains(n), "missing {n:?} in: {stderr}");
    }
    lines[0].to_string()
}

/// A run refused as bad input (status 2, nothing on stdout) whose last stderr line is the
/// error holding every needle, after the notes and warnings before it.
pub fn expect_bad_input_after_notes(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty(), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("imsat: error: "), "{stderr}");
    for needle in needles {
        assert!(last.contains(needle), "missing {needle:?} in: {stderr}");
    }
}

pub fn expect_bad_input(out: &Output, needles: &[&str]) -> String {
    expect_error(out, 2, needles)
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Runs [`imsat`] with the words of `command`, each `{}` replaced by the next of `paths`
/// (whole, so a path may hold spaces): one line per command in the tests.
pub fn run(command: &str, paths: &[&Path]) -> Output {
    let mut paths = paths.iter();
    let args: Vec<&str> = command
        .split_whitespace()
        .map(|w| match w {
            "{}" => s(paths.next().expect("a path for every {}")),
            w => w,
        })
        .collect();
    assert!(
        paths.next().is_none(),
        "more paths than {{}} in {command:?}"
    );
    imsat(&args)
}
