//! The board's model reader ([`Int8Model::from_onnx`]: the runtime's own protobuf reader and
//! graph check, no tract behind it) on damaged files: flash that lost bits, a copy cut or
//! padded. Every mutant of a real exported int8 model is an error or a model that encodes,
//! never a panic (a panic on a board without an OS is a reset). Runs without default
//! features, as a board builds the runtime; the mutants are drawn from a fixed seed.

use std::panic::{AssertUnwindSafe, catch_unwind};

use imsat_runtime::format::Task;
use imsat_runtime::int8::Int8Model;

/// A small exported model (8-bit hash, the fuzz targets' seed): its metadata and graph are
/// most of its 4 KB, so most mutations land where the reader has something to check.
fn tiny_model() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/models/tiny_hash8.int8.onnx"
    );
    std::fs::read(path).unwrap()
}

/// xorshift64*: the same mutants on every run and every target.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One damaged copy of `bytes`, all its damage at or after byte `from`: 1 to 4 bytes
/// replaced, bits flipped, a byte dropped or repeated, or a 10-byte varint of the extreme
/// value (a length, a dimension of 2^64 - 1) put where one byte was.
fn mutant(bytes: &[u8], from: usize, draws: &mut Draws) -> Vec<u8> {
    let mut m = bytes.to_vec();
    for _ in 0..1 + draws.below(4) {
        let at = from + draws.below(m.len() - from);
        match draws.below(5) {
            0 => m[at] = draws.next() as u8,
            1 => m[at] ^= 1 << draws.below(8),
            2 => {
                m.remove(at);
            }
            3 => m.insert(at, m[at]),
            _ => {
                let extreme = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
                m.splice(at..at + 1, extreme);
            }
        }
    }
    m
}

/// `count` damaged copies of `bytes` (damage from byte `from` on) through the reader and,
/// where one loads, through an encoding of one input: how many loaded and how many were
/// refused; any panic fails, naming the mutants.
fn load_mutants(name: &str, bytes: &[u8], from: usize, count: usize, seed: u64) -> (usize, usize) {
    let mut draws = Draws(seed);
    let (mut loaded, mut refused, mut panicked) = (0, 0, Vec::new());
    for i in 0..count {
        let m = mutant(bytes, from, &mut draws);
        let run = catch_unwind(AssertUnwindSafe(|| match Int8Model::from_onnx(&m) {
            Err(e) => {
                assert!(!e.to_string().is_empty());
                false
            }
            // A model that loads encodes (or refuses with its error) an input of its width:
            // a photo model's, made by its (maybe damaged) view from a 40x30 picture.
            Ok(model) => {
                let picture: Vec<u8> = (0..40 * 30 * 3).map(|i| (i * 7 % 251) as u8).collect();
                let input = match model.info().view {
                    Some(view) => match view.apply(&picture, 40, 30, 3) {
                        Ok(input) if input.len() == model.input_dim() => input,
                        _ => vec![128u8; model.input_dim()],
                    },
                    None => vec![128u8; model.input_dim()],
                };
                let _ = match model.info().task {
                    Task::Hash => model.codes(&input).map(|_| ()),
                    Task::Cluster => model.clusters(&input).map(|_| ()),
                };
                true
            }
        }));
        match run {
            Ok(true) => loaded += 1,
            Ok(false) => refused += 1,
            Err(_) => panicked.push(i),
        }
    }
    println!("{name}: {count} damaged copies, {loaded} loaded and encoded, {refused} refused");
    assert!(
        panicked.is_empty(),
        "{name}: mutants that panicked: {panicked:?}"
    );
    (loaded, refused)
}

/// Damaged copies tried of the tiny model: 0.1 s natively, seconds under qemu.
const MUTANTS: usize = 20_000;

#[test]
fn damaged_models_are_errors_or_models_never_panics() {
    let bytes = tiny_model();
    let model = Int8Model::from_onnx(&bytes).expect("the undamaged model loads");
    assert_eq!(model.info().task, Task::Hash);
    let (loaded, refused) = load_mutants("tiny_hash8", &bytes, 0, MUTANTS, 0x1357_9bdf_2468_ace0);
    // Both outcomes occur: the damage reaches the graph check, not only the first bytes.
    assert!(
        loaded > 100 && refused > 100,
        "{loaded} loaded, {refused} refused"
    );
}

/// photo64's metadata, its last 4 KB (the view, the operating points, the training report),
/// is what a board reads to make a photo's input: damaged there, it is an error or a model.
#[test]
fn damaged_photo_model_metadata_is_an_error_or_a_model() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/photo64.int8.onnx");
    let bytes = std::fs::read(path).unwrap();
    let model = Int8Model::from_onnx(&bytes).expect("photo64 loads");
    assert!(model.info().view.is_some());
    let from = bytes.len() - 4096;
    let (loaded, refused) = load_mutants("photo64", &bytes, from, 1_000, 0x2468_ace0_1357_9bdf);
    assert!(
        loaded > 10 && refused > 10,
        "{loaded} loaded, {refused} refused"
    );
}
