//! `imsat search`: exact k-NN or radius search over an index file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use imsat_runtime::index::{FileError, Index};
use imsat_runtime::index_view::IndexView;
use imsat_runtime::mih::Mih;
use imsat_runtime::search::Neighbor;
use memmap2::Mmap;
use serde_json::json;

use super::common::codes::read_raw_codes;
use super::common::{Ctx, bad_input};

#[derive(clap::Args)]
pub struct Args {
    /// Index file (from `imsat index`).
    #[arg(long)]
    pub index: PathBuf,
    /// Queries as raw little-endian u64 codes of the index's width.
    #[arg(long)]
    pub queries_raw_u64: PathBuf,
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

pub fn run(args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    let opened = Opened::open(&args.index, args.in_place).map_err(|e| bad_input(e.to_string()))?;
    let source = opened
        .source(&args.index)
        .map_err(|e| bad_input(e.to_string()))?;
    let bits = match &source {
        Source::Loaded(index) => index.bits(),
        Source::InPlace(view) => view.bits(),
    };
    let queries = read_raw_codes(&args.queries_raw_u64, bits)?;
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
    for r in &results {
        let ids: Vec<u64> = r.iter().map(|n| n.id).collect();
        let distances: Vec<u32> = r.iter().map(|n| n.distance).collect();
        if args.json {
            writeln!(out, "{}", json!({"ids": ids, "distances": distances}))?;
        } else {
            let pairs: Vec<String> = r
                .iter()
                .map(|n| format!("{}:{}", n.id, n.distance))
                .collect();
            writeln!(out, "{}", pairs.join(" "))?;
        }
    }
    writeln!(
        out,
        "{}",
        json!({
            "queries": results.len(),
            "seconds": seconds,
            "queries_per_second": results.len() as f64 / seconds.max(1e-12),
            "mode": if args.radius.is_some() { "radius" } else { "knn" },
            "path": if mih.is_some() { "multi-index" } else { "scan" },
            "index": match source {
                Source::InPlace(_) => "in place (memory-mapped)",
                Source::Loaded(_) => "loaded",
            },
        })
    )?;
    Ok(())
}
