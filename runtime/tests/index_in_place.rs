//! An index read in place costs no copy of its codes: opening an [`IndexView`] on a
//! 1,000,000-code file and answering k-NN queries allocates nothing (measured with a
//! counting allocator), where [`Index::from_bytes`] allocates the whole code section; and
//! both give the same answers.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use imsat_runtime::prelude::*;
use imsat_runtime::search::Neighbor;

/// Counts the bytes allocated (not freed) by this test binary.
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATED.load(Ordering::Relaxed);
    let out = f();
    (out, ALLOCATED.load(Ordering::Relaxed) - before)
}

#[test]
fn a_view_of_a_million_codes_allocates_nothing() {
    const N: usize = 1_000_000;
    let mut state = 0x1234_5678_9abc_def0u64;
    let words: Vec<u64> = (0..N)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        })
        .collect();
    let ids: Vec<u64> = (0..N as u64).map(|i| 3 * i + 7).collect();
    let index = Index::new(ids, Codes::from_words(64, words).unwrap()).unwrap();
    let bytes = index.to_bytes();
    // The file's bytes on an 8-byte boundary, as a memory map or a linker section gives them.
    let mut store = vec![0u64; bytes.len().div_ceil(8)];
    for (w, c) in store.iter_mut().zip(bytes.chunks(8)) {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        *w = u64::from_le_bytes(b);
    }
    // SAFETY: the u64 storage viewed as its first `bytes.len()` bytes.
    let file = unsafe { std::slice::from_raw_parts(store.as_ptr().cast::<u8>(), bytes.len()) };

    let (view, opened) = allocated_by(|| IndexView::from_bytes(file).unwrap());
    let queries = [
        0u64,
        u64::MAX,
        0x0f0f_0f0f_0f0f_0f0f,
        index.code_of(3 * (N as u64 / 2) + 7).unwrap()[0],
    ];
    let mut out = [Neighbor::default(); 10];
    let (_, searched) = allocated_by(|| {
        for q in &queries {
            assert_eq!(view.knn_into(&[*q], &mut out).unwrap(), 10);
        }
    });
    let (owned, loaded) = allocated_by(|| Index::from_bytes(file).unwrap());
    println!(
        "{N} codes ({} MB file): view open {opened} B, 4 queries {searched} B; owned load {loaded} B",
        file.len() / 1_000_000
    );
    assert_eq!((opened, searched), (0, 0), "the view copies nothing");
    assert!(
        loaded >= N * 8,
        "the owned index holds its own copy of the codes"
    );
    for q in queries {
        assert_eq!(view.knn(&[q], 10).unwrap(), owned.knn(&[q], 10).unwrap());
        assert_eq!(
            view.radius(&[q], 20).unwrap(),
            owned.radius(&[q], 20).unwrap()
        );
    }
}
