//! TIFF samples the `image` crate would misread.
//!
//! `image` reads 32-bit samples as floats whenever a TIFF's first image has no SampleFormat
//! tag, yet a missing tag means unsigned integers (TIFF 6.0; `tifffile` leaves it out for
//! `uint32`): the integers' bits read as floats give a picture of noise and a wrong code,
//! with no error. With the tag saying integers, `image` refuses the file itself.

use std::io::Cursor;

use tiff::decoder::Decoder;
use tiff::tags::Tag;

/// Why a TIFF's first image is not read, when its samples are 32-bit and no SampleFormat tag
/// says they are floats; `None` for every other file (read, or refused by the decoder).
pub(crate) fn unread_samples(bytes: &[u8]) -> Option<String> {
    let mut decoder = Decoder::new(Cursor::new(bytes)).ok()?;
    let bits: Vec<u16> = decoder.find_tag_unsigned_vec(Tag::BitsPerSample).ok()??;
    if !bits.contains(&32) || decoder.find_tag(Tag::SampleFormat).ok()?.is_some() {
        return None;
    }
    Some(
        "a TIFF of 32-bit unsigned integer samples (no SampleFormat tag), which are not read \
         (8- and 16-bit samples are): convert it to 8 or 16 bits"
            .into(),
    )
}

/// What a TIFF's first image holds, for the refusal of one the `image` crate does not read
/// for its samples' depth or kind: its own error names a colour type only (`Unknown(32)` for
/// a grayscale of floats). `None` where the samples are of a kind it reads (unsigned up to 16
/// bits, RGB or RGBA of 32-bit floats) or the image is of indexed or YCbCr colour: the
/// refusal was for another reason (a compression, a subsampling), which its message names.
pub(crate) fn unsupported_samples(bytes: &[u8]) -> Option<String> {
    use tiff::ColorType as C;
    let mut decoder = Decoder::new(Cursor::new(bytes)).ok()?;
    let colour = decoder.colortype().ok()?;
    let (channels, bits) = match colour {
        C::Gray(b) => ("grayscale".to_string(), b),
        C::GrayA(b) => ("grayscale and alpha".to_string(), b),
        C::RGB(b) => ("RGB".to_string(), b),
        C::RGBA(b) => ("RGBA".to_string(), b),
        C::CMYK(b) => ("CMYK".to_string(), b),
        C::Multiband {
            bit_depth,
            num_samples,
        } => (format!("{num_samples}-channel"), bit_depth),
        _ => return None,
    };
    let formats = decoder
        .find_tag_unsigned_vec::<u16>(Tag::SampleFormat)
        .ok()?;
    let format = formats.and_then(|f| f.first().copied()).unwrap_or(1);
    let read = match format {
        1 => bits <= 16,
        3 => bits == 32 && matches!(colour, C::RGB(_) | C::RGBA(_)),
        _ => false,
    };
    let kind = match format {
        1 => "unsigned integer",
        2 => "signed integer",
        3 => "floating-point",
        _ => "undefined",
    };
    (!read).then(|| {
        format!(
            "a TIFF of {bits}-bit {kind} {channels} samples, which are not read (8- and 16-bit \
             unsigned samples are, and RGB or RGBA of 32-bit floats): convert it to 8 or 16 bits"
        )
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 2x1 RGB TIFF, little-endian, uncompressed, 32-bit samples; `format` the
    /// SampleFormat tag's value, if any.
    fn tiff(format: Option<u16>) -> Vec<u8> {
        tiff_of(3, format)
    }

    /// A 2x1 TIFF of `channels` 32-bit samples a pixel (1: grayscale, 3: RGB), as [`tiff`].
    pub(crate) fn tiff_of(channels: u16, format: Option<u16>) -> Vec<u8> {
        let bits = match channels {
            1 => (258, 3, 1, 32),  // BitsPerSample, inline
            _ => (258, 3, 3, 200), // BitsPerSample: 3 values at offset 200
        };
        let photometric = if channels == 1 { 1 } else { 2 }; // BlackIsZero, RGB
        let entries: Vec<(u16, u16, u32, u32)> = [
            Some((256, 3, 1, 2)),                       // ImageWidth
            Some((257, 3, 1, 1)),                       // ImageLength
            Some(bits),                                 // BitsPerSample
            Some((259, 3, 1, 1)),                       // Compression: none
            Some((262, 3, 1, photometric)),             // PhotometricInterpretation
            Some((273, 4, 1, 300)),                     // StripOffsets
            Some((277, 3, 1, u32::from(channels))),     // SamplesPerPixel
            Some((278, 3, 1, 1)),                       // RowsPerStrip
            Some((279, 4, 1, 8 * u32::from(channels))), // StripByteCounts
            format.map(|f| (339, 3, 1, u32::from(f))),  // SampleFormat
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut b = b"II*\0".to_vec();
        b.extend(8u32.to_le_bytes());
        b.extend((entries.len() as u16).to_le_bytes());
        for (tag, ty, count, value) in entries {
            b.extend(tag.to_le_bytes());
            b.extend(ty.to_le_bytes());
            b.extend(count.to_le_bytes());
            b.extend(value.to_le_bytes());
        }
        b.extend(0u32.to_le_bytes());
        b.resize(200, 0);
        for _ in 0..3 {
            b.extend(32u16.to_le_bytes());
        }
        b.resize(300, 0);
        b.extend((0..2 * u32::from(channels)).flat_map(|i| (i * 100_000).to_le_bytes()));
        b
    }

    #[test]
    fn thirty_two_bit_samples_without_a_format_are_named() {
        let why = unread_samples(&tiff(None)).expect("named");
        assert!(why.contains("32-bit unsigned integer samples"), "{why}");
        // Floats (3) are read; unsigned integers said so (1) are the decoder's to refuse.
        assert_eq!(unread_samples(&tiff(Some(3))), None);
        assert_eq!(unread_samples(&tiff(Some(1))), None);
        assert_eq!(unread_samples(b"\x89PNG\r\n\x1a\n"), None);
    }

    #[test]
    fn samples_the_decoder_does_not_read_are_described() {
        let gray_floats = unsupported_samples(&tiff_of(1, Some(3))).expect("described");
        assert!(
            gray_floats.contains("32-bit floating-point grayscale samples"),
            "{gray_floats}"
        );
        let rgb_ints = unsupported_samples(&tiff_of(3, Some(1))).expect("described");
        assert!(
            rgb_ints.contains("32-bit unsigned integer RGB"),
            "{rgb_ints}"
        );
        let signed = unsupported_samples(&tiff_of(1, Some(2))).expect("described");
        assert!(signed.contains("signed integer grayscale"), "{signed}");
        // Samples of a kind it reads: refused for another reason, which the decoder names.
        assert_eq!(unsupported_samples(&tiff_of(3, Some(3))), None);
        assert_eq!(unsupported_samples(b"\x89PNG\r\n\x1a\n"), None);
    }
}
