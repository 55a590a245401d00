//! The training driver: restarts and their seeds, the epochs' reports against their steps,
//! and the head kept, on small random feature rows (a second's training).

use super::*;
use crate::backend::{host_values, inference_device};
use crate::loss::Task;
use crate::sat::SatKind;
use rand::{Rng, SeedableRng, rngs::StdRng};

/// `n` random rows of `dim` values and 4 labels (seeded).
fn rows(n: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<crate::metrics::Label>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let x = (0..n * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
    (
        x,
        (0..n).map(|i| (i % 4) as crate::metrics::Label).collect(),
    )
}

/// An 8-bit hash of one hidden layer of 16, batch 32, the random-perturbation SAT.
fn small() -> TrainConfig {
    TrainConfig {
        hidden: vec![16],
        batch: 32,
        eps_neighbour: 3,
        sat: vec![SatKind::Rpt],
        ..TrainConfig::hash(8)
    }
}

fn json(c: &TrainConfig) -> String {
    serde_json::to_string(c).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn lowest_is_the_first_of_the_smallest() {
    assert_eq!(lowest(&[3.0, 1.0, 1.0, 2.0]), 1);
    assert_eq!(lowest(&[5.0, 4.0]), 1);
    assert_eq!(lowest(&[-1.0, 0.0]), 0);
    assert_eq!(lowest(&[]), 0);
}

/// Each restart runs once from `seed + 1000 r` (wrapping) with `restarts = 1`, told whether
/// it is the last; the lowest final loss is kept (the first of equal ones), carrying the
/// caller's settings and every restart's loss; bad settings stop before any run.
#[test]
fn restarts_run_from_their_own_seeds_and_the_lowest_final_loss_is_kept() {
    for (seed, want) in [
        (7u64, [7u64, 1007, 2007, 3007]),
        (u64::MAX, [u64::MAX, 999, 1999, 2999]),
    ] {
        let config = TrainConfig {
            restarts: 4,
            seed,
            ..small()
        };
        let losses = [0.5, 0.2, 0.2, 0.9];
        let mut calls = Vec::new();
        let best = best_of_restarts(&config, 64, false, |c, last| {
            calls.push((c.seed, c.restarts, last));
            let model = Encoder::new(4, &[], 2, &inference_device());
            Ok(Trained {
                final_loss: losses[calls.len() - 1],
                ..Trained::untrained(model, c.clone())
            })
        })
        .unwrap();
        let seeds: Vec<u64> = calls.iter().map(|c| c.0).collect();
        assert_eq!(seeds, want);
        assert!(calls.iter().all(|c| c.1 == 1));
        let last: Vec<bool> = calls.iter().map(|c| c.2).collect();
        assert_eq!(last, [false, false, false, true]);
        assert_eq!((best.restart, best.final_loss), (1, 0.2));
        assert_eq!(best.restart_losses, losses);
        assert_eq!(json(&best.config), json(&config));
    }
    let mut ran = false;
    let bad = TrainConfig {
        batch: 0,
        ..small()
    };
    let err = best_of_restarts(&bad, 64, false, |_, _| {
        ran = true;
        Err(TrainError::Config("not reached".into()))
    })
    .unwrap_err();
    assert!(
        matches!(err, TrainError::Setting { field: "batch", .. }),
        "{err}"
    );
    assert!(!ran);
}

/// Ten epochs of two steps, three heads, labels for a per-epoch mAP, twelve seeds: each
/// epoch reports the means of its steps (the loss is its terms' sum, and the heads' mean);
/// the head shown is the lowest of its epoch before the ranking window (the last fifth,
/// epochs 9 and 10) and the lowest summed over the window inside it; the kept head and its
/// final loss are the window's; the time per epoch is the epochs' mean. The seeds make
/// sure heads other than the first are kept (which head wins depends on the start).
#[test]
fn epochs_report_their_steps_and_the_head_kept_is_the_windows_lowest() {
    let (x, labels) = rows(64, 6, 3);
    let mut kept = Vec::new();
    for seed in 0..12 {
        let config = TrainConfig {
            epochs: 10,
            heads: 3,
            lam: 0.7,
            seed,
            ..small()
        };
        let t = train_features(&config, x.clone(), 64, 6, Some(&labels), false).unwrap();
        check_epochs(&config, &t);
        kept.push(t.head);
    }
    assert!(kept.iter().any(|&h| h != 0), "{kept:?}");
}

fn check_epochs(c: &TrainConfig, t: &Trained) {
    assert_eq!(t.history.len(), 10);
    for (e, s) in t.history.iter().enumerate() {
        assert_eq!(s.epoch, e + 1);
        let info =
            s.cond_entropy - c.mu * s.marginal_entropy + c.pairwise_mi_weight * s.pairwise_mi;
        assert!((s.loss - (s.sat + c.lam * info)).abs() < 1e-5, "{s:?}");
        assert_eq!(s.head_losses.len(), 3);
        let heads_mean = s.head_losses.iter().sum::<f64>() / 3.0;
        assert!((s.loss - heads_mean).abs() < 1e-5, "{s:?}");
        assert!(s.sat > 0.0 && s.marginal_entropy > 0.0, "{s:?}");
        let metric = s.metric.expect("labels give a metric each epoch");
        assert!((0.0..=1.0).contains(&metric));
        if e < 8 {
            assert_eq!(s.head, lowest(&s.head_losses), "epoch {}", e + 1);
        }
    }
    let window = |e: usize| -> Vec<f64> {
        (0..3)
            .map(|h| t.history[8..e].iter().map(|s| s.head_losses[h]).sum())
            .collect()
    };
    assert_eq!(t.history[8].head, lowest(&window(9)));
    assert_eq!(t.history[9].head, lowest(&window(10)));
    assert_eq!(t.head, lowest(&window(10)));
    assert!(
        close(t.final_loss, window(10)[t.head] / 2.0),
        "{}",
        t.final_loss
    );
    assert_eq!(t.model.heads(), 1);
    assert_eq!(
        (t.restart, t.restart_losses.clone()),
        (0, vec![t.final_loss])
    );
    let seconds: f64 = t.history.iter().map(|s| s.seconds).sum();
    assert!(close(t.seconds_per_epoch, seconds / 10.0));
    // The final quality is the kept model's: the last epoch showed the same head.
    let quality = t.quality.as_ref().expect("labels give a quality");
    assert!(close(quality.headline(), t.history[9].metric.unwrap()));
    assert_eq!(json(&t.config), json(c));
}

/// Without labels nothing is scored; one epoch is its own window.
#[test]
fn one_epoch_without_labels() {
    let (x, _) = rows(64, 6, 4);
    let config = TrainConfig {
        epochs: 1,
        heads: 2,
        ..small()
    };
    let t = train_features(&config, x, 64, 6, None, false).unwrap();
    assert!(t.quality.is_none() && t.history[0].metric.is_none());
    assert_eq!(t.head, lowest(&t.history[0].head_losses));
    assert!(close(t.final_loss, t.history[0].head_losses[t.head]));
}

/// Labels that do not match the rows are refused, naming both counts; so are pixels.
#[test]
fn labels_must_match_the_data() {
    let (x, labels) = rows(64, 6, 5);
    let c = small();
    match train_features(&c, x, 64, 6, Some(&labels[..63]), false) {
        Err(TrainError::Data(m)) => assert!(m.contains("63 labels for 64 rows"), "{m}"),
        other => panic!("expected a data error, got {:?}", other.err()),
    }
    let images = Images {
        n: 64,
        shape: vec![6, 6],
        pixels: vec![7; 64 * 36],
    };
    match train(&c, &images, Some(&labels[..10]), false) {
        Err(TrainError::Data(m)) => assert!(m.contains("10 labels for 64 images"), "{m}"),
        other => panic!("expected a data error, got {:?}", other.err()),
    }
}

/// What a library caller can pass that the CLI never does is an error naming it, not a panic
/// deep in the neighbour search, the batch slicing or burn: images whose fields disagree,
/// logits and labels that do not pair, rows of another width, non-finite features, photo
/// settings that build no set or a photo run of clusters.
#[test]
fn a_library_caller_s_mistakes_are_errors() {
    let c = small();
    let data_error = |r: Result<Trained, TrainError>, words: &str| match r {
        Err(TrainError::Data(m)) => assert!(m.contains(words), "{m}"),
        other => panic!("expected a data error, got {:?}", other.err()),
    };
    let short = Images {
        n: 64,
        shape: vec![6, 6],
        pixels: vec![7; 63 * 36],
    };
    data_error(
        train(&c, &short, None, false),
        "2268 pixels are not 64 images",
    );
    let flat = Images {
        shape: vec![6, 0],
        pixels: Vec::new(),
        ..short
    };
    data_error(train(&c, &flat, None, false), "holds no pixels");
    let (mut x, _) = rows(64, 6, 5);
    x[6 * 9 + 2] = f32::INFINITY;
    data_error(
        train_features(&c, x, 64, 6, None, false),
        "row 9, column 2 is inf",
    );

    let (x, labels) = rows(64, 6, 5);
    let t = train_features(
        &TrainConfig {
            epochs: 1,
            ..c.clone()
        },
        x.clone(),
        64,
        6,
        None,
        false,
    )
    .unwrap();
    match predict_logits(&t.model, &x[..6 * 10 - 1], 10) {
        Err(TrainError::Data(m)) => assert!(m.contains("59 values are not 10 rows"), "{m}"),
        other => panic!("expected a data error, got {other:?}"),
    }
    let logits = predict_logits(&t.model, &x, 64).unwrap();
    for (task, outputs) in [(Task::Hash, 8), (Task::Cluster, 8)] {
        for labels in [&labels[..63], &labels[..0]] {
            match evaluate_logits(task, &logits, outputs, labels, 0) {
                Err(TrainError::Data(m)) => assert!(m.contains("logits are not a row"), "{m}"),
                other => panic!("expected a data error, got {other:?}"),
            }
        }
    }
    assert!(evaluate_logits(Task::Hash, &logits, 8, &labels, 0).is_ok());

    let photo = TrainConfig::photo_hash(16);
    let cluster = TrainConfig {
        task: Task::Cluster,
        ..photo.clone()
    };
    let config_error = |c: &TrainConfig, words: &str| match c.validate(1000) {
        Err(TrainError::Config(m)) => assert!(m.contains(words), "{m}"),
        other => panic!("expected a settings error, got {other:?}"),
    };
    config_error(&cluster, "trains a hash");
    let mut bad = photo.clone();
    for (edit, words) in [
        (0, "photos.edits is empty"),
        (1, "photos.item_area needs"),
        (2, "photos.items_per_photo and photos.edits_per_item"),
    ] {
        let mut p = photo.photos.clone().unwrap();
        match edit {
            0 => p.edits.clear(),
            1 => p.item_area = (0.5, f32::NAN),
            _ => p.edits_per_item = 0,
        }
        bad.photos = Some(p);
        config_error(&bad, words);
    }
}

/// `model.bpk` is burn's record of the trained weights: loaded into a fresh encoder of the
/// same shape, it gives back every weight.
#[test]
fn the_record_loads_back_the_trained_weights() {
    use burn::module::Module;
    use burn::store::ModuleRecord;
    use burn::tensor::Bytes;

    let device = inference_device();
    device.seed(6);
    let model = Encoder::new(6, &[5], 3, &device);
    let weights = |e: &Encoder| {
        [
            host_values(e.hidden[0].weight.val()),
            host_values(e.output.weight.val()),
            host_values(e.norms[0].gamma.val()),
        ]
    };
    let want = weights(&model);
    let trained = Trained::untrained(model, small());
    let bytes = trained.record_bytes().unwrap();
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).unwrap();
    let fresh = Encoder::new(6, &[5], 3, &device);
    assert_ne!(weights(&fresh)[0], want[0]);
    assert_eq!(weights(&fresh.load_record(record)), want);
}

/// A run that leaves the numbers says where, counting epochs and steps from 1: at a
/// learning rate of 1e30 the first step is finite and the second is not.
#[test]
fn divergence_names_the_epoch_and_step() {
    let (x, _) = rows(64, 6, 6);
    let config = TrainConfig {
        lr: 1e30,
        epochs: 3,
        ..small()
    };
    match train_features(&config, x, 64, 6, None, false) {
        Err(TrainError::NonFinite { epoch, step, .. }) => assert_eq!((epoch, step), (1, 2)),
        other => panic!("expected divergence, got {:?}", other.map(|t| t.final_loss)),
    }
}
