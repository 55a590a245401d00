//! Photo folders: the unlabeled training data of a copy-detection hash.
//!
//! Photos of any size are read from a folder tree (JPEG, PNG, BMP, WebP, GIF, TIFF) in path
//! order, hidden entries left out, upright by their EXIF orientation, a transparent one
//! composited onto white (`flatten`). A file that cannot be decoded, or an image of zero
//! size, is skipped and named in [`PhotoFolder::skipped`], so one bad file does not stop a
//! run over thousands; so is an image in a format this build does not decode (HEIC from a
//! phone, AVIF, JPEG XL, JPEG 2000), which would otherwise vanish from the run unnoticed; an
//! empty result is an error. A GIF gives its first frame. A folder is decoded on every core,
//! and its photos are kept at most [`MAX_SIDE`] pixels on their longer side.

mod exif;
mod flatten;
mod jpeg;
#[cfg(test)]
mod tests;
mod tiff_samples;

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use rayon::prelude::*;

use crate::DataError;

/// File extensions read as photos (lower case): `jfif` and `jpe` are JPEG under the names
/// browsers and Windows save them with.
pub const PHOTO_EXTENSIONS: [&str; 10] = [
    "jpg", "jpeg", "jfif", "jpe", "png", "bmp", "webp", "gif", "tif", "tiff",
];

/// Extensions of image formats that are not decoded (lower case): listed and named as
/// skipped, never read.
pub const UNDECODED_EXTENSIONS: [&str; 5] = ["heic", "heif", "avif", "jxl", "jp2"];

/// The image files of a folder tree, each list sorted by path as a byte string (see
/// [`photo_files`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FolderFiles {
    /// Files with a [`PHOTO_EXTENSIONS`] extension.
    pub photos: Vec<PathBuf>,
    /// Files with an [`UNDECODED_EXTENSIONS`] extension.
    pub undecoded: Vec<PathBuf>,
    /// Subfolders that were not read, each with why: one that cannot be listed (no
    /// permission: a drive's `lost+found`), or a link to a folder (links can loop).
    pub unread_folders: Vec<(PathBuf, String)>,
    /// Other files (not hidden) that are not read: no image extension (`notes.txt`, a
    /// JPEG saved without one). Not rows, but worth a word: a script listing the folder
    /// would count them.
    pub ignored: Vec<PathBuf>,
}

impl FolderFiles {
    /// What of the tree is left out, each with the reason: the undecoded files and the
    /// subfolders not read, sorted by path.
    pub fn skips(&self) -> Vec<(PathBuf, String)> {
        let mut skips: Vec<(PathBuf, String)> = self
            .undecoded
            .iter()
            .map(|p| (p.clone(), undecoded_reason(p)))
            .chain(self.unread_folders.iter().cloned())
            .collect();
        skips.sort_by(|a, b| by_bytes(&a.0).cmp(by_bytes(&b.0)));
        skips
    }
}

/// Decoded photos with the file each came from.
#[derive(Debug, Clone)]
pub struct PhotoFolder {
    pub photos: Vec<RgbImage>,
    pub paths: Vec<PathBuf>,
    /// Files that were skipped, each with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// Files without an image extension, not read ([`FolderFiles::ignored`]).
    pub ignored: Vec<PathBuf>,
}

/// Every photo file under `dir` (recursively), and every image file in a format not
/// decoded, each sorted by path, compared as byte strings (UTF-8 names thus in code point
/// order, as Python sorts them; `a.jpg`, then `a/b.jpg`, then `a0.jpg`); other files in
/// [`FolderFiles::ignored`]. Hidden entries (a name starting with `.`: a Mac's `._IMG.jpg`
/// resource files, `.thumbnails/`, `.git/`) are not read. A subfolder that cannot be listed,
/// or a link to a folder, is not followed and is named in
/// [`FolderFiles::unread_folders`]; links to files are followed. `dir` itself must be
/// readable.
pub fn photo_files(dir: &Path) -> Result<FolderFiles, DataError> {
    let mut files = FolderFiles::default();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(entries) => entries,
            Err(e) if d != dir => {
                files
                    .unread_folders
                    .push((d, format!("cannot read the folder: {e}")));
                continue;
            }
            Err(source) => return Err(DataError::Io { path: d, source }),
        };
        for e in entries.flatten() {
            if e.file_name().as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let p = e.path();
            let kind = e.file_type();
            if kind.as_ref().is_ok_and(|t| t.is_dir()) {
                pending.push(p);
            } else if kind.is_ok_and(|t| t.is_symlink()) && p.is_dir() {
                files.unread_folders.push((
                    p,
                    "a link to a folder, not followed (links can loop): give the folder itself"
                        .into(),
                ));
            } else if is_photo(&p) {
                files.photos.push(p);
            } else if is_undecoded(&p) {
                files.undecoded.push(p);
            } else {
                files.ignored.push(p);
            }
        }
    }
    files.photos.sort_by(|a, b| by_bytes(a).cmp(by_bytes(b)));
    files.undecoded.sort_by(|a, b| by_bytes(a).cmp(by_bytes(b)));
    files
        .unread_folders
        .sort_by(|a, b| by_bytes(&a.0).cmp(by_bytes(&b.0)));
    files.ignored.sort_by(|a, b| by_bytes(a).cmp(by_bytes(b)));
    Ok(files)
}

/// A path as the bytes it is sorted by. Whole paths compared as byte strings are the order
/// scripts list a tree in (`sorted(glob("**/*", recursive=True))`, `find | LC_ALL=C sort`):
/// `a.jpg` before `a/x.jpg`, where comparing part by part (`Path`'s order) puts the folder's
/// files first, and a benchmark pairing raw codes with its own sorted list of files would
/// pair every original with its copies' codes.
fn by_bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_encoded_bytes()
}

/// The file name's extension, lower case.
fn extension(p: &Path) -> Option<String> {
    p.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// Whether the file name has the extension of an image format that is not read (HEIC,
/// AVIF, ...; [`UNDECODED_EXTENSIONS`]).
pub fn is_undecoded(p: &Path) -> bool {
    extension(p).is_some_and(|e| UNDECODED_EXTENSIONS.contains(&e.as_str()))
}

/// Why a file of a format that is not read is skipped.
pub fn undecoded_reason(p: &Path) -> String {
    let ext = extension(p).unwrap_or_default();
    format!(
        "{ext} images are not read (JPEG, PNG, BMP, WebP, GIF and TIFF are): convert it to one of those"
    )
}

/// The format not read that a file's first bytes show, whatever its name: a phone's HEIC
/// photo saved as `.jpg` is common, and the JPEG decoder's "illegal start bytes" says nothing.
fn undecoded_content(bytes: &[u8]) -> Option<&'static str> {
    match bytes.get(..12)? {
        [_, _, _, _, b'f', b't', b'y', b'p', brand @ ..] => match brand {
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1" => {
                Some("HEIC")
            }
            b"avif" | b"avis" => Some("AVIF"),
            _ => None,
        },
        [0, 0, 0, 0x0C, b'J', b'X', b'L', b' ', ..] | [0xFF, 0x0A, ..] => Some("JPEG XL"),
        [0, 0, 0, 0x0C, b'j', b'P', b' ', b' ', ..] => Some("JPEG 2000"),
        _ => None,
    }
}

/// Whether the file name has a photo extension.
pub fn is_photo(p: &Path) -> bool {
    extension(p).is_some_and(|e| PHOTO_EXTENSIONS.contains(&e.as_str()))
}

/// Decode one image file (gray stays gray), upright as a photo viewer shows it; a clear
/// reason when it cannot be used. The format is read from the content (the extension when
/// the content says nothing), and a JPEG cut short is an error, not a picture half gray.
///
/// Upright: a phone stores a portrait photo as landscape pixels and an EXIF orientation
/// tag, and the copy an app exports or shares has the turn applied and no tag; applying
/// the tag here makes the two the same picture to every model, in training and encoding
/// alike. A file without the tag (or whose metadata cannot be read) is taken as stored.
pub fn decode_image(path: &Path) -> Result<DynamicImage, String> {
    decode_bytes(path, &read_image_file(path)?)
}

/// [`decode_image`], except that a JPEG large enough is decoded smaller, straight from its
/// DCT coefficients: at 1/2, 1/4 or 1/8 of its size, the smallest whose shorter side is still
/// at least `min_side` pixels. For what needs only that much of a photo (a model's view, a
/// thumbnail): a 12-megapixel JPEG decodes in a third of the time and leaves 1/64 of the
/// pixels to sweep. Other files, and JPEGs not twice `min_side`, decode as [`decode_image`].
pub fn decode_image_at_least(path: &Path, min_side: u32) -> Result<DynamicImage, String> {
    let bytes = read_image_file(path)?;
    if let Some(img) = jpeg::decode_reduced(&bytes, min_side) {
        return Ok(img);
    }
    decode_bytes(path, &bytes)
}

/// Decoded sizes up to this need no second look: 128 MiB, 44 megapixels as RGB, what the
/// largest camera sensors give (a folder is decoded on every core at once: 16 such photos on
/// a 16-core board are 2 GiB).
const PLAIN_DECODE_BYTES: u64 = 128 << 20;

/// The most memory one image may take decoded, 4 GiB (1.4 gigapixels of RGB; a folder is
/// decoded on every core at once).
pub const MAX_DECODE_BYTES: u64 = 4 << 30;

/// Decoded bytes per file byte past which a large picture is not believed: a JPEG codes every
/// 8x8 block of 192 bytes in at least a bit or two (a real 200-megapixel photo holds tens of
/// megabytes), while a 657-byte file can claim 65535x65535 pixels, and a 48 kB PNG of one
/// colour 20000x20000.
const MAX_DECODED_PER_FILE_BYTE: u64 = 2048;

/// Whether a picture whose header says it decodes to `decoded` bytes may be decoded from a
/// file of `file_len` bytes. What is counted is the larger of `decoded` and the picture as
/// RGB (3 bytes a pixel), the copy every photo is turned into: a 1-bit or gray PNG decodes
/// small and triples. Any up to 128 MiB; a larger one only when the file is large enough to
/// hold it and it is at most [`MAX_DECODE_BYTES`]. Checked before the pixels are allocated:
/// the `image` crate applies its own limit in `ImageReader::decode` alone (not after
/// `into_decoder`), and its JPEG, WebP and BMP decoders do not check it themselves.
pub fn check_decoded_size(
    (width, height): (u32, u32),
    decoded: u64,
    file_len: usize,
) -> Result<(), String> {
    let mib = |b: u64| b >> 20;
    let decoded = decoded.max(u64::from(width) * u64::from(height) * 3);
    if decoded <= PLAIN_DECODE_BYTES {
        return Ok(());
    }
    if decoded > MAX_DECODE_BYTES {
        return Err(format!(
            "its header says {width}x{height} pixels, {} MiB decoded, more than the limit of {} MiB",
            mib(decoded),
            mib(MAX_DECODE_BYTES)
        ));
    }
    if decoded / MAX_DECODED_PER_FILE_BYTE > file_len as u64 {
        return Err(format!(
            "its header says {width}x{height} pixels, {} MiB decoded, which a file of {file_len} \
             bytes cannot hold (a damaged or crafted header)",
            mib(decoded)
        ));
    }
    Ok(())
}

/// The bytes of an image file, or why they cannot be had. Only a file (or a link to one) is
/// read: a pipe, a device or a socket named like a photo would block the run or never end.
/// A file over [`PLAIN_DECODE_BYTES`] is read whole only when its first bytes are an image
/// format's, so that a preallocated download or a disk image named `.jpg` is not read into
/// memory just to be refused.
fn read_image_file(path: &Path) -> Result<Vec<u8>, String> {
    let cannot_read = |e: std::io::Error| format!("cannot read file: {e}");
    let meta = std::fs::metadata(path).map_err(|e| match std::fs::read_link(path) {
        // A link whose target is gone says so, and where it pointed.
        Ok(to) if e.kind() == std::io::ErrorKind::NotFound => {
            format!("a link to {}, which does not exist", to.display())
        }
        _ => cannot_read(e),
    })?;
    if !meta.is_file() {
        return Err("not a regular file (a pipe, a device or a socket): not read".into());
    }
    let mut file = std::fs::File::open(path).map_err(cannot_read)?;
    let mut bytes = Vec::new();
    if meta.len() > PLAIN_DECODE_BYTES {
        (&mut file)
            .take(16)
            .read_to_end(&mut bytes)
            .map_err(cannot_read)?;
        if !names_an_image_format(&bytes) {
            return Err(format!(
                "cannot decode image: {} MiB whose first bytes are no image format's (a \
                 preallocated or damaged file?)",
                meta.len() >> 20
            ));
        }
    }
    bytes.reserve(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(cannot_read)?;
    if bytes.is_empty() {
        return Err("cannot decode image: the file is empty".into());
    }
    Ok(bytes)
}

/// Whether `head`, a file's first 16 bytes, starts as an image file does: a format the `image`
/// crate knows by its content, BigTIFF (which it reads but does not know by its content), or
/// a format named as not decoded ([`undecoded_content`]).
fn names_an_image_format(head: &[u8]) -> bool {
    image::guess_format(head).is_ok()
        || head.starts_with(b"II+\0")
        || head.starts_with(b"MM\0+")
        || undecoded_content(head).is_some()
}

/// [`decode_image`] of a file's bytes (`path` names the format when the content does not).
fn decode_bytes(path: &Path, bytes: &[u8]) -> Result<DynamicImage, String> {
    if let Some(format) = undecoded_content(bytes) {
        return Err(format!(
            "a {format} image by its content (whatever its name says): {format} images are not \
             read (JPEG, PNG, BMP, WebP, GIF and TIFF are): convert it to one of those"
        ));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot decode image: {e}"))?;
    // A JPEG is walked once: whether it is whole, and its frame's kind.
    let jpeg = (reader.format() == Some(ImageFormat::Jpeg)).then(|| jpeg::walk(bytes));
    match reader.format() {
        Some(ImageFormat::Jpeg) if jpeg.is_some_and(|w| !w.whole) => {
            return Err(
                "cannot decode image: truncated JPEG (the file ends before its end-of-image marker)"
                    .into(),
            );
        }
        Some(ImageFormat::Tiff) => {
            if let Some(why) = tiff_samples::unread_samples(bytes) {
                return Err(format!("cannot decode image: {why}"));
            }
        }
        Some(_) => {}
        None => {
            if let Ok(format) = ImageFormat::from_path(path) {
                reader.set_format(format);
            }
        }
    }
    let frame = jpeg.and_then(|w| w.frame);
    // A lossless JPEG, which the `image` crate does not read: jpeg-decoder's whole picture.
    let lossless = match frame {
        Some(jpeg::LOSSLESS) => jpeg::decode_lossless(bytes),
        _ => None,
    };
    let img = match lossless {
        Some(decoded) => decoded.map_err(|why| format!("cannot decode image: {why}"))?,
        None => decode_upright(reader, bytes, frame)?,
    };
    if img.width() == 0 || img.height() == 0 {
        return Err("image has zero size".into());
    }
    Ok(flatten::onto_white(img))
}

/// The picture the `image` crate decodes from `reader`, upright by its orientation; `frame`
/// is a JPEG's frame marker ([`jpeg::Walk::frame`]), to name a kind the crate does not read.
fn decode_upright(
    reader: ImageReader<Cursor<&[u8]>>,
    bytes: &[u8],
    frame: Option<u8>,
) -> Result<DynamicImage, String> {
    // A JPEG frame of a kind the decoder does not read is named as such, not by the
    // decoder's message about its first field it cannot parse.
    // A TIFF of samples the decoder does not read is told by what they are: the decoder's
    // message names a colour type only ("Unknown(32)").
    let tiff = reader.format() == Some(ImageFormat::Tiff);
    let cannot_decode = |e: image::ImageError| match frame.and_then(jpeg::unread_frame) {
        Some(why) => format!("cannot decode image: {why}"),
        None => match e {
            image::ImageError::Unsupported(_) if tiff => {
                match tiff_samples::unsupported_samples(bytes) {
                    Some(why) => format!("cannot decode image: {why}"),
                    None => format!("cannot decode image: {e}"),
                }
            }
            _ => format!("cannot decode image: {e}"),
        },
    };
    let mut decoder = reader.into_decoder().map_err(cannot_decode)?;
    check_decoded_size(decoder.dimensions(), decoder.total_bytes(), bytes.len())
        .map_err(|why| format!("cannot decode image: {why}"))?;
    // The EXIF block's tag read as SHORT or LONG ([`exif`]), else the decoder's own reading
    // (a TIFF file's orientation is a tag of its own IFD, not an EXIF block).
    let exif = decoder.exif_metadata().ok().flatten();
    let orientation = exif
        .as_deref()
        .and_then(exif::orientation)
        .or_else(|| decoder.orientation().ok())
        .unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(cannot_decode)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Decode one photo to RGB ([`decode_image`], then converted).
pub fn decode_photo(path: &Path) -> Result<RgbImage, String> {
    decode_image(path).map(|img| img.into_rgb8())
}

/// `img`, or, when its longer side exceeds `side`, resized to that side (aspect kept; the
/// triangle filter averages over the whole footprint when shrinking).
fn at_most(img: DynamicImage, side: u32) -> DynamicImage {
    if img.width().max(img.height()) <= side {
        img
    } else {
        img.resize(side, side, FilterType::Triangle)
    }
}

/// Why a folder gave no photo, given what was skipped in it: no image file at all, or every
/// one skipped (the first named). Every command that reads a photo folder says it this way.
pub fn no_photos_reason(skipped: &[(PathBuf, String)]) -> String {
    match skipped {
        [] => format!(
            "no image files ({}) in this folder or below",
            PHOTO_EXTENSIONS.join(", ")
        ),
        [(p, why), ..] => format!(
            "no usable photos ({} file{} skipped; first: {}: {why})",
            skipped.len(),
            if skipped.len() == 1 { "" } else { "s" },
            p.display()
        ),
    }
}

/// The longer side, in pixels, of the photos [`read_photo_folder`] keeps: a larger photo is
/// resized down as it is read. Training and `imsat eval` hold every photo of a folder in
/// memory and edit it there: a thousand 12-megapixel phone photos would take 36 GB at full
/// size, 3 GB at this one, and a model's view (16x16 for photo64) sees no difference.
pub const MAX_SIDE: u32 = 1024;

/// Read every photo under `dir` (in path order, decoded on every core; `RAYON_NUM_THREADS`
/// caps them), each at most [`MAX_SIDE`] pixels on its longer side. `on_file(n)` is called
/// once per file read, `n` being the number of files to read (a progress bar's step).
pub fn read_photo_folder(
    dir: &Path,
    on_file: &(dyn Fn(usize) + Sync),
) -> Result<PhotoFolder, DataError> {
    let files = photo_files(dir)?;
    let n = files.photos.len();
    let decoded: Vec<Result<RgbImage, String>> = files
        .photos
        .par_iter()
        .map(|f| {
            // A large JPEG decodes at a reduced size still at least MAX_SIDE on its shorter
            // side (so on the longer one too), then shrinks to MAX_SIDE as any other photo.
            let img =
                decode_image_at_least(f, MAX_SIDE).map(|img| at_most(img, MAX_SIDE).into_rgb8());
            on_file(n);
            img
        })
        .collect();
    let mut out = PhotoFolder {
        photos: Vec::new(),
        paths: Vec::new(),
        skipped: files.skips(),
        ignored: files.ignored,
    };
    for (f, img) in files.photos.into_iter().zip(decoded) {
        match img {
            Ok(img) => {
                out.photos.push(img);
                out.paths.push(f);
            }
            Err(why) => out.skipped.push((f, why)),
        }
    }
    if out.photos.is_empty() {
        return Err(DataError::Invalid {
            path: dir.to_path_buf(),
            what: no_photos_reason(&out.skipped),
        });
    }
    Ok(out)
}
