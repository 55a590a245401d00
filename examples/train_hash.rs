//! Train a small hash encoder on the bundled digits, export it as ONNX, and check that the
//! exported file gives the same codes through the runtime encoder.
//!
//! `cargo run --release --example train_hash -- [N_IMAGES] [EPOCHS]` (from any folder)

use imsat::runtime::encoder::Encoder;
use imsat::trainer::{data, export, train};

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
    let mut args = std::env::args().skip(1).map(|a| {
        a.parse::<usize>().map_err(|e| {
            format!("{a:?}: {e} (usage: train_hash [N_IMAGES] [EPOCHS], whole numbers)")
        })
    });
    let (n, epochs) = (
        args.next().unwrap_or(Ok(2000))?,
        args.next().unwrap_or(Ok(5))?,
    );
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist10k");
    let (mut images, mut labels) = data::read_labelled(
        data.join("images-idx3-ubyte.gz"),
        data.join("labels-idx1-ubyte.gz"),
    )?;
    images.truncate(n);
    labels.truncate(n);

    let mut config = train::TrainConfig::hash(16);
    config.epochs = epochs;
    // A batch no larger than the data, as `imsat train` chooses it.
    config.batch = config.batch.min(images.n);
    let trained = train::train(&config, &images, Some(&labels), true)?;
    println!("retrieval quality: {:?}", trained.quality);

    let dir = std::env::temp_dir().join("imsat-example-hash16");
    std::fs::create_dir_all(&dir)?;
    let files = export::write_models(&trained, &images, "{}", None, None, &dir)?;
    println!(
        "wrote {} ({} bytes) and {} ({} bytes)",
        files.f32_path.display(),
        files.f32_bytes,
        files.int8_path.display(),
        files.int8_bytes
    );

    // The exported model, run by the edge runtime, gives the trainer's codes.
    let encoder = Encoder::open(&files.f32_path)?;
    let codes = encoder.codes(&images.pixels)?;
    let logits = train::predict_logits(
        &trained.model,
        &train::scale_pixels(&images.pixels),
        images.n,
    )?;
    let expected = imsat::runtime::code::Codes::from_logits(16, &logits)?.into_words();
    let same = codes
        .as_words()
        .iter()
        .zip(&expected)
        .filter(|(a, b)| a == b)
        .count();
    println!(
        "{same} of {} codes identical between burn and the ONNX encoder",
        images.n
    );
    assert!(same as f64 >= 0.99 * images.n as f64);
    Ok(())
}
