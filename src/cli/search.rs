//! `imsat search`: exact k-NN or radius search over an index file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use imsat_runtime::code::Codes;
use imsat_runtime::encoder::Task;
use imsat_runtime::index::{FileError, Index};
use imsat_runtime::index_view::IndexView;
use imsat_runtime::mih::Mih;
use imsat_runtime::search::Neighbor;
use memmap2::Mmap;
use serde_json::json;

use super::common::codes::read_raw_codes;
use super::common::index_names::{Card, IndexNames, card_path, file_sha256, read_card};
use super::common::model::{encode_hash_codes, open_model};
use super::common::radius::photo_radius;
use super::common::{Ctx, bad_input, report_skipped, text_name};
use crate::input::BadFile;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("queries").required(true).args(["queries_raw_u64", "query"])))]
pub struct Args {
    /// Index file (from `imsat index`).
    #[arg(long)]
    pub index: PathBuf,
    /// Queries as raw little-endian u64 codes of the index's width.
    #[arg(long)]
    pub queries_raw_u64: Option<PathBuf>,
    /// Query images: one image file, a folder of them (nested folders welcome) or an IDX
    /// file, encoded with --model, which must be the model that built the index (its card,
    /// INDEX.names.json, says which).
    #[arg(long, requires = "model")]
    pub query: Option<PathBuf>,
    /// The hash model that encodes the --query images.
    #[arg(long, requires = "query")]
    pub model: Option<PathBuf>,
    /// Number of nearest neighbours.
    #[arg(short, long, default_value_t = 10, conflicts_with = "radius")]
    pub k: usize,
    /// Return every code within this Hamming distance instead of the k nearest.
    #[arg(long)]
    pub radius: Option<u32>,
    /// One JSON line per query (`ids`, `distances`), then a summary line.
    #[arg(long)]
    pub json: bool,
    /// Search the file in place (memory-mapped, no copy of the codes) whatever its size;
    /// files of 64 MiB or more are always searched in place.
    #[arg(long)]
    pub in_place: bool,
}

/// Index files at least this large are memory-mapped and searched in place instead of
/// being read into memory (the answers are the same; only the memory differs).
pub const IN_PLACE_BYTES: u64 = 64 << 20;

/// An index file, read into memory or mapped.
enum Opened {
    Loaded(Index),
    Mapped(Mmap),
}

/// What the search runs on: the loaded index or a view of the mapped bytes.
enum Source<'a> {
    Loaded(&'a Index),
    InPlace(IndexView<'a>),
}

impl Opened {
    fn open(path: &Path, in_place: bool) -> Result<Self, FileError> {
        let io = |action, source| FileError::Io {
            path: path.to_path_buf(),
            action,
            source,
        };
        let file = std::fs::File::open(path).map_err(|e| io("open", e))?;
        let size = file.metadata().map_err(|e| io("read", e))?.len();
        if !in_place && size < IN_PLACE_BYTES {
            return Index::load(path).map(Opened::Loaded);
        }
        // SAFETY: the map is read-only and outlives the views made from it. imsat never
        // rewrites an index file in place (writes go to a temporary file that is renamed),
        // so the bytes only change under us if another program edits the file during the
        // search.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| io("map", e))?;
        Ok(Opened::Mapped(map))
    }

    /// The loaded index, or the mapped file checked (header, CRC, ids, padding) and viewed.
    fn source(&self, path: &Path) -> Result<Source<'_>, FileError> {
        Ok(match self {
            Opened::Loaded(index) => Source::Loaded(index),
            Opened::Mapped(map) => Source::InPlace(IndexView::from_bytes(map).map_err(
                |source| FileError::Format {
                    path: path.to_path_buf(),
                    source,
                },
            )?),
        })
    }
}

/// The queries: raw codes, or images encoded by a model (with their names and the model's
/// dedup radius, for a photo model).
struct Queries {
    codes: Codes,
    names: Option<Vec<String>>,
    dedup_radius: Option<u32>,
    skipped: usize,
}

/// Read the raw query codes, or encode the query images with a model that fits the index:
/// its width, and the model of the index's card where there is one.
fn queries(
    args: &Args,
    bits: usize,
    card: Option<&IndexNames>,
    ctx: &Ctx,
) -> anyhow::Result<Queries> {
    let (Some(query), Some(model)) = (&args.query, &args.model) else {
        let raw = args
            .queries_raw_u64
            .as_ref()
            .ok_or_else(|| bad_input("give --queries-raw-u64, or --query with --model"))?;
        return Ok(Queries {
            codes: read_raw_codes(raw, bits)?,
            names: None,
            dedup_radius: None,
            skipped: 0,
        });
    };
    let enc = open_model(model)?;
    if enc.task() == Task::Hash && enc.outputs() != bits {
        return Err(bad_input(format!(
            "{}: makes {}-bit codes, the index {} holds {bits}-bit codes",
            model.display(),
            enc.outputs(),
            args.index.display()
        )));
    }
    if let Some(card) = card {
        let sha = file_sha256(model)?;
        if !sha.eq_ignore_ascii_case(&card.model_sha256) {
            return Err(bad_input(format!(
                "{}: was built with {} (SHA-256 {}), not {} (SHA-256 {sha}): codes of two \
                 models are not comparable; search with --model {}",
                args.index.display(),
                card.model,
                card.model_sha256,
                model.display(),
                card.model
            )));
        }
    }
    let encoded = encode_hash_codes(model, query, BadFile::Skip, !ctx.quiet)?;
    report_skipped(&encoded.skipped);
    Ok(Queries {
        codes: encoded.codes,
        names: Some(encoded.names),
        dedup_radius: photo_radius(enc.info()),
        skipped: encoded.skipped.len(),
    })
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    let opened = Opened::open(&args.index, args.in_place).map_err(|e| bad_input(e.to_string()))?;
    let source = opened
        .source(&args.index)
        .map_err(|e| bad_input(e.to_string()))?;
    let (bits, len) = match &source {
        Source::Loaded(index) => (index.bits(), index.len()),
        Source::InPlace(view) => (view.bits(), view.len()),
    };
    let card = match read_card(&args.index, len, bits)? {
        Card::Fits(card) => Some(card),
        Card::None => {
            if args.query.is_some() {
                eprintln!(
                    "warning: {} has no card of names beside it ({}): results are ids only, \
                     and that its codes came from {} is not checked",
                    args.index.display(),
                    card_path(&args.index).display(),
                    args.model
                        .as_deref()
                        .unwrap_or(Path::new("the model"))
                        .display()
                );
            }
            None
        }
        Card::SetAside(why) => {
            let unchecked = if args.query.is_some() {
                ", and the query model is not checked"
            } else {
                ""
            };
            eprintln!("warning: {why}; results are ids only{unchecked}");
            None
        }
    };
    if args.radius.is_none() && args.k == 0 {
        return Err(bad_input("-k must be at least 1"));
    }
    if let Some(r) = args.radius
        && r as usize > bits
    {
        return Err(bad_input(format!(
            "--radius {r} is larger than the code width ({bits} bits)"
        )));
    }
    let Queries {
        codes: queries,
        names: query_names,
        dedup_radius,
        skipped,
    } = queries(&args, bits, card.as_ref(), ctx)?;
    // Multi-index hashing keeps tables beside the codes: for loaded indexes only, and only
    // where they can pay (not for a few very wide codes).
    let mih = match (args.radius, &source) {
        (Some(r), Source::Loaded(index)) if Mih::worth_building(bits, index.len()) => {
            let m = index.mih()?;
            m.is_cheaper_than_scan(r).then_some(m)
        }
        _ => None,
    };
    let started = Instant::now();
    let results: Vec<Vec<Neighbor>> = match (&source, args.radius, &mih) {
        // k-NN: batched scan, one pass over memory for up to 32 queries at a time.
        (Source::InPlace(view), None, _) => view.knn_batch(&queries, args.k)?,
        (Source::Loaded(index), None, _) => index.knn_batch(&queries, args.k)?,
        (Source::InPlace(view), Some(r), _) => queries
            .iter()
            .map(|q| view.radius(q, r))
            .collect::<Result<_, _>>()?,
        (Source::Loaded(index), Some(r), Some(m)) => queries
            .iter()
            .map(|q| {
                let mut v = m.radius(q, r)?;
                index.resolve(&mut v);
                Ok(v)
            })
            .collect::<Result<_, imsat_runtime::error::Error>>()?,
        (Source::Loaded(index), Some(r), None) => queries
            .iter()
            .map(|q| index.radius(q, r))
            .collect::<Result<_, _>>()?,
    };
    let seconds = started.elapsed().as_secs_f64();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    use std::io::Write;
    // A row's name from the card (rows are in id order, so the row of an id is its rank).
    let row_names = card.as_ref().map(|c| {
        |id: u64| {
            match &source {
                Source::Loaded(index) => index.row_of(id),
                Source::InPlace(view) => view.row_of(id),
            }
            .and_then(|row| c.names.get(row).cloned().flatten())
        }
    });
    for (q, r) in results.iter().enumerate() {
        let ids: Vec<u64> = r.iter().map(|n| n.id).collect();
        let distances: Vec<u32> = r.iter().map(|n| n.distance).collect();
        let names: Option<Vec<Option<String>>> = row_names
            .as_ref()
            .map(|name_of| ids.iter().map(|&id| name_of(id)).collect());
        let query = query_names.as_ref().map(|n| n[q].as_str());
        if args.json {
            let mut line = json!({"ids": ids, "distances": distances});
            if let Some(query) = query {
                line["query"] = json!(query);
            }
            if let Some(names) = &names {
                line["names"] = json!(names);
            }
            writeln!(out, "{line}")?;
        } else if let Some(query) = query {
            // Image queries: a block each, the query's name then a neighbour a line.
            writeln!(out, "{}", text_name(query))?;
            for (i, n) in r.iter().enumerate() {
                let name = names.as_ref().and_then(|v| v[i].as_deref());
                match name {
                    Some(name) => writeln!(
                        out,
                        "  {:>3}  {} (id {})",
                        n.distance,
                        text_name(name),
                        n.id
                    )?,
                    None => writeln!(out, "  {:>3}  id {}", n.distance, n.id)?,
                }
            }
        } else {
            let pairs: Vec<String> = r
                .iter()
                .map(|n| format!("{}:{}", n.id, n.distance))
                .collect();
            writeln!(out, "{}", pairs.join(" "))?;
        }
    }
    let mut summary = json!({
            "queries": results.len(),
            "seconds": seconds,
            "queries_per_second": results.len() as f64 / seconds.max(1e-12),
            "mode": if args.radius.is_some() { "radius" } else { "knn" },
            "path": if mih.is_some() { "multi-index" } else { "scan" },
            "index": match source {
                Source::InPlace(_) => "in place (memory-mapped)",
                Source::Loaded(_) => "loaded",
            },
    });
    if let Some(r) = dedup_radius {
        // The distance a photo model's copies fall within (`imsat dedup`'s radius).
        summary["dedup_radius"] = json!(r);
    }
    if args.query.is_some() {
        summary["skipped"] = json!(skipped);
    }
    writeln!(out, "{summary}")?;
    Ok(())
}
