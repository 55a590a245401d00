//! `imsat index`: build an index file from images (through a model), import codes (raw,
//! `.npy`, a faiss binary index), export them (`.npy`, faiss), remove rows or describe one.

mod build;
mod info;
mod remove;

use std::path::{Path, PathBuf};

use anyhow::Context;
use imsat_runtime::atomic_file::write_atomic;
use imsat_runtime::code::Codes;
use imsat_runtime::index::Index;
use serde_json::json;

use super::common::codes::{read_npy_codes, read_raw_codes};
use super::common::index_card::{
    Card, card_path, card_to_write, check_not_a_card, read_card, save_with_card,
};
use super::common::index_lock::{lock_for_append, lock_to_replace};
use super::common::{
    Ctx, OutputKind, bad_input, check_output_file, check_replaces_only, is_stdout, print_summary,
    unreadable_index,
};
use crate::input::BadFile;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand)]
pub enum Action {
    /// Import codes: raw little-endian u64 words (bit p of a code is bit p%64 of word p/64),
    /// a `.npy` uint8 [N, bytes] array (as `imsat encode --out codes.npy` writes), or a faiss
    /// IndexBinaryFlat file (ids 0..N-1; other faiss indexes are refused).
    #[command(
        after_help = "Examples (codes.u64 and codes.npy from `imsat encode`, of the hash model's bits):\n  imsat index import --raw-u64 codes.u64 --bits 16 --out codes.idx\n  imsat index import --npy codes.npy --out codes.idx\n  imsat index import --faiss mnist.faiss --out codes.idx   # from faiss or `imsat index export`"
    )]
    #[command(group(clap::ArgGroup::new("codes").required(true).args(["raw_u64", "npy", "faiss"])))]
    Import {
        /// Raw little-endian u64 words, ceil(bits/64) per code (needs --bits; `-`: standard
        /// input).
        #[arg(long, value_parser = super::common::in_path)]
        raw_u64: Option<PathBuf>,
        /// Packed codes, uint8 [N, ceil(bits/8)], bit p in bit p%8 of byte p/8 (`-`:
        /// standard input).
        #[arg(long, value_parser = super::common::in_path)]
        npy: Option<PathBuf>,
        /// A faiss IndexBinaryFlat file (`faiss.write_index_binary`); codes of its d bits
        /// (`-`: standard input).
        #[arg(long, value_parser = super::common::in_path)]
        faiss: Option<PathBuf>,
        /// Bits per code [raw: required; npy: default 8 x the bytes per code; faiss: d].
        #[arg(long)]
        bits: Option<usize>,
        /// The index file (`-`: standard output).
        #[arg(long, value_parser = super::common::out_path)]
        out: PathBuf,
        /// Add the codes to an existing index (ids continue after its largest id).
        #[arg(long)]
        append: bool,
    },
    /// Write an index's codes for another engine: a faiss IndexBinaryFlat file
    /// (`faiss.read_index_binary` opens it; ids must be 0..N-1 in order) or a `.npy` uint8
    /// [N, ceil(bits/8)] array (Milvus BINARY_VECTOR rows, `np.unpackbits(.., bitorder="little")`).
    #[command(
        after_help = "Example:\n  imsat index export --index mnist.idx --format faiss --out mnist.faiss"
    )]
    Export {
        /// The index file to export; `-` reads it from standard input.
        #[arg(long, value_parser = super::common::in_path)]
        index: PathBuf,
        #[arg(long, value_parser = ["faiss", "npy"])]
        format: String,
        /// The faiss or `.npy` file (`-`: standard output).
        #[arg(long, value_parser = super::common::out_path)]
        out: PathBuf,
    },
    /// Encode images with a hash model and index their codes (ids = image order). Beside
    /// the index, OUT.names.json records each row's file and the model (its SHA-256), so
    /// that `imsat search --query` answers with file names and refuses another model.
    #[command(
        after_help = "Examples:\n  imsat index build --model models/hash32.onnx --data data/mnist10k/images-idx3-ubyte.gz --out mnist.idx\n  imsat index build --model models/photo64.int8.onnx --data my_photos/ --out photos.idx\n  imsat index build --model models/photo64.int8.onnx --data new_photos/ --out photos.idx --append"
    )]
    Build {
        /// The hash model that encodes the images (`model.onnx` or `model.int8.onnx`); its
        /// SHA-256 goes in the card, and a search by image must use the same model.
        #[arg(long)]
        model: PathBuf,
        /// IDX file, a folder of images or one image; `.npy` features for a model trained
        /// on features.
        #[arg(long)]
        data: PathBuf,
        /// The index file (`-`: standard output, without the card of names).
        #[arg(long, value_parser = super::common::out_path)]
        out: PathBuf,
        /// Add the codes to an existing index (ids continue after its largest id); the
        /// model must be the one that built it, and files already in it (by their resolved
        /// path) are not read again.
        #[arg(long)]
        append: bool,
        /// Leave out the files of the folder that cannot be decoded, naming each on stderr,
        /// in place of stopping at the first (the card names each row's file, so no row
        /// is taken for another).
        #[arg(long)]
        skip_bad: bool,
    },
    /// Remove rows from an index: by id, or every row whose file (as the card of names
    /// beside the index names it) is gone. The card loses the same rows, written with the
    /// index as one change; the other rows keep their ids (an append numbers new rows after
    /// the largest id left, so ids removed from the end are given again).
    #[command(
        after_help = "Examples:\n  imsat index remove --index photos.idx --missing --dry-run\n  imsat index remove --index photos.idx --missing\n  imsat index remove --index mnist.idx --ids 3,17"
    )]
    #[command(group(clap::ArgGroup::new("rows").required(true).args(["ids", "missing"])))]
    Remove {
        /// The index file to remove rows from; its card of names (`INDEX.names.json`), if
        /// any, must fit it (a card cut short or of another version of the file is refused,
        /// as an append refuses it).
        #[arg(long)]
        index: PathBuf,
        /// Ids to remove, comma-separated (`imsat search` answers with ids); every one must
        /// be in the index, or nothing is removed.
        #[arg(long, value_delimiter = ',')]
        ids: Vec<u64>,
        /// Remove the rows whose files are gone (deleted or moved since they were indexed);
        /// refused when every file is gone (a folder moved or not mounted).
        #[arg(long)]
        missing: bool,
        /// Say which rows would be removed, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Describe an index as one JSON line: its codes, width, ids and format version, and
    /// what its card of names says (the model and its SHA-256, how many rows are named,
    /// whether soft codes are kept), each checked against the file.
    #[command(after_help = "Example:\n  imsat index info --index photos.idx")]
    Info {
        /// The index file to describe (its card of names, `INDEX.names.json`, is read beside
        /// it); `-` reads it from standard input.
        #[arg(long, value_parser = super::common::in_path)]
        index: PathBuf,
    },
}

/// Say so when no raw code sets a bit in the upper half of `--bits`: a narrower model's
/// codes (raw words carry no width: `--bits 64` takes 16-bit codes without a complaint).
/// A note, not an error: few codes may leave high bits clear by chance, so it needs 32.
fn note_narrower_codes(path: &Path, codes: &Codes) {
    let bits = codes.bits();
    if bits > 64 || codes.len() < 32 {
        return;
    }
    let used = 64
        - codes
            .as_words()
            .iter()
            .fold(0, |a, w| a | w)
            .leading_zeros() as usize;
    if used <= bits / 2 {
        errln!(
            "note: {}: no code sets a bit above the lowest {used} of {bits}: codes of a \
             narrower model? (give its width as --bits)",
            path.display()
        );
    }
}

/// Read the codes of a faiss IndexBinaryFlat file; `bits`, if given, must be its `d` or fit in
/// it with the extra bits all zero.
fn read_faiss_codes(path: &Path, bits: Option<usize>) -> anyhow::Result<Codes> {
    let bad = |m: String| bad_input(format!("{}: {m}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let codes = crate::faiss::read_flat(&bytes).map_err(bad)?;
    match bits {
        None => Ok(codes),
        Some(b) if b == codes.bits() => Ok(codes),
        Some(b) if b > 0 && imsat_runtime::code::packed_bytes(b) * 8 == codes.bits() => {
            let bytes = codes.to_packed_bytes();
            Codes::from_packed_bytes(b, &bytes).map_err(|e| {
                bad(format!(
                    "{e}: its codes use more than {b} bits (leave --bits out for its {} bits)",
                    codes.bits()
                ))
            })
        }
        Some(b) => Err(bad(format!(
            "--bits {b} does not fit the index's {}-bit codes",
            codes.bits()
        ))),
    }
}

fn export(index_path: &Path, format: &str, out: &Path, out_is_stdout: bool) -> anyhow::Result<()> {
    check_output_file(out, "--out", &[index_path])?;
    check_not_a_card(out, "--out")?;
    let kind = match format {
        "faiss" => OutputKind::Faiss,
        _ => OutputKind::Npy,
    };
    check_replaces_only(out, "--out", kind)?;
    check_extension(out, format, out_is_stdout)?;
    let index = Index::load(index_path).map_err(|e| unreadable_index(index_path, e))?;
    if index.is_empty() {
        return Err(bad_input(format!(
            "{}: the index is empty, nothing to export",
            index_path.display()
        )));
    }
    if format == "faiss"
        && let Some((row, id)) = index.ids().enumerate().find(|&(row, id)| id != row as u64)
    {
        return Err(bad_input(format!(
            "{}: row {row} has id {id}; a faiss IndexBinaryFlat numbers its codes 0..N-1, so \
             only an index with ids 0..N-1 in order exports (export --format npy keeps the \
             codes; give the ids to the engine yourself)",
            index_path.display()
        )));
    }
    if format == "npy"
        && let Some((row, id)) = index.ids().enumerate().find(|&(row, id)| id != row as u64)
    {
        errln!(
            "note: {}: its ids are not the rows 0..N-1 (row {row} has id {id}); the .npy holds \
             the codes in id order, row r for the r-th smallest id, and no ids",
            index_path.display()
        );
    }
    match format {
        "faiss" => write_atomic(out, &crate::faiss::write_flat(index.codes()))
            .with_context(|| format!("writing {}", out.display()))?,
        _ => crate::npy::write_codes(out, index.codes())?,
    }
    print_summary(
        out_is_stdout,
        &json!({
            "index": index_path.display().to_string(),
            "format": format,
            "out": out.display().to_string(),
            "codes": index.len(),
            "bits": index.bits(),
            "exported_bits": 8 * imsat_runtime::code::packed_bytes(index.bits()),
        }),
    )?;
    Ok(())
}

/// Extensions that name a format `index export --format` does not write: a file named so
/// would be opened as that format and fail there.
const OTHER_FORMATS: [(&str, &str); 5] = [
    ("npz", "an .npz archive"),
    ("csv", "a CSV of codes"),
    ("u64", "raw u64 codes"),
    ("idx", "an imsat index"),
    ("onnx", "an ONNX model"),
];

/// Bad input when `out`'s extension names another format than `format` (`.npy` for faiss
/// bytes, `.faiss` for a `.npy` array, or one of [`OTHER_FORMATS`]): `np.load` or
/// `faiss.read_index_binary` would fail on it later, far from this command.
fn check_extension(out: &Path, format: &str, out_is_stdout: bool) -> anyhow::Result<()> {
    let Some(ext) = out.extension().filter(|_| !out_is_stdout) else {
        return Ok(());
    };
    let ext = ext.to_string_lossy().to_ascii_lowercase();
    let named = match (format, ext.as_str()) {
        ("faiss", "npy") => "a .npy array",
        ("npy", "faiss") => "a faiss index",
        _ => match OTHER_FORMATS.iter().find(|(e, _)| *e == ext) {
            Some((_, what)) => what,
            None => return Ok(()),
        },
    };
    let (writes, name) = match format {
        "faiss" => ("a faiss IndexBinaryFlat", "FILE.faiss"),
        _ => ("a .npy array", "FILE.npy"),
    };
    Err(bad_input(format!(
        "--out {}: its name says {named}, but --format {format} writes {writes}: name it \
         {name}",
        out.display()
    )))
}

/// Bad input when an index `out` (of `index import` or `build`) is named as another format
/// (`.npy`, `.faiss` or one of [`OTHER_FORMATS`] but `.idx`): numpy or faiss would fail on
/// the imsat index later, far from this command.
fn check_index_name(out: &Path, command: &str) -> anyhow::Result<()> {
    if is_stdout(out) {
        return Ok(());
    }
    let Some(ext) = out.extension() else {
        return Ok(());
    };
    let ext = ext.to_string_lossy().to_ascii_lowercase();
    let formats = [("npy", "a .npy array"), ("faiss", "a faiss index")];
    let Some((_, named)) =
        (formats.iter().chain(&OTHER_FORMATS)).find(|(e, _)| *e == ext && *e != "idx")
    else {
        return Ok(());
    };
    let export = match ext.as_str() {
        "npy" | "faiss" => {
            format!(" (`imsat index export --format {ext}` writes that from an index)")
        }
        _ => String::new(),
    };
    Err(bad_input(format!(
        "--out {}: its name says {named}, but `imsat index {command}` writes an imsat index: \
         name it FILE.idx{export}",
        out.display()
    )))
}

/// The ids of `n` codes appended to `index` (the file `out`): after its largest id, from 0
/// for an empty index; bad input when they would run past `u64::MAX`.
pub fn ids_after(index: &Index, n: usize, out: &Path) -> anyhow::Result<Vec<u64>> {
    let largest = index.ids().max();
    let first = largest.map_or(Some(0), |m| m.checked_add(1));
    let ids = first.and_then(|first| match n {
        0 => Some(Vec::new()),
        _ => Some((first..=first.checked_add(n as u64 - 1)?).collect()),
    });
    ids.ok_or_else(|| {
        bad_input(format!(
            "{}: its largest id is {}, so {n} more ids would run past the largest id (2^64 - 1)",
            out.display(),
            largest.unwrap_or(0)
        ))
    })
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // Files of a built folder left out (formats not read), for the summary.
    let mut skipped = None;
    // The card written beside a built index.
    let mut card = None;
    let out_is_stdout = match &args.action {
        Action::Export { out, .. } | Action::Import { out, .. } | Action::Build { out, .. } => {
            is_stdout(out)
        }
        Action::Remove { .. } | Action::Info { .. } => false,
    };
    let (index, out) = match args.action {
        Action::Info { index } => {
            print_summary(false, &info::info(&index)?)?;
            return Ok(());
        }
        Action::Remove {
            index,
            ids,
            missing,
            dry_run,
        } => {
            let which = match missing {
                true => remove::Which::Missing,
                false => remove::Which::Ids(ids),
            };
            return remove::report(&index, &which, dry_run, started);
        }
        Action::Export { index, format, out } => {
            return export(&index, &format, &out, out_is_stdout);
        }
        Action::Import {
            raw_u64,
            npy,
            faiss,
            bits,
            out,
            append,
        } => {
            let inputs: Vec<&Path> = [&raw_u64, &npy, &faiss]
                .into_iter()
                .flatten()
                .map(PathBuf::as_path)
                .collect();
            check_output_file(&out, "--out", &inputs)?;
            check_not_a_card(&out, "--out")?;
            if !append {
                check_replaces_only(&out, "--out", OutputKind::Index)?;
            }
            check_index_name(&out, "import")?;
            // Whether the width is the file's own: a faiss or .npy file's, read without --bits.
            let width_read = bits.is_none() && raw_u64.is_none();
            let codes = match (raw_u64, npy, faiss) {
                (Some(raw), _, _) => {
                    let bits = bits.ok_or_else(|| bad_input("--raw-u64 needs --bits"))?;
                    let codes = read_raw_codes(&raw, bits)?;
                    note_narrower_codes(&raw, &codes);
                    codes
                }
                (_, Some(npy), _) => read_npy_codes(&npy, bits)?,
                (_, _, Some(f)) => read_faiss_codes(&f, bits)?,
                _ => return Err(bad_input("give --raw-u64, --npy or --faiss")),
            };
            let bits = codes.bits();
            if append && out.exists() {
                let _lock = lock_for_append(&out)?;
                let mut index = Index::load(&out).map_err(|e| unreadable_index(&out, e))?;
                if index.bits() != bits {
                    // A faiss or .npy file holds whole bytes: an export of 12-bit codes reads
                    // back as 16-bit ones unless told.
                    let padded =
                        width_read && 8 * imsat_runtime::code::packed_bytes(index.bits()) == bits;
                    let hint = match padded {
                        true => format!(
                            " (a faiss or .npy file pads codes to whole bytes: give --bits {} \
                             for this index's width)",
                            index.bits()
                        ),
                        false => String::new(),
                    };
                    return Err(bad_input(format!(
                        "{}: index holds {}-bit codes, cannot append {bits}-bit codes{hint}",
                        out.display(),
                        index.bits()
                    )));
                }
                let ids = ids_after(&index, codes.len(), &out)?;
                let card = read_card(&out, index.len(), index.bits())?;
                if let Card::Fits(card) = &card
                    && card.soft_f16_le_base64.is_some()
                {
                    return Err(bad_input(format!(
                        "{}: its card ({}) holds every row's soft code, the second check of \
                         `search --copies`; imported codes carry none, so appending them \
                         would drop that check for the whole index: append the photos \
                         themselves (`imsat index build --append --model {} --data DIR --out \
                         {}`), or import the codes into an index of their own",
                        out.display(),
                        card_path(&out).display(),
                        card.model,
                        out.display()
                    )));
                }
                index
                    .extend(&ids, &codes)
                    .map_err(|e| bad_input(format!("{}: {e}", out.display())))?;
                match card {
                    Card::Fits(mut card) => {
                        // The card goes on describing the index: the imported rows unnamed,
                        // of unknown flatness (which vetoes no match).
                        card.names.resize(index.len(), None);
                        if let Some(rows) = card.flatness.as_mut() {
                            rows.resize(index.len(), None);
                        }
                        let model = card.model.clone();
                        save_with_card(&index, &out, card)?;
                        errln!(
                            "note: the {} imported codes have no file names in {} (codes \
                             carry none); they are taken to be codes of {model}",
                            codes.len(),
                            card_path(&out).display(),
                        );
                    }
                    _ => index
                        .save(&out)
                        .with_context(|| format!("writing {}", out.display()))?,
                }
                (index, out)
            } else {
                let index = Index::from_codes(codes);
                // Waits for an append under way, which would otherwise put its rows over it.
                let _replacing = lock_to_replace(&out)?;
                index
                    .save(&out)
                    .with_context(|| format!("writing {}", out.display()))?;
                // A card beside it that described the index replaced (an export imported
                // back gives the same file, which it still fits).
                if let Card::SetAside(why) = read_card(&out, index.len(), index.bits())? {
                    errln!(
                        "note: the card of names beside the index no longer fits it ({why}): \
                         search sets it aside (remove it, or build the index from its images \
                         with `imsat index build`)"
                    );
                }
                (index, out)
            }
        }
        Action::Build {
            model,
            data,
            out,
            append,
            skip_bad,
        } => {
            check_output_file(&out, "--out", &[&model, &data])?;
            check_not_a_card(&out, "--out")?;
            if !append {
                check_replaces_only(&out, "--out", OutputKind::Index)?;
            }
            check_index_name(&out, "build")?;
            if card_to_write(&out)?.is_none() && skip_bad {
                return Err(bad_input(format!(
                    "--skip-bad needs the card of names beside the index, which {} (a device \
                     or a pipe) has none of: a left-out file would shift every later row",
                    out.display()
                )));
            }
            let bad = if skip_bad {
                BadFile::Skip
            } else {
                BadFile::Error
            };
            let built = build::build(&model, &data, &out, append, bad, ctx)?;
            skipped = Some(built.left_out);
            card = built.card;
            (built.index, out)
        }
    };
    let mut summary = json!({
        "index": out.display().to_string(),
        "codes": index.len(),
        "bits": index.bits(),
        "bytes": index.byte_len(),
        "seconds": started.elapsed().as_secs_f64(),
    });
    if let Some(n) = skipped {
        summary["skipped"] = json!(n);
    }
    if let Some(card) = card {
        summary["names"] = json!(card.display().to_string());
    }
    print_summary(out_is_stdout, &summary)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_named_as_another_format_is_refused() {
        for name in ["lib.idx", "lib.index", "lib", "-", "dir.npy/lib.idx"] {
            assert!(
                check_index_name(Path::new(name), "import").is_ok(),
                "{name}"
            );
        }
        for (name, says) in [
            ("codes.npy", "a .npy array"),
            ("codes.FAISS", "a faiss index"),
            ("codes.u64", "raw u64 codes"),
            ("codes.csv", "a CSV of codes"),
            ("model.onnx", "an ONNX model"),
        ] {
            let why = check_index_name(Path::new(name), "build")
                .unwrap_err()
                .to_string();
            assert!(why.contains(says) && why.contains("index build"), "{why}");
        }
    }
}
