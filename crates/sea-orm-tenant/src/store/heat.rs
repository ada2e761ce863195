//! How much a tenant's pool has been used lately: the count of its leases,
//! each weighing less as it ages (half as much every [`HALF_LIFE`]). When a
//! pool must close to make room, the coldest idle one goes.
//!
//! Recency alone (least recently used) closes a tenant used a thousand times
//! a second ago before one used once just now, so under skewed traffic the
//! busiest tenants keep reopening while one-off callers keep their pools
//! (`just bench-scale`, Zipf traffic: about a quarter of requests reopened a
//! pool). A count that decays keeps the busy tenants open and still lets a
//! tenant whose traffic stopped cool down within a few half-lives. The heat
//! outlives the pool: a tenant evicted while busy comes back warm.

use std::time::Duration;

/// How long a lease takes to count half as much.
pub(crate) const HALF_LIFE: Duration = Duration::from_secs(10);

/// Leases closer together than this add up without decaying in between: the
/// error is under 0.1 % and a hot tenant's lease skips the `exp2`.
const SAME_INSTANT_NANOS: u64 = HALF_LIFE.as_nanos() as u64 / 1024;

/// A decaying count of leases, on the store's clock (nanoseconds since it started).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Heat {
    score: f64,
    at: u64,
}

impl Heat {
    /// Counts a lease at `now`.
    pub(crate) fn touch(&mut self, now: u64) {
        if now.saturating_sub(self.at) < SAME_INSTANT_NANOS {
            self.score += 1.0;
        } else {
            self.score = self.at_time(now) + 1.0;
            self.at = now;
        }
    }

    /// The count as it stands at `now`.
    pub(crate) fn at_time(&self, now: u64) -> f64 {
        let age = now.saturating_sub(self.at) as f64;
        self.score * (-age / HALF_LIFE.as_nanos() as f64).exp2()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HALF: u64 = HALF_LIFE.as_nanos() as u64;

    #[test]
    fn a_lease_counts_half_after_one_half_life() {
        let mut heat = Heat::default();
        heat.touch(HALF);
        assert!((heat.at_time(2 * HALF) - 0.5).abs() < 1e-9);
        assert!((heat.at_time(3 * HALF) - 0.25).abs() < 1e-9);
    }

    #[test]
    fn many_leases_a_while_ago_outweigh_one_now_until_they_have_cooled() {
        let mut busy = Heat::default();
        for i in 0..100 {
            busy.touch(HALF + i);
        }
        let mut once = Heat::default();
        once.touch(2 * HALF);
        assert!(busy.at_time(2 * HALF) > once.at_time(2 * HALF));
        // Seven half-lives later, a hundred leases weigh under one fresh lease.
        once.touch(8 * HALF);
        assert!(busy.at_time(8 * HALF) < once.at_time(8 * HALF));
    }

    #[test]
    fn leases_at_nearly_the_same_instant_add_up() {
        let mut heat = Heat::default();
        heat.touch(HALF);
        heat.touch(HALF + SAME_INSTANT_NANOS - 1);
        assert!((heat.at_time(HALF) - 2.0).abs() < 1e-9);
    }
}
