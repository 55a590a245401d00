//! Training never produces NaN silently: a run whose loss becomes NaN or infinite stops with
//! `TrainError::NonFinite`, naming the epoch, the step and the loss term.

use std::path::Path;

use imsat_trainer::data::read_idx_images;
use imsat_trainer::train::{TrainConfig, TrainError, train};

#[test]
fn an_absurd_learning_rate_stops_at_the_step_whose_loss_is_not_finite() {
    let mut images = read_idx_images(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist10k/images-idx3-ubyte.gz"),
    )
    .unwrap();
    images.truncate(500);
    let mut config = TrainConfig::hash(8);
    config.hidden = vec![32, 32];
    config.batch = 100;
    config.epochs = 2;
    // Finite and accepted by `validate`, but the first Adam step moves every weight by
    // ~1e30, so the next forward pass overflows.
    config.lr = 1e30;
    config.validate(images.n).unwrap();
    let err = train(&config, &images, None, false).expect_err("training must fail");
    match &err {
        TrainError::NonFinite {
            epoch,
            step,
            term,
            value,
        } => {
            assert_eq!((*epoch, *step), (1, 2), "{err}");
            assert!(!value.is_finite(), "{err}");
            assert!(!term.is_empty());
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("training diverged at epoch 1, step 2: {term} is ")),
                "{text}"
            );
        }
        other => panic!("expected NonFinite, got {other}"),
    }

    // The same settings with a sane learning rate train (the failure is the rate's).
    config.lr = 1e-3;
    config.epochs = 1;
    let trained = train(&config, &images, None, false).unwrap();
    assert!(trained.history.iter().all(|e| e.loss.is_finite()));
}
