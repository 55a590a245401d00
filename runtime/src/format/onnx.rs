//! A small `no_std` reader of ONNX files: the protobuf wire format, and of the ONNX schema
//! only what an imsat model needs (metadata, the graph's inputs and outputs, its nodes with
//! integer and float attributes, its initializers with raw data). Strings and tensor bytes
//! are borrowed from the file, so a model in flash is read without copying its weights.
//! Unknown fields are skipped, as protobuf requires; malformed bytes are an error naming
//! the offset, never a panic (`fuzz` and the tests feed it truncated and random files).
//!
//! Field numbers are those of `onnx.proto` (ModelProto, GraphProto, NodeProto, ...).

use alloc::vec::Vec;

/// Why the bytes are not an ONNX model this reader understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed ONNX protobuf at byte {offset}: {what}")]
pub struct ParseError {
    /// Byte offset in the file where reading failed.
    pub offset: usize,
    /// What was wrong there.
    pub what: &'static str,
}

/// ONNX `TensorProto.DataType` values this runtime reads.
pub mod data_type {
    /// 32-bit float (scales, multipliers, biases, f32 weights).
    pub const FLOAT: i32 = 1;
    /// 8-bit unsigned integer (the zero points of u8 activations).
    pub const UINT8: i32 = 2;
    /// 8-bit signed integer (int8 weights).
    pub const INT8: i32 = 3;
}

/// A parsed model, borrowing from the file's bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model<'a> {
    /// `metadata_props`, in file order.
    pub metadata: Vec<(&'a str, &'a str)>,
    /// The model's graph (empty when the file has none).
    pub graph: Graph<'a>,
}

/// The main graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph<'a> {
    /// Nodes in file order (ONNX requires a topological order).
    pub nodes: Vec<Node<'a>>,
    /// The constant tensors (weights, scales), in file order.
    pub initializers: Vec<Tensor<'a>>,
    /// Names of the graph inputs.
    pub inputs: Vec<&'a str>,
    /// Names of the graph outputs.
    pub outputs: Vec<&'a str>,
}

/// One operator.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node<'a> {
    /// The operator, e.g. `MatMulInteger`.
    pub op_type: &'a str,
    /// Empty for the default ONNX domain.
    pub domain: &'a str,
    /// Names of the values it reads, in order.
    pub inputs: Vec<&'a str>,
    /// Names of the values it writes, in order.
    pub outputs: Vec<&'a str>,
    /// Its attributes, in file order.
    pub attributes: Vec<Attribute<'a>>,
}

/// An attribute; only its scalar int and float values are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Attribute<'a> {
    /// The attribute's name, e.g. `to` of a `Cast`.
    pub name: &'a str,
    /// Its int value (0 when it has none).
    pub i: i64,
    /// Its float value (0.0 when it has none).
    pub f: f32,
}

/// A constant tensor; only raw little-endian data is kept (`raw_data`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tensor<'a> {
    /// The name nodes read it by.
    pub name: &'a str,
    /// Its shape (none for a scalar).
    pub dims: Vec<i64>,
    /// ONNX's element type ([`data_type`]).
    pub data_type: i32,
    /// The elements, little-endian, borrowed from the file (empty when stored otherwise).
    pub raw_data: &'a [u8],
    /// Whether the data lives in an external file (not supported by the executors).
    pub external: bool,
}

impl<'a> Model<'a> {
    /// Parse the bytes of an ONNX file.
    pub fn parse(bytes: &'a [u8]) -> Result<Model<'a>, ParseError> {
        let mut model = Model::default();
        let mut r = Reader::new(bytes, 0);
        while let Some((field, value)) = r.field()? {
            match (field, value) {
                // A message field given twice is merged, as protobuf requires (and prost,
                // which tract reads with, does): its lists are joined.
                (7, Value::Bytes(b, at)) => model.graph.merge(b, at)?,
                (14, Value::Bytes(b, at)) => {
                    let mut e = Reader::new(b, at);
                    let (mut key, mut value) = ("", "");
                    while let Some((f, v)) = e.field()? {
                        match f {
                            1 => key = v.string()?,
                            2 => value = v.string()?,
                            _ => {}
                        }
                    }
                    model.metadata.push((key, value));
                }
                _ => {}
            }
        }
        // Repeated names are invalid ONNX, and readers differ on which one wins: the same
        // file would mean one model to one runtime and another to the next.
        if has_repeats(model.metadata.iter().map(|&(k, _)| k)) {
            return Err(ParseError {
                offset: 0,
                what: "a metadata key is given twice",
            });
        }
        if has_repeats(model.graph.initializers.iter().map(|t| t.name)) {
            return Err(ParseError {
                offset: 0,
                what: "two initializers have one name (readers differ on which one they take)",
            });
        }
        Ok(model)
    }

    /// The value of metadata `key` ([`Model::parse`] refuses a key given twice).
    pub fn metadata(&self, key: &str) -> Option<&'a str> {
        self.metadata
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|&(_, v)| v)
    }
}

impl<'a> Graph<'a> {
    /// Read the fields of one encoding of the graph into `self`.
    fn merge(&mut self, bytes: &'a [u8], at: usize) -> Result<(), ParseError> {
        let mut r = Reader::new(bytes, at);
        while let Some((field, value)) = r.field()? {
            match field {
                1 => self.nodes.push(Node::parse(value.bytes()?, value.at())?),
                5 => self
                    .initializers
                    .push(Tensor::parse(value.bytes()?, value.at())?),
                11 => self.inputs.push(value_info_name(value)?),
                12 => self.outputs.push(value_info_name(value)?),
                _ => {}
            }
        }
        Ok(())
    }

    /// The initializer named `name`.
    pub fn initializer(&self, name: &str) -> Option<&Tensor<'a>> {
        self.initializers.iter().find(|t| t.name == name)
    }
}

/// Whether any of `names` comes twice (sorted, so a file of a million names is no slower
/// than reading it).
fn has_repeats<'a>(names: impl Iterator<Item = &'a str>) -> bool {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    names.windows(2).any(|w| w[0] == w[1])
}

/// The next of `nodes` if it is `op` with one of the input counts `n_in` and one output, in the default
/// domain: how the native executors walk the layouts `imsat train` exports.
pub fn next_node<'g, 'a: 'g>(
    nodes: &mut impl Iterator<Item = &'g Node<'a>>,
    op: &str,
    n_in: &[usize],
) -> Result<&'g Node<'a>, &'static str> {
    let node = nodes.next().ok_or("the graph ends early")?;
    let ok = node.op_type == op
        && n_in.contains(&node.inputs.len())
        && node.outputs.len() == 1
        && node.domain.is_empty();
    ok.then_some(node).ok_or("unexpected operator")
}

fn value_info_name<'a>(value: Value<'a>) -> Result<&'a str, ParseError> {
    let mut r = Reader::new(value.bytes()?, value.at());
    let mut name = "";
    while let Some((f, v)) = r.field()? {
        if f == 1 {
            name = v.string()?;
        }
    }
    Ok(name)
}

impl<'a> Node<'a> {
    fn parse(bytes: &'a [u8], at: usize) -> Result<Node<'a>, ParseError> {
        let mut n = Node::default();
        let mut r = Reader::new(bytes, at);
        while let Some((field, value)) = r.field()? {
            match field {
                1 => n.inputs.push(value.string()?),
                2 => n.outputs.push(value.string()?),
                4 => n.op_type = value.string()?,
                7 => n.domain = value.string()?,
                5 => {
                    let mut a = Attribute::default();
                    let mut ar = Reader::new(value.bytes()?, value.at());
                    while let Some((f, v)) = ar.field()? {
                        match (f, v) {
                            (1, v) => a.name = v.string()?,
                            (2, Value::Fixed32(x)) => a.f = f32::from_bits(x),
                            (3, Value::Varint(x)) => a.i = x as i64,
                            _ => {}
                        }
                    }
                    n.attributes.push(a);
                }
                _ => {}
            }
        }
        Ok(n)
    }
}

impl<'a> Tensor<'a> {
    fn parse(bytes: &'a [u8], at: usize) -> Result<Tensor<'a>, ParseError> {
        let mut t = Tensor::default();
        let mut r = Reader::new(bytes, at);
        while let Some((field, value)) = r.field()? {
            match (field, value) {
                // Repeated int64: unpacked (one varint per field) or packed.
                (1, Value::Varint(d)) => t.dims.push(d as i64),
                (1, Value::Bytes(b, at)) => {
                    let mut p = Reader::new(b, at);
                    while !p.done() {
                        t.dims.push(p.varint()? as i64);
                    }
                }
                (2, Value::Varint(d)) => t.data_type = d as i32,
                (8, v) => t.name = v.string()?,
                (9, Value::Bytes(b, _)) => t.raw_data = b,
                // An int32 enum: the low 32 bits, as protobuf reads an int32.
                (14, Value::Varint(loc)) => t.external = loc as u32 != 0,
                _ => {}
            }
        }
        Ok(t)
    }

    /// Number of elements (product of `dims`; 1 for a scalar), if the dims are sane.
    pub fn len(&self) -> Option<usize> {
        self.dims.iter().try_fold(1usize, |n, &d| {
            usize::try_from(d).ok().and_then(|d| n.checked_mul(d))
        })
    }

    /// `(rows, cols)` of a weight matrix: two positive dims whose product fits in `usize`
    /// (refused, not truncated, on a 32-bit board), so `rows * cols` cannot overflow.
    pub fn matrix_dims(&self) -> Result<(usize, usize), &'static str> {
        let [a, b] = self.dims[..] else {
            return Err("weights are not a matrix");
        };
        if a <= 0 || b <= 0 {
            return Err("weights are not a matrix");
        }
        let too_large = "the weight matrix is too large";
        let (rows, cols) = (
            usize::try_from(a).map_err(|_| too_large)?,
            usize::try_from(b).map_err(|_| too_large)?,
        );
        rows.checked_mul(cols).ok_or(too_large)?;
        Ok((rows, cols))
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The raw bytes of a tensor of `data_type` with `len` elements of `size` bytes, if it
    /// is exactly that (stored inline, right length).
    pub fn raw(&self, data_type: i32, len: usize, size: usize) -> Option<&'a [u8]> {
        (self.data_type == data_type
            && !self.external
            && self.len() == Some(len)
            && Some(self.raw_data.len()) == len.checked_mul(size))
        .then_some(self.raw_data)
    }

    /// The values of an f32 tensor with `len` elements.
    pub fn f32s(&self, len: usize) -> Option<Vec<f32>> {
        let raw = self.raw(data_type::FLOAT, len, 4)?;
        Some(
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }
}

/// One field's value, with its offset in the file for error messages.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    /// A 64-bit fixed field (ONNX's doubles); skipped.
    Fixed64,
    Bytes(&'a [u8], usize),
    Fixed32(u32),
}

impl<'a> Value<'a> {
    fn bytes(self) -> Result<&'a [u8], ParseError> {
        match self {
            Value::Bytes(b, _) => Ok(b),
            _ => Err(ParseError {
                offset: 0,
                what: "expected a length-delimited field",
            }),
        }
    }

    fn at(self) -> usize {
        match self {
            Value::Bytes(_, at) => at,
            _ => 0,
        }
    }

    fn string(self) -> Result<&'a str, ParseError> {
        let (b, at) = match self {
            Value::Bytes(b, at) => (b, at),
            _ => {
                return Err(ParseError {
                    offset: 0,
                    what: "expected a string field",
                });
            }
        };
        core::str::from_utf8(b).map_err(|_| ParseError {
            offset: at,
            what: "string is not UTF-8",
        })
    }
}

/// Reads protobuf fields from a slice; `base` is the slice's offset in the file.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn fail(&self, what: &'static str) -> ParseError {
        ParseError {
            offset: self.base + self.pos,
            what,
        }
    }

    fn varint(&mut self) -> Result<u64, ParseError> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.fail("truncated varint"));
            };
            if shift == 63 && b > 1 {
                return Err(self.fail("varint overflows 64 bits"));
            }
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.fail("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.fail("field runs past the end"))?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    /// The next field number and value, or `None` at the end.
    fn field(&mut self) -> Result<Option<(u32, Value<'a>)>, ParseError> {
        if self.done() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3)
            .ok()
            .filter(|&f| f > 0)
            .ok_or_else(|| self.fail("bad field number"))?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let len = usize::try_from(self.varint()?)
                    .map_err(|_| self.fail("length does not fit in memory"))?;
                let at = self.base + self.pos;
                Value::Bytes(self.take(len)?, at)
            }
            5 => Value::Fixed32(u32::from_le_bytes(
                self.take(4)?.try_into().unwrap_or([0; 4]),
            )),
            _ => return Err(self.fail("unsupported wire type (groups are not ONNX)")),
        };
        Ok(Some((field, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn bytes_field(field: u32, payload: &[u8], out: &mut Vec<u8>) {
        varint(u64::from(field) << 3 | 2, out);
        varint(payload.len() as u64, out);
        out.extend_from_slice(payload);
    }

    fn tiny_model() -> Vec<u8> {
        let mut tensor = Vec::new();
        bytes_field(8, b"w", &mut tensor);
        varint(1 << 3, &mut tensor); // dims, unpacked
        varint(2, &mut tensor);
        bytes_field(1, &[3], &mut tensor); // dims, packed
        varint(2 << 3, &mut tensor);
        varint(data_type::INT8 as u64, &mut tensor);
        bytes_field(9, &[1, 2, 3, 4, 5, 6], &mut tensor);
        let mut attr = Vec::new();
        bytes_field(1, b"to", &mut attr);
        varint(3 << 3, &mut attr);
        varint(1, &mut attr);
        let mut node = Vec::new();
        bytes_field(1, b"x", &mut node);
        bytes_field(1, b"w", &mut node);
        bytes_field(2, b"y", &mut node);
        bytes_field(4, b"MatMulInteger", &mut node);
        bytes_field(5, &attr, &mut node);
        varint(99 << 3 | 5, &mut node); // an unknown fixed32 field is skipped
        node.extend_from_slice(&[0; 4]);
        let mut input = Vec::new();
        bytes_field(1, b"x", &mut input);
        let mut graph = Vec::new();
        bytes_field(1, &node, &mut graph);
        bytes_field(5, &tensor, &mut graph);
        bytes_field(11, &input, &mut graph);
        let mut meta = Vec::new();
        bytes_field(1, b"imsat.task", &mut meta);
        bytes_field(2, b"hash", &mut meta);
        let mut model = Vec::new();
        varint(1 << 3, &mut model); // ir_version
        varint(8, &mut model);
        bytes_field(7, &graph, &mut model);
        bytes_field(14, &meta, &mut model);
        model
    }

    #[test]
    fn reads_nodes_tensors_and_metadata() {
        let bytes = tiny_model();
        let m = Model::parse(&bytes).unwrap();
        assert_eq!(m.metadata("imsat.task"), Some("hash"));
        assert_eq!(m.metadata("imsat.view"), None);
        assert_eq!(m.graph.inputs, ["x"]);
        let n = &m.graph.nodes[0];
        assert_eq!((n.op_type, n.domain), ("MatMulInteger", ""));
        assert_eq!(
            (n.inputs.clone(), n.outputs.clone()),
            (vec!["x", "w"], vec!["y"])
        );
        assert_eq!((n.attributes[0].name, n.attributes[0].i), ("to", 1));
        let w = m.graph.initializer("w").unwrap();
        assert_eq!(w.dims, [2, 3]);
        assert_eq!(
            w.raw(data_type::INT8, 6, 1),
            Some(&[1u8, 2, 3, 4, 5, 6][..])
        );
        assert_eq!(w.raw(data_type::INT8, 5, 1), None);
        assert_eq!(w.raw(data_type::FLOAT, 6, 1), None);
    }

    /// A key given twice, or two initializers of one name, is refused: readers differ on
    /// which one wins (this reader took the last key and the first initializer; tract the last
    /// initializer), so the file would be one model here and another there.
    #[test]
    fn repeated_metadata_keys_and_initializer_names_are_refused() {
        let mut bytes = tiny_model();
        let mut meta = Vec::new();
        bytes_field(1, b"imsat.task", &mut meta);
        bytes_field(2, b"cluster", &mut meta);
        bytes_field(14, &meta, &mut bytes);
        let e = Model::parse(&bytes).unwrap_err();
        assert_eq!(e.what, "a metadata key is given twice");
        // A model whose graph holds only initializers of these names.
        let initializers = |names: &[&[u8]]| {
            let mut graph = Vec::new();
            for name in names {
                let mut tensor = Vec::new();
                bytes_field(8, name, &mut tensor);
                bytes_field(5, &tensor, &mut graph);
            }
            let mut model = Vec::new();
            bytes_field(7, &graph, &mut model);
            model
        };
        let e = Model::parse(&initializers(&[b"w", b"w"])).unwrap_err();
        assert!(e.what.starts_with("two initializers have one name"), "{e}");
        // Distinct names are read as before.
        let model = initializers(&[b"w", b"v"]);
        assert_eq!(Model::parse(&model).unwrap().graph.initializers.len(), 2);
    }

    #[test]
    fn every_truncation_is_an_error_or_a_shorter_model_never_a_panic() {
        let bytes = tiny_model();
        for end in 0..bytes.len() {
            let _ = Model::parse(&bytes[..end]);
        }
        // Cutting inside the graph field is always an error.
        assert!(Model::parse(&bytes[..bytes.len() / 2]).is_err());
    }

    /// An error inside a nested message names its offset in the file, not in the message.
    #[test]
    fn an_error_deep_in_the_graph_names_its_offset_in_the_file() {
        let mut bytes = tiny_model();
        let at = bytes
            .windows(13)
            .position(|w| w == b"MatMulInteger")
            .unwrap();
        bytes[at + 3] = 0xff;
        let err = Model::parse(&bytes).unwrap_err();
        assert_eq!((err.what, err.offset), ("string is not UTF-8", at));
    }

    /// A varint's tenth byte holds only bit 63: 0 or 1 is read (protobuf allows the padded
    /// zero), more overflows.
    #[test]
    fn a_ten_byte_varint_is_read_to_bit_63_and_no_further() {
        let tensor_with_dims = |last: u8| {
            let mut tensor = vec![1 << 3]; // dims, one varint
            tensor.extend([0xff; 9]);
            tensor.push(last);
            let mut graph = Vec::new();
            bytes_field(5, &tensor, &mut graph);
            let mut model = Vec::new();
            bytes_field(7, &graph, &mut model);
            model
        };
        let dims = |bytes: &[u8]| Model::parse(bytes).map(|m| m.graph.initializers[0].dims.clone());
        assert_eq!(dims(&tensor_with_dims(1)), Ok(vec![-1]));
        assert_eq!(dims(&tensor_with_dims(0)), Ok(vec![i64::MAX]));
        let err = dims(&tensor_with_dims(2)).unwrap_err();
        assert_eq!(err.what, "varint overflows 64 bits");
    }

    #[test]
    fn a_weight_matrix_has_two_positive_dims() {
        let tensor = |dims: &[i64]| Tensor {
            dims: dims.to_vec(),
            ..Tensor::default()
        };
        assert_eq!(tensor(&[3, 5]).matrix_dims(), Ok((3, 5)));
        for dims in [&[0, 5][..], &[5, 0], &[-1, 5], &[5, -2], &[15], &[3, 5, 1]] {
            assert_eq!(
                tensor(dims).matrix_dims(),
                Err("weights are not a matrix"),
                "{dims:?}"
            );
        }
        // Empty when a dimension is 0; a scalar (no dims) has one element.
        assert!(tensor(&[2, 0]).is_empty());
        assert!(!tensor(&[2, 3]).is_empty() && !tensor(&[]).is_empty());
        assert_eq!(tensor(&[]).len(), Some(1));
    }

    /// Fields of every wire type ONNX uses are skipped when unknown: a double (fixed64) and
    /// a float (fixed32) in the model, a varint and bytes in a node.
    #[test]
    fn unknown_fields_of_each_wire_type_are_skipped() {
        let bytes = tiny_model();
        let mut padded = bytes.clone();
        varint(90 << 3 | 1, &mut padded);
        padded.extend(2.5f64.to_le_bytes());
        varint(91 << 3 | 5, &mut padded);
        padded.extend(1.5f32.to_le_bytes());
        varint(92 << 3, &mut padded);
        varint(300, &mut padded);
        bytes_field(93, b"skipped", &mut padded);
        assert_eq!(Model::parse(&padded), Model::parse(&bytes));
        assert!(Model::parse(&bytes).is_ok());
    }

    #[test]
    fn field_number_0_is_refused() {
        let err = Model::parse(&[0x00, 0x00]).unwrap_err();
        assert_eq!((err.what, err.offset), ("bad field number", 1));
    }

    #[test]
    fn garbage_is_an_error_with_an_offset() {
        let err = Model::parse(&[0x0f, 0xff, 0xff]).unwrap_err();
        assert!(err.what.contains("wire type"), "{err}");
        let err = Model::parse(&[0x3a, 0x80]).unwrap_err();
        assert_eq!(err.offset, 2);
        assert!(Model::parse(&[0x08; 3]).is_err());
    }
}
