//! One training step's parts: the loss it reports against the terms it adds up, the SAT
//! radii and augmentations against what they are drawn from, the views' mean, and the
//! refusals made before training.

use super::*;
use crate::backend::host_values;
use crate::conv::ConvSpec;
use crate::loss::Task;

/// `n` images of `rows x cols` random bytes (seeded).
fn images(n: usize, rows: usize, cols: usize, seed: u64) -> Images {
    let mut rng = StdRng::seed_from_u64(seed);
    Images {
        n,
        shape: vec![rows, cols],
        pixels: (0..n * rows * cols).map(|_| rng.random()).collect(),
    }
}

/// A small hash encoder's settings: 8 bits, one hidden layer of 16, batch 32.
fn small(sat: &[SatKind]) -> TrainConfig {
    TrainConfig {
        hidden: vec![16],
        batch: 32,
        eps_neighbour: 3,
        sat: sat.to_vec(),
        ..TrainConfig::hash(8)
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1.0)
}

/// What a step reports is the loss it takes, per head and averaged over the heads:
/// `SAT + lam (H(Y|X) - mu H(Y) + w pairwise MI)`, with each bit's marginal entropy at
/// least its conditional one and at most ln 2. Read after 40 steps, once the terms have
/// left their starting values (the pairwise MI of an untrained encoder is about 1e-6).
#[test]
fn a_step_reports_the_loss_it_takes_from_its_terms() {
    for task in [Task::Hash, Task::Cluster] {
        let config = TrainConfig {
            task,
            heads: 2,
            lam: 0.7,
            mu: 1.3,
            pairwise_mi_weight: 0.4,
            ..small(&[SatKind::Rpt, SatKind::Affine])
        };
        let mut t = Trainer::new(&config, &images(64, 6, 6, 1), false).unwrap();
        for _ in 0..40 {
            t.step().unwrap();
        }
        for _ in 0..3 {
            let s = t.step().unwrap();
            let c = &config;
            let info =
                s.cond_entropy - c.mu * s.marginal_entropy + c.pairwise_mi_weight * s.pairwise_mi;
            assert!(close(s.loss, s.sat + c.lam * info), "{task:?} {s:?}");
            assert_eq!(s.head_losses.len(), 2);
            let mean = s.head_losses.iter().sum::<f64>() / 2.0;
            assert!(close(s.loss, mean), "{s:?}");
            assert!(
                s.head_losses[0] != s.head_losses[1],
                "two heads, one loss: {s:?}"
            );
            let most = match task {
                Task::Hash => 8.0 * std::f64::consts::LN_2,
                Task::Cluster => 8f64.ln(),
            };
            assert!(s.sat > 0.0 && s.cond_entropy > 0.0, "{s:?}");
            assert!(s.cond_entropy <= s.marginal_entropy + 1e-6, "{s:?}");
            assert!(s.marginal_entropy <= most + 1e-6, "{s:?}");
            match task {
                Task::Hash => assert!(s.pairwise_mi > 0.005, "{s:?}"),
                Task::Cluster => assert_eq!(s.pairwise_mi, 0.0),
            }
        }
    }
}

/// The loss falls: 40 steps on 64 images lower it (and Adam moves the weights).
#[test]
fn steps_lower_the_loss() {
    let config = TrainConfig {
        lam: 1.0,
        ..small(&[SatKind::Rpt])
    };
    let mut t = Trainer::new(&config, &images(64, 6, 6, 2), false).unwrap();
    let first: f64 = (0..5).map(|_| t.step().unwrap().loss).sum();
    for _ in 0..30 {
        t.step().unwrap();
    }
    let last: f64 = (0..5).map(|_| t.step().unwrap().loss).sum();
    assert!(
        last < first - 0.05,
        "loss {first} -> {last} (sums of 5 steps)"
    );
}

/// The SAT radius of each item is `eps_scale` times its distance to its `eps_neighbour`-th
/// nearest other item (brute force here); with a radius of 0 the random perturbation
/// leaves the batch as it was, and the SAT term is 0.
#[test]
fn sat_radii_are_a_share_of_the_kth_neighbours_distance() {
    let data = images(40, 5, 5, 3);
    let config = TrainConfig {
        eps_scale: 0.3,
        ..small(&[SatKind::Rpt])
    };
    let t = Trainer::new(&config, &data, false).unwrap();
    let x = scale_pixels(&data.pixels);
    let row = |i: usize| &x[i * 25..(i + 1) * 25];
    for i in 0..40 {
        let mut d: Vec<f64> = (0..40)
            .filter(|&j| j != i)
            .map(|j| {
                let sq: f32 = row(i)
                    .iter()
                    .zip(row(j))
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum();
                (sq as f64).sqrt()
            })
            .collect();
        d.sort_by(f64::total_cmp);
        let want = 0.3 * d[2];
        assert!(
            (t.eps[i] as f64 - want).abs() < 1e-3 * want,
            "{i}: {} {want}",
            t.eps[i]
        );
    }
    let still = TrainConfig {
        eps_scale: 0.0,
        ..config
    };
    let mut t = Trainer::new(&still, &data, false).unwrap();
    assert!(t.step().unwrap().sat.abs() < 1e-6);
    // VAT and the neighbour SAT need the radii too; the affine one alone does not.
    let affine = Trainer::new(&small(&[SatKind::Affine]), &data, false).unwrap();
    assert!(affine.neighbours.is_none() && affine.eps.iter().all(|&e| e == 0.0));
    for kind in [SatKind::Vat, SatKind::Neighbour] {
        let t = Trainer::new(&small(&[kind]), &data, false).unwrap();
        assert!(
            t.neighbours.is_some() && t.eps.iter().all(|&e| e > 0.0),
            "{kind:?}"
        );
    }
}

/// The neighbour SAT's copy of an item is one of its `k` nearest neighbours; the random
/// one moves each row by its radius exactly; the affine one keeps the batch's shape.
#[test]
fn augmentations_come_from_what_they_are_drawn_from() {
    let data = images(40, 5, 5, 4);
    let config = small(&[SatKind::Neighbour, SatKind::Rpt, SatKind::Affine]);
    let mut t = Trainer::new(&config, &data, false).unwrap();
    let idx: Vec<usize> = (0..32).map(|i| (i * 7) % 40).collect();
    let xb_host = t.rows_of(idx.iter().copied());
    let xb = sat::tensor_from_rows(xb_host.clone(), 32, &t.device);
    let eps: Vec<f32> = idx.iter().map(|&i| t.eps[i]).collect();
    let eps_b = Tensor::<2>::from_data(TensorData::new(eps.clone(), [32, 1]), &t.device);
    let targets = t.forward_items(xb.clone(), Norm::BatchOnly);
    let nn = t.neighbours.clone().unwrap();

    let got = host_values(t.augment(SatKind::Neighbour, &idx, &xb_host, &xb, &targets, &eps_b));
    for (b, &i) in idx.iter().enumerate() {
        let copy = &got[b * 25..(b + 1) * 25];
        let from = nn
            .of(i)
            .iter()
            .map(|&j| t.rows_of(std::iter::once(j as usize)));
        let hits = from.filter(|r| r == copy).count();
        assert!(hits >= 1, "item {i}: not one of its neighbours");
    }
    let got = host_values(t.augment(SatKind::Rpt, &idx, &xb_host, &xb, &targets, &eps_b));
    for b in 0..32 {
        let moved: f32 = (0..25)
            .map(|j| (got[b * 25 + j] - xb_host[b * 25 + j]).powi(2))
            .sum();
        assert!(
            (moved.sqrt() - eps[b]).abs() < 1e-4 * eps[b].max(1.0),
            "row {b}"
        );
    }
    let got = host_values(t.augment(SatKind::Affine, &idx, &xb_host, &xb, &targets, &eps_b));
    assert_eq!(got.len(), xb_host.len());
    assert!(got != xb_host);
}

/// The edits SAT's copy of an item is one of its copies in the bank, scaled as pixels
/// are; and the logits of an item of several views are the mean of its views' logits.
#[test]
fn edited_copies_come_from_the_items_bank_and_views_are_averaged() {
    // 12 items of two 4x4 views (8 rows of 4), three edited copies each.
    let data = images(12, 8, 4, 5);
    let per_item = 3;
    let bank = images(12 * per_item, 8, 4, 6).pixels;
    let config = TrainConfig {
        batch: 6,
        photos: Some(crate::photo_set::PhotoSetConfig::default()),
        ..small(&[SatKind::Edits])
    };
    let edited = Some((Arc::new(bank.clone()), per_item));
    let mut t = Trainer::with_edits(&config, &data, edited, 2, false).unwrap();
    // A gray view has no chroma planes to tell grayscale copies by.
    assert_eq!(t.chroma, None);
    let idx = vec![0usize, 3, 5, 6, 9, 11];
    let xb_host = t.rows_of(idx.iter().copied());
    let xb = sat::tensor_from_rows(xb_host.clone(), 12, &t.device);
    let eps_b = Tensor::<2>::zeros([6, 1], &t.device);
    let targets = t.forward_items(xb.clone(), Norm::BatchOnly);
    let got = host_values(t.augment(SatKind::Edits, &idx, &xb_host, &xb, &targets, &eps_b));
    assert_eq!(got.len(), 6 * 32);
    let mut drawn = std::collections::HashSet::new();
    for (b, &i) in idx.iter().enumerate() {
        let copy = &got[b * 32..(b + 1) * 32];
        let k = (0..per_item)
            .find(|k| {
                let c = &bank[(i * per_item + k) * 32..(i * per_item + k + 1) * 32];
                c.iter()
                    .zip(copy)
                    .all(|(&p, &v)| v == p as f32 / 128.0 - 1.0)
            })
            .unwrap_or_else(|| panic!("item {i}: not one of its copies"));
        drawn.insert(k);
    }
    assert!(drawn.len() > 1, "always the same copy");

    // Each item's logits: the mean of its two views' rows.
    let items = t.forward_items(xb.clone(), Norm::BatchOnly);
    let rows = t.model.forward_heads(xb, Norm::BatchOnly);
    for (item, row) in items.into_iter().zip(rows) {
        let (item, row) = (host_values(item), host_values(row));
        assert_eq!((item.len(), row.len()), (6 * 8, 12 * 8));
        for b in 0..6 {
            for j in 0..8 {
                let mean = (row[2 * b * 8 + j] + row[(2 * b + 1) * 8 + j]) / 2.0;
                assert!((item[b * 8 + j] - mean).abs() < 1e-5, "item {b} bit {j}");
            }
        }
    }
    // Several views take the edits SAT alone, and the bank must hold every item's copies.
    let vat = TrainConfig {
        sat: vec![SatKind::Edits, SatKind::Vat],
        ..config.clone()
    };
    let whole = || Some((Arc::new(bank.clone()), per_item));
    assert!(Trainer::with_edits(&vat, &data, whole(), 2, false).is_err());
    let short = Some((Arc::new(bank[1..].to_vec()), per_item));
    let err = Trainer::with_edits(&config, &data, short, 2, false)
        .err()
        .unwrap();
    assert!(err.to_string().contains("bank of edited copies"), "{err}");
    for none in [None, Some((Arc::new(Vec::new()), 0))] {
        let err = Trainer::with_edits(&config, &data, none, 2, false).err();
        let err = err.unwrap().to_string();
        assert!(err.contains("bank of edited copies"), "{err}");
    }
    let err = Trainer::with_edits(&config, &data, whole(), 3, false)
        .err()
        .unwrap();
    assert!(err.to_string().contains("8 rows are not 3 views"), "{err}");
}

/// Refused before any work: a pixel SAT on feature vectors (naming it), rows that are not
/// whole, an image too small to move, a model whose export would be too large (at one
/// weight past the bound, naming the setting); an epoch is at least one step.
#[test]
fn settings_the_data_cannot_take_are_refused_before_training() {
    let affine = small(&[SatKind::Vat, SatKind::Affine]);
    let err = Trainer::from_features(&affine, vec![0.0; 64 * 5], 64, 5, false);
    let err = err.err().unwrap().to_string();
    assert!(err.contains("the affine SAT needs pixels"), "{err}");
    let vat = small(&[SatKind::Vat]);
    assert!(Trainer::from_features(&vat, vec![0.0; 64 * 5], 64, 5, false).is_ok());
    let err = Trainer::from_features(&vat, vec![0.0; 64 * 5 - 1], 64, 5, false).err();
    assert!(
        err.unwrap()
            .to_string()
            .contains("319 values are not 64 rows of 5")
    );
    let err = Trainer::new(&small(&[SatKind::Affine]), &images(40, 1, 9, 7), false).err();
    assert!(err.unwrap().to_string().contains("at least 2x2"));
    assert!(Trainer::new(&small(&[SatKind::Affine]), &images(40, 2, 2, 7), false).is_ok());

    let t = Trainer::new(&small(&[SatKind::Rpt]), &images(70, 3, 3, 8), false).unwrap();
    assert_eq!(t.steps_per_epoch(), 2);
    let t = Trainer::new(&small(&[SatKind::Rpt]), &images(32, 3, 3, 8), false).unwrap();
    assert_eq!(t.steps_per_epoch(), 1);

    // d -> 64 -> 16: d * 64 + 1,024 weights.
    let config = TrainConfig {
        hidden: vec![64],
        outputs: 16,
        ..TrainConfig::hash(16)
    };
    let most = (MAX_EXPORT_WEIGHTS - 1024) / 64;
    assert!(check_export_size(&config, most, [1, 1, most]).is_ok());
    let err = check_export_size(&config, most + 1, [1, 1, most + 1]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("hidden") && text.contains("64 M weights"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} -> 64 -> 16", most + 1)),
        "{text}"
    );
    // With a front end, its convolution counts as a dense layer onto its feature map.
    let spec = ConvSpec {
        channels: 8,
        kernel: 3,
        stride: 2,
        grid: 4,
    };
    let conv = TrainConfig {
        conv: Some(spec),
        ..config
    };
    let (side, map) = (1024, spec.map_side(1024));
    let weights = side * side * 8 * map * map + 8 * map * map * 64 + 1024;
    let result = check_export_size(&conv, side * side, [1, side, side]);
    assert_eq!(result.is_ok(), weights <= MAX_EXPORT_WEIGHTS);
    let err = check_export_size(&conv, side * side, [1, side, side]).unwrap_err();
    assert!(err.to_string().contains("conv"), "{err}");
}

/// A colour view stacks its three planes as rows: the edits SAT marks the copies whose
/// chroma planes are flat (grayscale) for the colour split's SAT weights, and a step runs
/// with them; rows that are not whole planes are refused.
#[test]
fn colour_views_mark_grayscale_copies_for_the_colour_split() {
    let config = TrainConfig {
        batch: 6,
        ..TrainConfig::photo_hash(16)
    };
    let data = images(12, 48, 16, 9);
    // Two copies per item: the first in colour, the second with flat chroma (128).
    let mut bank = images(24, 48, 16, 10).pixels;
    for copy in bank.chunks_exact_mut(768).skip(1).step_by(2) {
        copy[256..].fill(128);
    }
    let mut t =
        Trainer::with_edits(&config, &data, Some((Arc::new(bank.clone()), 2)), 1, false).unwrap();
    assert_eq!(t.chroma, Some(256..768));
    let idx: Vec<usize> = (0..6).map(|i| 2 * i).collect();
    let xb_host = t.rows_of(idx.iter().copied());
    let xb = sat::tensor_from_rows(xb_host.clone(), 6, &t.device);
    let eps_b = Tensor::<2>::zeros([6, 1], &t.device);
    let targets = t.forward_items(xb.clone(), Norm::BatchOnly);
    let mut seen = [false; 2];
    for _ in 0..4 {
        let got = host_values(t.augment(SatKind::Edits, &idx, &xb_host, &xb, &targets, &eps_b));
        for (b, &i) in idx.iter().enumerate() {
            let gray = got[b * 768 + 256..(b + 1) * 768].iter().all(|&v| v == 0.0);
            let k = 2 * i + usize::from(gray);
            let copy = &bank[k * 768..(k + 1) * 768];
            let scaled = copy.iter().map(|&p| p as f32 / 128.0 - 1.0);
            assert!(scaled.eq(got[b * 768..(b + 1) * 768].iter().copied()));
            assert_eq!(t.grayscale[b], gray, "item {i}");
            seen[usize::from(gray)] = true;
        }
        assert_eq!(t.grayscale.len(), 6);
    }
    assert_eq!(seen, [true, true]);
    let s = t.step().unwrap();
    assert!(s.loss.is_finite() && s.sat > 0.0, "{s:?}");
    // Items of two such views (96 rows): the convolution sees one view's 16x16 planes.
    let two = images(12, 96, 16, 11);
    let bank = Some((Arc::new(images(24, 96, 16, 12).pixels), 2));
    let mut t = Trainer::with_edits(&config, &two, bank, 2, false).unwrap();
    assert_eq!((t.rows, t.cols, t.chroma.clone()), (16, 16, Some(256..768)));
    assert!(t.step().unwrap().loss.is_finite());

    let short = Some((Arc::new(images(24, 47, 16, 10).pixels), 2));
    let err = Trainer::with_edits(&config, &images(12, 47, 16, 9), short, 1, false).err();
    let err = err.unwrap().to_string();
    assert!(err.contains("47 rows are not 3 planes"), "{err}");
}
