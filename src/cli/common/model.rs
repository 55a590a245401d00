//! Opening an exported model and running it on data, with mismatches of model and data
//! reported as bad input (exit status 2).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use imsat_runtime::code::Codes;
use imsat_runtime::dedup::Glance;
use imsat_runtime::encoder::{Encoded, Encoder, EncoderError, Task};
use imsat_runtime::format::onnx::Model;
use imsat_runtime::format::{Input, keys};
use imsat_runtime::output::argmax_rows;
use imsat_runtime::soft_code::SoftCodes;

use super::{bad_input, not_utf8};
use crate::input::{BadFile, ImageRows, Keep, Reading, read_images};

/// Open a model; a file we cannot use is bad input (exit 2), not an internal error.
pub fn open_model(path: &Path) -> anyhow::Result<Encoder> {
    // A device or a pipe (`/dev/zero`) would be read until memory ran out: a model is a file.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(bad_input(format!(
            "{}: is not a model file (a folder, a device or a pipe)",
            path.display()
        )));
    }
    Encoder::open(path).map_err(|e| match e {
        EncoderError::Io { .. }
        | EncoderError::NotOnnx { .. }
        | EncoderError::Metadata { .. }
        | EncoderError::Prepare { .. } => bad_input(e.to_string()),
        e => anyhow::Error::new(e),
    })
}

/// The error for an image model given `.npy` features `data`.
pub fn not_a_features_model(model: &Path, data: &Path) -> anyhow::Error {
    bad_input(format!(
        "{}: the model takes images (an IDX file or a folder), not .npy features ({}); train \
         one on the features with `imsat train --data {}`",
        model.display(),
        data.display(),
        data.display()
    ))
}

/// Whether `model` takes feature vectors (metadata `imsat.input = features`); false for a
/// file that is not a model (opening it reports that). Reads the metadata only, with the
/// runtime's own reader: the model is opened (and optimized by tract) once, later.
pub fn takes_features(model: &Path) -> bool {
    let file = std::fs::metadata(model).is_ok_and(|m| m.is_file());
    file && std::fs::read(model).is_ok_and(|bytes| {
        Model::parse(&bytes)
            .is_ok_and(|m| m.metadata(keys::INPUT) == Some(Input::Features.as_str()))
    })
}

/// Logits of all images, after checking that their size fits the model.
pub fn model_logits(
    enc: &Encoder,
    images: &imsat_data::Images,
    data_path: &Path,
) -> anyhow::Result<Vec<f32>> {
    check_fits(enc, images, data_path)?;
    Ok(enc.logits(&images.pixels)?)
}

/// Bad input unless every image of `images` has the shape `enc` takes (the same number of
/// values, and the same rows and columns where both give them: 14x56 pixels are not a 28x28
/// digit). A photo model takes each photo as its views, made from the photo file: pixels read
/// from an IDX file are no photo, so the error says to pass a folder.
pub fn check_fits(enc: &Encoder, images: &imsat_data::Images, data: &Path) -> anyhow::Result<()> {
    // Images read from files were made in the model's shape (or view); an IDX file's are as
    // it stores them.
    let fits = match crate::input::reads_as_images(data) {
        true => images.dim() == enc.input_dim(),
        false => {
            let takes = &enc.info().input_shape;
            let same_layout = images.shape.len() < 2 || takes.len() < 2 || images.shape == *takes;
            images.dim() == enc.input_dim() && same_layout && enc.info().view.is_none()
        }
    };
    if fits {
        return Ok(());
    }
    let takes = match &enc.info().view {
        Some(view) => format!(
            "photo model {} takes photo files (a folder), each turned into its view `{}` ({} values)",
            enc.path().display(),
            view.to_metadata(),
            enc.input_dim()
        ),
        None => format!(
            "model {} takes {} ({} values)",
            enc.path().display(),
            enc.info().shape_text(),
            enc.input_dim()
        ),
    };
    let shape: Vec<String> = images.shape.iter().map(|d| d.to_string()).collect();
    // As many values laid out otherwise (28x28 against 1x784): rows and columns must match.
    let layout = match images.dim() == enc.input_dim() && enc.info().view.is_none() {
        true => "; as many values, but rows and columns must match where both give them",
        false => "",
    };
    Err(bad_input(format!(
        "{}: images of {} ({} values) do not fit: {takes}{layout}",
        data.display(),
        shape.join("x"),
        images.dim(),
    )))
}

/// What [`encode_data`] made: codes or cluster ids, one per row of the data.
pub struct EncodedData {
    pub encoder: Encoder,
    pub encoded: Encoded,
    /// What was read: a folder of images, an IDX or a `.npy` file.
    pub data: PathBuf,
    /// `paths[i]` is row i's file, for a folder of images; `None` for IDX and `.npy` data.
    pub paths: Option<Vec<PathBuf>>,
    /// Folder files left out as undecodable ([`BadFile::Skip`]), each with why.
    pub skipped: Vec<(PathBuf, String)>,
    /// Seconds the encoding itself took (the model alone).
    pub seconds: f64,
    /// Seconds the reading took: opening the model, decoding the images and making the
    /// model's view of each (or parsing the IDX or `.npy` file).
    pub read_seconds: f64,
}

/// Run `model` on `data` (images, or `.npy` features for a feature model); `bad` says what an
/// undecodable file of a folder does, `show_progress` whether reading a folder shows a bar.
/// Mismatches of model and data are bad input (exit status 2).
pub fn encode_data(
    model: &Path,
    data: &Path,
    bad: BadFile,
    show_progress: bool,
) -> anyhow::Result<EncodedData> {
    let reading = Instant::now();
    let npy = crate::npy::is_npy(data);
    let features = takes_features(model);
    if !npy {
        if features {
            return Err(features_not_images(&open_model(model)?, model, data));
        }
        let encoder = open_model(model)?;
        let read_as = Reading {
            show_progress,
            ..Reading::quiet(bad)
        };
        let run = image_logits(&encoder, data, read_as, None)?;
        let encoded = encoded_from_logits(&encoder, &run.logits, model, data)?;
        return Ok(EncodedData {
            encoder,
            encoded,
            data: data.to_path_buf(),
            paths: run.rows.paths,
            skipped: run.rows.skipped,
            seconds: run.model_seconds,
            // Reading is everything but the model: the two take turns, a chunk at a time.
            read_seconds: reading.elapsed().as_secs_f64() - run.model_seconds,
        });
    }
    let encoder = open_model(model)?;
    if !features {
        return Err(not_a_features_model(model, data));
    }
    let f = read_features_for(&encoder, model, data)?;
    let read_seconds = reading.elapsed().as_secs_f64();
    let started = Instant::now();
    let logits = encoder.logits_f32(&f.x)?;
    let encoded = encoded_from_logits(&encoder, &logits, model, data)?;
    Ok(EncodedData {
        encoder,
        encoded,
        data: data.to_path_buf(),
        paths: None,
        skipped: Vec::new(),
        seconds: started.elapsed().as_secs_f64(),
        read_seconds,
    })
}

/// Codes (hash) or cluster ids (cluster) from `encoder`'s logits on `data`; a logit that is
/// not a number is an error naming the model and the data.
fn encoded_from_logits(
    encoder: &Encoder,
    logits: &[f32],
    model: &Path,
    data: &Path,
) -> anyhow::Result<Encoded> {
    let outputs = encoder.outputs();
    match encoder.task() {
        Task::Hash => Codes::from_logits(outputs, logits).map(Encoded::Codes),
        Task::Cluster => argmax_rows(logits, outputs).map(Encoded::Clusters),
    }
    .with_context(|| not_numbers(model, data))
}

impl EncodedData {
    /// How many rows were encoded.
    pub fn rows(&self) -> usize {
        match &self.encoded {
            Encoded::Codes(c) => c.len(),
            Encoded::Clusters(ids) => ids.len(),
        }
    }

    /// Row names: for a folder of images, each file's path below the folder (its file name
    /// when it lies in the folder itself), else the row numbers. A name that is not UTF-8 is
    /// refused: written lossily, two such files could share one name.
    pub fn names(&self) -> anyhow::Result<Vec<String>> {
        match &self.paths {
            Some(paths) => paths.iter().map(|p| row_name(&self.data, p)).collect(),
            None => Ok((0..self.rows()).map(|i| i.to_string()).collect()),
        }
    }
}

/// The row name of file `path` of folder `data`: its path below the folder (its file name
/// when `data` is the file itself), which must be UTF-8 (written lossily, two files could
/// share one name).
pub fn row_name(data: &Path, path: &Path) -> anyhow::Result<String> {
    let name = match path.strip_prefix(data) {
        Ok(below) if !below.as_os_str().is_empty() => below,
        Ok(_) => path.file_name().map_or(path, Path::new),
        Err(_) => path,
    };
    name.to_str().map(str::to_string).ok_or_else(|| {
        not_utf8(
            path,
            "a CSV or NPZ name cannot hold; rename it, or write raw codes (.u64, in file-name \
             order)",
        )
    })
}

/// The `.npy` features of `data`, checked to fit the model's input width.
pub fn read_features_for(
    enc: &Encoder,
    model: &Path,
    data: &Path,
) -> anyhow::Result<crate::npy::Features> {
    let f = crate::npy::read_features(data)?;
    if f.d != enc.input_dim() {
        return Err(bad_input(format!(
            "{}: rows of {} features do not fit model {}, which takes {}",
            data.display(),
            f.d,
            model.display(),
            enc.input_dim()
        )));
    }
    Ok(f)
}

/// The logits of every image of `data` through `enc`, with what the read found.
pub struct ImageLogits {
    /// `outputs` logits per image, in the images' order.
    pub logits: Vec<f32>,
    /// The images read: paths, skipped files, glances.
    pub rows: ImageRows,
    /// With `first_views`, each image's first `first_views` pixels (a photo view's whole-frame
    /// luma, a digit model's whole image), image after image; else empty.
    pub first_views: Vec<u8>,
    /// Seconds the model itself took, over all chunks.
    pub model_seconds: f64,
}

/// Run `enc` on the images of `data` (a folder, one image file or an IDX file) as
/// [`read_images`] reads them (as `reading` says), a chunk at a time: only the logits (256
/// bytes a photo for 64 bits) and, with `first_views`, that many pixels of each image are
/// kept, not every image's views (3 KB a photo for photo64: 100,000 photos keep 25 MB of
/// logits, not 300 MB of views).
/// Each chunk is checked to fit the model, as a whole read was.
pub fn image_logits(
    enc: &Encoder,
    data: &Path,
    reading: Reading<'_>,
    first_views: Option<usize>,
) -> anyhow::Result<ImageLogits> {
    let shape = match enc.info().input_shape.as_slice() {
        [r, c] => (*r, *c),
        // An IDX file's images have their own shape, checked against the model's below.
        _ if !crate::input::reads_as_images(data) => (0, 0),
        other => {
            return Err(bad_input(format!(
                "{}: model input shape {other:?} is not a 2-D image, so it cannot read a folder of images",
                enc.path().display()
            )));
        }
    };
    let (mut logits, mut kept, mut model_seconds) = (Vec::new(), Vec::new(), 0.0);
    let rows = read_images(
        data,
        shape,
        enc.info().view.as_ref(),
        reading,
        &mut |chunk| {
            check_fits(enc, &chunk, data)?;
            if let Some(first) = first_views {
                let dim = chunk.dim();
                let first = first.min(dim);
                for image in chunk.pixels.chunks_exact(dim) {
                    kept.extend_from_slice(&image[..first]);
                }
            }
            let started = Instant::now();
            logits.extend(enc.logits(&chunk.pixels)?);
            model_seconds += started.elapsed().as_secs_f64();
            Ok(())
        },
    )?;
    Ok(ImageLogits {
        logits,
        rows,
        first_views: kept,
        model_seconds,
    })
}

/// What [`encode_hash_codes`] made.
pub struct HashCodes {
    pub encoder: Encoder,
    pub codes: Codes,
    /// Each row's soft code, for a model with a soft check (photo models) read from images.
    pub soft: Option<SoftCodes>,
    /// `paths[i]` is row i's file, for a folder or an image file; `None` for IDX and `.npy`.
    pub paths: Option<Vec<PathBuf>>,
    /// A glance at each row's image as decoded, for a photo model (else empty).
    pub glances: Vec<Option<Glance>>,
    /// The files of a folder left out (undecodable or formats not read), each with why.
    pub skipped: Vec<(PathBuf, String)>,
}

impl HashCodes {
    /// Row i's name as search answers show it: its file's path (refused where it is not
    /// UTF-8: shown lossily, two files could share one name, as `index build` and `dedup`
    /// refuse it), or `data#i` for row i of an IDX or `.npy` file.
    pub fn shown_names(&self, data: &Path) -> anyhow::Result<Vec<String>> {
        match &self.paths {
            Some(paths) => paths
                .iter()
                .map(|p| {
                    p.to_str().map(str::to_string).ok_or_else(|| {
                        not_utf8(
                            p,
                            "search cannot print exactly (printed lossily, two files could \
                             share one name); rename it",
                        )
                    })
                })
                .collect(),
            None => Ok((0..self.codes.len())
                .map(|i| format!("{}#{i}", data.display()))
                .collect()),
        }
    }
}

/// The codes of every image of `data` through a hash model, `enc` opened from `model` by the
/// caller, who checked it (for `imsat index build` and `imsat search --query`: opening a
/// photo model costs as much as encoding a photo, so it is opened once), and, for a photo
/// model, a glance at each image and, with a soft check, the soft codes from the same
/// logits. With `keep`, only the folder's files it keeps.
pub fn encode_hash_codes(
    enc: Encoder,
    model: &Path,
    data: &Path,
    bad: BadFile,
    show_progress: bool,
    keep: Option<&Keep<'_>>,
) -> anyhow::Result<HashCodes> {
    if enc.task() != Task::Hash {
        return Err(bad_input(format!(
            "{}: a {} model makes cluster ids, not codes: use a hash model",
            model.display(),
            enc.task()
        )));
    }
    if crate::npy::is_npy(data) {
        // Feature models: no view, no glances, no soft check.
        if !takes_features(model) {
            return Err(not_a_features_model(model, data));
        }
        let f = read_features_for(&enc, model, data)?;
        let logits = enc.logits_f32(&f.x)?;
        let codes =
            Codes::from_logits(enc.outputs(), &logits).with_context(|| not_numbers(model, data))?;
        return Ok(HashCodes {
            encoder: enc,
            codes,
            soft: None,
            paths: None,
            glances: Vec::new(),
            skipped: Vec::new(),
        });
    }
    if takes_features(model) {
        return Err(features_not_images(&enc, model, data));
    }
    let photo = enc.info().view.is_some();
    let reading = Reading {
        bad,
        show_progress,
        glances: photo,
        keep,
    };
    let run = image_logits(&enc, data, reading, None)?;
    let bits = enc.outputs();
    let codes = Codes::from_logits(bits, &run.logits).with_context(|| not_numbers(model, data))?;
    let soft = match enc.info().soft_check {
        Some(_) => Some(SoftCodes::from_logits(bits, &run.logits)?),
        None => None,
    };
    Ok(HashCodes {
        encoder: enc,
        codes,
        soft,
        paths: run.rows.paths,
        glances: run.rows.glances,
        skipped: run.rows.skipped,
    })
}

/// The refusal of images for a model that takes `.npy` features.
fn features_not_images(enc: &Encoder, model: &Path, data: &Path) -> anyhow::Error {
    bad_input(format!(
        "{}: the model takes {} features from a .npy file, not images ({})",
        model.display(),
        enc.input_dim(),
        data.display()
    ))
}

/// What a NaN among a feature model's outputs says (the error says where it is).
fn not_numbers(model: &Path, data: &Path) -> String {
    format!(
        "{}: its outputs on {} are not numbers (its weights hold non-finite values, or the \
         inputs are too large for them)",
        model.display(),
        data.display()
    )
}
