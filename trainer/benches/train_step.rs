//! One IMSAT training step on MNIST-10k: batch 250, VAT, 784-1200-1200-10 (the reference
//! clustering setting), and the 784-400-400-16 hashing step.
//! `cargo bench -p imsat-trainer --bench train_step`

use criterion::{Criterion, criterion_group, criterion_main};
use imsat_trainer::data::read_labelled;
use imsat_trainer::sat::SatKind;
use imsat_trainer::train::{TrainConfig, Trainer};

fn bench(c: &mut Criterion) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/mnist10k");
    let (images, _) = read_labelled(
        format!("{root}/images-idx3-ubyte.gz"),
        format!("{root}/labels-idx1-ubyte.gz"),
    )
    .expect("bundled MNIST-10k");
    let mut group = c.benchmark_group("train_step");
    group.sample_size(10);
    let with = |mut c: TrainConfig, sat: &[SatKind], batch: usize| {
        c.sat = sat.to_vec();
        c.batch = batch;
        c.heads = 1;
        c
    };
    for (name, config) in [
        // The reference setting, the one PyTorch takes ~0.1 s for on these machines.
        (
            "cluster_1200x1200_vat_b250",
            with(TrainConfig::cluster(10), &[SatKind::Vat], 250),
        ),
        (
            "hash16_400x400_vat_b250",
            with(TrainConfig::hash(16), &[SatKind::Vat], 250),
        ),
        // The defaults.
        (
            "cluster_defaults_vat+style_b500_5heads",
            TrainConfig::cluster(10),
        ),
        ("hash16_defaults_vat+affine_b250", TrainConfig::hash(16)),
    ] {
        let mut trainer = Trainer::new(&config, &images, false).expect("valid config");
        group.bench_function(name, |b| b.iter(|| trainer.step().expect("finite loss")));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
