//! One module per subcommand, each with its `Args` and a `run`. A command never imports
//! another: what two of them need lives in [`common`].

/// `println!` that hands back the write's error instead of panicking: when the reader of a pipe
/// goes away (`imsat dedup DIR | head`), the command stops there and [`exit_code`] ends it
/// quietly, as other Unix tools do.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

pub mod common;
pub mod dedup;
pub mod demo;
pub mod encode;
pub mod eval;
pub mod index;
pub mod search;
pub mod train;

pub use common::{Ctx, bad_input, exit_code};
