//! A transparent picture as it is seen: composited onto white.
//!
//! A PNG with a transparent border and the JPEG exported from it (flattened onto white, as
//! editors and browsers show it) are one picture to the eye; the colours a file keeps under
//! fully transparent pixels are whatever the editor left there (black, white, the erased
//! photo), and dropping the alpha channel would hash those. Flattened onto white, every such
//! copy gives the code of what is displayed. An opaque picture is unchanged, and so is one
//! whose alpha is 0 everywhere (read as opaque). The runtime's `View::apply` applies the same
//! rule to 8-bit RGBA and gray+alpha pixels an app passes it.

use image::{DynamicImage, GrayImage, ImageBuffer, Luma, Rgb, Rgb32FImage, RgbImage};

/// `img` composited onto white, without its alpha channel; unchanged when it has none.
pub(crate) fn onto_white(img: DynamicImage) -> DynamicImage {
    let (w, h) = (img.width(), img.height());
    match img {
        DynamicImage::ImageLumaA8(i) => {
            let raw = blend(i.as_raw(), 1, |c, a| over_white(c, a, u8::MAX));
            GrayImage::from_raw(w, h, raw).map_or(DynamicImage::ImageLumaA8(i), Into::into)
        }
        DynamicImage::ImageRgba8(i) => {
            let raw = blend(i.as_raw(), 3, |c, a| over_white(c, a, u8::MAX));
            RgbImage::from_raw(w, h, raw).map_or(DynamicImage::ImageRgba8(i), Into::into)
        }
        DynamicImage::ImageLumaA16(i) => {
            let raw = blend(i.as_raw(), 1, |c, a| over_white(c, a, u16::MAX));
            ImageBuffer::<Luma<u16>, _>::from_raw(w, h, raw)
                .map_or(DynamicImage::ImageLumaA16(i), Into::into)
        }
        DynamicImage::ImageRgba16(i) => {
            let raw = blend(i.as_raw(), 3, |c, a| over_white(c, a, u16::MAX));
            ImageBuffer::<Rgb<u16>, _>::from_raw(w, h, raw)
                .map_or(DynamicImage::ImageRgba16(i), Into::into)
        }
        DynamicImage::ImageRgba32F(i) => {
            let raw = blend(i.as_raw(), 3, |c: f32, a: f32| {
                let a = a.clamp(0.0, 1.0);
                c * a + (1.0 - a)
            });
            Rgb32FImage::from_raw(w, h, raw).map_or(DynamicImage::ImageRgba32F(i), Into::into)
        }
        other => other,
    }
}

/// Each pixel of `colours` colour samples and one alpha sample, blended to its colours; an
/// alpha of 0 everywhere is read as opaque (a 32-bit BMP that leaves its alpha bytes 0 is
/// shown opaque, and a picture with nothing visible has nothing to hash), as the runtime's
/// `View::apply` reads it.
fn blend<T: Copy + PartialEq + Default>(
    raw: &[T],
    colours: usize,
    f: impl Fn(T, T) -> T,
) -> Vec<T> {
    let clear = raw
        .chunks_exact(colours + 1)
        .all(|p| p[colours] == T::default());
    raw.chunks_exact(colours + 1)
        .flat_map(|p| {
            let a = p[colours];
            p[..colours].iter().map(move |&c| (c, a))
        })
        .map(|(c, a)| if clear { c } else { f(c, a) })
        .collect()
}

/// `c` at opacity `a` over white, both on `0..=max`, rounded to nearest.
fn over_white<T: Into<u64> + TryFrom<u64> + Copy>(c: T, a: T, max: T) -> T {
    let (c, a, max) = (c.into(), a.into(), max.into());
    let v = (c * a + max * (max - a) + max / 2) / max;
    T::try_from(v.min(max)).unwrap_or_else(|_| unreachable!("at most max"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{LumaA, Rgba, RgbaImage};

    #[test]
    fn transparent_pixels_are_white_and_opaque_ones_unchanged() {
        let mut rgba = RgbaImage::new(3, 1);
        rgba.put_pixel(0, 0, Rgba([10, 20, 30, 255]));
        rgba.put_pixel(1, 0, Rgba([0, 0, 0, 0]));
        rgba.put_pixel(2, 0, Rgba([0, 100, 255, 128]));
        let flat = onto_white(rgba.into()).into_rgb8();
        assert_eq!(flat.as_raw(), &[10, 20, 30, 255, 255, 255, 127, 177, 255]);

        let mut la = ImageBuffer::<LumaA<u16>, Vec<u16>>::new(2, 1);
        la.put_pixel(0, 0, LumaA([0, 0]));
        la.put_pixel(1, 0, LumaA([1000, u16::MAX]));
        match onto_white(la.into()) {
            DynamicImage::ImageLuma16(g) => assert_eq!(g.as_raw(), &[u16::MAX, 1000]),
            other => panic!("{:?}", other.color()),
        }
        // Alpha 0 everywhere (a BMP's unused alpha bytes): read as opaque, colours kept.
        let clear = RgbaImage::from_raw(2, 1, vec![1, 2, 3, 0, 4, 5, 6, 0]).unwrap();
        assert_eq!(
            onto_white(clear.into()).into_rgb8().as_raw(),
            &[1, 2, 3, 4, 5, 6]
        );
        let rgb = RgbImage::from_raw(1, 1, vec![1, 2, 3]).unwrap();
        assert_eq!(onto_white(rgb.clone().into()).into_rgb8(), rgb);
    }

    /// Every 8-bit colour at every opacity against the blend in exact rationals, rounded
    /// to nearest (a tie would need an odd numerator over `2 * 255`; it is even), and 16-bit
    /// ones spread over the range.
    #[test]
    fn over_white_is_the_blend_rounded_to_nearest() {
        for c in 0..=255u64 {
            for a in 0..=255u64 {
                let twice = 2 * (c * a + 255 * (255 - a));
                let want = (twice + 255) / (2 * 255);
                assert_eq!(
                    u64::from(over_white(c as u8, a as u8, u8::MAX)),
                    want,
                    "c {c} a {a}"
                );
            }
        }
        let m = u64::from(u16::MAX);
        for c in (0..=m).step_by(997).chain([m]) {
            for a in (0..=m).step_by(1009).chain([m]) {
                let want = (2 * (c * a + m * (m - a)) + m) / (2 * m);
                assert_eq!(u64::from(over_white(c as u16, a as u16, u16::MAX)), want);
            }
        }
    }

    #[test]
    fn float_pixels_blend_onto_white_with_alpha_clamped() {
        let raw = vec![
            0.2, 0.4, 0.6, 1.0, // opaque
            0.0, 0.0, 0.0, 0.0, // clear
            0.5, 0.0, 1.0, 0.25, // a quarter
            0.3, 0.3, 0.3, 2.0, // past 1: opaque
            0.3, 0.3, 0.3, -1.0, // below 0: clear
        ];
        let img = image::Rgba32FImage::from_raw(5, 1, raw).unwrap();
        let DynamicImage::ImageRgb32F(flat) = onto_white(img.into()) else {
            panic!("not flattened to RGB f32");
        };
        let want = [
            0.2, 0.4, 0.6, 1.0, 1.0, 1.0, 0.875, 0.75, 1.0, 0.3, 0.3, 0.3, 1.0, 1.0, 1.0,
        ];
        for (i, (g, w)) in flat.as_raw().iter().zip(want).enumerate() {
            assert!((g - w).abs() < 1e-6, "sample {i}: {g} against {w}");
        }
    }
}
