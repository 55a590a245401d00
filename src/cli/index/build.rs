//! `imsat index build`: images through a hash model into an index file and its card (each
//! row's file, the model, and for a photo model each row's soft code and flatness); with
//! `--append`, the files not indexed yet added to an index of the same model.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use imsat_runtime::code::Codes;
use imsat_runtime::format::ModelInfo;
use imsat_runtime::index::Index;
use imsat_runtime::soft_code::SoftCodes;

use super::ids_after;
use crate::cli::common::index_card::{
    Card, FORMAT, IndexCard, ModelMatch, card_path, file_sha256, flatness_text, read_card,
    save_with_card, soft_rows,
};
use crate::cli::common::index_lock::{lock_for_append, lock_to_replace};
use crate::cli::common::model::{HashCodes, encode_hash_codes, open_model};
use crate::cli::common::{Ctx, bad_input, report_skipped, unreadable_index};
use crate::input::BadFile;

/// What [`build`] wrote.
pub struct Built {
    pub index: Index,
    /// The number of files of a folder left out.
    pub left_out: usize,
    /// The card written beside the index (none beside a device or a pipe).
    pub card: Option<PathBuf>,
}

/// Encode `data` with `model` and write (or, with `append`, extend) the index `out` and its
/// card; a folder's files that cannot be decoded stop it or are left out, as `bad` says.
pub fn build(
    model: &Path,
    data: &Path,
    out: &Path,
    append: bool,
    bad: BadFile,
    ctx: &Ctx,
) -> anyhow::Result<Built> {
    // Opened first: a missing or broken model is bad input before it is hashed.
    let opened = open_model(model)?;
    let bits = opened.outputs();
    let model_sha256 = file_sha256(model)?;
    // Held until the new index and card are in place: another append waits for it.
    let appending = match append && out.exists() {
        true => Some(lock_for_append(out)?),
        false => None,
    };
    let earlier = match append && out.exists() {
        true => Some(Earlier::read(model, &model_sha256, opened.info(), out)?),
        false => None,
    };
    // Files already indexed (by their resolved paths) are not read again.
    let known: HashSet<PathBuf> = earlier
        .iter()
        .flat_map(|e| e.rows.names.iter().flatten())
        .map(|n| resolved(Path::new(n)))
        .collect();
    let keep = |p: &Path| !known.contains(&resolved(p));
    let files = image_files(data)?;
    // Names the card cannot hold: said before the folder is encoded, not after.
    if let Some(odd) = files.iter().flatten().find(|f| f.to_str().is_none()) {
        return Err(not_utf8(odd));
    }
    if let (Some(earlier), Some(files)) = (&earlier, files) {
        let new = files.iter().filter(|f| keep(f)).count();
        if new < files.len() {
            errln!(
                "note: {} of the {} image files are in {} already and are not read again",
                files.len() - new,
                files.len(),
                out.display()
            );
        }
        if new == 0 {
            return Ok(Built {
                index: earlier.index.clone(),
                left_out: 0,
                card: Some(card_path(out)).filter(|p| p.exists()),
            });
        }
    }
    let same_codes_as = opened.info().same_codes_as.clone();
    let encoded = encode_hash_codes(
        opened,
        model,
        data,
        bad,
        !ctx.quiet,
        (!known.is_empty()).then_some(&keep),
    )?;
    report_skipped(&encoded.skipped);
    let left_out = encoded.skipped.len();
    let rows = Rows::of(encoded, data)?;
    let earlier_model = earlier.as_ref().and_then(|e| e.model_of_record.clone());
    let (index, card_rows) = match earlier {
        Some(earlier) => {
            // Rows of an IDX or `.npy` file appended again (by name) are not added twice.
            let known: HashSet<&str> = earlier
                .rows
                .names
                .iter()
                .flatten()
                .map(String::as_str)
                .collect();
            let new: Vec<usize> = (0..rows.names.len())
                .filter(|&i| !known.contains(rows.names[i].as_str()))
                .collect();
            if new.len() < rows.names.len() {
                errln!(
                    "note: {} of the {} rows are in {} already and were not added again",
                    rows.names.len() - new.len(),
                    rows.names.len(),
                    out.display()
                );
            }
            let rows = rows.select(&new)?;
            let mut index = earlier.index;
            let ids = ids_after(&index, rows.codes.len(), out)?;
            index
                .extend(&ids, &rows.codes)
                .map_err(|e| bad_input(format!("{}: {e}", out.display())))?;
            let all = earlier.rows.then(rows, out)?;
            (index, all)
        }
        None => (
            Index::from_codes(rows.codes),
            CardRows {
                names: rows.names.into_iter().map(Some).collect(),
                soft: rows.soft,
                flatness: rows.flatness,
            },
        ),
    };
    let record = earlier_model.unwrap_or_else(|| ModelOfRecord {
        model: absolute(model),
        sha256: model_sha256,
        same_codes_as,
    });
    let mut card = IndexCard {
        format: FORMAT.into(),
        // Set to the new file's checksum as the pair is written.
        index_crc32: String::new(),
        bits,
        model: record.model,
        model_sha256: record.sha256,
        model_same_codes_as: record.same_codes_as,
        names: card_rows.names,
        soft_f16_le_base64: None,
        flatness: card_rows.flatness,
    };
    card.set_soft(card_rows.soft.as_ref());
    // A new index waits for an append under way, which would otherwise put its rows over it.
    let _replacing = match appending {
        Some(_) => None,
        None => lock_to_replace(out)?,
    };
    let card = save_with_card(&index, out, card)?;
    Ok(Built {
        index,
        left_out,
        card,
    })
}

/// Encoded rows: codes, names (absolute paths), and for a photo model soft codes and
/// flatness.
struct Rows {
    codes: Codes,
    names: Vec<String>,
    soft: Option<SoftCodes>,
    flatness: Option<Vec<Option<String>>>,
}

impl Rows {
    /// The encoded rows, named by absolute path (refused where not UTF-8: a card's names
    /// are keys of the index's rows).
    fn of(encoded: HashCodes, data: &Path) -> anyhow::Result<Rows> {
        let names: Vec<String> = match &encoded.paths {
            Some(paths) => paths
                .iter()
                .map(|p| p.to_str().map(|_| absolute(p)).ok_or_else(|| not_utf8(p)))
                .collect::<anyhow::Result<_>>()?,
            None => (0..encoded.codes.len())
                .map(|i| format!("{}#{i}", absolute(data)))
                .collect(),
        };
        let flatness = (encoded.glances.len() == encoded.codes.len() && !names.is_empty())
            .then(|| encoded.glances.iter().map(|&g| flatness_text(g)).collect());
        Ok(Rows {
            codes: encoded.codes,
            names,
            soft: encoded.soft,
            flatness,
        })
    }

    /// Rows `keep` of these, in that order.
    fn select(&self, keep: &[usize]) -> anyhow::Result<Rows> {
        let mut codes = Codes::with_capacity(self.codes.bits(), keep.len())?;
        for &i in keep {
            codes.push(self.codes.get(i).expect("a row of these codes"))?;
        }
        let soft = match &self.soft {
            Some(soft) => Some(soft_rows(soft, keep)?),
            None => None,
        };
        Ok(Rows {
            codes,
            names: keep.iter().map(|&i| self.names[i].clone()).collect(),
            soft,
            flatness: self
                .flatness
                .as_ref()
                .map(|f| keep.iter().map(|&i| f[i].clone()).collect()),
        })
    }
}

/// What a card says of every row of its index: names, and soft codes and flatness where
/// every row has them.
struct CardRows {
    names: Vec<Option<String>>,
    soft: Option<SoftCodes>,
    flatness: Option<Vec<Option<String>>>,
}

impl CardRows {
    /// These rows, then `new` ones appended to the index `out`: soft codes and flatness
    /// only where both have them (said when the new rows' soft codes are dropped).
    fn then(mut self, new: Rows, out: &Path) -> anyhow::Result<CardRows> {
        let soft = match (&self.soft, &new.soft) {
            (Some(old), Some(added)) => {
                let mut bytes = old.to_le_bytes();
                bytes.extend(added.to_le_bytes());
                Some(SoftCodes::from_le_bytes(old.bits(), &bytes)?)
            }
            (None, Some(added)) if self.names.is_empty() => Some(added.clone()),
            (None, Some(_)) => {
                errln!(
                    "note: the rows already in {} have no soft codes, so the index keeps none \
                     (`imsat search --copies` then goes by the model's Hamming radius); build \
                     it anew to keep them",
                    out.display()
                );
                None
            }
            _ => None,
        };
        let flatness = match (self.flatness, new.flatness) {
            (Some(mut old), Some(added)) => {
                old.extend(added);
                Some(old)
            }
            (None, Some(added)) if self.names.is_empty() => Some(added),
            _ => None,
        };
        self.names.extend(new.names.into_iter().map(Some));
        Ok(CardRows {
            names: self.names,
            soft,
            flatness,
        })
    }
}

/// An index appended to, and what its card says of its rows.
struct Earlier {
    index: Index,
    rows: CardRows,
    /// The card's model when the model appending is another file of the same codes: the
    /// card keeps naming it, so that both files search the index.
    model_of_record: Option<ModelOfRecord>,
}

/// The model an index card names: its path, SHA-256 and the files it declares the codes of.
#[derive(Clone)]
struct ModelOfRecord {
    model: String,
    sha256: String,
    same_codes_as: Vec<String>,
}

/// `path` resolved (links, `..`) where it exists, else as given: how two names of one file
/// are told to be one.
fn resolved(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// The image files `data` names (a folder's, or the one image file), `None` for IDX and
/// `.npy` data.
fn image_files(data: &Path) -> anyhow::Result<Option<Vec<PathBuf>>> {
    if data.is_dir() {
        let files = imsat_data::photos::photo_files(data).map_err(|e| bad_input(e.to_string()))?;
        return Ok(Some(files.photos));
    }
    Ok(crate::input::is_image_file(data).then(|| vec![data.to_path_buf()]))
}

/// The refusal of a file whose name is not UTF-8: a card's names are keys of the index's rows.
fn not_utf8(path: &Path) -> anyhow::Error {
    crate::cli::common::not_utf8(path, "the names of an index cannot hold; rename it")
}

/// `path` made absolute (not resolving links), as text: a card's names and model open from
/// any folder.
fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

impl Earlier {
    /// The index `out` that `model` (of SHA-256 `model_sha256`, metadata `info`) appends to:
    /// refused when its card names a model of other codes or its codes are of another width.
    fn read(
        model: &Path,
        model_sha256: &str,
        info: &ModelInfo,
        out: &Path,
    ) -> anyhow::Result<Self> {
        let bits = info.outputs;
        let index = Index::load(out).map_err(|e| unreadable_index(out, e))?;
        if index.bits() != bits {
            return Err(bad_input(format!(
                "{}: index holds {}-bit codes, {} makes {bits}-bit codes",
                out.display(),
                index.bits(),
                model.display()
            )));
        }
        let n = index.len();
        let card = match read_card(out, n, bits)? {
            Card::Fits(card) => card,
            // Written over, it would lose the names of the rows already in the index, which
            // a card cut short or of another version of the file may still hold.
            Card::SetAside(why) => {
                return Err(bad_input(format!(
                    "{why}; appending would write a new card over it, and the names it holds \
                     would be lost: move it away to append with the {n} rows already in the \
                     index unnamed, or build the index anew (without --append)"
                )));
            }
            Card::None => {
                errln!(
                    "warning: {} has no card of names: the {n} rows already in the index stay \
                     unnamed (files among them are added again), and that they came from {} \
                     is not checked",
                    out.display(),
                    model.display()
                );
                return Ok(Earlier {
                    index,
                    rows: CardRows {
                        names: vec![None; n],
                        soft: None,
                        flatness: None,
                    },
                    model_of_record: None,
                });
            }
        };
        let model_of_record = match card.model_match(model_sha256, info) {
            ModelMatch::SameFile => None,
            ModelMatch::SameCodes => {
                errln!(
                    "note: {} holds codes of {} (SHA-256 {}); {} makes the same codes \
                     (declared in imsat.same_codes_as), and the card keeps naming {}",
                    out.display(),
                    card.model,
                    card.model_sha256,
                    model.display(),
                    card.model
                );
                Some(ModelOfRecord {
                    model: card.model.clone(),
                    sha256: card.model_sha256.clone(),
                    same_codes_as: card.model_same_codes_as.clone(),
                })
            }
            ModelMatch::Other => {
                return Err(bad_input(format!(
                    "{}: holds codes of {} (SHA-256 {}), not of {}: codes of two models are \
                     not comparable; append with --model {}, or build a new index",
                    out.display(),
                    card.model,
                    card.model_sha256,
                    model.display(),
                    card.model
                )));
            }
        };
        let soft = card.soft_codes_or_warn();
        let flatness = card.flatness.filter(|f| f.len() == n);
        Ok(Earlier {
            index,
            rows: CardRows {
                names: card.names,
                soft,
                flatness,
            },
            model_of_record,
        })
    }
}
