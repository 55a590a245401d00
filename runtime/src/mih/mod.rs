//! Multi-index hashing (Norouzi, Punjani, Fleet, "Fast Search in Hamming Space with
//! Multi-Index Hashing", CVPR 2012): exact Hamming search without scanning everything.
//!
//! Each code is cut into `m` substrings of at most 32 bits and every substring gets its
//! own table: the rows sorted by substring value, with a small directory over the top bits
//! of the value. Pigeonhole: if two codes are within `r`, then with `r = m * q + a`
//! (`a < m`) one of the first `a + 1` substrings is within `q` or one of the others is
//! within `q - 1`. So a radius query looks up only the substring values that close to the
//! query's, verifies each candidate with the full distance, and drops a candidate that an
//! earlier table already produced (recomputed from the substrings, no "seen" set).
//! k-NN grows the per-table radius one step at a time until the k-th best distance is
//! below what any unseen code could have. Results equal the linear scan exactly, tie order
//! included; when the tables would cost more than a scan (far neighbours, huge radius),
//! [`Mih::radius`] and [`Mih::knn`] answer with the scan instead.

use alloc::vec::Vec;

use crate::code::Codes;
use crate::error::{Error, Result};
use crate::hamming;
use crate::search::{self, Neighbor, TopK};

/// Cost of one table lookup, in units of "one key or one code word scanned".
const LOOKUP_COST: u64 = 64;
/// Cost of verifying one candidate (a random access to its code).
const VERIFY_COST: u64 = 16;

/// A multi-index over a borrowed set of codes.
#[derive(Debug)]
pub struct Mih<'a> {
    codes: &'a Codes,
    tables: Vec<Table>,
}

#[derive(Debug)]
struct Table {
    /// First bit of the substring in the code.
    start: usize,
    /// Substring width in bits (1..=32).
    width: u32,
    /// `value >> shift` indexes the directory.
    shift: u32,
    /// `dir[t]..dir[t + 1]` is the range of `keys` whose top bits are `t`.
    dir: Vec<u32>,
    /// Substring values, sorted.
    keys: Vec<u32>,
    /// `rows[i]` is the row whose substring is `keys[i]`.
    rows: Vec<u32>,
    /// How many other rows share an indexed row's substring, on average over the rows: what
    /// a lookup by a query like the indexed codes meets. Uniform codes give `n / 2^width`;
    /// learned codes crowd (10,000 MNIST codes hold 1,085 values), and a substring the codes
    /// never vary makes every lookup return every row, which the uniform estimate took for
    /// a few (tables chosen over a scan 57 times faster).
    crowding: u64,
}

/// Bits `start..start + width` (width <= 32) of a code.
#[inline]
fn extract(code: &[u64], start: usize, width: u32) -> u32 {
    let w = start / 64;
    let off = start % 64;
    let mut v = code[w] >> off;
    if off + width as usize > 64 {
        v |= code[w + 1] << (64 - off);
    }
    (v & ((1u64 << width) - 1)) as u32
}

/// Over the rows of sorted `keys`, the mean number of other rows with the same key:
/// the sum over distinct keys of `count * (count - 1)`, over the number of rows.
fn crowding(keys: &[u32]) -> u64 {
    let mut pairs = 0u128;
    for run in keys.chunk_by(|a, b| a == b) {
        let c = run.len() as u128;
        pairs += c * (c - 1);
    }
    (pairs / keys.len().max(1) as u128) as u64
}

/// `n choose k`, or `u64::MAX` where it does not fit. Each step is `C(n, i + 1) = C(n, i)
/// (n - i) / (i + 1)`, exact, in u128: the product passes u64 well before the result does
/// (C(63, 31) fits; C(63, 30) times 33 does not).
fn binomial(n: u32, k: u32) -> u64 {
    if k > n {
        return 0;
    }
    let k = k.min(n - k);
    let mut r: u64 = 1;
    for i in 0..k {
        let next = u128::from(r) * u128::from(n - i) / u128::from(i + 1);
        match u64::try_from(next) {
            Ok(next) => r = next,
            // C(n, i) grows with i up to n / 2: the rest do not fit either.
            Err(_) => return u64::MAX,
        }
    }
    r
}

/// Calls `f` with every `width`-bit mask with exactly `s` bits set (Gosper's hack).
fn for_each_mask(width: u32, s: u32, mut f: impl FnMut(u32)) {
    if s > width {
        return;
    }
    if s == 0 {
        f(0);
        return;
    }
    let limit = 1u64 << width;
    let mut x: u64 = (1u64 << s) - 1;
    while x < limit {
        f(x as u32);
        let c = x & x.wrapping_neg();
        let r = x + c;
        x = (((r ^ x) >> 2) / c) | r;
    }
}

/// How a table enumerates the rows whose substring is at distance exactly `s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))] // the forced variants are for tests
pub(crate) enum Probe {
    /// Pick per level, by estimated cost.
    Auto,
    /// Look up every value at that distance.
    Enumerate,
    /// Scan all keys of the table.
    ScanKeys,
}

impl Table {
    fn build(codes: &Codes, start: usize, width: u32) -> Self {
        let n = codes.len();
        let mut pairs: Vec<u64> = codes
            .iter()
            .enumerate()
            .map(|(row, c)| (u64::from(extract(c, start, width)) << 32) | row as u64)
            .collect();
        pairs.sort_unstable();
        let keys: Vec<u32> = pairs.iter().map(|p| (p >> 32) as u32).collect();
        let rows: Vec<u32> = pairs.iter().map(|&p| p as u32).collect();
        drop(pairs);
        // About four keys per directory bucket: the directory costs ~1 byte per code.
        let log2n = usize::BITS - 1 - n.max(1).leading_zeros();
        let dir_bits = width.min(log2n.saturating_sub(2));
        let shift = width - dir_bits;
        let mut dir = alloc::vec![0u32; (1usize << dir_bits) + 1];
        for &k in &keys {
            dir[(u64::from(k) >> shift) as usize + 1] += 1;
        }
        for t in 1..dir.len() {
            dir[t] += dir[t - 1];
        }
        let crowding = crowding(&keys);
        Self {
            start,
            width,
            shift,
            dir,
            keys,
            rows,
            crowding,
        }
    }

    /// Rows a lookup of one value is expected to return: the uniform estimate, or the
    /// codes' own [`Table::crowding`] where that is larger.
    fn rows_per_lookup(&self) -> u64 {
        (self.keys.len() as u64 >> self.width).max(self.crowding)
    }

    #[inline]
    fn lookup(&self, value: u32) -> &[u32] {
        let t = (u64::from(value) >> self.shift) as usize;
        let (lo, hi) = (self.dir[t] as usize, self.dir[t + 1] as usize);
        let keys = &self.keys[lo..hi];
        let a = keys.partition_point(|&k| k < value);
        let b = a + keys[a..].partition_point(|&k| k == value);
        &self.rows[lo + a..lo + b]
    }

    fn enumerate_cost(&self, s: u32) -> u64 {
        let lookups = binomial(self.width, s);
        let per_lookup = self.rows_per_lookup().saturating_mul(VERIFY_COST);
        lookups.saturating_mul(LOOKUP_COST + per_lookup)
    }

    fn scan_cost(&self, s: u32) -> u64 {
        // Every key is read; the matches are verified.
        let n = self.keys.len() as u64;
        let uniform = ((binomial(self.width, s) as u128 * n as u128) >> self.width) as u64;
        let matches = uniform.max(binomial(self.width, s).saturating_mul(self.crowding));
        n.saturating_add(matches.saturating_mul(VERIFY_COST))
    }

    fn level_cost(&self, s: u32) -> u64 {
        self.enumerate_cost(s).min(self.scan_cost(s))
    }

    /// Whether level `s` is probed by looking up every value at that distance (else by a
    /// scan of the keys): `Auto` takes the one estimated cheaper.
    fn enumerates(&self, s: u32, probe: Probe) -> bool {
        match probe {
            Probe::Enumerate => true,
            Probe::ScanKeys => false,
            Probe::Auto => self.enumerate_cost(s) <= self.scan_cost(s),
        }
    }

    /// Calls `f(row)` for every row whose substring is at distance exactly `s` from `value`.
    fn for_each_at(&self, value: u32, s: u32, probe: Probe, mut f: impl FnMut(u32)) {
        if self.enumerates(s, probe) {
            for_each_mask(self.width, s, |mask| {
                for &row in self.lookup(value ^ mask) {
                    f(row);
                }
            });
        } else {
            for (&k, &row) in self.keys.iter().zip(&self.rows) {
                if (k ^ value).count_ones() == s {
                    f(row);
                }
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        (self.dir.capacity() + self.keys.capacity() + self.rows.capacity()) * 4
    }
}

impl<'a> Mih<'a> {
    /// The number of substrings Norouzi et al. recommend: about `bits / log2(n)`, so each
    /// table has about one code per value, rounded to the nearest, but at least
    /// `ceil(bits / 32)` (substrings are at most 32 bits) and at most `bits / 8` rounded to
    /// the nearest (substrings of 6 bits or more; one table below 12 bits).
    pub fn default_substrings(bits: usize, n: usize) -> usize {
        // log2(n) taken as 8 at least: narrower tables return a large share of the set per
        // lookup.
        let log2n = ((usize::BITS - 1 - n.max(2).leading_zeros()) as usize).max(8);
        let m = bits.saturating_add(log2n / 2) / log2n;
        m.max(bits.div_ceil(32)).clamp(1, bits.max(1))
    }

    /// Whether tables can pay for themselves on `n` codes of `bits` bits: fewer tables than
    /// codes, since every query visits every table (`n` codes of 2^24 bits would take two
    /// million tables, 390 MB beside a 2 MB index holding one code).
    pub fn worth_building(bits: usize, n: usize) -> bool {
        Self::default_substrings(bits, n) < n
    }

    /// Whether tables are worth building for `queries` radius queries over `n` codes of
    /// `bits` bits: [`Mih::worth_building`], and the queries would scan more than building
    /// the tables costs (a sort of the `n` rows for each table, about `n log2 n` steps): a
    /// few queries over a million codes are answered sooner by scans.
    pub fn worth_building_for(bits: usize, n: usize, queries: usize) -> bool {
        let m = Self::default_substrings(bits, n) as u64;
        let log2n = u64::from(usize::BITS - n.max(2).leading_zeros());
        let build = m.saturating_mul(n as u64).saturating_mul(log2n);
        let scans = (queries as u64)
            .saturating_mul(n as u64)
            .saturating_mul(bits.div_ceil(64) as u64);
        Self::worth_building(bits, n) && scans > build
    }

    /// A multi-index with [`Mih::default_substrings`] tables.
    pub fn new(codes: &'a Codes) -> Result<Self> {
        Self::with_substrings(codes, Self::default_substrings(codes.bits(), codes.len()))
    }

    /// A multi-index with `m` tables (`1..=bits`, each substring at most 32 bits wide).
    pub fn with_substrings(codes: &'a Codes, m: usize) -> Result<Self> {
        let bits = codes.bits();
        if m == 0 || m > bits || bits.div_ceil(m) > 32 {
            return Err(Error::Substrings {
                substrings: m,
                bits,
            });
        }
        if codes.len() > u32::MAX as usize {
            return Err(Error::TooManyCodes(codes.len()));
        }
        let mut tables = Vec::with_capacity(m);
        let mut start = 0;
        for i in 0..m {
            let width = (bits / m + usize::from(i < bits % m)) as u32;
            tables.push(Table::build(codes, start, width));
            start += width as usize;
        }
        Ok(Self { codes, tables })
    }

    /// The indexed codes.
    pub fn codes(&self) -> &'a Codes {
        self.codes
    }

    /// Number of substrings (tables).
    pub fn substrings(&self) -> usize {
        self.tables.len()
    }

    /// Heap bytes held by the tables (the codes are borrowed, not counted).
    pub fn table_bytes(&self) -> usize {
        self.tables.iter().map(Table::heap_bytes).sum::<usize>()
            + self.tables.capacity() * core::mem::size_of::<Table>()
    }

    /// Per-table radius for a query radius `r`: `q` for the first `a + 1` tables, `q - 1`
    /// for the rest (negative: the table is not probed).
    fn table_radius(&self, r: u32, i: usize) -> i64 {
        let m = self.tables.len() as u64;
        let (q, a) = (u64::from(r) / m, u64::from(r) % m);
        q as i64 - i64::from(i as u64 > a)
    }

    fn linear_cost(&self) -> u64 {
        (self.codes.len() as u64).saturating_mul(self.codes.words_per_code() as u64)
    }

    /// Estimated cost of a radius query through the tables.
    fn radius_cost(&self, r: u32) -> u64 {
        let mut cost = 0u64;
        for (i, t) in self.tables.iter().enumerate() {
            let ri = self.table_radius(r, i);
            for s in 0..=ri.min(i64::from(t.width)) {
                cost = cost.saturating_add(t.level_cost(s as u32));
            }
        }
        cost
    }

    /// Whether a radius-`r` query through the tables is estimated cheaper than a scan.
    pub fn is_cheaper_than_scan(&self, r: u32) -> bool {
        self.radius_cost(r) < self.linear_cost()
    }

    /// Calls `f(row, distance)` for every code within `r` of `query`, each exactly once,
    /// in no particular order. `query` must have been checked.
    pub(crate) fn within_tables(
        &self,
        query: &[u64],
        r: u32,
        probe: Probe,
        mut f: impl FnMut(usize, u32),
    ) {
        for (i, t) in self.tables.iter().enumerate() {
            let ri = self.table_radius(r, i);
            if ri < 0 {
                continue;
            }
            let qv = extract(query, t.start, t.width);
            for s in 0..=(ri as u32).min(t.width) {
                t.for_each_at(qv, s, probe, |row| {
                    let row = row as usize;
                    let code = &self.codes.as_words()[row * query.len()..][..query.len()];
                    let d = hamming::distance(code, query);
                    if d > r {
                        return;
                    }
                    // Found already through an earlier table?
                    let seen = self.tables[..i].iter().enumerate().any(|(j, tj)| {
                        let rj = self.table_radius(r, j);
                        rj >= 0
                            && i64::from(
                                (extract(code, tj.start, tj.width)
                                    ^ extract(query, tj.start, tj.width))
                                .count_ones(),
                            ) <= rj
                    });
                    if !seen {
                        f(row, d);
                    }
                });
            }
        }
    }

    /// Every code within `r` of `query`, sorted by `(distance, id)`; the same answer as
    /// [`search::radius`]. Uses the tables when they are estimated cheaper than a scan.
    pub fn radius(&self, query: &[u64], r: u32) -> Result<Vec<Neighbor>> {
        self.codes.check_code(query)?;
        if !self.is_cheaper_than_scan(r) {
            return search::radius(self.codes, query, r);
        }
        self.radius_with(query, r, Probe::Auto)
    }

    /// Like [`Mih::radius`] but always through the tables, however slow; for verification
    /// and benchmarks.
    pub fn radius_tables(&self, query: &[u64], r: u32) -> Result<Vec<Neighbor>> {
        self.codes.check_code(query)?;
        self.radius_with(query, r, Probe::Auto)
    }

    pub(crate) fn radius_with(&self, query: &[u64], r: u32, probe: Probe) -> Result<Vec<Neighbor>> {
        self.codes.check_code(query)?;
        let mut out = Vec::new();
        self.within_tables(query, r, probe, |row, d| {
            out.push(Neighbor {
                distance: d,
                id: row as u64,
            })
        });
        out.sort_unstable();
        Ok(out)
    }

    /// Grows the search radius until the heap is exact. Returns `None` when the estimated
    /// work passes `budget`.
    fn knn_tables_into(
        &self,
        query: &[u64],
        out: &mut [Neighbor],
        probe: Probe,
        budget: Option<u64>,
    ) -> Option<usize> {
        let k = out.len().min(self.codes.len());
        if k == 0 {
            return Some(0);
        }
        let m = self.tables.len();
        let wpc = query.len();
        let mut heap = TopK::new(&mut out[..k]);
        let mut spent = 0u64;
        let max_width = self.tables.iter().map(|t| t.width).max().unwrap_or(0);
        for s in 0..=max_width {
            for (i, t) in self.tables.iter().enumerate() {
                if s > t.width {
                    continue;
                }
                if let Some(budget) = budget {
                    spent = spent.saturating_add(t.level_cost(s));
                    if spent > budget {
                        return None;
                    }
                }
                let qv = extract(query, t.start, t.width);
                t.for_each_at(qv, s, probe, |row| {
                    let row = row as usize;
                    let code = &self.codes.as_words()[row * wpc..][..wpc];
                    let n = Neighbor {
                        distance: hamming::distance(code, query),
                        id: row as u64,
                    };
                    if !heap.accepts(n) {
                        return;
                    }
                    // Seen before: tables j < i were probed up to s, tables j > i up to s - 1.
                    let seen = self.tables.iter().enumerate().any(|(j, tj)| {
                        if j == i {
                            return false;
                        }
                        let dj = (extract(code, tj.start, tj.width)
                            ^ extract(query, tj.start, tj.width))
                        .count_ones();
                        if j < i { dj <= s } else { dj < s }
                    });
                    if !seen {
                        heap.push(n);
                    }
                });
                // Tables 0..=i are done up to s, the others up to s - 1. If one table is
                // done up to its full width, every code has been seen; otherwise an unseen
                // code differs by more than s in tables 0..=i and by at least s elsewhere.
                let all_seen = self
                    .tables
                    .iter()
                    .enumerate()
                    .any(|(j, tj)| if j <= i { s >= tj.width } else { s > tj.width });
                let bound = (m as u64) * u64::from(s) + i as u64;
                if all_seen || heap.worst().is_some_and(|w| u64::from(w.distance) <= bound) {
                    return Some(heap.finish());
                }
            }
        }
        Some(heap.finish())
    }

    /// The `out.len()` nearest codes, like [`search::knn_into`] (same answer, ties
    /// included); falls back to the scan when the tables get more expensive. Allocates
    /// nothing.
    pub fn knn_into(&self, query: &[u64], out: &mut [Neighbor]) -> Result<usize> {
        self.codes.check_code(query)?;
        match self.knn_tables_into(query, out, Probe::Auto, Some(self.linear_cost())) {
            Some(n) => Ok(n),
            None => search::knn_into(self.codes, query, out),
        }
    }

    /// The `k` nearest codes, sorted by `(distance, id)`; the same answer as
    /// [`search::knn`].
    pub fn knn(&self, query: &[u64], k: usize) -> Result<Vec<Neighbor>> {
        let mut out = alloc::vec![Neighbor::default(); k.min(self.codes.len())];
        let n = self.knn_into(query, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// Like [`Mih::knn`] but always through the tables, however slow; for verification
    /// and benchmarks.
    pub fn knn_tables(&self, query: &[u64], k: usize) -> Result<Vec<Neighbor>> {
        self.knn_with(query, k, Probe::Auto)
    }

    pub(crate) fn knn_with(&self, query: &[u64], k: usize, probe: Probe) -> Result<Vec<Neighbor>> {
        self.codes.check_code(query)?;
        let mut out = alloc::vec![Neighbor::default(); k.min(self.codes.len())];
        let n = self
            .knn_tables_into(query, &mut out, probe, None)
            .unwrap_or(0);
        out.truncate(n);
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
