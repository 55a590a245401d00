//! NEON kernels for aarch64. Both multiply `a - 128` (the u8 activations flipped to i8 once
//! per layer) by the i8 weights and add back `128 * sum(w)` per output (`Layer::offset`):
//! ARM's dot products take i8 x i8 (SDOT) or u8 x u8 (UDOT), not u8 x i8. The identity is
//! exact modulo 2^32, so the sums equal the generic kernel's, wrapping included.
//!
//! * `Neon` (every ARMv8.0 core): `smull` multiplies 8 pairs into i16 (|(-128)(-128)| fits),
//!   `sadalp` adds neighbouring products into i32 lanes.
//! * `Dotprod` (ARMv8.2+ with FEAT_DotProd, found at run time): `sdot` adds 4 products per
//!   i32 lane in one instruction. Its intrinsic is unstable in Rust 1.95, so it is one
//!   `asm!` instruction.
//!
//! Both read the weights in the layout packed for `vpdpbusd` (`Weights::Quads`: per block of
//! 16 outputs, per group of 4 inputs, 64 bytes), so 16 bytes hold 4 inputs of 4 outputs and a
//! broadcast group of 4 activations meets them lane for lane.

use alloc::vec::Vec;
use core::arch::aarch64::*;
use core::arch::asm;

use super::tile_loop::{TileShape, TileSums, layer_tiles};
use super::{Layer, Sink};

/// The 4 activations of group `g` of a row, broadcast to all four 32-bit lanes.
#[inline(always)]
fn group(row: &[i8], g: usize) -> int8x16_t {
    let b = &row[4 * g..4 * g + 4];
    let v = i32::from_ne_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8]);
    // SAFETY: aarch64 always has NEON (the callers enable it).
    unsafe { vreinterpretq_s8_s32(vdupq_n_s32(v)) }
}

/// Sums of `R` rows x the 16 outputs of block `cb`, into `out[r][0..16]`, with `smull`.
#[target_feature(enable = "neon")]
fn tile_neon<const R: usize>(
    rows: &[&[i8]],
    packed: &[i8],
    groups: usize,
    cb: usize,
    out: &mut TileSums,
) {
    assert!(rows.len() == R && rows.iter().all(|r| r.len() >= groups * 4));
    let block = &packed[cb * groups * 64..(cb + 1) * groups * 64];
    // acc[r][2q] holds outputs 4q and 4q+1 (two partial sums each), acc[r][2q+1] 4q+2, 4q+3.
    let mut acc = [[vdupq_n_s32(0); 8]; R];
    for (g, w) in block.chunks_exact(64).enumerate() {
        // SAFETY: `w` holds 64 bytes: four 16-byte loads.
        let w: [int8x16_t; 4] =
            core::array::from_fn(|q| unsafe { vld1q_s8(w.as_ptr().add(16 * q)) });
        for (acc, row) in acc.iter_mut().zip(rows) {
            let a = group(row, g);
            let lo = vget_low_s8(a);
            for (q, &w) in w.iter().enumerate() {
                acc[2 * q] = vpadalq_s16(acc[2 * q], vmull_s8(lo, vget_low_s8(w)));
                acc[2 * q + 1] = vpadalq_s16(acc[2 * q + 1], vmull_high_s8(a, w));
            }
        }
    }
    for (sums, acc) in out.iter_mut().zip(&acc) {
        for q in 0..4 {
            let v = vpaddq_s32(acc[2 * q], acc[2 * q + 1]);
            // SAFETY: 4 q + 4 <= 16.
            unsafe { vst1q_s32(sums.as_mut_ptr().add(4 * q), v) };
        }
    }
}

/// `acc + ` the dot products of each 32-bit lane's 4 bytes of `w` and `a` (SDOT).
///
/// # Safety
/// The CPU must have the dot-product instructions; only called from `dotprod` functions.
#[inline(always)]
unsafe fn sdot(mut acc: int32x4_t, w: int8x16_t, a: int8x16_t) -> int32x4_t {
    // SAFETY: the caller runs on a CPU with FEAT_DotProd; registers only.
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {w:v}.16b, {a:v}.16b",
            acc = inout(vreg) acc,
            w = in(vreg) w,
            a = in(vreg) a,
            options(pure, nomem, nostack, preserves_flags)
        )
    };
    acc
}

/// Sums of `R` rows x the 16 outputs of block `cb`, into `out[r][0..16]`, with `sdot`.
#[target_feature(enable = "neon,dotprod")]
fn tile_dotprod<const R: usize>(
    rows: &[&[i8]],
    packed: &[i8],
    groups: usize,
    cb: usize,
    out: &mut TileSums,
) {
    assert!(rows.len() == R && rows.iter().all(|r| r.len() >= groups * 4));
    let block = &packed[cb * groups * 64..(cb + 1) * groups * 64];
    // acc[r][q] holds outputs 4q..4q+4.
    let mut acc = [[vdupq_n_s32(0); 4]; R];
    for (g, w) in block.chunks_exact(64).enumerate() {
        // SAFETY: `w` holds 64 bytes: four 16-byte loads.
        let w: [int8x16_t; 4] =
            core::array::from_fn(|q| unsafe { vld1q_s8(w.as_ptr().add(16 * q)) });
        for (acc, row) in acc.iter_mut().zip(rows) {
            let a = group(row, g);
            for (acc, &w) in acc.iter_mut().zip(&w) {
                // SAFETY: this function runs only where dotprod is enabled.
                *acc = unsafe { sdot(*acc, w, a) };
            }
        }
    }
    for (sums, acc) in out.iter_mut().zip(&acc) {
        for (q, &v) in acc.iter().enumerate() {
            // SAFETY: 4 q + 4 <= 16.
            unsafe { vst1q_s32(sums.as_mut_ptr().add(4 * q), v) };
        }
    }
}

/// One layer: the activations flipped to i8 once, tiles of up to `rows` rows x 16 outputs
/// (`tile` is `tile_neon` or `tile_dotprod`), `128 * sum(w)` added back per output.
#[inline(always)]
fn layer_with(
    l: &Layer,
    a: &[u8],
    n: usize,
    emit: &mut Sink<'_>,
    rows: usize,
    tile: impl Fn(&[&[i8]], usize, &mut TileSums),
) {
    let flipped: Vec<i8> = a[..n * l.stride]
        .iter()
        .map(|&v| (v ^ 0x80) as i8)
        .collect();
    let shape = TileShape {
        rows,
        block: 16,
        blocks: 1,
    };
    let offset = Some(&l.offset[..]);
    layer_tiles(
        l,
        &flipped,
        n,
        emit,
        shape,
        offset,
        None,
        |rows, cb, _, out| tile(rows, cb, out),
    );
}

/// Baseline NEON: 2 rows x 16 outputs per tile (16 accumulators).
///
/// # Safety
/// The CPU must support neon.
#[target_feature(enable = "neon")]
pub(super) unsafe fn layer_neon(l: &Layer, p: &[i8], a: &[u8], n: usize, emit: &mut Sink<'_>) {
    let groups = l.stride / 4;
    layer_with(l, a, n, emit, 2, |rows, cb, out| match rows.len() {
        1 => tile_neon::<1>(rows, p, groups, cb, out),
        _ => tile_neon::<2>(rows, p, groups, cb, out),
    });
}

/// Dot product: 4 rows x 16 outputs per tile (16 accumulators).
///
/// # Safety
/// The CPU must support neon and dotprod.
#[target_feature(enable = "neon,dotprod")]
pub(super) unsafe fn layer_dotprod(l: &Layer, p: &[i8], a: &[u8], n: usize, emit: &mut Sink<'_>) {
    let groups = l.stride / 4;
    layer_with(l, a, n, emit, 4, |rows, cb, out| match rows.len() {
        1 => tile_dotprod::<1>(rows, p, groups, cb, out),
        2 => tile_dotprod::<2>(rows, p, groups, cb, out),
        3 => tile_dotprod::<3>(rows, p, groups, cb, out),
        _ => tile_dotprod::<4>(rows, p, groups, cb, out),
    });
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;
    use std::println;

    use super::super::Kernel;
    use crate::int8::layer::quads_at;

    /// u8 x i8 sums of `rows` and the packed weights of one block, through a tile, plus the
    /// offset, against the plain definition; the extremes (0, 255, -128, 127) included.
    fn check(kernel: Kernel) {
        if !kernel.supported() {
            println!("{}: NOT RUN (this CPU lacks it)", kernel.name());
            return;
        }
        let groups = 16; // 64 inputs
        let mut s = 12345u32;
        let mut next = move || {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (s >> 16) as u8
        };
        for case in 0..8 {
            let pick = |v: u8| match case {
                0 => 255u8,
                1 => 0,
                _ => v,
            };
            let a: Vec<Vec<u8>> = (0..4)
                .map(|_| (0..groups * 4).map(|_| pick(next())).collect())
                .collect();
            let w: Vec<i8> = (0..16 * groups * 4)
                .map(|i| match case {
                    0 | 1 => [-128i8, 127][i % 2],
                    _ => next() as i8,
                })
                .collect();
            // w[j * inputs + k], packed as in `Weights::Quads` (one block of 16 outputs).
            let inputs = groups * 4;
            let mut packed = alloc::vec![0i8; groups * 64];
            for j in 0..16 {
                for k in 0..inputs {
                    packed[quads_at(inputs, k, j)] = w[j * inputs + k];
                }
            }
            let offset: Vec<i32> = (0..16)
                .map(|j| {
                    128 * w[j * inputs..(j + 1) * inputs]
                        .iter()
                        .map(|&v| v as i32)
                        .sum::<i32>()
                })
                .collect();
            let flipped: Vec<Vec<i8>> = a
                .iter()
                .map(|r| r.iter().map(|&v| (v ^ 0x80) as i8).collect())
                .collect();
            for take in 1..=4 {
                let rows: Vec<&[i8]> = flipped[..take].iter().map(|r| &r[..]).collect();
                let mut out = [[0i32; super::super::tile_loop::TILE_COLS]; 4];
                // SAFETY: the CPU supports the kernel (checked above).
                match (kernel, take) {
                    (Kernel::Neon, 1) => unsafe {
                        super::tile_neon::<1>(&rows, &packed, groups, 0, &mut out)
                    },
                    (Kernel::Neon, 2) => unsafe {
                        super::tile_neon::<2>(&rows, &packed, groups, 0, &mut out)
                    },
                    (Kernel::Neon, _) => continue,
                    (_, 1) => unsafe {
                        super::tile_dotprod::<1>(&rows, &packed, groups, 0, &mut out)
                    },
                    (_, 2) => unsafe {
                        super::tile_dotprod::<2>(&rows, &packed, groups, 0, &mut out)
                    },
                    (_, 3) => unsafe {
                        super::tile_dotprod::<3>(&rows, &packed, groups, 0, &mut out)
                    },
                    (_, _) => unsafe {
                        super::tile_dotprod::<4>(&rows, &packed, groups, 0, &mut out)
                    },
                }
                for r in 0..take {
                    for j in 0..16 {
                        let want: i32 = (0..inputs)
                            .map(|k| a[r][k] as i32 * w[j * inputs + k] as i32)
                            .sum();
                        assert_eq!(
                            out[r][j] + offset[j],
                            want,
                            "{} case {case} rows {take} r {r} j {j}",
                            kernel.name()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn neon_tile_sums_are_exact() {
        check(Kernel::Neon);
    }

    #[test]
    fn dotprod_tile_sums_are_exact() {
        check(Kernel::Dotprod);
    }
}
