//! The one place where the compute backend is chosen.
//!
//! burn 0.22 has no backend type parameter: a [`Device`] carries the choice. We train on the
//! `flex` CPU backend (burn's successor to ndarray) with autodiff; its kernel features
//! (SIMD, rayon, AVX-512 gemm) are set in the workspace `Cargo.toml`. Switching to a GPU is a
//! change here only.

use burn::tensor::{Device, Tensor};

/// Device for training (with autodiff).
pub fn training_device() -> Device {
    inference_device().autodiff()
}

/// Device for inference and evaluation (no autodiff tape).
pub fn inference_device() -> Device {
    Device::flex()
}

/// The SIMD level of the float kernels this CPU runs, as `flex` and its `gemm` choose them
/// at run time: `x86-64-v4` (AVX-512), `x86-64-v3` (AVX2 and FMA), `x86-64` (neither),
/// `aarch64` (NEON) or `generic`. A seed trains the same model bit for bit only at the same
/// level: kernels of other widths add in other orders, so the same seed at another level is
/// another training of the same recipe (fold 0 of the photo estimate, strong TPR: 0.710 at
/// v4, 0.752 at v3). Training reports record it.
pub fn float_kernels() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            "x86-64-v4"
        } else if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            "x86-64-v3"
        } else {
            "x86-64"
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        "aarch64"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "generic"
    }
}

/// A tensor's values on the host, row-major, as f32 whatever float type the backend
/// computes in: the one way export and tests read weights and outputs back.
pub fn host_values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("tensor data converted to f32 reads back as f32")
}
