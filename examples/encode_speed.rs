//! Encoding throughput of a shipped model through the runtime encoder, one thread, at a few
//! batch sizes, on the bundled digits: the imsat half of `examples/speed/run.sh`, which
//! times onnxruntime on the same file right after.
//!
//!     cargo run --release --example encode_speed -- models/hash16.int8.onnx 1,64,1024
//!
//! Prints one JSON line per batch size: images per second over the 10,000 digits (best of
//! 3 passes, so a busy machine's hiccups do not count). A photo model runs `rows_per_image`
//! model rows per image (one per view), and the line says how many, so that the peer is
//! timed on the same rows. `ENCODE_SPEED_TRACT=1` runs the model on tract alone (the
//! runtime's fallback for graphs and CPUs its native executors do not take);
//! `ENCODE_SPEED_KERNEL=generic` (or `avx2`, `vnni`, `neon`, `dotprod`) picks the native int8
//! executor's kernel.

use std::path::Path;
use std::time::Instant;

use imsat_data::idx::read_idx_images;
use imsat_runtime::encoder::Encoder;

/// Which executor runs the model: imsat's own (int8 with its kernel, f32) or tract.
fn executor(enc: &Encoder) -> String {
    match (enc.int8_kernel(), enc.uses_native_f32()) {
        (Some(kernel), _) => format!("native int8 ({kernel})"),
        (None, true) => "native f32 (gemm)".into(),
        _ => "tract".into(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = args.first().ok_or("usage: encode_speed MODEL [BATCHES]")?;
    let batches: Vec<usize> = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("1,64,1024")
        .split(',')
        .map(|b| b.parse())
        .collect::<Result<_, _>>()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let images = read_idx_images(root.join("data/mnist10k/images-idx3-ubyte.gz"))?;
    let mut enc = Encoder::open(model)?;
    if std::env::var_os("ENCODE_SPEED_TRACT").is_some() {
        enc = enc.tract_only();
    }
    if let Ok(kernel) = std::env::var("ENCODE_SPEED_KERNEL") {
        enc = enc.with_int8_kernel(&kernel).ok_or(format!(
            "ENCODE_SPEED_KERNEL={kernel}: not an int8 kernel of this CPU"
        ))?;
    }
    // A photo model sees each 28x28 digit through its own view (for speed, any pixels do).
    let pixels: Vec<u8> = match enc.info().view {
        Some(view) => images
            .pixels
            .chunks_exact(images.dim())
            .map(|d| view.apply(d, 28, 28, 1))
            .collect::<Result<Vec<_>, _>>()?
            .concat(),
        None => images.pixels.clone(),
    };
    let d = enc.input_dim();
    for &batch in &batches {
        if batch == 0 {
            return Err("a batch size must be at least 1".into());
        }
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let started = Instant::now();
            for chunk in pixels.chunks(batch * d) {
                std::hint::black_box(enc.logits(chunk)?);
            }
            best = best.min(started.elapsed().as_secs_f64());
        }
        println!(
            "{{\"engine\":\"imsat\",\"model\":\"{model}\",\"int8\":{},\"executor\":\"{}\",\"rows_per_image\":{},\"batch\":{batch},\"images_per_second\":{:.0}}}",
            enc.info().int8,
            executor(&enc),
            enc.info().rows_per_image(),
            images.n as f64 / best
        );
    }
    Ok(())
}
