//! Photo groups: which photos are cut from one picture (the tiles of one photograph), read
//! from a manifest. Training holds groups out together; copy detection does not count two
//! photos of one group as a false positive.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::bad_input;

/// The group of each photo: from a `name,group` CSV (matched on the file name), else its own.
///
/// The CSV is read as RFC 4180 (quoted names may hold commas, as `imsat encode --out X.csv`
/// writes them). A manifest that names none of the photos is an error: it is the wrong file
/// or the wrong folder, and every photo would silently be a group of its own.
pub fn groups_of(paths: &[PathBuf], csv: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let own = |p: &PathBuf| p.display().to_string();
    let Some(csv) = csv else {
        return Ok(paths.iter().map(own).collect());
    };
    let bad = |why: String| bad_input(format!("--groups {}: {why}", csv.display()));
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(csv)
        .map_err(|e| bad(format!("cannot read: {e}")))?;
    let header = reader
        .headers()
        .map_err(|e| bad(format!("cannot read the header: {e}")))?
        .clone();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| bad(format!("no `{name}` column in the header")))
    };
    let (name_col, group_col) = (col("name")?, col("group")?);
    let mut by_file = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| bad(e.to_string()))?;
        if let (Some(n), Some(g)) = (record.get(name_col), record.get(group_col))
            && let Some(f) = Path::new(n).file_name()
        {
            by_file.insert(f.to_owned(), g.to_string());
        }
    }
    let found: Vec<Option<String>> = paths
        .iter()
        .map(|p| p.file_name().and_then(|f| by_file.get(f).cloned()))
        .collect();
    let named = found.iter().filter(|g| g.is_some()).count();
    if named == 0 && !paths.is_empty() {
        return Err(bad(format!(
            "names none of the {} photos (it has {} rows; names are matched on the file name)",
            paths.len(),
            by_file.len()
        )));
    }
    if named < paths.len() {
        eprintln!(
            "imsat: --groups {}: {} of {} photos are not named there; each is a group of its own",
            csv.display(),
            paths.len() - named,
            paths.len()
        );
    }
    Ok(found
        .into_iter()
        .zip(paths)
        .map(|(g, p)| g.unwrap_or_else(|| own(p)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.csv");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn quoted_names_with_commas_are_read_and_unnamed_photos_stand_alone() {
        let (_dir, csv) = manifest("source,name,group\nx,\"a, \"\"b\"\".jpg\",g1\ny,c.jpg , g1\n");
        let paths: Vec<PathBuf> = ["in/a, \"b\".jpg", "in/c.jpg", "in/d.jpg"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let groups = groups_of(&paths, Some(&csv)).unwrap();
        assert_eq!(groups, ["g1", "g1", "in/d.jpg"]);
    }

    #[test]
    fn a_manifest_naming_no_photo_or_lacking_a_column_is_an_error() {
        let paths = vec![PathBuf::from("in/a.jpg")];
        let (_dir, csv) = manifest("name,group\nz.jpg,g\n");
        let err = groups_of(&paths, Some(&csv)).unwrap_err().to_string();
        assert!(err.contains("names none of the 1 photos"), "{err}");
        let (_dir, csv) = manifest("name,picture\na.jpg,g\n");
        let err = groups_of(&paths, Some(&csv)).unwrap_err().to_string();
        assert!(err.contains("no `group` column"), "{err}");
        let (_dir, csv) = manifest("name,group\n\"a.jpg,g\n");
        assert!(groups_of(&paths, Some(&csv)).is_err());
    }
}
