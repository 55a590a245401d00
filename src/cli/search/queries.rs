//! What a search looks for: raw codes, or images encoded by the model that built the index.

use std::path::Path;

use anyhow::Context;

use imsat_runtime::code::Codes;
use imsat_runtime::dedup::Flatness;
use imsat_runtime::encoder::{Encoder, Task};
use imsat_runtime::soft_code::{SoftCheck, SoftCodes};

use super::Args;
use crate::cli::common::codes::{read_npy_codes, read_raw_codes};
use crate::cli::common::index_card::{IndexCard, ModelMatch, file_sha256};
use crate::cli::common::model::{encode_hash_codes, open_model};
use crate::cli::common::radius::photo_radius;
use crate::cli::common::{Ctx, bad_input, report_skipped};
use crate::input::BadFile;

/// The queries: raw codes, or images encoded by a model, with their names, their soft codes
/// and the model's operating point (photo models).
pub struct Queries {
    pub codes: Codes,
    pub names: Option<Vec<String>>,
    /// The queries' soft codes, for a model with a soft check.
    pub soft: Option<SoftCodes>,
    /// Each query image's flatness (plain, faint, detailed), for a photo model (else empty).
    pub flatness: Vec<Option<Flatness>>,
    /// The model's dedup radius (`imsat.dedup_radius`).
    pub dedup_radius: Option<u32>,
    /// The model's soft check (`imsat.dedup_soft_radius`, `imsat.dedup_soft_distance`).
    pub soft_check: Option<SoftCheck>,
    /// Query files left out (undecodable, formats not read).
    pub skipped: usize,
}

/// Read the raw query codes, or encode the query images with a model that fits the index:
/// its width, and the model of the index's card where there is one.
pub fn read_queries(
    args: &Args,
    bits: usize,
    card: Option<&IndexCard>,
    ctx: &Ctx,
) -> anyhow::Result<Queries> {
    let (Some(query), Some(model)) = (&args.query, &args.model) else {
        let codes = match (&args.queries_raw_u64, &args.queries_npy) {
            (Some(raw), _) => read_raw_codes(raw, bits)?,
            (_, Some(npy)) => read_npy_codes(npy, Some(bits))
                .with_context(|| format!("queries of the index's {bits}-bit codes"))?,
            _ => {
                return Err(bad_input(
                    "give --queries-raw-u64, --queries-npy, or --query with --model",
                ));
            }
        };
        return Ok(Queries {
            codes,
            names: None,
            soft: None,
            flatness: Vec::new(),
            dedup_radius: None,
            soft_check: None,
            skipped: 0,
        });
    };
    let enc = check_model(args, model, bits, card)?;
    let encoded = encode_hash_codes(enc, model, query, BadFile::Skip, !ctx.quiet, None)?;
    report_skipped(&encoded.skipped);
    let info = encoded.encoder.info();
    Ok(Queries {
        dedup_radius: photo_radius(info),
        soft_check: info.soft_check,
        names: Some(encoded.shown_names(query)?),
        flatness: encoded
            .glances
            .iter()
            .map(|g| g.map(|g| g.flatness))
            .collect(),
        codes: encoded.codes,
        soft: encoded.soft,
        skipped: encoded.skipped.len(),
    })
}

/// The query model, opened: it must make codes of the index's width and, where the index has
/// a card, be the model that built it (by SHA-256): codes of two models are not comparable.
fn check_model(
    args: &Args,
    model: &Path,
    bits: usize,
    card: Option<&IndexCard>,
) -> anyhow::Result<Encoder> {
    let enc = open_model(model)?;
    if enc.task() == Task::Hash && enc.outputs() != bits {
        return Err(bad_input(format!(
            "{}: makes {}-bit codes, the index {} holds {bits}-bit codes",
            model.display(),
            enc.outputs(),
            args.index.display()
        )));
    }
    if let Some(card) = card {
        let sha = file_sha256(model)?;
        match card.model_match(&sha, enc.info()) {
            ModelMatch::SameFile => {}
            ModelMatch::SameCodes => errln!(
                "note: {} was built with {} (SHA-256 {}); {} makes the same codes \
                 (declared in imsat.same_codes_as)",
                args.index.display(),
                card.model,
                card.model_sha256,
                model.display()
            ),
            ModelMatch::Other => {
                return Err(bad_input(format!(
                    "{}: was built with {} (SHA-256 {}), not {} (SHA-256 {sha}): codes of \
                     two models are not comparable; search with --model {}",
                    args.index.display(),
                    card.model,
                    card.model_sha256,
                    model.display(),
                    card.model
                )));
            }
        }
    }
    if args.copies && enc.info().soft_check.is_none() && photo_radius(enc.info()).is_none() {
        return Err(bad_input(format!(
            "--copies: {} carries no dedup operating point (`imsat.dedup_radius`: training \
             measures it at FPR 1e-4 where a photo model's copies reach that point, or \
             `imsat train --radius` sets it); search with --radius",
            model.display()
        )));
    }
    Ok(enc)
}
