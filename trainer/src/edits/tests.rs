//! Each edit against what its documentation promises, measured on the output: pixel
//! arithmetic against f64 formulas, geometry read back from coordinate ramps, and the random
//! draws against their documented ranges and proportions.

use super::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn photo() -> RgbImage {
    RgbImage::from_fn(120, 80, |x, y| {
        Rgb([(x * 2) as u8, (y * 3) as u8, ((x + y) % 256) as u8])
    })
}

/// Red is the column and green the row: where an output pixel came from, read off its colour.
fn ramp(w: u32, h: u32) -> RgbImage {
    assert!(w <= 256 && h <= 256);
    RgbImage::from_fn(w, h, |x, y| Rgb([x as u8, y as u8, 128]))
}

/// Stripes of period `period` pixels: vertical in red, horizontal in green (sines), blue flat.
fn stripes(w: u32, h: u32, period: f64) -> RgbImage {
    let wave = |t: u32| (128.0 + 100.0 * (std::f64::consts::TAU * t as f64 / period).sin()).round();
    RgbImage::from_fn(w, h, |x, y| Rgb([wave(x) as u8, wave(y) as u8, 90]))
}

/// Mean absolute difference per channel value.
fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: f64 = a
        .iter()
        .zip(b.iter())
        .map(|(&x, &y)| (x as f64 - y as f64).abs())
        .sum();
    sum / a.as_raw().len() as f64
}

/// Standard deviation of one channel: what is left of a pattern's amplitude.
fn channel_std(img: &RgbImage, channel: usize) -> f64 {
    let v: Vec<f64> = img.pixels().map(|p| p[channel] as f64).collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

#[test]
fn every_kind_changes_the_photo() {
    let img = photo();
    let mut rng = StdRng::seed_from_u64(3);
    for kind in EditKind::ALL {
        let e = random_of_kind(kind, &mut rng);
        let out = e.apply(&img);
        assert!(out.width() > 0 && out.height() > 0, "{e}");
        let same = out.dimensions() == img.dimensions() && out == img;
        assert!(!same, "{e} left the photo unchanged");
    }
}

#[test]
fn kinds_have_distinct_names_that_parse_back() {
    let mut names: Vec<&str> = EditKind::ALL.iter().map(|k| k.name()).collect();
    for k in EditKind::ALL {
        assert_eq!(k.name().parse::<EditKind>(), Ok(k));
    }
    assert_eq!(
        names,
        [
            "jpeg",
            "rescale",
            "crop",
            "rotate",
            "brightness",
            "contrast",
            "gray",
            "blur",
            "caption",
            "flip"
        ]
    );
    names.sort();
    names.dedup();
    assert_eq!(names.len(), EditKind::ALL.len());
    let err = "sepia".parse::<EditKind>().unwrap_err();
    assert!(err.contains("`sepia`") && err.contains("jpeg, rescale") && err.contains("flip"));
    // The default family is every kind but the mirror, in command-line order.
    assert_eq!(EditKind::default_family(), EditKind::ALL[..9].to_vec());
}

#[test]
fn lists_parse_and_reject() {
    assert_eq!(
        parse_edit_list("jpeg, crop,jpeg").unwrap(),
        [EditKind::Jpeg, EditKind::Crop]
    );
    assert_eq!(parse_edit_list(" flip ").unwrap(), [EditKind::Flip]);
    assert!(parse_edit_list("jpeg,sepia").unwrap_err().contains("sepia"));
    assert!(
        parse_edit_list("jpeg,,gray")
            .unwrap_err()
            .contains("empty name")
    );
    assert!(parse_edit_list("jpeg,").unwrap_err().contains("empty name"));
    assert!(parse_edit_list("").unwrap_err().contains("empty edit list"));
    assert!(parse_edit_list("  ").is_err());
}

#[test]
fn edits_print_as_the_card_and_reports_name_them() {
    let at = (0.5, 0.5);
    let cases = [
        (Edit::Jpeg { quality: 30 }, "jpeg q30"),
        (Edit::Rescale { factor: 0.25 }, "rescale 25%"),
        (Edit::Crop { area: 0.8, at }, "crop 80%"),
        (Edit::Rotate { degrees: -3.0 }, "rotate -3.0"),
        (Edit::Rotate { degrees: 10.0 }, "rotate +10.0"),
        (Edit::Brightness { factor: 1.2 }, "brightness x1.20"),
        (Edit::Contrast { factor: 0.7 }, "contrast x0.70"),
        (Edit::Gray, "gray"),
        (Edit::Blur { sigma: 1.0 }, "blur 1.0"),
        (
            Edit::Caption {
                area: 0.05,
                at,
                seed: 1,
            },
            "caption 5%",
        ),
        (Edit::Flip, "flip"),
        (
            Edit::Chain(vec![Edit::Gray, Edit::Jpeg { quality: 50 }]),
            "gray + jpeg q50",
        ),
    ];
    for (edit, text) in cases {
        assert_eq!(edit.to_string(), text);
    }
}

#[test]
fn random_parameters_cover_the_documented_ranges() {
    let mut rng = StdRng::seed_from_u64(11);
    let draws = 3000;
    // (kind, parameter of a draw, documented low, high)
    type Param = fn(&Edit) -> f32;
    let cases: [(EditKind, Param, f32, f32); 7] = [
        (
            EditKind::Jpeg,
            |e| match e {
                Edit::Jpeg { quality } => *quality as f32,
                _ => f32::NAN,
            },
            20.0,
            95.0,
        ),
        (
            EditKind::Rescale,
            |e| match e {
                Edit::Rescale { factor } => *factor,
                _ => f32::NAN,
            },
            0.25,
            1.0,
        ),
        (
            EditKind::Crop,
            |e| match e {
                Edit::Crop { area, .. } => *area,
                _ => f32::NAN,
            },
            0.5,
            1.0,
        ),
        (
            EditKind::Rotate,
            |e| match e {
                Edit::Rotate { degrees } => *degrees,
                _ => f32::NAN,
            },
            -10.0,
            10.0,
        ),
        (
            EditKind::Brightness,
            |e| match e {
                Edit::Brightness { factor } => *factor,
                _ => f32::NAN,
            },
            0.7,
            1.3,
        ),
        (
            EditKind::Contrast,
            |e| match e {
                Edit::Contrast { factor } => *factor,
                _ => f32::NAN,
            },
            0.6,
            1.4,
        ),
        (
            EditKind::Caption,
            |e| match e {
                Edit::Caption { area, .. } => *area,
                _ => f32::NAN,
            },
            0.02,
            0.10,
        ),
    ];
    for (kind, param, low, high) in cases {
        let values: Vec<f32> = (0..draws)
            .map(|_| param(&random_of_kind(kind, &mut rng)))
            .collect();
        let (min, max) = values
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let span = high - low;
        assert!(min >= low && max <= high, "{kind:?}: {min}..{max}");
        assert!(
            min < low + 0.01 * span && max > high - 0.01 * span,
            "{kind:?} draws {min}..{max}, not all of {low}..{high}"
        );
    }
    // Crop and caption positions spread over the whole slack; caption looks differ.
    let mut xs = Vec::new();
    let mut seeds = std::collections::BTreeSet::new();
    for _ in 0..draws {
        match random_of_kind(EditKind::Caption, &mut rng) {
            Edit::Caption { at, seed, .. } => {
                xs.extend([at.0, at.1]);
                seeds.insert(seed);
            }
            e => panic!("caption drew {e}"),
        }
        match random_of_kind(EditKind::Crop, &mut rng) {
            Edit::Crop { at, .. } => xs.extend([at.0, at.1]),
            e => panic!("crop drew {e}"),
        }
    }
    assert!(xs.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(xs.iter().any(|&v| v < 0.01) && xs.iter().any(|&v| v > 0.99));
    assert_eq!(seeds.len(), draws);
    for kind in [EditKind::Gray, EditKind::Flip] {
        assert!(random_of_kind(kind, &mut rng).to_string() == kind.name());
    }
    let sigmas: Vec<f32> = (0..draws)
        .map(|_| match random_of_kind(EditKind::Blur, &mut rng) {
            Edit::Blur { sigma } => sigma,
            e => panic!("blur drew {e}"),
        })
        .collect();
    assert!(sigmas.iter().all(|s| (0.3..=2.0).contains(s)));
    assert!(sigmas.iter().any(|&s| s > 1.98));
}

#[test]
fn random_edits_are_single_half_the_time_and_otherwise_chains_of_distinct_kinds() {
    let mut rng = StdRng::seed_from_u64(5);
    let family = EditKind::default_family();
    let draws = 4000;
    let mut by_length = [0usize; 4];
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..draws {
        let parts = match random_edit(&family, &mut rng) {
            Edit::Chain(parts) => parts,
            single => vec![single],
        };
        assert!((1..=3).contains(&parts.len()));
        by_length[parts.len()] += 1;
        let kinds: Vec<&str> = parts
            .iter()
            .map(|p| {
                let text = p.to_string();
                let kind = family
                    .iter()
                    .find(|k| text.starts_with(k.name()))
                    .unwrap_or_else(|| panic!("{text} is not of the family"));
                kind.name()
            })
            .collect();
        let mut distinct = kinds.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), kinds.len(), "{kinds:?} repeats a kind");
        seen.extend(kinds);
    }
    assert_eq!(seen.len(), family.len(), "{seen:?}");
    let share = |n: usize| by_length[n] as f64 / draws as f64;
    assert!((share(1) - 0.5).abs() < 0.03, "{by_length:?}");
    assert!((share(2) - 0.25).abs() < 0.03, "{by_length:?}");
    assert!((share(3) - 0.25).abs() < 0.03, "{by_length:?}");

    // A family of two: chains of at most two; of one: always that edit alone.
    let two = [EditKind::Gray, EditKind::Flip];
    let mut lengths = std::collections::BTreeSet::new();
    for _ in 0..200 {
        lengths.insert(match random_edit(&two, &mut rng) {
            Edit::Chain(parts) => parts.len(),
            _ => 1,
        });
    }
    assert_eq!(lengths.into_iter().collect::<Vec<_>>(), [1, 2]);
    for _ in 0..50 {
        assert_eq!(random_edit(&[EditKind::Gray], &mut rng), Edit::Gray);
    }
}

#[test]
fn brightness_contrast_and_gray_match_their_formulas() {
    // Every 8-bit value in every channel, mixed across channels.
    let img = RgbImage::from_fn(256, 3, |x, y| {
        let v = x as u8;
        match y {
            0 => Rgb([v, 255 - v, v / 2]),
            1 => Rgb([v / 3, v, 200]),
            _ => Rgb([255 - v, v / 5, v]),
        }
    });
    let close = |out: &RgbImage, reference: &dyn Fn(f64) -> f64, what: &str| {
        for (o, v) in out.iter().zip(img.iter()) {
            let want = reference(*v as f64).round().clamp(0.0, 255.0);
            assert!(
                (*o as f64 - want).abs() <= 1.0,
                "{what}: {v} -> {o}, want {want}"
            );
        }
    };
    for factor in [0.7f32, 0.8, 1.2, 1.3] {
        let out = Edit::Brightness { factor }.apply(&img);
        close(&out, &|v| v * factor as f64, "brightness");
    }
    let mean = img
        .pixels()
        .map(|p| 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64)
        .sum::<f64>()
        / (256.0 * 3.0);
    for factor in [0.6f32, 0.7, 1.3, 1.4] {
        let out = Edit::Contrast { factor }.apply(&img);
        close(&out, &|v| (v - mean) * factor as f64 + mean, "contrast");
    }

    // Gray: ITU-R BT.601 luma in all three channels, over a grid of colours.
    let grid = RgbImage::from_fn(52 * 52, 52, |x, y| {
        Rgb([(x % 52 * 5) as u8, (x / 52 * 5) as u8, (y * 5) as u8])
    });
    let gray = Edit::Gray.apply(&grid);
    for (o, p) in gray.pixels().zip(grid.pixels()) {
        let luma = 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64;
        assert!(o[0] == o[1] && o[1] == o[2]);
        assert!(
            (o[0] as f64 - luma).abs() <= 1.0,
            "{p:?} -> {o:?}, luma {luma}"
        );
    }
}

#[test]
fn crops_keep_the_area_and_aspect_at_the_asked_position() {
    let (w, h) = (240u32, 160u32);
    let img = ramp(w, h);
    for area in [0.25f32, 0.5, 0.6, 0.8, 0.9, 1.0] {
        for at in [(0.0, 0.0), (1.0, 1.0), (0.5, 0.5), (0.3, 0.8), (0.9, 0.1)] {
            let out = Edit::Crop { area, at }.apply(&img);
            let (cw, ch) = out.dimensions();
            let kept = (cw * ch) as f32 / (w * h) as f32;
            assert!((kept - area).abs() < 0.01, "area {area}: kept {kept}");
            assert!(
                (cw as f32 / ch as f32 - 1.5).abs() < 0.02,
                "aspect {cw}x{ch}"
            );
            let (x0, y0) = (out.get_pixel(0, 0)[0] as u32, out.get_pixel(0, 0)[1] as u32);
            for (slack, start, pos) in [(w - cw, x0, at.0), (h - ch, y0, at.1)] {
                let want = slack as f32 * pos;
                assert!(
                    (start as f32 - want).abs() <= 0.5,
                    "area {area} at {at:?}: starts at {start}, want {want}"
                );
            }
            // A window of the photo itself, pixel for pixel.
            for (x, y, p) in out.enumerate_pixels() {
                assert_eq!(p, img.get_pixel(x0 + x, y0 + y));
            }
        }
    }
}

/// The affine map from output pixel to source pixel, fitted by least squares to the ramps'
/// colours: `[a, b, c]` for the source column (`a x + b y + c`) and for the source row.
fn fitted_source_map(out: &RgbImage) -> [[f64; 3]; 2] {
    // Normal equations of [x y 1] against each channel.
    let mut m = [[0f64; 3]; 3];
    let mut t = [[0f64; 3]; 2];
    for (x, y, p) in out.enumerate_pixels() {
        let row = [x as f64, y as f64, 1.0];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] += row[i] * row[j];
            }
            t[0][i] += row[i] * p[0] as f64;
            t[1][i] += row[i] * p[1] as f64;
        }
    }
    t.map(|rhs| solve3(m, rhs))
}

/// Cramer's rule for a 3x3 system.
fn solve3(m: [[f64; 3]; 3], r: [f64; 3]) -> [f64; 3] {
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(m);
    std::array::from_fn(|k| {
        let mut mk = m;
        for i in 0..3 {
            mk[i][k] = r[i];
        }
        det(mk) / d
    })
}

#[test]
fn rotations_turn_by_the_angle_about_the_centre_and_crop_every_border_away() {
    // Landscape and portrait: for each, a different side limits the box.
    for (w, h, degrees) in [(240u32, 160u32), (160, 240)]
        .into_iter()
        .flat_map(|(w, h)| [3.0f32, -3.0, 5.0, 10.0, -10.0].map(|d| (w, h, d)))
    {
        let img = ramp(w, h);
        let out = Edit::Rotate { degrees }.apply(&img);
        let (ow, oh) = out.dimensions();
        let [col, row] = fitted_source_map(&out);
        // A rotation: positive degrees turn the photo clockwise on screen (rows grow
        // downwards), so a step right in the output comes from up and right in the photo.
        let t = (degrees as f64).to_radians();
        let want = [[t.cos(), t.sin()], [-t.sin(), t.cos()]];
        for (got, want) in [col, row].iter().zip(want) {
            for k in 0..2 {
                assert!(
                    (got[k] - want[k]).abs() < 2e-3,
                    "{degrees} degrees: map {col:?} {row:?}"
                );
            }
        }
        let source = |x: f64, y: f64| {
            (
                col[0] * x + col[1] * y + col[2],
                row[0] * x + row[1] * y + row[2],
            )
        };
        // The output's centre is the photo's centre (pixel centres at +0.5).
        let (cx, cy) = source(ow as f64 / 2.0 - 0.5, oh as f64 / 2.0 - 0.5);
        assert!(
            (cx - (w as f64 / 2.0 - 0.5)).abs() < 0.05,
            "{degrees}: {cx}"
        );
        assert!(
            (cy - (h as f64 / 2.0 - 0.5)).abs() < 0.05,
            "{degrees}: {cy}"
        );
        // Every corner of the output lies inside the photo (no border shows), and the box is
        // the largest such: some corner is within a pixel and a half of the photo's edge.
        let mut slack = f64::MAX;
        let (right, bottom) = (ow as f64 - 0.5, oh as f64 - 0.5);
        for (x, y) in [(-0.5, -0.5), (right, -0.5), (-0.5, bottom), (right, bottom)] {
            let (sx, sy) = source(x, y);
            let inside = [sx + 0.5, w as f64 - 0.5 - sx, sy + 0.5, h as f64 - 0.5 - sy];
            for d in inside {
                assert!(
                    d > -0.05,
                    "{degrees}: corner ({x}, {y}) maps outside ({sx}, {sy})"
                );
                slack = slack.min(d);
            }
        }
        assert!(
            slack < 1.5,
            "{degrees}: {ow}x{oh} could be larger (slack {slack})"
        );
        let aspect = w as f64 / h as f64;
        assert!(
            (ow as f64 / oh as f64 - aspect).abs() < 0.02 * aspect,
            "aspect {ow}x{oh}"
        );
    }
    let img = ramp(240, 160);
    assert_eq!(Edit::Rotate { degrees: 0.0 }.apply(&img), img);
}

#[test]
fn rescale_goes_down_by_the_factor_and_back_to_the_same_size() {
    let (w, h) = (240u32, 80u32);
    let img = stripes(w, h, 8.0);
    // Stripes of period 8 shrunk to 25% are 2 pixels apart, at the sampling limit: most of
    // their amplitude is lost on the way down; at 50%, less; at 0.1% (one pixel), all.
    for (factor, most) in [
        (0.25f32, 0.4),
        (0.33, 0.5),
        (0.5, 0.8),
        (1.0, 1.0),
        (0.001, 0.0),
    ] {
        let out = Edit::Rescale { factor }.apply(&img);
        assert_eq!(out.dimensions(), img.dimensions());
        // The definition, through the image crate directly.
        let small = imageops::resize(
            &img,
            ((w as f32 * factor).round() as u32).max(1),
            ((h as f32 * factor).round() as u32).max(1),
            FilterType::Triangle,
        );
        assert_eq!(out, imageops::resize(&small, w, h, FilterType::Triangle));
        // Across (red) and down (green): both sides shrink.
        for channel in [0, 1] {
            let kept = channel_std(&out, channel) / channel_std(&img, channel);
            assert!(
                kept <= most,
                "{factor}: kept {kept} of channel {channel}'s stripes"
            );
            if factor == 0.5 {
                assert!(kept > 0.4, "{factor}: kept {kept}");
            }
        }
        if factor == 1.0 {
            assert_eq!(out, img);
        }
    }
}

#[test]
fn jpeg_blur_and_flip_do_what_they_say() {
    let img = stripes(96, 64, 6.0);
    let errors: Vec<f64> = [20u8, 50, 95]
        .iter()
        .map(|&q| mean_abs_diff(&Edit::Jpeg { quality: q }.apply(&img), &img))
        .collect();
    assert!(
        errors[0] > errors[1] && errors[1] > errors[2] && errors[2] > 0.0,
        "{errors:?}"
    );
    // Qualities outside 1-100 are clamped, not passed to the encoder.
    assert_eq!(jpeg(&img, 0), jpeg(&img, 1));
    assert_eq!(jpeg(&img, 255), jpeg(&img, 100));

    let kept = |sigma| channel_std(&Edit::Blur { sigma }.apply(&img), 0) / channel_std(&img, 0);
    let (light, heavy) = (kept(0.5), kept(2.0));
    assert!(heavy < 0.2 && light > 0.6 && light < 1.0, "{light} {heavy}");

    let flipped = Edit::Flip.apply(&photo());
    for (x, y, p) in flipped.enumerate_pixels() {
        assert_eq!(p, photo().get_pixel(119 - x, y));
    }
}

#[test]
fn chains_apply_their_edits_in_order() {
    let img = ramp(120, 80);
    let crop = Edit::Crop {
        area: 0.25,
        at: (0.0, 0.0),
    };
    let chain = Edit::Chain(vec![crop.clone(), Edit::Flip]);
    assert_eq!(chain.apply(&img), Edit::Flip.apply(&crop.apply(&img)));
    assert_ne!(chain.apply(&img), crop.apply(&Edit::Flip.apply(&img)));
    assert_eq!(Edit::Chain(vec![]).apply(&img), img);
}

/// The bounding box of some pixels: (x, y, width, height).
fn bounding_box(pixels: &[(u32, u32)]) -> (u32, u32, u32, u32) {
    assert!(!pixels.is_empty());
    let x0 = pixels.iter().map(|c| c.0).min().unwrap();
    let x1 = pixels.iter().map(|c| c.0).max().unwrap();
    let y0 = pixels.iter().map(|c| c.1).min().unwrap();
    let y1 = pixels.iter().map(|c| c.1).max().unwrap();
    (x0, y0, x1 - x0 + 1, y1 - y0 + 1)
}

/// The bounding box of the pixels a caption changed.
fn changed_box(before: &RgbImage, after: &RgbImage) -> (u32, u32, u32, u32) {
    let changed: Vec<(u32, u32)> = after
        .enumerate_pixels()
        .filter(|(x, y, p)| *p != before.get_pixel(*x, *y))
        .map(|(x, y, _)| (x, y))
        .collect();
    bounding_box(&changed)
}

#[test]
fn captions_cover_the_asked_area_with_a_band_a_logo_and_words() {
    // Mid-tone photo: no pixel is a caption's background or text colour.
    let (w, h) = (240u32, 160u32);
    let img = RgbImage::from_fn(w, h, |x, y| Rgb([60 + (x / 2) as u8, 60 + y as u8, 100]));
    for area in [0.02f32, 0.05, 0.08, 0.10] {
        for (at, seed) in [
            ((0.0, 0.0), 1u64),
            ((1.0, 1.0), 2),
            ((0.5, 0.9), 3),
            ((0.2, 0.4), 4),
        ] {
            let out = Edit::Caption { area, at, seed }.apply(&img);
            assert_eq!(out, Edit::Caption { area, at, seed }.apply(&img));
            let (x0, y0, bw, bh) = changed_box(&img, &out);
            let covered = (bw * bh) as f32 / (w * h) as f32;
            assert!(
                (covered - area).abs() < 0.05 * area,
                "area {area}: covered {covered}"
            );
            let ratio = bw as f32 / bh as f32;
            assert!((4.0..6.5).contains(&ratio), "band {bw}x{bh}");
            for (start, slack, pos) in [(x0, w - bw, at.0), (y0, h - bh, at.1)] {
                assert!(
                    (start as f32 - slack as f32 * pos).abs() <= 1.0,
                    "{area} at {at:?}: box at ({x0}, {y0})"
                );
            }
            // Every pixel of the box is replaced; the band's edge is its background.
            let bg = *out.get_pixel(x0, y0);
            assert!(
                bg == Rgb([20, 20, 24]) || bg == Rgb([245, 245, 240]),
                "{bg:?}"
            );
            let fg = if bg == Rgb([20, 20, 24]) {
                Rgb([240, 240, 235])
            } else {
                Rgb([15, 15, 20])
            };
            for x in x0..x0 + bw {
                assert_eq!(*out.get_pixel(x, y0), bg);
                assert_eq!(*out.get_pixel(x, y0 + bh - 1), bg);
            }
            for y in y0..y0 + bh {
                assert_eq!(*out.get_pixel(x0, y), bg);
                for x in x0..x0 + bw {
                    assert_ne!(out.get_pixel(x, y), img.get_pixel(x, y));
                }
            }
            // A square logo at the left, inset by a fifth of the band's height on every side,
            // then word strokes with gaps along the middle row.
            let mid = y0 + bh / 2;
            let logo = *out.get_pixel(x0 + bh / 2, mid);
            assert!(logo != bg && logo != fg, "logo {logo:?}");
            let inset = (bh / 5).max(1);
            let square: Vec<(u32, u32)> = (0..bh)
                .flat_map(|y| (0..bh).map(move |x| (x, y)))
                .filter(|&(x, y)| *out.get_pixel(x0 + x, y0 + y) == logo)
                .collect();
            let (sx, sy, sw, sh) = bounding_box(&square);
            assert_eq!(square.len() as u32, sw * sh);
            assert_eq!(
                (sx, sy, bh - sx - sw, bh - sy - sh),
                (inset, inset, inset, inset),
                "logo in a {bw}x{bh} band"
            );
            let row: Vec<Rgb<u8>> = (x0 + bh..x0 + bw).map(|x| *out.get_pixel(x, mid)).collect();
            let ink = row.iter().filter(|p| **p == fg).count() as f32 / row.len() as f32;
            let gaps = row.windows(2).filter(|p| p[0] == fg && p[1] == bg).count();
            assert!(row.iter().all(|p| *p == fg || *p == bg));
            assert!(
                (0.35..0.7).contains(&ink) && gaps >= 3,
                "ink {ink}, {gaps} gaps"
            );
            assert!(!row[..row.len() / 2].contains(&logo));
            // Letters two units wide one unit apart (a unit one more than the inset), and
            // at least one word gap wider than a letter.
            let mut runs: Vec<(bool, usize)> = Vec::new();
            for p in &row {
                match runs.last_mut() {
                    Some((ink, len)) if *ink == (*p == fg) => *len += 1,
                    _ => runs.push((*p == fg, 1)),
                }
            }
            let unit = inset as usize + 1;
            let inner = &runs[1..runs.len() - 1];
            let longest_ink = runs.iter().filter(|r| r.0).map(|r| r.1).max();
            let bg_runs = || inner.iter().filter(|r| !r.0).map(|r| r.1);
            assert_eq!(longest_ink, Some(2 * unit), "{runs:?}");
            assert_eq!(bg_runs().min(), Some(unit), "{runs:?}");
            assert!(bg_runs().max().unwrap() > 2 * unit, "no word gap: {runs:?}");
        }
    }
    // The seed chooses the look: the logo colour (or background) differs between seeds.
    let a = Edit::Caption {
        area: 0.05,
        at: (0.5, 0.5),
        seed: 7,
    }
    .apply(&img);
    let b = Edit::Caption {
        area: 0.05,
        at: (0.5, 0.5),
        seed: 8,
    }
    .apply(&img);
    assert_ne!(a, b);
}
