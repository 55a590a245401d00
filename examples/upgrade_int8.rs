//! Rewrite an int8 model exported before the weights were stored as u8 with zero point 128
//! into the current layout: the same integer products, so the same codes in imsat's runtime
//! and tract, and onnxruntime's too on x86-64 CPUs without VNNI (where its u8 x s8 kernel
//! saturates). Writes NEW only when both files give the same logits on 256 rows of
//! pseudo-random inputs.
//!
//! `cargo run --release --example upgrade_int8 -- OLD.int8.onnx NEW.int8.onnx`

use imsat::runtime::{atomic_file::write_atomic, encoder::Encoder};
use imsat::trainer::export::upgrade_int8;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [old, new] = &args[..] else {
        return Err("usage: upgrade_int8 OLD.int8.onnx NEW.int8.onnx".into());
    };
    let bytes = std::fs::read(old).map_err(|e| format!("{old}: {e}"))?;
    let upgraded = upgrade_int8(&bytes).map_err(|e| format!("{old}: {e}"))?;
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
    write_atomic(new.as_ref(), &upgraded).map_err(|e| format!("{new}: {e}"))?;
    println!(
        "{new}: {} bytes, the same logits as {old} on 256 rows",
        upgraded.len()
    );
    Ok(())
}
