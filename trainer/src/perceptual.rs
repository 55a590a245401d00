//! The perceptual hashes people use today, as the baselines every copy-detection report
//! prints beside the learned hash: pHash and dHash at 64 bits from the `image_hasher` crate.
//!
//! pHash is `HashAlg::Median` over an 8x8 DCT block (the `Mean` + DCT setting collapses many
//! photos onto one code); dHash is `HashAlg::Gradient`. Both are hand-made and fixed: they
//! cannot be taught an edit.

use image::{DynamicImage, RgbImage};
use image_hasher::{HashAlg, Hasher, HasherConfig};

/// A hand-made 64-bit hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perceptual {
    PHash,
    DHash,
}

impl Perceptual {
    pub const ALL: [Perceptual; 2] = [Perceptual::PHash, Perceptual::DHash];

    pub fn name(self) -> &'static str {
        match self {
            Perceptual::PHash => "phash",
            Perceptual::DHash => "dhash",
        }
    }

    /// The hasher (8x8 = 64 bits).
    pub fn hasher(self) -> Hasher {
        let config = HasherConfig::new().hash_size(8, 8);
        match self {
            Perceptual::PHash => config.hash_alg(HashAlg::Median).preproc_dct(),
            Perceptual::DHash => config.hash_alg(HashAlg::Gradient),
        }
        .to_hasher()
    }
}

/// The 64-bit code of `img` under `hasher`, as one word.
pub fn hash_word(hasher: &Hasher, img: &RgbImage) -> u64 {
    let h = hasher.hash_image(&DynamicImage::ImageRgb8(img.clone()));
    let mut w = [0u8; 8];
    for (dst, src) in w.iter_mut().zip(h.as_bytes()) {
        *dst = *src;
    }
    u64::from_le_bytes(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn hashes_are_64_bits_and_see_a_difference() {
        let a = RgbImage::from_fn(64, 48, |x, _| Rgb([(x * 4) as u8; 3]));
        let b = RgbImage::from_fn(64, 48, |_, y| Rgb([(y * 5) as u8; 3]));
        for p in Perceptual::ALL {
            let h = p.hasher();
            assert_eq!(
                h.hash_image(&DynamicImage::ImageRgb8(a.clone()))
                    .as_bytes()
                    .len(),
                8
            );
            assert_eq!(hash_word(&h, &a), hash_word(&h, &a.clone()));
            assert_ne!(hash_word(&h, &a), hash_word(&h, &b), "{}", p.name());
        }
    }

    /// The names are the keys every copy-detection report prints the baselines under.
    #[test]
    fn names_are_the_reports_keys() {
        let names: Vec<&str> = Perceptual::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(names, ["phash", "dhash"]);
    }
}
