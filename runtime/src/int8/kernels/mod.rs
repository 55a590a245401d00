//! The integer kernels of the int8 executor: one layer's `u8 x i8` products summed in i32,
//! then `acc * multiplier + bias` handed to a sink (the next layer's u8 activations, or the
//! f32 logits). Every kernel computes the same exact integer sums, so the logits do not
//! depend on the kernel; they differ only in speed.
//! The portable one is here; the SIMD ones sit one file per instruction set, picked at run
//! time through [`crate::cpu`] (with `std`) or by the build target (without).

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod tile_loop;
#[cfg(target_arch = "x86_64")]
mod vnni;

use crate::cpu::{Feature, has_all};

use super::layer::{Layer, Weights};

/// The integer kernel: `Vnni` (AVX-512 VNNI), `Avx2`, `Dotprod` (aarch64 SDOT), `Neon`
/// (aarch64 baseline), or the portable `Generic` one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Plain Rust, on every target.
    Generic,
    /// x86-64 AVX2 (`vpmaddwd` on i16 pairs).
    Avx2,
    /// x86-64 AVX-512 VNNI (`vpdpbusd`).
    Vnni,
    /// aarch64 NEON, on every ARMv8 core.
    Neon,
    /// aarch64 NEON with the dot products (`sdot`, ARMv8.2+).
    Dotprod,
}

/// Every kernel, whether or not it is [supported](Kernel::supported) here.
pub const ALL: [Kernel; 5] = [
    Kernel::Generic,
    Kernel::Avx2,
    Kernel::Vnni,
    Kernel::Neon,
    Kernel::Dotprod,
];

impl Kernel {
    /// `generic`, `avx2`, `vnni`, `neon` or `dotprod`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Generic => "generic",
            Kernel::Avx2 => "avx2",
            Kernel::Vnni => "vnni",
            Kernel::Neon => "neon",
            Kernel::Dotprod => "dotprod",
        }
    }

    /// The kernel called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        ALL.into_iter().find(|k| k.name() == name)
    }

    /// The CPU features the kernel needs (and the architecture it is compiled for).
    fn needs(self) -> Option<&'static [Feature]> {
        match self {
            Kernel::Generic => Some(&[]),
            Kernel::Avx2 if cfg!(target_arch = "x86_64") => Some(&[Feature::Avx2]),
            Kernel::Vnni if cfg!(target_arch = "x86_64") => {
                Some(&[Feature::Avx512f, Feature::Avx512bw, Feature::Avx512vnni])
            }
            Kernel::Neon if cfg!(target_arch = "aarch64") => Some(&[Feature::Neon]),
            Kernel::Dotprod if cfg!(target_arch = "aarch64") => {
                Some(&[Feature::Neon, Feature::Dotprod])
            }
            _ => None,
        }
    }

    /// Whether the kernel runs here: with `std`, on this CPU (detected at run time); without,
    /// on every CPU the build targets, as its enabled target features say. A bare-metal
    /// aarch64 build (`aarch64-unknown-none`) has NEON but not the dot products: it needs
    /// `-C target-feature=+dotprod` (or a `-C target-cpu` that has them) for
    /// [`Kernel::Dotprod`].
    pub fn supported(self) -> bool {
        self.needs().is_some_and(has_all)
    }

    /// The fastest [supported](Kernel::supported) kernel: this CPU's with `std`, the build
    /// target's without.
    pub fn best() -> Self {
        [Kernel::Vnni, Kernel::Avx2, Kernel::Dotprod, Kernel::Neon]
            .into_iter()
            .find(|k| k.supported())
            .unwrap_or(Kernel::Generic)
    }
}

/// tract's QuantizeLinear to u8 with zero point 0: `round_ties_even(y * inv_scale)`
/// clamped to 0..=255 (NaN gives 0). Branch-free: clamp first,
/// then round by adding and removing 2^23, as tract does (no SSE4.1 `round` needed).
#[inline(always)]
pub(crate) fn quantize_u8(y: f32, inv_scale: f32) -> u8 {
    const TOINT: f32 = 8_388_608.0; // 2^23
    let x = (y * inv_scale).clamp(0.0, 255.0); // NaN stays NaN, and `NaN as u8` is 0
    ((x + TOINT) - TOINT) as u8
}

/// Where a layer's outputs go: u8 codes for the next layer, or the f32 logits.
pub(crate) enum Sink<'a> {
    U8 {
        buf: &'a mut [u8],
        stride: usize,
        inv: f32,
    },
    F32 {
        buf: &'a mut [f32],
        width: usize,
    },
}

impl Sink<'_> {
    #[inline(always)]
    fn put(&mut self, r: usize, j: usize, y: f32) {
        match self {
            Sink::U8 { buf, stride, inv } => buf[r * *stride + j] = quantize_u8(y, *inv),
            Sink::F32 { buf, width } => buf[r * *width + j] = y,
        }
    }
}

#[inline(always)]
fn dot(a: &[u8], w: &[i8]) -> i32 {
    // Wrapping, as the SIMD kernels' lanes do: the same logits from every kernel, and no
    // overflow panic in a debug build for a very wide layer of extreme weights.
    a.iter()
        .zip(w)
        .fold(0i32, |acc, (&x, &y)| acc.wrapping_add(x as i32 * y as i32))
}

/// The portable kernel: `emit.put(row, j, acc * multiplier[j] + bias[j])` for every row and
/// output of a layer, `rows` its weights ([`Weights::Rows`]).
fn layer_generic(l: &Layer, rows: &[i8], a: &[u8], n: usize, emit: &mut Sink<'_>) {
    for r in 0..n {
        let x = &a[r * l.stride..(r + 1) * l.stride];
        for (j, w) in rows.chunks_exact(l.stride).take(l.d_out).enumerate() {
            let acc = dot(x, w);
            emit.put(r, j, acc as f32 * l.multiplier[j] + l.bias[j]);
        }
    }
}

/// Run one layer on `n` rows of `a` (`l.stride` bytes each) with `kernel`, whose layout the
/// layer's weights are in (the executor lays them out so whenever it takes a kernel).
pub(crate) fn run_layer(kernel: Kernel, l: &Layer, a: &[u8], n: usize, emit: &mut Sink<'_>) {
    match (kernel, &l.weights) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: an executor only holds a kernel that `Kernel::supported` accepted.
        (Kernel::Vnni, Weights::Quads(p)) => unsafe { vnni::layer(l, p, a, n, emit) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        (Kernel::Avx2, Weights::Pairs(p)) => unsafe { avx2::layer(l, p, a, n, emit) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        (Kernel::Neon, Weights::Quads(p)) => unsafe { neon::layer_neon(l, p, a, n, emit) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        (Kernel::Dotprod, Weights::Quads(p)) => unsafe { neon::layer_dotprod(l, p, a, n, emit) },
        (Kernel::Generic, Weights::Rows(rows)) => layer_generic(l, rows, a, n, emit),
        (kernel, _) => unreachable!(
            "the {} kernel was handed weights laid out for another",
            kernel.name()
        ),
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    /// Every kernel is found by its name, and by no other.
    #[test]
    fn every_kernel_is_found_by_its_name() {
        for kernel in ALL {
            assert_eq!(Kernel::from_name(kernel.name()), Some(kernel));
        }
        for name in ["", "sse2", "Generic", "avx512"] {
            assert_eq!(Kernel::from_name(name), None, "{name:?}");
        }
    }

    /// Every kernel this CPU runs gives a plain scalar loop's outputs, exactly, for layers of
    /// widths the shipped models lack: outputs past the first row tile of blocks that end in
    /// a partial block (70, 77, 150), fewer outputs than a block (3), inputs not a multiple
    /// of the padding; as f32 logits and as the next layer's u8 activations (whose padding
    /// stays zero), for every row count that fills or splits a tile of rows.
    #[test]
    fn every_kernel_gives_the_scalar_sums_at_odd_widths() {
        let mut rng = crate::test_rng::XorShift(0x9e37_79b9_7f4a_7c15);
        let mut next = move || rng.next();
        // Under Miri (thousands of times slower) one odd shape and two row counts, one of
        // them splitting a tile, still walk every kernel's partial blocks.
        let shapes: &[(usize, usize)] = if cfg!(miri) {
            &[(70, 77)]
        } else {
            &[(70, 77), (130, 150), (5, 3), (64, 70), (200, 33)]
        };
        let rows: &[usize] = if cfg!(miri) {
            &[1, 5]
        } else {
            &[1, 2, 3, 4, 5, 6, 7, 8, 9]
        };
        for &(d_in, d_out) in shapes {
            let wq: Vec<u8> = (0..d_in * d_out).map(|_| next() as u8).collect();
            let multiplier: Vec<f32> = (0..d_out).map(|j| 1e-4 * (1.0 + j as f32 / 16.0)).collect();
            let bias: Vec<f32> = (0..d_out).map(|j| j as f32 * 0.25 - 3.0).collect();
            let inv = 0.75f32;
            let stride = d_in.div_ceil(super::super::layer::PAD) * super::super::layer::PAD;
            let next_stride = d_out.div_ceil(64) * 64;
            for &n in rows {
                let mut a = alloc::vec![0u8; n * stride];
                for row in a.chunks_exact_mut(stride) {
                    row[..d_in].iter_mut().for_each(|v| *v = next() as u8);
                }
                let want: Vec<f32> = (0..n * d_out)
                    .map(|i| {
                        let (r, j) = (i / d_out, i % d_out);
                        let acc: i32 = (0..d_in)
                            .map(|k| {
                                i32::from(a[r * stride + k]) * i32::from(wq[k * d_out + j] as i8)
                            })
                            .sum();
                        acc as f32 * multiplier[j] + bias[j]
                    })
                    .collect();
                for kernel in ALL.into_iter().filter(|k| k.supported()) {
                    let layer = Layer::new(
                        &wq,
                        |b| b as i8,
                        d_in,
                        d_out,
                        multiplier.clone(),
                        bias.clone(),
                        kernel,
                    );
                    let what = alloc::format!("{} {d_in}x{d_out} {n} rows", kernel.name());
                    let mut logits = alloc::vec![f32::NAN; n * d_out];
                    let mut sink = Sink::F32 {
                        buf: &mut logits,
                        width: d_out,
                    };
                    run_layer(kernel, &layer, &a, n, &mut sink);
                    assert_eq!(logits, want, "{what}");
                    let mut codes = alloc::vec![0u8; n * next_stride];
                    let mut sink = Sink::U8 {
                        buf: &mut codes,
                        stride: next_stride,
                        inv,
                    };
                    run_layer(kernel, &layer, &a, n, &mut sink);
                    for (r, row) in codes.chunks_exact(next_stride).enumerate() {
                        let q: Vec<u8> = want[r * d_out..(r + 1) * d_out]
                            .iter()
                            .map(|&y| (y * inv).round_ties_even().clamp(0.0, 255.0) as u8)
                            .collect();
                        assert_eq!(&row[..d_out], &q[..], "{what} row {r}");
                        assert!(row[d_out..].iter().all(|&v| v == 0), "{what} row {r}");
                    }
                }
            }
        }
    }

    /// With `std`, the x86-64 kernels run exactly where the standard library detects their
    /// features (an independent check of `cpu`): a SIMD kernel the CPU has is not left unused,
    /// and one it lacks is never chosen.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[test]
    fn x86_kernels_are_supported_exactly_where_the_cpu_has_them() {
        let avx2 = std::is_x86_feature_detected!("avx2");
        let vnni = std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vnni");
        assert!(Kernel::Generic.supported());
        assert_eq!(Kernel::Avx2.supported(), avx2);
        assert_eq!(Kernel::Vnni.supported(), vnni);
        assert!(!Kernel::Neon.supported() && !Kernel::Dotprod.supported());
        let best = if vnni {
            Kernel::Vnni
        } else if avx2 {
            Kernel::Avx2
        } else {
            Kernel::Generic
        };
        assert_eq!(Kernel::best(), best);
    }
}
