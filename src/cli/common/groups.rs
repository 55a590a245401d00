//! Photo groups: which photos are cut from one picture (the tiles of one photograph), read
//! from a manifest. Training holds groups out together; copy detection does not count two
//! photos of one group as a false positive.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::bad_input;

/// The group of each photo: from a `name,group` CSV (matched on the file name), else its own.
pub fn groups_of(paths: &[PathBuf], csv: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let own = |p: &PathBuf| p.display().to_string();
    let Some(csv) = csv else {
        return Ok(paths.iter().map(own).collect());
    };
    let text = std::fs::read_to_string(csv)
        .map_err(|e| bad_input(format!("--groups {}: cannot read: {e}", csv.display())))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| {
            bad_input(format!(
                "--groups {}: no `{name}` column in the header",
                csv.display()
            ))
        })
    };
    let (name_col, group_col) = (col("name")?, col("group")?);
    let mut by_file = BTreeMap::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split(',').collect();
        if let (Some(n), Some(g)) = (cells.get(name_col), cells.get(group_col)) {
            let file = Path::new(n.trim()).file_name().map(|f| f.to_owned());
            if let Some(f) = file {
                by_file.insert(f, g.trim().to_string());
            }
        }
    }
    Ok(paths
        .iter()
        .map(|p| {
            p.file_name()
                .and_then(|f| by_file.get(f).cloned())
                .unwrap_or_else(|| own(p))
        })
        .collect())
}
