//! Opening a model (`Encoder::from_bytes`): either arbitrary bytes, or a real exported
//! model (f32 or int8) whose `imsat.*` metadata is replaced by fuzzed keys and values.
//! Opening never panics; a model that opens encodes an image without panicking.

#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use imsat_runtime::encoder::{Encoder, EncoderError};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use tract_onnx::pb::{ModelProto, StringStringEntryProto};

const F32: &[u8] = include_bytes!("../models/tiny_hash8.onnx");
const INT8: &[u8] = include_bytes!("../models/tiny_hash8.int8.onnx");

#[derive(Arbitrary, Debug)]
enum Key {
    FormatVersion,
    Task,
    Outputs,
    InputShape,
    Int8,
    Report,
    Other(String),
}

impl Key {
    fn name(&self) -> String {
        match self {
            Key::FormatVersion => "imsat.format_version".into(),
            Key::Task => "imsat.task".into(),
            Key::Outputs => "imsat.outputs".into(),
            Key::InputShape => "imsat.input_shape".into(),
            Key::Int8 => "imsat.int8".into(),
            Key::Report => "imsat.report".into(),
            Key::Other(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// Any bytes as a model file.
    Raw(&'a [u8]),
    /// A real model; its metadata kept (then overridden) or dropped, plus fuzzed entries.
    Metadata {
        int8: bool,
        keep: bool,
        props: Vec<(Key, String)>,
    },
}

fn base(int8: bool) -> &'static ModelProto {
    static MODELS: OnceLock<(ModelProto, ModelProto)> = OnceLock::new();
    let (f, i) = MODELS.get_or_init(|| {
        (
            ModelProto::decode(F32).unwrap(),
            ModelProto::decode(INT8).unwrap(),
        )
    });
    if int8 { i } else { f }
}

fn check(bytes: &[u8]) {
    match Encoder::from_bytes(bytes, "fuzz.onnx") {
        Ok(enc) => {
            assert!(enc.outputs() >= 1 && enc.input_dim() >= 1);
            let d = enc.input_dim();
            if d <= 1 << 16 {
                // May fail (e.g. NaN logits from fuzzed weights), must not panic.
                let _ = enc.encode(&vec![0u8; d]);
            }
        }
        Err(e) => {
            let text = e.to_string();
            match e {
                EncoderError::NotOnnx { .. }
                | EncoderError::Metadata { .. }
                | EncoderError::Prepare { .. } => assert!(text.starts_with("fuzz.onnx"), "{text}"),
                other => panic!("unexpected error opening a model: {other}"),
            }
        }
    }
}

fuzz_target!(|input: Input| {
    match input {
        Input::Raw(bytes) => check(bytes),
        Input::Metadata { int8, keep, props } => {
            let mut model = base(int8).clone();
            if !keep {
                model.metadata_props.clear();
            }
            for (key, value) in props {
                let key = key.name();
                model.metadata_props.retain(|p| p.key != key);
                model
                    .metadata_props
                    .push(StringStringEntryProto { key, value });
            }
            check(&model.encode_to_vec());
        }
    }
});
