//! The index file format: round trips, every kind of damage as a typed error, atomic
//! save/append, and the memory bound.

use imsat_runtime::code::MAX_BITS;
#[cfg(feature = "std")]
use imsat_runtime::index::{self, FileError};
use imsat_runtime::index::{FormatError, HEADER_LEN};
use imsat_runtime::prelude::*;

fn sample(n: usize, bits: usize) -> Codes {
    let wpc = bits.div_ceil(64);
    let mut s = 12345u64;
    let mask = if bits.is_multiple_of(64) {
        u64::MAX
    } else {
        (1 << (bits % 64)) - 1
    };
    let mut words: Vec<u64> = (0..n * wpc)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s ^ (s >> 29)
        })
        .collect();
    for c in words.chunks_exact_mut(wpc) {
        c[wpc - 1] &= mask;
    }
    Codes::from_words(bits, words).unwrap()
}

/// Rewrites the trailing checksum so that only the intended damage is seen.
fn fix_crc(bytes: &mut [u8]) {
    let n = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..n]);
    bytes[n..].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn round_trip_and_layout() {
    for bits in [1usize, 7, 64, 65, 200, 256] {
        let index = Index::new((0..40).map(|i| i * 3 + 1).collect(), sample(40, bits)).unwrap();
        let bytes = index.to_bytes();
        assert_eq!(bytes.len(), index.byte_len());
        assert_eq!(&bytes[..8], b"IMSATIDX");
        assert_eq!((bytes.len() - 4) % 8, 0, "sections are 8-byte aligned");
        assert_eq!(Index::from_bytes(&bytes).unwrap(), index);
    }
    let empty = Index::from_codes(Codes::new(10).unwrap());
    assert_eq!(Index::from_bytes(&empty.to_bytes()).unwrap(), empty);
}

#[test]
fn every_damage_is_a_typed_error() {
    let index = Index::new((0..10).map(|i| i * 2).collect(), sample(10, 70)).unwrap();
    let good = index.to_bytes();

    // Every truncation and every single-byte change is rejected, none panics.
    for len in 0..good.len() {
        assert!(
            Index::from_bytes(&good[..len]).is_err(),
            "truncated to {len}"
        );
    }
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x10;
        assert!(Index::from_bytes(&bad).is_err(), "byte {i} flipped");
    }
    assert!(matches!(
        Index::from_bytes(&good[..10]),
        Err(FormatError::TooShort { len: 10 })
    ));
    assert!(matches!(
        Index::from_bytes(&good[..good.len() - 1]),
        Err(FormatError::Truncated {
            count: 10,
            bits: 70,
            ..
        })
    ));
    let mut long = good.clone();
    long.push(0);
    assert!(matches!(
        Index::from_bytes(&long),
        Err(FormatError::TrailingBytes { extra: 1, .. })
    ));

    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(matches!(
        Index::from_bytes(&bad),
        Err(FormatError::BadMagic { .. })
    ));
    let mut bad = good.clone();
    bad[8] = 2;
    assert!(matches!(
        Index::from_bytes(&bad),
        Err(FormatError::Version { found: 2 })
    ));
    let mut bad = good.clone();
    bad[12..16].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(
        Index::from_bytes(&bad),
        Err(FormatError::Bits { bits: 0 })
    ));
    let mut bad = good.clone();
    bad[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Index::from_bytes(&bad),
        Err(FormatError::Bits { .. })
    ));
    // A huge count must be caught from the size, before anything is allocated.
    let mut bad = good.clone();
    bad[16..24].copy_from_slice(&(u64::MAX / 4).to_le_bytes());
    assert!(matches!(
        Index::from_bytes(&bad),
        Err(FormatError::Count { .. })
    ));
    let mut bad = good.clone();
    bad[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(
        Index::from_bytes(&bad),
        Err(FormatError::Truncated { .. })
    ));
    let mut bad = good.clone();
    bad[30] ^= 1;
    assert!(matches!(
        Index::from_bytes(&bad),
        Err(FormatError::Checksum { .. })
    ));

    // Damage with a valid checksum: ids out of order, padding bits set.
    let mut bad = good.clone();
    bad[HEADER_LEN + 8..HEADER_LEN + 16].copy_from_slice(&0u64.to_le_bytes());
    fix_crc(&mut bad);
    assert!(matches!(
        Index::from_bytes(&bad),
        Err(FormatError::IdsNotAscending { row: 1, .. })
    ));
    let mut bad = good.clone();
    let codes_at = HEADER_LEN + 10 * 8;
    bad[codes_at + 8 * 3 + 7] = 0x80; // code 1, second word, bit 127 > 70
    fix_crc(&mut bad);
    assert!(matches!(
        Index::from_bytes(&bad),
        Err(FormatError::Padding { row: 1, bits: 70 })
    ));
    // Messages name the problem.
    let msg = Index::from_bytes(&bad).unwrap_err().to_string();
    assert!(msg.contains("row 1"), "{msg}");
}

#[test]
fn bad_construction_is_an_error() {
    let codes = sample(3, 64);
    assert_eq!(
        Index::new(vec![1, 2], codes.clone()),
        Err(Error::IdCount { ids: 2, codes: 3 })
    );
    assert_eq!(
        Index::new(vec![5, 1, 5], codes.clone()),
        Err(Error::DuplicateId(5))
    );
    let mut index = Index::new(vec![9, 3, 6], codes.clone()).unwrap();
    assert_eq!(index.ids().collect::<Vec<_>>(), vec![3, 6, 9]);
    assert_eq!(index.code_of(9), codes.get(0));
    assert_eq!(index.row_of(4), None);
    assert_eq!(
        index.extend(&[6], &sample(1, 64)),
        Err(Error::DuplicateId(6))
    );
    assert!(index.extend(&[7], &sample(1, 65)).is_err());
    index.extend(&[1, 100], &sample(2, 64)).unwrap();
    assert_eq!(index.ids().collect::<Vec<_>>(), vec![1, 3, 6, 9, 100]);
}

#[cfg(feature = "std")]
fn dir_entries(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[cfg(feature = "std")]
#[test]
fn save_load_append_are_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("codes.idx");
    let index = Index::from_codes(sample(100, 128));
    index.save(&path).unwrap();
    assert_eq!(Index::load(&path).unwrap(), index);
    assert_eq!(std::fs::read(&path).unwrap(), index.to_bytes());

    // Ids that start as the rows and then depart from them survive the trip.
    for ids in [
        vec![0u64, 1, 2, 7, 9],
        vec![3, 4, 5, 6, 7],
        vec![0, 1, 2, 3, 4],
    ] {
        let other = Index::new(ids.clone(), sample(5, 128)).unwrap();
        let p = dir.path().join("ids.idx");
        other.save(&p).unwrap();
        let back = Index::load(&p).unwrap();
        assert_eq!(back, other);
        assert_eq!(back.ids().collect::<Vec<_>>(), ids);
        std::fs::remove_file(&p).unwrap();
    }

    let merged = index::append(&path, &[100, 101], &sample(2, 128)).unwrap();
    assert_eq!(merged.len(), 102);
    assert_eq!(Index::load(&path).unwrap(), merged);
    assert_eq!(
        dir_entries(dir.path()),
        vec!["codes.idx".to_string()],
        "no temporary files left"
    );

    // A failing append (duplicate id, wrong width) leaves the old file as it was.
    let before = std::fs::read(&path).unwrap();
    let err = index::append(&path, &[5], &sample(1, 128)).unwrap_err();
    assert!(matches!(err, FileError::Invalid { .. }));
    assert!(
        err.to_string().contains("codes.idx") && err.to_string().contains("duplicate id 5"),
        "{err}"
    );
    assert!(index::append(&path, &[500], &sample(1, 64)).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(dir_entries(dir.path()), vec!["codes.idx".to_string()]);

    // A write that cannot happen leaves the old file alone too.
    let missing = dir.path().join("no/such/dir/x.idx");
    let err = index.save(&missing).unwrap_err();
    // Said as every other write is (`write_atomic`'s): the file, the step, the OS's words.
    let other = imsat_runtime::atomic_file::write_atomic(&missing, b"x").unwrap_err();
    assert_eq!(err.to_string(), other.to_string());
    assert!(
        err.to_string()
            .starts_with(&format!("{}: cannot create: ", missing.display())),
        "{err}"
    );
    assert!(
        index.save(dir.path()).is_err(),
        "a directory is not a file name"
    );
}

#[cfg(feature = "std")]
#[test]
fn load_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.idx");
    let err = Index::load(&path).unwrap_err();
    assert!(matches!(err, FileError::Io { .. }));
    assert!(err.to_string().contains("broken.idx"), "{err}");

    let mut bytes = Index::from_codes(sample(20, 64)).to_bytes();
    for (len, what) in [(5, "too short"), (bytes.len() - 3, "truncated")] {
        std::fs::write(&path, &bytes[..len]).unwrap();
        let err = Index::load(&path).unwrap_err();
        assert!(matches!(err, FileError::Format { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("broken.idx") && msg.contains(what), "{msg}");
    }
    let last = bytes.len() - 10;
    bytes[last] ^= 4;
    std::fs::write(&path, &bytes).unwrap();
    let msg = Index::load(&path).unwrap_err().to_string();
    assert!(
        msg.contains("broken.idx") && msg.contains("checksum"),
        "{msg}"
    );
}

/// `Index::load` of a pipe (`search --index <(...)`, `/dev/stdin`): the stream has no size to
/// check the header against first, and must give what a file of the same bytes gives.
#[cfg(all(feature = "std", target_os = "linux"))]
#[test]
fn an_index_is_read_from_a_pipe_as_from_a_file() {
    use std::io::Write;
    use std::os::fd::AsRawFd;

    fn through_pipe(bytes: &[u8]) -> Result<Index, FileError> {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let path = format!("/proc/self/fd/{}", reader.as_raw_fd());
        std::thread::scope(|s| {
            // The writer stops quietly where the reader stops early (a bad header).
            s.spawn(move || writer.write_all(bytes).ok());
            let loaded = Index::load(&path);
            drop(reader);
            loaded
        })
    }

    let index = Index::new((0..300).map(|i| i * 5).collect(), sample(300, 70)).unwrap();
    let good = index.to_bytes();
    assert_eq!(through_pipe(&good).unwrap(), index);
    // Larger than a pipe's buffer, so the writer blocks until the reader takes it.
    let big = Index::from_codes(sample(20_000, 64));
    assert_eq!(through_pipe(&big.to_bytes()).unwrap(), big);

    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 1000]);
    let mut damaged = good.clone();
    damaged[HEADER_LEN + 3] ^= 1;
    let cases: [(&[u8], &str); 5] = [
        (&good[..10], "10 bytes is too short"),
        (&good[..good.len() - 1], "truncated"),
        (&longer, "1000 unexpected bytes"),
        (&damaged, "checksum"),
        (b"not an index at all, just some text", "bad magic"),
    ];
    for (bytes, what) in cases {
        let err = through_pipe(bytes).unwrap_err();
        assert!(matches!(err, FileError::Format { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("/proc/self/fd/") && msg.contains(what),
            "{what}: {msg}"
        );
    }
}

#[test]
fn memory_stays_within_ten_percent_of_the_bits() {
    for bits in [64usize, 128, 256, 512] {
        let n = 20_000;
        let payload = n * bits / 8;
        let index = Index::from_codes(sample(n, bits));
        #[cfg_attr(not(feature = "std"), allow(unused_mut))]
        let mut loaded = vec![Index::from_bytes(&index.to_bytes()).unwrap()];
        #[cfg(feature = "std")]
        {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("m.idx");
            index.save(&path).unwrap();
            loaded.push(Index::load(&path).unwrap());
        }
        for l in loaded {
            let bytes = l.codes().heap_bytes() + std::mem::size_of::<Index>();
            assert!(
                bytes as f64 <= 1.1 * payload as f64,
                "{bits} bits: {bytes} > 1.1 x {payload}"
            );
        }
        // Codes built one by one are trimmed back to the bound.
        let mut pushed = Codes::new(bits).unwrap();
        for c in index.codes() {
            pushed.push(c).unwrap();
        }
        pushed.shrink_to_fit();
        assert!(pushed.heap_bytes() as f64 <= 1.1 * payload as f64);
        // The multi-index adds its tables on top: about 9 bytes per code and table.
        let mih = index.mih().unwrap();
        assert!(
            mih.table_bytes() <= n * mih.substrings() * 10 + 4096,
            "{}",
            mih.table_bytes()
        );
    }
}

/// A file of exactly a header, built by hand from the documented layout (magic, version 1,
/// width, count), with `body` after it and the CRC-32 of all of it as the trailer.
fn hand_built(bits: u32, count: u64, body: &[u8]) -> Vec<u8> {
    let mut bytes = b"IMSATIDX".to_vec();
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&bits.to_le_bytes());
    bytes.extend_from_slice(&count.to_le_bytes());
    bytes.extend_from_slice(body);
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

/// The edges of the header checks: a header alone is a truncated file (the size the layout
/// gives is 24 + 8 n (1 + w) + 4), not one too short for its header; the widest width is
/// read, one more is not; the bytes past the end are counted, however many.
#[test]
fn header_checks_at_their_edges() {
    let good = Index::new((0..10).map(|i| i * 2).collect(), sample(10, 70))
        .unwrap()
        .to_bytes();
    let total = 24 + 8 * 10 * (1 + 2) + 4;
    assert_eq!(good.len() as u64, total);
    let truncated = FormatError::Truncated {
        count: 10,
        bits: 70,
        expected: total,
        found: 24,
    };
    assert_eq!(
        Index::from_bytes(&good[..HEADER_LEN]),
        Err(truncated.clone())
    );
    assert_eq!(
        Index::from_bytes(&good[..HEADER_LEN - 1]),
        Err(FormatError::TooShort { len: 23 })
    );
    for extra in [1u64, 2, 9, 300] {
        let mut long = good.clone();
        long.resize(good.len() + extra as usize, 0);
        assert_eq!(
            Index::from_bytes(&long),
            Err(FormatError::TrailingBytes {
                expected: total,
                extra
            })
        );
    }

    let widest = MAX_BITS as u32;
    let empty = Index::from_bytes(&hand_built(widest, 0, &[])).unwrap();
    assert_eq!((empty.bits(), empty.len()), (MAX_BITS, 0));
    assert_eq!(
        Index::from_bytes(&hand_built(widest + 1, 0, &[])),
        Err(FormatError::Bits { bits: widest + 1 })
    );

    #[cfg(feature = "std")]
    {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge.idx");
        let mut long = good.clone();
        long.resize(good.len() + 9, 0);
        let cases = [
            (&good[..HEADER_LEN], truncated),
            (&good[..HEADER_LEN - 1], FormatError::TooShort { len: 23 }),
            (
                &long[..],
                FormatError::TrailingBytes {
                    expected: total,
                    extra: 9,
                },
            ),
        ];
        for (bytes, want) in cases {
            std::fs::write(&path, bytes).unwrap();
            match Index::load(&path) {
                Err(FileError::Format { source, .. }) => assert_eq!(source, want),
                other => panic!("{} bytes: {other:?}", bytes.len()),
            }
        }
    }
}

/// Ids out of order are reported where they break: the row, its id and the one before it.
#[test]
fn ids_out_of_order_name_the_row_and_both_ids() {
    // Ids 10, 20, 15, 30 by hand, one 64-bit code each.
    let mut body = Vec::new();
    for id in [10u64, 20, 15, 30] {
        body.extend_from_slice(&id.to_le_bytes());
    }
    body.extend_from_slice(&[0; 4 * 8]);
    assert_eq!(
        Index::from_bytes(&hand_built(64, 4, &body)),
        Err(FormatError::IdsNotAscending {
            row: 2,
            id: 15,
            previous: 20
        })
    );
}

/// Lookups by row and by id, with the ids stored and with the ids left as the rows,
/// against the ids written out by hand.
#[test]
fn ids_and_rows_map_both_ways() {
    let plain = Index::from_codes(sample(5, 64));
    let stored = Index::new(vec![40, 7, 300, 12, 9], sample(5, 64)).unwrap();
    for (index, ids) in [(&plain, [0u64, 1, 2, 3, 4]), (&stored, [7, 9, 12, 40, 300])] {
        assert!(!index.is_empty());
        for (row, &id) in ids.iter().enumerate() {
            assert_eq!(index.id(row), Some(id));
            assert_eq!(index.row_of(id), Some(row));
        }
        assert_eq!(index.id(5), None);
        assert_eq!(index.id(usize::MAX), None);
        for absent in [5u64, 6, 8, 41, u64::MAX] {
            assert_eq!(index.row_of(absent), None, "id {absent}");
            assert_eq!(index.code_of(absent), None, "id {absent}");
        }
    }
    let empty = Index::from_codes(Codes::new(64).unwrap());
    assert!(empty.is_empty());
    assert_eq!((empty.id(0), empty.row_of(0)), (None, None));
}

/// Near-duplicate groups come back as ids: rows 0, 1 and 3 of these codes are linked within
/// distance 1 (the example of `dedup`), so the ids written for those rows.
#[test]
fn dedup_groups_are_ids() {
    let codes =
        Codes::from_words(8, vec![0b0000_0011, 0b0000_0001, 0b1111_0000, 0b0000_0111]).unwrap();
    let plain = Index::from_codes(codes.clone());
    assert_eq!(plain.dedup(1).unwrap(), vec![vec![0, 1, 3]]);
    let stored = Index::new(vec![5, 17, 23, 90], codes).unwrap();
    assert_eq!(stored.dedup(1).unwrap(), vec![vec![5, 17, 90]]);
}
