//! `imsat train --data PHOTO_FOLDER`: a copy-detection hash learned from unlabeled photos.
//!
//! Photos are split by group into training and validation photos; the training photos give
//! items and banks of edited copies ([`imsat_trainer::photo_set`]); IMSAT with the edit SAT
//! learns the hash; the validation photos' edited copies then measure it (the same protocol
//! as `imsat eval --task copy-detection`) and set the model's dedup radius and soft check.

use std::collections::BTreeSet;

use anyhow::Context;
use image::RgbImage;
use imsat_runtime::atomic_file::write_atomic;
use imsat_runtime::soft_code::SoftCheck;
use imsat_runtime::view::View;
use imsat_trainer::copy_detection::{Bench, Hash, Strength};
use imsat_trainer::photo_set::{build_photo_set, photo_logits};
use imsat_trainer::train::{TrainConfig, train_photos};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use serde_json::json;

use super::Args;
use super::config::{DEFAULT_HOLDOUT, settings_error, training_error};
use crate::cli::common::copy_detection::score_json;
use crate::cli::common::groups::{groups_of, join_identical_saying};
use crate::cli::common::radius::{RADIUS_KEY, f32_json};
use crate::cli::common::run_folder::{make_run_folder, save_run};
use crate::cli::common::{Ctx, bad_input, inside_folder, progress_bar, text_path};

/// Indices of the held-out photos: a seeded `fraction` of the groups (none when fewer than 2).
fn holdout(groups: &[String], fraction: f64, seed: u64) -> BTreeSet<usize> {
    let mut unique: Vec<&String> = groups.iter().collect::<BTreeSet<_>>().into_iter().collect();
    if fraction <= 0.0 || unique.len() < 2 {
        return BTreeSet::new();
    }
    unique.shuffle(&mut StdRng::seed_from_u64(seed));
    let take = ((unique.len() as f64 * fraction).round() as usize).clamp(1, unique.len() - 1);
    let held: BTreeSet<&String> = unique[..take].iter().copied().collect();
    (0..groups.len())
        .filter(|&i| held.contains(&groups[i]))
        .collect()
}

pub fn run(args: &Args, mut config: TrainConfig, ctx: &Ctx) -> anyhow::Result<()> {
    let photo_config = config.photos.clone().expect("a photo config");
    if let Some(labels) = &args.labels {
        return Err(bad_input(format!(
            "--labels {}: a photo hash learns from unlabeled photos (the photos of one picture \
             are named by --groups)",
            labels.display()
        )));
    }
    // The run's curves.png would be a photo of the folder to the next run over it.
    let existing = args
        .out
        .ancestors()
        .find(|a| !a.as_os_str().is_empty() && a.exists())
        .unwrap_or(std::path::Path::new("."));
    if inside_folder(existing, &args.data) {
        return Err(bad_input(format!(
            "--out {}: is inside the photo folder {}, whose next read would take the run's \
             curves.png for a photo; write the run outside that folder",
            args.out.display(),
            args.data.display()
        )));
    }
    let view = View::from_metadata(config.view.as_deref().unwrap_or_default())
        .map_err(|e| bad_input(e.to_string()))?;
    let mut folder = crate::cli::common::read_photos(&args.data, !ctx.quiet)?;
    if let Some(limit) = args.limit {
        if limit == 0 {
            return Err(bad_input("--limit must be at least 1"));
        }
        folder.photos.truncate(limit);
        folder.paths.truncate(limit);
    }
    let mut groups = groups_of(&folder.paths, args.groups.as_deref())?;
    // A folder to deduplicate holds duplicates: one held out and its twin trained on would
    // leak, and two held out would be false matches of each other (no radius measured).
    join_identical_saying(
        &mut groups,
        &folder.photos,
        &folder.paths,
        "held out or trained on together",
    );
    let held = holdout(
        &groups,
        args.holdout.unwrap_or(DEFAULT_HOLDOUT),
        config.seed,
    );
    let (mut train, mut valid): (Vec<RgbImage>, Vec<RgbImage>) = (Vec::new(), Vec::new());
    let (mut train_groups, mut valid_groups) = (Vec::new(), Vec::new());
    let mut valid_files = String::new();
    for (i, p) in folder.photos.into_iter().enumerate() {
        if held.contains(&i) {
            valid.push(p);
            valid_groups.push(groups[i].as_str());
            valid_files.push_str(&format!("{}\n", text_path(&folder.paths[i])));
        } else {
            train.push(p);
            train_groups.push(groups[i].as_str());
        }
    }
    let items = train.len() * photo_config.items_per_photo;
    if items < 2 {
        // The batch shrinks to the items; a batch needs two (H(Y) is over the batch).
        return Err(bad_input(format!(
            "{}: {} training photo{} x --items-per-photo {} = {items} training item{}; \
             training needs at least 2 (add photos, lower --holdout, or raise --items-per-photo)",
            args.data.display(),
            train.len(),
            if train.len() == 1 { "" } else { "s" },
            photo_config.items_per_photo,
            if items == 1 { "" } else { "s" },
        )));
    }
    // The bank of edited copies is built whole before training: refuse one larger than the
    // memory free now (or than this target's address space), rather than be killed for it
    // after the photos are read and edited.
    let copy_bytes = photo_config.item_bytes(view);
    let bank = (items as u64)
        .saturating_mul(photo_config.edits_per_item as u64)
        .saturating_mul(copy_bytes as u64);
    let free = available_memory()
        .unwrap_or(u64::MAX)
        .min(isize::MAX as u64);
    if bank > free {
        let lower = if args.config.is_some() {
            "photos.items_per_photo or photos.edits_per_item in the config"
        } else {
            "--items-per-photo or --edits-per-item (or --train-all-views false)"
        };
        return Err(bad_input(format!(
            "{} training items x {} edited copies of {} bytes need {:.1} GB, more than the \
             {:.1} GB of memory available; lower {lower}, or train on fewer photos (--limit)",
            items,
            photo_config.edits_per_item,
            copy_bytes,
            bank as f64 / 1e9,
            free as f64 / 1e9
        )));
    }
    config.batch = config.batch.min(items);
    config
        .validate(items)
        .map_err(|e| settings_error(e, args, config.task))?;

    let folder = make_run_folder(&args.out)?;
    let pb = progress_bar(items as u64, "edits", !ctx.quiet);
    let set = build_photo_set(&train, view, &photo_config, config.seed, &pb)?;
    pb.finish_and_clear();
    let trained = train_photos(&config, &set, !ctx.quiet)
        .map_err(|e| training_error(e, args, config.task))?;

    // Validation photos (or, without any, the training photos) through the trained model.
    let scored_on = if valid.is_empty() {
        "training photos"
    } else {
        "validation photos"
    };
    let bench = if valid.is_empty() {
        Bench::new(train, &train_groups, config.seed)
    } else {
        Bench::new(valid, &valid_groups, config.seed)
    };
    let learned = Hash::Logits {
        name: "learned".into(),
        bits: config.outputs,
        of: Box::new(|imgs| Ok(photo_logits(&trained.model, &view, imgs)?)),
    };
    let pb = progress_bar(bench.pairs.len() as u64, "scoring", !ctx.quiet);
    let [score, soft]: [_; 2] = bench
        .score(&[learned], &|n| pb.inc(n as u64))
        .map_err(anyhow::Error::from_boxed)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("one hash scored by its codes and its soft codes"))?;
    pb.finish_and_clear();
    let moderate = score.groups.get(&Strength::Moderate);
    let radius_1e3 = moderate.and_then(|g| g.at_1e3.threshold);
    let measured = moderate.and_then(|g| g.at_1e4.threshold);
    // The soft check: candidates within the looser Hamming threshold (FPR 1e-2), confirmed
    // at the soft distance's FPR 1e-4 threshold.
    let soft_measured = moderate
        .and_then(|g| g.at_1e2.threshold)
        .zip(
            soft.groups
                .get(&Strength::Moderate)
                .and_then(|g| g.at_1e4.threshold),
        )
        .map(|(radius, t)| SoftCheck {
            radius,
            max_distance: (t as f64 * soft.unit) as f32,
        });
    let negatives = moderate.map_or(0, |g| g.at_1e4.negatives);
    if measured.is_none() && args.radius.is_none() {
        errln!(
            "imsat: warning: no dedup radius measured: the {scored_on}' edited copies give {negatives} \
             pairs of images of different photos{}, so the model carries no radius{} (hold out \
             more photo groups, or pass --radius)",
            if negatives == 0 {
                " (all of one group)"
            } else {
                ", more than 1 in 10,000 of them with identical codes"
            },
            if args.soft_check.is_some() {
                ", and `imsat dedup` will use the --soft-check given"
            } else {
                " and no soft check, and `imsat dedup` will ask for --radius"
            }
        );
    }
    // FPR 1e-4 needs 10,000 pairs to hold one false match: fewer, and the radius is only the
    // largest one without any among them.
    if let (Some(r), None, true) = (measured, args.radius, negatives < 10_000) {
        errln!(
            "imsat: warning: the dedup radius ({r} bit{}) rests on only {negatives} pairs of the \
             {scored_on}' copies of different photos, fewer than the 10,000 that a false-match \
             rate of 1e-4 needs, so `imsat dedup` may group different photos (hold out more \
             photo groups, or pass --radius)",
            if r == 1 { "" } else { "s" }
        );
    }
    let radius = args.radius.or(measured);
    // The measured soft check goes with the measured radius: where none could be measured it
    // is as unfounded, and a radius the user set is what `imsat dedup` is to use (its soft
    // check, measured at other thresholds, would win over it).
    let soft_check = match (args.soft_check, args.radius) {
        (Some(given), Some(r)) => {
            // `imsat dedup` groups by the soft check where the model has one: the radius is
            // then used only with --no-soft-check.
            errln!(
                "imsat: note: with --soft-check, `imsat dedup` takes candidates within its {} \
                 bits{}; --radius {r} is used with `dedup --no-soft-check`",
                given.radius,
                if given.radius < r {
                    ", fewer than --radius"
                } else {
                    ""
                }
            );
            Some(given)
        }
        (Some(given), None) => Some(given),
        (None, None) => measured.and(soft_measured),
        (None, Some(r)) => {
            if let Some(s) = soft_measured {
                errln!(
                    "imsat: note: --radius {r} is the model's dedup radius; the soft check \
                     measured ({} bits, distance {}) is not written (pass --soft-check {},{} for it)",
                    s.radius,
                    s.max_distance,
                    s.radius,
                    s.max_distance
                );
            }
            None
        }
    };
    let extra = json!({
        "photos_train": distinct_photos(&set.photo_of),
        "photos_validation": if scored_on == "validation photos" { bench.originals.len() } else { 0 },
        "items": set.items.n,
        "view": view.to_metadata(),
        "edits": photo_config.edits.iter().map(|e| e.name()).collect::<Vec<_>>(),
        "radius_at_fpr_1e-3": radius_1e3,
        RADIUS_KEY: radius,
        "radius_measured_at_fpr_1e-4": measured,
        "soft_check": soft_check.map(soft_json),
        "soft_check_measured": soft_measured.map(soft_json),
        "validation": {
            "scored_on": scored_on,
            "learned": score_json(&score),
            "learned_soft": score_json(&soft),
        },
    });
    // The held-out photos, so that `imsat eval --task copy-detection` can score them again.
    let list = folder.files().join("validation.txt");
    write_atomic(&list, valid_files.as_bytes())
        .with_context(|| format!("writing {}", list.display()))?;
    let (report, _) = save_run(
        &trained,
        &set.item_rows(),
        set.items.n,
        folder.files(),
        &extra,
        radius,
        soft_check,
    )?;
    folder.commit()?;
    outln!("{report}")?;
    Ok(())
}

/// A soft check for the report, its distance as the metadata writes it.
fn soft_json(check: SoftCheck) -> serde_json::Value {
    json!({ "radius": check.radius, "distance": f32_json(check.max_distance) })
}

/// Number of distinct photos behind the items.
fn distinct_photos(photo_of: &[usize]) -> usize {
    photo_of.iter().collect::<BTreeSet<_>>().len()
}

/// Memory the system could give this process now (`MemAvailable` of `/proc/meminfo`); None
/// where that file is not there to say (not Linux).
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}
