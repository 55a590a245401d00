//! `imsat encode`: images to codes (hash model) or cluster ids (cluster model).

use std::path::{Path, PathBuf};

use anyhow::Context;
use imsat_runtime::atomic_file::write_atomic;
use imsat_runtime::encoder::Encoded;
use serde_json::json;

use super::common::model::{encode_data, row_name};
use super::common::{
    Ctx, OutputKind, bad_input, check_output_file, check_replaces_only, is_stdout, print_summary,
    report_skipped,
};
use crate::input::BadFile;

#[derive(clap::Args)]
pub struct Args {
    /// Exported model (`model.onnx` or `model.int8.onnx` from `imsat train`).
    #[arg(long)]
    pub model: PathBuf,
    /// Images: an IDX file (gzipped or not) or a folder of images (subfolders too), one row
    /// per image in the order of their paths compared as byte strings (Python's
    /// `sorted(glob("**/*", recursive=True))`, `LC_ALL=C sort`: file-name order for a flat
    /// folder). Images are read by extension (jpg, jpeg, jfif, jpe, png, bmp, webp, gif, tif,
    /// tiff, any case); hidden files and folders (a name starting with `.`) are not read, other
    /// files are counted in a note. A HEIC/AVIF file, a link to a folder or a folder that
    /// cannot be listed stops the run, as a file that cannot be decoded does (`--skip-bad`).
    /// Or, for a model trained on features, a `.npy` float32/float64 [N, d] array.
    #[arg(long)]
    pub data: PathBuf,
    /// Output file. A name ending in `.npy` gets a NumPy array: packed codes as uint8
    /// [N, ceil(bits/8)] (bit p of a code in bit p%8 of byte p/8, least significant first:
    /// `np.unpackbits(codes, axis=1, bitorder="little")[:, p]` is bit p; the rows go as they
    /// are into faiss binary indexes and Milvus BINARY_VECTOR), or cluster ids as int64 [N].
    /// A name ending in `.csv` gets a `name,hex` row per image (its path below the folder,
    /// or the row number for IDX and `.npy` data; hex: those bytes, two digits each), or `name,cluster`.
    /// A name ending in `.npz` gets those names as a unicode array `names` [N] beside the
    /// `.npy` output as `codes` (or `clusters`): `np.load(path)` opens it without pickle.
    /// Any other name gets raw little-endian u64 words, ceil(bits/64) per code (what
    /// `imsat index import --raw-u64` reads), or one cluster id per line; so does `-`,
    /// standard output (the summary line then goes to stderr). An existing file is replaced
    /// only by output of its own kind (a `.npy` of integers, an `.npz` of names and codes,
    /// a CSV with `imsat encode`'s header; raw codes: a file of whole 64-bit words that is
    /// not text and does not begin as an image, an index, an ONNX model or another kind
    /// imsat knows, or a text of cluster ids), and never when it is read-only.
    #[arg(long, value_parser = super::common::out_path)]
    pub out: PathBuf,
    /// Leave out the files of the folder that cannot be decoded, naming each on stderr, in
    /// place of stopping at the first. Only with a `.csv` or `.npz` output, whose rows name
    /// their files: the other outputs' rows are the files' order, which a gap would shift.
    #[arg(long)]
    pub skip_bad: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    check_output_file(&args.out, "--out", &[&args.model, &args.data])?;
    let kind = if crate::npy::is_npy(&args.out) {
        OutputKind::Npy
    } else if crate::codes_csv::is_csv(&args.out) {
        OutputKind::Csv
    } else if crate::codes_npz::is_npz(&args.out) {
        OutputKind::Npz
    } else {
        OutputKind::Raw
    };
    check_replaces_only(&args.out, "--out", kind)?;
    let out_is_stdout = is_stdout(&args.out);
    let named = crate::codes_csv::is_csv(&args.out) || crate::codes_npz::is_npz(&args.out);
    if args.skip_bad && !named {
        return Err(bad_input(format!(
            "--skip-bad needs an output whose rows name their files (.csv or .npz), not {}: its rows are the files' order, which a left-out file would shift",
            args.out.display()
        )));
    }
    // Named rows need UTF-8 names: said before the folder is encoded, not after.
    if named && args.data.is_dir() {
        let files =
            imsat_data::photos::photo_files(&args.data).map_err(|e| bad_input(e.to_string()))?;
        for p in &files.photos {
            row_name(&args.data, p)?;
        }
    }
    let bad = if args.skip_bad {
        BadFile::Skip
    } else {
        BadFile::Error
    };
    let data = encode_data(&args.model, &args.data, bad, !ctx.quiet)?;
    report_skipped(&data.skipped);
    let (enc, encoded, seconds) = (&data.encoder, &data.encoded, data.seconds);
    let n = data.rows();
    if crate::npy::is_npy(&args.out) {
        match encoded {
            Encoded::Codes(c) => crate::npy::write_codes(&args.out, c)?,
            Encoded::Clusters(ids) => crate::npy::write_clusters(&args.out, ids)?,
        }
    } else if crate::codes_csv::is_csv(&args.out) {
        match encoded {
            Encoded::Codes(c) => crate::codes_csv::write_codes(&args.out, &data.names()?, c)?,
            Encoded::Clusters(ids) => {
                crate::codes_csv::write_clusters(&args.out, &data.names()?, ids)?
            }
        }
    } else if crate::codes_npz::is_npz(&args.out) {
        match encoded {
            Encoded::Codes(c) => crate::codes_npz::write_codes(&args.out, &data.names()?, c)?,
            Encoded::Clusters(ids) => {
                crate::codes_npz::write_clusters(&args.out, &data.names()?, ids)?
            }
        }
    } else {
        write_raw(&args.out, encoded)?;
    }
    let mut summary = json!({
        "model": args.model.display().to_string(),
        "task": enc.task().as_str(),
        "int8": enc.info().int8,
        "count": n,
        "out": args.out.display().to_string(),
        "seconds": seconds,
        "images_per_second": n as f64 / seconds.max(1e-9),
        "read_seconds": data.read_seconds,
        "skipped": data.skipped.len(),
    });
    match encoded {
        Encoded::Codes(_) => summary["bits"] = json!(enc.outputs()),
        Encoded::Clusters(_) => summary["classes"] = json!(enc.outputs()),
    }
    print_summary(out_is_stdout, &summary)?;
    Ok(())
}

/// Raw u64 words (codes) or one id per line (clusters).
fn write_raw(out: &Path, encoded: &Encoded) -> anyhow::Result<()> {
    let bytes = match encoded {
        Encoded::Codes(c) => c
            .as_words()
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect::<Vec<u8>>(),
        Encoded::Clusters(ids) => ids
            .iter()
            .map(|i| format!("{i}\n"))
            .collect::<String>()
            .into_bytes(),
    };
    write_atomic(out, &bytes).with_context(|| format!("writing {}", out.display()))
}
