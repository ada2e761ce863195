//! Zipf traffic over tenants: the tenant of rank `k` (from 1) gets a share
//! of the requests proportional to `1 / k^s`. The ranks are a seeded shuffle
//! of the tenants, so the hot tenants are not simply the first created.
//!
//! Sampling is the inverse of the cumulative distribution, by binary search
//! in precomputed cumulative weights ([`Zipf::tenant_at`]). The load
//! generator picks uniformly among a list of paths, so [`Zipf::table`]
//! evaluates that inverse on a uniform grid of `slots` points: a table of
//! tenant indexes in which tenant `i` appears `slots × p(i)` times, give or
//! take one, and a uniform pick from it is Zipf traffic to within `1 / slots`
//! per tenant.

use super::SplitMix64;

/// The exponent of the benchmarks' Zipf traffic.
pub const ZIPF_EXPONENT: f64 = 1.1;

/// A Zipf distribution over `n` tenants with a seeded rank order.
#[derive(Debug, Clone)]
pub struct Zipf {
    /// `by_rank[k]`: the index of the tenant of rank `k + 1`.
    by_rank: Vec<usize>,
    /// `cumulative[k]`: the probability of ranks `1..=k + 1`; the last is 1.
    cumulative: Vec<f64>,
    exponent: f64,
}

impl Zipf {
    /// Zipf with exponent `exponent` over tenants `0..n` (`n` > 0), ranked
    /// by a shuffle seeded with `seed`.
    pub fn new(n: usize, exponent: f64, seed: u64) -> Self {
        assert!(n > 0, "Zipf over no tenants");
        let weights: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-exponent)).collect();
        let total: f64 = weights.iter().sum();
        let mut sum = 0.0;
        let mut cumulative: Vec<f64> = weights
            .iter()
            .map(|w| {
                sum += w;
                sum / total
            })
            .collect();
        // Rounding must not leave a gap below 1 that no rank covers.
        cumulative[n - 1] = 1.0;
        Self {
            by_rank: shuffled(n, seed),
            cumulative,
            exponent,
        }
    }

    /// The exponent `s`.
    pub fn exponent(&self) -> f64 {
        self.exponent
    }

    /// The index of the tenant of rank `rank` (from 1).
    pub fn tenant_of_rank(&self, rank: usize) -> usize {
        self.by_rank[rank - 1]
    }

    /// The share of all requests that go to the `k` hottest tenants.
    pub fn share_of_top(&self, k: usize) -> f64 {
        match k.min(self.cumulative.len()) {
            0 => 0.0,
            k => self.cumulative[k - 1],
        }
    }

    /// The tenant for `u` in `[0, 1)`: the first rank whose cumulative
    /// probability exceeds `u` (the inverse of the distribution function).
    pub fn tenant_at(&self, u: f64) -> usize {
        let rank = self.cumulative.partition_point(|&c| c <= u);
        self.by_rank[rank.min(self.by_rank.len() - 1)]
    }

    /// `slots` tenant indexes: [`tenant_at`](Self::tenant_at) of the
    /// midpoints `(j + 0.5) / slots`, so a uniform pick from the table is
    /// this distribution to within `1 / slots` per tenant.
    pub fn table(&self, slots: usize) -> Vec<usize> {
        (0..slots)
            .map(|j| self.tenant_at((j as f64 + 0.5) / slots as f64))
            .collect()
    }
}

/// `0..n` in an order shuffled (Fisher-Yates) by a generator seeded with `seed`.
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix64::new(seed);
    for i in (1..n).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rank_order_is_a_seeded_permutation() {
        let a = Zipf::new(150, ZIPF_EXPONENT, 7);
        let b = Zipf::new(150, ZIPF_EXPONENT, 7);
        let c = Zipf::new(150, ZIPF_EXPONENT, 8);
        let order = |z: &Zipf| (1..=150).map(|r| z.tenant_of_rank(r)).collect::<Vec<_>>();
        assert_eq!(order(&a), order(&b));
        assert_ne!(order(&a), order(&c));
        let mut sorted = order(&a);
        sorted.sort_unstable();
        assert_eq!(sorted, (0..150).collect::<Vec<_>>());
        assert_ne!(order(&a), (0..150).collect::<Vec<_>>(), "not shuffled");
    }

    #[test]
    fn shares_follow_one_over_k_to_the_s() {
        let z = Zipf::new(3, 1.0, 1);
        // 1, 1/2, 1/3 over 11/6.
        assert!((z.share_of_top(1) - 6.0 / 11.0).abs() < 1e-12);
        assert!((z.share_of_top(2) - 9.0 / 11.0).abs() < 1e-12);
        assert_eq!(z.share_of_top(3), 1.0);
        assert_eq!(z.share_of_top(99), 1.0);
        assert_eq!(z.share_of_top(0), 0.0);
    }

    #[test]
    fn the_inverse_maps_intervals_to_ranks() {
        let z = Zipf::new(3, 1.0, 1);
        assert_eq!(z.tenant_at(0.0), z.tenant_of_rank(1));
        assert_eq!(z.tenant_at(0.5), z.tenant_of_rank(1));
        assert_eq!(z.tenant_at(0.6), z.tenant_of_rank(2));
        assert_eq!(z.tenant_at(0.99), z.tenant_of_rank(3));
        assert_eq!(z.tenant_at(1.0), z.tenant_of_rank(3));
    }

    #[test]
    fn the_table_holds_each_tenant_by_its_share() {
        let slots = 1 << 16;
        let z = Zipf::new(150, ZIPF_EXPONENT, 3);
        let table = z.table(slots);
        assert_eq!(table.len(), slots);
        let mut counts = vec![0usize; 150];
        for &t in &table {
            counts[t] += 1;
        }
        for rank in 1..=150 {
            let p = z.share_of_top(rank) - z.share_of_top(rank - 1);
            let expected = p * slots as f64;
            let got = counts[z.tenant_of_rank(rank)] as f64;
            assert!(
                (got - expected).abs() <= 1.0,
                "rank {rank}: {got} vs {expected}"
            );
        }
    }
}
