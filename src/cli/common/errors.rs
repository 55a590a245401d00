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
/// ends with (a typed error that prints its source) is not repeated.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for c in e.chain() {
        let text = c.to_string();
        if msg.is_empty() {
            msg = text;
        } else if !msg.ends_with(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
    }
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
