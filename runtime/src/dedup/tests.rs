use super::*;
use alloc::vec;
use proptest::prelude::*;

#[test]
fn images_similar_accepts_shifted_copies_and_rejects_others() {
    let (rows, cols) = (8, 8);
    let mut a = vec![0u8; 64];
    for r in 2..6 {
        a[r * cols + 3] = 255;
    }
    a[2 * cols + 4] = 200;
    let shifted: Vec<u8> = (0..64)
        .map(|p| if p % cols == 0 { 0 } else { a[p - 1] })
        .collect();
    assert!(images_similar(&a, &a, rows, cols, 0.99));
    assert!(images_similar(&a, &shifted, rows, cols, 0.95));
    let mut other = vec![0u8; 64];
    for c in 1..7 {
        other[4 * cols + c] = 255;
    }
    assert!(!images_similar(&a, &other, rows, cols, 0.5));
    assert!(
        !images_similar(&a, &other[..10], rows, cols, 0.5),
        "wrong size is no match"
    );
    // A size past usize is no match either (it wrapped to 0 and panicked on the slices).
    assert!(!images_similar(&[], &[], usize::MAX / 2 + 1, 2, 0.5));
    // Under 3 rows or columns there is no inner pixel to compare: no match, even against a
    // threshold every flat window passes, and whichever side is short.
    for (rows, cols) in [(1, 5), (5, 1), (2, 5), (5, 2), (0, 5), (5, 0)] {
        let flat = vec![7u8; rows * cols];
        assert!(
            !images_similar(&flat, &flat, rows, cols, -1.0),
            "{rows}x{cols}"
        );
    }
}

/// The pixel check against Pearson's correlation computed by its definition (with a square
/// root, in f64): the inner pixels of `a` against `b` shifted by -1..=1 each way, the best of
/// the nine shifts compared with the threshold; a flat window (no variance) passes only a
/// threshold of at most 0. Random images, copies with noise, flat ones and inverted ones
/// (every shift negatively correlated, against thresholds at or below 0), thresholds in -1..1.
#[test]
fn images_similar_is_the_best_shifts_correlation_against_the_threshold() {
    use crate::test_rng::XorShift;
    let corr = |a: &[u8], b: &[u8], rows: usize, cols: usize, dy: usize, dx: usize| {
        let mut pairs = Vec::new();
        for r in 1..rows - 1 {
            for c in 1..cols - 1 {
                let y = f64::from(b[(r + dy - 1) * cols + c + dx - 1]);
                pairs.push((f64::from(a[r * cols + c]), y));
            }
        }
        let n = pairs.len() as f64;
        let (ma, mb) = pairs
            .iter()
            .fold((0.0, 0.0), |(x, y), p| (x + p.0 / n, y + p.1 / n));
        let cov: f64 = pairs.iter().map(|p| (p.0 - ma) * (p.1 - mb)).sum();
        let va: f64 = pairs.iter().map(|p| (p.0 - ma).powi(2)).sum();
        let vb: f64 = pairs.iter().map(|p| (p.1 - mb).powi(2)).sum();
        (va * vb > 1e-9).then(|| cov / (va * vb).sqrt())
    };
    let mut rng = XorShift(0x5eed_c0a1);
    let (mut checked, mut passed) = (0, 0);
    // Verdicts where every shift correlates negatively and the threshold is at most 0.
    let mut inverted = [0usize; 2];
    for case in 0..3000 {
        let (rows, cols) = (3 + (rng.next() % 6) as usize, 3 + (rng.next() % 6) as usize);
        let levels = [2, 4, 256][case % 3];
        let a: Vec<u8> = if case % 5 == 4 {
            // A ramp: its shifts stay alike.
            (0..rows * cols)
                .map(|p| ((p / cols) * 19 + (p % cols) * 13 + (rng.next() % 8) as usize) as u8)
                .collect()
        } else {
            (0..rows * cols)
                .map(|_| (rng.next() % levels) as u8 * (255 / (levels - 1) as u8))
                .collect()
        };
        let b: Vec<u8> = match case % 5 {
            // The ramp's negative, with noise of up to 120 levels.
            4 => {
                let noise = rng.next() % 121;
                a.iter()
                    .map(|&v| (255 - v).saturating_sub((rng.next() % (noise + 1)) as u8))
                    .collect()
            }
            0 => a
                .iter()
                .map(|&v| v.saturating_add((rng.next() % 40) as u8))
                .collect(),
            1 => (0..rows * cols)
                .map(|p| if p % cols == 0 { 0 } else { a[p - 1] })
                .collect(),
            2 => vec![(rng.next() % 256) as u8; rows * cols],
            _ => (0..rows * cols).map(|_| (rng.next() % 256) as u8).collect(),
        };
        let t = (rng.next() % 2001) as f32 / 1000.0 - 1.0;
        let shifts: Vec<Option<f64>> = (0..9)
            .map(|s| corr(&a, &b, rows, cols, s / 3, s % 3))
            .collect();
        let all_negative = shifts.iter().all(|c| c.is_some_and(|c| c < 0.0));
        let tf = f64::from(t);
        // A flat window passes a threshold of at most 0; a correlation within rounding of
        // the threshold is left out.
        let verdicts: Vec<Option<bool>> = shifts
            .iter()
            .map(|&c| match c {
                None => Some(tf <= 0.0),
                Some(c) if (c - tf).abs() < 1e-6 => None,
                Some(c) => Some(c >= tf),
            })
            .collect();
        let want = if verdicts.contains(&Some(true)) {
            true
        } else if verdicts.contains(&None) {
            continue;
        } else {
            false
        };
        assert_eq!(
            images_similar(&a, &b, rows, cols, t),
            want,
            "case {case}: {rows}x{cols}, threshold {t}"
        );
        checked += 1;
        passed += usize::from(want);
        if all_negative && tf <= 0.0 {
            inverted[usize::from(want)] += 1;
        }
    }
    assert!(
        checked > 2800 && passed > 500 && checked - passed > 500,
        "{passed} of {checked}"
    );
    assert!(
        inverted.iter().all(|&n| n > 40),
        "inverted pairs under a threshold at most 0, failed and passed: {inverted:?}"
    );
}

/// The soft check keeps the candidates whose confidences agree: images 0 and 1 differ in
/// one bit neither is sure of, 0 and 2 in one bit both are sure of; 3 is far from all.
#[test]
fn soft_check_confirms_only_close_confidences() {
    let logits = [
        [6.0, 6.0, 0.1, -6.0],
        [6.0, 6.0, -0.1, -6.0],
        [-6.0, 6.0, 0.1, -6.0],
        [-6.0, -6.0, -6.0, 6.0],
    ]
    .concat();
    let codes = Codes::from_logits(4, &logits).unwrap();
    let soft = SoftCodes::from_logits(4, &logits).unwrap();
    let check = SoftCheck {
        radius: 1,
        max_distance: 0.5,
    };
    assert_eq!(dedup(&codes, 1).unwrap(), vec![vec![0, 1, 2]]);
    for linkage in Linkage::ALL {
        assert_eq!(
            dedup_soft(&codes, &soft, check, linkage).unwrap(),
            vec![vec![0, 1]]
        );
        // The caller's check has the last word on the pairs the soft check passes.
        let refuse_0_1 = |i, j| (i, j) != (0, 1);
        let none: Vec<Vec<u64>> = Vec::new();
        assert_eq!(
            dedup_soft_confirmed(&codes, &soft, check, linkage, refuse_0_1).unwrap(),
            none
        );
    }
    let three = SoftCodes::from_logits(4, &logits[..12]).unwrap();
    assert_eq!(
        dedup_soft(&codes, &three, check, Linkage::Single),
        Err(Error::SoftCount { soft: 3, codes: 4 })
    );
    let wide = SoftCodes::from_logits(2, &logits[..8]).unwrap();
    assert!(matches!(
        dedup_soft(&codes, &wide, check, Linkage::Complete),
        Err(Error::BitsMismatch { .. })
    ));
}

#[test]
fn chains_link() {
    let codes = Codes::from_words(8, vec![0b0000, 0b0001, 0b0011, 0b1111_0000, 0b0111]).unwrap();
    assert_eq!(dedup(&codes, 1).unwrap(), vec![vec![0, 1, 2, 4]]);
    assert_eq!(dedup(&codes, 0).unwrap(), Vec::<Vec<u64>>::new());
    assert_eq!(dedup(&codes, 8).unwrap(), vec![vec![0, 1, 2, 3, 4]]);
}

/// Complete linkage breaks the chain 0 - 1 - 2 - 4: the closest pairs merge first, and 2
/// cannot join {0, 1} (2 bits from 0), so it pairs with 4; at radius 2, 4 cannot join
/// {0, 1, 2} (3 bits from 0).
#[test]
fn complete_linkage_breaks_chains() {
    let codes = Codes::from_words(8, vec![0b0000, 0b0001, 0b0011, 0b1111_0000, 0b0111]).unwrap();
    let complete = |r| dedup_confirmed(&codes, r, Linkage::Complete, |_, _| true).unwrap();
    assert_eq!(complete(1), vec![vec![0, 1], vec![2, 4]]);
    assert_eq!(complete(2), vec![vec![0, 1, 2]]);
    assert_eq!(complete(8), vec![vec![0, 1, 2, 3, 4]]);
    for l in Linkage::ALL {
        assert_eq!(Linkage::from_name(l.as_str()), Some(l));
    }
}

proptest! {
    #[test]
    fn dedup_matches_brute_force(
        bits in 1usize..=130,
        raw in proptest::collection::vec(prop_oneof![any::<u64>(), 0u64..8], 0..180),
        r in 0u32..6,
    ) {
        let wpc = bits.div_ceil(64);
        let mask = if bits.is_multiple_of(64) { u64::MAX } else { (1u64 << (bits % 64)) - 1 };
        let mut words = raw;
        words.truncate(words.len() / wpc * wpc);
        for c in words.chunks_exact_mut(wpc) {
            c[wpc - 1] &= mask;
        }
        let codes = Codes::from_words(bits, words).unwrap();
        let expect = crate::reference::groups(&codes, r);
        for pairs in [PairSearch::Auto, PairSearch::AllPairs, PairSearch::MultiIndex] {
            prop_assert_eq!(&dedup_with(&codes, r, pairs, Linkage::Single, &mut |_, _| true).unwrap(), &expect);
        }
        // Complete linkage: the reference's groups, every pair of each within `r`, each inside
        // one single-linkage group.
        let complete = crate::reference::complete_groups(&codes, r);
        for pairs in [PairSearch::Auto, PairSearch::AllPairs, PairSearch::MultiIndex] {
            prop_assert_eq!(&dedup_with(&codes, r, pairs, Linkage::Complete, &mut |_, _| true).unwrap(), &complete);
        }
        let code = |i: u64| codes.get(i as usize).unwrap();
        for g in &complete {
            for (k, &a) in g.iter().enumerate() {
                for &b in &g[k + 1..] {
                    prop_assert!(crate::hamming::distance(code(a), code(b)) <= r);
                }
            }
            prop_assert!(expect.iter().any(|s| g.iter().all(|x| s.contains(x))));
        }
        // A confirmation that rejects every pair involving row 0 keeps row 0 alone.
        for pairs in [PairSearch::Auto, PairSearch::AllPairs, PairSearch::MultiIndex] {
            for linkage in Linkage::ALL {
                let got = dedup_with(&codes, r, pairs, linkage, &mut |i, j| i != 0 && j != 0).unwrap();
                prop_assert!(got.iter().all(|g| !g.contains(&0)));
            }
        }
    }
}

/// A fill is plain whatever its colour, with pixel noise too; a gradient is faint, a picture
/// with detail is detailed; plain pictures pair only with plain ones of their colour band.
#[test]
fn a_glance_tells_plain_faint_detailed_and_colour() {
    let (w, h) = (64, 48);
    let picture = |f: &dyn Fn(usize, usize) -> [u8; 3]| -> Vec<u8> {
        (0..h)
            .flat_map(|y| (0..w).flat_map(move |x| f(x, y)))
            .collect()
    };
    let look = |rgb: &[u8]| glance(rgb, w, h).unwrap();
    let red = look(&picture(&|_, _| [200, 10, 10]));
    assert_eq!(red.flatness, Flatness::Plain([200, 10, 10]));
    assert!(red.colour);
    // Every other pixel 6 levels brighter: the cells (2x1 pixels and more) average it out.
    let noise = look(&picture(&|x, _| [100 + 6 * (x % 2) as u8; 3]));
    assert_eq!(noise.flatness, Flatness::Plain([103; 3]));
    assert!(!noise.colour);
    // A gradient of 8 levels over the picture: faint; of 64: detail.
    let ramp = |levels: usize| move |x: usize, _| [(100 + levels * x / w) as u8; 3];
    assert_eq!(look(&picture(&ramp(8))).flatness, Flatness::Faint);
    assert_eq!(look(&picture(&ramp(64))).flatness, Flatness::Detailed);
    assert_eq!(glance(&[], 0, 0), None);
    assert_eq!(glance(&[0; 9], 2, 2), None, "too few pixels for the size");
    let plain = |c: u8| Flatness::Plain([c, c, c]);
    assert_eq!(plain_pair(plain(0), plain(PLAIN_BAND - 1)), Some(true));
    // Across a band's edge, copies within the noise of a save (80 and its JPEG's 79 were two
    // pictures), and no further.
    assert_eq!(plain_pair(plain(79), plain(80)), Some(true));
    let edge = PLAIN_BAND - 1;
    assert_eq!(
        plain_pair(plain(edge), plain(edge + PLAIN_NOISE)),
        Some(true)
    );
    assert_eq!(
        plain_pair(plain(edge), plain(edge + PLAIN_NOISE + 1)),
        Some(false)
    );
    let (teal, teal_saved) = (
        Flatness::Plain([80, 160, 144]),
        Flatness::Plain([79, 160, 143]),
    );
    assert_eq!(plain_pair(teal, teal_saved), Some(true));
    assert_eq!(
        plain_pair(teal, Flatness::Plain([80, 176, 144])),
        Some(false)
    );
    assert_eq!(plain_pair(plain(0), Flatness::Detailed), Some(false));
    assert_eq!(plain_pair(Flatness::Detailed, plain(0)), Some(false));
    assert_eq!(plain_pair(plain(0), Flatness::Faint), None);
    assert_eq!(plain_pair(Flatness::Detailed, Flatness::Detailed), None);
    // One band is its sixteen levels, not their remainders: 32 and 40 share band 2.
    assert_eq!(plain_pair(plain(32), plain(40)), Some(true));
}

/// Each bound at equality: two cells of gray 3 and 5 (lumas exactly 3 and 5 in f64) vary by
/// exactly 1, not plain; gray 6 and 14 by exactly 16, still faint; a tint of exactly 2 levels
/// is gray, of 3 colour.
#[test]
fn a_glance_at_each_bound() {
    let two_cells = |a: u8, b: u8| glance(&[a, a, a, b, b, b], 2, 1).unwrap().flatness;
    assert_eq!(two_cells(3, 5), Flatness::Faint);
    assert_eq!(two_cells(3, 4), Flatness::Plain([4; 3]));
    assert_eq!(two_cells(6, 14), Flatness::Faint);
    assert_eq!(two_cells(6, 15), Flatness::Detailed);
    let tinted = |tint: u8| glance(&[100 + tint, 100, 100].repeat(12), 4, 3).unwrap();
    assert!(!tinted(2).colour);
    assert!(tinted(3).colour);
}

/// A glance compared with its words on random pictures of many sizes: the picture cut into
/// at most 32 x 32 cells (cell `x * cells / width` of each row and column), each cell's mean
/// colour, the variance of the cells' BT.601 luma (0.299 R + 0.587 G + 0.114 B) against the
/// plain and detail bounds, the mean of the cells' largest channel difference against the
/// colour bound, and a plain picture's colour the rounded mean of its pixels.
#[test]
fn a_glance_is_what_its_words_say_on_random_pictures() {
    use crate::test_rng::XorShift;
    let mut rng = XorShift(0x5eed_91a2);
    // Plain, faint, detailed, colour; and near-gray pictures in colour and not.
    let mut kinds = [0usize; 6];
    for case in 0..400 {
        let (w, h) = (
            1 + (rng.next() % 70) as usize,
            1 + (rng.next() % 70) as usize,
        );
        // A base colour (every other one near gray: a tint of up to 1, 2 or 4 levels a
        // channel), a spread (0: one colour; small: faint; large: detail).
        let (gray, tint) = ((rng.next() % 186) as u8, [2, 3, 5][case / 2 % 3]);
        let base = [0, 1, 2].map(|_| match case % 2 {
            0 => (rng.next() % 190) as u8, // + 60 stays a u8
            _ => gray + (rng.next() % tint) as u8,
        });
        let spread = [0, 2, 6, 12, 60][case % 5];
        let rgb: Vec<u8> = (0..w * h * 3)
            .map(|i| base[i % 3] + (rng.next() % (spread + 1)) as u8)
            .collect();
        let (gw, gh) = (w.min(32), h.min(32));
        let mut cells = vec![[0f64; 4]; gw * gh];
        for y in 0..h {
            for x in 0..w {
                let cell = &mut cells[(y * gh / h) * gw + x * gw / w];
                for k in 0..3 {
                    cell[k] += f64::from(rgb[(y * w + x) * 3 + k]);
                }
                cell[3] += 1.0;
            }
        }
        let means: Vec<[f64; 3]> = cells
            .iter()
            .map(|c| [c[0] / c[3], c[1] / c[3], c[2] / c[3]])
            .collect();
        let n = means.len() as f64;
        let luma: Vec<f64> = means
            .iter()
            .map(|m| 0.299 * m[0] + 0.587 * m[1] + 0.114 * m[2])
            .collect();
        let mean = luma.iter().sum::<f64>() / n;
        let variance = luma.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / n;
        let chroma = means
            .iter()
            .map(|m| {
                (m[0] - m[1])
                    .abs()
                    .max((m[1] - m[2]).abs())
                    .max((m[0] - m[2]).abs())
            })
            .sum::<f64>()
            / n;
        let near = |v: f64, bound: f64| (v - bound).abs() < 1e-6 * (1.0 + bound);
        if near(variance, PLAIN_VARIANCE)
            || near(variance, DETAIL_VARIANCE)
            || near(chroma, COLOUR_LEVELS)
        {
            continue;
        }
        let pixels = (w * h) as u64;
        let plain = [0, 1, 2].map(|k| {
            let s: u64 = rgb.iter().skip(k).step_by(3).map(|&v| u64::from(v)).sum();
            ((s + pixels / 2) / pixels) as u8
        });
        let flatness = if variance < PLAIN_VARIANCE {
            Flatness::Plain(plain)
        } else if variance <= DETAIL_VARIANCE {
            Flatness::Faint
        } else {
            Flatness::Detailed
        };
        let got = glance(&rgb, w, h).unwrap();
        let want = Glance {
            flatness,
            colour: chroma > COLOUR_LEVELS,
        };
        assert_eq!(got, want, "case {case}: {w}x{h}, spread {spread}");
        kinds[match flatness {
            Flatness::Plain(_) => 0,
            Flatness::Faint => 1,
            Flatness::Detailed => 2,
        }] += 1;
        kinds[3] += usize::from(want.colour);
        if case % 2 == 1 {
            kinds[4 + usize::from(want.colour)] += 1;
        }
    }
    assert!(
        kinds.iter().all(|&k| k > 40),
        "plain, faint, detailed, colour, near-gray gray and colour: {kinds:?}"
    );
}

/// The caller's check sees each pair of rows within `r` once, as `(i, j)` with `i < j`, by
/// every way of finding the pairs: against every pair counted bit by bit.
#[test]
fn confirm_sees_each_pair_within_r_once() {
    let mut s = 7u64;
    let words: Vec<u64> = (0..300)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 40) & 0xFFFF
        })
        .collect();
    let codes = Codes::from_words(16, words.clone()).unwrap();
    for r in [0u32, 2, 4] {
        let mut expect = Vec::new();
        for i in 0..words.len() {
            for j in i + 1..words.len() {
                if (words[i] ^ words[j]).count_ones() <= r {
                    expect.push((i, j));
                }
            }
        }
        for pairs in [
            PairSearch::Auto,
            PairSearch::AllPairs,
            PairSearch::MultiIndex,
        ] {
            for linkage in Linkage::ALL {
                let mut seen = Vec::new();
                dedup_with(&codes, r, pairs, linkage, &mut |i, j| {
                    seen.push((i, j));
                    true
                })
                .unwrap();
                seen.sort_unstable();
                assert_eq!(seen, expect, "r {r}, {pairs:?}, {linkage:?}");
            }
        }
    }
}
