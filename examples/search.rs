//! Hamming search on the device side: pack codes, build an index, save and reload it,
//! answer k-NN and radius queries (radius through multi-index hashing), and add and remove
//! entries as the library they stand for changes.
//!
//! `cargo run --release --example search`

use imsat::runtime::code::Codes;
use imsat::runtime::index::Index;

/// Errors are said in words (their `Display`: the file and what is wrong), as an app would
/// say them; `main` returning the error would print its `Debug` form.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // 100,000 pseudo-random 64-bit codes (xorshift), as an encoder would produce them.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let words: Vec<u64> = (0..100_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        })
        .collect();
    let index = Index::from_codes(Codes::from_words(64, words)?);
    let path = std::env::temp_dir().join("imsat-example.idx");
    index.save(&path)?; // temporary file + rename: an old index is never half-overwritten
    let index = Index::load(&path)?;

    // A query 2 bits away from code 4242.
    let query = [index.codes().get(4242).expect("code 4242")[0] ^ 0b101];
    let nearest = index.knn(&query, 5)?;
    println!("5 nearest: {nearest:?}");
    assert_eq!((nearest[0].id, nearest[0].distance), (4242, 2));

    let mih = index.mih()?;
    let close = index.mih_radius(&mih, &query, 3)?;
    println!("within radius 3: {close:?}");
    assert_eq!(close, index.radius(&query, 3)?); // exact: same answer as the linear scan

    // The library changes: photo 4242 is deleted and a new one is added under a new id. The
    // rows `remove` returns are those to drop from whatever the app keeps beside each row.
    let mut index = index;
    let gone = index.remove(&[4242]);
    assert_eq!(gone, vec![4242]);
    let new_code = Codes::from_words(64, vec![query[0]])?;
    index.extend(&[100_000], &new_code)?;
    let nearest = index.knn(&query, 1)?;
    println!("after the change: {nearest:?}");
    assert_eq!((nearest[0].id, nearest[0].distance), (100_000, 0));
    index.save(&path)?;
    Ok(())
}
