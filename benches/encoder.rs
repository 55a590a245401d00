//! The ONNX encoder (runtime: native f32 and int8 executors, tract) on a 784-400-400-16
//! hash model: f32 vs int8, batch 1
//! and 256, single thread. Run with `cargo bench --bench encoder`; it prints the machine
//! (CPU model) first and a µs/sample table last.
//!
//! The model has random weights (timing does not depend on them); its int8 twin is
//! calibrated on the bundled MNIST digits, which are also the inputs.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use imsat_runtime::encoder::Encoder;
use imsat_trainer::backend::inference_device;
use imsat_trainer::data::read_idx_images;
use imsat_trainer::export::{self, ModelInfo};
use imsat_trainer::loss::Task;
use imsat_trainer::model;
use imsat_trainer::train::scale_pixels;

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cpu} ({cores} cores visible, encoder runs single-threaded)")
}

fn models(dir: &Path, pixels: &[u8], n: usize) -> (Encoder, Encoder) {
    let enc = model::Encoder::new(784, &[400, 400], 16, &inference_device());
    let layers = export::fold_layers(&enc);
    let info = ModelInfo {
        task: Task::Hash,
        outputs: 16,
        input_shape: vec![28, 28],
        int8: false,
        report: "{}".into(),
        view: None,
        input: imsat_runtime::format::Input::Pixels,
        dedup_radius: None,
        soft_check: None,
        same_codes_as: Vec::new(),
    };
    let calib = n.min(2000);
    let quant =
        export::quantize_layers(&layers, &scale_pixels(&pixels[..calib * 784]), calib).unwrap();
    let f32_path = dir.join("bench.onnx");
    let int8_path = dir.join("bench.int8.onnx");
    std::fs::write(
        &f32_path,
        export::to_bytes(&export::f32_model(&layers, &info).unwrap()),
    )
    .unwrap();
    std::fs::write(
        &int8_path,
        export::to_bytes(&export::int8_model(&quant, &info, calib).unwrap()),
    )
    .unwrap();
    (
        Encoder::open(&f32_path).unwrap(),
        Encoder::open(&int8_path).unwrap(),
    )
}

fn main() {
    let machine = machine();
    println!("encoder benchmark on: {machine}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let images = read_idx_images(root.join("data/mnist10k/images-idx3-ubyte.gz")).unwrap();
    let dir = std::env::temp_dir().join(format!("imsat-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (f32_enc, int8_enc) = models(&dir, &images.pixels, images.n);
    let encoders = [("f32", &f32_enc), ("int8", &int8_enc)];

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    for batch in [1usize, 256] {
        let mut group = c.benchmark_group(format!("encoder_784-400-400-16/batch{batch}"));
        group.throughput(Throughput::Elements(batch as u64));
        let input = &images.pixels[..batch * 784];
        for (name, enc) in encoders {
            group.bench_with_input(BenchmarkId::from_parameter(name), input, |b, x| {
                b.iter(|| enc.codes(std::hint::black_box(x)).unwrap())
            });
        }
        group.finish();
    }

    // A plain table of µs per sample (median of 7 runs of ~0.3 s each), with the other
    // paths for reference: tract itself, and each native int8 kernel this CPU runs.
    let kernel = int8_enc.int8_kernel().unwrap_or("none");
    println!(
        "\nµs/sample, 784-400-400-16, on {machine}; f32 = native (gemm), int8 = native {kernel} kernel"
    );
    let mut table: Vec<(String, Encoder)> = vec![
        ("f32".into(), f32_enc.clone()),
        ("f32-tract".into(), f32_enc.clone().tract_only()),
        ("int8".into(), int8_enc.clone()),
        ("int8-tract".into(), int8_enc.clone().tract_only()),
    ];
    for k in ["avx2", "generic"] {
        if k != kernel
            && let Some(e) = int8_enc.clone().with_int8_kernel(k)
        {
            table.push((format!("int8-{k}"), e));
        }
    }
    for batch in [1usize, 256] {
        let input = &images.pixels[..batch * 784];
        let mut row = format!("batch {batch:>3}:");
        for (name, enc) in &table {
            let mut runs: Vec<f64> = (0..7)
                .map(|_| {
                    let (start, mut calls) = (Instant::now(), 0u64);
                    while start.elapsed() < Duration::from_millis(300) {
                        std::hint::black_box(enc.codes(input).unwrap());
                        calls += 1;
                    }
                    start.elapsed().as_secs_f64() * 1e6 / (calls as f64 * batch as f64)
                })
                .collect();
            runs.sort_by(f64::total_cmp);
            row += &format!("  {name} {:7.2}", runs[3]);
        }
        println!("{row}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
