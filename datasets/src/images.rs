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
