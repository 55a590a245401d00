//! A training run's folder: the burn record, `config.json`, `history.json`, `report.json`,
//! `curves.png` and the ONNX models, written by `imsat train` and `imsat demo`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use imsat_data::idx;
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
pub fn check_new_run_folder(out: &Path, overwrite: bool) -> anyhow::Result<()> {
    if overwrite {
        return Ok(());
    }
    let held: Vec<&str> = RUN_FILES
        .iter()
        .copied()
        .filter(|f| out.join(f).exists())
        .collect();
    if held.is_empty() {
        return Ok(());
    }
    Err(crate::cli::common::bad_input(format!(
        "--out {}: already holds a training run ({}); choose another folder, or pass \
         --overwrite to replace it",
        out.display(),
        held.join(", ")
    )))
}

/// The folder of a new run, made before the training so that one that cannot be made fails
/// now, not after it. Made here and still empty when dropped (the training failed: diverged,
/// or refused), it is removed again, rather than left for the next run to find.
pub struct RunFolder {
    /// The folders made here, `out` first, then each parent made for it.
    made: Vec<PathBuf>,
}

/// Make `out` (and its parents) for a run; see [`RunFolder`].
pub fn make_run_folder(out: &Path) -> anyhow::Result<RunFolder> {
    let made = out
        .ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    Ok(RunFolder { made })
}

impl Drop for RunFolder {
    fn drop(&mut self) {
        for dir in &self.made {
            // Fails, and so keeps it and its parents, where the run wrote anything.
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
}

/// Removes the files of an earlier run from `out` (`--overwrite`), once this run has trained
/// and is about to write its own: a file this run does not write (an int8 model, a feature
/// run's scaling, a photo run's held-out list) would otherwise stay beside the new model.
pub fn clear_run_folder(out: &Path) -> anyhow::Result<()> {
    for f in RUN_FILES {
        let p = out.join(f);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    Ok(())
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
/// number of `queries` they average over; null with no queries (nothing was measured).
pub fn retrieval_json(q: &Retrieval, out: &mut serde_json::Value) {
    let measured = |v: f64| if q.queries > 0 { json!(v) } else { json!(null) };
    out["map"] = measured(q.map);
    out["precision_at_500"] = measured(q.precision_at_500);
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
    images: &idx::Images,
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
        &report.to_string(),
        dedup_radius,
        soft_check,
        out,
    )?;
    Ok((report, exported))
}

/// Everything [`save_run`] writes but the ONNX models; returns the report.
pub fn save_files(
    trained: &Trained,
    n: usize,
    data_crc32: u32,
    out: &Path,
    extra: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let mut report = report_json(trained, n, data_crc32);
    if let (Some(r), Some(e)) = (report.as_object_mut(), extra.as_object()) {
        r.extend(e.clone());
    }
    let save = |name: &str, bytes: &[u8]| {
        let p = out.join(name);
        write_atomic(&p, bytes).with_context(|| format!("writing {}", p.display()))
    };
    let record = burn::module::Module::into_record(trained.model.clone())
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("serializing the model: {e:?}"))?;
    save("model.bpk", &record)?;
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
