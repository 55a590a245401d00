//! Whether a JPEG file is whole, and decoding a large one at a reduced size.
//!
//! The `image` crate decodes JPEG leniently (zune-jpeg without strict mode): a file cut short,
//! a half-copied download or a photo on a failing SD card, decodes without an error into a
//! picture whose missing part is flat gray, and would be hashed as such. Strict decoding
//! would also reject the small format slips that real cameras and editors make, so only the
//! cut is checked here: the marker segments are walked by their lengths and each scan's
//! entropy-coded data to its next marker, and a whole file reaches the end-of-image marker.
//! Walking (not searching for the marker bytes) ignores an embedded thumbnail's own end
//! marker and any data a camera appends after the image's.
//!
//! A model's 16x16 view or a contact-sheet thumbnail needs a few hundred pixels of a
//! 12-megapixel photo: [`decode_reduced`] gets them from the DCT coefficients, without
//! decoding every pixel first.

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageBuffer, Luma, RgbImage};
use jpeg_decoder::{CodingProcess, PixelFormat};

use super::check_decoded_size;

/// What one walk of a JPEG's markers finds ([`walk`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Walk {
    /// Whether the stream reaches its end-of-image marker.
    pub(crate) whole: bool,
    /// Its frame (start-of-frame) marker, `0xC0` to `0xCF`, if one comes before the end.
    pub(crate) frame: Option<u8>,
}

/// The frame marker of a lossless (SOF3) picture, which jpeg-decoder reads
/// ([`decode_lossless`]) and the `image` crate does not.
pub(crate) const LOSSLESS: u8 = 0xC3;

/// Walk `bytes`, a JPEG stream starting at its start-of-image marker, once: whether it is
/// whole and what its frame is.
pub(crate) fn walk(bytes: &[u8]) -> Walk {
    let mut frame = None;
    let whole = markers(bytes)
        .inspect(|&m| {
            let is_frame = matches!(m, 0xC0..=0xCF) && !matches!(m, 0xC4 | 0xC8 | 0xCC);
            if is_frame && frame.is_none() {
                frame = Some(m);
            }
        })
        .any(|m| m == 0xD9);
    Walk { whole, frame }
}

/// Whether `bytes`, a JPEG stream starting at its start-of-image marker, reaches its
/// end-of-image marker.
pub(crate) fn reaches_end_of_image(bytes: &[u8]) -> bool {
    walk(bytes).whole
}

/// Why the `image` crate cannot decode a JPEG of frame marker `sof` ([`Walk::frame`]), when
/// it is of a kind it does not read (its own message, "Number of components cannot be
/// zero", names none): lossless (SOF3, 7, 11, 15) and arithmetic-coded (SOF9 to 15) frames.
/// (A lossless SOF3 frame that jpeg-decoder reads never gets here: [`decode_lossless`].)
pub(crate) fn unread_frame(sof: u8) -> Option<String> {
    let n = sof.checked_sub(0xC0)?;
    let kind = match (n & 3 == 3, n >= 9) {
        (true, true) => "a lossless arithmetic-coded",
        (true, false) => "a lossless",
        (false, true) => "an arithmetic-coded",
        (false, false) => return None,
    };
    Some(format!(
        "{kind} JPEG (frame marker SOF{n}), which is not read (baseline and progressive \
         JPEGs are): re-save it as an ordinary JPEG or a PNG"
    ))
}

/// The markers of a JPEG stream in order, its segments walked by their lengths and each
/// scan's entropy-coded data to its next marker; the walk ends at the end-of-image marker
/// (the last item) or where the file is cut short or is not a JPEG.
fn markers(bytes: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut i = if bytes.starts_with(&[0xFF, 0xD8]) {
        2
    } else {
        bytes.len() + 1
    };
    std::iter::from_fn(move || {
        // The next marker: 0xFF, any fill bytes 0xFF, then the marker code. Stray bytes
        // before it are skipped, as decoders do.
        let ff = bytes.get(i..)?.iter().position(|&b| b == 0xFF)?;
        i += ff;
        while bytes.get(i) == Some(&0xFF) {
            i += 1;
        }
        let marker = *bytes.get(i)?;
        i += 1;
        match marker {
            0xD9 => {
                i = bytes.len() + 1;
                return Some(marker);
            }
            // Markers without a length: restarts, TEM, and 0x00 (a stuffed byte out of place).
            0xD0..=0xD7 | 0x01 | 0x00 => return Some(marker),
            _ => {}
        }
        let length = bytes.get(i..i + 2)?;
        i += usize::from(u16::from_be_bytes([length[0], length[1]])).max(2);
        if i > bytes.len() {
            return None;
        }
        if marker == 0xDA {
            // Start of scan: its entropy-coded data runs to the next marker that is neither
            // a stuffed 0xFF (0xFF 0x00) nor a restart marker.
            i = end_of_scan(bytes, i)?;
        }
        Some(marker)
    })
}

/// Where the entropy-coded data starting at `from` ends (the 0xFF of the marker after it),
/// or `None` when the file ends first.
fn end_of_scan(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        i += bytes.get(i..)?.iter().position(|&b| b == 0xFF)?;
        let mut code = i + 1;
        while bytes.get(code) == Some(&0xFF) {
            code += 1;
        }
        match *bytes.get(code)? {
            0x00 | 0xD0..=0xD7 => i = code + 1,
            _ => return Some(code - 1),
        }
    }
}

/// A large JPEG decoded at a reduced size straight from its DCT coefficients (jpeg-decoder's
/// scaled inverse DCT), upright by its EXIF orientation: the smallest of 1/8, 1/4 and 1/2 of
/// its size whose shorter side is still at least `min_side`. At 1/8 each pixel is its 8x8
/// block's mean (the DC term), so an area-averaged view of the result is the full picture's
/// to within rounding, at a third of the decoding and 1/64 of the pixels to sweep.
///
/// `None` when no reduction keeps `min_side`, when the file is cut short or cannot hold the
/// picture its header claims (left to the whole decode, which names it), when it is lossless
/// (no DCT), when the pixels are not 8-bit gray or RGB (CMYK, 16-bit), or when
/// jpeg-decoder refuses the file: the caller then decodes it whole. The file is walked for its
/// end only once it is known to be large, so a small JPEG is walked once, by the whole decode.
pub(crate) fn decode_reduced(bytes: &[u8], min_side: u32) -> Option<DynamicImage> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    // A small file can claim 65535x65535 pixels, and jpeg-decoder allocates a progressive
    // picture's coefficients (2 bytes a sample, at most) before reading a scan, whatever the
    // scale: 25 GB for a 15 kB file. A size the file cannot hold is left to the whole decode,
    // which refuses it by name; a baseline picture is decoded at the scale, a row at a time.
    // A lossless (SOF3) picture has no DCT to scale: jpeg-decoder returns it whole whatever
    // the scale asked, which read as the smaller size scrambles it. Left to the whole decode.
    let per_sample = match info.coding_process {
        CodingProcess::DctSequential => 1,
        CodingProcess::DctProgressive => 2,
        CodingProcess::Lossless => return None,
    };
    let full = u64::from(w) * u64::from(h) * info.pixel_format.pixel_bytes() as u64;
    check_decoded_size((w, h), full * per_sample, bytes.len()).ok()?;
    // Output size at k/8 of the picture, as the decoder rounds it (up).
    let at = |len: u32, k: u32| (len * k).div_ceil(8);
    let k = [1, 2, 4]
        .into_iter()
        .find(|&k| at(w.min(h), k) >= min_side.max(1))?;
    if !reaches_end_of_image(bytes) {
        return None;
    }
    // The decoder takes the smallest scale reaching the request on either side: this one.
    let (sw, sh) = decoder
        .scale(u16::try_from(at(w, k)).ok()?, u16::try_from(at(h, k)).ok()?)
        .ok()?;
    if (u32::from(sw), u32::from(sh)) != (at(w, k), at(h, k)) {
        return None;
    }
    if !matches!(info.pixel_format, PixelFormat::L8 | PixelFormat::RGB24) {
        return None;
    }
    let pixels = decoder.decode().ok()?;
    upright(
        &decoder,
        info.pixel_format,
        (u32::from(sw), u32::from(sh)),
        pixels,
    )
}

/// jpeg-decoder's `pixels` of a `w x h` picture as an image (8-bit gray or RGB, 16-bit
/// gray), upright by the file's EXIF orientation. `None` for CMYK, or for pixels that are not
/// exactly that picture's: `from_raw` would take a longer buffer as the first rows of a
/// larger picture.
fn upright(
    decoder: &jpeg_decoder::Decoder<&[u8]>,
    format: PixelFormat,
    (w, h): (u32, u32),
    pixels: Vec<u8>,
) -> Option<DynamicImage> {
    let size = u64::from(w) * u64::from(h) * format.pixel_bytes() as u64;
    if pixels.len() as u64 != size {
        return None;
    }
    let mut img = match format {
        PixelFormat::L8 => DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, pixels)?),
        PixelFormat::RGB24 => DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, pixels)?),
        PixelFormat::L16 => {
            let values = pixels
                .chunks_exact(2)
                .map(|b| u16::from_ne_bytes([b[0], b[1]]))
                .collect();
            DynamicImage::ImageLuma16(ImageBuffer::<Luma<u16>, Vec<u16>>::from_raw(w, h, values)?)
        }
        PixelFormat::CMYK32 => return None,
    };
    let orientation = decoder
        .exif_data()
        .and_then(super::exif::orientation)
        .unwrap_or(Orientation::NoTransforms);
    img.apply_orientation(orientation);
    Some(img)
}

/// A lossless JPEG (SOF3, [`LOSSLESS`]) decoded whole by jpeg-decoder, upright by its EXIF
/// orientation: the `image` crate reads no lossless frame, jpeg-decoder reads them at full
/// size (8-bit gray or RGB, 9- to 16-bit gray). The caller has walked the file whole
/// ([`walk`]). `None` where jpeg-decoder does not take it for one (left to the `image`
/// crate, which names it); an error for a picture too large for its file or of deeper colour.
pub(crate) fn decode_lossless(bytes: &[u8]) -> Option<Result<DynamicImage, String>> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    if info.coding_process != CodingProcess::Lossless {
        return None;
    }
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let size = u64::from(w) * u64::from(h) * info.pixel_format.pixel_bytes() as u64;
    Some((|| {
        check_decoded_size((w, h), size, bytes.len())?;
        let pixels = decoder
            .decode()
            .map_err(|e| format!("lossless JPEG: {e}"))?;
        upright(&decoder, info.pixel_format, (w, h), pixels).ok_or_else(|| {
            "a lossless JPEG of more than 8 bits a colour sample, which is not read: re-save \
             it as a 16-bit PNG or TIFF"
                .to_string()
        })
    })())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;
    use image::{ExtendedColorType, ImageEncoder};

    /// A seeded xorshift64 stream: the same random bytes on every run.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// A real JPEG of a gradient with noise, so its scan holds stuffed 0xFF bytes.
    fn jpeg(width: u32, height: u32, restart: bool) -> Vec<u8> {
        let pixels: Vec<u8> = (0..width * height * 3)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ (i / 7) as u8)
            .collect();
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90)
            .write_image(&pixels, width, height, ExtendedColorType::Rgb8)
            .unwrap();
        if restart {
            // Restart markers (cameras write them, with a DRI segment) must not end a scan:
            // one is put into the scan data (only the walk reads this stream, no decoder).
            let sos = out.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap();
            let length = u16::from_be_bytes([out[sos + 2], out[sos + 3]]) as usize;
            let at = sos + 2 + length + 10;
            out.splice(at..at, [0xFF, 0xD0]);
        }
        out
    }

    #[test]
    fn a_whole_jpeg_reaches_its_end_and_every_cut_does_not() {
        for restart in [false, true] {
            let whole = jpeg(64, 48, restart);
            assert!(whole.windows(2).any(|w| w == [0xFF, 0x00]), "stuffed bytes");
            assert!(reaches_end_of_image(&whole));
            for cut in 0..whole.len() - 1 {
                assert!(
                    !reaches_end_of_image(&whole[..cut]),
                    "cut at {cut} of {} taken as whole",
                    whole.len()
                );
            }
        }
    }

    #[test]
    fn a_thumbnail_end_marker_and_trailing_data_are_not_the_image_end() {
        let main = jpeg(64, 48, false);
        let thumb = jpeg(8, 8, false);
        // An APP1 segment holding a whole thumbnail (as EXIF does), right after SOI.
        let mut with_thumb = vec![0xFF, 0xD8, 0xFF, 0xE1];
        with_thumb.extend_from_slice(&((thumb.len() + 2) as u16).to_be_bytes());
        with_thumb.extend_from_slice(&thumb);
        with_thumb.extend_from_slice(&main[2..]);
        assert!(reaches_end_of_image(&with_thumb));
        assert!(!reaches_end_of_image(&with_thumb[..with_thumb.len() - 200]));
        // Bytes after the end marker (a camera's trailer, even one holding marker bytes).
        let mut trailer = main.clone();
        trailer.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 2, 3, 4, 5, 6]);
        assert!(reaches_end_of_image(&trailer));
        // Not a JPEG at all.
        assert!(!reaches_end_of_image(b"\x89PNG\r\n"));
        assert!(!reaches_end_of_image(&[]));
    }

    /// The frame is the start-of-frame marker, not the APP0 or quantization table before
    /// it; stray bytes and markers without a length between segments (which decoders skip)
    /// are walked over.
    #[test]
    fn the_frame_is_found_past_other_segments_stray_bytes_and_lone_markers() {
        let plain = jpeg(16, 16, false);
        assert!(plain.starts_with(&[0xFF, 0xD8, 0xFF, 0xE0]), "APP0 first");
        let want = Walk {
            whole: true,
            frame: Some(0xC0),
        };
        assert_eq!(walk(&plain), want);
        // After APP0 (its length is at bytes 4 and 5): stray bytes, then TEM and a restart
        // marker out of place, each a marker with no length.
        let app0_end = 4 + usize::from(u16::from_be_bytes([plain[4], plain[5]]));
        for insert in [
            &[0x00, 0x12, 0x34][..],
            &[0xFF, 0x01],
            &[0xFF, 0xD3],
            &[0xFF, 0xFF, 0x01],
        ] {
            let mut odd = plain.clone();
            odd.splice(app0_end..app0_end, insert.iter().copied());
            assert_eq!(walk(&odd), want, "{insert:02x?} after APP0");
        }
        // Cut where the frame segment ends, the frame is known; one byte sooner, it is not.
        let sof = plain.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        let sof_end = sof + 2 + usize::from(u16::from_be_bytes([plain[sof + 2], plain[sof + 3]]));
        let cut = |at: usize| walk(&plain[..at]);
        assert_eq!(
            cut(sof_end),
            Walk {
                whole: false,
                frame: Some(0xC0)
            }
        );
        assert_eq!(
            cut(sof_end - 1),
            Walk {
                whole: false,
                frame: None
            }
        );
    }

    /// Every start-of-frame marker against ITU-T T.81 Table B.1: SOF0-2 and 5-6 are read,
    /// 3 and 7 are lossless, 9-10 and 13-14 arithmetic-coded, 11 and 15 both; other
    /// markers name no frame kind.
    #[test]
    fn each_frame_marker_is_named_by_the_standard_table() {
        let kind =
            |sof: u8| unread_frame(sof).map(|why| why.split(" JPEG").next().unwrap().to_owned());
        for (sof, want) in [
            (0xC0, None),
            (0xC1, None),
            (0xC2, None),
            (0xC3, Some("a lossless")),
            (0xC5, None),
            (0xC6, None),
            (0xC7, Some("a lossless")),
            (0xC9, Some("an arithmetic-coded")),
            (0xCA, Some("an arithmetic-coded")),
            (0xCB, Some("a lossless arithmetic-coded")),
            (0xCD, Some("an arithmetic-coded")),
            (0xCE, Some("an arithmetic-coded")),
            (0xCF, Some("a lossless arithmetic-coded")),
            (0x00, None),
            (0xBF, None),
        ] {
            assert_eq!(kind(sof).as_deref(), want, "marker {sof:02x}");
        }
        let why = unread_frame(0xCB).unwrap();
        assert!(why.contains("(frame marker SOF11)"), "{why}");
    }

    #[test]
    fn any_bytes_give_an_answer_not_a_panic() {
        // Random lengths, marker bytes and cut points after a start-of-image marker.
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        let mut ends = 0;
        for _ in 0..20_000 {
            let len = 2 + (next() % 40) as usize;
            let mut bytes = vec![0xFF, 0xD8];
            bytes.extend((2..len).map(|_| match next() % 4 {
                0 => 0xFF,
                1 => [0x00, 0xD9, 0xDA, 0xD0][(next() % 4) as usize],
                _ => (next() % 6) as u8,
            }));
            ends += reaches_end_of_image(&bytes) as usize;
        }
        assert!(ends > 0, "some random streams reach an end marker");
    }

    #[test]
    fn a_damaged_large_jpeg_gives_a_picture_or_none_never_a_panic() {
        // Bytes of a whole 512 x 384 JPEG overwritten at random places (headers, tables,
        // scan data): each either decodes reduced or is left to the whole decode.
        let whole = jpeg(512, 384, false);
        assert_eq!(
            decode_reduced(&whole, 40).map(|img| (img.width(), img.height())),
            Some((64, 48))
        );
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        let mut reduced = 0;
        for _ in 0..300 {
            let mut bytes = whole.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = next() as u8;
            }
            reduced += decode_reduced(&bytes, 40).is_some() as usize;
        }
        assert!(
            reduced > 0,
            "most damage is in the scan data, which still decodes"
        );
    }
}
