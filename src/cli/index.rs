//! `imsat index`: build an index file from images (through a model) or import raw codes.

use std::path::{Path, PathBuf};

use anyhow::Context;
use imsat_runtime::code::Codes;
use imsat_runtime::index::Index;
use serde_json::json;

use super::{Ctx, bad_input};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand)]
pub enum Action {
    /// Import raw little-endian u64 codes (bit p of a code is bit p%64 of word p/64).
    #[command(
        after_help = "Example:\n  imsat index import --raw-u64 codes.u64 --bits 64 --out codes.idx"
    )]
    Import {
        #[arg(long)]
        raw_u64: PathBuf,
        /// Bits per code.
        #[arg(long)]
        bits: usize,
        #[arg(long)]
        out: PathBuf,
        /// Add the codes to an existing index (ids continue after its largest id).
        #[arg(long)]
        append: bool,
    },
    /// Encode images with a hash model and index their codes (ids = image order).
    #[command(
        after_help = "Example:\n  imsat index build --model models/hash32.onnx --data data/mnist10k/images-idx3-ubyte.gz --out mnist.idx"
    )]
    Build {
        #[arg(long)]
        model: PathBuf,
        /// IDX file or folder of images.
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

/// Read raw u64 codes of `bits` bits from a file.
pub fn read_raw_codes(path: &Path, bits: usize) -> anyhow::Result<Codes> {
    if bits == 0 {
        return Err(bad_input("--bits must be at least 1"));
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let words_per_code = bits.div_ceil(64);
    if bytes.is_empty() {
        return Err(bad_input(format!(
            "{}: empty file, no codes",
            path.display()
        )));
    }
    if bytes.len() % (8 * words_per_code) != 0 {
        return Err(bad_input(format!(
            "{}: {} bytes is not a whole number of {bits}-bit codes ({} bytes each)",
            path.display(),
            bytes.len(),
            8 * words_per_code
        )));
    }
    let words = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8-byte chunk")))
        .collect();
    Codes::from_words(bits, words).map_err(|e| bad_input(format!("{}: {e}", path.display())))
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let (index, out) = match args.action {
        Action::Import {
            raw_u64,
            bits,
            out,
            append,
        } => {
            super::check_output_file(&out, "--out")?;
            let codes = read_raw_codes(&raw_u64, bits)?;
            if append && out.exists() {
                let old = Index::load(&out).map_err(|e| bad_input(e.to_string()))?;
                if old.bits() != bits {
                    return Err(bad_input(format!(
                        "{}: index holds {}-bit codes, cannot append {bits}-bit codes",
                        out.display(),
                        old.bits()
                    )));
                }
                let first = old.ids().max().map_or(0, |m| m + 1);
                let ids: Vec<u64> = (first..first + codes.len() as u64).collect();
                let index = imsat_runtime::index::append(&out, &ids, &codes)
                    .map_err(|e| bad_input(e.to_string()))?;
                (index, out)
            } else {
                let index = Index::from_codes(codes);
                index
                    .save(&out)
                    .with_context(|| format!("writing {}", out.display()))?;
                (index, out)
            }
        }
        Action::Build { model, data, out } => {
            super::check_output_file(&out, "--out")?;
            let codes = super::encode::encode_hash_codes(&model, &data, ctx)?;
            let index = Index::from_codes(codes);
            index
                .save(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            (index, out)
        }
    };
    println!(
        "{}",
        json!({
            "index": out.display().to_string(),
            "codes": index.len(),
            "bits": index.bits(),
            "bytes": index.byte_len(),
            "seconds": started.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}
