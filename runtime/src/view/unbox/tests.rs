//! The caption fill on synthetic photos: boxes of each kind found and filled, photos
//! without one left alone.

use alloc::vec;

use super::*;

/// A `w x h` RGB photo-like image: smooth gradients under a fine texture, so that no
/// large patch is one colour.
fn photo(w: usize, h: usize) -> Vec<u8> {
    let mut px = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let t = ((x * 7 + y * 13) % 23) as i32 * 3 - 33;
            let g = [
                60 + (x * 120 / w) as i32,
                80 + (y * 100 / h) as i32,
                140 - ((x + y) * 60 / (w + h)) as i32,
            ];
            px.extend(g.map(|v| (v + t).clamp(0, 255) as u8));
        }
    }
    px
}

/// Paste a caption box at `(x, y)` of `bw x bh`: a plain dark band with a square logo
/// and light strokes for letters, as a caption or a watermark plate.
fn paste_box(px: &mut [u8], w: usize, (x, y, bw, bh): BoxRect) {
    let m = (bh / 5).max(1);
    for yy in y..y + bh {
        for xx in x..x + bw {
            let (lx, ly) = (xx - x, yy - y);
            let inner = ly >= m && ly + m < bh;
            let c = if inner && lx >= m && lx < bh - m {
                [200, 40, 40]
            } else if inner && lx >= bh && (lx / (m + 1)) % 3 != 2 && lx + m < bw {
                [240, 240, 235]
            } else {
                [20, 20, 24]
            };
            px[(yy * w + xx) * 3..][..3].copy_from_slice(&c);
        }
    }
}

/// Paint the rectangle `(x, y, bw, bh)` of a `w`-wide RGB image one colour.
fn paint(px: &mut [u8], w: usize, (x, y, bw, bh): BoxRect, colour: [u8; 3]) {
    for row in y..y + bh {
        for p in px[(row * w + x) * 3..(row * w + x + bw) * 3].chunks_exact_mut(3) {
            p.copy_from_slice(&colour);
        }
    }
}

/// The working copy [`find_box`] looks for a box on, of a `w x h` RGB image.
fn working_copy(rgb: &[u8], w: usize, h: usize) -> Work {
    let f = work_factor(w, h);
    Work::new(rgb, w, 3, f, w / f, h / f)
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&p, &q)| (p as f64 - q as f64).abs())
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn a_caption_box_is_found_and_filled_wherever_it_sits() {
    let (w, h) = (384, 256);
    let original = photo(w, h);
    // Top, middle and bottom; about 5% of the area, 4-5 times wider than tall.
    for rect in [(40, 12, 150, 34), (150, 110, 160, 32), (200, 200, 150, 36)] {
        let mut boxed = original.clone();
        paste_box(&mut boxed, w, rect);
        assert_found_and_filled(&original, &boxed, w, h, rect);
    }
}

/// `boxed` (`original` with a box pasted over `rect`) has its box found, to within the
/// working copy's step (2 pixels at 384), and filled in: far closer to its original than
/// with the box.
#[track_caller]
fn assert_found_and_filled(original: &[u8], boxed: &[u8], w: usize, h: usize, rect: BoxRect) {
    let (filled, found) = unbox(boxed, w, h, 3).expect("the box is found");
    for (a, b) in [
        (found.0, rect.0),
        (found.1, rect.1),
        (found.0 + found.2, rect.0 + rect.2),
        (found.1 + found.3, rect.1 + rect.3),
    ] {
        assert!(a.abs_diff(b) <= 2, "{found:?} for {rect:?}");
    }
    let (before, after) = (
        mean_abs_diff(boxed, original),
        mean_abs_diff(&filled, original),
    );
    assert!(after < before / 3.0, "{rect:?}: {before} -> {after}");
}

/// A plate of one colour with nothing on it (a blank banner, a bar over a face): its flat
/// inside is one patch that fills its own rectangle, and the region grows from that patch
/// to the plate's edge.
#[test]
fn a_blank_plate_is_found_and_filled() {
    let (w, h) = (384, 256);
    let original = photo(w, h);
    for (rect, colour) in [
        ((40, 150, 150, 34), [20, 20, 24]),
        ((180, 20, 120, 40), [250, 250, 250]),
    ] {
        let mut boxed = original.clone();
        paint(&mut boxed, w, rect, colour);
        assert_found_and_filled(&original, &boxed, w, h, rect);
        // By its colour, and exactly: the plate's sides fall on the working copy's pixels.
        let f = work_factor(w, h);
        let work = working_copy(&boxed, w, h);
        let (x, y, bw, bh) = rect;
        assert_eq!(work.find_by_colour(), Some((x / f, y / f, bw / f, bh / f)));
    }
}

#[test]
fn a_box_with_pixels_of_its_colour_just_beyond_it_is_found() {
    let (w, h) = (384, 256);
    let original = photo(w, h);
    let rect = (150, 110, 160, 32);
    // A 2x2 block of the box's colour touching its top and one touching its bottom (as
    // JPEG leaves beside a dark box on a dark photo), or a strip of it 6 pixels wide and
    // 14 tall on its top (a dark post behind the box): lines of the working copy that are
    // almost all photo, not the box's edge.
    let blocks = [(200, 108, 2, 2), (250, 142, 2, 2)];
    let strip = [(220, 96, 6, 14)];
    for spots in [&blocks[..], &strip[..]] {
        let mut boxed = original.clone();
        paste_box(&mut boxed, w, rect);
        for &spot in spots {
            paint(&mut boxed, w, spot, [20, 20, 24]);
        }
        // By its colour, not only by its edges.
        let work = working_copy(&boxed, w, h);
        assert!(work.find_by_colour().is_some(), "{spots:?}");
        assert_found_and_filled(&original, &boxed, w, h, rect);
    }
}

/// A plate whose lower part is dense small lettering (stripes two pixels wide, no flat
/// neighbourhood among them): the flat patch is its plain upper part, and the region reaches
/// the rows below only by growing down its margins and the strokes' gaps.
#[test]
fn a_plate_with_dense_lettering_below_is_grown_to_its_bottom() {
    let (w, h) = (384, 256);
    let original = photo(w, h);
    for rect in [(40, 150, 150, 40), (200, 30, 142, 44)] {
        let (x, y, bw, bh) = rect;
        let mut boxed = original.clone();
        paint(&mut boxed, w, rect, [20, 20, 24]);
        // Lettering over the rows from 55% to 90% of the plate, 4 pixels in from its sides
        // (widths where the last stroke ends there).
        for row in y + bh * 55 / 100..y + bh * 9 / 10 {
            for col in (x + 4..x + bw - 4).filter(|c| (c - x) % 4 < 2) {
                boxed[(row * w + col) * 3..][..3].copy_from_slice(&[235, 235, 230]);
            }
        }
        let f = work_factor(w, h);
        let work = working_copy(&boxed, w, h);
        let patches = super::patches::Patches::label(&work.flat(), &work.planes, w / f, h / f);
        // The patch of the plate's plain part, in the middle of its top rows.
        let plain = patches.label[(y / f + 3) * (w / f) + (x + bw / 2) / f] as usize;
        let (_, _, _, patch_bottom) = patches.bounds[plain];
        assert!(
            patch_bottom * f < y + bh * 6 / 10,
            "the flat patch ends above the lettering: row {}",
            patch_bottom * f
        );
        assert_found_and_filled(&original, &boxed, w, h, rect);
        // By its colour, to its bottom row, not by its edges.
        assert_eq!(work.find_by_colour(), Some((x / f, y / f, bw / f, bh / f)));
    }
}

/// The colour region stops growing as soon as its bounds are larger than a box may be, before
/// its sparse outer lines are trimmed: a post of the box's colour below it is trimmed away
/// while the box and the post fit within half the photo's height, and past that the colour
/// pass finds no box (the edge pass then does: a post a 25th of its width leaves its bottom
/// edge 85% whole).
#[test]
fn a_post_of_the_box_colour_is_trimmed_until_the_region_outgrows_a_box() {
    let (w, h) = (384, 256);
    let original = photo(w, h);
    let rect = (40, 12, 150, 34);
    for (post_rows, by_colour) in [(60, true), (120, false)] {
        // The photo has the post; the copy has the box pasted over it too.
        let mut with_post = original.clone();
        paint(&mut with_post, w, (100, 46, 6, post_rows), [20, 20, 24]);
        let mut boxed = with_post.clone();
        paste_box(&mut boxed, w, rect);
        let work = working_copy(&boxed, w, h);
        assert_eq!(
            work.find_by_colour().is_some(),
            by_colour,
            "a post of {post_rows} rows"
        );
        assert_found_and_filled(&with_post, &boxed, w, h, rect);
    }
}

/// Paste [`paste_box`] inside a frame `frame` pixels wide of another colour, with its
/// logo reaching the top of the band (a hole open to its edge).
fn paste_framed_box(px: &mut [u8], w: usize, (x, y, bw, bh): BoxRect, frame: usize) {
    paint(px, w, (x, y, bw, bh), [40, 180, 60]);
    let inner = (x + frame, y + frame, bw - 2 * frame, bh - 2 * frame);
    paste_box(px, w, inner);
    let m = (inner.3 / 5).max(1);
    paint(
        px,
        w,
        (inner.0 + m, inner.1, 2 * m, inner.3 / 2),
        [200, 40, 40],
    );
}

#[test]
fn an_outlined_box_is_filled_from_beyond_its_outline() {
    let (w, h) = (384, 256);
    let original = photo(w, h);
    // About 10% of the area: the band inside the frame has plain margins as wide as
    // those of the boxes above.
    for rect in [(40, 12, 200, 50), (150, 100, 200, 48), (180, 196, 190, 52)] {
        let mut boxed = original.clone();
        paste_framed_box(&mut boxed, w, rect, 3);
        // The outline is part of the box.
        assert_found_and_filled(&original, &boxed, w, h, rect);
    }
}

/// A plate whose lettering runs out of its bottom edge (tall strokes, a tenth of its area,
/// open to the photo below): filled to less than 92% counting its holes, yet its edge is its
/// colour almost all the way round, so the colour pass takes it.
#[test]
fn a_plate_with_lettering_open_to_its_edge_is_found_by_its_ring() {
    let (w, h) = (384, 256);
    let original = photo(w, h);
    for rect in [(40, 150, 150, 34), (200, 30, 160, 36)] {
        let (x, y, _, bh) = rect;
        let mut boxed = original.clone();
        paint(&mut boxed, w, rect, [20, 20, 24]);
        // Eight strokes 4 pixels wide, from the bottom edge up half the plate.
        for k in 0..8 {
            let stroke = (x + 20 + k * 16, y + bh / 2, 4, bh - bh / 2);
            paint(&mut boxed, w, stroke, [235, 235, 230]);
        }
        let work = working_copy(&boxed, w, h);
        assert!(work.find_by_colour().is_some(), "{rect:?}");
        assert_found_and_filled(&original, &boxed, w, h, rect);
    }
}

/// Paste [`paste_box`], then ramp its band from dark at the top to gray at the bottom
/// (a gradient plate: no colour region to grow, only its edges).
fn paste_gradient_box(px: &mut [u8], w: usize, (x, y, bw, bh): BoxRect) {
    paste_box(px, w, (x, y, bw, bh));
    for yy in y..y + bh {
        let level = (20 + (yy - y) * 90 / bh) as u8;
        for xx in x..x + bw {
            let p = &mut px[(yy * w + xx) * 3..][..3];
            if p == [20, 20, 24] {
                p.copy_from_slice(&[level, level, level.saturating_add(4)]);
            }
        }
    }
}

#[test]
fn a_gradient_box_is_found_by_its_edges() {
    let (w, h) = (384, 256);
    // A bright photo, which the plate's every row stands out from.
    let original: Vec<u8> = photo(w, h).iter().map(|&v| v.saturating_add(70)).collect();
    for rect in [(40, 12, 200, 50), (150, 100, 200, 48), (180, 190, 190, 52)] {
        let mut boxed = original.clone();
        paste_gradient_box(&mut boxed, w, rect);
        // By its edges: the colour pass finds no region of one colour in it.
        let work = working_copy(&boxed, w, h);
        assert!(work.find_by_edges().is_some(), "{rect:?}");
        assert_found_and_filled(&original, &boxed, w, h, rect);
    }
}

/// Paste a square plate at `(x, y)`, `side` a side: dark, with `pieces` of light content
/// (1: a logo alone; 2: a logo above a word, as a logo plate).
fn paste_square_plate(px: &mut [u8], w: usize, (x, y): (usize, usize), side: usize, pieces: usize) {
    let m = side / 6;
    for yy in y..y + side {
        for xx in x..x + side {
            let (lx, ly) = (xx - x, yy - y);
            let logo = (side / 3..2 * side / 3).contains(&lx) && (m..m + side / 3).contains(&ly);
            let word = pieces >= 2
                && (m..side - m).contains(&lx)
                && (side - 2 * m..side - m).contains(&ly);
            let c = if logo {
                [200, 40, 40]
            } else if word {
                [240, 240, 235]
            } else {
                [20, 20, 24]
            };
            px[(yy * w + xx) * 3..][..3].copy_from_slice(&c);
        }
    }
}

#[test]
fn a_square_plate_is_a_box_when_it_holds_a_logo_and_a_word() {
    let (w, h) = (384, 256);
    let original = photo(w, h);
    for (x, y) in [(30, 20), (170, 90), (300, 180)] {
        let mut boxed = original.clone();
        paste_square_plate(&mut boxed, w, (x, y), 70, 2);
        assert_found_and_filled(&original, &boxed, w, h, (x, y, 70, 70));
        // A logo alone, or nothing (a window, a tile): not a box.
        for pieces in [0, 1] {
            let mut plain = original.clone();
            paste_square_plate(&mut plain, w, (x, y), 70, pieces);
            assert_eq!(
                find_box(&plain, w, h, 3),
                None,
                "{pieces} pieces at {x}, {y}"
            );
        }
    }
    // A plate cut by the photo's edge, any of the four: not one.
    for corner in [(170, 0), (0, 90), (w - 70, 90), (170, h - 70)] {
        let mut cut = original.clone();
        paste_square_plate(&mut cut, w, corner, 70, 2);
        assert_eq!(find_box(&cut, w, h, 3), None, "a plate at {corner:?}");
    }
}

/// A dark rectangle inside a thin light outline on a dark wall across the photo (a window, a
/// door panel) does not stand out from what lies two steps beyond it: not a box, by its
/// colour or by its edges. On the photo, the same rectangle and outline are one.
#[test]
fn a_panel_of_the_colour_around_it_is_no_box() {
    let (w, h) = (384, 256);
    // Near the plate's colour (within 24 levels), yet a colour of its own (8 levels or more
    // apart), so that the plate is tried as a seed after the wall.
    let dark = [36, 36, 40];
    for rect in [(40, 150, 150, 34), (200, 40, 120, 30)] {
        let (x, y, bw, bh) = rect;
        let mut wall = photo(w, h);
        paint(&mut wall, w, (0, y - 20, w, bh + 40), dark);
        let mut photo_around = photo(w, h);
        for img in [&mut wall, &mut photo_around] {
            paint(img, w, (x - 2, y - 2, bw + 4, bh + 4), [230, 230, 225]);
            paste_box(img, w, rect);
        }
        assert_eq!(find_box(&wall, w, h, 3), None, "{rect:?} on a wall");
        assert!(
            find_box(&photo_around, w, h, 3).is_some(),
            "{rect:?} on the photo"
        );
    }
}

#[test]
fn photos_without_a_box_are_left_alone() {
    let (w, h) = (384, 256);
    assert_eq!(find_box(&photo(w, h), w, h, 3), None);
    // One colour, and a sky over the whole width: larger than any caption.
    assert_eq!(find_box(&vec![128; w * h * 3], w, h, 3), None);
    let mut sky = photo(w, h);
    for p in sky[..w * 60 * 3].chunks_exact_mut(3) {
        p.copy_from_slice(&[150, 190, 230]);
    }
    assert_eq!(find_box(&sky, w, h, 3), None);
    // Too small to judge, and pixels that are not the image they are said to be.
    assert_eq!(find_box(&[0, 0, 0, 255, 255, 255], 2, 1, 3), None);
    let mut boxed = photo(w, h);
    paste_box(&mut boxed, w, (40, 12, 150, 34));
    assert_eq!(find_box(&boxed[1..], w, h, 3), None);
    assert_eq!(find_box(&boxed, w, h, 5), None);
    assert_eq!(find_box(&boxed, usize::MAX, 2, 3), None);
    let before = boxed.clone();
    fill_box(&mut boxed, w, h, 3, (w, 0, 10, 10), 1);
    fill_box(&mut boxed, w + 1, h, 3, (0, 0, 10, 10), 1);
    assert_eq!(boxed, before);
}

#[test]
fn gray_and_rgba_photos_and_large_ones() {
    // A gray copy (one channel) and an RGBA one (alpha kept as it was).
    let (w, h) = (384, 256);
    let mut rgb = photo(w, h);
    paste_box(&mut rgb, w, (40, 12, 150, 34));
    let gray: Vec<u8> = rgb.chunks_exact(3).map(|p| p[1]).collect();
    assert!(find_box(&gray, w, h, 1).is_some());
    let rgba: Vec<u8> = rgb
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 7])
        .collect();
    let (filled, _) = unbox(&rgba, w, h, 4).expect("found");
    assert!(filled.chunks_exact(4).all(|p| p[3] == 7));
    // Four times the size: the same box, four times the coordinates, within the step.
    let (w4, h4) = (w * 4, h * 4);
    let big: Vec<u8> = (0..h4)
        .flat_map(|y| (0..w4).flat_map(move |x| [x / 4, y / 4]))
        .collect::<Vec<_>>()
        .chunks_exact(2)
        .flat_map(|xy| rgb[(xy[1] * w + xy[0]) * 3..][..3].to_vec())
        .collect();
    let found = find_box(&big, w4, h4, 3).expect("found on the large photo");
    assert!(
        found.0.abs_diff(160) <= 8 && found.1.abs_diff(48) <= 8,
        "{found:?}"
    );
}

#[test]
fn a_box_as_large_as_usize_is_filled_to_the_image_edges() {
    // Its far corner wrapped past usize::MAX and the box filled nothing; it is cut at the
    // image's edges instead, as a box reaching past them is.
    let (w, h) = (8, 6);
    let px: Vec<u8> = (0..w * h)
        .flat_map(|i| [(i / w * 30 + i % w) as u8; 3])
        .collect();
    let mut wide = px.clone();
    fill_box(&mut wide, w, h, 3, (2, 0, usize::MAX, 2), 0);
    let mut cut = px.clone();
    fill_box(&mut cut, w, h, 3, (2, 0, w - 2, 2), 0);
    assert_eq!(wide, cut);
    assert_ne!(wide, px);
}

#[test]
fn a_box_at_the_top_edge_is_filled_from_below() {
    let (w, h) = (8, 6);
    let mut px: Vec<u8> = (0..w * h).flat_map(|i| [(i % w * 10) as u8; 3]).collect();
    fill_box(&mut px, w, h, 3, (2, 0, 3, 2), 0);
    for x in 2..5 {
        // Rows 0 and 1 take row 2's value.
        assert_eq!(px[x * 3], px[(2 * w + x) * 3]);
        assert_eq!(px[(w + x) * 3], px[(2 * w + x) * 3]);
    }
}

#[test]
fn a_box_at_the_bottom_edge_is_filled_from_above() {
    let (w, h) = (8, 6);
    // Rows of distinct levels, so a fill from any other row shows.
    let mut px: Vec<u8> = (0..w * h)
        .flat_map(|i| [(i / w * 40 + i % w) as u8; 3])
        .collect();
    fill_box(&mut px, w, h, 3, (2, 4, 3, 2), 0);
    for x in 2..5 {
        // Rows 4 and 5 take row 3's value.
        for row in [4, 5] {
            assert_eq!(
                px[(row * w + x) * 3],
                px[(3 * w + x) * 3],
                "row {row}, column {x}"
            );
        }
    }
    assert_eq!(px[(5 * w + 1) * 3], 5 * 40 + 1, "outside the box");
}
