//! The hand-written `no_std` ONNX reader ([`imsat_runtime::format::onnx`]) against an
//! independent one: prost's decoder of tract's `onnx.proto` types, which is how tract reads
//! the same file. On every shipped model, on random models prost encodes (with the fields the
//! reader keeps and fields it must skip), on two encodings joined (protobuf merges them), and
//! on damaged bytes, whatever both accept they read alike.
#![cfg(feature = "encoder")]

use imsat_runtime::format::onnx::Model;
use proptest::prelude::*;
use prost::Message;
use tract_onnx::pb;

/// Assert that the reader's `ours` is what prost's `theirs` says, field by field.
fn assert_same(ours: &Model, theirs: &pb::ModelProto) -> Result<(), TestCaseError> {
    let metadata: Vec<(&str, &str)> = theirs
        .metadata_props
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_str()))
        .collect();
    prop_assert_eq!(&ours.metadata, &metadata);
    let empty = pb::GraphProto::default();
    let graph = theirs.graph.as_ref().unwrap_or(&empty);
    let g = &ours.graph;
    let names = |v: &[pb::ValueInfoProto]| v.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
    prop_assert_eq!(&g.inputs, &names(&graph.input));
    prop_assert_eq!(&g.outputs, &names(&graph.output));
    prop_assert_eq!(g.nodes.len(), graph.node.len());
    for (n, p) in g.nodes.iter().zip(&graph.node) {
        prop_assert_eq!(n.op_type, p.op_type.as_str());
        prop_assert_eq!(n.domain, p.domain.as_str());
        prop_assert_eq!(&n.inputs, &p.input);
        prop_assert_eq!(&n.outputs, &p.output);
        let attributes: Vec<(&str, i64, u32)> = p
            .attribute
            .iter()
            .map(|a| (a.name.as_str(), a.i, a.f.to_bits()))
            .collect();
        let read: Vec<(&str, i64, u32)> = n
            .attributes
            .iter()
            .map(|a| (a.name, a.i, a.f.to_bits()))
            .collect();
        prop_assert_eq!(read, attributes);
    }
    prop_assert_eq!(g.initializers.len(), graph.initializer.len());
    for (t, p) in g.initializers.iter().zip(&graph.initializer) {
        prop_assert_eq!(t.name, p.name.as_str());
        prop_assert_eq!(&t.dims, &p.dims);
        prop_assert_eq!(t.data_type, p.data_type);
        prop_assert_eq!(t.raw_data, &p.raw_data[..]);
        prop_assert_eq!(t.external, p.data_location.is_some_and(|l| l != 0));
    }
    Ok(())
}

/// Whether the reader refuses `theirs` by design: a metadata key or an initializer name
/// given twice (readers differ on which one wins).
fn has_repeats(theirs: &pb::ModelProto) -> bool {
    let unique = |mut names: Vec<&str>| {
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        names.len() == n
    };
    let keys = theirs
        .metadata_props
        .iter()
        .map(|e| e.key.as_str())
        .collect();
    let tensors = theirs
        .graph
        .iter()
        .flat_map(|g| &g.initializer)
        .map(|t| t.name.as_str())
        .collect();
    !(unique(keys) && unique(tensors))
}

#[test]
fn every_shipped_model_reads_as_prost_reads_it() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../models");
    let mut read = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "onnx") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let theirs = pb::ModelProto::decode(&bytes[..]).unwrap();
        let ours = Model::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_same(&ours, &theirs).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!ours.graph.nodes.is_empty() && !ours.graph.initializers.is_empty());
        assert!(ours.metadata("imsat.task").is_some(), "{}", path.display());
        read += 1;
    }
    // The digit models (cluster10, hash16/32/64) and photo64, f32 and int8 each.
    assert!(read >= 10, "only {read} models under {dir}");
}

fn text() -> impl Strategy<Value = String> {
    // ASCII, a two-byte and a four-byte character: string lengths are counted in bytes.
    "[a-z0-9_.]{0,6}(é|🙂)?[A-Z]{0,3}"
}

fn attribute() -> impl Strategy<Value = pb::AttributeProto> {
    (
        text(),
        any::<f32>(),
        any::<i64>(),
        prop::collection::vec(any::<u8>(), 0..5),
        prop::collection::vec(any::<f32>(), 0..3),
        0..15i32,
    )
        .prop_map(|(name, f, i, s, floats, r#type)| pb::AttributeProto {
            name,
            f,
            i,
            s,
            floats,
            r#type,
            ..Default::default()
        })
}

fn node() -> impl Strategy<Value = pb::NodeProto> {
    (
        text(),
        text(),
        prop::collection::vec(text(), 0..4),
        prop::collection::vec(text(), 0..3),
        prop::collection::vec(attribute(), 0..3),
        text(),
    )
        .prop_map(
            |(op_type, domain, input, output, attribute, name)| pb::NodeProto {
                op_type,
                domain,
                input,
                output,
                attribute,
                name,
                doc_string: "skipped".into(),
            },
        )
}

fn tensor() -> impl Strategy<Value = pb::TensorProto> {
    (
        text(),
        prop::collection::vec(prop_oneof![0..300i64, any::<i64>()], 0..4),
        0..17i32,
        prop::collection::vec(any::<u8>(), 0..40),
        prop::collection::vec(any::<f32>(), 0..3),
        prop::option::of(0..2i32),
        prop::collection::vec(any::<f64>(), 0..2),
    )
        .prop_map(
            |(name, dims, data_type, raw_data, float_data, data_location, double_data)| {
                pb::TensorProto {
                    name,
                    dims,
                    data_type,
                    raw_data,
                    float_data,
                    data_location,
                    double_data,
                    ..Default::default()
                }
            },
        )
}

fn value_info() -> impl Strategy<Value = pb::ValueInfoProto> {
    (text(), any::<bool>()).prop_map(|(name, typed)| pb::ValueInfoProto {
        name,
        r#type: typed.then(|| pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: None,
            })),
            ..Default::default()
        }),
        doc_string: "skipped".into(),
    })
}

/// A model whose metadata keys and initializer names are unique and start with `tag`, so
/// that two of them (tags apart) can be joined into one.
fn model(tag: &'static str) -> impl Strategy<Value = pb::ModelProto> {
    let graph = (
        prop::collection::vec(node(), 0..4),
        prop::collection::vec(tensor(), 0..4),
        prop::collection::vec(value_info(), 0..3),
        prop::collection::vec(value_info(), 0..3),
        text(),
    )
        .prop_map(move |(node, mut initializer, input, output, name)| {
            for (i, t) in initializer.iter_mut().enumerate() {
                t.name = format!("{tag}{i}{}", t.name);
            }
            pb::GraphProto {
                node,
                initializer,
                input,
                output,
                name,
                ..Default::default()
            }
        });
    (
        any::<i64>(),
        text(),
        prop::option::of(graph),
        prop::collection::vec((text(), text()), 0..4),
        any::<i64>(),
    )
        .prop_map(
            move |(ir_version, producer_name, graph, props, model_version)| {
                let metadata_props = props
                    .into_iter()
                    .enumerate()
                    .map(|(i, (key, value))| pb::StringStringEntryProto {
                        key: format!("{tag}{i}{key}"),
                        value,
                    })
                    .collect();
                pb::ModelProto {
                    ir_version,
                    producer_name,
                    graph,
                    metadata_props,
                    model_version,
                    opset_import: vec![pb::OperatorSetIdProto {
                        domain: String::new(),
                        version: 13,
                    }],
                    ..Default::default()
                }
            },
        )
}

/// One way to damage a file.
#[derive(Debug, Clone)]
enum Damage {
    Truncate(prop::sample::Index),
    Set(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
}

fn damage(bytes: &mut Vec<u8>, d: &Damage) {
    if bytes.is_empty() {
        return;
    }
    match d {
        Damage::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        Damage::Set(i, b) => {
            let i = i.index(bytes.len());
            bytes[i] = *b;
        }
        Damage::Insert(i, b) => bytes.insert(i.index(bytes.len()), *b),
        Damage::Remove(i) => {
            bytes.remove(i.index(bytes.len()));
        }
    }
}

fn damages() -> impl Strategy<Value = Vec<Damage>> {
    let one = prop_oneof![
        any::<prop::sample::Index>().prop_map(Damage::Truncate),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Damage::Set(i, b)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Damage::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Damage::Remove),
    ];
    prop::collection::vec(one, 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_models_read_as_prost_reads_them(m in model("a")) {
        let bytes = m.encode_to_vec();
        // Compared with what prost decodes, not with `m`: proto3 does not write a default
        // value, so -0.0 comes back as 0.0.
        let theirs = pb::ModelProto::decode(&bytes[..]).unwrap();
        let ours = Model::parse(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        assert_same(&ours, &theirs)?;
    }

    /// Two encodings one after the other are one message: lists joined, and a message field
    /// given twice (the graph) merged, not replaced.
    #[test]
    fn joined_encodings_read_as_one_merged_model(a in model("a"), b in model("b")) {
        let mut bytes = a.encode_to_vec();
        bytes.extend(b.encode_to_vec());
        let theirs = pb::ModelProto::decode(&bytes[..]).unwrap();
        let ours = Model::parse(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        assert_same(&ours, &theirs)?;
    }

    /// Damaged bytes: where prost reads a model, the reader reads the same one, unless the
    /// model repeats a name (refused by design) or holds a protobuf group (not ONNX); and
    /// where both read one, it is the same. The reader skips more than prost checks (wire
    /// types of fields it does not read), so it may read what prost refuses.
    #[test]
    fn damaged_models_are_refused_or_read_as_prost_reads_them(
        m in model("a"),
        harm in damages(),
    ) {
        let mut bytes = m.encode_to_vec();
        for d in &harm {
            damage(&mut bytes, d);
        }
        let ours = Model::parse(&bytes);
        if let Ok(theirs) = pb::ModelProto::decode(&bytes[..]) {
            match &ours {
                Ok(ours) => assert_same(ours, &theirs)?,
                Err(e) => prop_assert!(
                    has_repeats(&theirs) || e.what.contains("wire type"),
                    "prost reads the damaged model, the reader says {}", e
                ),
            }
        }
    }
}
