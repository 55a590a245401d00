//! Photo groups: which photos are cut from one picture (the tiles of one photograph), read
//! from a manifest. Training holds groups out together; copy detection does not count two
//! photos of one group as a false positive.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::hash::{Hash as _, Hasher};
use std::path::{Component, Path, PathBuf};

use image::RgbImage;

use super::bad_input;

/// The group of each photo: from a `name,group` CSV, else its own.
///
/// A row names the photos of its file name; where several rows do, the one whose name
/// shares the longest tail of path components with the photo's path wins: `2025/a.jpg` names
/// `lib/2025/a.jpg`, `2026/a.jpg` names `lib/2026/a.jpg`. The names need not be relative to
/// the folder given to the command (the manifest's `train/0001.jpg` names the 4-fold script's
/// `fold0/valid/0001.jpg`). Where photos share a file name, a row names only those it
/// matches best (`a/0001.jpg` names `lib/a/0001.jpg`, not `lib/b/0001.jpg` nor `lib/0001.jpg`;
/// `train/b/0001.jpg` names `fold0/b/0001.jpg`), so one file name in several folders is told
/// apart. Rows of different groups that name a photo equally well are an error, and so is a
/// row without a name or a group.
///
/// The CSV is read as RFC 4180 (quoted names may hold commas, as `imsat encode --out X.csv`
/// writes them). Blanks around a value are dropped, except around a name that names a photo
/// with them (`" a.jpg"` for a file whose name starts with a blank). A manifest that names
/// none of the photos is an error: it is the wrong file or the wrong folder, and every photo
/// would silently be a group of its own.
pub fn groups_of(paths: &[PathBuf], csv: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let own = |p: &PathBuf| p.display().to_string();
    let Some(csv) = csv else {
        return Ok(paths.iter().map(own).collect());
    };
    let bad = |why: String| bad_input(format!("--groups {}: {why}", csv.display()));
    let mut reader = csv::ReaderBuilder::new()
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
            .position(|h| h.trim() == name)
            .ok_or_else(|| bad(format!("no `{name}` column in the header")))
    };
    let (name_col, group_col) = (col("name")?, col("group")?);
    // How many trailing components `a` and `b` share.
    let tail = |a: &[OsString], b: &[OsString]| {
        let pairs = a.iter().rev().zip(b.iter().rev());
        pairs.take_while(|(x, y)| x == y).count()
    };
    let all_parts: Vec<Vec<OsString>> = paths.iter().map(|p| components(p)).collect();
    // A name as written where a photo's path ends with it, blanks and all; else trimmed.
    let name_of = |n: &str| {
        let exact = components(Path::new(n));
        let names_a_photo = || all_parts.iter().any(|p| tail(&exact, p) == exact.len());
        if n.trim() != n && names_a_photo() {
            exact
        } else {
            components(Path::new(n.trim()))
        }
    };
    // Rows by file name, each with its name's path components.
    let mut rows: BTreeMap<OsString, Vec<(Vec<OsString>, String, u64)>> = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| bad(e.to_string()))?;
        // A short row is an error, not a row left out: a quote left open reads the rest of
        // the file as one field, and the manifest would silently name no photo after it.
        // A line of blanks (the end of a hand-edited file) is no row.
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let line = record.position().map_or(0, |p| p.line());
        let (Some(n), Some(g)) = (record.get(name_col), record.get(group_col).map(str::trim))
        else {
            let open_quote = if record.iter().any(|f| f.contains([',', '\n', '\r'])) {
                " (one holds a comma or a line break: a quote left open?)"
            } else {
                ""
            };
            return Err(bad(format!(
                "the row of line {line} has {} fields, too few for the `name` and `group` \
                 columns{open_quote}",
                record.len()
            )));
        };
        let parts = name_of(n);
        let (Some(file), false) = (parts.last(), g.is_empty()) else {
            // A blank group would join every photo left blank into one group, and a blank
            // name names none.
            let blank = if g.is_empty() { "group" } else { "name" };
            return Err(bad(format!(
                "the row of line {line} has a blank `{blank}`: give each row a photo's name and \
                 its group (a photo the manifest leaves out is a group of its own)"
            )));
        };
        let file = file.clone();
        rows.entry(file)
            .or_default()
            .push((parts, g.to_string(), line));
    }
    // Each row's best match among the photos of its file name: it names only those photos,
    // so that `a/0001.jpg` does not also name `b/0001.jpg` by the file name alone.
    let mut photos_named: HashMap<&OsString, Vec<&[OsString]>> = HashMap::new();
    for parts in &all_parts {
        if let Some(file) = parts.last() {
            photos_named.entry(file).or_default().push(parts);
        }
    }
    let best = |name: &[OsString]| {
        let photos = name.last().and_then(|f| photos_named.get(f));
        photos
            .into_iter()
            .flatten()
            .map(|p| tail(name, p))
            .max()
            .unwrap_or(0)
    };
    let rows: BTreeMap<_, Vec<_>> = rows
        .iter()
        .map(|(file, named)| {
            let named = named
                .iter()
                .map(|(n, g, line)| (n.as_slice(), g.as_str(), best(n), *line));
            (file, named.collect())
        })
        .collect();
    let mut found = Vec::with_capacity(paths.len());
    // The photos each row names, by the row's line.
    let mut named_by: BTreeMap<u64, Vec<&Path>> = BTreeMap::new();
    for (p, parts) in paths.iter().zip(&all_parts) {
        let candidates = parts.last().and_then(|f| rows.get(f));
        // The groups of the rows sharing the most components (the file name at least), of
        // those that match this photo as well as any photo of its file name.
        let (mut longest, mut groups, mut lines) = (0, Vec::<&str>::new(), Vec::new());
        for &(name, group, best, line) in candidates.into_iter().flatten() {
            let n = tail(name, parts);
            if n < best {
                continue;
            }
            if n > longest {
                (longest, groups, lines) = (n, Vec::new(), Vec::new());
            }
            if n == longest {
                groups.push(group);
                lines.push(line);
            }
        }
        for line in lines {
            named_by.entry(line).or_default().push(p);
        }
        groups.sort_unstable();
        groups.dedup();
        if groups.len() > 1 {
            return Err(bad(format!(
                "{} is named by rows of different groups ({}); name it by more of its path",
                p.display(),
                groups.join(", ")
            )));
        }
        found.push(groups.first().map(|g| g.to_string()));
    }
    let named = found.iter().filter(|g| g.is_some()).count();
    if named == 0 && !paths.is_empty() {
        let count: usize = rows.values().map(Vec::len).sum();
        return Err(bad(format!(
            "names none of the {} photos (it has {count} rows; names are matched on the file \
             name, then on the folders above it)",
            paths.len(),
        )));
    }
    // One row naming photos of one file name in several folders joins them into one group:
    // said, since two different pictures that happen to share a name (`IMG_0001.jpg`) would
    // no longer count as a false match of one another.
    if let Some((line, photos)) = named_by.iter().find(|(_, photos)| photos.len() > 1) {
        let several = named_by.values().filter(|p| p.len() > 1).count();
        let others = match several {
            1 => String::new(),
            n => format!(" (and {} more rows)", n - 1),
        };
        errln!(
            "imsat: --groups {}: the row of line {line} names {} photos of one file name, \
             put in one group: {}{others}; name each by its folder to tell them apart",
            csv.display(),
            photos.len(),
            photos
                .iter()
                .take(3)
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if named < paths.len() {
        errln!(
            "imsat: --groups {}: {} of {} photos are not named there; each is a group of its own",
            csv.display(),
            paths.len() - named,
            paths.len()
        );
    }
    // A photo the manifest leaves out is a group of its own, kept apart from the manifest's
    // values: its path could equal one (a row `x,photos/b.jpg`) and join two pictures.
    Ok(found
        .into_iter()
        .zip(paths)
        .map(|(g, p)| g.unwrap_or_else(|| format!("{UNNAMED}{}", own(p))))
        .collect())
}

/// Marks the group of a photo the manifest does not name (a CSV value does not start so).
const UNNAMED: &str = "\0unnamed:";

/// The named components of a path (no root, no `.`; `..` kept as a name).
fn components(p: &Path) -> Vec<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// The pairs `(a, b)`, `a < b`, of photos with the same pixels (a file saved twice, a copy
/// under another name), in order.
fn same_pixels(photos: &[RgbImage]) -> Vec<(usize, usize)> {
    let mut by_pixels: HashMap<(u32, u32, u64), Vec<usize>> = HashMap::new();
    for (i, p) in photos.iter().enumerate() {
        let mut h = std::hash::DefaultHasher::new();
        p.as_raw().hash(&mut h);
        by_pixels
            .entry((p.width(), p.height(), h.finish()))
            .or_default()
            .push(i);
    }
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for rows in by_pixels.values() {
        for (k, &a) in rows.iter().enumerate() {
            for &b in &rows[k + 1..] {
                if photos[a].as_raw() == photos[b].as_raw() {
                    pairs.push((a.min(b), a.max(b)));
                }
            }
        }
    }
    pairs.sort_unstable();
    pairs
}

/// Put the photos of each pair ([`same_pixels`]) in one group (the group of the first): a
/// training run holds them out together, and their copies are not false matches of each
/// other. Returns the pairs that were in different groups.
fn join_pairs(groups: &mut [String], pairs: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut joined = Vec::new();
    for &(a, b) in pairs {
        if groups[a] == groups[b] {
            continue;
        }
        let (keep, merged) = (groups[a].clone(), groups[b].clone());
        for g in groups.iter_mut().filter(|g| **g == merged) {
            g.clone_from(&keep);
        }
        joined.push((a, b));
    }
    joined
}

/// Photos with the same pixels put in one group ([`join_pairs`]), said on stderr where groups
/// were joined: how many photos have the pixels of another, in how many sets, the first pair
/// joined named, and `so` (what joining them changes for the command).
pub fn join_identical_saying(
    groups: &mut [String],
    photos: &[RgbImage],
    paths: &[PathBuf],
    so: &str,
) {
    let pairs = same_pixels(photos);
    let joined = join_pairs(groups, &pairs);
    if let Some(&(a, b)) = joined.first() {
        let (count, sets) = photos_and_sets(&pairs);
        errln!(
            "imsat: {count} photos have the same pixels as another, in {sets} set(s) ({} and \
             {}{}): each set is one photo group ({so})",
            paths[a].display(),
            paths[b].display(),
            if count > 2 { ", ..." } else { "" }
        );
    }
}

/// How many photos the pairs of [`same_pixels`] hold, and in how many sets: equal pixels are
/// every pair of a set, so each set's first photo is the first of a pair and never the second.
fn photos_and_sets(pairs: &[(usize, usize)]) -> (usize, usize) {
    let firsts: HashSet<usize> = pairs.iter().map(|&(a, _)| a).collect();
    let seconds: HashSet<usize> = pairs.iter().map(|&(_, b)| b).collect();
    (
        firsts.union(&seconds).count(),
        firsts.difference(&seconds).count(),
    )
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
        assert_eq!(groups, ["g1", "g1", "\0unnamed:in/d.jpg"]);
    }

    /// Four copies of one photo and two of another: six photos in two sets (six pairs of
    /// pixels alike in the first alone, three joins there).
    #[test]
    fn photos_with_the_same_pixels_are_counted_as_photos_and_sets() {
        let image = |v: u8| RgbImage::from_pixel(2, 2, image::Rgb([v, 0, 0]));
        let photos = [1, 1, 2, 1, 1, 2, 3].map(image);
        let mut groups: Vec<String> = (0..photos.len()).map(|i| i.to_string()).collect();
        let joined = join_pairs(&mut groups, &same_pixels(&photos));
        assert_eq!(joined, [(0, 1), (0, 3), (0, 4), (2, 5)]);
        assert_eq!(photos_and_sets(&same_pixels(&photos)), (6, 2));
        assert_eq!(groups, ["0", "0", "2", "0", "0", "2", "6"]);
        // Where a manifest had put some of them in one group already, the count is the same.
        let mut groups = ["g1", "g2", "g1", "g2"].map(String::from);
        let joined = join_pairs(&mut groups, &same_pixels(&[1, 1, 1, 1].map(image)));
        assert_eq!(joined, [(0, 1)]);
        assert_eq!(
            photos_and_sets(&same_pixels(&[1, 1, 1, 1].map(image))),
            (4, 1)
        );
    }

    #[test]
    fn blanks_around_a_name_are_kept_only_where_a_photo_is_named_with_them() {
        let (_dir, csv) =
            manifest(" name , group \n\" b.jpg\",g1\n a.jpg ,g2\n\"c.jpg \", g3 \n\"d.jpg \",g4\n");
        let paths: Vec<PathBuf> = ["in/ b.jpg", "in/a.jpg", "in/c.jpg", "in/d.jpg "]
            .iter()
            .map(PathBuf::from)
            .collect();
        let groups = groups_of(&paths, Some(&csv)).unwrap();
        assert_eq!(groups, ["g1", "g2", "g3", "g4"]);
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
        // A quote left open, and a row without its group, are named by line.
        let (_dir, csv) = manifest("name,group\nb.jpg,g\n\"a.jpg,g\nc.jpg,h\n");
        let err = groups_of(&paths, Some(&csv)).unwrap_err().to_string();
        assert!(
            err.contains("line 3 has 1 fields") && err.contains("a quote left open"),
            "{err}"
        );
        let (_dir, csv) = manifest("name,group\na.jpg,g\nb.jpg\n");
        let err = groups_of(&paths, Some(&csv)).unwrap_err().to_string();
        assert!(err.contains("line 3 has 1 fields, too few"), "{err}");
        assert!(!err.contains("quote"), "{err}");
        // A quote left open on the last row; lines of blanks at the end are no rows.
        let (_dir, csv) = manifest("name,group\nb.jpg,g\n\"a.jpg,g\n");
        let err = groups_of(&paths, Some(&csv)).unwrap_err().to_string();
        assert!(
            err.contains("line 3") && err.contains("a quote left open"),
            "{err}"
        );
        let (_dir, csv) = manifest("name,group\na.jpg,g\n  \n\n");
        assert_eq!(groups_of(&paths, Some(&csv)).unwrap(), ["g"]);
    }

    #[test]
    fn the_row_sharing_the_longest_path_tail_names_a_photo_and_ties_are_an_error() {
        let (_dir, csv) =
            manifest("name,group\n2025/a.jpg,old\n2026/a.jpg,new\nb.jpg,g\nx/b.jpg,g\n./c.jpg,h\n");
        let paths: Vec<PathBuf> = ["lib/2025/a.jpg", "lib/2026/a.jpg", "lib/x/b.jpg", "c.jpg"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let groups = groups_of(&paths, Some(&csv)).unwrap();
        assert_eq!(groups, ["old", "new", "g", "h"]);
        // `a.jpg` in a third folder is named by both rows equally, with different groups.
        let err = groups_of(&[PathBuf::from("lib/2027/a.jpg")], Some(&csv))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("lib/2027/a.jpg") && err.contains("new, old"),
            "{err}"
        );
        // A photo the manifest leaves out is its own group, even where its path is another
        // row's group value.
        let (_dir, csv) = manifest("name,group\ne.jpg,lib/f.jpg\n");
        let paths = [PathBuf::from("lib/e.jpg"), PathBuf::from("lib/f.jpg")];
        let groups = groups_of(&paths, Some(&csv)).unwrap();
        assert_eq!(groups[0], "lib/f.jpg");
        assert_ne!(groups[0], groups[1]);
        // Names relative to another folder still name the photo of that file name.
        let (_dir, csv) = manifest("name,group\ntrain/d.jpg,g\n");
        let groups = groups_of(&[PathBuf::from("fold0/valid/d.jpg")], Some(&csv)).unwrap();
        assert_eq!(groups, ["g"]);
    }

    /// Where photos share a file name, a row names only the photos it matches best (it named
    /// every photo of that file name, and two such rows were refused as a tie); a bare file
    /// name still names each of them.
    #[test]
    fn a_row_names_only_the_photos_it_matches_best_where_photos_share_a_file_name() {
        let paths: Vec<PathBuf> = ["G/0001.jpg", "G/a/0001.jpg", "G/b/0001.jpg", "G/p.jpg"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let unnamed = |i: usize| format!("{UNNAMED}{}", paths[i].display());
        let (_dir, csv) = manifest("name,group\na/0001.jpg,g\n");
        let groups = groups_of(&paths, Some(&csv)).unwrap();
        assert_eq!(groups, [unnamed(0), "g".into(), unnamed(2), unnamed(3)]);
        let (_dir, csv) = manifest("name,group\na/0001.jpg,g\nb/0001.jpg,h\n");
        let groups = groups_of(&paths, Some(&csv)).unwrap();
        assert_eq!(groups, [unnamed(0), "g".into(), "h".into(), unnamed(3)]);
        let (_dir, csv) = manifest("name,group\n0001.jpg,g\na/0001.jpg,h\n");
        let groups = groups_of(&paths, Some(&csv)).unwrap();
        assert_eq!(groups, ["g", "h", "g", &unnamed(3)]);
        // A row that matches none better than the others names them all, as a bare name.
        let (_dir, csv) = manifest("name,group\nzzz/0001.jpg,g\np.jpg,h\n");
        let groups = groups_of(&paths, Some(&csv)).unwrap();
        assert_eq!(groups, ["g", "g", "g", "h"]);
        // Names relative to another folder still tell the folders apart.
        let (_dir, csv) = manifest("name,group\ntrain/2025/a.jpg,old\ntrain/2026/a.jpg,new\n");
        let folds = [
            PathBuf::from("fold0/2025/a.jpg"),
            PathBuf::from("fold0/2026/a.jpg"),
        ];
        assert_eq!(groups_of(&folds, Some(&csv)).unwrap(), ["old", "new"]);
    }

    /// A blank group joined every photo left blank into one group; a blank name named none.
    #[test]
    fn a_row_with_a_blank_name_or_group_is_an_error_naming_its_line() {
        let paths = vec![PathBuf::from("in/a.jpg"), PathBuf::from("in/b.jpg")];
        for (text, line, blank) in [
            ("name,group\na.jpg,g\nb.jpg,\n", 3, "group"),
            ("name,group\na.jpg,  \nb.jpg,g\n", 2, "group"),
            ("name,group\na.jpg,g\n,g\n", 3, "name"),
        ] {
            let (_dir, csv) = manifest(text);
            let err = groups_of(&paths, Some(&csv)).unwrap_err().to_string();
            assert!(
                err.contains(&format!("line {line} has a blank `{blank}`")),
                "{text:?}: {err}"
            );
        }
    }
}
