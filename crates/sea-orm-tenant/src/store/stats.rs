//! [`StoreStats`]: counters for tests and metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters for tests and metrics; see [`TenantConnections::stats`](crate::TenantConnections::stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StoreStats {
    /// Tenants registered now.
    pub registered: usize,
    /// Tenant pools open now, counting those still closing.
    pub open: usize,
    /// Of `open`, the pools being closed (evicted or removed, waiting for their
    /// connections to come back, at most `close_timeout`).
    pub closing: usize,
    /// The most tenant pools ever open at once, closing ones included.
    pub peak_open: usize,
    /// Pools opened since the store was built.
    pub opens: u64,
    /// Pools closed to make room or because they sat idle.
    pub evictions: u64,
    /// Pools replaced by a larger one under load (see the crate docs on the
    /// connection budget).
    pub grows: u64,
    /// Failed attempts to open a pool.
    pub open_failures: u64,
    /// Pools whose connections did not all come back within `close_timeout`
    /// and were left to close as they do.
    pub abandoned_closes: u64,
}

/// One tenant's figures; see [`TenantConnections::tenant_stats`](crate::TenantConnections::tenant_stats).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TenantStats {
    /// The tenant.
    pub tenant: crate::TenantKey,
    /// Whether its pool is open now.
    pub open: bool,
    /// Routed calls (queries, executes, streams, transactions) since registration.
    pub queries: u64,
    /// Of those, the ones that failed (routing or database errors).
    pub errors: u64,
}

/// The store's event counters.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) opens: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) grows: AtomicU64,
    pub(crate) open_failures: AtomicU64,
    pub(crate) abandoned_closes: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Fills the event counters of `stats`.
    pub(crate) fn fill(&self, stats: &mut StoreStats) {
        stats.opens = self.opens.load(Ordering::Relaxed);
        stats.evictions = self.evictions.load(Ordering::Relaxed);
        stats.grows = self.grows.load(Ordering::Relaxed);
        stats.open_failures = self.open_failures.load(Ordering::Relaxed);
        stats.abandoned_closes = self.abandoned_closes.load(Ordering::Relaxed);
    }
}
