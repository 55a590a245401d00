//! Rewrite an int8 model exported before the weights were stored as u8 with zero point 128
//! into the current layout: the same integer products, so the same codes in imsat's runtime
//! and tract, and onnxruntime's too on x86-64 CPUs without VNNI (where its u8 x s8 kernel
//! saturates). Writes NEW only when both files give the same logits on 256 rows of
//! pseudo-random inputs.
//!
//! NEW declares (`imsat.same_codes_as`) the SHA-256 of OLD and of the file the exporter
//! writes for the same model, so an index built with either is searched with NEW.
//!
//! `cargo run --release --example upgrade_int8 -- OLD.int8.onnx NEW.int8.onnx`

use imsat::runtime::{atomic_file::write_atomic, encoder::Encoder};
use imsat::trainer::export::{declare_same_codes, upgrade_int8};
use sha2::{Digest, Sha256};

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
    let [old, new] = &args[..] else {
        return Err("usage: upgrade_int8 OLD.int8.onnx NEW.int8.onnx".into());
    };
    let bytes = std::fs::read(old).map_err(|e| format!("{old}: {e}"))?;
    let exported = upgrade_int8(&bytes).map_err(|e| format!("{old}: {e}"))?;
    let sha = |b: &[u8]| format!("{:x}", Sha256::digest(b));
    let same = [sha(&bytes), sha(&exported)];
    let upgraded = declare_same_codes(&exported, &same).map_err(|e| format!("{old}: {e}"))?;
    let (before, after) = (
        Encoder::from_bytes(&bytes, old)?,
        Encoder::from_bytes(&upgraded, new)?,
    );
    // Any pixels do for the check: equal logits on them mean equal integer weights.
    let d = before.input_dim();
    let pixels: Vec<u8> = (0..256 * d)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    if before.logits(&pixels)? != after.logits(&pixels)? {
        return Err(
            format!("{old}: the upgraded model computes other logits; nothing written").into(),
        );
    }
    // Its error names the file (`NEW: cannot write: ...`).
    write_atomic(new.as_ref(), &upgraded)?;
    println!(
        "{new}: {} bytes, SHA-256 {}, the same logits as {old} on 256 rows; declares the same \
         codes as {old} ({}) and the plain export ({})",
        upgraded.len(),
        sha(&upgraded),
        same[0],
        same[1]
    );
    Ok(())
}
