//! The headline photo numbers, reproduced: fold 0 of the group 4-fold estimate
//! (`models/cv_photo.sh`, seed 0, the photo defaults) trains a model on three quarters of the
//! bundled photo groups and scores its int8 file on the held-out 29 photos. The README's
//! per-fold row and the card give fold 0 as photo64 int8 1.000 / 0.710 (moderate / strong,
//! TPR at FPR 1e-3) and pHash 0.993 / 0.248, trained with AVX-512 float kernels; without
//! AVX-512 (AVX2 and FMA) the same seed trains another model, 1.000 / 0.752. This checks the
//! numbers of the level this CPU runs (the run's `float_kernels`), so that a change to the
//! trainer, the exporter, the view or the edits that moves them fails here, not on a user's
//! photos. Training takes about three to five minutes on 2 cores.

use std::path::Path;
use std::process::Command;

use crate::common::python_with;

/// TPR at FPR 1e-3 of `hash` (a name in the eval's `hashes`) on `group` edits.
fn tpr(eval: &serde_json::Value, hash: &str, group: &str) -> f64 {
    let hashes = eval["hashes"].as_array().unwrap();
    let h = hashes.iter().find(|h| h["name"] == hash).unwrap();
    h[group]["tpr_at_fpr_1e-3"].as_f64().unwrap()
}

#[test]
fn fold_0_of_the_photo_estimate_scores_what_the_readme_states() {
    // The script deals the folds with Python's random.Random(0), as it did for the README.
    if !python_with("json, random, csv", "the fold split") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("models/cv_photo.sh"))
        .env("IMSAT", env!("CARGO_BIN_EXE_imsat"))
        .env("ONLY_FOLD", "0")
        .env("SEED", "0")
        .env("WORK", work.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "models/cv_photo.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eval: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.path().join("fold0/eval.json")).unwrap())
            .unwrap();
    assert_eq!(eval["photos"], 29, "{eval}");
    // Training is deterministic at one level of float kernels (two runs gave the same TPRs
    // to the last digit, at each level); across levels sums are added in other orders and
    // the seed trains another model (0.710 and 0.752: a seed moves a fold's strong TPR by up
    // to 0.10). The margins are two copies of each kind (406 moderate, 145 strong), not room
    // for a recipe step (the views before the caption fill gave 0.690 at v4).
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.path().join("fold0/run/report.json")).unwrap())
            .unwrap();
    let kernels = report["float_kernels"].as_str().unwrap();
    let strong = match kernels {
        // The project's machines until 2026-12-06 (AMD EPYC Zen 4): the README's figure.
        "x86-64-v4" => 0.710,
        // AMD EPYC without AVX-512, 2026-12-07 (CI and `SEED=0 ONLY_FOLD=0 models/cv_photo.sh`).
        "x86-64-v3" => 0.752,
        other => panic!(
            "no fold-0 figure is stated for float kernels {other}: run `SEED=0 ONLY_FOLD=0 \
             models/cv_photo.sh` on this CPU and state its numbers (README, this test)"
        ),
    };
    let scores = [
        ("model.int8.onnx", "moderate", 1.000, 0.005),
        ("model.int8.onnx", "strong", strong, 0.015),
        ("phash", "moderate", 0.993, 0.001),
        ("phash", "strong", 0.248, 0.001),
    ];
    for (hash, group, stated, within) in scores {
        let got = tpr(&eval, hash, group);
        assert!(
            (got - stated).abs() <= within,
            "{hash} {group}: {got:.4}, the README states {stated:.3} (+-{within}) for {kernels}"
        );
    }
    // The int8 file's bits against its f32 model's on these copies (card: 99.73% on fold 0).
    let agree = eval["bits_equal_to_reference"].as_f64().unwrap();
    assert!(agree >= 0.995, "int8 bits equal to f32: {agree}");
}
