//! Settings of `imsat train`: flags (or a run's `config.json`) to a [`TrainConfig`], checked
//! where the trainer cannot check them, and the trainer's own errors named as flags.

use std::path::Path;

use imsat_runtime::view::{Colour, Contrast, View};
use imsat_trainer::colour_split::ColourSplit;
use imsat_trainer::conv::ConvSpec;
use imsat_trainer::loss::Task;
use imsat_trainer::sat::SatKind;
use imsat_trainer::train::{TrainConfig, TrainError};

use super::Args;
use crate::cli::common::bad_input;

/// The flags a `config.json` sets, so `--config` refuses them.
pub(super) const TUNABLES: [&str; 32] = [
    "task",
    "classes",
    "bits",
    "seed",
    "epochs",
    "batch",
    "lr",
    "lam",
    "mu",
    "sat",
    "hidden",
    "conv",
    "colour_split",
    "pairwise_mi_weight",
    "eps_scale",
    "rotation",
    "shear",
    "thickness",
    "heads",
    "restarts",
    "edits",
    "view_size",
    "view_colour",
    "view_contrast",
    "view_centre",
    "view_top",
    "view_bottom",
    "view_unbox",
    "train_all_views",
    "items_per_photo",
    "item_area",
    "edits_per_item",
];

/// Hidden layer sizes as given to `--hidden` (a newtype so clap takes the list as one value).
#[derive(Debug, Clone)]
pub struct Hidden(pub Vec<usize>);

pub(super) fn parse_hidden(s: &str) -> Result<Hidden, String> {
    if s.trim() == "none" {
        return Ok(Hidden(Vec::new()));
    }
    s.split(',')
        .map(|p| {
            p.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{p}` is not a layer size (e.g. 400,400 or none)"))
        })
        .collect::<Result<_, _>>()
        .map(Hidden)
}

/// The trainer's bounds on `--bits` / `--classes` and `--hidden`, checked here first so that
/// the error names the flag.
use imsat_trainer::train::{MAX_HIDDEN, MAX_OUTPUTS};

/// `--bits`, or its default.
fn bits(args: &Args) -> usize {
    args.bits.unwrap_or(16)
}

/// `--classes`, or its default.
fn classes(args: &Args) -> usize {
    args.classes.unwrap_or(10)
}

/// Flags the trainer cannot check for us: widths within what fits in memory, and float
/// settings that are finite in f32 (where training computes).
fn check_flags(args: &Args) -> anyhow::Result<()> {
    match args.task.as_deref().unwrap_or_default() {
        "hash" if args.classes.is_some() => {
            return Err(bad_input(
                "--classes is the cluster task's; a hash (--task hash) has --bits",
            ));
        }
        "cluster" if args.bits.is_some() => {
            return Err(bad_input(
                "--bits is the hash task's; clustering (--task cluster) has --classes",
            ));
        }
        // The penalty is between a hash's bits; a clustering's loss has no such term.
        "cluster" if args.pairwise_mi_weight.is_some() => {
            return Err(bad_input(
                "--pairwise-mi-weight is the hash task's (a penalty between bits); clustering \
                 (--task cluster) has no such term",
            ));
        }
        "hash" if !(1..=MAX_OUTPUTS).contains(&bits(args)) => {
            return Err(bad_input(format!(
                "--bits must be between 1 and {MAX_OUTPUTS}, got {}",
                bits(args)
            )));
        }
        "cluster" if !(2..=MAX_OUTPUTS).contains(&classes(args)) => {
            return Err(bad_input(format!(
                "--classes must be between 2 and {MAX_OUTPUTS}, got {}",
                classes(args)
            )));
        }
        _ => {}
    }
    if let Some(h) = args
        .hidden
        .as_ref()
        .and_then(|h| h.0.iter().find(|&&h| h > MAX_HIDDEN))
    {
        return Err(bad_input(format!(
            "--hidden: layer size {h} is larger than {MAX_HIDDEN}"
        )));
    }
    for (name, v) in [
        ("lr", args.lr),
        ("lam", args.lam),
        ("mu", args.mu),
        ("pairwise-mi-weight", args.pairwise_mi_weight),
        ("eps-scale", args.eps_scale),
        ("rotation", args.rotation),
        ("shear", args.shear),
        ("thickness", args.thickness),
    ] {
        if let Some(v) = v
            && !(v.is_finite() && v >= 0.0 && v <= f32::MAX as f64)
        {
            return Err(bad_input(format!(
                "--{name} must be a finite non-negative number, got {v}"
            )));
        }
    }
    if let Some(t) = args.thickness
        && t > 1.0
    {
        return Err(bad_input(format!(
            "--thickness is a probability between 0 and 1, got {t}"
        )));
    }
    Ok(())
}

/// Sides of a photo view that training takes (`--view-size`, a config's `view`).
const VIEW_SIDES: std::ops::RangeInclusive<usize> = 4..=256;

use imsat_trainer::photo_set::MAX_PER_PHOTO;

/// The flags that set how a photo run is validated and deduplicates, checked whether the
/// settings come from the flags or from `--config`: radii within the code, a holdout fraction
/// that leaves photos to train on, and none of them without a photo folder.
fn check_photo_run_flags(args: &Args, c: &TrainConfig) -> anyhow::Result<()> {
    if (args.radius.is_some() || args.soft_check.is_some()) && c.photos.is_none() {
        return Err(bad_input(
            "--radius and --soft-check set how a photo model deduplicates: --data must be a folder of photos",
        ));
    }
    let radii = [
        ("--radius", args.radius),
        ("--soft-check", args.soft_check.map(|s| s.radius)),
    ];
    for (flag, radius) in radii {
        if let Some(r) = radius.filter(|&r| r as usize > c.outputs) {
            return Err(bad_input(format!(
                "{flag}: radius {r} is more than the {} bits of a code",
                c.outputs
            )));
        }
    }
    if let Some(h) = args.holdout.filter(|h| !(0.0..0.9).contains(h)) {
        return Err(bad_input(format!(
            "--holdout is a fraction from 0 up to (not including) 0.9, got {h}"
        )));
    }
    let given = [
        ("--holdout", args.holdout.is_some()),
        ("--groups", args.groups.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, g)| *g)
        && c.photos.is_none()
    {
        return Err(bad_input(format!(
            "{flag} applies to photo folders; --data {} is a file",
            args.data.display()
        )));
    }
    Ok(())
}

/// Fraction of photo groups a photo run holds out for validation without `--holdout`.
pub(super) const DEFAULT_HOLDOUT: f64 = 0.2;

/// Turn the flags into a config (defaults per task, then overrides).
pub(super) fn config_from(args: &Args) -> anyhow::Result<TrainConfig> {
    if let Some(path) = &args.config {
        let c = read_config(path, &args.data)?;
        check_photo_run_flags(args, &c)?;
        return Ok(c);
    }
    check_flags(args)?;
    let photos = args.data.is_dir();
    let mut c = match args.task.as_deref().unwrap_or_default() {
        "hash" if photos => TrainConfig::photo_hash(bits(args)),
        "hash" => TrainConfig::hash(bits(args)),
        _ if photos => {
            return Err(bad_input(format!(
                "--data {}: a photo folder trains a hash (--task hash); clustering needs an IDX file or a .npy of features",
                args.data.display()
            )));
        }
        _ => TrainConfig::cluster(classes(args)),
    };
    check_photo_run_flags(args, &c)?;
    let default_view = c.photo_view();
    let view_size = args
        .view_size
        .unwrap_or(default_view.map_or(16, |v| v.rows));
    if let Some(p) = c.photos.as_mut() {
        if !VIEW_SIDES.contains(&view_size) {
            return Err(bad_input(format!(
                "--view-size must be between {} and {}, got {view_size}",
                VIEW_SIDES.start(),
                VIEW_SIDES.end()
            )));
        }
        let items_per_photo = args.items_per_photo.unwrap_or(p.items_per_photo);
        let edits_per_item = args.edits_per_item.unwrap_or(p.edits_per_item);
        if !(1..=MAX_PER_PHOTO).contains(&items_per_photo)
            || !(1..=MAX_PER_PHOTO).contains(&edits_per_item)
        {
            return Err(bad_input(format!(
                "--items-per-photo and --edits-per-item must be from 1 to {MAX_PER_PHOTO}, got {items_per_photo} and {edits_per_item}"
            )));
        }
        if let Some(a) = &args.item_area {
            if a.len() != 2 || !(a[0] > 0.0 && a[0] <= a[1] && a[1] <= 1.0) {
                return Err(bad_input(format!(
                    "--item-area needs two values, 0 < low <= high <= 1, got {a:?}"
                )));
            }
            p.item_area = (a[0], a[1]);
        }
        p.items_per_photo = items_per_photo;
        p.edits_per_item = edits_per_item;
        if let Some(all) = args.train_all_views {
            p.all_views = all;
        }
        if let Some(e) = &args.edits {
            p.edits = imsat_trainer::edits::parse_edit_list(e)
                .map_err(|e| bad_input(format!("--edits: {e}")))?;
        }
        let default = default_view;
        let contrast = match &args.view_contrast {
            Some(name) => Contrast::from_name(name)
                .ok_or_else(|| bad_input(format!("--view-contrast {name}: norm, robust or raw")))?,
            None => default.map_or(Contrast::Norm, |v| v.contrast),
        };
        let colour = match &args.view_colour {
            Some(name) => Colour::from_name(name)
                .ok_or_else(|| bad_input(format!("--view-colour {name}: gray or ycc")))?,
            None => default.map_or(Colour::Gray, |v| v.colour),
        };
        // A view of a part: a percentage from 1 to 99, 0 for none, or the default's.
        let part = |flag: &str, given: Option<u8>, of: &str, default: Option<u8>| match given {
            Some(0) => Ok(None),
            Some(p @ 1..=99) => Ok(Some(p)),
            Some(p) => Err(bad_input(format!(
                "{flag} {p}: a percentage of the {of} from 1 to 99, or 0 for no such view"
            ))),
            None => Ok(default),
        };
        let [centre, top, bottom] = [
            (
                "--view-centre",
                args.view_centre,
                "area",
                default.and_then(|v| v.centre),
            ),
            (
                "--view-top",
                args.view_top,
                "rows",
                default.and_then(|v| v.top),
            ),
            (
                "--view-bottom",
                args.view_bottom,
                "rows",
                default.and_then(|v| v.bottom),
            ),
        ]
        .map(|(flag, given, of, default)| part(flag, given, of, default));
        let (centre, top, bottom) = (centre?, top?, bottom?);
        if args.train_all_views == Some(true)
            && centre.is_none()
            && top.is_none()
            && bottom.is_none()
        {
            return Err(bad_input(
                "--train-all-views: the view has no parts to train on beside the whole photo's \
                 (--view-centre, --view-top and --view-bottom are 0)",
            ));
        }
        c.view = Some(
            View {
                colour,
                rows: view_size,
                cols: view_size,
                contrast,
                centre,
                top,
                bottom,
                unbox: args.view_unbox.unwrap_or(default.is_some_and(|v| v.unbox)),
            }
            .to_metadata(),
        );
    } else if let Some(flag) = [
        ("--edits", args.edits.is_some()),
        ("--item-area", args.item_area.is_some()),
        ("--view-size", args.view_size.is_some()),
        ("--items-per-photo", args.items_per_photo.is_some()),
        ("--edits-per-item", args.edits_per_item.is_some()),
        ("--view-colour", args.view_colour.is_some()),
        ("--colour-split", args.colour_split.is_some()),
        ("--view-contrast", args.view_contrast.is_some()),
        ("--view-centre", args.view_centre.is_some()),
        ("--view-top", args.view_top.is_some()),
        ("--view-bottom", args.view_bottom.is_some()),
        ("--view-unbox", args.view_unbox.is_some()),
        ("--train-all-views", args.train_all_views.is_some()),
    ]
    .into_iter()
    .find_map(|(flag, given)| given.then_some(flag))
    {
        return Err(bad_input(format!(
            "{flag} applies to photo folders; --data {} is a file",
            args.data.display()
        )));
    }
    c.seed = args.seed;
    c.epochs = args.epochs.unwrap_or(c.epochs);
    c.batch = args.batch.unwrap_or(c.batch);
    c.lr = args.lr.unwrap_or(c.lr);
    c.lam = args.lam.unwrap_or(c.lam);
    c.mu = args.mu.unwrap_or(c.mu);
    c.eps_scale = args.eps_scale.unwrap_or(c.eps_scale);
    c.heads = args.heads.unwrap_or(c.heads);
    c.restarts = args.restarts.unwrap_or(c.restarts);
    c.pairwise_mi_weight = args.pairwise_mi_weight.unwrap_or(c.pairwise_mi_weight);
    let affine = &mut c.affine;
    affine.degrees = args.rotation.map_or(affine.degrees, |v| v as f32);
    affine.shear = args.shear.map_or(affine.shear, |v| v as f32);
    affine.thickness = args.thickness.map_or(affine.thickness, |v| v as f32);
    if let Some(h) = &args.hidden {
        c.hidden = h.0.clone();
    }
    if let Some(conv) = &args.conv {
        c.conv = ConvSpec::parse(conv).map_err(|e| bad_input(format!("--conv: {e}")))?;
        // A row of features has no neighbouring pixels for a kernel to slide over.
        if c.conv.is_some() && crate::npy::is_npy(&args.data) {
            return Err(bad_input(format!(
                "--conv applies to images (an IDX file or a photo folder); --data {} holds \
                 feature rows, which have no pixels to convolve",
                args.data.display()
            )));
        }
    }
    // The photo default's split goes with its view and its front end: a gray view has no
    // colour to split, and without the convolutions (`--conv none`) or with a hidden layer
    // there are no colour kernels to keep apart.
    let no_split = |c: &TrainConfig| {
        c.photo_view().is_none_or(|v| v.colour == Colour::Gray)
            || c.conv.is_none()
            || !c.hidden.is_empty()
    };
    match &args.colour_split {
        Some(split) => {
            c.colour_split =
                ColourSplit::parse(split).map_err(|e| bad_input(format!("--colour-split: {e}")))?;
        }
        None if no_split(&c) => c.colour_split = None,
        None => {}
    }
    if let (Some(spec), true) = (c.conv, photos) {
        spec.check(view_size, view_size).map_err(|e| {
            // View sizes this front end fits, if any of the usual ones does.
            let fits: Vec<String> = [16, 24, 32, 48, 64]
                .into_iter()
                .filter(|&v| v != view_size && spec.check(v, v).is_ok())
                .take(2)
                .map(|v| v.to_string())
                .collect();
            let sizes = match fits.as_slice() {
                [] => String::new(),
                sizes => format!("another --view-size, e.g. {}, ", sizes.join(" or ")),
            };
            bad_input(format!(
                "--conv with --view-size {view_size}: {e} (pick {sizes}another --conv, or \
                 --conv none)"
            ))
        })?;
    }
    if crate::npy::is_npy(&args.data) {
        c.sat = vec![SatKind::Vat];
    }
    if let Some(s) = &args.sat {
        c.sat =
            imsat_trainer::sat::parse_sat_list(s).map_err(|e| bad_input(format!("--sat: {e}")))?;
    }
    if crate::npy::is_npy(&args.data)
        && let Some(k) = c.sat.iter().find(|k| k.needs_pixels())
    {
        return Err(bad_input(format!(
            "--sat {}: needs pixels, but --data {} holds feature vectors; use vat, rpt or neighbour",
            k.as_str(),
            args.data.display()
        )));
    }
    check_sat_flags(args, &c.sat)?;
    Ok(c)
}

/// Flags that tune one SAT kind, refused when that kind is not trained: they would change
/// nothing, and a user who gives `--rotation 30` without `--sat affine` expects rotations.
fn check_sat_flags(args: &Args, sat: &[SatKind]) -> anyhow::Result<()> {
    let affine = &[SatKind::Affine][..];
    let tuned = [
        ("--rotation", args.rotation.is_some(), affine),
        ("--shear", args.shear.is_some(), affine),
        ("--thickness", args.thickness.is_some(), affine),
        (
            "--eps-scale",
            args.eps_scale.is_some(),
            &[SatKind::Vat, SatKind::Rpt],
        ),
        ("--edits", args.edits.is_some(), &[SatKind::Edits]),
        (
            "--edits-per-item",
            args.edits_per_item.is_some(),
            &[SatKind::Edits],
        ),
    ];
    for (flag, given, kinds) in tuned {
        if given && !kinds.iter().any(|k| sat.contains(k)) {
            let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            let trained: Vec<&str> = sat.iter().map(|k| k.as_str()).collect();
            return Err(bad_input(format!(
                "{flag} tunes the {} SAT, which this run does not train (--sat {}); \
                 add it to --sat or drop {flag}",
                names.join(" or "),
                trained.join(",")
            )));
        }
    }
    Ok(())
}

/// Keys of the config `text` that `c`, read from it, has no field for (`affine.sheer` for
/// `affine.shear`): serde passes them by, and a misspelt setting with a default would
/// train at its default without a word.
fn unread_keys(text: &str, c: &TrainConfig) -> Vec<String> {
    fn walk(given: &serde_json::Value, read: &serde_json::Value, at: &str, out: &mut Vec<String>) {
        let (Some(given), Some(read)) = (given.as_object(), read.as_object()) else {
            return;
        };
        for (key, value) in given {
            let name = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            match read.get(key) {
                Some(inner) => walk(value, inner, &name, out),
                None => out.push(name),
            }
        }
    }
    let mut out = Vec::new();
    if let (Ok(given), Ok(read)) = (
        serde_json::from_str::<serde_json::Value>(text),
        serde_json::to_value(c),
    ) {
        walk(&given, &read, "", &mut out);
    }
    out
}

/// A run's `config.json`, checked as the flags would be (widths that fit, finite weights)
/// and against the data it is given (a photo config needs a photo folder, and back).
fn read_config(path: &Path, data: &Path) -> anyhow::Result<TrainConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad_input(format!("--config {}: cannot read: {e}", path.display())))?;
    let c: TrainConfig = serde_json::from_str(&text).map_err(|e| {
        bad_input(format!(
            "--config {}: not a training config.json: {e}",
            path.display()
        ))
    })?;
    for key in unread_keys(&text, &c) {
        errln!(
            "note: --config {}: `{key}` is no setting imsat reads (a misspelt one?); ignored",
            path.display()
        );
    }
    let bad = |what: String| bad_input(format!("--config {}: {what}", path.display()));
    if !(1..=MAX_OUTPUTS).contains(&c.outputs) {
        return Err(bad(format!(
            "outputs is {}, not between 1 and {MAX_OUTPUTS}",
            c.outputs
        )));
    }
    if let Some(h) = c.hidden.iter().find(|&&h| h > MAX_HIDDEN) {
        return Err(bad(format!(
            "hidden layer size {h} is larger than {MAX_HIDDEN}"
        )));
    }
    let a = &c.affine;
    for (name, v) in [
        ("eps_scale", c.eps_scale as f32),
        ("affine.degrees", a.degrees),
        ("affine.scale", a.scale),
        ("affine.shift", a.shift),
        ("affine.shear", a.shear),
        ("affine.thickness", a.thickness),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(bad(format!(
                "{name} must be a finite non-negative number, got {v}"
            )));
        }
    }
    if c.photos.is_some() != data.is_dir() {
        return Err(bad(format!(
            "it is a {} run, but --data {} is {}",
            if c.photos.is_some() {
                "photo-folder"
            } else {
                "non-photo"
            },
            data.display(),
            if data.is_dir() { "a folder" } else { "a file" }
        )));
    }
    if let Some(p) = &c.photos {
        if c.task != Task::Hash {
            return Err(bad(
                "a photo-folder run trains a hash (task \"hash\")".into()
            ));
        }
        p.check().map_err(bad)?;
        let view = View::from_metadata(c.view.as_deref().unwrap_or_default())
            .map_err(|e| bad(format!("view: {e}")))?;
        if !VIEW_SIDES.contains(&view.rows) || !VIEW_SIDES.contains(&view.cols) {
            return Err(bad(format!(
                "view {}x{} is outside {} to {} pixels a side",
                view.rows,
                view.cols,
                VIEW_SIDES.start(),
                VIEW_SIDES.end()
            )));
        }
        if let Some(conv) = c.conv {
            conv.check(view.rows, view.cols)
                .map_err(|e| bad(format!("conv: {e}")))?;
        }
    }
    if crate::npy::is_npy(data)
        && let Some(k) = c.sat.iter().find(|k| k.needs_pixels())
    {
        return Err(bad(format!(
            "SAT {} needs pixels, but --data {} holds feature vectors",
            k.as_str(),
            data.display()
        )));
    }
    Ok(c)
}

/// A settings error in the user's words: a config field becomes the flag that sets it
/// (`pairwise_mi_weight` -> `--pairwise-mi-weight`), or, for a run read from `--config`,
/// stays a field of that file.
pub(super) fn settings_error(e: TrainError, args: &Args, task: Task) -> anyhow::Error {
    match (&e, &args.config) {
        // The photo default's split, not one the user gave: say so, and how to leave it out.
        (TrainError::Setting { field, problem }, None)
            if *field == "colour_split" && args.colour_split.is_none() =>
        {
            // A split of fewer colour bits than the code's, where the code has two bits.
            let smaller = match args.bits {
                Some(bits) if bits >= 2 => {
                    format!(
                        ", or a smaller split such as --colour-split 2,{}",
                        (bits / 4).max(1)
                    )
                }
                _ => String::new(),
            };
            bad_input(format!(
                "invalid settings: the photo default's colour split ({problem}); pass \
                 --colour-split none{smaller}"
            ))
        }
        (TrainError::Setting { field, problem }, None) => {
            let flag = match (*field, task) {
                ("outputs", Task::Cluster) => "--classes",
                ("outputs", Task::Hash) => "--bits",
                ("epochs", _) => "--epochs",
                ("batch", _) => "--batch",
                ("lr", _) => "--lr",
                ("lam", _) => "--lam",
                ("mu", _) => "--mu",
                ("pairwise_mi_weight", _) => "--pairwise-mi-weight",
                ("hidden", _) => "--hidden",
                ("heads", _) => "--heads",
                ("restarts", _) => "--restarts",
                ("sat", _) => "--sat",
                ("colour_split", _) => "--colour-split",
                ("conv", _) => "--conv",
                ("data", _) => "--data",
                _ => return bad_input(e.to_string()),
            };
            bad_input(format!("invalid settings: {flag} {problem}"))
        }
        (TrainError::Setting { .. } | TrainError::Config(_), Some(path)) => {
            bad_input(format!("--config {}: {e}", path.display()))
        }
        _ => bad_input(e.to_string()),
    }
}

/// An error of a training run: its settings errors in the user's words ([`settings_error`]),
/// the rest (a diverged run) as they are.
pub(super) fn training_error(e: TrainError, args: &Args, task: Task) -> anyhow::Error {
    match e {
        TrainError::Setting { .. } | TrainError::Config(_) => settings_error(e, args, task),
        e => e.into(),
    }
}
