//! Quick experiment driver: `cargo run --release -p imsat-trainer --example experiment --
//! cluster|hash OUTPUTS SEED EPOCHS BATCH SAT [LIMIT]`; prints one JSON line. `DATA=dir` reads
//! another folder of `images-idx3-ubyte.gz` / `labels-idx1-ubyte.gz` (e.g. `data/digits8x8`).

use imsat_trainer::{data, metrics, sat, train};

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let root = std::env::var("DATA")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../data/mnist10k").into());
    let (mut images, mut labels) = data::read_labelled(
        format!("{root}/images-idx3-ubyte.gz"),
        format!("{root}/labels-idx1-ubyte.gz"),
    )
    .expect("bundled data");
    let outputs: usize = a[1].parse().unwrap();
    let mut c = if a[0] == "hash" {
        train::TrainConfig::hash(outputs)
    } else {
        train::TrainConfig::cluster(outputs)
    };
    c.seed = a[2].parse().unwrap();
    c.epochs = a[3].parse().unwrap();
    c.batch = a[4].parse().unwrap();
    c.sat = sat::parse_sat_list(&a[5]).unwrap();
    if let Some(limit) = a.get(6) {
        let l: usize = limit.parse().unwrap();
        images.truncate(l);
        labels.truncate(l);
    }
    if let Ok(v) = std::env::var("MU") {
        c.mu = v.parse().unwrap();
    }
    if let Ok(v) = std::env::var("LAM") {
        c.lam = v.parse().unwrap();
    }
    if let Ok(v) = std::env::var("MIW") {
        c.pairwise_mi_weight = v.parse().unwrap();
    }
    if let Ok(v) = std::env::var("HEADS") {
        c.heads = v.parse().unwrap();
    }
    if let Ok(v) = std::env::var("EPS") {
        c.eps_scale = v.parse().unwrap();
    }
    if let Ok(v) = std::env::var("AFFINE") {
        let p: Vec<f32> = v.split(',').map(|x| x.parse().unwrap()).collect();
        c.affine = sat::AffineRange {
            degrees: p[0],
            scale: p[1],
            shift: p[2],
            shear: p.get(3).copied().unwrap_or(0.0),
            thickness: p.get(4).copied().unwrap_or(0.0),
            // A sixth value 0 turns the scaling by image size off.
            reference_side: match p.get(5) {
                Some(&0.0) => None,
                Some(&v) => Some(v),
                None => Some(sat::MNIST_SIDE),
            },
        };
    }
    let t = train::train(&c, &images, Some(&labels), false).unwrap();
    if a[0] != "hash" {
        // One row per cluster: how many digits of each label it holds.
        let x = train::scale_pixels(&images.pixels);
        let logits = train::predict_logits(&t.model, &x, images.n).unwrap();
        let ids: Vec<usize> = imsat_runtime::output::argmax_rows(&logits, c.outputs)
            .unwrap()
            .into_iter()
            .map(|k| k as usize)
            .collect();
        if let Ok(path) = std::env::var("IDS") {
            let bytes: Vec<u8> = ids.iter().map(|&k| k as u8).collect();
            std::fs::write(path, bytes).unwrap();
        }
        for row in metrics::contingency_table(&ids, &labels) {
            eprintln!("{row:?}");
        }
    }
    let per_epoch: Vec<f64> = t.history.iter().filter_map(|h| h.metric).collect();
    println!(
        "{}",
        serde_json::json!({"config": t.config, "quality": t.quality, "seconds_per_epoch": t.seconds_per_epoch, "head": t.head,
            "last": t.history.last(), "per_epoch": per_epoch.iter().map(|v| (v * 1000.0).round() / 1000.0).collect::<Vec<_>>()})
    );
}
