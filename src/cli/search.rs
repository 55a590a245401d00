//! `imsat search`: exact k-NN or radius search over an index file.

use std::path::PathBuf;
use std::time::Instant;

use imsat_runtime::index::Index;
use imsat_runtime::search::Neighbor;
use serde_json::json;

use super::{Ctx, bad_input};

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
}

pub fn run(args: Args, _ctx: &Ctx) -> anyhow::Result<()> {
    let index = Index::load(&args.index).map_err(|e| bad_input(e.to_string()))?;
    let queries = super::index::read_raw_codes(&args.queries_raw_u64, index.bits())?;
    if args.radius.is_none() && args.k == 0 {
        return Err(bad_input("-k must be at least 1"));
    }
    if let Some(r) = args.radius
        && r as usize > index.bits()
    {
        return Err(bad_input(format!(
            "--radius {r} is larger than the code width ({} bits)",
            index.bits()
        )));
    }
    let mih = match args.radius {
        Some(r) => {
            let m = index.mih()?;
            m.is_cheaper_than_scan(r).then_some(m)
        }
        None => None,
    };
    let started = Instant::now();
    let results: Vec<Vec<Neighbor>> = match (args.radius, &mih) {
        // k-NN: batched scan, one pass over memory for up to 32 queries at a time.
        (None, _) => index.knn_batch(&queries, args.k)?,
        (Some(r), Some(m)) => queries
            .iter()
            .map(|q| {
                let mut v = m.radius(q, r)?;
                index.resolve(&mut v);
                Ok(v)
            })
            .collect::<Result<_, imsat_runtime::error::Error>>()?,
        (Some(r), None) => queries
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
        })
    )?;
    Ok(())
}
