//! `imsat dedup` on a folder of real digits plus edited copies of some of them (shifted by a
//! pixel, slightly rotated, with noise, re-encoded as JPEG): the copies are grouped with their
//! original, and unrelated digits are not grouped together. The copies lie in a subfolder,
//! as a photo library's do.

use crate::common::{expect_success, mnist_images, run};
use imsat::trainer::data::read_idx_images;
use std::path::Path;

const SIDE: usize = 28;

fn save_png(dir: &Path, name: &str, px: &[u8]) {
    image::GrayImage::from_raw(SIDE as u32, SIDE as u32, px.to_vec())
        .unwrap()
        .save(dir.join(name))
        .unwrap();
}

fn shifted(px: &[u8]) -> Vec<u8> {
    (0..SIDE * SIDE)
        .map(|p| if p % SIDE == 0 { 0 } else { px[p - 1] })
        .collect()
}

/// Rotation about the centre, bilinear.
fn rotated(px: &[u8], degrees: f32) -> Vec<u8> {
    let (s, c) = degrees.to_radians().sin_cos();
    let m = (SIDE as f32 - 1.0) / 2.0;
    let at = |y: isize, x: isize| -> f32 {
        if y < 0 || x < 0 || y >= SIDE as isize || x >= SIDE as isize {
            0.0
        } else {
            px[y as usize * SIDE + x as usize] as f32
        }
    };
    (0..SIDE * SIDE)
        .map(|p| {
            let (y, x) = ((p / SIDE) as f32 - m, (p % SIDE) as f32 - m);
            let (sy, sx) = (c * y - s * x + m, s * y + c * x + m);
            let (y0, x0) = (sy.floor(), sx.floor());
            let (fy, fx) = (sy - y0, sx - x0);
            let (y0, x0) = (y0 as isize, x0 as isize);
            let v = (at(y0, x0) * (1.0 - fx) + at(y0, x0 + 1) * fx) * (1.0 - fy)
                + (at(y0 + 1, x0) * (1.0 - fx) + at(y0 + 1, x0 + 1) * fx) * fy;
            v.round().clamp(0.0, 255.0) as u8
        })
        .collect()
}

fn noisy(px: &[u8], seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    px.iter()
        .map(|&v| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (v as i32 + (state % 17) as i32 - 8).clamp(0, 255) as u8
        })
        .collect()
}

fn save_jpeg(dir: &Path, name: &str, px: &[u8]) {
    let img = image::GrayImage::from_raw(SIDE as u32, SIDE as u32, px.to_vec()).unwrap();
    let mut f = std::fs::File::create(dir.join(name)).unwrap();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut f, 90)
        .encode_image(&img)
        .unwrap();
}

#[test]
fn edited_copies_are_found_and_unrelated_digits_stay_apart() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("models/hash32.int8.onnx");
    let images = read_idx_images(mnist_images()).unwrap();
    let dim = SIDE * SIDE;
    let dir = tempfile::tempdir().unwrap();
    let copies = dir.path().join("edited/2026");
    std::fs::create_dir_all(&copies).unwrap();
    // 40 unrelated digits (the first 40 of the file); the first 10 get four edited copies each.
    let originals = 40;
    for i in 0..originals {
        let px = &images.pixels[i * dim..(i + 1) * dim];
        save_png(dir.path(), &format!("d{i:02}.png"), px);
        if i < 10 {
            save_png(&copies, &format!("d{i:02}_shift.png"), &shifted(px));
            save_png(&copies, &format!("d{i:02}_rot.png"), &rotated(px, 4.0));
            save_png(
                &copies,
                &format!("d{i:02}_noise.png"),
                &noisy(px, i as u64 + 1),
            );
            save_jpeg(&copies, &format!("d{i:02}_jpeg.jpg"), px);
        }
    }
    // A copy cut short (a half-written file) is left out and named, not grouped as a gray
    // picture nor the end of the run.
    let whole = std::fs::read(copies.join("d00_jpeg.jpg")).unwrap();
    std::fs::write(copies.join("d00_cut.jpg"), &whole[..whole.len() / 2]).unwrap();
    // The sheet goes beside the folder: inside it, the next run would read it as a photo.
    let beside = tempfile::tempdir().unwrap();
    let sheet = beside.path().join("groups.png");
    let out = run(
        "dedup --json --model {} --sheet {} {}",
        &[&model, &sheet, dir.path()],
    );
    expect_success(&out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["images"], 80);
    assert_eq!(report["skipped"], 1);
    assert_eq!(report["linkage"], "single");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("d00_cut.jpg") && stderr.contains("truncated JPEG"),
        "{stderr}"
    );
    let groups: Vec<Vec<String>> = serde_json::from_value(report["group_members"].clone()).unwrap();
    // Which original each file came from: "d07_rot.png" -> 7.
    let origin = |path: &String| -> usize {
        let name = Path::new(path).file_name().unwrap().to_string_lossy();
        name[1..3].parse().unwrap()
    };
    let mut found = 0;
    for g in &groups {
        let first = origin(&g[0]);
        assert!(
            g.iter().all(|p| origin(p) == first),
            "a group mixes unrelated digits: {g:?}"
        );
        found += g.len() - 1;
    }
    eprintln!(
        "{} groups, {found} of 40 copies found: {groups:?}",
        groups.len()
    );
    assert!(
        found >= 36,
        "only {found} of 40 edited copies were grouped with their original"
    );
    // Each group's diameter, against the codes `imsat encode` writes for the same files: the
    // largest Hamming distance between two members, and a pair within the radius (4).
    let codes_csv = dir.path().join("codes.csv");
    let enc = run(
        "encode --skip-bad --model {} --data {} --out {}",
        &[&model, dir.path(), &codes_csv],
    );
    expect_success(&enc);
    let code_of: std::collections::HashMap<String, u64> = std::fs::read_to_string(&codes_csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let (name, hex) = l.split_once(',').unwrap();
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let mut word = [0u8; 8];
            word[..bytes.len()].copy_from_slice(&bytes);
            (name.to_string(), u64::from_le_bytes(word))
        })
        .collect();
    let diameters: Vec<u32> = serde_json::from_value(report["group_diameters"].clone()).unwrap();
    assert_eq!(diameters.len(), groups.len());
    for (g, &d) in groups.iter().zip(&diameters) {
        let code = |p: &String| {
            let rel = Path::new(p).strip_prefix(dir.path()).unwrap();
            code_of[rel.to_str().unwrap()]
        };
        let want = g
            .iter()
            .flat_map(|a| g.iter().map(move |b| (code(a) ^ code(b)).count_ones()))
            .max()
            .unwrap();
        assert_eq!(d, want, "{g:?}");
        assert!(g.len() > 2 || d <= 4, "a pair {d} bits apart: {g:?}");
    }
    // Complete linkage: every two members of a group within the radius by the encoded codes,
    // each group inside one of the single-linkage groups, the copies still found.
    let out = run(
        "dedup --json --linkage complete --model {} {}",
        &[&model, dir.path()],
    );
    expect_success(&out);
    let complete: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(complete["linkage"], "complete");
    let complete_groups: Vec<Vec<String>> =
        serde_json::from_value(complete["group_members"].clone()).unwrap();
    let code = |p: &String| {
        let rel = Path::new(p).strip_prefix(dir.path()).unwrap();
        code_of[rel.to_str().unwrap()]
    };
    for g in &complete_groups {
        for a in g {
            assert!(
                g.iter().all(|b| (code(a) ^ code(b)).count_ones() <= 4),
                "{g:?}"
            );
        }
        assert!(
            groups.iter().any(|s| g.iter().all(|m| s.contains(m))),
            "{g:?} is not inside a single-linkage group"
        );
    }
    let found_complete: usize = complete_groups.iter().map(|g| g.len() - 1).sum();
    eprintln!(
        "complete linkage: {} groups, {found_complete} of 40 copies found",
        complete_groups.len()
    );
    assert!(found_complete >= 30, "{complete_groups:?}");
    // The contact sheet: a row per group, each with the group's digits (white on black, so
    // dark thumbnails) drawn in it, and nothing drawn below the last row.
    assert_eq!(report["sheet"], sheet.display().to_string());
    let png = image::open(&sheet).unwrap().to_luma8();
    // 8 thumbnails of 128 px and a 130-px label column; a 34-px title, rows of 96 + 6 px.
    let (w, h) = (1208, 34 + 102 * groups.len() as u32 + 6);
    assert_eq!((png.width(), png.height()), (w, h));
    let dark_in_rows = |y0: u32, y1: u32| {
        (y0..y1)
            .flat_map(|y| (130..w).map(move |x| (x, y)))
            .filter(|&(x, y)| png.get_pixel(x, y)[0] < 40)
            .count()
    };
    for g in 0..groups.len() as u32 {
        let y0 = 34 + g * 102;
        let thumbs = groups[g as usize].len().min(8);
        // A 28x28 digit scaled to 96x96 is mostly black background.
        assert!(
            dark_in_rows(y0, y0 + 96) > thumbs * 96 * 96 / 2,
            "group {g}: its thumbnails are not drawn"
        );
    }
    assert_eq!(dark_in_rows(h - 6, h), 0);
}

/// An IDX file's groups are drawn on the sheet from its images as the model sees them (a
/// folder's come from its files): each row holds its group's digits.
#[test]
fn an_idx_file_s_sheet_draws_its_images() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("models/hash32.int8.onnx");
    let images = read_idx_images(mnist_images()).unwrap();
    let dim = SIDE * SIDE;
    // Twelve digits, the first three twice more each: three groups of three.
    let rows: Vec<usize> = (0..12).chain([0, 1, 2, 0, 1, 2]).collect();
    let pixels: Vec<u8> = rows
        .iter()
        .flat_map(|&r| images.pixels[r * dim..(r + 1) * dim].iter().copied())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("digits.idx");
    let bytes = imsat::trainer::data::idx_u8_bytes(&[rows.len(), 28, 28], &pixels);
    std::fs::write(&idx, bytes).unwrap();
    let sheet = dir.path().join("groups.png");
    // By codes alone (no pixel check, which keeps the images for itself): the sheet's own
    // need keeps them.
    let out = run(
        "dedup --json --model {} --radius 0 --min-similarity 0 --sheet {} {}",
        &[&model, &sheet, &idx],
    );
    expect_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The copies' groups (and any digits that share a code: 32 bits at radius 0 do).
    let groups = report["group_members"].as_array().unwrap();
    for copies in [["0", "12", "15"], ["1", "13", "16"], ["2", "14", "17"]] {
        assert!(groups.contains(&serde_json::json!(copies)), "{report}");
    }
    let png = image::open(&sheet).unwrap().to_luma8();
    let rows = groups.len() as u32;
    assert_eq!((png.width(), png.height()), (1208, 34 + 102 * rows + 6));
    for g in 0..rows {
        let y0 = 34 + g * 102;
        // At least two 96x96 thumbnails of a digit (white on black): mostly dark.
        let dark = (y0..y0 + 96)
            .flat_map(|y| (130..1208).map(move |x| (x, y)))
            .filter(|&(x, y)| png.get_pixel(x, y)[0] < 40)
            .count();
        assert!(dark > 2 * 96 * 96 / 2, "group {g}: {dark} dark pixels");
    }
}
