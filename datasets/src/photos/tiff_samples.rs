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

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2x1 RGB TIFF, little-endian, uncompressed, 32-bit samples; `format` the
    /// SampleFormat tag's value, if any.
    fn tiff(format: Option<u16>) -> Vec<u8> {
        let entries: Vec<(u16, u16, u32, u32)> = [
            Some((256, 3, 1, 2)),                      // ImageWidth
            Some((257, 3, 1, 1)),                      // ImageLength
            Some((258, 3, 3, 200)),                    // BitsPerSample: 3 values at offset 200
            Some((259, 3, 1, 1)),                      // Compression: none
            Some((262, 3, 1, 2)),                      // PhotometricInterpretation: RGB
            Some((273, 4, 1, 300)),                    // StripOffsets
            Some((277, 3, 1, 3)),                      // SamplesPerPixel
            Some((278, 3, 1, 1)),                      // RowsPerStrip
            Some((279, 4, 1, 24)),                     // StripByteCounts
            format.map(|f| (339, 3, 1, u32::from(f))), // SampleFormat
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
        b.extend((0..6u32).flat_map(|i| (i * 100_000).to_le_bytes()));
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
}
