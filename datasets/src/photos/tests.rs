//! Decoding upright: a JPEG with an EXIF orientation tag decodes as a viewer shows it.

use super::*;
use image::codecs::jpeg::JpegEncoder;
use image::{ImageEncoder, Rgb};

/// An EXIF block holding the orientation `tag` as the standard's SHORT
/// ([`super::exif::tests::block`]).
fn exif_orientation(tag: u16) -> Vec<u8> {
    super::exif::tests::block(u32::from(tag), 3, true)
}

/// A picture that no turn or mirror maps onto itself: a dark left third, a bright top-right
/// block and a mid-gray rest, in flat areas that JPEG keeps.
fn upright() -> RgbImage {
    RgbImage::from_fn(48, 32, |x, y| match (x < 16, y < 12) {
        (true, _) => Rgb([20, 40, 60]),
        (false, true) => Rgb([230, 220, 200]),
        (false, false) => Rgb([120, 130, 140]),
    })
}

/// What a camera stores for the upright picture under each tag it writes: for 6 ("rotate
/// 90 degrees clockwise to view") the picture turned a quarter counter-clockwise, for 8 the
/// other way, for 3 a half turn. Written from pixel coordinates.
fn stored(a: &RgbImage, tag: u16) -> RgbImage {
    let (w, h) = a.dimensions();
    match tag {
        1 => a.clone(),
        3 => RgbImage::from_fn(w, h, |x, y| *a.get_pixel(w - 1 - x, h - 1 - y)),
        // The stored row y is the upright column w-1-y, read top to bottom.
        6 => RgbImage::from_fn(h, w, |x, y| *a.get_pixel(w - 1 - y, x)),
        8 => RgbImage::from_fn(h, w, |x, y| *a.get_pixel(y, h - 1 - x)),
        _ => unreachable!(),
    }
}

fn write_jpeg(path: &Path, img: &RgbImage, exif: Option<Vec<u8>>) {
    let mut out = Vec::new();
    let mut enc = JpegEncoder::new_with_quality(&mut out, 95);
    if let Some(exif) = exif {
        enc.set_exif_metadata(exif).unwrap();
    }
    enc.write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    std::fs::write(path, out).unwrap();
}

/// Mean absolute difference per channel value; `None` when the sizes differ.
fn distance(a: &RgbImage, b: &RgbImage) -> Option<f64> {
    (a.dimensions() == b.dimensions()).then(|| {
        let sum: u64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(&p, &q)| p.abs_diff(q) as u64)
            .sum();
        sum as f64 / a.as_raw().len() as f64
    })
}

#[test]
fn a_tagged_photo_decodes_upright_and_an_untagged_one_as_stored() {
    let d = tempfile::tempdir().unwrap();
    let a = upright();
    for tag in [1, 3, 6, 8] {
        let s = stored(&a, tag);
        let tagged = d.path().join(format!("tag{tag}.jpg"));
        write_jpeg(&tagged, &s, Some(exif_orientation(tag)));
        let got = decode_photo(&tagged).unwrap();
        let off =
            distance(&got, &a).unwrap_or_else(|| panic!("tag {tag}: size {:?}", got.dimensions()));
        assert!(off < 3.0, "tag {tag}: {off} from the upright picture");
        // The same pixels without the tag: as stored, which for a turn is another picture.
        let plain = d.path().join(format!("plain{tag}.jpg"));
        write_jpeg(&plain, &s, None);
        let got = decode_photo(&plain).unwrap();
        assert!(distance(&got, &s).unwrap() < 3.0, "tag {tag} untagged");
        if tag != 1 {
            assert!(distance(&got, &a).is_none_or(|off| off > 30.0), "tag {tag}");
        }
    }
}

/// The tag stored as a LONG (as some apps and scanners write it), in either byte order:
/// upright too, decoded whole and reduced; the `image` crate alone left it sideways.
#[test]
fn an_orientation_stored_as_long_turns_the_photo_upright() {
    let d = tempfile::tempdir().unwrap();
    let small = upright();
    let large = detailed(1280, 2048);
    for little in [true, false] {
        let exif = super::exif::tests::block(6, 4, little);
        let p = d.path().join(format!("long{little}.jpg"));
        write_jpeg(&p, &stored(&small, 6), Some(exif.clone()));
        let got = decode_photo(&p).unwrap();
        let off = distance(&got, &small).unwrap_or(f64::MAX);
        assert!(off < 3.0, "little-endian {little}: {off} from upright");
        let p = d.path().join(format!("large{little}.jpg"));
        write_jpeg(&p, &stored(&large, 6), Some(exif));
        let got = decode_image_at_least(&p, 100).unwrap().to_rgb8();
        assert_eq!(got.dimensions(), (160, 256), "little-endian {little}");
        let worst = largest_difference(&cell_means(&large, 16), &cell_means(&got, 16));
        assert!(worst < 2.0, "little-endian {little}: {worst}");
    }
}

#[test]
fn unreadable_orientation_metadata_leaves_the_photo_as_stored() {
    let d = tempfile::tempdir().unwrap();
    let a = upright();
    // A tag value outside 1-8, and an EXIF chunk cut inside its first entry.
    let mut cut = exif_orientation(6);
    cut.truncate(13);
    for (name, exif) in [("bad_value", exif_orientation(42)), ("cut", cut)] {
        let p = d.path().join(format!("{name}.jpg"));
        write_jpeg(&p, &a, Some(exif));
        let got = decode_photo(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(distance(&got, &a).unwrap() < 3.0, "{name}");
    }
}

#[test]
fn webp_gif_and_tiff_are_read_and_heic_is_named() {
    let d = tempfile::tempdir().unwrap();
    let a = upright();
    // Lossless encodings of a three-colour picture: each must decode to its exact pixels.
    for (name, format) in [
        ("a.png", ImageFormat::Png),
        ("b.webp", ImageFormat::WebP),
        ("c.gif", ImageFormat::Gif),
        ("d.tif", ImageFormat::Tiff),
        ("e.TIFF", ImageFormat::Tiff),
    ] {
        a.save_with_format(d.path().join(name), format).unwrap();
    }
    std::fs::write(d.path().join("f.heic"), b"\0\0\0\x18ftypheic").unwrap();
    let folder = read_photo_folder(d.path(), &|_| {}).unwrap();
    let names: Vec<_> = folder
        .paths
        .iter()
        .map(|p| p.file_name().unwrap())
        .collect();
    assert_eq!(names, ["a.png", "b.webp", "c.gif", "d.tif", "e.TIFF"]);
    for (p, img) in folder.paths.iter().zip(&folder.photos) {
        assert_eq!(img, &a, "{}", p.display());
    }
    assert_eq!(folder.skipped.len(), 1, "{:?}", folder.skipped);
    assert!(folder.skipped[0].0.ends_with("f.heic"));
}

/// A TIFF of samples the decoder does not read (a grayscale of 32-bit floats, as scientific
/// cameras write) is skipped, named by what its samples are, not by the decoder's
/// "Unknown(32)".
#[test]
fn a_tiff_of_samples_not_read_is_named_by_its_samples() {
    let d = tempfile::tempdir().unwrap();
    upright().save(d.path().join("a.png")).unwrap();
    let floats = super::tiff_samples::tests::tiff_of(1, Some(3));
    std::fs::write(d.path().join("b.tif"), floats).unwrap();
    let folder = read_photo_folder(d.path(), &|_| {}).unwrap();
    assert_eq!(folder.photos.len(), 1);
    assert_eq!(folder.skipped.len(), 1, "{:?}", folder.skipped);
    let (path, why) = &folder.skipped[0];
    assert!(path.ends_with("b.tif"));
    assert!(
        why.contains("32-bit floating-point grayscale samples") && !why.contains("Unknown"),
        "{why}"
    );
}

/// What a folder holds besides photos: hidden files (a Mac's `._IMG.jpg` resource forks,
/// which are not JPEG) and hidden folders are not read, `.jfif` and `.jpe` JPEGs are, a
/// link to a folder is named and not followed, and a HEIC photo named `.jpg` is named as
/// HEIC, not as a broken JPEG.
#[test]
fn hidden_files_links_to_folders_and_other_names_of_jpeg() {
    let d = tempfile::tempdir().unwrap();
    let a = upright();
    for name in ["a.jpg", "b.jfif", "c.JPE", ".hidden/d.jpg", "sub/e.jpg"] {
        let p = d.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        write_jpeg(&p, &a, None);
    }
    std::fs::write(
        d.path().join("._a.jpg"),
        b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X",
    )
    .unwrap();
    std::fs::write(
        d.path().join("f.jpg"),
        b"\0\0\0\x18ftypheic\0\0\0\0mif1heic",
    )
    .unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(d.path().join("sub"), d.path().join("link")).unwrap();
    let files = photo_files(d.path()).unwrap();
    let names: Vec<_> = files
        .photos
        .iter()
        .map(|p| p.strip_prefix(d.path()).unwrap().to_path_buf())
        .collect();
    let want = ["a.jpg", "b.jfif", "c.JPE", "f.jpg", "sub/e.jpg"];
    assert_eq!(names, want.map(PathBuf::from));
    #[cfg(unix)]
    {
        assert_eq!(files.unread_folders.len(), 1, "{:?}", files.unread_folders);
        assert!(files.unread_folders[0].0.ends_with("link"));
        assert!(
            files.unread_folders[0]
                .1
                .contains("a link to a folder, not followed")
        );
    }
    let folder = read_photo_folder(d.path(), &|_| {}).unwrap();
    assert_eq!(folder.photos.len(), 4);
    let heic = folder.skipped.iter().find(|(p, _)| p.ends_with("f.jpg"));
    let (_, why) = heic.expect("f.jpg named as skipped");
    assert!(why.starts_with("a HEIC image by its content"), "{why}");
    assert_eq!(folder.skipped.len(), 1 + usize::from(cfg!(unix)));
}

/// Paths are sorted as byte strings, as a script lists a tree (`sorted(glob("**/*",
/// recursive=True))`): a photo `a.jpg` before the folder `a/` of its copies, which comes
/// before `a b/` and `a0.jpg` (`/` sorts after a space and `.`, before `0`). `Path`'s own
/// order, part by part, put `a/` first, and a benchmark pairing raw codes with its listing
/// then paired each original with its copies' codes. Files of no image name are listed as
/// ignored, hidden ones not at all.
#[test]
fn a_tree_is_listed_in_the_byte_order_of_its_paths_with_other_files_counted() {
    let d = tempfile::tempdir().unwrap();
    let want = [
        "a b/1.jpg",
        "a-b.jpg",
        "a.jpg",
        "a/q30.jpg",
        "a/sub/x.png",
        "a0.jpg",
        "a\u{e9}.jpg",
        "b.JPG",
    ];
    let mut shuffled = want;
    shuffled.reverse();
    for name in shuffled {
        let p = d.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        write_jpeg(&p, &upright(), None);
    }
    for other in ["notes.txt", "a/03", ".hidden.jpg"] {
        std::fs::write(d.path().join(other), b"x").unwrap();
    }
    let files = photo_files(d.path()).unwrap();
    let below = |paths: &[PathBuf]| -> Vec<String> {
        let name = |p: &PathBuf| {
            p.strip_prefix(d.path())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        };
        paths.iter().map(name).collect()
    };
    assert_eq!(below(&files.photos), want);
    let ignored = below(&files.ignored);
    assert_eq!(ignored, ["a/03", "notes.txt"]);
}

/// A pipe or a device named like a photo is named as skipped, not read (reading a pipe
/// blocks until a writer comes, `/dev/zero` never ends), and a large file of zeros (a
/// preallocated download) is refused from its first bytes, not read whole.
#[cfg(unix)]
#[test]
fn pipes_devices_and_large_files_of_no_image_format_are_named_not_read() {
    let d = tempfile::tempdir().unwrap();
    write_jpeg(&d.path().join("a.jpg"), &upright(), None);
    let fifo = d.path().join("b_pipe.jpg");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    std::os::unix::fs::symlink("/dev/zero", d.path().join("c_zero.png")).unwrap();
    // Sparse: 200 MiB that take no disk.
    let big = std::fs::File::create(d.path().join("d_preallocated.jpg")).unwrap();
    big.set_len(200 << 20).unwrap();
    // As large, but starting as a BMP: read whole and refused by the decoder.
    std::fs::write(d.path().join("e_bmp.bmp"), b"BM").unwrap();
    let bmp = std::fs::OpenOptions::new()
        .write(true)
        .open(d.path().join("e_bmp.bmp"))
        .unwrap();
    bmp.set_len(200 << 20).unwrap();
    // A link whose photo was moved away.
    std::os::unix::fs::symlink(d.path().join("moved.jpg"), d.path().join("f_link.jpg")).unwrap();

    let folder = read_photo_folder(d.path(), &|_| {}).unwrap();
    assert_eq!(folder.photos.len(), 1);
    let why = |name: &str| {
        let skip = folder.skipped.iter().find(|(p, _)| p.ends_with(name));
        skip.unwrap_or_else(|| panic!("{name} not named: {:?}", folder.skipped))
            .1
            .clone()
    };
    for name in ["b_pipe.jpg", "c_zero.png"] {
        assert!(why(name).starts_with("not a regular file"), "{}", why(name));
    }
    let big = why("d_preallocated.jpg");
    assert!(
        big.contains("200 MiB whose first bytes are no image format's"),
        "{big}"
    );
    let bmp = why("e_bmp.bmp");
    assert!(
        bmp.starts_with("cannot decode image") && !bmp.contains("first bytes"),
        "{bmp}"
    );
    let link = why("f_link.jpg");
    assert!(
        link.starts_with("a link to ") && link.ends_with("moved.jpg, which does not exist"),
        "{link}"
    );
    assert_eq!(folder.skipped.len(), 5);
}

#[test]
fn a_folder_is_read_in_path_order_with_large_photos_shrunk_to_the_max_side() {
    let d = tempfile::tempdir().unwrap();
    // 12 pictures of different grays, three of them larger than MAX_SIDE (one portrait), and
    // a broken file among them.
    let sizes = |i: u32| match i {
        3 => (3000, 2000),
        7 => (1000, 2600),
        9 => (MAX_SIDE + 1, 40),
        _ => (60 + i, 40),
    };
    for i in 0..12u32 {
        let (w, h) = sizes(i);
        image::RgbImage::from_pixel(w, h, image::Rgb([20 * i as u8, 7, 200]))
            .save(d.path().join(format!("{i:02}.png")))
            .unwrap();
    }
    std::fs::write(d.path().join("05b.png"), b"not a png").unwrap();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let folder = read_photo_folder(d.path(), &|n| {
        assert_eq!(n, 13);
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(calls.into_inner(), 13, "one call per file read");
    let names: Vec<String> = (0..12).map(|i| format!("{i:02}.png")).collect();
    let got: Vec<String> = folder
        .paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(got, names);
    assert_eq!(folder.skipped.len(), 1);
    assert!(folder.skipped[0].0.ends_with("05b.png"));
    for (i, img) in (0..12u32).zip(&folder.photos) {
        let want = match i {
            3 => (MAX_SIDE, 683),
            7 => (394, MAX_SIDE),
            9 => (MAX_SIDE, 40),
            _ => sizes(i),
        };
        assert_eq!(img.dimensions(), want, "{i:02}.png");
        // The right picture in the right row: its own gray survives the resize.
        assert_eq!(
            img.get_pixel(img.width() / 2, img.height() / 2)[0],
            20 * i as u8
        );
    }
}

/// A picture with detail at every scale: gradients, sharp-edged blocks that do not fall on
/// JPEG's 8-pixel grid, and a fine checker that only averages to gray.
fn detailed(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let checker = if (x / 3 + y / 3) % 2 == 0 { 40 } else { 0 };
        let block = if (x / 101 + y / 77) % 3 == 0 { 90 } else { 0 };
        Rgb([
            (x * 150 / w + checker) as u8,
            (y * 120 / h + block) as u8,
            (60 + block + checker / 2) as u8,
        ])
    })
}

/// The mean of each channel over each cell of an `n` x `n` grid (the image's sides divisible
/// by `n`): what an area-averaged model view is made of.
fn cell_means(img: &RgbImage, n: u32) -> Vec<f64> {
    let (cw, ch) = (img.width() / n, img.height() / n);
    assert_eq!((cw * n, ch * n), img.dimensions());
    let mut out = Vec::new();
    for cy in 0..n {
        for cx in 0..n {
            for c in 0..3 {
                let sum: u64 = (cy * ch..(cy + 1) * ch)
                    .flat_map(|y| (cx * cw..(cx + 1) * cw).map(move |x| (x, y)))
                    .map(|(x, y)| u64::from(img.get_pixel(x, y)[c]))
                    .sum();
                out.push(sum as f64 / f64::from(cw * ch));
            }
        }
    }
    out
}

/// The largest absolute difference between two lists of cell means.
fn largest_difference(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max)
}

#[test]
fn a_large_jpeg_decodes_reduced_to_the_same_cell_means_and_a_small_one_whole() {
    let d = tempfile::tempdir().unwrap();
    let large = d.path().join("large.jpg");
    write_jpeg(&large, &detailed(2048, 1280), None);
    let whole = decode_photo(&large).unwrap();
    assert_eq!(whole.dimensions(), (2048, 1280));
    let reference = cell_means(&whole, 16);
    // The smallest of 1/8, 1/4, 1/2 whose shorter side is at least min_side, else whole.
    for (min_side, size) in [
        (1, (256, 160)),
        (160, (256, 160)),
        (161, (512, 320)),
        (320, (512, 320)),
        (640, (1024, 640)),
        (641, (2048, 1280)),
    ] {
        let got = decode_image_at_least(&large, min_side).unwrap().to_rgb8();
        assert_eq!(got.dimensions(), size, "min_side {min_side}");
        let worst = largest_difference(&reference, &cell_means(&got, 16));
        assert!(
            worst < 1.5,
            "min_side {min_side}: a cell mean {worst} levels off"
        );
    }
    // A picture not twice min_side, and any other format, decode whole: the same pixels.
    let small = d.path().join("small.jpg");
    write_jpeg(&small, &detailed(384, 256), None);
    assert_eq!(
        decode_image_at_least(&small, 256).unwrap(),
        decode_image(&small).unwrap()
    );
    let png = d.path().join("large.png");
    detailed(2048, 1280).save(&png).unwrap();
    assert_eq!(
        decode_image_at_least(&png, 100)
            .unwrap()
            .to_rgb8()
            .dimensions(),
        (2048, 1280)
    );
}

#[test]
fn a_reduced_decode_is_upright_and_a_cut_large_jpeg_is_named() {
    let d = tempfile::tempdir().unwrap();
    // Stored turned a quarter, tagged 6: reduced and upright, the cells of the upright picture.
    let a = detailed(1280, 2048);
    let tagged = d.path().join("tagged.jpg");
    write_jpeg(&tagged, &stored(&a, 6), Some(exif_orientation(6)));
    let got = decode_image_at_least(&tagged, 100).unwrap().to_rgb8();
    assert_eq!(got.dimensions(), (160, 256));
    let worst = largest_difference(&cell_means(&a, 16), &cell_means(&got, 16));
    assert!(
        worst < 2.0,
        "a cell mean {worst} levels off the upright picture"
    );
    // Cut in half: the same error as a whole decode gives, not a picture half gray.
    let bytes = std::fs::read(&tagged).unwrap();
    let cut = d.path().join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = decode_image_at_least(&cut, 100).unwrap_err();
    assert!(err.contains("truncated JPEG"), "{err}");
    assert_eq!(err, decode_image(&cut).unwrap_err());
}

#[test]
fn a_large_jpeg_in_a_folder_is_read_reduced_to_the_same_picture_at_the_max_side() {
    let d = tempfile::tempdir().unwrap();
    // Twice MAX_SIDE on its shorter side: decoded at half size, then shrunk to MAX_SIDE.
    let large = d.path().join("a_large.jpg");
    write_jpeg(&large, &detailed(2 * 2048, 2 * 1280), None);
    // Not twice MAX_SIDE: decoded whole, as before.
    let small = d.path().join("b_small.jpg");
    write_jpeg(&small, &detailed(1800, 1500), None);
    let folder = read_photo_folder(d.path(), &|_| {}).unwrap();
    let whole = |p: &Path| at_most(decode_image(p).unwrap(), MAX_SIDE).to_rgb8();
    assert_eq!(folder.photos[0].dimensions(), (MAX_SIDE, 640));
    let worst = largest_difference(
        &cell_means(&whole(&large), 16),
        &cell_means(&folder.photos[0], 16),
    );
    assert!(worst < 1.5, "a cell mean {worst} levels off");
    assert_eq!(folder.photos[1], whole(&small));
}

/// A small progressive JPEG (Pillow's, 32x24, saved beside this file) decodes whole and
/// reduced; with its frame header claiming 65535x65535, its 657 bytes would have made
/// jpeg-decoder allocate 25 GB of coefficients before reading a scan, and the whole decode
/// 12.9 GB of pixels. Now both refuse it before allocating, by name: past the 4 GiB limit,
/// or, at 20000x20000 (1.2 GB), as more than 657 bytes can hold.
#[test]
fn a_small_jpeg_claiming_a_huge_picture_is_refused_not_allocated() {
    let real = include_bytes!("progressive_32x24.jpg");
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("p.jpg");
    std::fs::write(&path, real).unwrap();
    let whole = decode_image_at_least(&path, 24).unwrap();
    assert_eq!((whole.width(), whole.height()), (32, 24));
    let half = jpeg::decode_reduced(real, 12).expect("a progressive JPEG decodes reduced");
    assert_eq!((half.width(), half.height()), (16, 12));

    // The progressive frame header: FF C2, length (2), precision (1), height (2), width (2).
    let sof = real
        .windows(2)
        .position(|w| w == [0xFF, 0xC2])
        .expect("a progressive frame");
    for (side, needle) in [
        (
            65535u16,
            "65535x65535 pixels, 12287 MiB decoded, more than the limit of 4096 MiB",
        ),
        (
            20000,
            "20000x20000 pixels, 1144 MiB decoded, which a file of 657 bytes cannot hold",
        ),
    ] {
        let mut bomb = real.to_vec();
        bomb[sof + 5..sof + 7].copy_from_slice(&side.to_be_bytes());
        bomb[sof + 7..sof + 9].copy_from_slice(&side.to_be_bytes());
        assert!(jpeg::decode_reduced(&bomb, 1024).is_none());
        std::fs::write(&path, &bomb).unwrap();
        let err = decode_image_at_least(&path, 1024).unwrap_err();
        assert!(err.contains(needle), "{err}");
    }
}

/// Three PNGs that look the same on screen, their left half transparent over black, over
/// white and over the photo itself, decode to one picture: the visible half, and white where
/// nothing is shown (the colours under transparent pixels had given codes 24-42 bits apart).
#[test]
fn transparent_pixels_decode_as_white_whatever_colour_the_file_keeps_under_them() {
    let d = tempfile::tempdir().unwrap();
    let (w, h) = (40u32, 30u32);
    let photo = |x: u32, y: u32| [(x * 6) as u8, (y * 8) as u8, ((x + y) * 3) as u8];
    let mut decoded = Vec::new();
    for (name, hidden) in [
        ("black", Some([0u8; 3])),
        ("white", Some([255; 3])),
        ("kept", None),
    ] {
        let img = image::RgbaImage::from_fn(w, h, |x, y| {
            let [r, g, b] = photo(x, y);
            match (x < w / 2, hidden) {
                (true, Some([r, g, b])) => image::Rgba([r, g, b, 0]),
                (true, None) => image::Rgba([r, g, b, 0]),
                (false, _) => image::Rgba([r, g, b, 255]),
            }
        });
        let path = d.path().join(format!("{name}.png"));
        img.save(&path).unwrap();
        decoded.push(decode_photo(&path).unwrap());
    }
    assert_eq!(decoded[0], decoded[1]);
    assert_eq!(decoded[0], decoded[2]);
    assert_eq!(decoded[0].get_pixel(3, 4).0, [255; 3]);
    assert_eq!(decoded[0].get_pixel(30, 4).0, photo(30, 4));
}

/// A lossless JPEG (SOF3, 32x24, written by libjpeg-turbo through `imagecodecs` from the
/// progressive one's pixels): jpeg-decoder returns its whole picture whatever scale is asked,
/// which read as the smaller size was a scrambled picture (a 2048x1152 one hashed 22 bits off
/// with no error), and the `image` crate reads no lossless frame. It is decoded whole by
/// jpeg-decoder, exactly (the sums are libjpeg-turbo's decode of the same file, by
/// `imagecodecs`).
#[test]
fn a_lossless_jpeg_is_decoded_whole_and_exactly() {
    let lossless = include_bytes!("lossless_32x24.jpg");
    assert!(jpeg::reaches_end_of_image(lossless));
    assert!(jpeg::decode_reduced(lossless, 8).is_none());
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("l.jpg");
    std::fs::write(&path, lossless).unwrap();
    for min_side in [8, 1024] {
        let rgb = decode_image_at_least(&path, min_side).unwrap().into_rgb8();
        assert_eq!(rgb.dimensions(), (32, 24));
        let raw = rgb.as_raw();
        let sum: u64 = raw.iter().map(|&v| u64::from(v)).sum();
        let weighted: u64 = raw
            .iter()
            .enumerate()
            .map(|(i, &v)| i as u64 * u64::from(v))
            .sum();
        assert_eq!((sum, weighted), (415_427, 512_488_767));
        assert_eq!(rgb.get_pixel(0, 0).0, [96, 136, 185]);
        assert_eq!(rgb.get_pixel(31, 23).0, [185, 174, 170]);
    }
    // Cut short, it is named as a cut JPEG; an arithmetic-coded frame is named by its kind.
    std::fs::write(&path, &lossless[..lossless.len() / 2]).unwrap();
    let err = decode_image(&path).unwrap_err();
    assert!(err.contains("truncated JPEG"), "{err}");
    let mut arithmetic = lossless.to_vec();
    let sof = arithmetic
        .windows(2)
        .position(|w| w == [0xFF, 0xC3])
        .expect("a lossless frame");
    arithmetic[sof + 1] = 0xCB;
    let frame = jpeg::walk(&arithmetic).frame.expect("a frame");
    assert!(jpeg::unread_frame(frame).unwrap().contains("SOF11"));
    let progressive = jpeg::walk(include_bytes!("progressive_32x24.jpg"));
    assert_eq!(progressive.frame, Some(0xC2));
    assert_eq!(jpeg::unread_frame(0xC2), None);
}

/// Up to 128 MiB any picture decodes; past it, one whose file could hold it, up to 4 GiB: a
/// real 200-megapixel phone JPEG (16320x12240, 599 MB as RGB, a file of tens of MB) is read.
#[test]
fn a_large_picture_decodes_when_its_file_could_hold_it() {
    let mb = 1u64 << 20;
    assert!(check_decoded_size((16320, 12240), 16320 * 12240 * 3, 20 << 20).is_ok());
    assert!(check_decoded_size((6000, 4000), 72 * mb, 10).is_ok());
    assert!(check_decoded_size((8000, 6000), 144 * mb, 10).is_err());
    // Counted as the RGB copy it becomes: a 20000x20000 PNG of one bit a pixel (50 MB
    // decoded, 1.2 GB as RGB) in 48 kB, and the same in gray in 390 kB, decoded before.
    for (bytes_a_pixel, file) in [(1, 48_000), (8, 390_000)] {
        let err = check_decoded_size((20000, 20000), 50 * mb * bytes_a_pixel, file).unwrap_err();
        assert!(err.contains("1144 MiB decoded, which a file of"), "{err}");
    }
    let err = check_decoded_size((16320, 12240), 16320 * 12240 * 3, 100_000).unwrap_err();
    assert!(err.contains("cannot hold"), "{err}");
    let err = check_decoded_size((40000, 40000), 4800 * mb, 1 << 30).unwrap_err();
    assert!(err.contains("more than the limit of 4096 MiB"), "{err}");
}

/// The folder given must exist and be a folder: an error naming it, not an empty listing.
#[test]
fn a_missing_folder_or_a_file_given_as_one_is_an_error_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("a.jpg");
    write_jpeg(&file, &upright(), None);
    for given in [d.path().join("missing"), file] {
        let e = photo_files(&given).unwrap_err().to_string();
        assert!(e.contains(&given.display().to_string()), "{e}");
    }
}

/// Formats not read, by name (HEIC, AVIF, JPEG XL, JPEG 2000) and by content whatever the
/// name: each is named, never taken for a broken JPEG.
#[test]
fn each_format_not_read_is_named_by_its_name_or_its_content() {
    for ext in UNDECODED_EXTENSIONS {
        let p = PathBuf::from(format!("x.{}", ext.to_uppercase()));
        assert!(is_undecoded(&p) && !is_photo(&p), "{ext}");
        let why = undecoded_reason(&p);
        assert!(
            why.starts_with(&format!("{ext} images are not read (JPEG, PNG")),
            "{why}"
        );
    }
    let d = tempfile::tempdir().unwrap();
    for (content, format) in [
        (&b"\0\0\0\x1cftypheic\0\0\0\0"[..], "HEIC"),
        (b"\0\0\0\x1cftypmif1\0\0\0\0", "HEIC"),
        (b"\0\0\0\x1cftypavif\0\0\0\0", "AVIF"),
        (b"\0\0\0\x1cftypavis\0\0\0\0", "AVIF"),
        (b"\0\0\0\x0cJXL \r\n\x87\n\0\0", "JPEG XL"),
        (b"\xff\x0a\xfa\x7f\0\0\0\0\0\0\0\0", "JPEG XL"),
        (b"\0\0\0\x0cjP  \r\n\x87\n\0\0", "JPEG 2000"),
    ] {
        let p = d.path().join("photo.jpg");
        std::fs::write(&p, content).unwrap();
        let why = decode_image(&p).unwrap_err();
        assert!(
            why.starts_with(&format!("a {format} image by its content")),
            "{format}: {why}"
        );
    }
    // Another brand of the same box is an MP4 video, not a photo format named here.
    assert_eq!(undecoded_content(b"\0\0\0\x1cftypisom\0\0\0\0"), None);
    assert_eq!(undecoded_content(b"\0\0\0\x0cJXL "), None, "under 12 bytes");
}

/// A file over 128 MiB is read whole only when its first bytes are an image format's:
/// BigTIFF in either byte order and a format named as not read count; one of exactly
/// 128 MiB is read whatever it starts with.
#[cfg(unix)]
#[test]
fn large_files_are_read_when_their_first_bytes_name_an_image_format() {
    let d = tempfile::tempdir().unwrap();
    let sparse = |name: &str, head: &[u8], len: u64| {
        let p = d.path().join(name);
        std::fs::write(&p, head).unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(len).unwrap();
        p
    };
    let over = PLAIN_DECODE_BYTES + 1;
    for head in [
        &b"II+\0"[..],
        b"MM\0+",
        b"\xff\x0a\xfa\x7f",
        b"\x89PNG\r\n\x1a\n",
    ] {
        let p = sparse("big.tif", head, over);
        let bytes = read_image_file(&p).unwrap_or_else(|e| panic!("{head:02x?}: {e}"));
        assert_eq!(bytes.len() as u64, over);
    }
    let p = sparse("zeros.jpg", b"", over);
    let e = read_image_file(&p).unwrap_err();
    assert!(e.contains("whose first bytes are no image format's"), "{e}");
    let p = sparse("zeros.jpg", b"", PLAIN_DECODE_BYTES);
    assert_eq!(
        read_image_file(&p).unwrap().len() as u64,
        PLAIN_DECODE_BYTES
    );
    std::fs::write(&p, b"").unwrap();
    assert_eq!(
        read_image_file(&p).unwrap_err(),
        "cannot decode image: the file is empty"
    );
}

/// Each bound of the decoded-size check, at equality: 128 MiB needs no file size, a larger
/// picture needs a file of at least 1/2048 of it, and none may pass 4 GiB; a picture is
/// counted as RGB when its decoder's own size is smaller.
#[test]
fn the_decoded_size_check_at_each_bound() {
    let big = usize::MAX;
    assert_eq!(check_decoded_size((1, 1), PLAIN_DECODE_BYTES, 0), Ok(()));
    let just_over = PLAIN_DECODE_BYTES + MAX_DECODED_PER_FILE_BYTE;
    let holds = (just_over / MAX_DECODED_PER_FILE_BYTE) as usize;
    assert_eq!(check_decoded_size((1, 1), just_over, holds), Ok(()));
    let e = check_decoded_size((1, 1), just_over, holds - 1).unwrap_err();
    assert!(
        e.contains("which a file of") && e.contains("cannot hold"),
        "{e}"
    );
    assert_eq!(check_decoded_size((1, 1), MAX_DECODE_BYTES, big), Ok(()));
    let e = check_decoded_size((7, 9), MAX_DECODE_BYTES + 1, big).unwrap_err();
    assert!(
        e.contains("7x9 pixels, 4096 MiB decoded, more than the limit"),
        "{e}"
    );
    // A 1-bit picture whose decoder needs little: its RGB copy is what counts.
    let side = 8192; // 192 MiB as RGB
    assert_eq!(check_decoded_size((side, side), 1 << 20, big), Ok(()));
    let e = check_decoded_size((side, side), 1 << 20, 0).unwrap_err();
    assert!(e.contains("8192x8192 pixels, 192 MiB decoded"), "{e}");
}

#[test]
fn a_folder_without_photos_says_what_it_skipped() {
    assert_eq!(
        no_photos_reason(&[]),
        "no image files (jpg, jpeg, jfif, jpe, png, bmp, webp, gif, tif, tiff) in this folder \
         or below"
    );
    let one = [(PathBuf::from("d/a.jpg"), "cut short".to_owned())];
    assert_eq!(
        no_photos_reason(&one),
        "no usable photos (1 file skipped; first: d/a.jpg: cut short)"
    );
    let two = [
        one[0].clone(),
        (PathBuf::from("d/b.png"), "empty".to_owned()),
    ];
    assert_eq!(
        no_photos_reason(&two),
        "no usable photos (2 files skipped; first: d/a.jpg: cut short)"
    );
}
