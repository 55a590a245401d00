//! The progress bar of every long step, one style for the trainer and the CLI: reading a
//! folder of photos, training, scoring copies (feature `photos`, with the folder reader).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps named `what`, hidden when `show` is false (indicatif also hides it by
/// itself when stderr is not a terminal).
pub fn progress_bar(len: u64, what: &str, show: bool) -> ProgressBar {
    let pb = if show {
        ProgressBar::new(len)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {elapsed} {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    pb
}
