//! `imsat search`: exact k-NN or radius search over an index file, by raw codes or by
//! images (encoded by the model that built the index), and `--copies`: the rows a photo
//! model takes for copies of each query, as `imsat dedup` decides.

mod queries;
mod source;

use std::path::PathBuf;
use std::time::Instant;

use imsat_runtime::code::Codes;
use imsat_runtime::dedup::plain_pair;
use imsat_runtime::mih::Mih;
use imsat_runtime::search::Neighbor;
use imsat_runtime::soft_code::{SoftCheck, distance as soft_distance};
use serde_json::json;

use super::common::index_card::{Card, IndexCard, card_path, read_card};
use super::common::radius::f32_json;
use super::common::{Ctx, NamedStdout, bad_input, text_name, unreadable_index};
use queries::{Queries, read_queries};
use source::{Opened, Source};

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("queries").required(true).args(["queries_raw_u64", "queries_npy", "query"])))]
pub struct Args {
    /// Index file (from `imsat index`); `-` reads it from standard input.
    #[arg(long, value_parser = super::common::in_path)]
    pub index: PathBuf,
    /// Queries as raw little-endian u64 codes of the index's width (`-`: standard input).
    #[arg(long, value_parser = super::common::in_path)]
    pub queries_raw_u64: Option<PathBuf>,
    /// Queries as a NumPy uint8 [N, ceil(bits/8)] array of packed codes of the index's width
    /// (`imsat encode --out q.npy` writes one; `np.packbits(bits, axis=1,
    /// bitorder="little")`; `-`: standard input).
    #[arg(long, value_parser = super::common::in_path)]
    pub queries_npy: Option<PathBuf>,
    /// Query images: one image file, a folder of them (nested folders welcome) or an IDX
    /// file (`.npy` features for a feature model), encoded with --model, which must be the
    /// model that built the index (its card, INDEX.names.json, says which).
    #[arg(long, requires = "model")]
    pub query: Option<PathBuf>,
    /// The hash model that encodes the --query images.
    #[arg(long, requires = "query")]
    pub model: Option<PathBuf>,
    /// Number of nearest neighbours, nearest first and equal distances by id (faiss's
    /// order); all codes when the index holds fewer.
    #[arg(short, long, default_value_t = 10, conflicts_with_all = ["radius", "copies"])]
    pub k: usize,
    /// Return every code within this Hamming distance instead of the k nearest, nearest
    /// first and equal distances by id.
    #[arg(long, conflicts_with = "copies")]
    pub radius: Option<u32>,
    /// Return the rows the model takes for copies of each query image, as `imsat dedup`
    /// pairs them: within its soft check (candidates within its soft radius, confirmed by
    /// their soft codes, which `index build` keeps in the card) or else within its dedup
    /// radius. Photo models.
    #[arg(long, requires = "query")]
    pub copies: bool,
    /// One JSON line per query (`ids`, `distances`; where known `query`, the rows' `names`
    /// and `soft_distances`), then a summary line.
    #[arg(long)]
    pub json: bool,
    /// Search the file in place (memory-mapped, no copy of the codes) whatever its size;
    /// files of 64 MiB or more are always searched in place.
    #[arg(long)]
    pub in_place: bool,
}

/// Times the index and its card are read again when the card describes another version of
/// the index: an append renames the new index into place a moment before its card, and a
/// search between the two renames would otherwise drop every name.
const CARD_READS: usize = 5;

/// Open the index `args.index` and read its card beside it (again, see [`CARD_READS`]), then
/// search it. The index is checked once per read (a mapped file's CRC is a pass over it), and
/// the search runs on the view that was checked.
pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<()> {
    // (clap's `requires` let this through: said here, not ignored.)
    if args.model.is_some() && args.query.is_none() {
        return Err(bad_input(
            "--model encodes --query images; codes (--queries-raw-u64, --queries-npy) need \
             none",
        ));
    }
    // One stream (standard input, a pipe) read for both: the index would take it all.
    let code_queries = [
        ("--queries-raw-u64", &args.queries_raw_u64),
        ("--queries-npy", &args.queries_npy),
    ];
    for (flag, queries) in code_queries {
        if queries.as_ref() == Some(&args.index) && !args.index.is_file() {
            return Err(bad_input(format!(
                "--index and {flag} both read {}: one stream cannot hold both; give one of \
                 them as a file",
                args.index.display()
            )));
        }
    }
    let mut reads = 0;
    loop {
        let opened = Opened::open(&args.index, args.in_place)
            .map_err(|e| unreadable_index(&args.index, e))?;
        let source = opened
            .source(&args.index)
            .map_err(|e| bad_input(e.to_string()))?;
        let card = read_card(&args.index, source.len(), source.bits())?;
        reads += 1;
        if !matches!(card, Card::SetAside(_)) || reads == CARD_READS {
            return search(args, source, card, ctx);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The search of [`run`], on the opened index and the card read beside it.
fn search(args: Args, source: Source<'_>, card: Card, ctx: &Ctx) -> anyhow::Result<()> {
    let bits = source.bits();
    let card = match card {
        Card::Fits(card) => Some(card),
        Card::None => {
            if let Some(model) = &args.model {
                errln!(
                    "warning: {} has no card of names beside it ({}): results are ids only, \
                     and that its codes came from {} is not checked",
                    args.index.display(),
                    card_path(&args.index).display(),
                    model.display()
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
            errln!("warning: {why}; results are ids only{unchecked}");
            None
        }
    };
    if args.radius.is_none() && !args.copies && args.k == 0 {
        return Err(bad_input("-k must be at least 1"));
    }
    if let Some(r) = args.radius
        && r as usize > bits
    {
        return Err(bad_input(format!(
            "--radius {r} is larger than the code width ({bits} bits)"
        )));
    }
    let queries = read_queries(&args, bits, card.as_ref(), ctx)?;
    // The rows' soft codes, decoded only for queries that have theirs.
    let card_soft = match (&card, &queries.soft) {
        (Some(card), Some(_)) => card.soft_codes().unwrap_or_else(|why| {
            let path = card_path(&args.index);
            errln!("warning: {}: {why}; no soft distances", path.display());
            None
        }),
        _ => None,
    };
    let soft = match (&queries.soft, &card_soft) {
        (Some(q), Some(rows)) => Some((q, rows)),
        _ => None,
    };
    // The rows' flatness, for dedup's plain-picture rule.
    let row_flatness = card.as_ref().and_then(IndexCard::flatnesses);
    let copies = match args.copies {
        true => Some(Copies::of(&queries, soft.is_some()).ok_or_else(|| {
            bad_input(format!(
                "--copies: {} holds no soft codes for the model's soft check, and the model \
                 has no dedup radius to go by; search with --radius",
                args.index.display()
            ))
        })?),
        false => None,
    };
    if copies.is_some_and(|c| c.check.is_none()) && queries.soft_check.is_some() && card.is_some() {
        errln!(
            "note: {} holds no soft codes (appended to by codes, or by photos without them), \
             so copies go by the model's Hamming radius; build the index anew to keep them",
            card_path(&args.index).display()
        );
    }
    let radius = copies.map(|c| c.radius).or(args.radius);
    let codes = &queries.codes;
    // The time counted includes building the tables: the search waits for them.
    let started = Instant::now();
    // Multi-index hashing keeps tables beside the codes: for loaded indexes only, and only
    // where they can pay (not for a few very wide codes, nor for a few queries, which scans
    // answer before the tables are built), and where their lookups are cheaper than a scan
    // in these codes.
    let mut tables_seconds = None;
    let mih = match (radius, &source) {
        (Some(r), Source::Loaded(index))
            if Mih::worth_building_for(bits, index.len(), codes.len()) =>
        {
            let m = index.mih()?;
            tables_seconds = Some(started.elapsed().as_secs_f64());
            m.is_cheaper_than_scan(r).then_some(m)
        }
        _ => None,
    };
    // The answers of queries `part`.
    let answer = |part: std::ops::Range<usize>| -> anyhow::Result<Vec<Vec<Neighbor>>> {
        let wpc = codes.words_per_code();
        let words = codes.as_words()[part.start * wpc..part.end * wpc].to_vec();
        let codes = Codes::from_words(bits, words)?;
        Ok(match (&source, radius, &mih) {
            // k-NN: batched scan, one pass over memory for up to 32 queries at a time.
            (Source::InPlace(view), None, _) => view.knn_batch(&codes, args.k)?,
            (Source::Loaded(index), None, _) => index.knn_batch(&codes, args.k)?,
            (Source::InPlace(view), Some(r), _) => codes
                .iter()
                .map(|q| view.radius(q, r))
                .collect::<Result<_, _>>()?,
            (Source::Loaded(index), Some(r), Some(m)) => codes
                .iter()
                .map(|q| index.mih_radius(m, q, r))
                .collect::<Result<_, _>>()?,
            (Source::Loaded(index), Some(r), None) => codes
                .iter()
                .map(|q| index.radius(q, r))
                .collect::<Result<_, _>>()?,
        })
    };
    // The soft codes of query q and of a neighbour's row.
    let rows_of = |q: usize, n: &Neighbor| {
        let (qs, rows) = soft?;
        Some((qs.row(q), rows.row(source.row_of(n.id)?)))
    };
    let soft_of = |q: usize, n: &Neighbor| rows_of(q, n).map(|(a, b)| soft_distance(a, b));
    // Dedup's plain-picture rule: a plain picture is a copy only of a plain picture of its
    // colour, never of a detailed one (unknown flatness vetoes nothing).
    let plain_ok = |q: usize, n: &Neighbor| {
        let query = queries.flatness.get(q).copied().flatten();
        let row = source
            .row_of(n.id)
            .and_then(|row| row_flatness.as_ref()?.get(row).copied().flatten());
        match (query, row) {
            (Some(a), Some(b)) => plain_pair(a, b) != Some(false),
            _ => true,
        }
    };
    let mut out = std::io::BufWriter::new(NamedStdout(std::io::stdout().lock()));
    use std::io::Write;
    // A row's name from the card (rows are in id order, so the row of an id is its rank).
    let name_of = |id: u64| {
        let card = card.as_ref()?;
        card.names.get(source.row_of(id)?).cloned().flatten()
    };
    // Answers are held for a part of the queries at a time, at most HELD neighbours' worth:
    // `-k 1000000` over a million codes would hold 16 GB for a thousand queries at once.
    const HELD: usize = 1 << 22;
    let per_query = match radius {
        None => args.k.min(source.len()),
        Some(_) => source.len(),
    };
    let part_len = (HELD / per_query.max(1)).max(1);
    // Searching time: the tables' build, then each part's answers (not their printing).
    let mut seconds = started.elapsed().as_secs_f64();
    for first in (0..codes.len()).step_by(part_len) {
        let part = first..(first + part_len).min(codes.len());
        let t = Instant::now();
        let mut results = answer(part.clone())?;
        if let Some(c) = copies {
            for (i, r) in results.iter_mut().enumerate() {
                let q = part.start + i;
                r.retain(|n| {
                    let confirmed = match c.check {
                        Some(check) => {
                            rows_of(q, n).is_some_and(|(a, b)| check.confirms_rows(a, b))
                        }
                        None => true,
                    };
                    confirmed && plain_ok(q, n)
                });
            }
        }
        seconds += t.elapsed().as_secs_f64();
        for (i, r) in results.iter().enumerate() {
            let q = part.start + i;
            let ids: Vec<u64> = r.iter().map(|n| n.id).collect();
            let distances: Vec<u32> = r.iter().map(|n| n.distance).collect();
            let names: Option<Vec<Option<String>>> = card
                .as_ref()
                .map(|_| ids.iter().map(|&id| name_of(id)).collect());
            let softs: Option<Vec<f32>> = soft.map(|_| {
                r.iter()
                    .map(|n| soft_of(q, n).unwrap_or(f32::NAN))
                    .collect()
            });
            let query = queries.names.as_ref().map(|n| n[q].as_str());
            if args.json {
                let mut line = json!({"ids": ids, "distances": distances});
                if let Some(query) = query {
                    line["query"] = json!(query);
                }
                if let Some(names) = &names {
                    line["names"] = json!(names);
                }
                if let Some(softs) = &softs {
                    line["soft_distances"] = softs.iter().map(|&d| f32_json(d)).collect();
                }
                writeln!(out, "{line}")?;
            } else if let Some(query) = query {
                // Image queries: a block each, the query's name then a neighbour a line.
                writeln!(out, "{}", text_name(query))?;
                for (i, n) in r.iter().enumerate() {
                    let name = names.as_ref().and_then(|v| v[i].as_deref());
                    let mut about = format!("id {}", n.id);
                    if let Some(d) = softs.as_ref().map(|s| s[i]) {
                        about.push_str(&format!(", soft distance {:.2}", d));
                    }
                    match name {
                        Some(name) => {
                            writeln!(out, "  {:>3}  {} ({about})", n.distance, text_name(name))?
                        }
                        None => writeln!(out, "  {:>3}  {about}", n.distance)?,
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
    }
    let mode = match (copies.is_some(), args.radius.is_some()) {
        (true, _) => "copies",
        (false, true) => "radius",
        (false, false) => "knn",
    };
    let mut summary = json!({
        "queries": codes.len(),
        "seconds": seconds,
        "queries_per_second": codes.len() as f64 / seconds.max(1e-12),
        "mode": mode,
        "path": if mih.is_some() { "multi-index" } else { "scan" },
        "index": match source {
            Source::InPlace(_) => "in place (memory-mapped)",
            Source::Loaded(_) => "loaded",
        },
    });
    if let Some(t) = tables_seconds {
        summary["tables_seconds"] = json!(t);
    }
    if let Some(r) = queries.dedup_radius {
        // The distance a photo model's copies fall within (`imsat dedup`'s radius).
        summary["dedup_radius"] = json!(r);
    }
    if let Some(c) = copies {
        summary["copies"] = match c.check {
            Some(check) => json!({
                "radius": check.radius,
                "soft_distance": f32_json(check.max_distance),
            }),
            None => json!({"radius": c.radius}),
        };
    }
    if args.query.is_some() {
        summary["skipped"] = json!(queries.skipped);
    }
    writeln!(out, "{summary}")?;
    // Flushed here, not on drop, which would lose a failed write (a full disk) and exit 0.
    out.flush()?;
    Ok(())
}

/// How `--copies` decides: candidates within `radius` bits, confirmed by the soft `check`
/// where the model has one and the soft codes of queries and rows are known.
#[derive(Debug, Clone, Copy)]
struct Copies {
    radius: u32,
    check: Option<SoftCheck>,
}

impl Copies {
    /// The query model's operating point (checked to exist when the queries were read).
    fn of(queries: &Queries, soft_known: bool) -> Option<Copies> {
        match (queries.soft_check, soft_known) {
            (Some(check), true) => Some(Copies {
                radius: check.radius,
                check: Some(check),
            }),
            _ => queries.dedup_radius.map(|radius| Copies {
                radius,
                check: None,
            }),
        }
    }
}
