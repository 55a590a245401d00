//! One module per subcommand, each with its `Args` and a `run`. A command never imports
//! another: what two of them need lives in [`common`].

/// `println!` that hands back the write's error instead of panicking: when the reader of a pipe
/// goes away (`imsat dedup DIR | head`), the command stops there and [`exit_code`] ends it
/// quietly, as other Unix tools do.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(
            $crate::cli::common::NamedStdout(std::io::stdout().lock()),
            $($arg)*
        )
    }};
}

/// `eprintln!` that lets a failed write go instead of panicking: with stderr closed or its
/// reader gone, a warning or a summary has nowhere to go, which is no reason to stop the
/// command or lose its output.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

pub mod common;
pub mod dedup;
#[cfg(feature = "train")]
pub mod demo;
pub mod encode;
#[cfg(feature = "train")]
pub mod eval;
pub mod index;
pub mod search;
#[cfg(feature = "train")]
pub mod train;

pub use common::{Ctx, bad_input, exit_code};
