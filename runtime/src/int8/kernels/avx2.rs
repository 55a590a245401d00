//! AVX2: activations widened to i16 once per layer; `vpmaddwd` multiplies a broadcast pair
//! of them by the i16 weight pairs of 8 outputs (16 products, exact in i32); tiles of up to
//! 4 rows x 16 outputs keep 8 sums in registers, with no horizontal additions.

use alloc::vec::Vec;
use core::arch::x86_64::*;

use super::{Layer, Sink};

/// Sums of rows x (8 C outputs from block `cb0`), into `out[r][0..8 C]`.
#[target_feature(enable = "avx2")]
fn tile<const R: usize, const C: usize>(
    rows: &[&[i16]],
    packed: &[i16],
    pairs: usize,
    cb0: usize,
    out: &mut [[i32; 16]; 4],
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
fn requantize8(acc: &[i32], m: f32, bias: &[f32], inv: f32, out: &mut [u8]) {
    assert!(acc.len() == 8 && bias.len() == 8 && out.len() == 8);
    // SAFETY: every pointer covers 8 elements (checked above).
    let (a, b) = unsafe {
        (
            _mm256_loadu_si256(acc.as_ptr().cast()),
            _mm256_loadu_ps(bias.as_ptr()),
        )
    };
    let y = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(a), _mm256_set1_ps(m)), b);
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
pub(super) unsafe fn layer(l: &Layer, a: &[u8], n: usize, emit: &mut Sink<'_>) {
    let (s, pairs, blocks) = (l.stride, l.stride / 2, l.d_out.div_ceil(8));
    let wide: Vec<i16> = a[..n * s].iter().map(|&v| v as i16).collect();
    let mut out = [[0i32; 16]; 4];
    let mut r0 = 0;
    while r0 < n {
        let take = (n - r0).min(4);
        let rows: [&[i16]; 4] = core::array::from_fn(|i| {
            let i = r0 + i.min(take - 1);
            &wide[i * s..(i + 1) * s]
        });
        let rows = &rows[..take];
        let mut cb = 0;
        while cb < blocks {
            let c = (blocks - cb).min(2);
            let p = &l.packed16[..];
            match (take, c) {
                (1, 1) => tile::<1, 1>(rows, p, pairs, cb, &mut out),
                (1, _) => tile::<1, 2>(rows, p, pairs, cb, &mut out),
                (2, 1) => tile::<2, 1>(rows, p, pairs, cb, &mut out),
                (2, _) => tile::<2, 2>(rows, p, pairs, cb, &mut out),
                (3, 1) => tile::<3, 1>(rows, p, pairs, cb, &mut out),
                (3, _) => tile::<3, 2>(rows, p, pairs, cb, &mut out),
                (_, 1) => tile::<4, 1>(rows, p, pairs, cb, &mut out),
                (_, _) => tile::<4, 2>(rows, p, pairs, cb, &mut out),
            }
            for (dr, sums) in out.iter().enumerate().take(take) {
                let r = r0 + dr;
                let mut col = 0;
                if let Sink::U8 { buf, stride, inv } = emit {
                    while col + 8 <= 8 * c && cb * 8 + col + 8 <= l.d_out {
                        let j = cb * 8 + col;
                        let at = r * *stride + j;
                        requantize8(
                            &sums[col..col + 8],
                            l.multiplier,
                            &l.bias[j..j + 8],
                            *inv,
                            &mut buf[at..at + 8],
                        );
                        col += 8;
                    }
                }
                for (col, &acc) in sums.iter().enumerate().take(8 * c).skip(col) {
                    let j = cb * 8 + col;
                    if j < l.d_out {
                        emit.put(r, j, acc as f32 * l.multiplier + l.bias[j]);
                    }
                }
            }
            cb += c;
        }
        r0 += take;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn vector_requantization_equals_the_scalar_one() {
        if !super::super::Kernel::Avx2.supported() {
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
            for start in (-5000..5000).step_by(8) {
                let acc: [i32; 8] = if start == -5000 {
                    specials
                } else {
                    core::array::from_fn(|i| start + i as i32)
                };
                let mut got = [0u8; 8];
                // SAFETY: the CPU supports the kernel (checked above).
                unsafe { super::requantize8(&acc, m, &bias, inv, &mut got) };
                for c in 0..8 {
                    let y = acc[c] as f32 * m + bias[c];
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
