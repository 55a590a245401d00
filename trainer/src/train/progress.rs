//! Terminal output of a run: progress bars and the one-line summary of each epoch.

use indicatif::ProgressBar;

use super::EpochStats;
use crate::loss::Task;

pub use imsat_data::progress::progress_bar;

/// Write `line` to stderr, letting a failed write go: a closed stderr loses the line, not
/// the training run.
pub(super) fn stderr_line(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// What a training run shows: a bar over every step with the last epoch's losses beside it;
/// without the bar and with `IMSAT_LOG_EPOCHS` set, each epoch as a JSON line on stderr.
pub(super) struct RunProgress {
    bar: ProgressBar,
    task: Task,
    show: bool,
}

impl RunProgress {
    pub(super) fn new(steps: u64, task: Task, show: bool) -> Self {
        RunProgress {
            bar: progress_bar(steps, "training", show),
            task,
            show,
        }
    }

    pub(super) fn step(&self) {
        self.bar.inc(1);
    }

    pub(super) fn epoch(&self, stats: &EpochStats) {
        self.bar.set_message(format!(
            "epoch {} loss {:.4} sat {:.4} H(Y|X) {:.3} H(Y) {:.3}{}{}",
            stats.epoch,
            stats.loss,
            stats.sat,
            stats.cond_entropy,
            stats.marginal_entropy,
            if self.task == Task::Hash {
                format!(" MI {:.3}", stats.pairwise_mi)
            } else {
                String::new()
            },
            stats
                .metric
                .map(|m| format!(" metric {m:.4}"))
                .unwrap_or_default()
        ));
        if !self.show && std::env::var_os("IMSAT_LOG_EPOCHS").is_some() {
            stderr_line(&serde_json::to_string(stats).unwrap_or_default());
        }
    }

    pub(super) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
