//! The orientation tag of an EXIF block, SHORT or LONG.
//!
//! The `image` crate reads the tag only as the standard's SHORT; some writers (phone apps,
//! scanners, a few libraries) store it as a LONG, which Pillow, exiftool and every viewer
//! still honour. Read as stored, such a portrait photo would be hashed sideways: 32 bits
//! from its upright copy. This reads the first IFD's tag 0x0112 of either type.

use image::metadata::Orientation;

/// The orientation of a raw EXIF block (a TIFF header, "II*\0" or "MM\0*", then IFD0), or
/// `None` when it has no valid orientation tag (absent, of another type or count, or a
/// value outside 1-8) or is cut short.
pub(crate) fn orientation(chunk: &[u8]) -> Option<Orientation> {
    let little = match chunk.get(..4)? {
        [0x49, 0x49, 42, 0] => true,
        [0x4D, 0x4D, 0, 42] => false,
        _ => return None,
    };
    let u16_at = |at: usize| {
        let b: [u8; 2] = chunk.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    };
    let u32_at = |at: usize| {
        let b: [u8; 4] = chunk.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let entries = usize::from(u16_at(ifd)?);
    (0..entries).find_map(|i| {
        // 12 bytes an entry: tag, type, count, then the value (left-justified in 4 bytes).
        let at = ifd.checked_add(2 + 12 * i)?;
        if u16_at(at)? != 0x0112 || u32_at(at + 4)? != 1 {
            return None;
        }
        let value = match u16_at(at + 2)? {
            3 => u32::from(u16_at(at + 8)?),
            4 => u32_at(at + 8)?,
            _ => return None,
        };
        Orientation::from_exif(u8::try_from(value).ok()?)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An EXIF block (written byte by byte from the EXIF 2.3 layout, not by a crate under
    /// test): IFD0 of two entries, the image width and the orientation `value` stored as
    /// `kind` (3 SHORT, 4 LONG), little- or big-endian.
    pub(crate) fn block(value: u32, kind: u16, little: bool) -> Vec<u8> {
        block_after(1, value, kind, little)
    }

    /// [`block`] with `fillers` entries before the orientation.
    fn block_after(fillers: u16, value: u32, kind: u16, little: bool) -> Vec<u8> {
        let u16b = |v: u16| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let u32b = |v: u32| {
            if little {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let mut out = if little {
            vec![0x49, 0x49, 42, 0]
        } else {
            vec![0x4D, 0x4D, 0, 42]
        };
        out.extend(u32b(8));
        out.extend(u16b(fillers + 1));
        // Filler entries first (ImageWidth, SHORT), then the orientation.
        for _ in 0..fillers {
            out.extend(u16b(0x0100));
            out.extend(u16b(3));
            out.extend(u32b(1));
            out.extend(u16b(640));
            out.extend([0, 0]);
        }
        out.extend(u16b(0x0112));
        out.extend(u16b(kind));
        out.extend(u32b(1));
        match kind {
            3 => {
                out.extend(u16b(value as u16));
                out.extend([0, 0]);
            }
            _ => out.extend(u32b(value)),
        }
        out.extend(u32b(0));
        out
    }

    #[test]
    fn short_and_long_tags_in_either_byte_order() {
        for little in [true, false] {
            for kind in [3, 4] {
                for value in 1..=8u32 {
                    assert_eq!(
                        orientation(&block(value, kind, little)),
                        Orientation::from_exif(value as u8),
                        "value {value} type {kind} little {little}"
                    );
                }
            }
            // The crate's reader, for comparison: SHORT only.
            assert_eq!(
                Orientation::from_exif_chunk(&block(6, 4, little)),
                None,
                "the image crate now reads LONG: this module may go"
            );
            assert_eq!(
                Orientation::from_exif_chunk(&block(6, 3, little)),
                Some(Orientation::Rotate90)
            );
        }
    }

    /// Entries are 12 bytes apart: the orientation is found wherever it stands in IFD0.
    #[test]
    fn the_orientation_is_found_after_any_number_of_entries() {
        for fillers in [0, 1, 2, 5] {
            for little in [true, false] {
                assert_eq!(
                    orientation(&block_after(fillers, 8, 3, little)),
                    Some(Orientation::Rotate270),
                    "after {fillers} entries, little {little}"
                );
            }
        }
    }

    #[test]
    fn damaged_or_odd_blocks_give_none() {
        let good = block(6, 4, true);
        for cut in 0..good.len() - 4 {
            assert_eq!(orientation(&good[..cut]), None, "cut at {cut}");
        }
        // Out of range, another type (RATIONAL), a count of two, a bad header.
        assert_eq!(orientation(&block(9, 4, true)), None);
        assert_eq!(orientation(&block(0, 3, true)), None);
        assert_eq!(orientation(&block(1 << 16 | 6, 4, false)), None);
        assert_eq!(orientation(&block(6, 5, true)), None);
        let mut two = block(6, 3, true);
        two[8 + 2 + 12 + 4] = 2;
        assert_eq!(orientation(&two), None);
        let mut bad = good.clone();
        bad[2] = 43;
        assert_eq!(orientation(&bad), None);
        // An IFD offset past the end, and one near usize::MAX (no overflow).
        let mut far = good.clone();
        far[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(orientation(&far), None);
    }
}
