//! The index file reader, in memory and streaming from a file, on arbitrary bytes: both
//! must agree, never panic, and a file they accept must write back byte for byte.

#![no_main]

use std::sync::OnceLock;

use imsat_runtime::index::Index;
use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static std::path::Path {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("imsat-fuzz-index-{}.idx", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    check(data);
    // Random bytes almost never carry a valid CRC, which hides everything checked after it
    // (id order, padding bits): also try the bytes with their checksum made right.
    if data.len() >= 28 {
        let mut fixed = data.to_vec();
        let body = fixed.len() - 4;
        let crc = crc32fast::hash(&fixed[..body]);
        fixed[body..].copy_from_slice(&crc.to_le_bytes());
        check(&fixed);
    }
});

fn check(data: &[u8]) {
    let parsed = Index::from_bytes(data);

    // The streaming reader (`Index::load`) has its own code path: same verdict, same index.
    std::fs::write(scratch(), data).unwrap();
    match (&parsed, Index::load(scratch())) {
        (Ok(a), Ok(b)) => assert_eq!(a, &b),
        (Err(a), Err(imsat_runtime::index::FileError::Format { source, .. })) => {
            assert_eq!(a, &source)
        }
        (a, b) => panic!("from_bytes {a:?} but load {b:?}"),
    }

    if let Ok(index) = parsed {
        assert_eq!(index.to_bytes(), data, "accepted bytes must round-trip");
        assert_eq!(index.byte_len(), data.len());
        let ids: Vec<u64> = index.ids().collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        if let Some(first) = index.codes().get(0) {
            let first = first.to_vec();
            let near = index.knn(&first, 3).unwrap();
            assert_eq!(near[0].distance, 0);
            assert!(
                index
                    .radius(&first, 0)
                    .unwrap()
                    .iter()
                    .any(|n| n.id == ids[0])
            );
        }
    }
}
