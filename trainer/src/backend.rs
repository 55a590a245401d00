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

/// A tensor's values on the host, row-major, as f32 whatever float type the backend
/// computes in: the one way export and tests read weights and outputs back.
pub fn host_values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("tensor data converted to f32 reads back as f32")
}
