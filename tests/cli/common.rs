//! Helpers shared by the CLI tests: run the `imsat` binary and check its one-line errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `imsat --quiet ARGS` with backtraces on, so that a panic could not go unseen.
pub fn imsat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imsat"))
        .arg("--quiet")
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("running imsat")
}

/// The vendored MNIST-10k images (IDX, gzipped).
pub fn mnist_images() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist10k/images-idx3-ubyte.gz")
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
