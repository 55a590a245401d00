//! The one place where the compute backend is chosen.
//!
//! burn 0.22 has no backend type parameter: a [`Device`] carries the choice. We train on the
//! ndarray CPU backend with autodiff; switching to `flex` (or a GPU) is a change here only.

use burn::tensor::Device;

/// Device for training (with autodiff).
pub fn training_device() -> Device {
    inference_device().autodiff()
}

/// Device for inference and evaluation (no autodiff tape).
#[allow(deprecated)] // burn-ndarray is deprecated in favour of flex at the same speed.
pub fn inference_device() -> Device {
    Device::ndarray()
}
