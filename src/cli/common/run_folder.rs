//! A training run's folder: the burn record, `config.json`, `history.json`, `report.json`,
//! `curves.png` and the ONNX models, written by `imsat train` and `imsat demo`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use imsat_runtime::atomic_file::write_atomic;
use imsat_runtime::soft_code::SoftCheck;
use imsat_trainer::export::{Exported, write_models};
use imsat_trainer::loss::Task;
use imsat_trainer::metrics::Retrieval;
use imsat_trainer::train::{Quality, Trained};
use serde_json::json;

/// The files a training run writes into its folder (the burn record, the settings and reports,
/// the curves, the ONNX models, a feature model's scaling, a photo run's held-out list).
pub const RUN_FILES: [&str; 9] = [
    "model.bpk",
    "config.json",
    "history.json",
    "report.json",
    "curves.png",
    imsat_trainer::export::F32_FILE,
    imsat_trainer::export::INT8_FILE,
    "scaling.json",
    "validation.txt",
];

/// Refuses, before any work, a `--out` folder that already holds a run's file unless
/// `overwrite`: a rerun with the same `--out` would replace a model that took minutes or hours.
/// A file of a run's name that a run did not write (a project's own `config.json`, a photo
/// called `curves.png`) is refused even with `overwrite`: a run replaces or removes every file
/// of those names.
pub fn check_new_run_folder(out: &Path, overwrite: bool) -> anyhow::Result<()> {
    let held: Vec<&str> = RUN_FILES
        .iter()
        .copied()
        .filter(|f| out.join(f).symlink_metadata().is_ok())
        .collect();
    if let Some(foreign) = held.iter().find(|f| !holds_run_file(f, &out.join(f))) {
        return Err(crate::cli::common::bad_input(format!(
            "--out {}: its {foreign} is not a training run's ({}), and a run would replace it; \
             choose another folder, or move the file",
            out.display(),
            super::output::describe_file(&out.join(foreign))
        )));
    }
    if overwrite || held.is_empty() {
        return Ok(());
    }
    Err(crate::cli::common::bad_input(format!(
        "--out {}: already holds a training run ({}); choose another folder, or pass \
         --overwrite to replace it",
        out.display(),
        held.join(", ")
    )))
}

/// Whether `path`, the file `name` of a run folder, holds what a training run writes there:
/// the burn record's magic, an ONNX model, JSON of a run's shape (a run's JSON files are small,
/// and read whole up to [`MAX_RUN_JSON`]), imsat's curves; a text of held-out photos, and a
/// PNG without imsat's mark (curves drawn before 2026-12-07), beside a run's `report.json`. An
/// empty file holds nothing to lose.
pub fn holds_run_file(name: &str, path: &Path) -> bool {
    use super::output::{PNG_MAGIC, file_start, is_onnx, is_text};
    let Some((start, len)) = file_start(path) else {
        return false;
    };
    let json = || -> Option<serde_json::Value> {
        (len <= MAX_RUN_JSON).then_some(())?;
        let file = std::fs::File::open(path).ok()?;
        serde_json::from_reader(std::io::BufReader::new(file)).ok()
    };
    let beside_a_run = || {
        path.parent()
            .is_some_and(|dir| holds_run_file("report.json", &dir.join("report.json")))
    };
    let object_with =
        |keys: &[&str]| json().is_some_and(|v| keys.iter().all(|k| v.get(k).is_some()));
    len == 0
        || match name {
            "model.bpk" => start.starts_with(BURN_RECORD_MAGIC),
            "config.json" => object_with(&["task", "sat"]),
            "report.json" => object_with(&["task", "epochs"]),
            "scaling.json" => object_with(&["mean", "scale"]),
            "history.json" => json().is_some_and(|v| {
                v.as_array()
                    .is_some_and(|epochs| epochs.iter().all(|e| e.get("epoch").is_some()))
            }),
            "curves.png" => {
                crate::plot::drawn_by_imsat(&start, crate::plot::Picture::TrainingCurves)
                    || (start.starts_with(PNG_MAGIC) && beside_a_run())
            }
            "validation.txt" => is_text(&start) && beside_a_run(),
            n if n == imsat_trainer::export::F32_FILE || n == imsat_trainer::export::INT8_FILE => {
                is_onnx(&start)
            }
            _ => false,
        }
}

/// The largest JSON file of a run read to tell whether it is one (a history of 100,000 epochs
/// is about 30 MB).
const MAX_RUN_JSON: u64 = 64 << 20;

/// The first bytes of a burn record file (`model.bpk`).
const BURN_RECORD_MAGIC: &[u8] = b"NRUB";

/// The folder of a new run, made before the training so that one that cannot be made fails
/// now, not after it, and held for the run: a second `imsat train` into it is refused while
/// this one runs (two runs' files would mix). The run writes into a hidden staging folder
/// inside it ([`RunFolder::files`]); [`RunFolder::commit`] moves those files into place, so
/// that an interrupted run, a full disk or a failed export leaves the earlier run (with
/// `--overwrite`) or nothing, never a folder that looks like a run and has no model. Dropped
/// without a commit, the staging folder is removed, and so is the run folder where it was
/// made here and is still empty (a run that diverged or was refused).
pub struct RunFolder {
    out: PathBuf,
    /// The folders made here, `out` first, then each parent made for it.
    made: Vec<PathBuf>,
    /// Where the run's files are written until the commit.
    staging: PathBuf,
    /// `out` opened and locked for the run (an advisory lock, released when closed).
    _lock: std::fs::File,
    /// Set where the run could not be kept aside under a visible name: the staging folder
    /// then holds it, and is not removed when dropped.
    keep_staging: std::cell::Cell<bool>,
}

/// Refuse to put runs in place (`runs`: one, or the demo's two, which go in together) where a
/// run folder holds a file of a run's name that no run wrote: the moves would replace or
/// remove it. Every run is kept aside, none lost ([`RunFolder::keep_aside`]), and the error
/// says where. Called inside [`crate::cli::common::interrupt::held_back`], with the moves.
pub fn keep_aside_if_foreign_files(runs: &[&RunFolder]) -> anyhow::Result<()> {
    let Some((run, (name, what))) = runs.iter().find_map(|r| r.foreign_file().map(|f| (r, f)))
    else {
        return Ok(());
    };
    let kept: Vec<String> = runs
        .iter()
        .map(|r| r.keep_aside().display().to_string())
        .collect();
    anyhow::bail!(
        "{}: its {name} is not a training run's ({what}), and putting the run in place would \
         replace or remove it; the run's files are kept in {}: move {name} away, then move \
         them in",
        run.out.display(),
        kept.join(" and ")
    )
}

/// Names of staging folders start with this: hidden, so no folder read takes them for data.
pub const STAGING_PREFIX: &str = ".imsat-run-";

/// `msg` with each path into a run's staging folder (`run/.imsat-run-42/model.bpk`) given as
/// the path its file is moved to (`run/model.bpk`): the staging folder is removed when the run
/// fails, so naming it would send the user looking for a folder that is not there.
pub fn final_names(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(at) = rest.find(STAGING_PREFIX) {
        let after = &rest[at + STAGING_PREFIX.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let tail = &after[digits..];
        let separated = at > 0 && rest[..at].ends_with(std::path::MAIN_SEPARATOR);
        if digits > 0 && separated && tail.starts_with(std::path::MAIN_SEPARATOR) {
            // Drop the separator before the staging folder's name and the name.
            out.push_str(&rest[..at - 1]);
            rest = tail;
        } else {
            out.push_str(&rest[..at + STAGING_PREFIX.len()]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Make `out` (and its parents) for a run and lock it; see [`RunFolder`].
pub fn make_run_folder(out: &Path) -> anyhow::Result<RunFolder> {
    let made = crate::cli::common::interrupt::make_output_folder(out)
        .with_context(|| format!("creating {}", out.display()))?;
    let lock = std::fs::File::open(out).with_context(|| format!("opening {}", out.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        // Not bad input (exit status 1): the same command succeeds once the other is done.
        Err(std::fs::TryLockError::WouldBlock) => {
            anyhow::bail!(
                "{}: another imsat is writing a run into it now; wait for it to finish, or \
                 choose another folder",
                out.display()
            );
        }
        // A file system without locks: the run goes on unguarded, as before locks.
        Err(std::fs::TryLockError::Error(_)) => {}
    }
    // Staging folders left by runs that were killed (none is running: the lock is ours).
    if let Ok(entries) = std::fs::read_dir(out) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let staging = out.join(format!("{STAGING_PREFIX}{}", std::process::id()));
    crate::cli::common::interrupt::make_staging(&staging)
        .with_context(|| format!("creating {}", staging.display()))?;
    Ok(RunFolder {
        out: out.to_path_buf(),
        made,
        staging,
        _lock: lock,
        keep_staging: std::cell::Cell::new(false),
    })
}

impl RunFolder {
    /// Where the run writes its files until [`RunFolder::commit`].
    pub fn files(&self) -> &Path {
        &self.staging
    }

    /// Move the run's files into the run folder, each by a rename over the earlier run's,
    /// and remove the earlier run's files this run did not write (an int8 model, a feature
    /// run's scaling, a photo run's held-out list would otherwise stay beside the new model).
    pub fn commit(self) -> anyhow::Result<()> {
        crate::cli::common::interrupt::held_back(|| {
            keep_aside_if_foreign_files(&[&self])?;
            self.move_in()
        })
    }

    /// The first file of a run's name in the run folder that no run wrote, and what it is: a
    /// file put there while the run trained (checked before, by [`check_new_run_folder`]), or
    /// one that stopped counting as a run's (its `report.json` removed meanwhile).
    fn foreign_file(&self) -> Option<(&'static str, String)> {
        RUN_FILES
            .into_iter()
            .find(|f| {
                let to = self.out.join(f);
                to.symlink_metadata().is_ok() && !holds_run_file(f, &to)
            })
            .map(|f| (f, super::output::describe_file(&self.out.join(f))))
    }

    /// Rename the staging folder to a visible `unplaced-run-PID` (or `-2`, `-3`, ...: a PID
    /// repeats across containers) beside the run's files, and say where the files are. Where
    /// that fails, the staging folder itself is kept (not removed when dropped) and named.
    fn keep_aside(&self) -> PathBuf {
        let pid = std::process::id();
        let free = (1..=1000)
            .map(|k| match k {
                1 => self.out.join(format!("unplaced-run-{pid}")),
                _ => self.out.join(format!("unplaced-run-{pid}-{k}")),
            })
            .find(|p| p.symlink_metadata().is_err());
        match free.filter(|to| std::fs::rename(&self.staging, to).is_ok()) {
            Some(kept) => kept,
            None => {
                self.keep_staging.set(true);
                self.staging.clone()
            }
        }
    }

    /// [`RunFolder::commit`]'s moves, for a caller that holds signals back itself around
    /// several runs' moves (`imsat demo`: its two models go in place together).
    pub fn move_in(&self) -> anyhow::Result<()> {
        for f in RUN_FILES {
            let (staged, to) = (self.staging.join(f), self.out.join(f));
            if staged.exists() {
                std::fs::rename(&staged, &to)
                    .with_context(|| format!("moving {} to {}", staged.display(), to.display()))?;
            } else if to.exists() {
                std::fs::remove_file(&to).with_context(|| format!("removing {}", to.display()))?;
            }
        }
        Ok(())
    }
}

impl Drop for RunFolder {
    fn drop(&mut self) {
        // Empty after a commit; a failed run's partial files otherwise (gone if kept aside).
        if !self.keep_staging.get() {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
        crate::cli::common::interrupt::forget_staging(&self.staging);
        // Keeps them where the run (or an earlier one) wrote anything.
        crate::cli::common::interrupt::remove_empty(&self.made);
    }
}

/// The report as printed and saved: one JSON object.
pub fn report_json(t: &Trained, n: usize, data_crc32: u32) -> serde_json::Value {
    let c = &t.config;
    let mut r = json!({
        "task": c.task.as_str(),
        "epochs": c.epochs,
        "seed": c.seed,
        "seconds_per_epoch": t.seconds_per_epoch,
        "n": n,
        "batch": c.batch,
        "sat": c.sat,
        "hidden": c.hidden,
        "heads": c.heads,
        "head": t.head,
        "data_crc32": format!("{data_crc32:08x}"),
        "float_kernels": imsat_trainer::backend::float_kernels(),
    });
    if let Some(conv) = c.conv {
        r["conv"] = json!(conv);
    }
    if let Some(split) = c.colour_split {
        r["colour_split"] = json!(split);
    }
    if c.restarts > 1 {
        r["restarts"] = json!(c.restarts);
        r["restart"] = json!(t.restart);
        r["restart_losses"] = json!(t.restart_losses);
    }
    match c.task {
        Task::Cluster => r["classes"] = json!(c.outputs),
        Task::Hash => r["bits"] = json!(c.outputs),
    }
    match t.quality {
        Some(Quality::Cluster { acc, nmi }) => {
            r["acc"] = json!(acc);
            r["nmi"] = json!(nmi);
        }
        Some(Quality::Hash(q)) => retrieval_json(&q, &mut r),
        None => {}
    }
    r
}

/// Retrieval metrics into a report: `map`, `precision_at_500`, `precision_within_r2` and the
/// number of `queries` they average over; null with no queries (nothing was measured), and
/// precision@500 null over a gallery of at most 500 items (it would be each query's class
/// share of the gallery, the same for every model: 0.103 for hash16, hash64 and codes all 0).
pub fn retrieval_json(q: &Retrieval, out: &mut serde_json::Value) {
    let measured = |v: f64| if q.queries > 0 { json!(v) } else { json!(null) };
    out["map"] = measured(q.map);
    out["precision_at_500"] = match q.gallery {
        ..=500 => json!(null),
        _ => measured(q.precision_at_500),
    };
    out["precision_within_r2"] = measured(q.precision_within_r2);
    out["queries"] = json!(q.queries);
}

/// Everything a training run leaves in its folder, each file through a temporary file and a
/// rename: the burn record, `config.json`, `history.json`, `report.json`, `curves.png`, and the
/// ONNX models (f32 + int8 calibrated on `images`, the model rows; a photo model's
/// `dedup_radius` and `soft_check` in their metadata). `items`: the training items, the
/// report's `n` (`images.n` but for photo items of several views, a model row each). Returns
/// the report and the ONNX files.
pub fn save_run(
    trained: &Trained,
    images: &imsat_data::Images,
    items: usize,
    out: &Path,
    extra: &serde_json::Value,
    dedup_radius: Option<u32>,
    soft_check: Option<SoftCheck>,
) -> anyhow::Result<(serde_json::Value, Exported)> {
    let report = save_files(trained, items, crc32fast::hash(&images.pixels), out, extra)?;
    let exported = write_models(
        trained,
        images,
        &metadata_report(&report),
        dedup_radius,
        soft_check,
        out,
    )?;
    // Quantization that flips outputs is said: the model files are written all the same.
    if let Some(share) = exported.int8_agreement
        && share < INT8_AGREEMENT
    {
        errln!(
            "warning: the int8 model gives {:.2}% of the f32 model's {} on training rows, below \
             the {}% the shipped models keep (its logits nearly tie: a smaller --lr or longer \
             training spreads them); model.onnx gives the f32 answers",
            100.0 * share,
            match trained.config.task {
                Task::Cluster => "cluster ids",
                Task::Hash => "code bits",
            },
            100.0 * INT8_AGREEMENT
        );
    }
    Ok((report, exported))
}

/// The report as a model's `imsat.report` metadata: `report.json` without the time an epoch
/// took and the command line (its paths), which would make the ONNX files of two runs of one
/// seed differ in their bytes, and a model card's SHA-256 impossible to check by a rerun.
pub fn metadata_report(report: &serde_json::Value) -> String {
    let mut r = report.clone();
    if let Some(r) = r.as_object_mut() {
        r.remove("seconds_per_epoch");
        r.remove("command");
    }
    r.to_string()
}

/// The share of the f32 model's code bits or cluster ids below which an int8 model's
/// agreement is warned about: the acceptance the shipped models are held to.
const INT8_AGREEMENT: f64 = 0.995;

/// H(Y) in nats below which a run's last epoch is called collapsed: a thousandth of a nat
/// leaves at most about one sample in ten thousand outside the one output.
const COLLAPSED_ENTROPY: f64 = 1e-3;

/// Everything [`save_run`] writes but the ONNX models; returns the report.
pub fn save_files(
    trained: &Trained,
    n: usize,
    data_crc32: u32,
    out: &Path,
    extra: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    // Divergence that ends in a finite loss (a huge learning rate), or a model too small for
    // its SAT (a linear hash under the affine SAT: H(Y) 2e-5 nats, one code for 10,000
    // digits), can leave a model that gives every input one output: said, since nothing else
    // in the run shows it. A healthy run's H(Y) is near ln K, or ln 2 a bit.
    if let Some(last) = trained.history.last()
        && last.marginal_entropy < COLLAPSED_ENTROPY
    {
        errln!(
            "warning: training collapsed: in its last epoch every sample got the same {} \
             (H(Y) = {:.1e}), so the model tells nothing apart; a smaller learning rate (--lr) \
             or another seed trains one that does",
            match trained.config.task {
                Task::Cluster => "cluster",
                Task::Hash => "code",
            },
            last.marginal_entropy
        );
    }
    let mut report = report_json(trained, n, data_crc32);
    if let (Some(r), Some(e)) = (report.as_object_mut(), extra.as_object()) {
        r.extend(e.clone());
    }
    // The command line, whose data flags (--limit, --holdout, --groups, --radius,
    // --soft-check) a `--config` rerun must repeat: config.json holds only the settings.
    let command: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    report["command"] = json!(command);
    let save = |name: &str, bytes: &[u8]| {
        let p = out.join(name);
        write_atomic(&p, bytes).with_context(|| format!("writing {}", p.display()))
    };
    save("model.bpk", &trained.record_bytes()?)?;
    save(
        "config.json",
        serde_json::to_string_pretty(&trained.config)?.as_bytes(),
    )?;
    save(
        "history.json",
        serde_json::to_string_pretty(&trained.history)?.as_bytes(),
    )?;
    save(
        "report.json",
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    let c = &trained.config;
    let metric = match c.task {
        Task::Cluster => "clustering accuracy",
        Task::Hash => "retrieval mAP",
    };
    let title = format!("{} {}", c.task.as_str(), c.outputs);
    crate::plot::training_curves(&out.join("curves.png"), &trained.history, &title, metric)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run's files are told from a user's of the same names by what they hold.
    #[test]
    fn a_run_s_files_are_told_from_files_of_the_same_name() {
        let d = tempfile::tempdir().unwrap();
        let put = |name: &str, bytes: &[u8]| {
            let p = d.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            holds_run_file(name, &p)
        };
        let onnx =
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hash16.int8.onnx"))
                .unwrap();
        assert!(
            !put("validation.txt", b"photos/a.jpg\n"),
            "no run's report beside it"
        );
        assert!(
            !put("curves.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            "nor beside it"
        );
        assert!(put("model.bpk", b"NRUB\x01\0[\x04"));
        assert!(put("config.json", br#"{"task": "hash", "sat": ["vat"]}"#));
        assert!(put("report.json", br#"{"task": "hash", "epochs": 50}"#));
        // Beside a run's report: a held-out list, and curves drawn before the mark.
        assert!(put("validation.txt", b"photos/a.jpg\n"));
        assert!(put("curves.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"));
        assert!(put("history.json", br#"[{"epoch": 1, "loss": 0.5}]"#));
        assert!(put("scaling.json", br#"{"mean": [0.5], "scale": 2.0}"#));
        assert!(put("model.onnx", &onnx));
        assert!(put("model.int8.onnx", &onnx));
        assert!(put("curves.png", b""), "an empty file holds nothing");
        assert!(!put("model.bpk", b"PK\x03\x04"));
        assert!(!put("config.json", b"{}"));
        assert!(!put(
            "config.json",
            br#"{"name": "my-project", "version": 2}"#
        ));
        assert!(!put("report.json", b"quarterly report\n"));
        assert!(!put("history.json", br#"[{"date": "2026-01-01"}]"#));
        assert!(!put("scaling.json", br#"{"mean": [0.5]}"#));
        assert!(!put("validation.txt", &onnx));
        assert!(!put("model.onnx", b"\xff\xd8\xff\xe0"));
        assert!(!put("curves.png", b"\xff\xd8\xff\xe0"), "a JPEG photo");
        let folder = d.path().join("sub");
        std::fs::create_dir(&folder).unwrap();
        assert!(!holds_run_file("model.onnx", &folder));
    }

    #[test]
    fn a_message_names_a_run_s_files_where_they_go() {
        assert_eq!(
            final_names("runs/a/.imsat-run-4711/model.bpk: cannot write: No space left"),
            "runs/a/model.bpk: cannot write: No space left"
        );
        assert_eq!(
            final_names("x/.imsat-run-1/a, x/.imsat-run-1/b"),
            "x/a, x/b"
        );
        // Not a staging folder of this process's making: kept as it is.
        for kept in [
            "x/.imsat-run-/a",
            "x/.imsat-run-12a/b",
            ".imsat-run-3/c",
            "x/.imsat-run-5",
        ] {
            assert_eq!(final_names(kept), kept);
        }
    }
}
