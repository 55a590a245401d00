//! Hamming distance: XOR the words, count the ones.
//!
//! The block kernel computes the distances from one query to many consecutive codes into a
//! caller buffer. It is written as plain loops over `chunks_exact` with the code width as a
//! const generic (1, 2, 4 and 8 words), so the compiler drops bounds checks and vectorises
//! the popcounts. On x86_64 the same source is also compiled with AVX2 and with AVX-512
//! VPOPCNTDQ enabled and picked at run time (with `std`; without `std` only what the build
//! target enables is used); every other target gets the portable build. On aarch64 that
//! build is already NEON (`cnt v.16b` and `uaddlp`; `.ci/arm` checks the disassembly), so it
//! has no hand-written path. For 128- and 256-bit codes the AVX-512 build uses explicit
//! intrinsics (eight codes per step, popcounts summed by a lane transpose), because the
//! compiler leaves multi-word codes scalar there.

/// Distance between two codes of the same length in words (extra words of the longer one
/// are ignored).
#[inline]
pub fn distance(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// Distance between two 64-bit codes.
#[inline]
pub fn distance64(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Distances from `query` (`query.len()` words) to every code in `codes` (row-major, same
/// width), written to `out[i]` for code `i`. Stops at the shorter of the two.
pub fn distances(codes: &[u64], query: &[u64], out: &mut [u32]) {
    if query.is_empty() {
        return;
    }
    let n = (codes.len() / query.len()).min(out.len());
    block(&codes[..n * query.len()], query, &mut out[..n]);
}

/// The kernel behind [`distances`]; `codes.len() == out.len() * query.len()` is expected.
/// Returns the smallest distance written (`u32::MAX` if none), computed in the same
/// vectorised pass, so a scan can reject a whole block with one comparison.
#[inline]
pub(crate) fn block(codes: &[u64], query: &[u64], out: &mut [u32]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        match x86::level() {
            // SAFETY: the level is only reported when the CPU has these features.
            x86::Level::Avx512 => return unsafe { x86::block_avx512(codes, query, out) },
            // SAFETY: as above.
            x86::Level::Avx2 => return unsafe { x86::block_avx2(codes, query, out) },
            x86::Level::Base => {}
        }
    }
    block_portable(codes, query, out)
}

#[inline(always)]
fn block_fixed<const W: usize>(codes: &[u64], query: &[u64], out: &mut [u32]) -> u32 {
    let mut q = [0u64; W];
    q.copy_from_slice(&query[..W]);
    let mut min = u32::MAX;
    for (c, o) in codes.chunks_exact(W).zip(out.iter_mut()) {
        let mut d = 0u32;
        for j in 0..W {
            d += (c[j] ^ q[j]).count_ones();
        }
        *o = d;
        min = min.min(d);
    }
    min
}

#[inline(always)]
fn block_portable(codes: &[u64], query: &[u64], out: &mut [u32]) -> u32 {
    match query.len() {
        1 => block_fixed::<1>(codes, query, out),
        2 => block_fixed::<2>(codes, query, out),
        4 => block_fixed::<4>(codes, query, out),
        8 => block_fixed::<8>(codes, query, out),
        w => {
            let mut min = u32::MAX;
            for (c, o) in codes.chunks_exact(w).zip(out.iter_mut()) {
                *o = distance(c, query);
                min = min.min(*o);
            }
            min
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;
    use core::sync::atomic::{AtomicU8, Ordering};

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub(super) enum Level {
        Base,
        Avx2,
        Avx512,
    }

    static LEVEL: AtomicU8 = AtomicU8::new(0);

    pub(super) fn level() -> Level {
        match LEVEL.load(Ordering::Relaxed) {
            1 => Level::Base,
            2 => Level::Avx2,
            3 => Level::Avx512,
            _ => {
                let l = detect();
                LEVEL.store(
                    match l {
                        Level::Base => 1,
                        Level::Avx2 => 2,
                        Level::Avx512 => 3,
                    },
                    Ordering::Relaxed,
                );
                l
            }
        }
    }

    /// The best level this CPU runs (see [`crate::cpu`]: at run time with `std`).
    fn detect() -> Level {
        use crate::cpu::{Feature::*, has_all};
        if has_all(&[Avx512f, Avx512vpopcntdq, Avx512bw, Avx512vl, Popcnt]) {
            Level::Avx512
        } else if has_all(&[Avx2, Popcnt]) {
            Level::Avx2
        } else {
            Level::Base
        }
    }

    #[target_feature(enable = "avx512f,avx512vpopcntdq,avx512bw,avx512vl,popcnt")]
    pub(super) fn block_avx512(codes: &[u64], query: &[u64], out: &mut [u32]) -> u32 {
        match query.len() {
            2 => w2_avx512(codes, query, out),
            4 => w4_avx512(codes, query, out),
            // One word per code vectorises well from the portable source.
            _ => super::block_portable(codes, query, out),
        }
    }

    /// 128-bit codes, eight at a time: two zmm of popcounts, summed pairwise across
    /// lanes. The compiler does not find this for multi-word codes on its own.
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    fn w2_avx512(codes: &[u64], query: &[u64], out: &mut [u32]) -> u32 {
        let n = out.len().min(codes.len() / 2);
        let full = n / 8;
        let (q0, q1) = (query[0] as i64, query[1] as i64);
        let q = _mm512_set_epi64(q1, q0, q1, q0, q1, q0, q1, q0);
        // t = [c0, c4, c1, c5, c2, c6, c3, c7] -> c0..c7
        let order = _mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0);
        let mut min = _mm256_set1_epi32(-1);
        for (c, o) in codes[..full * 16]
            .chunks_exact(16)
            .zip(out[..full * 8].chunks_exact_mut(8))
        {
            let p = c.as_ptr();
            // SAFETY: `c` holds 16 words, so both 8-word loads are in bounds.
            let (a, b) = unsafe {
                (
                    _mm512_loadu_si512(p.cast()),
                    _mm512_loadu_si512(p.add(8).cast()),
                )
            };
            let a = _mm512_popcnt_epi64(_mm512_xor_si512(a, q));
            let b = _mm512_popcnt_epi64(_mm512_xor_si512(b, q));
            let t = _mm512_add_epi64(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
            let r = _mm512_cvtepi64_epi32(_mm512_permutexvar_epi64(order, t));
            // SAFETY: `o` holds 8 u32, exactly one 256-bit store.
            unsafe { _mm256_storeu_si256(o.as_mut_ptr().cast(), r) };
            min = _mm256_min_epu32(min, r);
        }
        let tail = super::block_portable(&codes[full * 16..n * 2], query, &mut out[full * 8..n]);
        reduce_min(min).min(tail)
    }

    /// 256-bit codes, eight at a time: four zmm of popcounts reduced by a lane transpose.
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    fn w4_avx512(codes: &[u64], query: &[u64], out: &mut [u32]) -> u32 {
        let n = out.len().min(codes.len() / 4);
        let full = n / 8;
        let (q0, q1, q2, q3) = (
            query[0] as i64,
            query[1] as i64,
            query[2] as i64,
            query[3] as i64,
        );
        let q = _mm512_set_epi64(q3, q2, q1, q0, q3, q2, q1, q0);
        // t = [c0, c2, c1, c3, c4, c6, c5, c7] -> c0..c7
        let order = _mm512_set_epi64(7, 5, 6, 4, 3, 1, 2, 0);
        let mut min = _mm256_set1_epi32(-1);
        for (c, o) in codes[..full * 32]
            .chunks_exact(32)
            .zip(out[..full * 8].chunks_exact_mut(8))
        {
            let p = c.as_ptr();
            // SAFETY: `c` holds 32 words, so the four 8-word loads are in bounds.
            let (a, b, x, y) = unsafe {
                (
                    _mm512_loadu_si512(p.cast()),
                    _mm512_loadu_si512(p.add(8).cast()),
                    _mm512_loadu_si512(p.add(16).cast()),
                    _mm512_loadu_si512(p.add(24).cast()),
                )
            };
            let a = _mm512_popcnt_epi64(_mm512_xor_si512(a, q));
            let b = _mm512_popcnt_epi64(_mm512_xor_si512(b, q));
            let x = _mm512_popcnt_epi64(_mm512_xor_si512(x, q));
            let y = _mm512_popcnt_epi64(_mm512_xor_si512(y, q));
            // Per 128-bit lane L: [a(2L) + a(2L+1), b(2L) + b(2L+1)], same for x, y.
            let ab = _mm512_add_epi64(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
            let xy = _mm512_add_epi64(_mm512_unpacklo_epi64(x, y), _mm512_unpackhi_epi64(x, y));
            // Add lanes 0+1 and 2+3 of each: whole-code sums.
            let t = _mm512_add_epi64(
                _mm512_shuffle_i64x2::<0x88>(ab, xy),
                _mm512_shuffle_i64x2::<0xDD>(ab, xy),
            );
            let r = _mm512_cvtepi64_epi32(_mm512_permutexvar_epi64(order, t));
            // SAFETY: `o` holds 8 u32, exactly one 256-bit store.
            unsafe { _mm256_storeu_si256(o.as_mut_ptr().cast(), r) };
            min = _mm256_min_epu32(min, r);
        }
        let tail = super::block_portable(&codes[full * 32..n * 4], query, &mut out[full * 8..n]);
        reduce_min(min).min(tail)
    }

    /// Smallest of eight u32 lanes.
    #[target_feature(enable = "avx2")]
    fn reduce_min(v: __m256i) -> u32 {
        let mut lanes = [0u32; 8];
        // SAFETY: `lanes` is exactly 256 bits.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), v) };
        lanes.iter().copied().fold(u32::MAX, u32::min)
    }

    #[target_feature(enable = "avx2,popcnt")]
    pub(super) fn block_avx2(codes: &[u64], query: &[u64], out: &mut [u32]) -> u32 {
        super::block_portable(codes, query, out)
    }

    #[cfg(test)]
    pub(super) fn all_levels() -> alloc::vec::Vec<Level> {
        let mut v = alloc::vec![Level::Base];
        let top = level();
        if top != Level::Base {
            v.push(Level::Avx2);
        }
        if top == Level::Avx512 {
            v.push(Level::Avx512);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn words(n: usize, seed: u64) -> Vec<u64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = s;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^ (z >> 31)
            })
            .collect()
    }

    #[test]
    fn distance_basics() {
        assert_eq!(distance(&[0b1011], &[0b0001]), 2);
        assert_eq!(distance(&[u64::MAX, 0], &[0, u64::MAX]), 128);
        assert_eq!(distance64(1, 2), 2);
    }

    /// Bits that differ, counted one bit at a time: `distance64` and `distance` on words
    /// that share set bits (where `|` or `&` in place of `^` would count wrong).
    #[test]
    fn distances_count_the_differing_bits() {
        let w = words(200, 7);
        for pair in w.chunks_exact(2) {
            let (a, b) = (pair[0], pair[1]);
            let differing = (0..64).filter(|i| (a >> i) & 1 != (b >> i) & 1).count() as u32;
            assert_eq!(distance64(a, b), differing);
            assert_eq!(distance(&[a], &[b]), differing);
            assert_eq!(
                distance64(a, a | b),
                (0..64).filter(|i| (b & !a) >> i & 1 == 1).count() as u32
            );
        }
    }

    /// `distances` stops at the shorter of the codes and the output: an output longer than
    /// the codes keeps its extra entries, and codes beyond the output are not read.
    #[test]
    fn distances_stop_at_the_shorter_of_codes_and_output() {
        for w in [1usize, 2, 3, 4] {
            let codes = words(10 * w, 3);
            let q = words(w, 5);
            let expect: Vec<u32> = codes.chunks_exact(w).map(|c| distance(c, &q)).collect();
            let mut out = vec![u32::MAX; 15];
            distances(&codes, &q, &mut out);
            assert_eq!(out[..10], expect[..], "{w} words");
            assert!(out[10..].iter().all(|&d| d == u32::MAX), "{w} words");
            let mut out = vec![u32::MAX; 4];
            distances(&codes, &q, &mut out);
            assert_eq!(out[..], expect[..4], "{w} words");
        }
    }

    #[test]
    fn every_kernel_matches_the_definition() {
        #[cfg(target_arch = "x86_64")]
        {
            let ran = x86::all_levels();
            for level in [x86::Level::Avx2, x86::Level::Avx512] {
                if !ran.contains(&level) {
                    std::println!("hamming {level:?}: NOT RUN (this CPU lacks it)");
                }
            }
            std::println!("hamming kernels run: portable, {ran:?}");
        }
        for w in [1usize, 2, 3, 4, 5, 8, 9] {
            for n in [0usize, 1, 7, 8, 9, 77, 256] {
                let codes = words(n * w, w as u64);
                let q = words(w, 99);
                let expect: Vec<u32> = codes.chunks_exact(w).map(|c| distance(c, &q)).collect();
                let mut out = vec![0u32; n];
                distances(&codes, &q, &mut out);
                assert_eq!(out, expect, "dispatch, {w} words");
                let mut out = vec![0u32; n];
                let min = block_portable(&codes, &q, &mut out);
                assert_eq!(out, expect, "portable, {w} words");
                assert_eq!(min, expect.iter().copied().min().unwrap_or(u32::MAX));
                #[cfg(target_arch = "x86_64")]
                for level in x86::all_levels() {
                    let mut out = vec![0u32; n];
                    let min = match level {
                        // SAFETY: all_levels only lists what the CPU supports.
                        x86::Level::Avx512 => unsafe { x86::block_avx512(&codes, &q, &mut out) },
                        // SAFETY: as above.
                        x86::Level::Avx2 => unsafe { x86::block_avx2(&codes, &q, &mut out) },
                        x86::Level::Base => block_portable(&codes, &q, &mut out),
                    };
                    assert_eq!(out, expect, "{level:?}, {w} words");
                    assert_eq!(min, expect.iter().copied().min().unwrap_or(u32::MAX));
                }
            }
        }
    }
}
