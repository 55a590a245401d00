//! AVX2: activations widened to i16 once per layer; `vpmaddwd` multiplies a broadcast pair
//! of them by the i16 weight pairs of 8 outputs (16 products, exact in i32); tiles of up to
//! 4 rows x 16 outputs keep 8 sums in registers, with no horizontal additions.

use alloc::vec::Vec;
use core::arch::x86_64::*;

use super::tile_loop::{TileShape, TileSums, layer_tiles};
use super::{Layer, Sink};

/// Sums of rows x (8 C outputs from block `cb0`), into `out[r][0..8 C]`.
#[target_feature(enable = "avx2")]
fn tile<const R: usize, const C: usize>(
    rows: &[&[i16]],
    packed: &[i16],
    pairs: usize,
    cb0: usize,
    out: &mut TileSums,
) {
    assert!(rows.len() == R && rows.iter().all(|r| r.len() >= pairs * 2));
    assert!(packed.len() >= (cb0 + C) * pairs * 16);
    let mut acc = [[_mm256_setzero_si256(); C]; R];
    for p in 0..pairs {
        let mut w = [_mm256_setzero_si256(); C];
        for (c, w) in w.iter_mut().enumerate() {
            // SAFETY: ((cb0 + c) * pairs + p + 1) * 16 <= packed.len() (checked above).
            *w = unsafe {
                _mm256_loadu_si256(packed.as_ptr().add(((cb0 + c) * pairs + p) * 16).cast())
            };
        }
        for r in 0..R {
            // SAFETY: 2 p + 2 <= rows[r].len() (checked above).
            let a = unsafe { rows[r].as_ptr().add(2 * p).cast::<i32>().read_unaligned() };
            let a = _mm256_set1_epi32(a);
            for c in 0..C {
                acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(a, w[c]));
            }
        }
    }
    for (sums, acc) in out.iter_mut().zip(&acc) {
        for (c, &v) in acc.iter().enumerate() {
            // SAFETY: c * 8 + 8 <= 16.
            unsafe { _mm256_storeu_si256(sums.as_mut_ptr().add(c * 8).cast(), v) };
        }
    }
}

/// 8 outputs as `Sink::put` computes them for a u8 sink, with the same roundings.
#[target_feature(enable = "avx2")]
fn requantize8(acc: &[i32], m: &[f32], bias: &[f32], inv: f32, out: &mut [u8]) {
    assert!(acc.len() == 8 && m.len() == 8 && bias.len() == 8 && out.len() == 8);
    // SAFETY: every pointer covers 8 elements (checked above).
    let (a, m, b) = unsafe {
        (
            _mm256_loadu_si256(acc.as_ptr().cast()),
            _mm256_loadu_ps(m.as_ptr()),
            _mm256_loadu_ps(bias.as_ptr()),
        )
    };
    let y = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(a), m), b);
    let x = _mm256_mul_ps(y, _mm256_set1_ps(inv));
    // min(255, x) keeps NaN (the second operand), which converts to i32::MIN, then 0.
    let x = _mm256_min_ps(_mm256_set1_ps(255.0), x);
    let q = _mm256_max_epi32(_mm256_cvtps_epi32(x), _mm256_setzero_si256());
    let mut lanes = [0i32; 8];
    // SAFETY: lanes holds 8 i32.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), q) };
    for (o, &v) in out.iter_mut().zip(&lanes) {
        *o = v as u8;
    }
}

/// # Safety
/// The CPU must support avx2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn layer(l: &Layer, p: &[i16], a: &[u8], n: usize, emit: &mut Sink<'_>) {
    let pairs = l.stride / 2;
    let wide: Vec<i16> = a[..n * l.stride].iter().map(|&v| v as i16).collect();
    let shape = TileShape {
        rows: 4,
        block: 8,
        blocks: 2,
    };
    let requantize = |acc: &[i32], m: &[f32], bias: &[f32], inv: f32, out: &mut [u8]| {
        requantize8(acc, m, bias, inv, out)
    };
    layer_tiles(
        l,
        &wide,
        n,
        emit,
        shape,
        None,
        Some(&requantize),
        |rows, cb, c, out| match (rows.len(), c) {
            (1, 1) => tile::<1, 1>(rows, p, pairs, cb, out),
            (1, _) => tile::<1, 2>(rows, p, pairs, cb, out),
            (2, 1) => tile::<2, 1>(rows, p, pairs, cb, out),
            (2, _) => tile::<2, 2>(rows, p, pairs, cb, out),
            (3, 1) => tile::<3, 1>(rows, p, pairs, cb, out),
            (3, _) => tile::<3, 2>(rows, p, pairs, cb, out),
            (_, 1) => tile::<4, 1>(rows, p, pairs, cb, out),
            (_, _) => tile::<4, 2>(rows, p, pairs, cb, out),
        },
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn vector_requantization_equals_the_scalar_one() {
        if !super::super::Kernel::Avx2.supported() {
            std::println!("avx2: NOT RUN (this CPU lacks it)");
            return;
        }
        let bias: [f32; 8] = core::array::from_fn(|j| j as f32 * 0.37 - 2.5);
        let specials = [i32::MIN, -1, 0, 1, 255, 256, 1 << 20, i32::MAX];
        for (m, inv) in [
            (0.05f32, 1.0f32),
            (0.5, 0.5),
            (1.0 / 3.0, 3.0),
            (f32::NAN, 1.0),
        ] {
            // One multiplier per output, as per-column weight scales give.
            let ms: [f32; 8] = core::array::from_fn(|c| m * (1.0 + c as f32 / 7.0));
            for start in (-5000..5000).step_by(8) {
                let acc: [i32; 8] = if start == -5000 {
                    specials
                } else {
                    core::array::from_fn(|i| start + i as i32)
                };
                let mut got = [0u8; 8];
                // SAFETY: the CPU supports the kernel (checked above).
                unsafe { super::requantize8(&acc, &ms, &bias, inv, &mut got) };
                for c in 0..8 {
                    let y = acc[c] as f32 * ms[c] + bias[c];
                    assert_eq!(
                        got[c],
                        super::super::quantize_u8(y, inv),
                        "acc {} m {m} inv {inv}",
                        acc[c]
                    );
                }
            }
        }
    }
}
