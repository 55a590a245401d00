//! One module per subcommand; each has its `Args` and a `run`.

pub mod dedup;
pub mod demo;
pub mod encode;
pub mod eval;
pub mod index;
pub mod search;
pub mod train;

use std::process::ExitCode;

/// Options shared by every subcommand.
pub struct Ctx {
    pub quiet: bool,
}

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
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = e
                .chain()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(": ");
            eprintln!("imsat: error: {msg}");
            if is_bad_input(&e) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn is_bad_input(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.is::<BadInput>() || c.is::<imsat_trainer::data::DataError>())
}
