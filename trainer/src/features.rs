//! Feature vectors instead of pixels: any `[N, d]` f32 rows (embeddings from another network,
//! descriptors, ...).
//!
//! Training sees the rows centred per dimension and divided by one global scale (the RMS of
//! the centred values), so that the VAT/RPT radii and the first layer see inputs of the same
//! size as the pixels' `x/128 - 1`; one scale for every dimension keeps the Euclidean
//! geometry (the neighbours) of the features. The exported model takes the raw features:
//! the centring and scaling are folded into its first layer, and its metadata says
//! `imsat.input = features` and `imsat.input_shape = d`. There is no int8 model for
//! features (the int8 layout feeds pixels in as exact u8 values).

use std::path::{Path, PathBuf};

use tract_onnx::pb;

use crate::export::{self, Dense, ExportError, ModelInfo};
use crate::train::Trained;
use imsat_runtime::atomic_file::write_atomic;

/// The graph input's name for feature models: the runtime's contract (the metadata says
/// `imsat.input = features`, written by the runtime's `ModelInfo::to_metadata`).
pub use imsat_runtime::format::FEATURES_INPUT_NAME as INPUT_NAME;

/// The per-dimension mean and the global scale: training sees `(x - mean) / scale`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scaling {
    pub mean: Vec<f32>,
    pub scale: f32,
}

impl Scaling {
    /// Mean of each of the `dim` columns of `x`, and the RMS of the centred values. Sums in
    /// f64. An error when the rows cannot be trained on: not whole rows of `dim` values, a
    /// value that is not a finite number, every row the same (nothing tells them apart), or a
    /// spread below f32's normal numbers (`1 / scale`, folded into the exported model's first
    /// layer, would not be a number).
    pub fn fit(x: &[f32], dim: usize) -> Result<Self, String> {
        if x.is_empty() {
            return Err("there are no rows".into());
        }
        if dim == 0 || !x.len().is_multiple_of(dim) {
            return Err(format!("{} values are not whole rows of {dim}", x.len()));
        }
        if let Some(at) = x.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "row {}, column {} is {}: features must be finite numbers",
                at / dim,
                at % dim,
                x[at]
            ));
        }
        let n = x.len() / dim;
        let mut sum = vec![0f64; dim];
        for row in x.chunks_exact(dim) {
            for (s, &v) in sum.iter_mut().zip(row) {
                *s += v as f64;
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / n.max(1) as f64).collect();
        let mut sq = 0f64;
        for row in x.chunks_exact(dim) {
            for (m, &v) in mean.iter().zip(row) {
                sq += (v as f64 - m).powi(2);
            }
        }
        let rms = (sq / (n * dim).max(1) as f64).sqrt();
        if rms == 0.0 {
            return Err(format!(
                "every one of the {n} rows is the same: there is nothing to tell apart"
            ));
        }
        if rms < f64::from(f32::MIN_POSITIVE) {
            return Err(format!(
                "the features vary by {rms:.3e} (root mean square about their means), below \
                 float32's normal numbers: multiply them by a constant (1e30, say)"
            ));
        }
        Ok(Scaling {
            mean: mean.iter().map(|&m| m as f32).collect(),
            scale: rms.min(f64::from(f32::MAX)) as f32,
        })
    }

    /// Rows far enough out to set the one scale alone: `Some` when the typical row lies
    /// within a tenth of the scale of the rows' median (the coordinate-wise median, which a
    /// few far rows do not move as they move the mean), some rows, at most a tenth of them,
    /// lying ten times as far.
    /// Every other row is then squeezed near the centre, where the SAT radii, fixed in units
    /// of the scale, cover whole clusters (a sentinel 1e6 among features of spread 6 took a
    /// separable set from accuracy 1.0 to 0.28; 2% of such rows, to 0.51), so training says
    /// so. Rows at the median itself (the empty rows of sparse features) are not typical.
    pub fn outliers(&self, x: &[f32]) -> Option<Outliers> {
        let dim = self.mean.len();
        let n = x.len() / dim.max(1);
        if dim == 0 || n < 2 {
            return None;
        }
        let mut column = Vec::with_capacity(n);
        let median: Vec<f64> = (0..dim)
            .map(|j| {
                column.clear();
                column.extend(x.chunks_exact(dim).map(|row| f64::from(row[j])));
                *column.select_nth_unstable_by(n / 2, f64::total_cmp).1
            })
            .collect();
        // Each row's mean square distance from the median, in units of the scale squared.
        let s = f64::from(self.scale);
        let far: Vec<f64> = x
            .chunks_exact(dim)
            .map(|row| {
                let sq: f64 = row
                    .iter()
                    .zip(&median)
                    .map(|(&v, &m)| ((f64::from(v) - m) / s).powi(2))
                    .sum();
                sq / dim as f64
            })
            .collect();
        let mut off: Vec<f64> = far.iter().copied().filter(|&r| r > 0.0).collect();
        if off.is_empty() {
            return None;
        }
        let half = off.len() / 2;
        let typical = *off.select_nth_unstable_by(half, f64::total_cmp).1;
        if typical >= OUTLIER_TYPICAL {
            return None;
        }
        // Ten times the typical row's distance (a hundred times its square).
        let rows = far.iter().filter(|&&r| r > 100.0 * typical).count();
        let (first, farthest) = far
            .iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        // A few rows: where a large share lies far out (a tight cluster of near-duplicates
        // beside spread rows), the far rows are the data, not outliers.
        (rows > 0 && rows * 10 <= n).then(|| Outliers {
            rows,
            first,
            ratio: (farthest / typical).sqrt(),
        })
    }

    /// `(x - mean) / scale`, row by row, in f64: values of opposite signs near f32's largest
    /// would overflow their difference in f32.
    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        let dim = self.mean.len();
        let mut out = Vec::with_capacity(x.len());
        let s = f64::from(self.scale);
        for row in x.chunks_exact(dim) {
            out.extend(
                row.iter()
                    .zip(&self.mean)
                    .map(|(&v, &m)| ((f64::from(v) - f64::from(m)) / s) as f32),
            );
        }
        out
    }

    /// The first layer `z W + b` on scaled rows `z = (x - mean) / scale`, rewritten for the
    /// raw rows `x`: `x (W / scale) + (b - mean (W / scale))`. In f64; an error when the
    /// result does not fit f32 (means far beyond the spread, as rows all near 3e38), which
    /// would export a model whose every output is NaN.
    fn fold_into(&self, first: &mut Dense) -> Result<(), ExportError> {
        let d_out = first.d_out;
        let s = self.scale as f64;
        let mut bias: Vec<f64> = first.bias.iter().map(|&b| b as f64).collect();
        for (row, &m) in first.weight.chunks_exact_mut(d_out).zip(&self.mean) {
            for (w, b) in row.iter_mut().zip(bias.iter_mut()) {
                let scaled = *w as f64 / s;
                *w = scaled as f32;
                *b -= m as f64 * scaled;
            }
        }
        first.bias = bias.iter().map(|&b| b as f32).collect();
        if first
            .weight
            .iter()
            .chain(&first.bias)
            .all(|v| v.is_finite())
        {
            return Ok(());
        }
        let largest = self.mean.iter().fold(0f32, |m, v| m.max(v.abs()));
        Err(ExportError::Invalid(format!(
            "the features' centring does not fit the first layer in f32 (means up to {largest:e} \
             against a spread of {:e}): shift or rescale the features",
            self.scale
        )))
    }
}

/// The typical row's mean square distance from the median, against the scale's 1, below
/// which [`Scaling::outliers`] speaks: the typical row within a tenth of the scale.
const OUTLIER_TYPICAL: f64 = 0.01;

/// The rows that set the scale on their own ([`Scaling::outliers`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outliers {
    /// How many rows lie ten times as far from the median as the typical row, or farther.
    pub rows: usize,
    /// The farthest row (0-based).
    pub first: usize,
    /// Its distance from the median over the typical row's.
    pub ratio: f64,
}

/// The trained encoder's layers for raw features: the scaling folded into the first.
fn raw_layers(trained: &Trained, scaling: &Scaling) -> Result<Vec<Dense>, ExportError> {
    let mut layers = export::fold_layers(&trained.model);
    export::check_finite(&layers)?;
    let d = scaling.mean.len();
    match layers.first_mut() {
        Some(first) if first.d_in == d => scaling.fold_into(first)?,
        _ => {
            return Err(ExportError::Invalid(format!(
                "the model's input width does not match the {d} feature dimensions"
            )));
        }
    }
    Ok(layers)
}

/// The f32 ONNX model of an encoder trained on scaled features: input `features` f32
/// `[N, d]` (raw, unscaled), output `logits`.
pub fn f32_model(
    trained: &Trained,
    scaling: &Scaling,
    report_json: &str,
) -> Result<pb::ModelProto, ExportError> {
    model_of(&raw_layers(trained, scaling)?, trained, report_json)
}

/// The f32 ONNX model of `layers` ([`raw_layers`] of `trained`).
fn model_of(
    layers: &[Dense],
    trained: &Trained,
    report_json: &str,
) -> Result<pb::ModelProto, ExportError> {
    let d = layers.first().map_or(0, |l| l.d_in);
    let info = ModelInfo {
        task: trained.config.task,
        outputs: trained.config.outputs,
        input_shape: vec![d],
        int8: false,
        report: report_json.to_string(),
        view: None,
        input: imsat_runtime::format::Input::Features,
        dedup_radius: None,
        soft_check: None,
        same_codes_as: Vec::new(),
    };
    let mut model = export::f32_model(layers, &info)?;
    let graph = model
        .graph
        .as_mut()
        .ok_or_else(|| ExportError::Invalid("exported model has no graph".into()))?;
    // The pixel graph starts with `x * inv128 + minus_one`: make it the identity (tract and
    // onnxruntime fold it away) rather than rebuilding the graph.
    let mut found = 0;
    for t in graph.initializer.iter_mut() {
        let v: f32 = match t.name.as_str() {
            "inv128" => 1.0,
            "minus_one" => 0.0,
            _ => continue,
        };
        t.raw_data = v.to_le_bytes().to_vec();
        found += 1;
    }
    if found != 2 {
        return Err(ExportError::Invalid(
            "the pixel scaling constants (inv128, minus_one) were not found in the graph".into(),
        ));
    }
    let old = export::INPUT_NAME;
    for input in graph.input.iter_mut().filter(|i| i.name == old) {
        input.name = INPUT_NAME.into();
    }
    for node in graph.node.iter_mut() {
        for i in node.input.iter_mut().filter(|i| *i == old) {
            *i = INPUT_NAME.into();
        }
    }
    model.doc_string = format!("IMSAT encoder: features (f32 [N, {d}]) -> logits");
    Ok(model)
}

/// Write `model.onnx` for a feature model into `out_dir` (through a temporary file), once
/// its outputs on the raw training `rows` are checked to be numbers
/// ([`export::check_outputs`]).
pub fn write_model(
    trained: &Trained,
    scaling: &Scaling,
    rows: &[f32],
    report_json: &str,
    out_dir: &Path,
) -> Result<PathBuf, ExportError> {
    let layers = raw_layers(trained, scaling)?;
    export::check_outputs(&layers, rows)?;
    let bytes = export::to_bytes(&model_of(&layers, trained, report_json)?);
    let path = out_dir.join(export::F32_FILE);
    write_atomic(&path, &bytes).map_err(|source| ExportError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_centres_each_column_and_keeps_one_scale() {
        let x = [1.0, 10.0, 3.0, 30.0];
        let s = Scaling::fit(&x, 2).unwrap();
        assert_eq!(s.mean, vec![2.0, 20.0]);
        // Centred values 1, 10, 1, 10 (signs aside): RMS sqrt(101/2).
        assert!((s.scale - (101.0f32 / 2.0).sqrt()).abs() < 1e-5);
        let z = s.apply(&x);
        assert!((z[0] + 1.0 / s.scale).abs() < 1e-6);
        // Rows it cannot fit are named, not scaled to f32::MAX (a NaN) or a panic (dim 0).
        let nan = Scaling::fit(&[1.0, 2.0, 3.0, f32::NAN], 2).unwrap_err();
        assert!(nan.contains("row 1, column 1 is NaN"), "{nan}");
        let inf = Scaling::fit(&[f32::NEG_INFINITY, 2.0], 2).unwrap_err();
        assert!(inf.contains("row 0, column 0 is -inf"), "{inf}");
        for (x, dim) in [(&[1.0, 2.0, 3.0][..], 2), (&[1.0][..], 0)] {
            let e = Scaling::fit(x, dim).unwrap_err();
            assert!(e.contains("are not whole rows"), "{e}");
        }
        assert_eq!(Scaling::fit(&[], 2).unwrap_err(), "there are no rows");
        let same = Scaling::fit(&[5.0, -0.0, 5.0, 0.0], 2).unwrap_err();
        assert!(
            same.contains("every one of the 2 rows is the same"),
            "{same}"
        );
        // A spread of 1e-39 (subnormal): 1 / scale is not an f32. 1e-37 trains.
        let tiny = Scaling::fit(&[1e-39, 0.0, -1e-39, 0.0], 2).unwrap_err();
        assert!(tiny.contains("below float32's normal numbers"), "{tiny}");
        assert!(Scaling::fit(&[1e-37, 0.0, -1e-37, 0.0], 2).is_ok());
        // Rows of opposite signs near f32's largest: centred in f64, no overflow to inf.
        let wide = [3e38f32, 0.0, -3e38, 0.0, -3e38, 0.0];
        let s = Scaling::fit(&wide, 2).unwrap();
        assert!(
            s.apply(&wide)
                .iter()
                .all(|v| v.is_finite() && v.abs() <= 2.0)
        );
    }

    #[test]
    fn a_few_far_rows_that_set_the_scale_are_named() {
        // 200 rows in two groups of spread ~1, and one sentinel row at 1e6.
        let mut x: Vec<f32> = (0..200)
            .flat_map(|i| {
                let c = if i % 2 == 0 { -3.0 } else { 3.0 };
                [c + (i % 7) as f32 * 0.1, (i % 5) as f32 * 0.1]
            })
            .collect();
        let even = Scaling::fit(&x, 2).unwrap();
        assert_eq!(even.outliers(&x), None);
        x.extend([1e6, 1e6]);
        let s = Scaling::fit(&x, 2).unwrap();
        let o = s.outliers(&x).expect("the sentinel sets the scale");
        assert_eq!((o.rows, o.first), (1, 200));
        assert!(o.ratio > 100.0, "{o:?}");
        // Heavy-tailed but not dominated (a tenth of the rows 10x out): no warning.
        let tail: Vec<f32> = (0..200)
            .flat_map(|i| {
                let r = if i % 10 == 0 { 10.0 } else { 1.0 };
                [r * if i % 2 == 0 { -1.0 } else { 1.0 }, 0.0]
            })
            .collect();
        let t = Scaling::fit(&tail, 2).unwrap();
        assert_eq!(t.outliers(&tail), None);
        // 2% of sentinel rows move the mean as far as they set the scale: the median does
        // not move (a rule about the mean stayed silent here, at accuracy 0.51). Counted.
        let mut many = x[..400].to_vec();
        for row in [3, 50, 120, 199] {
            many[2 * row..2 * row + 2].copy_from_slice(&[1e6, 1e6]);
        }
        let m = Scaling::fit(&many, 2).unwrap();
        let o = m.outliers(&many).expect("2% of sentinels set the scale");
        assert_eq!(o.rows, 4, "{o:?}");
        // Sparse rows, 60% of them empty: the empty rows sit at the median and are not
        // typical; the others lie at the scale. No warning.
        let sparse: Vec<f32> = (0..200)
            .flat_map(|i| match i % 5 {
                0 => [1.0 + (i % 7) as f32, 0.0],
                1 => [0.0, 2.0 + (i % 3) as f32],
                _ => [0.0, 0.0],
            })
            .collect();
        let p = Scaling::fit(&sparse, 2).unwrap();
        assert_eq!(p.outliers(&sparse), None);
        // 60% near-duplicates of one row beside 40% spread rows: the far rows are the data.
        let dups: Vec<f32> = (0..200)
            .flat_map(|i| match i % 5 {
                0 | 1 => [(i % 11) as f32 - 5.0, (i % 7) as f32 - 3.0],
                _ => [0.001 * (i % 3) as f32, 0.0],
            })
            .collect();
        let d = Scaling::fit(&dups, 2).unwrap();
        assert_eq!(d.outliers(&dups), None);
    }

    /// The RMS is over every value (3 rows of 2: six), and a spread of exactly f32's
    /// smallest normal number still trains.
    #[test]
    fn the_scale_is_the_rms_over_all_values() {
        let x = [0.0, 0.0, 3.0, 6.0, 6.0, 12.0];
        let s = Scaling::fit(&x, 2).unwrap();
        assert_eq!(s.mean, vec![3.0, 6.0]);
        // Centred: (-3, -6), (0, 0), (3, 6): squares sum to 90 over six values.
        assert!((s.scale - 15f32.sqrt()).abs() < 1e-6, "{}", s.scale);
        let m = f32::MIN_POSITIVE;
        let edge = Scaling::fit(&[m, -m], 1).unwrap();
        assert_eq!(edge.scale, m);
    }

    /// The outlier figures on rows whose median and spread are known: rows (i, i) for
    /// i = 0..20 and one at (400, 400). The median is 10; the off-median rows lie 1 to 10
    /// and 390 from it, the typical (middle) one 6 (the median row itself, at 0, is not
    /// typical), so the far row is 390 / 6 = 65 typical distances out. Its mean square
    /// distance per value, 36 / scale^2 = 0.0052, is under the 0.01 that makes the typical
    /// row close (summed over the two values instead, 0.0104, it would not be). With no
    /// rows, or no dimensions, there is nothing to say.
    #[test]
    fn outliers_are_measured_from_the_median_per_value() {
        let x: Vec<f32> = (0..20)
            .chain([400])
            .flat_map(|i| [i as f32, i as f32])
            .collect();
        let s = Scaling::fit(&x, 2).unwrap();
        let typical = (6.0 / f64::from(s.scale)).powi(2);
        assert!((0.005..0.0055).contains(&typical), "{typical}");
        let o = s.outliers(&x).expect("the row at 400 sets the scale");
        assert_eq!((o.rows, o.first), (1, 20));
        assert!((o.ratio - 65.0).abs() < 1e-9, "{o:?}");
        assert_eq!(s.outliers(&[]), None);
        let no_dims = Scaling {
            mean: vec![],
            scale: 1.0,
        };
        assert_eq!(no_dims.outliers(&[1.0, 2.0]), None);
    }

    /// A small encoder trained on scaled rows, exported for raw ones: the folded layers, and
    /// the ONNX file through the runtime's encoder (tract, and its native f32 executor),
    /// give the burn model's logits on the scaled rows; the file says it takes features of
    /// that width. A scaling of another width is refused.
    #[test]
    fn the_exported_model_takes_raw_rows() {
        use crate::backend::inference_device;
        use crate::model::Encoder;
        use crate::train::{TrainConfig, predict_logits};

        let (n, d) = (7, 3);
        let x: Vec<f32> = (0..n * d)
            .map(|i| 1000.0 + ((i * 37 % 23) as f32 - 11.0) * 40.0 * (1 + i % d) as f32)
            .collect();
        let scaling = Scaling::fit(&x, d).unwrap();
        inference_device().seed(2);
        let trained = Trained::untrained(
            Encoder::new(d, &[5], 4, &inference_device()),
            TrainConfig {
                hidden: vec![5],
                ..TrainConfig::hash(4)
            },
        );
        let want = predict_logits(&trained.model, &scaling.apply(&x), n).unwrap();
        let close = |got: &[f32], what: &str| {
            assert_eq!(got.len(), want.len(), "{what}");
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-4 * scale, "{what}: {a} vs {b}");
            }
        };
        let layers = raw_layers(&trained, &scaling).unwrap();
        close(
            &export::forward_layers(&layers, &x, n).pop().unwrap(),
            "layers",
        );

        let dir = tempfile::tempdir().unwrap();
        let path = write_model(&trained, &scaling, &x, "{}", dir.path()).unwrap();
        assert_eq!(path, dir.path().join(export::F32_FILE));
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            bytes,
            export::to_bytes(&f32_model(&trained, &scaling, "{}").unwrap())
        );
        let encoder = imsat_runtime::encoder::Encoder::from_bytes(&bytes, &path).unwrap();
        let info = encoder.info();
        assert_eq!(info.input, imsat_runtime::format::Input::Features);
        assert_eq!((info.input_shape.clone(), info.outputs), (vec![d], 4));
        close(&encoder.logits_f32(&x).unwrap(), "the runtime's encoder");
        close(&encoder.tract_only().logits_f32(&x).unwrap(), "tract");

        let narrow = Scaling {
            mean: vec![0.0; 2],
            scale: 1.0,
        };
        let err = raw_layers(&trained, &narrow).unwrap_err().to_string();
        assert!(
            err.contains("does not match the 2 feature dimensions"),
            "{err}"
        );
    }

    #[test]
    fn folding_the_scaling_keeps_the_first_layer() {
        let s = Scaling {
            mean: vec![1.0, -2.0],
            scale: 4.0,
        };
        let mut l = Dense {
            d_in: 2,
            d_out: 1,
            weight: vec![0.5, -1.5],
            bias: vec![0.25],
            relu: false,
        };
        let x = [3.0f32, 7.0];
        let z = s.apply(&x);
        let want = z[0] * 0.5 + z[1] * -1.5 + 0.25;
        s.fold_into(&mut l).unwrap();
        let got = x[0] * l.weight[0] + x[1] * l.weight[1] + l.bias[0];
        assert!((want - got).abs() < 1e-6, "{want} vs {got}");
        // Rows all near f32's largest value: the folded bias, -6e38, is not an f32.
        let huge = Scaling {
            mean: vec![3e38, 3e38],
            scale: 1.0,
        };
        l.weight = vec![1.0, 1.0];
        let err = huge.fold_into(&mut l).unwrap_err().to_string();
        assert!(err.contains("means up to 3e38"), "{err}");
    }
}
