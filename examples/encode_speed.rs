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

/// Errors are said in words (their `Display`: the file and what is wrong), as an app would
/// say them; `main` returning the error would print its `Debug` form.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = args.first().ok_or("usage: encode_speed MODEL [BATCHES]")?;
    let batches: Vec<usize> = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("1,64,1024")
        .split(',')
        .map(|b| match b.parse() {
            Ok(0) | Err(_) => Err(format!(
                "batch size {b:?}: give whole numbers of at least 1 (usage: encode_speed MODEL \
                 [BATCHES], e.g. 1,64,1024)"
            )),
            Ok(b) => Ok(b),
        })
        .collect::<Result<_, _>>()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let images = read_idx_images(root.join("data/mnist10k/images-idx3-ubyte.gz"))?;
    let mut enc = Encoder::open(model)?;
    let kernel = std::env::var("ENCODE_SPEED_KERNEL").ok();
    if std::env::var_os("ENCODE_SPEED_TRACT").is_some() {
        // A kernel is the native executor's: it would run in tract's place.
        if kernel.is_some() {
            return Err(
                "ENCODE_SPEED_TRACT and ENCODE_SPEED_KERNEL: give one (a kernel is the \
                        native int8 executor's, not tract's)"
                    .into(),
            );
        }
        enc = enc.tract_only();
    }
    if let Some(kernel) = kernel {
        if !enc.uses_native_int8() {
            return Err(format!(
                "ENCODE_SPEED_KERNEL={kernel}: {model} does not run on the native int8 executor \
                 (an f32 model, or an int8 graph of another layout)"
            )
            .into());
        }
        enc = enc.with_int8_kernel(&kernel).ok_or(format!(
            "ENCODE_SPEED_KERNEL={kernel}: not an int8 kernel of this CPU (generic, avx2, vnni, \
             neon, dotprod)"
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
        // A batch larger than the data is the data in one call.
        let rows = batch.saturating_mul(d);
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let started = Instant::now();
            for chunk in pixels.chunks(rows) {
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
