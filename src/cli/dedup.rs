//! `imsat dedup`: groups of near-duplicate images in a folder (or an IDX file).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use image::{DynamicImage, Rgb};
use imsat_data::photos::decode_image_at_least;
use imsat_runtime::code::Codes;
use imsat_runtime::dedup::Linkage;
use imsat_runtime::encoder::Task;
use imsat_runtime::format::keys;
use imsat_runtime::soft_code::SoftCodes;
use rayon::prelude::*;
use serde_json::json;

use super::common::model::{image_logits, open_model};
use super::common::radius::{
    DEFAULT_MIN_SIMILARITY, DEFAULT_RADIUS, RADIUS_KEY, f32_json, photo_radius,
};
use super::common::{Ctx, bad_input, check_output_file, check_png_output, not_utf8, text_name};
use crate::input::{BadFile, Reading};
use crate::plot::SHEET_PER_GROUP;

/// The most groups a contact sheet draws (a row each).
const SHEET_GROUPS: usize = 100;
/// The fewest pixels on a photo's shorter side that its sheet thumbnail (at most 128x96) is
/// scaled from: a larger JPEG is decoded at a reduced size.
const SHEET_DECODE_SIDE: u32 = 192;

#[derive(clap::Args)]
pub struct Args {
    /// Hash model (`model.onnx` or `model.int8.onnx`).
    #[arg(long)]
    pub model: PathBuf,
    /// Largest Hamming distance between two codes of one group [default: a photo model's
    /// own, printed: its soft check's radius where it has one (unless --no-soft-check), else
    /// its dedup radius (measured at FPR 1e-4, or set by `imsat train --radius`); 4 for
    /// digit models].
    #[arg(long)]
    pub radius: Option<u32>,
    /// Pixel check of each candidate pair: the best correlation of the two images over shifts
    /// of up to one pixel must reach this (1 groups only images whose views are alike up to
    /// brightness and contrast, a copy or its grayscale one; 0 trusts the codes alone)
    /// [default: 0.95 for digit models; 0 for photo models, whose codes see through crops
    /// and rotations that the pixel check does not].
    #[arg(long)]
    pub min_similarity: Option<f32>,
    /// Group by codes alone within the radius even when the model has a soft check
    /// (`imsat.dedup_soft_radius`/`distance`: candidates within a wider radius, confirmed by
    /// the soft distance of their per-bit confidences), which is the default unless --radius
    /// or --min-similarity is given.
    #[arg(long)]
    pub no_soft_check: bool,
    /// How linked pairs make groups: `single` joins any chain of linked pairs (a copy of a
    /// copy joins its original, and so can different images through look-alikes between
    /// them); `complete` only groups whose every two images are linked, so a group's
    /// diameter is at most the radius (fewer copies found; README, "Dedup and the soft check").
    #[arg(long, default_value = "single", value_parser = ["single", "complete"])]
    pub linkage: String,
    /// Print one JSON object with the groups (`group_members`) and the largest Hamming distance
    /// within each (`group_diameters`: above the radius, a chain) instead of one line per group
    /// (its paths tab-separated; a name holding a tab or line break quoted, with escapes)
    /// followed by the summary line (JSON).
    #[arg(long)]
    pub json: bool,
    /// Print only the images one could delete, one path per line: every member of each group
    /// but the one kept (the most pixels, then colour over grayscale, then the largest file,
    /// then a file over a symbolic link to it, then the first by path; the `kept` list of
    /// --json); the summary goes to stderr.
    #[arg(long, conflicts_with = "json")]
    pub duplicates_only: bool,
    /// Also draw the groups as a PNG contact sheet: one row per group, in the printed order,
    /// with its first 8 images (at most 100 groups), to look them over before deleting
    /// anything. An existing file is replaced only if imsat drew it (an earlier sheet), never
    /// a photo.
    #[arg(long)]
    pub sheet: Option<PathBuf>,
    /// Folder of images (jpg, jpeg, jfif, jpe, png, bmp, webp, gif, tif, tiff) or an IDX file. Files
    /// that cannot be decoded (a JPEG cut short, an empty file) are left out and named on
    /// stderr.
    pub dir: PathBuf,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    if let Some(sheet) = &args.sheet {
        // Before any work: a sheet over one of the photos being grouped would replace it.
        check_output_file(sheet, "--sheet", &[&args.model, &args.dir])?;
        check_png_output(sheet, "--sheet", crate::plot::Picture::DedupSheet)?;
    }
    let enc = open_model(&args.model)?;
    if enc.task() != Task::Hash {
        return Err(bad_input(format!(
            "{}: a cluster model cannot find near-duplicates: use a hash model",
            args.model.display()
        )));
    }
    let view = enc.info().view;
    // A photo model's soft check, unless the user chose how to group.
    let soft_check = enc
        .info()
        .soft_check
        .filter(|_| !args.no_soft_check && args.radius.is_none() && args.min_similarity.is_none());
    let radius = match (args.radius, view) {
        (Some(r), _) => r,
        // A model with a soft check and no radius of its own (a short run whose copies
        // reached no FPR 1e-4 threshold) groups by the soft check's candidates, as search does.
        (None, Some(_)) => photo_radius(enc.info())
            .or(soft_check.map(|c| c.radius))
            .ok_or_else(|| {
            bad_input(format!(
                "{}: this photo model has no dedup radius (`{}`, or `{RADIUS_KEY}` in its report): pass --radius",
                args.model.display(),
                keys::DEDUP_RADIUS
            ))
        })?,
        (None, None) => DEFAULT_RADIUS,
    };
    let min_similarity = args.min_similarity.unwrap_or(if view.is_some() {
        0.0
    } else {
        DEFAULT_MIN_SIMILARITY
    });
    if radius as usize > enc.outputs() {
        return Err(bad_input(format!(
            "--radius {radius} is larger than the code width ({} bits)",
            enc.outputs()
        )));
    }
    let shape = match enc.info().input_shape.as_slice() {
        [r, c] => (*r, *c),
        other => {
            return Err(bad_input(format!(
                "{}: model input shape {other:?} is not a 2-D image",
                args.model.display()
            )));
        }
    };
    let started = Instant::now();
    if !(0.0..=1.0).contains(&min_similarity) {
        return Err(bad_input(format!(
            "--min-similarity must be between 0 and 1, got {min_similarity}"
        )));
    }
    if crate::input::is_image_file(&args.dir) {
        return Err(bad_input(format!(
            "{}: is one image file; dedup finds copies among the images of a folder: give \
             the folder that holds it (or look for it in an index: `imsat search --query`)",
            args.dir.display()
        )));
    }
    // At 0 the codes alone decide (the pixel check would still refuse pairs whose pixels
    // correlate negatively at every shift). The pixel check looks at each image's first view
    // (a photo's whole frame), on its luma plane (the first of a colour view's), kept past
    // the encoding only where it runs, or for an IDX file's sheet (a folder's thumbnails
    // are drawn from its files): the other pixels go a chunk at a time.
    let pixel_check = soft_check.is_none() && min_similarity > 0.0;
    let idx_sheet = args.sheet.is_some() && !crate::input::reads_as_images(&args.dir);
    let shape = view.as_ref().map_or(shape, |v| (v.rows, v.cols));
    let first_view = shape.0 * shape.1;
    let reading = Reading {
        bad: BadFile::Skip,
        show_progress: !ctx.quiet,
        glances: true,
        keep: None,
    };
    let run = image_logits(
        &enc,
        &args.dir,
        reading,
        (pixel_check || idx_sheet).then_some(first_view),
    )?;
    let rows = run.rows;
    super::common::report_skipped(&rows.skipped);
    let logits = run.logits;
    let codes = Codes::from_logits(enc.outputs(), &logits)?;
    let px = &run.first_views;
    let view_of = |i: usize| &px[i * first_view..(i + 1) * first_view];
    let linkage = Linkage::from_name(&args.linkage).unwrap_or(Linkage::Single);
    // A plain picture (a fill, a blank frame) has the code of every other plain picture
    // through a photo view: it pairs only with plain ones of its colour, whatever the codes
    // say; the pixel check, where it runs, has the last word.
    debug_assert!(rows.glances.is_empty() || rows.glances.len() == rows.n);
    let glance_of = |i: usize| rows.glances.get(i).copied().flatten();
    let plain_ok = |i: usize, j: usize| match (glance_of(i), glance_of(j)) {
        (Some(a), Some(b)) => {
            imsat_runtime::dedup::plain_pair(a.flatness, b.flatness) != Some(false)
        }
        _ => true,
    };
    let groups = if let Some(check) = soft_check {
        let soft = SoftCodes::from_logits(enc.outputs(), &logits)?;
        imsat_runtime::dedup::dedup_soft_confirmed(&codes, &soft, check, linkage, plain_ok)?
    } else if min_similarity == 0.0 {
        imsat_runtime::dedup::dedup_confirmed(&codes, radius, linkage, plain_ok)?
    } else {
        imsat_runtime::dedup::dedup_confirmed(&codes, radius, linkage, |i, j| {
            plain_ok(i, j)
                && imsat_runtime::dedup::images_similar(
                    view_of(i),
                    view_of(j),
                    shape.0,
                    shape.1,
                    min_similarity,
                )
        })?
    };
    // A grouped file's path, exactly: one that is not UTF-8 is refused, as `encode` and
    // `index build` refuse it, since printed lossily it could name another file (one a
    // `--duplicates-only | xargs rm` would then delete).
    let name = |i: u64| match &rows.paths {
        Some(p) => p[i as usize].to_str().map(str::to_string).ok_or_else(|| {
            not_utf8(
                &p[i as usize],
                "dedup cannot print exactly (printed lossily it could name another file); \
                 rename it",
            )
        }),
        None => Ok(i.to_string()),
    };
    // The largest Hamming distance within each group: above the radius, the group is a chain
    // of pairs (single linkage) whose ends are further apart than any pair it was built from.
    let code = |i: u64| codes.get(i as usize).unwrap_or_default();
    let diameters: Vec<u32> = groups
        .iter()
        .map(|g| {
            g.iter()
                .enumerate()
                .flat_map(|(k, &a)| g[k + 1..].iter().map(move |&b| (a, b)))
                .map(|(a, b)| imsat_runtime::hamming::distance(code(a), code(b)))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let named: Vec<Vec<String>> = groups
        .iter()
        .map(|g| g.iter().map(|&i| name(i)).collect())
        .collect::<anyhow::Result<_>>()?;
    // The member of each group to keep, for the outputs that name it (each a header read).
    let kept = || -> Vec<usize> {
        match &rows.paths {
            Some(paths) => groups
                .iter()
                .map(|g| {
                    kept_member(g.iter().map(|&i| {
                        let colour = glance_of(i as usize).is_some_and(|g| g.colour);
                        (paths[i as usize].as_path(), colour)
                    }))
                })
                .collect(),
            None => vec![0; groups.len()],
        }
    };
    // Drawn before the groups are printed: a run whose sheet cannot be written (a full disk)
    // fails whole, rather than hand a list of files to delete (`--duplicates-only | xargs
    // rm`) beside a summary naming a sheet, meant for a look first, that is not there.
    if let Some(path) = &args.sheet {
        // Thumbnails of a folder's files, or of an IDX file's images as the model sees them,
        // each made as its file is decoded (on every core): never more than one photo a core
        // at full size. A file that no longer decodes shows as a gray square.
        let thumb = |i: u64| -> image::RgbImage {
            let i = i as usize;
            let img = match &rows.paths {
                Some(p) => decode_image_at_least(&p[i], SHEET_DECODE_SIDE).unwrap_or_else(|_| {
                    DynamicImage::ImageRgb8(image::RgbImage::from_pixel(1, 1, Rgb([160; 3])))
                }),
                None => {
                    image::GrayImage::from_raw(shape.1 as u32, shape.0 as u32, view_of(i).to_vec())
                        .map_or_else(|| DynamicImage::new_rgb8(1, 1), DynamicImage::ImageLuma8)
                }
            };
            crate::plot::sheet_thumb(&img)
        };
        let shown = &groups[..groups.len().min(SHEET_GROUPS)];
        let thumbs: Vec<Vec<image::RgbImage>> = shown
            .par_iter()
            .map(|g| {
                g.par_iter()
                    .take(SHEET_PER_GROUP)
                    .map(|&i| thumb(i))
                    .collect()
            })
            .collect();
        let sizes: Vec<usize> = shown.iter().map(Vec::len).collect();
        crate::plot::dedup_sheet(path, &thumbs, &sizes, &diameters, groups.len())?;
    }
    let summary = json!({
        "images": rows.n,
        "skipped": rows.skipped.len(),
        "groups": named.len(),
        "duplicates": named.iter().map(|g| g.len() - 1).sum::<usize>(),
        "radius": soft_check.map_or(radius, |c| c.radius),
        "min_similarity": min_similarity,
        "linkage": linkage.as_str(),
        "soft_distance": soft_check.map(|c| f32_json(c.max_distance)),
        "sheet": args.sheet.as_ref().map(|p| p.display().to_string()),
        "seconds": started.elapsed().as_secs_f64(),
    });
    if args.json {
        let mut out = summary.clone();
        out["group_members"] = json!(named);
        out["group_diameters"] = json!(diameters);
        out["kept"] = json!(
            named
                .iter()
                .zip(kept())
                .map(|(g, k)| &g[k])
                .collect::<Vec<_>>()
        );
        outln!("{out}")?;
    } else if args.duplicates_only {
        // A line per path is only safe to act on when no name holds a line break: a name
        // "a\nb.jpg" would list "b.jpg", maybe another photo, for deletion.
        if let Some(odd) = named.iter().flatten().find(|p| p.contains(['\n', '\r'])) {
            return Err(bad_input(format!(
                "--duplicates-only: the file name {odd:?} holds a line break, which a path a line \
                 cannot list safely; use --json"
            )));
        }
        for (g, k) in named.iter().zip(kept()) {
            for (m, path) in g.iter().enumerate() {
                if m != k {
                    outln!("{path}")?;
                }
            }
        }
        errln!("{summary}");
    } else {
        for g in &named {
            let line: Vec<Cow<str>> = g.iter().map(|p| text_name(p)).collect();
            outln!("{}", line.join("\t"))?;
        }
        outln!("{summary}")?;
    }
    Ok(())
}

/// The member of a group to keep, of `(path, in colour)` pairs: the image with the most pixels
/// (read from its header, its format told by its content), then one in colour over a gray one
/// (a black-and-white copy is an edit, whatever its file's colour type), then the largest
/// file, then a file over a symbolic link (a link and its target tie on all the rest: deleting
/// the target would leave the link dangling), then the first in path order; a file that
/// cannot be read counts as 0 pixels.
fn kept_member<'a>(members: impl Iterator<Item = (&'a Path, bool)>) -> usize {
    let size = |p: &Path, colour: bool| {
        let pixels = image::ImageReader::open(p)
            .and_then(|r| r.with_guessed_format())
            .ok()
            .and_then(|r| r.into_dimensions().ok())
            .map_or(0, |(w, h)| u64::from(w) * u64::from(h));
        let bytes = std::fs::metadata(p).map_or(0, |m| m.len());
        let not_link = !p.is_symlink();
        (pixels, colour, bytes, not_link)
    };
    let mut best: Option<(usize, (u64, bool, u64, bool))> = None;
    for (k, (p, colour)) in members.enumerate() {
        let s = size(p, colour);
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((k, s));
        }
    }
    best.map_or(0, |(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The most pixels win, not the longest sides nor the widest shape; then colour, then the
    /// larger file.
    #[test]
    fn the_member_kept_has_the_most_pixels_then_colour_then_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let save = |name: &str, w: u32, h: u32| {
            let path = dir.path().join(name);
            image::RgbImage::from_fn(w, h, |x, y| Rgb([(x * 3) as u8, (y * 5) as u8, 40]))
                .save(&path)
                .unwrap();
            path
        };
        // 400x300 = 120,000 pixels, against 600x150 = 90,000 (longer sides, wider).
        let (wide, large) = (save("wide.png", 600, 150), save("large.png", 400, 300));
        let members =
            |m: &[(&PathBuf, bool)]| kept_member(m.iter().map(|(p, c)| (p.as_path(), *c)));
        assert_eq!(members(&[(&wide, true), (&large, true)]), 1);
        assert_eq!(members(&[(&large, true), (&wide, true)]), 0);
        // Equal pixels: colour over gray, then the larger file.
        let (a, b) = (save("a.png", 50, 40), save("b.png", 40, 50));
        assert_eq!(members(&[(&a, false), (&b, true)]), 1);
        let big = dir.path().join("big.png");
        let mut bytes = std::fs::read(&a).unwrap();
        bytes.extend([0; 100]);
        std::fs::write(&big, bytes).unwrap();
        assert_eq!(members(&[(&a, true), (&big, true)]), 1);
        // A file that cannot be read counts as 0 pixels.
        let gone = dir.path().join("gone.png");
        assert_eq!(members(&[(&gone, true), (&a, false)]), 1);
    }
}
