//! Transparency as a viewer shows it: composited onto white.
//!
//! The colours a file keeps under transparent pixels are not seen (an editor leaves black,
//! white or the erased photo there), so a view made of them would give pictures that look
//! the same different codes. `imsat` decodes files the same way (`imsat-data`'s
//! `photos::flatten`), so an app passing a decoder's RGBA gets the codes `imsat encode` gives.

use alloc::vec::Vec;

/// `pixels` of `channels` bytes a pixel (2 gray+alpha, 4 RGBA) composited onto white,
/// without their alpha (1 or 3 channels), each value rounded to nearest. `None` where there
/// is nothing to composite: no alpha channel, every pixel opaque, or every alpha 0, which is
/// read as opaque (a 32-bit BMP that leaves its alpha bytes 0 is shown opaque, and a picture
/// with nothing visible has nothing to hash).
pub fn onto_white(pixels: &[u8], channels: usize) -> Option<Vec<u8>> {
    if channels != 2 && channels != 4 {
        return None;
    }
    let alphas = || pixels.chunks_exact(channels).map(|p| p[channels - 1]);
    if alphas().all(|a| a == u8::MAX) || alphas().all(|a| a == 0) {
        return None;
    }
    Some(
        pixels
            .chunks_exact(channels)
            .flat_map(|p| {
                let a = u32::from(p[channels - 1]);
                p[..channels - 1]
                    .iter()
                    .map(move |&c| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values `imsat-data`'s flatten test expects for the same pixels.
    #[test]
    fn transparent_pixels_turn_white_and_no_alpha_or_all_zero_alpha_stays() {
        let rgba = [10, 20, 30, 255, 0, 0, 0, 0, 0, 100, 255, 128];
        assert_eq!(
            onto_white(&rgba, 4).unwrap(),
            [10, 20, 30, 255, 255, 255, 127, 177, 255]
        );
        assert_eq!(onto_white(&[7, 0, 9, 255], 2).unwrap(), [255, 9]);
        assert_eq!(onto_white(&[1, 2, 3, 255], 4), None);
        assert_eq!(onto_white(&[1, 2, 3, 0, 4, 5, 6, 0], 4), None);
        assert_eq!(onto_white(&[1, 2, 3], 3), None);
    }
}
