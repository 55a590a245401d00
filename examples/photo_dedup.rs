//! Near-duplicate photos inside an app, with the runtime alone: decode each photo, let the
//! model's own view turn it into model input, encode, keep the logits and drop the pixels (one
//! photo at a time: 24 MB for the bundled 182, where holding them all took 81 MB), and group
//! the codes as the model measured on held-out photos (all in its metadata): by its soft check
//! (candidates within a radius, confirmed by the bits' confidences) or else within its radius.
//! Edited copies of the first photos (a JPEG re-save, a 90% centre crop, a half-size copy) are
//! added in memory, and the example checks that each lands in its original's group.
//!
//! `cargo run --release --example photo_dedup -- [FOLDER] [MODEL]`
//! (defaults, found from any folder: `../shared/data/photos/train` beside the repository, and
//! `models/photo64.int8.onnx`)

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, RgbImage};
use imsat::data::photos::decode_image_at_least;
use imsat::runtime::{code::Codes, dedup, encoder::Encoder, soft_code::SoftCodes};

/// Photos of the folder that get edited copies.
const EDITED: usize = 5;
/// The shortest side, in pixels, of a photo that gets edited copies (an icon does not).
const MIN_EDITED_SIDE: u32 = 32;

/// Errors are said in words (their `Display`: the file and what is wrong), as an app would
/// say them; `main` returning the error would print its `Debug` form.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args().skip(1);
    let folder = args
        .next()
        .map_or_else(|| root.join("../shared/data/photos/train"), Into::into);
    let model = args
        .next()
        .map_or_else(|| root.join("models/photo64.int8.onnx"), Into::into);
    let encoder = Encoder::open(&model)?;
    let view = encoder.info().view.ok_or("not a photo model (no view)")?;
    let radius = encoder
        .info()
        .dedup_radius
        .ok_or("the model carries no dedup radius (imsat.dedup_radius)")?;

    let listed = |e: std::io::Error| format!("{}: cannot list it: {e}", folder.display());
    let mut paths: Vec<_> = std::fs::read_dir(&folder)
        .map_err(listed)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(listed)?;
    paths.retain(|p| p.is_file());
    paths.sort();
    // One photo at a time: decode it, make the model's view, encode, keep its logits (256
    // bytes at 64 bits) and a glance at it, and drop its pixels: a board then holds a few
    // hundred bytes a photo, not the photo. (An app encoding thousands can hand `logits` a
    // few dozen views at once: the encoder takes any number of images, a little faster.)
    let mut names = Vec::new();
    let mut logits = Vec::new();
    let mut glances = Vec::new();
    let mut add = |name: String, photo: &RgbImage| -> Result<(), Box<dyn std::error::Error>> {
        let (w, h) = (photo.width() as usize, photo.height() as usize);
        logits.extend(encoder.logits(&view.apply(photo.as_raw(), w, h, 3)?)?);
        glances.push(dedup::glance(photo.as_raw(), w, h));
        names.push(name);
        Ok(())
    };
    // The first photos stay decoded, to make their edited copies below.
    // (Each with its row among the codes: photos too small to edit are passed over.)
    let mut to_edit: Vec<(usize, String, RgbImage)> = Vec::new();
    let mut originals = 0;
    for path in &paths {
        // Decoded as `imsat encode` and `imsat dedup` decode it, for the same codes: upright
        // by its EXIF orientation (a phone stores a portrait photo turned, with a tag), a
        // transparent picture on white, a large JPEG at a reduced size (view's minimum side).
        match decode_image_at_least(path, view.min_source_side()) {
            Ok(img) => {
                let img = img.into_rgb8();
                let name = path.display().to_string();
                add(name.clone(), &img).map_err(|e| format!("{name}: {e}"))?;
                let row = originals;
                originals += 1;
                // Its copies need pixels to keep: a half-size copy of a photo 1 pixel high
                // has none.
                if to_edit.len() < EDITED && img.width().min(img.height()) >= MIN_EDITED_SIDE {
                    to_edit.push((row, name, img));
                }
            }
            Err(e) => eprintln!("skipped {}: {e}", path.display()),
        }
    }
    if to_edit.len() < EDITED {
        return Err(format!(
            "{}: {} photos of at least {MIN_EDITED_SIDE} pixels a side, the example needs \
             {EDITED}",
            folder.display(),
            to_edit.len()
        )
        .into());
    }
    // The original of each copy, in the order the copies follow the originals.
    let mut original_of = Vec::new();
    for (row, original, photo) in &to_edit {
        let (w, h) = photo.dimensions();
        let mut jpeg = Vec::new();
        DynamicImage::ImageRgb8(photo.clone())
            .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)?;
        let resaved = image::load_from_memory(&jpeg)?.to_rgb8();
        let side = 0.9f32.sqrt();
        let (cw, ch) = ((w as f32 * side) as u32, (h as f32 * side) as u32);
        let cropped =
            image::imageops::crop_imm(photo, (w - cw) / 2, (h - ch) / 2, cw, ch).to_image();
        let half =
            image::imageops::resize(photo, w / 2, h / 2, image::imageops::FilterType::Triangle);
        for (edit, copy) in [
            ("jpeg", resaved),
            ("crop 90%", cropped),
            ("half size", half),
        ] {
            add(format!("{original} ({edit})"), &copy)
                .map_err(|e| format!("{original} ({edit}): {e}"))?;
            original_of.push(*row);
        }
    }
    let codes = Codes::from_logits(encoder.outputs(), &logits)?;
    // A plain picture (one colour) gets every plain picture's code through the view: it is a
    // copy only of plain pictures of its colour.
    let flatness: Vec<_> = glances
        .iter()
        .map(|g| g.map_or(dedup::Flatness::Faint, |g| g.flatness))
        .collect();
    let plain_ok = |i: usize, j: usize| dedup::plain_pair(flatness[i], flatness[j]) != Some(false);
    let (groups, rule) = match encoder.info().soft_check {
        Some(check) => {
            let soft = SoftCodes::from_logits(encoder.outputs(), &logits)?;
            let rule = format!(
                "candidates within {} bits, soft distance <= {}",
                check.radius, check.max_distance
            );
            (
                dedup::dedup_soft_confirmed(
                    &codes,
                    &soft,
                    check,
                    dedup::Linkage::Single,
                    plain_ok,
                )?,
                rule,
            )
        }
        None => (
            dedup::dedup_confirmed(&codes, radius, dedup::Linkage::Single, plain_ok)?,
            format!("radius {radius}"),
        ),
    };
    for g in &groups {
        let members: Vec<&str> = g.iter().map(|&i| names[i as usize].as_str()).collect();
        println!("{}", members.join("  |  "));
    }

    // Every copy must share its original's group.
    let group_of = |i: usize| groups.iter().position(|g| g.contains(&(i as u64)));
    let copies = original_of.len();
    let found = original_of
        .iter()
        .enumerate()
        .filter(|&(c, &original)| {
            group_of(original).is_some() && group_of(originals + c) == group_of(original)
        })
        .count();
    println!(
        "{} photos and {copies} edited copies, {}-bit codes, {rule} (from the model): \
         {} groups, {found} of {copies} copies with their original",
        originals,
        codes.bits(),
        groups.len()
    );
    if found < copies {
        return Err(format!(
            "{} copies were not grouped with their original",
            copies - found
        )
        .into());
    }
    Ok(())
}
