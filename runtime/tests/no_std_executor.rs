//! The `no_std` int8 executor ([`Int8Model`]: the runtime's own ONNX reader and the portable
//! kernel, what a board without an OS runs) gives the same codes as the `std` encoder on
//! tract, an independent implementation, for every shipped int8 model: the four digit models
//! on the 10,000 bundled digits, photo64 on those digits through its own view
//! (`IMSAT_TEST_INT8_DIGITS` sets fewer; the ARM CI sets 2,000, see
//! `common::int8_digits`).
#![cfg(feature = "encoder")]

mod common;

use common::{inputs_for, int8_digits, root, test_per_model};

use imsat_runtime::encoder::{Encoder, Task};
use imsat_runtime::int8::{Int8Error, Int8Model, Kernel};

fn model_bytes(name: &str, int8: bool) -> Vec<u8> {
    let file = format!("models/{name}{}.onnx", if int8 { ".int8" } else { "" });
    std::fs::read(root().join(file)).unwrap()
}

test_per_model!(
    no_std_codes_equal_the_std_encoders_on_the_digits,
    super::codes_equal_tracts,
    [hash16, hash32, hash64, cluster10, photo64]
);

fn codes_equal_tracts(name: &str) {
    let (n, digits) = int8_digits();
    let bytes = model_bytes(name, true);
    let model = Int8Model::from_onnx(&bytes)
        .unwrap()
        .with_kernel(Kernel::Generic)
        .unwrap();
    let tract = Encoder::from_bytes(&bytes, name).unwrap().tract_only();
    assert_eq!(model.info(), tract.info(), "{name}: metadata");
    let images = inputs_for(model.info(), &digits);
    assert_eq!(images.len(), n * model.input_dim());
    match model.info().task {
        Task::Hash => {
            let got = model.codes(&images).unwrap();
            assert_eq!(got, tract.codes(&images).unwrap(), "{name}: codes");
            println!("{name}: {n} codes of {} bits equal tract's", got.bits());
        }
        Task::Cluster => {
            let got = model.clusters(&images).unwrap();
            assert_eq!(got, tract.clusters(&images).unwrap(), "{name}: clusters");
            println!("{name}: {n} cluster ids equal tract's");
        }
    }
}

#[test]
fn the_best_kernel_agrees_with_the_portable_one() {
    let (_, digits) = int8_digits();
    let bytes = model_bytes("hash64", true);
    let best = Int8Model::from_onnx(&bytes).unwrap();
    let generic = best.clone().with_kernel(Kernel::Generic).unwrap();
    let (a, b) = (
        best.logits(&digits).unwrap(),
        generic.logits(&digits).unwrap(),
    );
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    // Back from the portable layout to the best kernel's: the weights laid out twice.
    let back = generic.with_kernel(best.kernel()).unwrap();
    let c = back.logits(&digits).unwrap();
    assert!(a.iter().zip(&c).all(|(x, y)| x.to_bits() == y.to_bits()));
    println!(
        "hash64: {} kernel logits identical to generic, and after a round trip through it",
        best.kernel().name()
    );
}

/// A model holds one copy of its weights, in the layout of the kernel that runs it: for
/// hash32 and photo64 the bytes the README gives (the padded layout of `from_onnx`'s docs),
/// twice that for AVX2's i16 weights.
#[test]
fn an_int8_model_holds_one_copy_of_its_weights() {
    for (name, one_copy) in [("hash32", 526_336), ("photo64", 638_976)] {
        let best = Int8Model::from_onnx(&model_bytes(name, true)).unwrap();
        for kernel in imsat_runtime::int8::kernels::ALL {
            let Some(model) = best.clone().with_kernel(kernel) else {
                println!("{name} {}: NOT RUN (this CPU lacks it)", kernel.name());
                continue;
            };
            let want = if kernel == Kernel::Avx2 {
                2 * one_copy
            } else {
                one_copy
            };
            assert_eq!(model.weight_bytes(), want, "{name} {}", kernel.name());
            println!("{name} {}: {want} bytes of weights", kernel.name());
        }
    }
}

/// `widest`, which a batch is split by (rows a run takes), is the most values a row holds
/// in a run: a layer's inputs padded to a multiple of 64, or its outputs; read here from the
/// int8 weight matrices (`[d_in, d_out]`, stored as u8) of the file. For hash32
/// (784-400-400-32): 832.
#[test]
fn widest_is_the_widest_padded_row() {
    use imsat_runtime::format::onnx::Model;
    use imsat_runtime::format::onnx::data_type::UINT8;
    use imsat_runtime::int8::Int8Mlp;
    for name in ["hash16", "hash32", "cluster10", "photo64"] {
        let bytes = model_bytes(name, true);
        let model = Model::parse(&bytes).unwrap();
        let want = model
            .graph
            .initializers
            .iter()
            .filter(|t| t.data_type == UINT8 && t.dims.len() == 2)
            .map(|t| ((t.dims[0] as usize).div_ceil(64) * 64).max(t.dims[1] as usize))
            .max()
            .unwrap();
        let widest = Int8Mlp::from_model(&model).unwrap().widest();
        assert_eq!(widest, want, "{name}");
        if name == "hash32" {
            assert_eq!(widest, 832);
        }
    }
}

#[test]
fn bad_models_and_batches_are_errors_not_panics() {
    // The f32 model is not for this executor, and says so.
    let err = Int8Model::from_onnx(&model_bytes("hash32", false)).unwrap_err();
    assert!(matches!(err, Int8Error::Layout(_)), "{err}");
    assert!(err.to_string().contains(".int8.onnx"), "{err}");
    // Every truncation of a model is an error (or, cut between fields, a model whose
    // metadata or graph is incomplete): never a panic.
    let bytes = model_bytes("hash16", true);
    for end in (0..bytes.len()).step_by(97) {
        assert!(Int8Model::from_onnx(&bytes[..end]).is_err(), "cut at {end}");
    }
    assert!(matches!(
        Int8Model::from_onnx(b"not a model at all").unwrap_err(),
        Int8Error::Parse(_) | Int8Error::Metadata(_)
    ));
    let model = Int8Model::from_onnx(&bytes).unwrap();
    assert_eq!(model.logits(&[]).unwrap_err(), Int8Error::EmptyBatch);
    assert!(matches!(
        model.codes(&[0; 785]).unwrap_err(),
        Int8Error::BatchWidth {
            len: 785,
            width: 784
        }
    ));
    assert!(matches!(
        model.clusters(&[0; 784]).unwrap_err(),
        Int8Error::WrongTask { .. }
    ));
    // photo64 takes a photo as its four views (whole, centre, top and bottom, each luma and
    // two chroma planes of 16x16): one view alone is short.
    let photo = Int8Model::from_onnx(&model_bytes("photo64", true)).unwrap();
    assert_eq!(
        (photo.info().rows_per_image(), photo.input_dim()),
        (4, 3072)
    );
    // Its dedup operating point is in the contract the no_std core reads.
    assert!(photo.info().dedup_radius.is_some() && photo.info().soft_check.is_some());
    assert!(matches!(
        photo.codes(&[0; 768]).unwrap_err(),
        Int8Error::BatchWidth {
            len: 768,
            width: 3072
        }
    ));
}
