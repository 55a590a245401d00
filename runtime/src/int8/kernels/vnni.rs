//! AVX-512 VNNI: `vpdpbusd` multiplies 4 u8 activations (broadcast) by the 4 i8 weights
//! of each of 16 outputs and adds to 16 i32 sums, exactly; tiles of up to 4 rows x 64
//! outputs keep 16 sums in registers and need no horizontal additions.

use core::arch::x86_64::*;

use super::tile_loop::{TileShape, TileSums, layer_tiles};
use super::{Layer, Sink};

/// Sums of rows x (16 C outputs from block `cb0`), into `out[r][0..16 C]`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn tile<const R: usize, const C: usize>(
    rows: &[&[u8]],
    packed: &[i8],
    groups: usize,
    cb0: usize,
    out: &mut TileSums,
) {
    assert!(rows.len() == R && rows.iter().all(|r| r.len() >= groups * 4));
    assert!(packed.len() >= (cb0 + C) * groups * 64);
    let mut acc = [[_mm512_setzero_si512(); C]; R];
    for g in 0..groups {
        let mut w = [_mm512_setzero_si512(); C];
        for (c, w) in w.iter_mut().enumerate() {
            // SAFETY: ((cb0 + c) * groups + g + 1) * 64 <= packed.len() (checked above).
            *w = unsafe {
                _mm512_loadu_si512(packed.as_ptr().add(((cb0 + c) * groups + g) * 64).cast())
            };
        }
        for r in 0..R {
            // SAFETY: g * 4 + 4 <= rows[r].len() (checked above).
            let a = unsafe { rows[r].as_ptr().add(g * 4).cast::<i32>().read_unaligned() };
            let a = _mm512_set1_epi32(a);
            for c in 0..C {
                acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], a, w[c]);
            }
        }
    }
    for (sums, acc) in out.iter_mut().zip(&acc) {
        for (c, &v) in acc.iter().enumerate() {
            // SAFETY: c * 16 + 16 <= 64.
            unsafe { _mm512_storeu_si512(sums.as_mut_ptr().add(c * 16).cast(), v) };
        }
    }
}

/// 16 outputs as `Sink::put` computes them for a u8 sink, vectorized with the same
/// roundings: `cvt(acc) * m + bias` (no fused multiply-add), times `inv`, rounded to
/// nearest-even by `vcvtps2dq`, NaN and negatives to 0, above 255 to 255.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn requantize16(acc: &[i32], m: &[f32], bias: &[f32], inv: f32, out: &mut [u8]) {
    assert!(acc.len() == 16 && m.len() == 16 && bias.len() == 16 && out.len() == 16);
    // SAFETY: every pointer covers 16 elements (checked above).
    let (a, m, b) = unsafe {
        (
            _mm512_loadu_si512(acc.as_ptr().cast()),
            _mm512_loadu_ps(m.as_ptr()),
            _mm512_loadu_ps(bias.as_ptr()),
        )
    };
    let y = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(a), m), b);
    let x = _mm512_mul_ps(y, _mm512_set1_ps(inv));
    // min(255, x) keeps NaN (the second operand), which converts to i32::MIN, then 0.
    let x = _mm512_min_ps(_mm512_set1_ps(255.0), x);
    let q = _mm512_max_epi32(_mm512_cvtps_epi32(x), _mm512_setzero_si512());
    // SAFETY: out holds 16 bytes.
    unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), _mm512_cvtepi32_epi8(q)) };
}

/// # Safety
/// The CPU must support avx512f, avx512bw and avx512vnni.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn layer(l: &Layer, p: &[i8], a: &[u8], n: usize, emit: &mut Sink<'_>) {
    let groups = l.stride / 4;
    let shape = TileShape {
        rows: 4,
        block: 16,
        blocks: 4,
    };
    let requantize = |acc: &[i32], m: &[f32], bias: &[f32], inv: f32, out: &mut [u8]| {
        requantize16(acc, m, bias, inv, out)
    };
    layer_tiles(
        l,
        a,
        n,
        emit,
        shape,
        None,
        Some(&requantize),
        |rows, cb, c, out| match (rows.len(), c) {
            (1, 1) => tile::<1, 1>(rows, p, groups, cb, out),
            (1, 2) => tile::<1, 2>(rows, p, groups, cb, out),
            (1, 3) => tile::<1, 3>(rows, p, groups, cb, out),
            (1, _) => tile::<1, 4>(rows, p, groups, cb, out),
            (2, 1) => tile::<2, 1>(rows, p, groups, cb, out),
            (2, 2) => tile::<2, 2>(rows, p, groups, cb, out),
            (2, 3) => tile::<2, 3>(rows, p, groups, cb, out),
            (2, _) => tile::<2, 4>(rows, p, groups, cb, out),
            (3, 1) => tile::<3, 1>(rows, p, groups, cb, out),
            (3, 2) => tile::<3, 2>(rows, p, groups, cb, out),
            (3, 3) => tile::<3, 3>(rows, p, groups, cb, out),
            (3, _) => tile::<3, 4>(rows, p, groups, cb, out),
            (_, 1) => tile::<4, 1>(rows, p, groups, cb, out),
            (_, 2) => tile::<4, 2>(rows, p, groups, cb, out),
            (_, 3) => tile::<4, 3>(rows, p, groups, cb, out),
            (_, _) => tile::<4, 4>(rows, p, groups, cb, out),
        },
    );
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    #[test]
    fn vector_requantization_equals_the_scalar_one() {
        if !super::super::Kernel::Vnni.supported() {
            std::println!("vnni: NOT RUN (this CPU lacks it)");
            return;
        }
        let specials = [i32::MIN, -1, 0, 1, 2, 127, 128, 255, 256, 1 << 20, i32::MAX];
        let mut acc: Vec<i32> = specials.to_vec();
        acc.extend((0..4000).map(|i| (i * 7919 % 20011) - 10005));
        acc.resize(acc.len().div_ceil(16) * 16, 3);
        let bias: Vec<f32> = (0..16).map(|j| j as f32 * 0.37 - 2.5).collect();
        for (m, inv) in [
            (0.05f32, 1.0f32),
            (0.5, 0.5),
            (1.0 / 3.0, 3.0),
            (1e-3, 7.1),
            (f32::NAN, 1.0),
        ] {
            // One multiplier per output, as per-column weight scales give.
            let ms: [f32; 16] = core::array::from_fn(|c| m * (1.0 + c as f32 / 7.0));
            for chunk in acc.chunks_exact(16) {
                let mut got = [0u8; 16];
                // SAFETY: the CPU supports the kernel (checked above).
                unsafe { super::requantize16(chunk, &ms, &bias, inv, &mut got) };
                for c in 0..16 {
                    let y = chunk[c] as f32 * ms[c] + bias[c];
                    assert_eq!(
                        got[c],
                        super::super::quantize_u8(y, inv),
                        "acc {} m {m} inv {inv}",
                        chunk[c]
                    );
                }
            }
        }
        // Exact ties round to even, as tract does.
        let ties: Vec<i32> = (0..16).map(|i| 2 * i + 1).collect();
        let mut got = [0u8; 16];
        // SAFETY: as above.
        unsafe { super::requantize16(&ties, &[0.5; 16], &[0.0; 16], 1.0, &mut got) };
        let want: Vec<u8> = (0..16)
            .map(|i| ((2 * i + 1) as f32 * 0.5).round_ties_even() as u8)
            .collect();
        assert_eq!(&got[..], &want[..]);
    }
}
