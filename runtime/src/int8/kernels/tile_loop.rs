//! The loop every SIMD kernel shares: rows in tiles of up to [`TileShape::rows`], outputs
//! in blocks of the kernel's vector width, a tile's sums computed by the kernel's own
//! register-blocked function, then handed on: vectorized requantization for whole blocks
//! of a hidden layer where the kernel has one, [`Sink::put`] (the generic kernel's exact
//! float steps) for the rest.

use super::{Layer, Sink};

/// Sums per tile row the buffers hold: 4 blocks of 16 outputs.
pub(super) const TILE_COLS: usize = 64;

/// The sums of one tile: `[row][output within the tile]`.
pub(super) type TileSums = [[i32; TILE_COLS]; 4];

/// A kernel's tile: up to `rows` rows (at most 4) x up to `blocks` blocks of `block`
/// outputs (`blocks * block <= TILE_COLS`).
#[derive(Debug, Clone, Copy)]
pub(super) struct TileShape {
    pub rows: usize,
    pub block: usize,
    pub blocks: usize,
}

/// `block` sums to u8, exactly as [`Sink::put`] quantizes them, in vector registers.
pub(super) type Requantize<'r> = &'r dyn Fn(&[i32], &[f32], &[f32], f32, &mut [u8]);

/// One layer over `n` rows of `act` (`l.stride` values each, in the kernel's activation
/// type). `tile(rows, first_block, blocks, sums)` fills `sums[r][..blocks * block]`;
/// `offset[j]` is added (wrapping) to output `j`'s sum when given (NEON's `a - 128` trick).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn layer_tiles<T>(
    l: &Layer,
    act: &[T],
    n: usize,
    emit: &mut Sink<'_>,
    shape: TileShape,
    offset: Option<&[i32]>,
    requantize: Option<Requantize<'_>>,
    mut tile: impl FnMut(&[&[T]], usize, usize, &mut TileSums),
) {
    let (s, block) = (l.stride, shape.block);
    let blocks = l.d_out.div_ceil(block);
    let mut sums: TileSums = [[0; TILE_COLS]; 4];
    let mut r0 = 0;
    while r0 < n {
        let take = (n - r0).min(shape.rows);
        let rows: [&[T]; 4] = core::array::from_fn(|i| {
            let i = r0 + i.min(take - 1);
            &act[i * s..(i + 1) * s]
        });
        let rows = &rows[..take];
        let mut cb = 0;
        while cb < blocks {
            let c = (blocks - cb).min(shape.blocks);
            tile(rows, cb, c, &mut sums);
            let j0 = cb * block;
            let cols = (c * block).min(l.d_out - j0);
            for (dr, row) in sums.iter_mut().enumerate().take(take) {
                let r = r0 + dr;
                if let Some(offset) = offset {
                    for (acc, &o) in row[..cols].iter_mut().zip(&offset[j0..j0 + cols]) {
                        *acc = acc.wrapping_add(o);
                    }
                }
                let mut col = 0;
                if let (Some(requantize), Sink::U8 { buf, stride, inv }) = (requantize, &mut *emit)
                {
                    while col + block <= cols {
                        let (j, at) = (j0 + col, r * *stride + j0 + col);
                        requantize(
                            &row[col..col + block],
                            &l.multiplier[j..j + block],
                            &l.bias[j..j + block],
                            *inv,
                            &mut buf[at..at + block],
                        );
                        col += block;
                    }
                }
                for (col, &acc) in row.iter().enumerate().take(cols).skip(col) {
                    let j = j0 + col;
                    emit.put(r, j, acc as f32 * l.multiplier[j] + l.bias[j]);
                }
            }
            cb += c;
        }
        r0 += take;
    }
}
