//! What more than one command needs: the error convention (bad input exits 2, `errors.rs`),
//! command-line paths (`paths.rs`), output checks (`output.rs`), photo folders (`photos.rs`),
//! opening and running models, reading codes, an index's card and its lock, the run
//! folder, dedup's radius and groups, the copy-detection benchmark, and what a signal leaves
//! unfinished.

pub mod codes;
#[cfg(feature = "train")]
pub mod copy_detection;
pub mod groups;
pub mod index_card;
pub mod index_lock;
pub mod interrupt;
pub mod model;
pub mod radius;
#[cfg(feature = "train")]
pub mod run_folder;

mod errors;
mod output;
mod paths;
mod photos;

pub use errors::{bad_input, exit_code};
pub use imsat_data::progress::progress_bar;
pub use output::{
    OutputKind, check_output_file, check_png_output, check_replaces_only, file_begins_with,
    unreadable_index,
};
#[cfg(feature = "train")]
pub use output::{PNG_MAGIC, check_output_dir, inside_folder};
#[cfg(feature = "train")]
pub use paths::text_path;
pub use paths::{NamedStdout, in_path, is_stdout, not_utf8, out_path, print_summary, text_name};
#[cfg(feature = "train")]
pub use photos::read_photos;
pub use photos::{report_ignored, report_skipped};

/// Options shared by every subcommand.
pub struct Ctx {
    pub quiet: bool,
}
