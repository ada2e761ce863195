//! The most requests/s any store could serve when tenants cannot share
//! connections (a PostgreSQL database each): at most `open` tenants have a
//! connection at once (the budget over the smallest pool), so a request to
//! any other tenant must open one, and the server accepts only so many new
//! connections a second.
//!
//! The fewest misses come from keeping the `open` most requested tenants
//! open for good (an oracle that knows the distribution; for independent
//! requests no policy does better), so at least `1 - share(top open)` of the
//! requests open a connection, and requests/s cannot pass
//! `accepted connections/s / that share`. The bound is generous: it lets the
//! server spend all its time accepting connections, none serving queries.

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};

use super::server::{ServerKind, probe};

/// The server's rate of new connections: `total` opened, pinged and closed,
/// `concurrency` at a time (as `pgbench -C -c concurrency` does), on `url`.
pub(super) async fn accepted_per_second(
    kind: ServerKind,
    url: &str,
    total: usize,
    concurrency: usize,
) -> Result<f64, String> {
    let started = Instant::now();
    let failures: Vec<String> = stream::iter(0..total)
        .map(|_| probe(kind, url.to_owned()))
        .buffer_unordered(concurrency.max(1))
        .filter_map(|r| async move { r.err() })
        .collect()
        .await;
    if let Some(first) = failures.first() {
        return Err(format!(
            "{} of {total} connections failed: {first}",
            failures.len()
        ));
    }
    Ok(total as f64 / started.elapsed().max(Duration::from_nanos(1)).as_secs_f64())
}

/// The ceiling of one kind of traffic: the least share of requests that
/// must open a connection, and the requests/s that allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ceiling {
    /// The least share of requests that open a connection (0 to 1).
    pub min_miss: f64,
    /// The most requests/s the server's connection rate allows.
    pub requests_per_second: f64,
}

impl Ceiling {
    /// The ceiling for traffic whose `open` most requested tenants get
    /// `share_of_top_open` of the requests, at `accepted` connections/s.
    pub fn new(share_of_top_open: f64, accepted: f64) -> Self {
        let min_miss = (1.0 - share_of_top_open).clamp(0.0, 1.0);
        Self {
            min_miss,
            requests_per_second: if min_miss > 0.0 {
                accepted / min_miss
            } else {
                f64::INFINITY
            },
        }
    }
}

/// How many tenants can have a pool open at once: the budget over the
/// smallest pool (`pool_size`, or 1 when pools open at their fair share),
/// within `max_open_pools` if set.
pub fn tenants_open_at_most(
    budget: u32,
    pool_size: Option<u32>,
    max_open_pools: Option<usize>,
) -> usize {
    let by_budget = (budget / pool_size.unwrap_or(1).max(1)) as usize;
    max_open_pools.map_or(by_budget, |m| by_budget.min(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scale::{ZIPF_EXPONENT, Zipf};

    #[test]
    fn uniform_traffic_over_150_with_60_open_misses_at_least_sixty_percent() {
        let c = Ceiling::new(60.0 / 150.0, 300.0);
        assert!((c.min_miss - 0.6).abs() < 1e-12);
        assert!((c.requests_per_second - 500.0).abs() < 1e-9);
    }

    #[test]
    fn zipf_traffic_over_150_with_60_open_misses_about_thirteen_percent() {
        let zipf = Zipf::new(150, ZIPF_EXPONENT, 1);
        let c = Ceiling::new(zipf.share_of_top(60), 268.0);
        assert!((c.min_miss - 0.1276).abs() < 0.001, "{}", c.min_miss);
        assert!(
            (c.requests_per_second - 2100.0).abs() < 20.0,
            "{}",
            c.requests_per_second
        );
    }

    #[test]
    fn every_tenant_open_has_no_ceiling() {
        assert_eq!(Ceiling::new(1.0, 100.0).requests_per_second, f64::INFINITY);
    }

    #[test]
    fn open_tenants_are_the_budget_over_the_smallest_pool() {
        assert_eq!(tenants_open_at_most(60, None, None), 60);
        assert_eq!(tenants_open_at_most(60, Some(2), None), 30);
        assert_eq!(tenants_open_at_most(60, None, Some(40)), 40);
        assert_eq!(tenants_open_at_most(60, Some(0), None), 60);
    }
}
