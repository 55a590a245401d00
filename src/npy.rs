//! NumPy `.npy` files in and out (through the `npyz` crate): feature rows and labels in,
//! packed codes and cluster ids out. Every error is bad input (exit status 2) naming the file.

use std::io::{Cursor, Read};
use std::path::Path;

use anyhow::Context;
use imsat_data::Label;
use imsat_runtime::atomic_file::write_atomic;
use imsat_runtime::code::{Codes, packed_bytes};
use npyz::{DType, NpyFile, NpyHeader, Order};

use crate::cli::bad_input;

/// The first bytes of every `.npy` file.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Whether `path` names a `.npy` file (by its extension, any case), not a folder so named.
pub fn is_npy(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
        && !path.is_dir()
}

/// `n` feature rows of `d` values, f32, row-major.
pub struct Features {
    pub n: usize,
    pub d: usize,
    pub x: Vec<f32>,
}

/// An `.npy` file read into memory, positioned at its data.
type Opened = NpyFile<Cursor<Vec<u8>>>;

/// Read the whole file and its header; the data must fit the file (checked before anything
/// is allocated for it). Returns the file and its element kind (`f`, `i`, `u`, ...) and size.
/// A file without the magic is refused from its first bytes, not read whole. `expected`
/// names what the caller reads (`float32 or float64 features`), for a dtype of no numbers.
fn open(path: &Path, expected: &str) -> anyhow::Result<(Opened, (char, u64))> {
    let bad = |m: String| bad_input(format!("{}: {m}", path.display()));
    let cannot = |e: std::io::Error| bad(format!("cannot read: {e}"));
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAGIC.len() as u64)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.is_empty() {
        return Err(bad("empty file, not a .npy array".into()));
    }
    if bytes.starts_with(crate::codes_npz::ZIP_MAGIC) {
        return Err(bad(
            "a zip archive (an .npz of several arrays, np.savez), not one .npy array: save \
             the array itself with np.save"
                .into(),
        ));
    }
    if !bytes.starts_with(MAGIC) {
        return Err(bad("not a .npy file (no \\x93NUMPY magic)".into()));
    }
    file.read_to_end(&mut bytes).map_err(cannot)?;
    let text =
        check_header_text(&bytes).map_err(|m| bad(format!("unreadable .npy header: {m}")))?;
    read_older_dialects(&mut bytes[text.clone()]);
    let text = respell_descr(&mut bytes, text);
    // Checked once npyz has read the dict's syntax, which names a garbled header better.
    let keys = numpy_keys(&bytes[text.clone()]);
    let total = bytes.len() as u64;
    let shown: String = String::from_utf8_lossy(&bytes[text])
        .trim_end()
        .chars()
        .take(200)
        .collect();
    let mut cursor = Cursor::new(bytes);
    let header = NpyHeader::from_reader(&mut cursor).map_err(|e| {
        // npyz's parser prints its grammar's state over several lines: the header says more.
        let e = e.to_string();
        let problem = if e.contains("syntax error") {
            "not the Python dict NumPy writes".to_string()
        } else {
            e
        };
        bad(format!("unreadable .npy header {shown:?}: {problem}"))
    })?;
    keys.map_err(|m| bad(format!("unreadable .npy header {shown:?}: {m}")))?;
    let start = cursor.position();
    let ty = match header.dtype() {
        DType::Plain(t) => (
            t.type_char().to_str().chars().next().unwrap_or('?'),
            t.size_field(),
        ),
        other => {
            return Err(bad(format!(
                "dtype {} is a structured or array dtype, expected a plain number",
                other.descr()
            )));
        }
    };
    if header.order() == Order::Fortran {
        return Err(bad(
            "Fortran-order array; save a C-order one (np.ascontiguousarray(x))".into(),
        ));
    }
    // Python objects, strings or dates are no numbers (and an object array's size is not
    // what its data takes).
    if !matches!(ty.0, 'f' | 'i' | 'u' | 'b') {
        return Err(bad(format!(
            "dtype {} holds no plain numbers (expected {expected})",
            header.dtype().descr()
        )));
    }
    let elements = header
        .shape()
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d));
    let need = elements.and_then(|e| e.checked_mul(ty.1));
    match need.and_then(|n| Some((n, start.checked_add(n)?))) {
        Some((_, end)) if end == total => {}
        Some((need, end)) if end < total => {
            return Err(bad(format!(
                "{} bytes follow the {need} data bytes of shape {:?} of {}: not one .npy array \
                 (two files joined, or a header that does not match its data)",
                total - end,
                header.shape(),
                header.dtype().descr(),
            )));
        }
        _ => {
            return Err(bad(format!(
                "truncated: the header promises shape {:?} of {}, {} data bytes, the file has {}",
                header.shape(),
                header.dtype().descr(),
                need.map_or("too many".into(), |n| n.to_string()),
                total - start
            )));
        }
    }
    Ok((NpyFile::with_header(header, cursor), ty))
}

/// numpy's own bound on a header it reads (`np.load`'s `max_header_size`).
const MAX_HEADER_BYTES: usize = 10_000;

/// Brackets a header may nest: a dict holding a shape tuple, or a structured dtype's list of
/// tuples (refused later, by name). npyz parses deeper lists in time doubling per level: a
/// 132-byte file nesting 20 lists took 7 s, 1,000 took longer than anyone waits.
const MAX_HEADER_NESTING: usize = 3;

/// The header's length and nesting, checked before npyz parses it. Returns where its text
/// lies in `bytes`.
fn check_header_text(bytes: &[u8]) -> Result<std::ops::Range<usize>, String> {
    let (len, start) = match bytes.get(6) {
        Some(1) => (
            bytes
                .get(8..10)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize),
            10,
        ),
        Some(2 | 3) => (
            bytes
                .get(8..12)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
            12,
        ),
        _ => return Err("an unknown format version".into()),
    };
    let len = len.ok_or("the file ends in its header")?;
    if len > MAX_HEADER_BYTES {
        return Err(format!(
            "a header of {len} bytes, more than numpy reads ({MAX_HEADER_BYTES})"
        ));
    }
    let text = bytes
        .get(start..start + len)
        .ok_or("the file ends in its header")?;
    let mut depth = 0usize;
    for &b in text {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_HEADER_NESTING {
                    return Err(format!(
                        "brackets nested deeper than {MAX_HEADER_NESTING} (not a plain array's header)"
                    ));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(start..start + len)
}

/// The dtypes `np.load` reads under other spellings than the `<f4` form npyz takes: a
/// type without its byte order (`f4`), a multi-byte one marked `|`, NumPy's names
/// (`float32`) and one-letter codes (`f`, `B`), as hand-written headers and other writers
/// give them; the byte order is this machine's, as NumPy reads them (little-endian here).
const DESCR_SPELLINGS: [(&[&str], &str); 12] = [
    (&["?", "bool", "b1"], "|b1"),
    (&["b", "int8", "i1"], "|i1"),
    (&["B", "uint8", "u1"], "|u1"),
    (&["h", "int16", "i2", "|i2"], "<i2"),
    (&["H", "uint16", "u2", "|u2"], "<u2"),
    (&["i", "int32", "i4", "|i4"], "<i4"),
    (&["I", "uint32", "u4", "|u4"], "<u4"),
    (&["l", "q", "int64", "int", "i8", "|i8"], "<i8"),
    (&["L", "Q", "uint64", "u8", "|u8"], "<u8"),
    (&["e", "float16", "half", "f2", "|f2"], "<f2"),
    (&["f", "float32", "single", "f4", "|f4"], "<f4"),
    (&["d", "float64", "double", "float", "f8", "|f8"], "<f8"),
];

/// Where the header text `text` of `bytes` spells its dtype otherwise than npyz reads it
/// ([`DESCR_SPELLINGS`]), respelled, the header's length field following; the header text's
/// new range. A little-endian build only: a big-endian machine reads them as its own order.
fn respell_descr(bytes: &mut Vec<u8>, text: std::ops::Range<usize>) -> std::ops::Range<usize> {
    if cfg!(target_endian = "big") {
        return text;
    }
    let header = &bytes[text.clone()];
    let Some(value) = descr_value(header) else {
        return text;
    };
    let spelled = std::str::from_utf8(&header[value.clone()]).unwrap_or_default();
    let Some(&(_, canonical)) = DESCR_SPELLINGS
        .iter()
        .find(|(names, _)| names.contains(&spelled))
    else {
        return text;
    };
    let at = text.start + value.start..text.start + value.end;
    let grown = canonical.len() as isize - at.len() as isize;
    bytes.splice(at, canonical.bytes());
    let len = (text.len() as isize + grown) as usize;
    // The length field: u16 in version 1 (a header of at most MAX_HEADER_BYTES fits), u32 after.
    if bytes[6] == 1 {
        bytes[8..10].copy_from_slice(&(len as u16).to_le_bytes());
    } else {
        bytes[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    }
    text.start..text.start + len
}

/// Whether `start`, the first bytes of a file, begins as a `.npy` array of integers (its
/// header's `descr` of kind `u` or `i`: packed codes, cluster ids), which is what imsat writes
/// as `.npy`; an array of floats (features) is not.
pub fn holds_integers(start: &[u8]) -> bool {
    let Some(text) = start
        .starts_with(MAGIC)
        .then(|| check_header_text(start).ok())
        .flatten()
    else {
        return false;
    };
    let header = &start[text];
    descr_value(header).is_some_and(|d| {
        // The kind after the byte order, if any: `<u1`, `|u1`, `<i8`, `uint8`, `int64`.
        let kind = header[d].iter().find(|b| !b"<>|= ".contains(b));
        kind.is_some_and(|k| matches!(k, b'u' | b'i'))
    })
}

/// Where the string value of the `descr` key lies in a header's text (without its quotes).
fn descr_value(header: &[u8]) -> Option<std::ops::Range<usize>> {
    let key = header
        .windows(7)
        .position(|w| w == b"'descr'" || w == b"\"descr\"")?;
    let mut i = key + 7;
    let skip_space = |i: &mut usize| {
        while header.get(*i).is_some_and(|b| b.is_ascii_whitespace()) {
            *i += 1;
        }
    };
    skip_space(&mut i);
    (header.get(i) == Some(&b':')).then_some(())?;
    i += 1;
    skip_space(&mut i);
    let quote = *header.get(i).filter(|&&q| q == b'\'' || q == b'"')?;
    let end = i + 1 + header[i + 1..].iter().position(|&b| b == quote)?;
    Some(i + 1..end)
}

/// Rewrite, in place and at the same length, what `np.load` reads in a header but npyz
/// refuses: shapes NumPy wrote under Python 2 (`(50L, 784L)`: the `L` becomes a space), a
/// carriage return, and a native byte order (`'=f4'`, from hand-written headers and other writers: this machine's).
fn read_older_dialects(text: &mut [u8]) {
    let native = if cfg!(target_endian = "little") {
        b'<'
    } else {
        b'>'
    };
    let mut quote = None;
    for i in 0..text.len() {
        let b = text[i];
        match quote {
            Some(q) if b == q => quote = None,
            // A string's first character: the byte order of a dtype.
            Some(q) if b == b'=' && text[i - 1] == q => text[i] = native,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if b == b'L' && i > 0 && text[i - 1].is_ascii_digit() => text[i] = b' ',
            // A header ended by a Windows line break (`\r\n`): white space to Python.
            None if b == b'\r' => text[i] = b' ',
            None => {}
        }
    }
}

/// What `np.load` checks of the header dict beyond its syntax, which npyz lets pass: exactly
/// the keys `descr`, `fortran_order` and `shape`, and the shape a tuple.
fn numpy_keys(text: &[u8]) -> Result<(), String> {
    // The dict's own keys: strings at its depth followed by `:`, and what follows each.
    let mut keys: Vec<(String, usize)> = Vec::new();
    let (mut depth, mut i) = (0usize, 0);
    while i < text.len() {
        match text[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            q @ (b'\'' | b'"') => {
                let Some(len) = text[i + 1..].iter().position(|&b| b == q) else {
                    break;
                };
                let end = i + 1 + len;
                let after = text[end + 1..]
                    .iter()
                    .position(|b| !b.is_ascii_whitespace());
                if depth == 1
                    && let Some(colon) = after.map(|a| end + 1 + a)
                    && text[colon] == b':'
                {
                    let key = String::from_utf8_lossy(&text[i + 1..end]).into_owned();
                    keys.push((key, colon + 1));
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    // A key given twice is a Python dict's last value, as np.load reads it.
    let mut names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if names != ["descr", "fortran_order", "shape"] {
        return Err(format!(
            "keys {names:?}, where np.load reads exactly 'descr', 'fortran_order' and 'shape'"
        ));
    }
    let (_, value) = keys
        .iter()
        .rfind(|(k, _)| k == "shape")
        .expect("a shape key");
    match text[*value..].iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'(') => Ok(()),
        _ => Err("the shape is not a tuple, which np.load refuses".into()),
    }
}

fn collect<T: npyz::Deserialize>(path: &Path, file: Opened) -> anyhow::Result<Vec<T>> {
    let descr = file.dtype().descr();
    let reader = file
        .data::<T>()
        .map_err(|e| bad_input(format!("{}: dtype {descr}: {e}", path.display())))?;
    reader
        .collect::<Result<Vec<T>, _>>()
        .map_err(|e| bad_input(format!("{}: reading the data: {e}", path.display())))
}

/// Feature rows: a float32 or float64 `[N, d]` C-order array of finite values, N and d at
/// least 1; float64 is rounded to f32.
pub fn read_features(path: &Path) -> anyhow::Result<Features> {
    let bad = |m: String| bad_input(format!("{}: {m}", path.display()));
    let (file, (kind, size)) = open(path, "float32 or float64 features")?;
    let shape: Vec<u64> = file.shape().to_vec();
    let descr = file.dtype().descr();
    let (n, d) = match shape.as_slice() {
        [n, d] if *n > 0 && *d > 0 => (*n as usize, *d as usize),
        _ => {
            return Err(bad(format!(
                "shape {shape:?}: expected a 2-D array [N, d] of feature rows with N, d >= 1"
            )));
        }
    };
    let x: Vec<f32> = match (kind, size) {
        ('f', 4) => collect::<f32>(path, file)?,
        ('f', 8) => {
            let wide = collect::<f64>(path, file)?;
            // Named as the file holds it: past float32's range it would read as inf.
            let past_f32 = |v: &f64| v.is_nan() || v.abs() > f64::from(f32::MAX);
            if let Some(i) = wide.iter().position(past_f32) {
                return Err(bad(format!(
                    "row {}, column {} is {:?} (features must be finite and fit in float32)",
                    i / d,
                    i % d,
                    wide[i]
                )));
            }
            if let Some(why) = spread_lost_in_f32(&wide, d) {
                return Err(bad(why));
            }
            wide.into_iter().map(|v| v as f32).collect()
        }
        _ => {
            return Err(bad(format!(
                "dtype {descr} is not float32 or float64 (save x.astype(np.float32))"
            )));
        }
    };
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!(
            "row {}, column {} is {} (features must be finite)",
            i / d,
            i % d,
            x[i]
        )));
    }
    Ok(Features { n, d, x })
}

/// Why float64 features would lose what tells their rows apart when rounded to float32 (the
/// models' input), if they would: a column whose values vary by less than 16 float32 steps
/// at their size (a large common offset: values of 1e10 that differ by units, where float32
/// steps by 1024), or by less than 16 of its smallest normal numbers (values of 1e-300,
/// which round to 0). Training on them would learn from rounding, or from nothing.
fn spread_lost_in_f32(x: &[f64], d: usize) -> Option<String> {
    let n = (x.len() / d.max(1)).max(1) as f64;
    let mut mean = vec![0f64; d];
    // Whether a column holds two different values: a constant column (padding dimensions)
    // has no differences to lose, though its running mean may differ from its value.
    let mut varies = vec![false; d];
    let first = x.get(..d).unwrap_or_default();
    for row in x.chunks_exact(d) {
        for (((m, v), f), w) in mean.iter_mut().zip(row).zip(first).zip(varies.iter_mut()) {
            *m += v / n;
            *w |= v != f;
        }
    }
    // The spread as the largest deviation times the spread of deviations scaled by it:
    // squares of values like 1e-300 underflow f64.
    let mut largest = vec![0f64; d];
    for row in x.chunks_exact(d) {
        for ((l, &m), &v) in largest.iter_mut().zip(&mean).zip(row) {
            *l = l.max((v - m).abs());
        }
    }
    let mut var = vec![0f64; d];
    for row in x.chunks_exact(d) {
        for (((s, &m), &l), &v) in var.iter_mut().zip(&mean).zip(&largest).zip(row) {
            if l > 0.0 {
                *s += ((v - m) / l).powi(2) / n;
            }
        }
    }
    (0..d).find_map(|c| {
        let spread = largest[c] * var[c].sqrt();
        let step = (mean[c].abs() * f64::from(f32::EPSILON)).max(f64::from(f32::MIN_POSITIVE));
        (varies[c] && spread > 0.0 && spread < 16.0 * step).then(|| {
            format!(
                "column {c}: float64 values around {:.3e} that vary by {spread:.3e} lose their \
                 differences as float32 (the models' input, in steps of {step:.3e} there): \
                 subtract the column means or rescale the features before saving",
                mean[c]
            )
        })
    })
}

/// A uint8 `[N, B]` array (packed codes): `(N, B)` and the bytes.
pub fn read_u8_matrix(path: &Path) -> anyhow::Result<((usize, usize), Vec<u8>)> {
    let bad = |m: String| bad_input(format!("{}: {m}", path.display()));
    let (file, (kind, size)) = open(path, "uint8 packed codes")?;
    let shape: Vec<u64> = file.shape().to_vec();
    let descr = file.dtype().descr();
    let (n, b) = match shape.as_slice() {
        [n, b] if *n > 0 && *b > 0 => (*n as usize, *b as usize),
        _ => {
            return Err(bad(format!(
                "shape {shape:?}: expected packed codes as a 2-D array [N, bytes per code] with N, bytes >= 1"
            )));
        }
    };
    if (kind, size) != ('u', 1) {
        return Err(bad(format!(
            "dtype {descr} is not uint8 (packed codes: np.packbits(bits, axis=1, bitorder=\"little\"))"
        )));
    }
    Ok(((n, b), collect::<u8>(path, file)?))
}

/// Labels: an integer array `[N]` or `[N, 1]`, any integer dtype, at most 65,536 distinct
/// values (renumbered 0.. in sorted order; only equality matters to the metrics).
pub fn read_labels(path: &Path) -> anyhow::Result<Vec<Label>> {
    let bad = |m: String| bad_input(format!("{}: {m}", path.display()));
    let (file, (kind, size)) = open(path, "integer labels")?;
    let shape: Vec<u64> = file.shape().to_vec();
    let descr = file.dtype().descr();
    if !matches!(shape.as_slice(), [n] | [n, 1] if *n > 0) {
        return Err(bad(format!(
            "shape {shape:?}: expected labels as a 1-D array [N]"
        )));
    }
    let values: Vec<i128> = match (kind, size) {
        ('i', 1) => collect::<i8>(path, file)?
            .into_iter()
            .map(i128::from)
            .collect(),
        ('i', 2) => collect::<i16>(path, file)?
            .into_iter()
            .map(i128::from)
            .collect(),
        ('i', 4) => collect::<i32>(path, file)?
            .into_iter()
            .map(i128::from)
            .collect(),
        ('i', 8) => collect::<i64>(path, file)?
            .into_iter()
            .map(i128::from)
            .collect(),
        ('u', 1) => collect::<u8>(path, file)?
            .into_iter()
            .map(i128::from)
            .collect(),
        ('u', 2) => collect::<u16>(path, file)?
            .into_iter()
            .map(i128::from)
            .collect(),
        ('u', 4) => collect::<u32>(path, file)?
            .into_iter()
            .map(i128::from)
            .collect(),
        ('u', 8) => collect::<u64>(path, file)?
            .into_iter()
            .map(i128::from)
            .collect(),
        _ => {
            return Err(bad(format!(
                "dtype {descr} is not an integer type (labels are class numbers)"
            )));
        }
    };
    let mut distinct = values.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let most = Label::MAX as usize + 1;
    if distinct.len() > most {
        return Err(bad(format!(
            "{} distinct labels; at most {most} classes are supported",
            distinct.len()
        )));
    }
    Ok(values
        .iter()
        .map(|v| distinct.binary_search(v).unwrap_or(0) as Label)
        .collect())
}

/// The codes back from bytes in the packed byte layout ([`Codes::from_packed_bytes`]), with
/// numpy's usual mistake named.
pub fn codes_from_bytes(bits: usize, bytes: &[u8]) -> Result<Codes, String> {
    if bits == 0 {
        return Err(format!(
            "{} bytes are not a whole number of 0-byte codes",
            bytes.len()
        ));
    }
    Codes::from_packed_bytes(bits, bytes).map_err(|e| match e {
        // The usual cause: np.packbits's default order puts bit 0 in the top of its byte,
        // so the padding of a width that is not a multiple of 8 lands at the bottom.
        imsat_runtime::error::Error::Padding { .. } if !bits.is_multiple_of(8) => format!(
            "{e} (packed with np.packbits's default bitorder=\"big\"? imsat reads \
             np.packbits(bits, axis=1, bitorder=\"little\"))"
        ),
        e => e.to_string(),
    })
}

/// Write packed codes as `uint8 [N, ceil(bits/8)]` (layout of [`Codes::to_packed_bytes`]).
pub fn write_codes(path: &Path, codes: &Codes) -> anyhow::Result<()> {
    write_file(path, &codes_array(codes))
}

/// Write cluster ids as `int64 [N]`.
pub fn write_clusters(path: &Path, ids: &[u32]) -> anyhow::Result<()> {
    write_file(path, &clusters_array(ids))
}

/// The `.npy` bytes of packed codes, `uint8 [N, ceil(bits/8)]`.
pub fn codes_array(codes: &Codes) -> Vec<u8> {
    let shape = [codes.len() as u64, packed_bytes(codes.bits()) as u64];
    npy_bytes("|u1", &shape, &codes.to_packed_bytes())
}

/// The `.npy` bytes of cluster ids, `int64 [N]`.
pub fn clusters_array(ids: &[u32]) -> Vec<u8> {
    let data: Vec<u8> = ids
        .iter()
        .flat_map(|&i| i64::from(i).to_le_bytes())
        .collect();
    npy_bytes("<i8", &[ids.len() as u64], &data)
}

/// The `.npy` bytes of strings as a little-endian unicode array `<U{L}` [N], L the longest
/// string's characters (at least 1): what NumPy makes of a list of `str`, loaded without
/// pickle. Each string is its code points as u32, padded with zeros to L.
pub fn strings_array(strings: &[String]) -> Vec<u8> {
    let longest = strings.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    let width = longest.max(1);
    let mut data = Vec::with_capacity(strings.len() * width * 4);
    for s in strings {
        let chars = s.chars().map(u32::from).chain(std::iter::repeat(0));
        data.extend(chars.take(width).flat_map(u32::to_le_bytes));
    }
    npy_bytes(&format!("<U{width}"), &[strings.len() as u64], &data)
}

/// A `.npy` file (format 1.0) of C-order values of type `descr` in `shape`, their bytes
/// `data`, with the header byte for byte as `np.save` writes it: the dict with the shape as
/// Python writes a tuple (`(5,)`, `(5, 8)`), the spare spaces NumPy leaves to grow the first
/// axis in place, and padding to 64 bytes. Readers that parse the header as text (npyjs
/// and its copies) take NumPy's form only, and a file read in and written out comes back
/// the same bytes.
fn npy_bytes(descr: &str, shape: &[u64], data: &[u8]) -> Vec<u8> {
    // numpy.lib.format: GROWTH_AXIS_MAX_DIGITS, ARRAY_ALIGN, and the magic, version and
    // header-length bytes before the dict.
    const GROWTH_DIGITS: usize = 21;
    const ALIGN: usize = 64;
    const PREFIX: usize = 10;
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let tuple = match dims.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple}, }}");
    if let Some(first) = dims.first() {
        header.push_str(&" ".repeat(GROWTH_DIGITS.saturating_sub(first.len())));
    }
    let with_newline = header.len() + 1;
    let pad = ALIGN - (PREFIX + with_newline) % ALIGN;
    let mut out = Vec::with_capacity(PREFIX + with_newline + pad + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    // A dict of one dtype and a shape of a few numbers: far below the u16 of format 1.0.
    out.extend_from_slice(&((with_newline + pad) as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `np.save` of the same arrays (NumPy 2.4.6), header and data: the reference.
    fn numpy(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut v = b"\x93NUMPY\x01\x00v\x00".to_vec();
        v.extend_from_slice(dict.as_bytes());
        v.resize(127, b' ');
        v.push(b'\n');
        v.extend_from_slice(data);
        v
    }

    /// Codes and cluster ids are arrays of integers, whatever their byte order is written as;
    /// features (floats) and what is no `.npy` are not.
    #[test]
    fn integer_arrays_are_told_from_float_ones_by_their_header() {
        let codes = Codes::from_logits(12, &[1.0; 24]).unwrap();
        assert!(holds_integers(&codes_array(&codes)));
        assert!(holds_integers(&clusters_array(&[3, 1])));
        for descr in ["'|u1'", "'uint8'", "'>i8'", "\"<i4\""] {
            let dict = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}");
            assert!(holds_integers(&numpy(&dict, &[0; 8])), "{descr}");
        }
        for descr in ["'<f4'", "'<f8'", "'float32'", "'<c8'", "'|b1'"] {
            let dict = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}");
            assert!(!holds_integers(&numpy(&dict, &[0; 8])), "{descr}");
        }
        assert!(!holds_integers(&codes_array(&codes)[..20]));
        assert!(!holds_integers(b"PK\x03\x04"));
    }

    /// Headers `np.load` reads and npyz did not: Python 2's long shapes, a native byte order.
    #[test]
    fn older_header_dialects_are_read_as_numpy_reads_them() {
        let mut text = *b"{'descr': '=f4', 'fortran_order': False, 'shape': (50L, 784L), }";
        read_older_dialects(&mut text);
        let native = if cfg!(target_endian = "little") {
            '<'
        } else {
            '>'
        };
        assert_eq!(
            String::from_utf8_lossy(&text),
            format!("{{'descr': '{native}f4', 'fortran_order': False, 'shape': (50 , 784 ), }}")
        );
        // Inside a string (a structured dtype's field name) nothing changes.
        let mut names = *b"[('x1L', '<f4'), ('a=b', '|u1')]";
        read_older_dialects(&mut names);
        assert_eq!(&names, b"[('x1L', '<f4'), ('a=b', '|u1')]");
    }

    /// Every spelling of a dtype in [`DESCR_SPELLINGS`] reads as its `<f4` form, in a header
    /// of any version; what is not a dtype's spelling is left to npyz to refuse.
    #[test]
    fn other_spellings_of_a_dtype_read_as_numpy_reads_them() {
        let file = |version: u8, descr: &str| {
            let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2,), }}");
            let mut v = vec![0x93, b'N', b'U', b'M', b'P', b'Y', version, 0];
            let len = dict.len() + 1;
            match version {
                1 => v.extend_from_slice(&(len as u16).to_le_bytes()),
                _ => v.extend_from_slice(&(len as u32).to_le_bytes()),
            }
            let start = v.len();
            v.extend_from_slice(dict.as_bytes());
            v.push(b'\n');
            v.extend_from_slice(&[7, 9]);
            (v, start..start + len)
        };
        for (names, canonical) in DESCR_SPELLINGS {
            for name in names.iter().chain([&canonical]) {
                for version in [1, 2, 3] {
                    let (mut bytes, text) = file(version, name);
                    let text = respell_descr(&mut bytes, text);
                    let (want, want_text) = file(version, canonical);
                    assert_eq!(bytes, want, "{name} in version {version}");
                    assert_eq!(text, want_text);
                }
            }
        }
        for odd in ["<f4", ">f4", "f3", "float31", "<U3", "|O", ""] {
            let (mut bytes, text) = file(1, odd);
            let before = bytes.clone();
            assert_eq!(respell_descr(&mut bytes, text.clone()), text);
            assert_eq!(bytes, before, "{odd}");
        }
    }

    /// 12-bit codes packed in numpy's default (big) bit order set bits in the padding: the
    /// error points to `bitorder="little"`.
    #[test]
    fn codes_packed_big_endian_bitwise_are_told_to_pack_little() {
        // Bit 0 set, packed big: 0x80 in byte 0 (bit 7 for imsat); a 12-bit code's byte 1
        // then holds bits 8..11 in its top nibble, the padding.
        let e = codes_from_bytes(12, &[0x80, 0x10]).unwrap_err();
        assert!(
            e.contains("bitorder=\"little\"") && e.contains("beyond its width"),
            "{e}"
        );
        assert_eq!(
            codes_from_bytes(12, &[0x01, 0x08]).unwrap().as_words(),
            &[0x801]
        );
        let e = codes_from_bytes(16, &[0x80]).unwrap_err();
        assert!(!e.contains("bitorder"), "{e}");
    }

    /// Headers whose syntax npyz reads and np.load refuses: a key too many or missing, and a
    /// shape written as a list.
    #[test]
    fn headers_numpy_refuses_are_refused() {
        let good = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        assert_eq!(numpy_keys(good), Ok(()));
        let twice = b"{'descr': '<f4', 'shape': [2], 'fortran_order': False, 'shape': (2,)}";
        assert_eq!(numpy_keys(twice), Ok(()));
        assert_eq!(
            numpy_keys(b"{\"shape\" :(2,), 'fortran_order': False, 'descr': [('a:', '<f4')]}"),
            Ok(())
        );
        for (text, want) in [
            (
                &b"{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }"[..],
                "the shape is not a tuple",
            ),
            (
                b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}",
                "keys [\"descr\", \"fortran_order\", \"shape\", \"x\"]",
            ),
            (
                b"{'descr': '<f4', 'shape': (2, 3), }",
                "keys [\"descr\", \"shape\"]",
            ),
            (
                b"{'descr': '<f4', 'fortran_order': False, 'shape",
                "keys [\"descr\"",
            ),
        ] {
            let e = numpy_keys(text).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    /// float64 features whose differences float32 cannot hold (a large offset, or values
    /// that round to 0) are refused by name; the same rows centred read as they are.
    #[test]
    fn float64_features_that_float32_flattens_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let save = |name: &str, x: &[f64]| {
            let data: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
            let path = dir.path().join(name);
            std::fs::write(&path, npy_bytes("<f8", &[x.len() as u64 / 2, 2], &data)).unwrap();
            path
        };
        let rows: Vec<f64> = (0..40).map(|i| f64::from(i % 7) - 3.0).collect();
        let offset: Vec<f64> = rows.iter().map(|v| v + 1e10).collect();
        let tiny: Vec<f64> = rows.iter().map(|v| v * 1e-300).collect();
        let f = read_features(&save("centred.npy", &rows)).unwrap();
        assert_eq!((f.n, f.d, f.x[1]), (20, 2, -2.0));
        // A constant column (7.0 in every row) has no differences to lose: its running mean
        // is 7 - 9e-16, which read as a spread refused the file.
        let constant: Vec<f64> = rows
            .chunks_exact(2)
            .flat_map(|r| [r[0], 7.0])
            .chain((0..160).flat_map(|i| [f64::from(i % 5), 7.0]))
            .collect();
        assert!(read_features(&save("constant.npy", &constant)).is_ok());
        for (name, x, want) in [
            ("offset.npy", &offset, "e3 there"),
            ("tiny.npy", &tiny, "e-300"),
        ] {
            let Err(e) = read_features(&save(name, x)) else {
                panic!("{name} read");
            };
            let e = e.to_string();
            assert!(
                e.contains(name) && e.contains("column 0") && e.contains(want),
                "{e}"
            );
            assert!(e.contains("lose their differences as float32"), "{e}");
        }
    }

    #[test]
    fn arrays_are_written_byte_for_byte_as_numpy_writes_them() {
        let codes = Codes::from_words(8, vec![0x12, 0x34, 0xff]).unwrap();
        assert_eq!(
            codes_array(&codes),
            numpy(
                "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 1), }",
                &[0x12, 0x34, 0xff]
            )
        );
        let ids: Vec<u8> = [7i64, 0].iter().flat_map(|i| i.to_le_bytes()).collect();
        assert_eq!(
            clusters_array(&[7, 0]),
            numpy(
                "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
                &ids
            )
        );
        let names = ["aé😀".to_string()];
        assert_eq!(
            strings_array(&names),
            numpy(
                "{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }",
                b"a\0\0\0\xe9\0\0\0\0\xf6\x01\0"
            )
        );
        // No rows: NumPy's (0, 8).
        let none = Codes::from_words(64, Vec::new()).unwrap();
        assert_eq!(
            codes_array(&none),
            numpy(
                "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 8), }",
                &[]
            )
        );
    }
}
