//! The pixel check of a candidate pair: do two small grey images look like copies?

/// Whether two grey images (`rows x cols`, row-major u8) look like copies: their Pearson
/// correlation, at the best shift of -1..=1 pixel, reaches `min_correlation`. The confirmation
/// step for [`super::dedup_confirmed`] on images (shifted, slightly rotated, noisy or re-encoded copies
/// pass at 0.95; two different handwritten digits of one class rarely do). A flat image (one
/// grey level throughout) has no correlation with anything, itself included, so at a positive
/// `min_correlation` it is similar to none: plain pictures are told apart by their glances
/// ([`super::plain_pair`]).
pub fn images_similar(a: &[u8], b: &[u8], rows: usize, cols: usize, min_correlation: f32) -> bool {
    let size = rows.checked_mul(cols);
    if size != Some(a.len()) || size != Some(b.len()) || rows < 3 || cols < 3 {
        return false;
    }
    for dy in 0..3usize {
        for dx in 0..3usize {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0f64, 0f64, 0f64, 0f64, 0f64);
            for r in 1..rows - 1 {
                let ra = &a[r * cols + 1..(r + 1) * cols - 1];
                let o = (r + dy - 1) * cols + dx;
                let rb = &b[o..o + cols - 2];
                for (&x, &y) in ra.iter().zip(rb) {
                    let (x, y) = (f64::from(x), f64::from(y));
                    sa += x;
                    sb += y;
                    saa += x * x;
                    sbb += y * y;
                    sab += x * y;
                }
            }
            let n = ((rows - 2) * (cols - 2)) as f64;
            let cov = sab - sa * sb / n;
            let var = (saa - sa * sa / n) * (sbb - sb * sb / n);
            let t = f64::from(min_correlation);
            // corr = cov / sqrt(var) >= t, without a square root (not in `core`).
            let ok = if t <= 0.0 {
                var <= 0.0 || cov >= 0.0 || cov * cov <= t * t * var
            } else {
                var > 0.0 && cov > 0.0 && cov * cov >= t * t * var
            };
            if ok {
                return true;
            }
        }
    }
    false
}
