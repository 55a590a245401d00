//! Throughput of exact search over 1M random codes (reported as queries per second):
//! k = 10 by linear scan at 64 and 256 bits, and radius <= 2 through multi-index hashing
//! with planted queries (a database code with 0..=2 bits flipped).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imsat_runtime::prelude::*;
use imsat_runtime::search;

const N: usize = 1_000_000;

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn random_codes(bits: usize, n: usize, seed: u64) -> Codes {
    let mut s = seed;
    let words = (0..n * bits / 64).map(|_| splitmix(&mut s)).collect();
    Codes::from_words(bits, words).unwrap()
}

fn knn_scan(c: &mut Criterion) {
    for bits in [64usize, 256] {
        let codes = random_codes(bits, N, bits as u64);
        let queries = random_codes(bits, 64, 7);
        let mut group = c.benchmark_group(format!("knn10_scan_1M_{bits}bit"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4))
            .throughput(Throughput::Elements(queries.len() as u64));
        let mut out = [Neighbor::default(); 10];
        group.bench_function("queries", |b| {
            b.iter(|| {
                for q in &queries {
                    black_box(knn_into(&codes, black_box(q), &mut out).unwrap());
                }
            })
        });
        group.bench_function("batch", |b| {
            b.iter(|| black_box(search::knn_batch(&codes, black_box(&queries), 10).unwrap()))
        });
        group.finish();
    }
}

fn mih_radius(c: &mut Criterion) {
    let codes = random_codes(64, N, 64);
    let mih = Mih::new(&codes).unwrap();
    let mut s = 99u64;
    let queries: Vec<u64> = (0..1000)
        .map(|i| {
            let row = (splitmix(&mut s) % N as u64) as usize;
            let mut q = codes.get(row).unwrap()[0];
            for _ in 0..i % 3 {
                q ^= 1 << (splitmix(&mut s) % 64);
            }
            q
        })
        .collect();
    let mut group = c.benchmark_group("radius2_mih_1M_64bit_planted");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(queries.len() as u64));
    group.bench_function("queries", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(mih.radius(black_box(std::slice::from_ref(q)), 2).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, knn_scan, mih_radius);
criterion_main!(benches);
