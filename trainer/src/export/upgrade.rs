//! Rewriting an int8 model of the earlier layout (int8 weights, `MatMulInteger(a, W)`) into
//! the one [`super::int8_model`] writes now (u8 weights with zero point 128,
//! `MatMulInteger(a, W + 128, 0, 128)`). The integers multiplied are the same, so every
//! engine that was exact gives the same codes; onnxruntime on x86-64 without VNNI, whose
//! u8 x s8 kernel saturates, becomes exact too. The result is the file the current exporter
//! writes for the same trained model, byte for byte.
//!
//! A rewritten file has another SHA-256 than the one an index card names, so it says which
//! files it computes the same codes as ([`declare_same_codes`], `imsat.same_codes_as`), and an
//! index built with one of them is searched and extended with it.

use prost::Message;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

use imsat_runtime::format::{ModelInfo, WEIGHT_ZERO_POINT, is_sha256, keys, stored_weight};

use super::ExportError;
use super::onnx::{ACTIVATION_ZERO, U8_WEIGHTS_NOTE, WEIGHT_ZERO, scalar_u8};

/// The bytes of `model` (an int8 model of the earlier layout) in the current layout.
pub fn upgrade_int8(model: &[u8]) -> Result<Vec<u8>, ExportError> {
    let bad = |why: &str| ExportError::Invalid(why.to_string());
    let mut m =
        pb::ModelProto::decode(model).map_err(|e| bad(&format!("not an ONNX model: {e}")))?;
    let meta = |m: &pb::ModelProto, key: &str| {
        m.metadata_props
            .iter()
            .position(|p| p.key == key)
            .ok_or_else(|| {
                bad(&format!(
                    "no `{key}` metadata: not a model exported by imsat"
                ))
            })
    };
    let int8 = meta(&m, keys::INT8)?;
    if m.metadata_props[int8].value != "true" {
        return Err(bad("an f32 model: only int8 models store integer weights"));
    }
    let note = meta(&m, keys::QUANTIZATION)?;
    let graph = m
        .graph
        .as_mut()
        .ok_or_else(|| bad("the model has no graph"))?;
    let matmuls: Vec<usize> = (0..graph.node.len())
        .filter(|&i| graph.node[i].op_type == "MatMulInteger")
        .collect();
    if matmuls.is_empty() {
        return Err(bad("the graph has no MatMulInteger"));
    }
    for &i in &matmuls {
        let node = &mut graph.node[i];
        match node.input.len() {
            2 => node
                .input
                .extend([ACTIVATION_ZERO.to_string(), WEIGHT_ZERO.to_string()]),
            4 => {
                return Err(bad(
                    "the weights are already stored as u8 (the current layout)",
                ));
            }
            n => return Err(bad(&format!("a MatMulInteger with {n} inputs"))),
        }
        let name = node.input[1].clone();
        let w = graph
            .initializer
            .iter_mut()
            .find(|t| t.name == name)
            .ok_or_else(|| bad(&format!("the weights `{name}` are not a constant")))?;
        if w.data_type != DataType::Int8 as i32 || w.raw_data.is_empty() {
            return Err(bad(&format!("the weights `{name}` are not raw int8")));
        }
        for b in &mut w.raw_data {
            *b = stored_weight(*b as i8);
        }
        w.data_type = DataType::Uint8 as i32;
    }
    let zero = graph
        .initializer
        .iter()
        .position(|t| t.name == ACTIVATION_ZERO)
        .ok_or_else(|| {
            bad(&format!(
                "no `{ACTIVATION_ZERO}` initializer: not a model exported by imsat"
            ))
        })?;
    if graph.initializer.iter().any(|t| t.name == WEIGHT_ZERO) {
        return Err(bad(&format!(
            "the graph already has a `{WEIGHT_ZERO}` initializer"
        )));
    }
    graph
        .initializer
        .insert(zero + 1, scalar_u8(WEIGHT_ZERO, WEIGHT_ZERO_POINT));
    m.metadata_props[note].value.push_str(U8_WEIGHTS_NOTE);
    Ok(m.encode_to_vec())
}

/// The bytes of `model` (any model imsat exported) declaring that it computes the same codes
/// as the files of SHA-256 `earlier` (hex), beside those it already names
/// (`imsat.same_codes_as`); the graph is untouched. Only the caller knows that the codes are
/// the same: [`upgrade_int8`]'s result, for instance, computes the same integers as its input.
pub fn declare_same_codes(model: &[u8], earlier: &[String]) -> Result<Vec<u8>, ExportError> {
    let bad = |why: &str| ExportError::Invalid(why.to_string());
    let mut m =
        pb::ModelProto::decode(model).map_err(|e| bad(&format!("not an ONNX model: {e}")))?;
    let mut list = ModelInfo::from_metadata(|key| {
        m.metadata_props
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.as_str())
    })
    .map_err(|e| bad(&format!("not a model exported by imsat: {e}")))?
    .same_codes_as;
    for sha in earlier {
        if !is_sha256(sha) {
            return Err(bad(&format!("{sha:?} is not a SHA-256 (64 hex digits)")));
        }
        if !list.iter().any(|s| s.eq_ignore_ascii_case(sha)) {
            list.push(sha.to_ascii_lowercase());
        }
    }
    if list.is_empty() {
        // Nothing to declare: an empty value would not read back as SHA-256s.
        return Ok(model.to_vec());
    }
    let value = list.join(",");
    match m
        .metadata_props
        .iter_mut()
        .find(|p| p.key == keys::SAME_CODES_AS)
    {
        Some(p) => p.value = value,
        None => m.metadata_props.push(pb::StringStringEntryProto {
            key: keys::SAME_CODES_AS.to_string(),
            value,
        }),
    }
    Ok(m.encode_to_vec())
}
