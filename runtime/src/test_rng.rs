//! The unit tests' fixed-seed data: Marsaglia's xorshift64 (13, 7, 17), so each test draws
//! the same values on every run and target without a dependency.

/// A xorshift64 generator; the state must not be zero.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    /// The next state, which is also the value drawn.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
