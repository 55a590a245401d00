//! The shipped models and their cards say the same thing: each card's sizes and SHA-256s are
//! its files', and an int8 file rewritten in the current layout declares, in
//! `imsat.same_codes_as`, exactly the earlier files its card lists (an index built with one of
//! them is searched with it on that word alone).

use std::path::Path;

use imsat::runtime::encoder::Encoder;
use imsat::runtime::format::is_sha256;
use sha2::{Digest, Sha256};

const MODELS: [&str; 5] = ["cluster10", "hash16", "hash32", "hash64", "photo64"];

fn models_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/models"))
}

/// The card's table row that starts with `| {name} |`.
fn row<'a>(card: &'a str, name: &str) -> Option<&'a str> {
    card.lines().find(|l| l.starts_with(&format!("| {name} |")))
}

/// Every 64-hex-digit word in backticks in `text`, in order.
fn sha256s(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| is_sha256(w))
        .map(String::from)
        .collect()
}

#[test]
fn cards_name_their_files_and_int8_files_declare_their_earlier_files() {
    for name in MODELS {
        let card = std::fs::read_to_string(models_dir().join(format!("{name}.md"))).unwrap();
        let files = row(&card, "Files").unwrap_or_else(|| panic!("{name}.md: no Files row"));
        let listed = sha256s(row(&card, "SHA-256").expect("a SHA-256 row"));
        assert_eq!(listed.len(), 2, "{name}.md: f32 and int8 SHA-256s");
        for (file, sha) in [
            (format!("{name}.onnx"), &listed[0]),
            (format!("{name}.int8.onnx"), &listed[1]),
        ] {
            let bytes = std::fs::read(models_dir().join(&file)).unwrap();
            assert_eq!(
                &format!("{:x}", Sha256::digest(&bytes)),
                sha,
                "{name}.md: SHA-256 of {file}"
            );
            let size = files
                .split(&format!("`{file}` ("))
                .nth(1)
                .and_then(|rest| rest.split(" bytes").next())
                .and_then(|text| text.rsplit(", ").next())
                .map(|n| n.replace(',', ""))
                .unwrap_or_else(|| panic!("{name}.md: no size of {file}"));
            assert_eq!(size, bytes.len().to_string(), "{name}.md: size of {file}");
        }
        let earlier = row(&card, "Earlier int8 files").map(sha256s);
        let int8 = Encoder::open(models_dir().join(format!("{name}.int8.onnx"))).unwrap();
        let f32 = Encoder::open(models_dir().join(format!("{name}.onnx"))).unwrap();
        assert_eq!(
            int8.info().same_codes_as,
            earlier.unwrap_or_default(),
            "{name}: the earlier files the int8 file declares and those its card lists"
        );
        assert!(f32.info().same_codes_as.is_empty(), "{name}.onnx");
    }
}
