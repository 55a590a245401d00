//! Plain pictures (a fill of one colour, a blank frame): nothing for a code to describe.
//!
//! A photo model's view stretches the contrast of what it is given, so every plain picture
//! becomes the same flat view and gets one code, whatever its colour: black, white and red
//! frames would be copies of each other and of nothing else. Dedup links a plain picture only
//! with plain pictures of about its colour, and never with a picture that has detail.

/// The luma variance (squared 8-bit levels) under which a picture is plain: a standard
/// deviation under one level. A plain dark sky in a photo varies by a few levels and is not.
pub const PLAIN_VARIANCE: f64 = 1.0;

/// The most each channel's mean may differ between two plain pictures that are copies (a
/// re-saved fill moves by a level or two; a brightness edit of a fill is another colour).
pub const PLAIN_COLOUR_TOLERANCE: u8 = 8;

/// The mean colour of interleaved 8-bit RGB pixels when their luma (BT.601) varies by less
/// than [`PLAIN_VARIANCE`]; `None` for a picture with detail, or no pixels.
pub fn plain_colour(rgb: &[u8]) -> Option<[u8; 3]> {
    let n = rgb.len() / 3;
    if n == 0 {
        return None;
    }
    let (mut sum, mut y_sum, mut y_squares) = ([0u64; 3], 0f64, 0f64);
    for px in rgb.chunks_exact(3) {
        for (s, &v) in sum.iter_mut().zip(px) {
            *s += u64::from(v);
        }
        let y = 0.299 * f64::from(px[0]) + 0.587 * f64::from(px[1]) + 0.114 * f64::from(px[2]);
        y_sum += y;
        y_squares += y * y;
    }
    let count = n as f64;
    let mean = y_sum / count;
    let variance = y_squares / count - mean * mean;
    if variance >= PLAIN_VARIANCE {
        return None;
    }
    let n = n as u64;
    // Each mean is at most 255: the cast keeps it.
    Some(sum.map(|s| ((s + n / 2) / n) as u8))
}

/// What plainness says of a candidate pair: `None` where neither is plain (the codes and
/// their checks decide), else whether both are plain and of about one colour
/// ([`PLAIN_COLOUR_TOLERANCE`]).
pub fn plain_pair(a: Option<[u8; 3]>, b: Option<[u8; 3]>) -> Option<bool> {
    match (a, b) {
        (None, None) => None,
        (Some(a), Some(b)) => Some(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.abs_diff(*y) <= PLAIN_COLOUR_TOLERANCE),
        ),
        _ => Some(false),
    }
}
