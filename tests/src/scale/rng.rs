//! A small seeded pseudo-random generator, the same sequence on every machine.

/// A small seeded pseudo-random generator (SplitMix64): the same seed gives the
/// same sequence on every machine.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0; the bias is negligible for small `n`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let a: Vec<usize> = {
            let mut r = SplitMix64::new(7);
            (0..100).map(|_| r.below(150)).collect()
        };
        let b: Vec<usize> = {
            let mut r = SplitMix64::new(7);
            (0..100).map(|_| r.below(150)).collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().all(|&x| x < 150));
    }
}
