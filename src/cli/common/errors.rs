//! The error convention: what the user gave us and got wrong (a file, a flag) exits with status
//! 2, anything else 1, a reader gone away (`| head`) as SIGPIPE would; every error prints as
//! one line.

use std::process::ExitCode;

use super::interrupt;

/// An error caused by what the user gave us (a file, a flag): exit status 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Shorthand for a bad-input error.
pub fn bad_input(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(BadInput(msg.into()))
}

/// Print one clear line for an error and pick the exit status: 2 for bad input, 1 otherwise.
///
/// Output cut short because its reader went away (`| head`) is no error to report: no line,
/// and the status of a process ended by SIGPIPE (141), as `seq 1 100000 | head -1` gives.
/// After a caught Ctrl-C or `kill`, nothing: the signal's thread ends the process by it.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    interrupt::wait_if_stopping();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::from(141),
        Err(e) => {
            errln!("imsat: error: {}", one_line(&e));
            if is_bad_input(&e) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// The error and its causes on one line, `: `-separated. A cause whose text the line already
/// ends with (a typed error that prints its source) is not repeated, nor is a `writing PATH`
/// context whose cause names PATH itself (`PATH: cannot write: No space left on device`). A
/// training run's files are named where they will be, not in the run's hidden staging folder.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    // Where the last cause's text begins in `msg`.
    let mut last = 0;
    for c in e.chain() {
        let text = c.to_string();
        let written = msg[last..].strip_prefix("writing ");
        if msg.is_empty() || written.is_some_and(|path| text.contains(path)) {
            msg.truncate(last);
        } else if msg.ends_with(&text) {
            continue;
        } else {
            msg.push_str(": ");
        }
        last = msg.len();
        msg.push_str(&text);
    }
    #[cfg(feature = "train")]
    let msg = super::run_folder::final_names(&msg);
    msg.replace('\n', " ")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn is_bad_input(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.is::<BadInput>() || c.is::<imsat_data::DataError>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    fn io(text: &str) -> anyhow::Result<()> {
        Err(std::io::Error::new(std::io::ErrorKind::StorageFull, text.to_string()).into())
    }

    #[test]
    fn a_cause_that_names_the_file_written_says_it_once() {
        let e = io("out/x.idx: cannot write: No space left on device")
            .context("writing out/x.idx")
            .unwrap_err();
        assert_eq!(
            one_line(&e),
            "out/x.idx: cannot write: No space left on device"
        );
        let e = io("No space left on device")
            .context("writing out/x.idx")
            .unwrap_err();
        assert_eq!(one_line(&e), "writing out/x.idx: No space left on device");
        let e = io("out/y.idx: cannot write: denied")
            .context("writing out/x.idx")
            .context("import")
            .unwrap_err();
        assert_eq!(
            one_line(&e),
            "import: writing out/x.idx: out/y.idx: cannot write: denied"
        );
    }
}
