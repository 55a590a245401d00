//! `imsat index info`: what an index file holds and what its card of names says, both
//! checked (the index's checksum, the card against that version of it), as one JSON object:
//! what an app on a device, or a person looking into one, needs before searching.

use std::path::Path;

use imsat_runtime::index::{Index, VERSION};
use serde_json::{Value, json};

use crate::cli::common::index_card::{Card, card_path, file_sha256, read_card};
use crate::cli::common::unreadable_index;

/// The description of the index file `path` and its card.
pub fn info(path: &Path) -> anyhow::Result<Value> {
    let index = Index::load(path).map_err(|e| unreadable_index(path, e))?;
    let last = index.len().checked_sub(1).and_then(|row| index.id(row));
    let ids_are_rows = index.ids().enumerate().all(|(row, id)| id == row as u64);
    let card = match read_card(path, index.len(), index.bits())? {
        Card::None => Value::Null,
        Card::SetAside(why) => json!({
            "path": card_path(path).display().to_string(),
            "fits": false,
            "why": why,
        }),
        Card::Fits(card) => {
            let soft = match card.soft_codes() {
                Ok(soft) => json!(soft.is_some()),
                Err(why) => json!(why),
            };
            json!({
                "path": card_path(path).display().to_string(),
                "fits": true,
                "model": card.model,
                "model_at_path": model_at_path(&card.model, &card.model_sha256),
                "model_sha256": card.model_sha256,
                "model_same_codes_as": card.model_same_codes_as,
                "named_rows": card.names.iter().flatten().count(),
                "soft_codes": soft,
                "flatness": card.flatnesses().is_some(),
            })
        }
    };
    Ok(json!({
        "index": path.display().to_string(),
        "format_version": VERSION,
        "codes": index.len(),
        "bits": index.bits(),
        "bytes": index.byte_len(),
        "first_id": index.id(0),
        "last_id": last,
        // A faiss IndexBinaryFlat numbers its codes 0..N-1: only such an index exports to it.
        "ids_are_rows": ids_are_rows,
        "card": card,
    }))
}

/// What the file at the card's model path is now: `the same file` (its SHA-256), `another
/// file` (rewritten or replaced since), or `missing` (moved, deleted, or unreadable).
fn model_at_path(model: &str, sha256: &str) -> &'static str {
    match file_sha256(Path::new(model)) {
        Ok(sha) if sha.eq_ignore_ascii_case(sha256) => "the same file",
        Ok(_) => "another file",
        Err(_) => "missing",
    }
}
