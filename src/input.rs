//! Where images come from: an IDX file (gzipped or not) or a folder of image files (JPEG,
//! PNG, BMP, WebP, GIF, TIFF); and their labels, from an IDX or a `.npy` file.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use imsat_data::idx;
use imsat_data::photos::{
    FolderFiles, decode_image, decode_image_at_least, is_photo, is_undecoded, no_photos_reason,
    photo_files, undecoded_reason,
};
use imsat_data::{Images, Label};
use imsat_runtime::dedup::Glance;
use imsat_runtime::view::View;

use crate::cli::bad_input;

/// What a read found besides the pixels, which [`read_images`] hands over a chunk at a time.
pub struct ImageRows {
    /// How many images were read (rows).
    pub n: usize,
    /// `Some(paths)` for a folder: `paths[i]` is image i. `None` for an IDX file.
    pub paths: Option<Vec<PathBuf>>,
    /// Folder files that could not be used, each with the reason ([`BadFile::Skip`]).
    pub skipped: Vec<(PathBuf, String)>,
    /// For a folder read with glances, a glance at each image as decoded (plain or not,
    /// colour or gray: [`imsat_runtime::dedup::glance`]), one per row; else empty.
    pub glances: Vec<Option<Glance>>,
}

/// Which files of a folder to read (`index build --append`: those not indexed yet).
pub type Keep<'a> = dyn Fn(&Path) -> bool + Sync + 'a;

/// How [`read_images`] reads a folder, beyond the model's input: what a bad file does, a
/// progress bar, glances, and which files.
#[derive(Clone, Copy)]
pub struct Reading<'a> {
    /// What a file that cannot be decoded does to the whole read.
    pub bad: BadFile,
    /// A progress bar over the folder's files.
    pub show_progress: bool,
    /// Glance at each decoded image ([`ImageRows::glances`]).
    pub glances: bool,
    /// Read only the files it keeps.
    pub keep: Option<&'a Keep<'a>>,
}

impl Reading<'_> {
    /// Every file, no bar, no glances; `bad` for a file that cannot be decoded.
    pub fn quiet(bad: BadFile) -> Self {
        Reading {
            bad,
            show_progress: false,
            glances: false,
            keep: None,
        }
    }
}

/// What a file of a folder that cannot be decoded does to the whole read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadFile {
    /// Stop with an error naming it: outputs that are one row per file in file order
    /// (`encode`'s codes) would otherwise shift every later row.
    Error,
    /// Leave it out and name it in [`ImageRows::skipped`]: one bad file among thousands does
    /// not stop a deduplication.
    Skip,
}

/// Read `path` whole: [`read_images`] with every chunk's pixels kept, for a caller that runs
/// two models on them (`imsat eval`).
pub fn load_images(
    path: &Path,
    shape: (usize, usize),
    view: Option<&View>,
    bad: BadFile,
) -> anyhow::Result<Images> {
    let mut all: Option<Images> = None;
    read_images(path, shape, view, Reading::quiet(bad), &mut |chunk| {
        match &mut all {
            None => all = Some(chunk),
            Some(all) => {
                all.n += chunk.n;
                all.pixels.extend_from_slice(&chunk.pixels);
            }
        }
        Ok(())
    })?;
    Ok(all.unwrap_or_else(|| Images {
        n: 0,
        shape: vec![shape.0, shape.1],
        pixels: Vec::new(),
    }))
}

/// Read `path`: a folder of images or one image file (each turned into the model's input:
/// through the model's `view` for photo models, else converted to grayscale and resized to
/// `shape`; the folder and its subfolders, in path order, which for a flat folder is
/// file-name order) or an IDX image file, handing the pixels to `each` a chunk of images at
/// a time, in order: a caller that encodes each chunk holds one chunk's pixels, not the
/// folder's (a photo's four views are 3 KB; an IDX file is one chunk). A folder's files are
/// decoded on every core (`RAYON_NUM_THREADS` caps them; a 12-megapixel JPEG takes ~0.2 s to
/// decode), as `reading` says: with a progress bar when `show_progress`; with `glances`, each
/// decoded image is also glanced at ([`ImageRows::glances`]; a pass over its pixels, 25 ms
/// for 12 megapixels, which only dedup needs); with `keep`, only the files it keeps are read.
/// An error of `each` stops the read.
pub fn read_images(
    path: &Path,
    shape: (usize, usize),
    view: Option<&View>,
    reading: Reading<'_>,
    each: &mut dyn FnMut(Images) -> anyhow::Result<()>,
) -> anyhow::Result<ImageRows> {
    let Reading {
        bad,
        show_progress,
        glances,
        keep,
    } = reading;
    let mut listed = if path.is_dir() {
        photo_files(path).map_err(|e| bad_input(e.to_string()))?
    } else if is_image_file(path) {
        FolderFiles {
            photos: vec![path.to_path_buf()],
            ..FolderFiles::default()
        }
    } else if path.is_file() && is_undecoded(path) {
        // Named as a folder's HEIC is (never a row), not read as a broken IDX file.
        return Err(bad_input(format!(
            "{}: {}",
            path.display(),
            undecoded_reason(path)
        )));
    } else {
        // Whether they fit the model is the caller's check (`check_fits`), as for any data.
        let images = idx::read_idx_images(path)?;
        let n = images.n;
        each(images)?;
        return Ok(ImageRows {
            n,
            paths: None,
            skipped: Vec::new(),
            glances: Vec::new(),
        });
    };
    if let Some(keep) = keep {
        listed.photos.retain(|p| keep(p));
    }
    // A view of several looks (the whole photo and its parts: four for photo64) stacks them:
    // one image of that many times the rows (and a colour view its planes).
    let stacked = match view {
        Some(v) => vec![v.views() * v.input_shape()[0], v.cols],
        None => vec![shape.0, shape.1],
    };
    let bar =
        crate::cli::common::progress_bar(listed.photos.len() as u64, "reading", show_progress);
    let mut used = Vec::with_capacity(listed.photos.len());
    let mut glance_rows = Vec::new();
    // Files of formats not read (a phone's HEIC) and folders not read (a link to one) are
    // left out only where bad files may be: a script that pairs rows in file order with its
    // own listing of the folder counts them, and every later row would be paired with the
    // wrong file.
    let mut skipped = listed.skips();
    if let (BadFile::Error, [(p, why), rest @ ..]) = (bad, skipped.as_slice()) {
        let more = match rest.len() {
            0 => String::new(),
            n => format!(" (and {n} more)"),
        };
        return Err(bad_input(format!(
            "{}: {why}{more}; left out, it would shift every later row of an output in file \
             order: convert or move it, or leave it out with --skip-bad where the output names \
             its rows",
            p.display()
        )));
    }
    // (With no image at all, the error says what is read.)
    if !listed.photos.is_empty() {
        crate::cli::common::report_ignored(&listed.ignored);
    }
    let chunk = 16 * rayon::current_num_threads();
    let read = map_chunks_in_order(
        &listed.photos,
        chunk,
        |f| {
            let row = model_input(f, shape, view, glances);
            bar.inc(1);
            row
        },
        |files, rows| {
            let mut pixels = Vec::new();
            let mut n = 0;
            for (f, row) in files.iter().zip(rows) {
                match (row, bad) {
                    (Ok(row), _) => {
                        pixels.extend_from_slice(&row.pixels);
                        if glances {
                            glance_rows.push(row.glance);
                        }
                        used.push(f.clone());
                        n += 1;
                    }
                    (Err(RowError::Undecodable(why)), BadFile::Skip) => {
                        skipped.push((f.clone(), why));
                    }
                    (Err(RowError::Undecodable(why) | RowError::View(why)), _) => {
                        return Err(bad_input(format!("{}: {why}", f.display())));
                    }
                }
            }
            if n == 0 {
                return Ok(());
            }
            each(Images {
                n,
                shape: stacked.clone(),
                pixels,
            })
        },
    );
    bar.finish_and_clear();
    read?;
    // Nothing listed, or every file skipped: one wording with the other photo commands.
    if used.is_empty() {
        let why = no_photos_reason(&skipped);
        return Err(bad_input(format!("{}: {why}", path.display())));
    }
    Ok(ImageRows {
        n: used.len(),
        paths: Some(used),
        skipped,
        glances: glance_rows,
    })
}

/// Whether `path` is one image file (a photo extension), read as a folder of that one image:
/// `imsat search --query new.jpg`, `imsat encode --data photo.jpg`.
pub fn is_image_file(path: &Path) -> bool {
    path.is_file() && is_photo(path)
}

/// Whether [`read_images`] reads `path` as images (a folder, or one image file, of a format
/// read or not), not as an IDX file.
pub fn reads_as_images(path: &Path) -> bool {
    path.is_dir() || is_image_file(path) || (path.is_file() && is_undecoded(path))
}

/// `f` of each item computed on every core `chunk` items at a time, each chunk's results
/// handed to `each` with its items, in order, before the next chunk starts: a read that
/// `each` stops at its third file does not decode ten thousand more first, and only one
/// chunk's results are held at a time.
fn map_chunks_in_order<T: Sync, R: Send, E>(
    items: &[T],
    chunk: usize,
    f: impl Fn(&T) -> R + Sync,
    mut each: impl FnMut(&[T], Vec<R>) -> Result<(), E>,
) -> Result<(), E> {
    for part in items.chunks(chunk.max(1)) {
        let results: Vec<R> = part.par_iter().map(&f).collect();
        each(part, results)?;
    }
    Ok(())
}

/// Labels from an IDX label file (bytes: up to 256 classes) or a `.npy` array of integers
/// `[N]` (up to 65,536).
pub fn read_labels(path: &Path) -> anyhow::Result<Vec<Label>> {
    if crate::npy::is_npy(path) {
        crate::npy::read_labels(path)
    } else {
        Ok(idx::read_idx_labels(path, 256)?)
    }
}

/// IDX images and their labels ([`read_labels`]: IDX or `.npy`), one label per image.
pub fn read_labelled(images: &Path, labels: &Path) -> anyhow::Result<(Images, Vec<Label>)> {
    let imgs = idx::read_idx_images(images)?;
    let labs = read_labels(labels)?;
    if labs.len() != imgs.n {
        return Err(bad_input(format!(
            "{}: {} labels but {} images",
            labels.display(),
            labs.len(),
            imgs.n
        )));
    }
    Ok((imgs, labs))
}

/// Why a file of a folder gave no row.
enum RowError {
    /// The file is not an image that can be decoded ([`BadFile`] says what that does).
    Undecodable(String),
    /// The image decoded but the model's view refused it (always an error).
    View(String),
}

/// One file as the model takes it, and a glance at it as decoded.
struct Row {
    pixels: Vec<u8>,
    glance: Option<Glance>,
}

/// One file as the model takes it: decoded upright, then through the model's `view` (photo
/// models) or converted to grayscale and resized to `shape`.
fn model_input(
    f: &Path,
    shape: (usize, usize),
    view: Option<&View>,
    glances: bool,
) -> Result<Row, RowError> {
    match view {
        Some(view) => {
            let img =
                decode_image_at_least(f, view.min_source_side()).map_err(RowError::Undecodable)?;
            let rgb = img.into_rgb8();
            let pixels = view
                .apply(rgb.as_raw(), rgb.width() as usize, rgb.height() as usize, 3)
                .map_err(|e| RowError::View(e.to_string()))?;
            let glance = glances.then(|| glance_at(&rgb)).flatten();
            Ok(Row { pixels, glance })
        }
        None => {
            let img = decode_image(f).map_err(RowError::Undecodable)?;
            let glance = match (glances, img.as_rgb8()) {
                (false, _) => None,
                (true, Some(rgb)) => glance_at(rgb),
                (true, None) => glance_at(&img.to_rgb8()),
            };
            let (rows, cols) = shape;
            let gray = img
                .resize_exact(
                    cols as u32,
                    rows as u32,
                    image::imageops::FilterType::Triangle,
                )
                .into_luma8();
            Ok(Row {
                pixels: gray.into_raw(),
                glance,
            })
        }
    }
}

/// [`imsat_runtime::dedup::glance`] of a decoded image.
fn glance_at(rgb: &image::RgbImage) -> Option<Glance> {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    imsat_runtime::dedup::glance(rgb.as_raw(), w, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn chunks_are_mapped_in_order_and_an_error_stops_after_its_chunk() {
        let items: Vec<usize> = (0..1000).collect();
        let calls = AtomicUsize::new(0);
        let square = |&i: &usize| {
            calls.fetch_add(1, Ordering::Relaxed);
            i * i
        };
        let mut all = Vec::new();
        let whole = map_chunks_in_order(&items, 8, square, |part, r: Vec<usize>| {
            assert_eq!(part.len(), r.len());
            assert!(r.len() <= 8);
            all.extend(r);
            Ok::<_, ()>(())
        });
        assert_eq!(whole, Ok(()));
        assert_eq!(all, items.iter().map(|i| i * i).collect::<Vec<_>>());
        assert_eq!(calls.swap(0, Ordering::Relaxed), 1000);
        // Item 10 (square 100) stops it: the second chunk of 8 is finished, no more.
        let mut seen = Vec::new();
        let stopped = map_chunks_in_order(&items, 8, square, |_, r: Vec<usize>| {
            seen.extend_from_slice(&r);
            if r.contains(&100) {
                Err("stop")
            } else {
                Ok(())
            }
        });
        assert_eq!(stopped, Err("stop"));
        assert_eq!(seen, (0..16).map(|i| i * i).collect::<Vec<_>>());
        assert_eq!(calls.load(Ordering::Relaxed), 16);
        let none = map_chunks_in_order(&items[..0], 8, square, |_, _| Err("never called"));
        assert_eq!(none, Ok(()));
    }

    /// A folder reaches the caller a chunk at a time, in file order, never whole: what keeps
    /// `encode` and `dedup` of a large library within a board's memory.
    #[test]
    fn a_folder_is_read_a_chunk_at_a_time_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let files = 16 * rayon::current_num_threads() * 2 + 5;
        for i in 0..files {
            let img = image::GrayImage::from_pixel(4, 4, image::Luma([i as u8]));
            img.save(dir.path().join(format!("{i:03}.png"))).unwrap();
        }
        std::fs::write(dir.path().join("020.jpg"), b"not a jpeg").unwrap();
        let read = |each: &mut dyn FnMut(Images) -> anyhow::Result<()>| {
            read_images(
                dir.path(),
                (4, 4),
                None,
                Reading::quiet(BadFile::Skip),
                each,
            )
        };
        let mut chunks = Vec::new();
        let mut firsts = Vec::new();
        let rows = read(&mut |chunk| {
            assert_eq!(chunk.pixels.len(), chunk.n * 16);
            chunks.push(chunk.n);
            firsts.extend(chunk.pixels.chunks(16).map(|px| px[0]));
            Ok(())
        })
        .unwrap();
        assert_eq!(rows.n, files);
        assert!(chunks.len() >= 3, "{chunks:?}");
        assert!(
            chunks
                .iter()
                .all(|&n| n <= 16 * rayon::current_num_threads())
        );
        // Every image once, in file order (the bad file between them skipped and named).
        assert_eq!(firsts, (0..files).map(|i| i as u8).collect::<Vec<_>>());
        assert_eq!(rows.skipped.len(), 1);
        assert!(rows.skipped[0].0.ends_with("020.jpg"));
        // An error of the caller stops the read at its chunk.
        let mut calls = 0;
        let err = read(&mut |_| {
            calls += 1;
            Err(anyhow::anyhow!("enough"))
        });
        assert_eq!(err.err().map(|e| e.to_string()), Some("enough".into()));
        assert_eq!(calls, 1);
    }
}
