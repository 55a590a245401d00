//! CPU features, one place for every kernel: found at run time with `std` (a binary built
//! for a generic target still uses AVX-512 or the dot products where the CPU has them), and
//! read from the build target without `std` (a board's firmware is built for its own CPU).
//! The Hamming kernels and the int8 executor ask here, so both see the same CPU.

/// A feature some kernel needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// x86-64 `popcnt`.
    Popcnt,
    /// x86-64 AVX2.
    Avx2,
    /// x86-64 AVX-512 Foundation.
    Avx512f,
    /// x86-64 AVX-512 byte and word instructions.
    Avx512bw,
    /// x86-64 AVX-512 on 128- and 256-bit vectors.
    Avx512vl,
    /// x86-64 AVX-512 vector popcount of 32- and 64-bit lanes.
    Avx512vpopcntdq,
    /// x86-64 AVX-512 VNNI (`vpdpbusd`, the u8 x i8 dot products).
    Avx512vnni,
    /// aarch64 NEON (Advanced SIMD).
    Neon,
    /// aarch64 dot products (`sdot`, ARMv8.2+).
    Dotprod,
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
macro_rules! x86 {
    ($name:tt) => {
        std::is_x86_feature_detected!($name)
    };
}
#[cfg(all(target_arch = "x86_64", not(feature = "std")))]
macro_rules! x86 {
    ($name:tt) => {
        cfg!(target_feature = $name)
    };
}
#[cfg(all(target_arch = "aarch64", feature = "std"))]
macro_rules! arm {
    ($name:tt) => {
        std::arch::is_aarch64_feature_detected!($name)
    };
}
#[cfg(all(target_arch = "aarch64", not(feature = "std")))]
macro_rules! arm {
    ($name:tt) => {
        cfg!(target_feature = $name)
    };
}

/// Whether this CPU (with `std`) or the build target (without) has `feature`; always
/// false for another architecture's features.
pub fn has(feature: Feature) -> bool {
    match feature {
        #[cfg(target_arch = "x86_64")]
        Feature::Popcnt => x86!("popcnt"),
        #[cfg(target_arch = "x86_64")]
        Feature::Avx2 => x86!("avx2"),
        #[cfg(target_arch = "x86_64")]
        Feature::Avx512f => x86!("avx512f"),
        #[cfg(target_arch = "x86_64")]
        Feature::Avx512bw => x86!("avx512bw"),
        #[cfg(target_arch = "x86_64")]
        Feature::Avx512vl => x86!("avx512vl"),
        #[cfg(target_arch = "x86_64")]
        Feature::Avx512vpopcntdq => x86!("avx512vpopcntdq"),
        #[cfg(target_arch = "x86_64")]
        Feature::Avx512vnni => x86!("avx512vnni"),
        #[cfg(target_arch = "aarch64")]
        Feature::Neon => arm!("neon"),
        #[cfg(target_arch = "aarch64")]
        Feature::Dotprod => arm!("dotprod"),
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

/// Whether every feature in `features` is there, as [`has`] reads them: this CPU's with
/// `std`, the build target's without.
pub fn has_all(features: &[Feature]) -> bool {
    features.iter().all(|&f| has(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_features_are_absent() {
        #[cfg(target_arch = "x86_64")]
        assert!(!has(Feature::Neon) && !has(Feature::Dotprod));
        #[cfg(target_arch = "aarch64")]
        assert!(!has(Feature::Avx2) && has(Feature::Neon));
        assert!(has_all(&[]));
    }
}
