//! What an index's rows are, beside the index file: the file each code came from and the
//! model that encoded them (`lib.idx` -> `lib.idx.names.json`), so that `imsat search
//! --query photo.jpg` answers with file names and refuses a model whose codes mean something
//! else. The index file itself (the runtime's format, read on devices) holds ids and codes
//! only; this card is the command line's.
//!
//! The card names the index version it describes by the index file's own checksum (its
//! CRC-32 trailer): an index rebuilt, imported over or appended to without the card leaves
//! it describing another file, and it is then set aside with a warning, never trusted; an
//! append refuses to write over such a card (the names it holds would be lost). The two
//! files are written as one change ([`save_with_card`]).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use imsat_runtime::atomic_file::stage;
use imsat_runtime::dedup::{Flatness, Glance};
use imsat_runtime::format::ModelInfo;
use imsat_runtime::index::Index;
use imsat_runtime::soft_code::SoftCodes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::bad_input;

/// The `format` of every card this build writes and reads.
pub const FORMAT: &str = "imsat index names 1";

/// The rows of an index file: their files and the model that encoded them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexCard {
    /// Always [`FORMAT`]; a JSON file without it is not ours and is never replaced.
    pub format: String,
    /// The CRC-32 trailer of the index file this card describes (hex).
    pub index_crc32: String,
    /// Code width of the index.
    pub bits: usize,
    /// The model's absolute path when the index was built (for messages).
    pub model: String,
    /// SHA-256 of the model file (hex), as the model cards list it.
    pub model_sha256: String,
    /// The files whose codes that model declares it makes (its `imsat.same_codes_as`):
    /// they search and extend the index too, as an earlier int8 file kept on a device does
    /// with an index built with its successor. Absent when it declares none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_same_codes_as: Vec<String>,
    /// Row i's file as an absolute path (`/photos/a.jpg`, or `/data/x.idx#17` for row 17 of
    /// an IDX or `.npy` file), in row order; `None` for rows added without a card (`imsat
    /// index import`).
    pub names: Vec<Option<String>>,
    /// Every row's soft code ([`SoftCodes::to_le_bytes`], base64), for a model with a soft
    /// check: `imsat search --copies` confirms candidates with it as `imsat dedup` does.
    /// Absent when any row lacks one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_f16_le_base64: Option<String>,
    /// Every row's flatness ([`flatness_text`]: `#rrggbb` for a plain picture, `faint`,
    /// `detailed`), for a photo model: `--copies` pairs plain pictures as `imsat dedup` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flatness: Option<Vec<Option<String>>>,
}

/// How a model file stands to the model an index card names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelMatch {
    /// The very file (the same SHA-256).
    SameFile,
    /// Another file of the same codes: it declares the card's SHA-256 in
    /// `imsat.same_codes_as` (an int8 file rewritten in the current layout), or the card's
    /// model declares its SHA-256 (the earlier file, searching an index built with the newer).
    SameCodes,
    /// Another model: its codes are not comparable with the index's.
    Other,
}

impl IndexCard {
    /// How the model file of SHA-256 `sha` and metadata `info` stands to the card's model.
    pub fn model_match(&self, sha: &str, info: &ModelInfo) -> ModelMatch {
        if sha.eq_ignore_ascii_case(&self.model_sha256) {
            ModelMatch::SameFile
        } else if info.declares_same_codes_as(&self.model_sha256)
            || self
                .model_same_codes_as
                .iter()
                .any(|declared| declared.eq_ignore_ascii_case(sha))
        {
            ModelMatch::SameCodes
        } else {
            ModelMatch::Other
        }
    }

    /// The soft codes, decoded and checked against the rows (`Ok(None)` when there are none;
    /// an error says why they cannot be used, the names still can).
    pub fn soft_codes(&self) -> Result<Option<SoftCodes>, String> {
        let Some(text) = &self.soft_f16_le_base64 else {
            return Ok(None);
        };
        let bytes = BASE64
            .decode(text)
            .map_err(|e| format!("its soft codes are not base64 ({e})"))?;
        let soft = SoftCodes::from_le_bytes(self.bits, &bytes)
            .map_err(|e| format!("its soft codes are damaged ({e})"))?;
        if soft.len() != self.names.len() {
            return Err(format!(
                "it holds soft codes of {} rows for {} names",
                soft.len(),
                self.names.len()
            ));
        }
        Ok(Some(soft))
    }

    /// The card without rows `gone` (ascending, numbered as [`Index::remove`] returns
    /// them): names, soft codes and flatness lose the same rows. Soft codes that cannot be
    /// read are dropped with a warning, as an append drops them.
    pub fn remove_rows(&mut self, gone: &[usize]) {
        let kept: Vec<usize> = (0..self.names.len())
            .filter(|row| gone.binary_search(row).is_err())
            .collect();
        let soft = self
            .soft_codes_or_warn()
            .and_then(|soft| soft_rows(&soft, &kept).ok());
        self.set_soft(soft.as_ref());
        self.flatness = (self.flatness.take())
            .filter(|f| f.len() == self.names.len())
            .map(|f| kept.iter().map(|&row| f[row].clone()).collect());
        self.names = kept.iter().map(|&row| self.names[row].clone()).collect();
    }

    /// The soft codes, or none, said as a warning where they cannot be used: what an index
    /// rewritten from this card keeps.
    pub fn soft_codes_or_warn(&self) -> Option<SoftCodes> {
        self.soft_codes().unwrap_or_else(|why| {
            errln!("warning: {why}; the index keeps no soft codes");
            None
        })
    }

    /// Store `soft` (one row per name), or none.
    pub fn set_soft(&mut self, soft: Option<&SoftCodes>) {
        self.soft_f16_le_base64 = soft.map(|s| BASE64.encode(s.to_le_bytes()));
    }

    /// Each row's flatness, where the card holds one per row (`None` for a row's unknown or
    /// unreadable entry).
    pub fn flatnesses(&self) -> Option<Vec<Option<Flatness>>> {
        let rows = self.flatness.as_ref()?;
        (rows.len() == self.names.len()).then(|| {
            rows.iter()
                .map(|t| t.as_deref().and_then(parse_flatness))
                .collect()
        })
    }
}

/// Rows `rows` of `soft`, in that order.
pub fn soft_rows(soft: &SoftCodes, rows: &[usize]) -> imsat_runtime::error::Result<SoftCodes> {
    let bytes: Vec<u8> = (rows.iter())
        .flat_map(|&i| soft.row(i).iter().flat_map(|v| v.to_le_bytes()))
        .collect();
    SoftCodes::from_le_bytes(soft.bits(), &bytes)
}

/// A glance's flatness as the card keeps it: `#rrggbb` (plain, its colour), `faint` or
/// `detailed`; `None` for no glance.
pub fn flatness_text(glance: Option<Glance>) -> Option<String> {
    Some(match glance?.flatness {
        Flatness::Plain([r, g, b]) => format!("#{r:02x}{g:02x}{b:02x}"),
        Flatness::Faint => "faint".into(),
        Flatness::Detailed => "detailed".into(),
    })
}

/// [`flatness_text`] read back.
fn parse_flatness(text: &str) -> Option<Flatness> {
    match text {
        "faint" => Some(Flatness::Faint),
        "detailed" => Some(Flatness::Detailed),
        _ => {
            let hex = text.strip_prefix('#').filter(|h| h.len() == 6)?;
            let channel = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
            Some(Flatness::Plain([channel(0)?, channel(2)?, channel(4)?]))
        }
    }
}

/// The card's path: the index file's path with `.names.json` appended; for an index reached
/// through a symbolic link, beside the file it leads to (index writes go through links, so
/// the card follows the codes it names).
/// Otherwise the path as given, so that a summary names the card as the index is named (a
/// rebuilt index's card was named by its absolute path, a new one's as given).
pub fn card_path(index: &Path) -> PathBuf {
    let linked = std::fs::symlink_metadata(index).is_ok_and(|m| m.file_type().is_symlink());
    let real = match linked {
        true => index.canonicalize().unwrap_or_else(|_| index.to_path_buf()),
        false => index.to_path_buf(),
    };
    let mut p = real.into_os_string();
    p.push(".names.json");
    PathBuf::from(p)
}

/// How every card imsat writes begins (its first field, `format`).
pub const CARD_START: &[u8] = b"{\"format\":\"imsat index names";

/// Whether the file at `path` is an index card: it begins as imsat writes one (only those
/// bytes are read: an `--out` checked is often a large index file).
fn is_card(path: &Path) -> bool {
    super::file_begins_with(path, CARD_START)
}

/// Refuse an output `path` that is an existing index card: writing an index, codes or a
/// faiss file there would leave its index without names.
pub fn check_not_a_card(path: &Path, flag: &str) -> anyhow::Result<()> {
    if !is_card(path) {
        return Ok(());
    }
    Err(bad_input(format!(
        "{flag} {}: is the card of names of an index (written by `imsat index build`), which \
         writing would replace; give the index's own path, or another name",
        path.display()
    )))
}

/// SHA-256 of a file, hex.
pub fn file_sha256(path: &Path) -> anyhow::Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(crate::codes_csv::hex(&hasher.finalize()))
}

/// The CRC-32 trailer of an index file (its last four bytes, little-endian), hex: it covers
/// every byte before it, so it names this version of the file.
pub fn index_crc32(index: &Path) -> anyhow::Result<String> {
    let read = || -> std::io::Result<u32> {
        let mut f = std::fs::File::open(index)?;
        f.seek(SeekFrom::End(-4))?;
        let mut b = [0u8; 4];
        f.read_exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    };
    let crc = read().with_context(|| format!("{}: cannot read its checksum", index.display()))?;
    Ok(format!("{crc:08x}"))
}

/// What [`read_card`] found beside an index.
#[derive(Debug)]
pub enum Card {
    /// No card: an index from `imsat index import`, or built before cards.
    None,
    /// A card of this version of the index.
    Fits(IndexCard),
    /// A card that cannot be used, and why (said as a warning; the index is still searched).
    SetAside(String),
}

/// The card beside `index` (of `len` codes of `bits`), checked against it.
pub fn read_card(index: &Path, len: usize, bits: usize) -> anyhow::Result<Card> {
    let path = card_path(index);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Card::None),
        Err(e) => {
            return Ok(Card::SetAside(format!(
                "{}: cannot read it ({e})",
                path.display()
            )));
        }
    };
    let card: IndexCard = match serde_json::from_str(&text) {
        Ok(c) => c,
        Err(e) => {
            return Ok(Card::SetAside(format!(
                "{}: not an index card ({e})",
                path.display()
            )));
        }
    };
    let crc = index_crc32(index)?;
    let why = if card.format != FORMAT {
        Some(format!("its format is {:?}, not {FORMAT:?}", card.format))
    } else if !card.index_crc32.eq_ignore_ascii_case(&crc) {
        Some(format!(
            "it describes another version of {} (checksum {}, the file's is {crc}): the index \
             was rebuilt, imported over or appended to without it",
            index.display(),
            card.index_crc32
        ))
    } else if card.names.len() != len || card.bits != bits {
        Some(format!(
            "it names {} rows of {} bits, the index holds {len} of {bits}",
            card.names.len(),
            card.bits
        ))
    } else {
        None
    };
    if let Some(why) = why {
        return Ok(Card::SetAside(format!("{}: {why}", path.display())));
    }
    Ok(Card::Fits(card))
}

/// Write `index` to `out` and `card` beside it as one change: both go to synced temporary
/// files first and are then renamed into place, so a write that fails (a full disk) leaves
/// the old index and its card as they were. The card is given the new file's checksum. A
/// file at the card's path that is not a card is never replaced: that is an error naming it.
/// An index written into a device or a pipe (`--out /dev/null`) leaves no file to name, so
/// it gets no card (one would land in `/dev`). Returns the card's path, if written.
pub fn save_with_card(
    index: &Index,
    out: &Path,
    mut card: IndexCard,
) -> anyhow::Result<Option<PathBuf>> {
    let writing = |p: &Path| format!("writing {}", p.display());
    let Some(path) = card_to_write(out)? else {
        index.save(out).with_context(|| writing(out))?;
        return Ok(None);
    };
    let (staged_index, crc) = index.stage(out).with_context(|| writing(out))?;
    card.index_crc32 = format!("{crc:08x}");
    let bytes = serde_json::to_vec(&card)?;
    let staged_card = stage(&path, |w| w.write_all(&bytes)).with_context(|| writing(&path))?;
    // One step for a signal's cleanup, which would otherwise remove the card staged while
    // the index was already in place.
    imsat_runtime::atomic_file::commit_together(vec![staged_index, staged_card])
        .with_context(|| format!("writing {} and {}", out.display(), path.display()))?;
    Ok(Some(path))
}

/// Where the card of the index `out` goes, checked to be replaceable ([`check_replaceable`]);
/// none for an index written into standard output, a device or a pipe, which has no file
/// to name. Called before a folder is encoded too, so that a card that cannot be written
/// fails first.
pub fn card_to_write(out: &Path) -> anyhow::Result<Option<PathBuf>> {
    if imsat_runtime::atomic_file::is_written_into(out) {
        return Ok(None);
    }
    let path = card_path(out);
    check_replaceable(&path)?;
    Ok(Some(path))
}

/// Whether the card path may be (re)written: absent, or an earlier card that is a file of
/// its own. Checked before the index is written, so that a card that cannot be written
/// never leaves a new index beside it.
fn check_replaceable(path: &Path) -> anyhow::Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let why = if meta.file_type().is_symlink() {
        "is a symbolic link (a card is a file of its own, beside its index)"
    } else if meta.is_dir() {
        "is a folder"
    } else if !is_card(path) {
        "exists and is not an imsat index card"
    } else {
        return Ok(());
    };
    Err(bad_input(format!(
        "{}: {why}, which writing the index's names would replace; move it, or give the \
         index another name",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use imsat_runtime::code::Codes;

    fn index_of(dir: &Path, codes: &[u64]) -> (Index, PathBuf) {
        let path = dir.join("lib.idx");
        let index = Index::from_codes(Codes::from_words(64, codes.to_vec()).unwrap());
        index.save(&path).unwrap();
        (index, path)
    }

    fn card_for(index: &Path, n: usize) -> IndexCard {
        IndexCard {
            format: FORMAT.into(),
            index_crc32: index_crc32(index).unwrap(),
            bits: 64,
            model: "m.onnx".into(),
            model_sha256: "00".into(),
            model_same_codes_as: Vec::new(),
            names: (0..n).map(|i| Some(format!("p/{i}.jpg"))).collect(),
            soft_f16_le_base64: None,
            flatness: None,
        }
    }

    #[test]
    fn a_model_matches_a_card_by_its_file_or_a_declaration_either_way() {
        use imsat_runtime::format::{Input, Task};
        let info = |declares: &[&str]| ModelInfo {
            task: Task::Hash,
            outputs: 64,
            input_shape: vec![28, 28],
            int8: true,
            report: String::new(),
            view: None,
            input: Input::Pixels,
            dedup_radius: None,
            soft_check: None,
            same_codes_as: declares.iter().map(|s| s.to_string()).collect(),
        };
        let (old, new, other) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
        let card = |sha: &str, declares: &[&str]| IndexCard {
            format: FORMAT.into(),
            index_crc32: "00000000".into(),
            bits: 64,
            model: "m.onnx".into(),
            model_sha256: sha.into(),
            model_same_codes_as: declares.iter().map(|s| s.to_string()).collect(),
            names: Vec::new(),
            soft_f16_le_base64: None,
            flatness: None,
        };
        let built_with_old = card(&old, &[]);
        assert_eq!(
            built_with_old.model_match(&old.to_uppercase(), &info(&[])),
            ModelMatch::SameFile
        );
        assert_eq!(
            built_with_old.model_match(&new, &info(&[&old])),
            ModelMatch::SameCodes
        );
        assert_eq!(
            built_with_old.model_match(&new, &info(&[&other])),
            ModelMatch::Other
        );
        // The newer file's card names what it declares: the earlier file searches it too.
        let built_with_new = card(&new, &[&old.to_uppercase()]);
        assert_eq!(
            built_with_new.model_match(&old, &info(&[])),
            ModelMatch::SameCodes
        );
        assert_eq!(
            built_with_new.model_match(&other, &info(&[])),
            ModelMatch::Other
        );
    }

    #[test]
    fn a_card_fits_its_index_and_is_set_aside_when_the_index_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (codes, index) = index_of(dir.path(), &[1, 2, 3]);
        let write_card =
            |index: &Path, card: &IndexCard| save_with_card(&codes, index, card.clone());
        assert!(matches!(read_card(&index, 3, 64).unwrap(), Card::None));
        let card = card_for(&index, 3);
        write_card(&index, &card).unwrap();
        match read_card(&index, 3, 64).unwrap() {
            Card::Fits(c) => assert_eq!(c, card),
            other => panic!("{other:?}"),
        }
        // Soft codes are kept, checked against the rows; damaged ones leave the names.
        let soft = SoftCodes::from_logits(64, &[0.5; 3 * 64]).unwrap();
        let mut with_soft = card.clone();
        with_soft.set_soft(Some(&soft));
        write_card(&index, &with_soft).unwrap();
        let read = |index: &Path| match read_card(index, 3, 64).unwrap() {
            Card::Fits(c) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(read(&index).soft_codes(), Ok(Some(soft)));
        with_soft.set_soft(Some(&SoftCodes::from_logits(64, &[0.5; 2 * 64]).unwrap()));
        write_card(&index, &with_soft).unwrap();
        let why = read(&index).soft_codes().unwrap_err();
        assert!(why.contains("soft codes of 2 rows"), "{why}");
        with_soft.soft_f16_le_base64 = Some("not base64!".into());
        write_card(&index, &with_soft).unwrap();
        assert!(read(&index).soft_codes().is_err());
        assert_eq!(read(&index).names, card.names);
        write_card(&index, &card).unwrap();
        // The same number of codes, other values: another version of the file.
        index_of(dir.path(), &[1, 2, 4]);
        match read_card(&index, 3, 64).unwrap() {
            Card::SetAside(why) => assert!(why.contains("another version"), "{why}"),
            other => panic!("{other:?}"),
        }
        std::fs::write(card_path(&index), b"{not json").unwrap();
        assert!(matches!(
            read_card(&index, 3, 64).unwrap(),
            Card::SetAside(_)
        ));
    }

    #[test]
    fn flatness_is_kept_as_text_and_read_back() {
        use imsat_runtime::dedup::{Flatness, Glance};
        for flatness in [
            Flatness::Plain([0, 128, 255]),
            Flatness::Faint,
            Flatness::Detailed,
        ] {
            let text = flatness_text(Some(Glance {
                flatness,
                colour: true,
            }));
            assert_eq!(parse_flatness(text.as_deref().unwrap()), Some(flatness));
        }
        assert_eq!(flatness_text(None), None);
        for bad in ["#12345", "#gg0000", "plain", ""] {
            assert_eq!(parse_flatness(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_file_that_is_not_a_card_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let (_, index) = index_of(dir.path(), &[7]);
        let before = std::fs::read(&index).unwrap();
        let theirs = card_path(&index);
        std::fs::write(&theirs, b"{\"mine\": true}").unwrap();
        let other = Index::from_codes(Codes::from_words(64, vec![8, 9]).unwrap());
        let err = save_with_card(&other, &index, card_for(&index, 2)).unwrap_err();
        assert!(err.to_string().contains("not an imsat index card"), "{err}");
        assert_eq!(std::fs::read(&theirs).unwrap(), b"{\"mine\": true}");
        // Nor is the index beside it, nor is a temporary file left.
        assert_eq!(std::fs::read(&index).unwrap(), before);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn sha256_of_a_known_input() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            file_sha256(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
