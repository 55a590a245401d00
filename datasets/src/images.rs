//! Images as every reader hands them over: u8 rows of one shape.

/// A set of u8 images, row-major: image `i` is `pixels[i*dim..(i+1)*dim]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    /// Number of images.
    pub n: usize,
    /// Shape of one image (rows, cols) or the single length of a rank-2 file.
    pub shape: Vec<usize>,
    pub pixels: Vec<u8>,
}

impl Images {
    /// Values per image (e.g. 784 for 28x28).
    pub fn dim(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the fields agree: `pixels` holds `n` images of `shape`, each of at least one
    /// value. The readers build them so; a caller filling the fields by hand may not, and
    /// training or exporting such images is refused with this message.
    pub fn check(&self) -> Result<(), String> {
        let dim = self
            .shape
            .iter()
            .try_fold(1usize, |d, &s| d.checked_mul(s))
            .filter(|&d| d > 0);
        let Some(dim) = dim else {
            return Err(format!(
                "an image of shape {:?} holds no pixels, or too many to count",
                self.shape
            ));
        };
        if self.n.checked_mul(dim) != Some(self.pixels.len()) {
            return Err(format!(
                "{} pixels are not {} images of shape {:?} ({dim} pixels each)",
                self.pixels.len(),
                self.n,
                self.shape
            ));
        }
        Ok(())
    }

    /// The images as f32 in 0..255, the encoder's input format.
    pub fn to_f32(&self) -> Vec<f32> {
        self.pixels.iter().map(|&p| p as f32).collect()
    }

    /// Keep only the first `n` images.
    pub fn truncate(&mut self, n: usize) {
        if n < self.n {
            self.n = n;
            self.pixels.truncate(n * self.dim());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Images {
        Images {
            n: 3,
            shape: vec![2, 2],
            pixels: (0..12).map(|v| v * 20 + 7).collect(),
        }
    }

    #[test]
    fn values_keep_their_scale_and_order_as_f32() {
        let imgs = three();
        let f: Vec<f32> = imgs.to_f32();
        assert_eq!(f.len(), 12);
        for (v, p) in f.iter().zip(&imgs.pixels) {
            assert_eq!(*v, f32::from(*p));
        }
        assert_eq!((f[0], f[11]), (7.0, 227.0));
    }

    #[test]
    fn fields_that_disagree_are_named() {
        assert_eq!(three().check(), Ok(()));
        let short = Images {
            pixels: vec![0; 11],
            ..three()
        };
        let why = short.check().unwrap_err();
        assert!(
            why.contains("11 pixels are not 3 images of shape [2, 2]"),
            "{why}"
        );
        for shape in [vec![2, 0], vec![usize::MAX, 2]] {
            let empty = Images { shape, ..three() };
            assert!(empty.check().unwrap_err().contains("holds no pixels"));
        }
        let none = Images {
            n: 0,
            pixels: Vec::new(),
            ..three()
        };
        assert_eq!(none.check(), Ok(()));
    }

    #[test]
    fn truncate_keeps_the_first_rows_and_never_grows() {
        let mut imgs = three();
        imgs.truncate(5);
        assert_eq!(imgs, three());
        imgs.truncate(3);
        assert_eq!(imgs, three());
        imgs.truncate(2);
        assert_eq!((imgs.n, &imgs.pixels[..]), (2, &three().pixels[..8]));
        imgs.truncate(0);
        assert_eq!((imgs.n, imgs.pixels.len()), (0, 0));
    }
}
