//! The index card reader (`src/cli/common/index_card.rs`: `read_card`, then the soft codes
//! and flatness `imsat search` / `index build --append` take from it) on arbitrary card
//! text beside a fixed index file: never panics; what it hands on matches the rows.

#![no_main]
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

mod codes_csv {
    pub fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

// The CLI's two helpers the card reader takes from its parent module (`super::`), at this
// crate's root, beside the reader itself.
pub fn bad_input(msg: impl Into<String>) -> anyhow::Error {
    anyhow::anyhow!(msg.into())
}

pub fn file_begins_with(path: &std::path::Path, magic: &[u8]) -> bool {
    use std::io::Read;
    let mut start = Vec::with_capacity(magic.len());
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
        && std::fs::File::open(path)
            .and_then(|f| f.take(magic.len() as u64).read_to_end(&mut start))
            .is_ok_and(|_| start == magic)
}

#[path = "../../src/cli/common/index_card.rs"]
mod index_card;

use index_card::{Card, card_path, read_card};

/// An "index" whose CRC-32 trailer reads 04030201 (only its last 4 bytes are read).
fn index() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let p = PathBuf::from(format!(
            "/dev/shm/imsat-fuzz-card-{}.idx",
            std::process::id()
        ));
        std::fs::write(&p, [0u8, 0, 0, 0, 1, 2, 3, 4]).unwrap();
        p
    })
}

#[derive(serde::Deserialize)]
struct Shape {
    bits: usize,
    names: Vec<serde_json::Value>,
}

fuzz_target!(|data: &[u8]| {
    let index = index();
    let card = card_path(index);
    std::fs::write(&card, data).unwrap();
    // The index's rows and width as the card claims them (when it parses), so that a card
    // can fit; any width an index can have.
    let (len, bits) = match serde_json::from_slice::<Shape>(data) {
        Ok(s) if (1..=imsat_runtime::code::MAX_BITS).contains(&s.bits) => (s.names.len(), s.bits),
        _ => (3, 64),
    };
    match read_card(index, len, bits).expect("the index is readable") {
        Card::None => panic!("the card was written"),
        Card::SetAside(why) => assert!(why.starts_with(&card.display().to_string()), "{why}"),
        Card::Fits(c) => {
            assert_eq!(c.names.len(), len);
            assert_eq!(c.bits, bits);
            if let Ok(Some(soft)) = c.soft_codes() {
                assert_eq!(soft.len(), len);
                for i in 0..soft.len() {
                    assert_eq!(soft.row(i).len(), bits);
                }
                if soft.len() >= 2 {
                    let _ = soft.distance(0, soft.len() - 1);
                }
            }
            if let Some(rows) = c.flatnesses() {
                assert_eq!(rows.len(), len);
            }
        }
    }
});
