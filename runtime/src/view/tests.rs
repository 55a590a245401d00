//! The view's tests: metadata, the resize against its reference, the stretch, the parts.

use super::resize::{area_resize, chroma, luma};
use super::*;

#[test]
fn metadata_round_trips_and_rejects_junk() {
    for v in [
        View {
            colour: Colour::Gray,
            rows: 32,
            cols: 32,
            contrast: Contrast::Norm,
            centre: None,
            top: None,
            bottom: None,
            unbox: false,
        },
        View {
            colour: Colour::Gray,
            rows: 16,
            cols: 24,
            contrast: Contrast::Raw,
            centre: None,
            top: None,
            bottom: None,
            unbox: false,
        },
        View {
            colour: Colour::Gray,
            rows: 16,
            cols: 16,
            contrast: Contrast::Robust,
            centre: None,
            top: None,
            bottom: None,
            unbox: false,
        },
        View {
            colour: Colour::Gray,
            rows: 16,
            cols: 16,
            contrast: Contrast::Robust,
            centre: Some(85),
            top: None,
            bottom: None,
            unbox: false,
        },
        View {
            colour: Colour::Ycc,
            rows: 16,
            cols: 16,
            contrast: Contrast::Robust,
            centre: Some(85),
            top: None,
            bottom: None,
            unbox: false,
        },
        View {
            colour: Colour::Ycc,
            rows: 16,
            cols: 16,
            contrast: Contrast::Robust,
            centre: Some(85),
            top: Some(80),
            bottom: Some(70),
            unbox: false,
        },
        View {
            colour: Colour::Gray,
            rows: 16,
            cols: 16,
            contrast: Contrast::Norm,
            centre: None,
            top: Some(80),
            bottom: None,
            unbox: false,
        },
        View {
            colour: Colour::Ycc,
            rows: 16,
            cols: 16,
            contrast: Contrast::Robust,
            centre: Some(85),
            top: Some(80),
            bottom: None,
            unbox: true,
        },
    ] {
        assert_eq!(View::from_metadata(&v.to_metadata()), Ok(v));
    }
    assert_eq!(
        View::from_metadata("ycc-area-16x16-robust+centre85+top80").map(|v| (
            v.centre,
            v.top,
            v.bottom,
            v.views()
        )),
        Ok((Some(85), Some(80), None, 3))
    );
    assert_eq!(
        View::from_metadata("ycc-area-16x16-robust+centre85+top80+unbox")
            .map(|v| (v.unbox, v.views())),
        Ok((true, 3))
    );
    assert_eq!(
        View::from_metadata("ycc-area-16x16-robust+unbox").map(|v| v.unbox),
        Ok(true)
    );
    // 16 source pixels a cell: what a decoder may shrink a large photo to.
    let side = |m: &str| View::from_metadata(m).map(|v| v.min_source_side());
    assert_eq!(side("ycc-area-16x16-robust+centre85+top80"), Ok(256));
    assert_eq!(side("gray-area-32x24-norm"), Ok(512));
    for junk in [
        "",
        "gray-area-32x32",
        "gray-area-0x32-norm",
        "rgb-area-32x32-norm",
        "gray-area-32x32-fancy",
        "gray-area-16x16-robust+centre",
        "gray-area-16x16-robust+centre0",
        "gray-area-16x16-robust+centre100",
        "gray-area-16x16-robust+middle85",
        "gray-area-16x16-robust+top0",
        "gray-area-16x16-robust+top100",
        "gray-area-16x16-robust+top80+centre85",
        "gray-area-16x16-robust+top80+top70",
        "gray-area-16x16-robust+top80+",
        "gray-area-16x16-robust+top",
        "gray-area-16x16-robust+unbox+top80",
        "gray-area-16x16-robust+unbox+unbox",
        "gray-area-16x16-robust+unbox80",
    ] {
        assert!(View::from_metadata(junk).is_err(), "{junk}");
    }
}

/// A 30x20 RGB test photo of varied pixels: (width, height, pixels).
fn test_photo() -> (usize, usize, Vec<u8>) {
    let (w, h) = (30, 20);
    (w, h, (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect())
}

/// A `rows x cols` view of the whole photo only, without the caption fill.
fn whole_view(colour: Colour, rows: usize, cols: usize, contrast: Contrast) -> View {
    View {
        colour,
        rows,
        cols,
        contrast,
        centre: None,
        top: None,
        bottom: None,
        unbox: false,
    }
}

/// A 4x4 robust view of the whole photo only.
fn one_view(colour: Colour) -> View {
    whole_view(colour, 4, 4, Contrast::Robust)
}

/// The centre view is the one-view rule on the centred crop, after the whole photo's;
/// the logits of the two are averaged per photo.
#[test]
fn a_centre_view_is_the_view_of_the_centred_crop() {
    let (w, h, img) = test_photo();
    let one = one_view(Colour::Gray);
    let two = View {
        centre: Some(64),
        ..one
    };
    assert_eq!((one.views(), two.views()), (1, 2));
    // 64% of the area: sides x0.8, 24x16 at (3, 2).
    assert_eq!(centre_rect(w, h, 64), (3, 2, 24, 16));
    assert_eq!(centre_rect(31, 3, 81), (2, 0, 28, 3));
    assert_eq!(centre_rect(1, 1, 1), (0, 0, 1, 1));
    // An empty side gives an empty rectangle, not a panic.
    assert_eq!(centre_rect(0, 10, 50), (0, 2, 0, 7));
    assert_eq!(centre_rect(0, 0, 50), (0, 0, 0, 0));
    assert_eq!(mean_over_views(&[1.0, 2.0], 2, 0), [1.0, 2.0]);
    let crop: Vec<u8> = img
        .chunks_exact(w * 3)
        .skip(2)
        .take(16)
        .flat_map(|row| &row[3 * 3..(3 + 24) * 3])
        .copied()
        .collect();
    let both = two.apply(&img, w, h, 3).unwrap();
    assert_eq!(both.len(), 2 * 16);
    assert_eq!(both[..16], one.apply(&img, w, h, 3).unwrap()[..]);
    assert_eq!(both[16..], one.apply(&crop, 24, 16, 3).unwrap()[..]);
    assert_ne!(both[..16], both[16..]);
    // Two photos of two views of three outputs.
    let logits = [
        1.0, -2.0, 0.5, 3.0, 2.0, -1.5, -1.0, -1.0, 4.0, 0.0, 1.0, 2.0,
    ];
    assert_eq!(
        mean_over_views(&logits, 2, 3),
        [2.0, 0.0, -0.5, -0.5, 0.0, 3.0]
    );
    assert_eq!(mean_over_views(&logits, 1, 3), logits);
    // Photos of more rows than memory holds: none whole, nothing (it multiplied past usize).
    assert!(mean_over_views(&logits, usize::MAX / 2, 4).is_empty());
    assert!(mean_over_views(&logits, 2, usize::MAX / 2 + 2).is_empty());
    // A hand-built view wider than any photo asks for the largest side, not a wrapped one.
    let wide = View {
        rows: 1 << 28,
        ..one
    };
    assert_eq!(wide.min_source_side(), u32::MAX);
    let wider = View {
        rows: usize::MAX,
        ..one
    };
    assert_eq!(wider.min_source_side(), u32::MAX);
}

/// The top and bottom views are the one-view rule on the top and bottom rows, after the
/// whole photo's and the centre's.
#[test]
fn top_and_bottom_views_are_the_views_of_those_rows() {
    let (w, h, img) = test_photo();
    let one = one_view(Colour::Ycc);
    let four = View {
        centre: Some(64),
        top: Some(80),
        bottom: Some(75),
        unbox: false,
        ..one
    };
    assert_eq!(four.views(), 4);
    assert_eq!(four.whole_only(), one);
    let rows = |from: usize, count: usize| img[from * w * 3..(from + count) * w * 3].to_vec();
    let views = four.apply(&img, w, h, 3).unwrap();
    let d = one.dim();
    assert_eq!(views.len(), 4 * d);
    assert_eq!(views[..d], one.apply(&img, w, h, 3).unwrap()[..]);
    // 80% of 20 rows from the top: 16; 75% from the bottom: 15, from row 5.
    assert_eq!(
        views[2 * d..3 * d],
        one.apply(&rows(0, 16), w, 16, 3).unwrap()[..]
    );
    assert_eq!(
        views[3 * d..],
        one.apply(&rows(5, 15), w, 15, 3).unwrap()[..]
    );
    assert_ne!(views[2 * d..3 * d], views[3 * d..]);
    // At least one row is kept of a one-row photo.
    assert_eq!(kept(1, 1), 1);
}

/// The view's own square root (no `f64::sqrt` without std) against libm's, correctly
/// rounded: within one unit in the last place over the variances and area fractions it is
/// used on, and exact on squares.
#[test]
fn square_root_agrees_with_libm() {
    let mut xs: Vec<f64> = (0..=400).map(|i| f64::from(i) / 400.0).collect();
    xs.extend((1..=2000).map(|i| f64::from(i) * 7.3));
    xs.extend((1..=64).map(|i| f64::from(i * i)));
    xs.extend([1e-12, 0.5, 2.0, 4.0, 1e6, 65025.0, 16256.25]);
    for x in xs {
        let (got, want) = (sqrt(x), libm::sqrt(x));
        let ulp = f64::EPSILON * want;
        assert!((got - want).abs() <= ulp, "sqrt({x}) = {got}, libm {want}");
        if want.fract() == 0.0 {
            assert_eq!(got, want, "sqrt({x})");
        }
    }
    assert_eq!(sqrt(0.0), 0.0);
    assert_eq!(sqrt(-4.0), 0.0);
}

#[test]
fn area_resize_averages_blocks_exactly() {
    // 4x4 -> 2x2: each output is the mean of a 2x2 block.
    let src: Vec<f32> = (0..16).map(|v| v as f32).collect();
    let out = area_resize(&src, 4, 4, 2, 2);
    assert_eq!(out, [2.5, 4.5, 10.5, 12.5]);
    // 3 -> 2 along one axis: weights 2/3,1/3 and 1/3,2/3.
    let out = area_resize(&[0.0, 3.0, 6.0], 3, 1, 2, 1);
    assert!((out[0] - 1.0).abs() < 1e-5 && (out[1] - 5.0).abs() < 1e-5);
}

#[test]
fn normalization_ignores_brightness_and_contrast() {
    let view = whole_view(Colour::Gray, 4, 4, Contrast::Norm);
    let img: Vec<u8> = (0..64).map(|v| (v * 3 % 200) as u8 + 20).collect();
    let a = view.apply(&img, 8, 8, 1).unwrap();
    let brighter: Vec<u8> = img.iter().map(|&v| v / 2 + 60).collect();
    let b = view.apply(&brighter, 8, 8, 1).unwrap();
    assert!(
        a.iter().zip(&b).all(|(x, y)| x.abs_diff(*y) <= 2),
        "{a:?} {b:?}"
    );
    let mean = a.iter().map(|&v| v as f64).sum::<f64>() / 16.0;
    assert!((mean - 128.0).abs() < 1.0);
    // A flat image stays flat instead of amplifying rounding noise.
    let flat = view.apply(&[90; 64], 8, 8, 1).unwrap();
    assert!(flat.iter().all(|&v| v == 128));
}

/// Each stretch as its definition writes it, on a view the size of its image (so the resize
/// keeps every pixel): `norm` maps the mean to 128 and one standard deviation to
/// [`NORMALIZED_STD`] levels; `robust` the median (the middle of the sorted values) to 128 and
/// the interquartile range to 1.349 of those; `raw` keeps the levels; each rounds to nearest,
/// clamped to a byte. Chroma is scaled by the luma's gain, at most [`MAX_CHROMA_GAIN`].
#[test]
fn each_stretch_maps_its_centre_to_128_and_its_spread_to_48_levels() {
    let (w, h) = (4, 4);
    let gray: [u8; 16] = [
        10, 200, 30, 40, 55, 60, 70, 85, 90, 100, 20, 120, 130, 150, 140, 160,
    ];
    let expected = |centre: f64, spread: f64| -> Vec<u8> {
        let gain = f64::from(NORMALIZED_STD) / spread;
        gray.iter()
            .map(|&v| {
                (128.0 + (f64::from(v) - centre) * gain)
                    .clamp(0.0, 255.0)
                    .round() as u8
            })
            .collect()
    };
    let mean = gray.iter().map(|&v| f64::from(v)).sum::<f64>() / 16.0;
    let var = gray
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / 16.0;
    let mut sorted = gray;
    sorted.sort_unstable();
    // Quartiles at 4/16, 8/16 and 12/16 of the sorted values.
    let (q1, median, q3) = (sorted[4], sorted[8], sorted[12]);
    assert_eq!((q1, median, q3), (55, 90, 140));
    let view = |contrast| whole_view(Colour::Gray, h, w, contrast);
    let apply = |contrast| view(contrast).apply(&gray, w, h, 1).unwrap();
    assert_eq!(apply(Contrast::Norm), expected(mean, libm::sqrt(var)));
    let iqr = f64::from(q3 - q1) / 1.349;
    assert_eq!(apply(Contrast::Robust), expected(f64::from(median), iqr));
    assert_eq!(apply(Contrast::Raw), gray);
    // Chroma: a colour view of an RGB image with the same luma-like spread. Cb and Cr
    // deviations, scaled by the luma's robust gain, capped at MAX_CHROMA_GAIN.
    let rgb: Vec<u8> = gray.iter().flat_map(|&v| [v, v / 2, 255 - v]).collect();
    let ycc = View {
        colour: Colour::Ycc,
        ..view(Contrast::Robust)
    };
    let out = ycc.apply(&rgb, w, h, 3).unwrap();
    let lumas: Vec<f64> = rgb.chunks_exact(3).map(|p| f64::from(luma(p))).collect();
    let mut ls = lumas.clone();
    ls.sort_unstable_by(f64::total_cmp);
    let gain = (f64::from(NORMALIZED_STD) / ((ls[12] - ls[4]) / 1.349)).min(MAX_CHROMA_GAIN);
    for (i, p) in rgb.chunks_exact(3).enumerate() {
        let (cb, cr) = chroma(p);
        let at = |v: f32| (128.0 + f64::from(v) * gain).clamp(0.0, 255.0).round() as u8;
        assert_eq!((out[16 + i], out[32 + i]), (at(cb), at(cr)), "pixel {i}");
    }
    // A faint image: the luma gain is large, the chroma's is capped.
    let faint: Vec<u8> = (0..16)
        .flat_map(|i| [120 + i as u8 % 4, 122, 118])
        .collect();
    let out = ycc.apply(&faint, w, h, 3).unwrap();
    for (i, p) in faint.chunks_exact(3).enumerate() {
        let cb = chroma(p).0;
        let capped = (128.0 + f64::from(cb) * MAX_CHROMA_GAIN).round() as u8;
        assert_eq!(out[16 + i], capped, "pixel {i}");
    }
}

/// A bright box over 5% of a low-contrast image squashes the rest of a `norm` view but
/// leaves a `robust` view's other pixels within a few levels; both ignore brightness.
#[test]
fn robust_normalization_shrugs_off_a_caption_box() {
    let (w, h) = (20, 20);
    let img: Vec<u8> = (0..w * h).map(|i| (100 + (i * 7) % 23) as u8).collect();
    let mut boxed = img.clone();
    boxed[..w].fill(250); // the top row: 5% of the pixels
    let moved = |contrast| {
        let view = whole_view(Colour::Gray, h, w, contrast);
        let (a, b) = (
            view.apply(&img, w, h, 1).unwrap(),
            view.apply(&boxed, w, h, 1).unwrap(),
        );
        let brighter: Vec<u8> = img.iter().map(|&v| v + 40).collect();
        let c = view.apply(&brighter, w, h, 1).unwrap();
        assert!(a.iter().zip(&c).all(|(x, y)| x.abs_diff(*y) <= 1));
        a[w..]
            .iter()
            .zip(&b[w..])
            .map(|(x, y)| x.abs_diff(*y) as f64)
            .sum::<f64>()
            / (a.len() - w) as f64
    };
    let (norm, robust) = (moved(Contrast::Norm), moved(Contrast::Robust));
    assert!(norm > 20.0 && robust < 6.0, "norm {norm}, robust {robust}");
    let flat = whole_view(Colour::Gray, 4, 4, Contrast::Robust);
    assert!(
        flat.apply(&[90; 64], 8, 8, 1)
            .unwrap()
            .iter()
            .all(|&v| v == 128)
    );
}

/// A colour view is the gray view followed by the Cb and Cr planes: flat at 128 for a
/// gray photo, and scaled with the luma's contrast gain, so brightness and contrast edits
/// barely move them while a change of hue does.
#[test]
fn a_colour_view_is_luma_then_chroma() {
    let (w, h) = (24, 16);
    let gray_view = View {
        colour: Colour::Gray,
        rows: 4,
        cols: 4,
        contrast: Contrast::Robust,
        centre: Some(85),
        top: None,
        bottom: None,
        unbox: false,
    };
    let colour_view = View {
        colour: Colour::Ycc,
        ..gray_view
    };
    assert_eq!(colour_view.dim(), 3 * gray_view.dim());
    assert_eq!(colour_view.input_shape(), [12, 4]);
    // A gradient from blue to magenta with a warm patch.
    let rgb: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            if x < 8 && y < 8 {
                [200, 120, 60]
            } else {
                [20 + 8 * x as u8, 40 + 6 * y as u8, 200]
            }
        })
        .collect();
    let gray = gray_view.apply(&rgb, w, h, 3).unwrap();
    let colour = colour_view.apply(&rgb, w, h, 3).unwrap();
    assert_eq!(colour.len(), 2 * colour_view.dim());
    let d = gray_view.dim();
    for v in 0..2 {
        let (g, c) = (
            &gray[v * d..(v + 1) * d],
            &colour[v * 3 * d..(v + 1) * 3 * d],
        );
        assert_eq!(&c[..d], g, "view {v}: the luma plane is the gray view");
    }
    let (cb, cr) = (&colour[d..2 * d], &colour[2 * d..3 * d]);
    assert!(
        cb[12] > 150 && cr[12] < 100,
        "blue corner: Cb {} Cr {}",
        cb[12],
        cr[12]
    );
    assert!(
        cb[0] < 110 && cr[0] > 140,
        "warm patch: Cb {} Cr {}",
        cb[0],
        cr[0]
    );
    // Gray pixels (1, 2 or 3 equal channels) have no chroma.
    let luma_only: Vec<u8> = rgb.chunks(3).map(luma).collect();
    for (pixels, channels) in [
        (luma_only.clone(), 1),
        (luma_only.iter().flat_map(|&v| [v, v, v]).collect(), 3),
    ] {
        let c = colour_view.apply(&pixels, w, h, channels).unwrap();
        assert!(c[d..3 * d].iter().all(|&v| v == 128), "{channels} channels");
    }
    // Darker by 20% (x0.8) and lower contrast (x0.7 about the mean): the chroma planes
    // move by a few levels, against the tens a change of hue makes.
    let edited = |f: &dyn Fn(f32) -> f32| -> Vec<u8> {
        let out: Vec<u8> = rgb.iter().map(|&v| f(v as f32).round() as u8).collect();
        colour_view.apply(&out, w, h, 3).unwrap()[d..3 * d].to_vec()
    };
    let mean = rgb.iter().map(|&v| v as f32).sum::<f32>() / rgb.len() as f32;
    for (name, moved) in [
        ("darker", edited(&|v| v * 0.8)),
        ("contrast", edited(&|v| mean + (v - mean) * 0.7)),
    ] {
        let worst = moved
            .iter()
            .zip(&colour[d..3 * d])
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 4, "{name}: chroma moved by {worst} levels");
    }
}

/// The one-sweep resize gives, bit for bit, the planes made whole and resized one by one,
/// shrinking and enlarging, on the whole image and on its centre at once.
#[test]
fn one_sweep_equals_resizing_each_plane() {
    for (w, h, side) in [
        (37, 23, 16),
        (16, 16, 16),
        (3, 2, 16),
        (200, 90, 7),
        (1, 1, 4),
    ] {
        let view = View {
            colour: Colour::Ycc,
            rows: side,
            cols: side + 1,
            contrast: Contrast::Raw,
            centre: None,
            top: None,
            bottom: None,
            unbox: false,
        };
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7919 % 251) as u8).collect();
        // Both parts in one sweep, as `apply` takes them.
        let rects = [(0, 0, w, h), centre_rect(w, h, 60)];
        let all = view.resized_planes(&rgb, w, 3, &rects);
        for (rect, got) in rects.into_iter().zip(all) {
            let (x0, y0, cw, ch) = rect;
            let pixel = |i: usize| {
                let (x, y) = (x0 + i % cw, y0 + i / cw);
                &rgb[(y * w + x) * 3..(y * w + x) * 3 + 3]
            };
            let planes: [Vec<f32>; 3] = [
                (0..cw * ch).map(|i| luma(pixel(i)) as f32).collect(),
                (0..cw * ch).map(|i| chroma(pixel(i)).0).collect(),
                (0..cw * ch).map(|i| chroma(pixel(i)).1).collect(),
            ];
            for (k, plane) in planes.iter().enumerate() {
                let want = area_resize(plane, cw, ch, view.cols, view.rows);
                assert_eq!(got[k], want, "{w}x{h} {rect:?} plane {k}");
            }
        }
    }
}

#[test]
fn rgb_uses_luma_and_bad_shapes_are_errors() {
    let view = View {
        colour: Colour::Gray,
        rows: 1,
        cols: 1,
        contrast: Contrast::Raw,
        centre: None,
        top: None,
        bottom: None,
        unbox: false,
    };
    assert_eq!(view.apply(&[255, 0, 0], 1, 1, 3).unwrap(), [77]);
    assert_eq!(view.apply(&[0, 255, 0, 255], 1, 1, 4).unwrap(), [149]);
    // Nearly transparent green over white: (246, 255, 246). Alpha 0 everywhere: opaque.
    assert_eq!(view.apply(&[0, 255, 0, 9], 1, 1, 4).unwrap(), [251]);
    assert_eq!(view.apply(&[0, 255, 0, 0], 1, 1, 4).unwrap(), [149]);
    assert!(matches!(
        view.apply(&[], 0, 5, 1),
        Err(ViewError::Empty { .. })
    ));
    assert!(matches!(
        view.apply(&[1, 2], 1, 1, 3),
        Err(ViewError::Size { .. })
    ));
    assert!(matches!(
        view.apply(&[1; 5], 1, 1, 5),
        Err(ViewError::Channels { .. })
    ));
    assert_eq!(sqrt(2.25), 1.5);
    // A view built by hand outside what its metadata may say is refused (a robust 0x0 view
    // indexed its sorted pixels at usize::MAX; norm and raw returned an empty view).
    for contrast in [Contrast::Robust, Contrast::Norm, Contrast::Raw] {
        for (rows, cols, centre) in [
            (0, 16, None),
            (16, 0, None),
            (4097, 1, None),
            (16, 16, Some(0)),
            (16, 16, Some(100)),
        ] {
            let bad = View {
                rows,
                cols,
                contrast,
                centre,
                ..view
            };
            assert!(
                matches!(bad.apply(&[7; 12], 2, 2, 3), Err(ViewError::Shape { .. })),
                "{rows}x{cols} {centre:?} {contrast:?}"
            );
        }
    }
}
