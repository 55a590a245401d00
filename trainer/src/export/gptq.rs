//! GPTQ rounding of int8 weights (Frantar, Ashkboos, Hoefler, Alistarh, "GPTQ: Accurate
//! Post-Training Quantization for Generative Pre-trained Transformers", arXiv 2210.17323):
//! round a layer's weights so that its *outputs* on the calibration rows stay close, not each
//! weight on its own.
//!
//! Rounding every weight to its nearest step leaves errors that add up over a layer's inputs
//! instead of cancelling: ReLU activations are all positive, and neighbouring inputs move
//! together (the photo hash's output layer repeats one weight over the four cells of a pooled
//! feature map). On the photo hash those sums flipped 0.2-0.3% of the code bits against the f32
//! model. GPTQ rounds the input rows one at a time and moves each row's rounding error onto
//! the rows not yet rounded, in the proportions that the inputs' second moments (the Hessian
//! of the layer's squared output error) say undo it best.

use nalgebra::{Cholesky, DMatrix};

use super::ExportError;

/// Added to the Hessian's diagonal, as a share of its mean diagonal: inputs that never vary
/// (a dead ReLU) would otherwise leave it singular. GPTQ's default.
const DAMPING: f64 = 0.01;

/// Row-major `[rows, cols]` values as a matrix.
pub(super) fn matrix(values: &[f32], rows: usize, cols: usize) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |r, c| values[r * cols + c] as f64)
}

/// Symmetric int8 steps (`-127..=127`, row-major `[d_in, d_out]`) of `weight` (`[d_in,
/// d_out]`) at one `scale` per output column, rounded by GPTQ on the layer's calibration
/// `inputs` (`[n, d_in]`, the rows as the int8 model will see them).
pub fn gptq_round(
    weight: &DMatrix<f64>,
    scale: &[f32],
    inputs: &DMatrix<f64>,
) -> Result<Vec<i8>, ExportError> {
    let (d_in, d_out) = weight.shape();
    if inputs.ncols() != d_in || scale.len() != d_out || inputs.nrows() == 0 {
        return Err(ExportError::Invalid(format!(
            "GPTQ needs calibration rows of {d_in} values and {d_out} scales, got {} x {} and {}",
            inputs.nrows(),
            inputs.ncols(),
            scale.len()
        )));
    }
    let mut hessian = inputs.transpose() * inputs / inputs.nrows() as f64;
    let mean_diagonal = hessian.diagonal().mean();
    let damp = if mean_diagonal > 0.0 {
        DAMPING * mean_diagonal
    } else {
        1.0
    };
    for i in 0..d_in {
        hessian[(i, i)] += damp;
    }
    let not_definite = || {
        ExportError::Invalid(
            "GPTQ: the calibration activations are not finite (the Hessian has no Cholesky factor)"
                .into(),
        )
    };
    // The upper Cholesky factor of the inverse Hessian: row i says how to spread the error of
    // input row i over the rows after it.
    let inverse = Cholesky::new(hessian).ok_or_else(not_definite)?.inverse();
    let upper = Cholesky::new(inverse)
        .ok_or_else(not_definite)?
        .l()
        .transpose();

    // Row-major working copy: the rows not yet rounded absorb the errors of those that were.
    let mut w: Vec<f64> = (0..d_in * d_out)
        .map(|k| weight[(k / d_out, k % d_out)])
        .collect();
    let mut steps = vec![0i8; d_in * d_out];
    let mut error = vec![0f64; d_out];
    for i in 0..d_in {
        let (done, rest) = w.split_at_mut((i + 1) * d_out);
        let row = &done[i * d_out..];
        for (j, (&v, s)) in row.iter().zip(scale).enumerate() {
            let s = *s as f64;
            let q = (v / s).round().clamp(-127.0, 127.0);
            steps[i * d_out + j] = q as i8;
            error[j] = (v - q * s) / upper[(i, i)];
        }
        for (r, later) in rest.chunks_exact_mut(d_out).enumerate() {
            let f = upper[(i, i + 1 + r)];
            if f != 0.0 {
                later.iter_mut().zip(&error).for_each(|(x, e)| *x -= f * e);
            }
        }
    }
    Ok(steps)
}
