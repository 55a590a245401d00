//! `imsat index remove`: rows leave an index by id, or because the files their card names
//! are gone (photos deleted from a library that is searched on the device). The card of
//! names loses the same rows and is written with the index as one change; the other rows
//! keep their ids, so answers given earlier still name the same files.

use std::path::{Path, PathBuf};

use anyhow::Context;
use imsat_runtime::index::Index;
use serde_json::json;

use crate::cli::common::index_card::{Card, IndexCard, read_card, save_with_card};
use crate::cli::common::index_lock::lock_for_append;
use crate::cli::common::{bad_input, print_summary, text_name, unreadable_index};

/// Which rows to remove.
pub enum Which {
    /// These ids; every one must be in the index.
    Ids(Vec<u64>),
    /// Every row whose file, as the card names it, is gone.
    Missing,
}

/// What [`remove`] did (or, for a dry run, would do).
pub struct Removed {
    /// The index as written (for a dry run, as it was).
    pub index: Index,
    /// Each removed row: its id and the file the card names, ascending by id.
    pub rows: Vec<(u64, Option<String>)>,
    /// The card written beside the index, if one was.
    pub card: Option<PathBuf>,
}

/// Run `imsat index remove` and print what went: a line per row on stderr, the summary on
/// stdout.
pub fn report(
    path: &Path,
    which: &Which,
    dry_run: bool,
    started: std::time::Instant,
) -> anyhow::Result<()> {
    let removed = remove(path, which, dry_run)?;
    let verb = match dry_run {
        true => "would remove",
        false => "removed",
    };
    for (id, name) in &removed.rows {
        match name {
            Some(name) => errln!("{verb} id {id}: {}", text_name(name)),
            None => errln!("{verb} id {id}"),
        }
    }
    // What the index holds after the removal (a dry run's index is as it was).
    let codes = match dry_run {
        true => removed.index.len() - removed.rows.len(),
        false => removed.index.len(),
    };
    let mut summary = json!({
        "index": path.display().to_string(),
        "removed": removed.rows.len(),
        "removed_ids": removed.rows.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        "dry_run": dry_run,
        "codes": codes,
        "bits": removed.index.bits(),
        "seconds": started.elapsed().as_secs_f64(),
    });
    if let Some(card) = removed.card {
        summary["names"] = json!(card.display().to_string());
    }
    print_summary(false, &summary)?;
    Ok(())
}

/// Remove `which` rows from the index file `path` (with its card), or with `dry_run` only
/// say which.
pub fn remove(path: &Path, which: &Which, dry_run: bool) -> anyhow::Result<Removed> {
    if imsat_runtime::atomic_file::is_written_into(path) {
        return Err(bad_input(format!(
            "--index {}: is standard input or output, a device or a pipe; removing rows \
             rewrites the index, so give the index file",
            path.display()
        )));
    }
    // Held until the new index and card are in place: an append waits for it, and it for one.
    let _lock = match path.is_file() && !dry_run {
        true => Some(lock_for_append(path)?),
        false => None,
    };
    let mut index = Index::load(path).map_err(|e| unreadable_index(path, e))?;
    // Left beside an index without these rows, a card cut short or of another version of the
    // file could never be matched to its rows again, even restored from a copy (an append
    // refuses it for the same reason).
    let card = match read_card(path, index.len(), index.bits())? {
        Card::Fits(card) => Some(card),
        Card::None => None,
        Card::SetAside(why) => {
            return Err(bad_input(format!(
                "{why}; removing rows would leave it beside an index it can never describe \
                 again, and the names it holds would be lost: move it away to remove rows from \
                 the index unnamed (by --ids), or build the index anew; nothing was removed"
            )));
        }
    };
    let ids = match which {
        Which::Ids(ids) => present(&index, ids, path)?,
        Which::Missing => gone_files(&index, card.as_ref(), path)?,
    };
    let named = |id: u64| {
        let (card, row) = (card.as_ref()?, index.row_of(id)?);
        card.names[row].clone()
    };
    let rows: Vec<(u64, Option<String>)> = ids.iter().map(|&id| (id, named(id))).collect();
    if dry_run || ids.is_empty() {
        return Ok(Removed {
            index,
            rows,
            card: None,
        });
    }
    let gone = index.remove(&ids);
    let writing = || format!("writing {}", path.display());
    let card = match card {
        Some(mut card) => {
            card.remove_rows(&gone);
            save_with_card(&index, path, card)?
        }
        None => {
            index.save(path).with_context(writing)?;
            None
        }
    };
    Ok(Removed { index, rows, card })
}

/// `ids` sorted without repeats, every one held by `index` (the file `path`); bad input
/// naming those it lacks, so that a mistyped id removes nothing.
fn present(index: &Index, ids: &[u64], path: &Path) -> anyhow::Result<Vec<u64>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let absent: Vec<String> = ids
        .iter()
        .filter(|&&id| index.row_of(id).is_none())
        .map(|id| id.to_string())
        .collect();
    if absent.is_empty() {
        return Ok(ids);
    }
    let shown = absent
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let more = match absent.len() > 10 {
        true => format!(" and {} more", absent.len() - 10),
        false => String::new(),
    };
    Err(bad_input(format!(
        "{}: holds no entry of id {shown}{more} (its {} entries; `imsat search` answers with \
         ids); nothing was removed",
        path.display(),
        index.len()
    )))
}

/// The ids of the rows whose files, as the card names them, are gone. Refused without a
/// card that fits the index, and when every named file is gone: a folder moved or a card
/// not mounted looks like that, and would empty the index.
fn gone_files(index: &Index, card: Option<&IndexCard>, path: &Path) -> anyhow::Result<Vec<u64>> {
    let Some(card) = card else {
        return Err(bad_input(format!(
            "{}: has no card of names (an index from `imsat index import`, or built before \
             cards), so which files are gone is not known; remove rows by --ids",
            path.display()
        )));
    };
    let named: Vec<(usize, &str)> = (card.names.iter().enumerate())
        .filter_map(|(row, name)| Some((row, name.as_deref()?)))
        .collect();
    let gone: Vec<(usize, &str)> = named
        .iter()
        .copied()
        .filter(|(_, name)| file_is_gone(name))
        .collect();
    if let Some((_, first)) = gone.first()
        && gone.len() == named.len()
        && named.len() > 1
    {
        return Err(bad_input(format!(
            "{}: every one of the {} files its card names is gone (the first: {first}): a \
             folder moved, renamed or not mounted? Nothing was removed; if they are gone, \
             delete the index, or remove the rows by --ids",
            path.display(),
            named.len()
        )));
    }
    Ok(gone
        .iter()
        .map(|&(row, _)| index.id(row).expect("a card that fits has a name per row"))
        .collect())
}

/// Whether the file a card's row names is gone: `/photos/a.jpg`, or for row 17 of an IDX
/// or `.npy` file `/data/x.idx#17`, that file. A file that cannot be checked (no
/// permission) is not taken to be gone.
fn file_is_gone(name: &str) -> bool {
    let exists = |p: &str| std::fs::exists(p).unwrap_or(true);
    if exists(name) {
        return false;
    }
    match name.rsplit_once('#') {
        Some((file, row)) if !row.is_empty() && row.bytes().all(|b| b.is_ascii_digit()) => {
            !exists(file)
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_of_a_data_file_is_gone_with_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.idx");
        std::fs::write(&file, b"").unwrap();
        let name = file.to_str().unwrap();
        assert!(!file_is_gone(name));
        assert!(!file_is_gone(&format!("{name}#17")));
        assert!(file_is_gone(&format!("{name}#17a")));
        assert!(file_is_gone(&format!("{name}#")));
        assert!(file_is_gone(dir.path().join("y.jpg").to_str().unwrap()));
        std::fs::remove_file(&file).unwrap();
        assert!(file_is_gone(&format!("{name}#17")));
    }
}
