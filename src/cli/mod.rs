//! One module per subcommand, each with its `Args` and a `run`. A command never imports
//! another: what two of them need lives in [`common`].

pub mod common;
pub mod dedup;
pub mod demo;
pub mod encode;
pub mod eval;
pub mod index;
pub mod search;
pub mod train;

pub use common::{Ctx, bad_input, exit_code};
