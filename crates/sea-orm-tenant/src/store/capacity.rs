//! Capacity: which tenant pools are open, the `max_open_pools` bound,
//! reservations for pools being opened, eviction of the coldest idle pool
//! ([`super::heat`]), bounded closing and the idle reaper.
//!
//! A pool counts against the bound from the moment its opening is reserved
//! until its close has finished or was abandoned after `close_timeout`: a pool
//! being closed still holds files and server connections. The same holds for
//! its permits of the server's connection budget ([`crate::pool::budget`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::entry::Tenant;
use super::lease::TenantConnection;
use super::signal::Signal;
use crate::error::TenantError;
use crate::lock::lock;
use crate::pool::budget::ServerBudget;
use crate::pool::opened::OpenPool;
use crate::store::stats::{Counters, StoreStats};

pub(crate) struct Capacity {
    max_open_pools: usize,
    close_timeout: Duration,
    pub(super) state: Mutex<OpenSet>,
    /// Woken whenever a place may have become free.
    pub(crate) changed: Arc<Signal>,
    closed: AtomicBool,
    started: coarsetime::Instant,
    pub(super) counters: Arc<Counters>,
}

#[derive(Default)]
pub(super) struct OpenSet {
    pub(super) pools: Vec<Arc<Tenant>>,
    /// Places taken by pools being opened.
    reserved: usize,
    /// Places held by pools being closed.
    pub(super) closing: usize,
    /// Callers waiting for a place.
    waiting: usize,
    peak: usize,
}

impl OpenSet {
    fn used(&self) -> usize {
        self.pools.len() + self.reserved + self.closing
    }
}

/// A place in the open set, given back if the open fails or is cancelled.
pub(crate) struct Reservation<'a> {
    capacity: &'a Capacity,
    armed: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.armed {
            lock(&self.capacity.state).reserved -= 1;
            self.capacity.changed.notify_waiters();
        }
    }
}

/// When a pool handed to [`Capacity::spawn_close`] closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseAfter {
    /// Now: nobody is using it.
    Now,
    /// Once every lease of this pool has ended; `room_coming`: whether
    /// waiters for its server's budget count on its permits (a pool taken
    /// out to make room) or not (a pool replaced by a larger one).
    ItsLeases { room_coming: bool },
}

/// Counts a caller among the waiters while it waits for a place.
struct Waiting<'a> {
    capacity: &'a Capacity,
    registered: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.registered {
            lock(&self.capacity.state).waiting -= 1;
        }
    }
}

impl Capacity {
    pub(crate) fn new(
        max_open_pools: usize,
        close_timeout: Duration,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            max_open_pools,
            close_timeout,
            state: Mutex::default(),
            changed: Arc::new(Signal::default()),
            closed: AtomicBool::new(false),
            started: coarsetime::Instant::now(),
            counters,
        }
    }

    /// Nanoseconds since the store started: the clock of `last_used` and
    /// heat, read on every lease. Coarse (a few milliseconds: the kernel's
    /// tick), which is fine for ages compared in seconds, and a third of the
    /// cost of `Instant::now`.
    pub(crate) fn now(&self) -> u64 {
        // Without updating coarsetime's shared cache: no write to a
        // cache line every thread would share.
        coarsetime::Instant::now_without_cache_update()
            .duration_since(self.started)
            .as_nanos()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn close_timeout(&self) -> Duration {
        self.close_timeout
    }

    pub(crate) fn fill(&self, stats: &mut StoreStats) {
        let set = lock(&self.state);
        stats.open = set.pools.len() + set.closing;
        stats.closing = set.closing;
        stats.peak_open = set.peak;
    }

    /// Takes a place in the open set. When the set is full, closes the coldest
    /// idle pool (unless closes already under way will free a place for every
    /// waiter) and waits for a place, up to `acquire_timeout`.
    pub(crate) async fn reserve(
        self: &Arc<Self>,
        tenant: &Tenant,
        acquire_timeout: Duration,
    ) -> Result<Reservation<'_>, TenantError> {
        let started = Instant::now();
        let deadline = started + acquire_timeout;
        let mut waiting = Waiting {
            capacity: self,
            registered: false,
        };
        let watching = self.changed.watch();
        loop {
            let notified = watching.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let victim = {
                let mut set = lock(&self.state);
                match self.max_open_pools {
                    max if set.used() >= max => {
                        if !waiting.registered {
                            set.waiting += 1;
                            waiting.registered = true;
                        }
                        if set.closing < set.waiting {
                            coldest_idle(&mut set.pools, None, self.now())
                                .inspect(|_| set.closing += 1)
                        } else {
                            None
                        }
                    }
                    _ => {
                        set.reserved += 1;
                        return Ok(Reservation {
                            capacity: self,
                            armed: true,
                        });
                    }
                }
            };
            if let Some((victim, pool)) = victim {
                Counters::bump(&self.counters.evictions, 1);
                tracing::debug!(tenant = %victim.key, "idle tenant pool evicted to make room");
                self.spawn_close(victim, pool, CloseAfter::Now);
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                return Err(TenantError::PoolLimit {
                    tenant: tenant.key.clone(),
                    max_open_pools: self.max_open_pools,
                    waited: started.elapsed(),
                });
            }
        }
    }

    /// A place in the open set if one is free now, without waiting or evicting.
    pub(crate) fn try_reserve(&self) -> Option<Reservation<'_>> {
        let mut set = lock(&self.state);
        if self.is_closed() || set.used() >= self.max_open_pools {
            return None;
        }
        set.reserved += 1;
        Some(Reservation {
            capacity: self,
            armed: true,
        })
    }

    /// Puts `pool`, opened on `reservation`, in place of `tenant`'s open pool,
    /// which closes once its own leases have ended. If the tenant's pool was
    /// closed meanwhile (evicted, removed, the store closed), `pool` is
    /// closed instead; returns whether it replaced one.
    pub(crate) fn replace_pool(
        self: &Arc<Self>,
        mut reservation: Reservation<'_>,
        tenant: &Arc<Tenant>,
        pool: OpenPool,
    ) -> bool {
        let (old, replaced) = {
            let mut set = lock(&self.state);
            set.reserved -= 1;
            reservation.armed = false;
            set.closing += 1;
            let mut slot = lock(&tenant.slot);
            match slot.pool.as_mut() {
                Some(open) if !self.is_closed() && !tenant.is_removed() => {
                    set.peak = set.peak.max(set.pools.len() + set.closing);
                    (std::mem::replace(open, pool), true)
                }
                _ => (pool, false),
            }
        };
        let after = if replaced {
            CloseAfter::ItsLeases { room_coming: false }
        } else {
            CloseAfter::Now
        };
        self.spawn_close(Arc::clone(tenant), old, after);
        replaced
    }

    /// Closes idle pools on `server` unused for `older_than`, coldest first,
    /// until `permits` of its budget are coming back; returns how many are.
    pub(crate) fn evict_cold(
        self: &Arc<Self>,
        server: &Arc<ServerBudget>,
        permits: u32,
        older_than: Duration,
    ) -> u32 {
        let now = self.now();
        let cutoff = now.saturating_sub(older_than.as_nanos() as u64);
        let mut coming = 0;
        let mut victims = Vec::new();
        {
            let mut set = lock(&self.state);
            while coming < permits {
                let Some((tenant, pool)) =
                    coldest_idle_since(&mut set.pools, Some(server), now, cutoff)
                else {
                    break;
                };
                coming += pool.size;
                set.closing += 1;
                victims.push((tenant, pool));
            }
        }
        Counters::bump(&self.counters.evictions, victims.len() as u64);
        for (tenant, pool) in victims {
            tracing::debug!(tenant = %tenant.key, "cold tenant pool closed to let a busy one grow");
            self.spawn_close(tenant, pool, CloseAfter::Now);
        }
        coming
    }

    /// Turns a reservation into an open pool and leases it. If the store was
    /// closed or the tenant removed meanwhile, the new pool is closed instead.
    pub(crate) fn admit(
        self: &Arc<Self>,
        mut reservation: Reservation<'_>,
        tenant: &Arc<Tenant>,
        pool: OpenPool,
    ) -> Result<TenantConnection, TenantError> {
        let refused = {
            let mut set = lock(&self.state);
            set.reserved -= 1;
            reservation.armed = false;
            let refused = if self.is_closed() {
                TenantError::Closed
            } else if tenant.is_removed() {
                TenantError::Unknown(tenant.key.clone())
            } else {
                set.pools.push(Arc::clone(tenant));
                set.peak = set.peak.max(set.pools.len() + set.closing);
                return Ok(tenant.install(pool, self.now()));
            };
            set.closing += 1;
            refused
        };
        self.spawn_close(Arc::clone(tenant), pool, CloseAfter::Now);
        Err(refused)
    }

    /// Closes `tenant`'s pool, if open, once its leases have ended; the place is
    /// held until then, at most `close_timeout`.
    pub(crate) fn remove(self: &Arc<Self>, tenant: &Arc<Tenant>) -> Option<Closing> {
        let pool = {
            let mut set = lock(&self.state);
            set.pools.retain(|t| !Arc::ptr_eq(t, tenant));
            let pool = tenant.take()?;
            set.closing += 1;
            pool
        };
        Some(self.spawn_close(
            Arc::clone(tenant),
            pool,
            CloseAfter::ItsLeases { room_coming: true },
        ))
    }

    /// Closes every pool not in use and unused for at least `older_than`.
    pub(crate) async fn evict_idle(self: &Arc<Self>, older_than: Duration) -> usize {
        let cutoff = self.now().saturating_sub(older_than.as_nanos() as u64);
        let evicted: Vec<(Arc<Tenant>, OpenPool)> = {
            let mut set = lock(&self.state);
            let mut evicted = Vec::new();
            set.pools.retain(|t| {
                if t.last_used.load(Ordering::Relaxed) > cutoff || !t.is_evictable() {
                    return true;
                }
                match t.take_if_idle() {
                    Some(pool) => {
                        evicted.push((Arc::clone(t), pool));
                        false
                    }
                    None => true,
                }
            });
            set.closing += evicted.len();
            evicted
        };
        let n = evicted.len();
        if n > 0 {
            Counters::bump(&self.counters.evictions, n as u64);
            tracing::debug!(pools = n, "idle tenant pools closed");
        }
        let closes: Vec<_> = evicted
            .into_iter()
            .map(|(tenant, pool)| self.spawn_close(tenant, pool, CloseAfter::Now))
            .collect();
        for close in closes {
            close.wait().await;
        }
        n
    }

    /// Refuses new pools, closes every open one and waits for every close under
    /// way, each bounded by `close_timeout`.
    pub(crate) async fn close_all(self: &Arc<Self>) {
        self.closed.store(true, Ordering::Release);
        let pools: Vec<(Arc<Tenant>, OpenPool)> = {
            let mut set = lock(&self.state);
            let pools: Vec<_> = set
                .pools
                .drain(..)
                .filter_map(|t| t.take().map(|pool| (t, pool)))
                .collect();
            set.closing += pools.len();
            pools
        };
        let closes: Vec<_> = pools
            .into_iter()
            .map(|(tenant, pool)| self.spawn_close(tenant, pool, CloseAfter::Now))
            .collect();
        for close in closes {
            close.wait().await;
        }
        // Closes started earlier (evictions) are bounded by the same timeout.
        let deadline = Instant::now() + self.close_timeout;
        let watching = self.changed.watch();
        loop {
            let notified = watching.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if lock(&self.state).closing == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                return;
            }
        }
    }

    /// Starts the background task that closes pools idle for `timeout`.
    pub(crate) fn start_reaper(self: &Arc<Self>, timeout: Duration) {
        let weak: Weak<Capacity> = Arc::downgrade(self);
        let period = (timeout / 2).max(Duration::from_millis(100));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(capacity) = weak.upgrade() else {
                    break;
                };
                if capacity.is_closed() {
                    break;
                }
                capacity.evict_idle(timeout).await;
            }
        });
    }
}

/// Resolves when a pool handed to [`Capacity::spawn_close`] has closed, or
/// after `close_timeout`.
pub(crate) struct Closing(pub(super) oneshot::Receiver<()>);

impl Closing {
    pub(crate) async fn wait(self) {
        let _ = self.0.await;
    }
}

/// Picks the coldest pool ([`super::heat`]) nobody is using (on `server`, if
/// given) and takes it out; `now` on the store's clock.
pub(super) fn coldest_idle(
    pools: &mut Vec<Arc<Tenant>>,
    server: Option<&Arc<ServerBudget>>,
    now: u64,
) -> Option<(Arc<Tenant>, OpenPool)> {
    coldest_idle_since(pools, server, now, u64::MAX)
}

/// [`coldest_idle`] among the pools last used before `cutoff`.
fn coldest_idle_since(
    pools: &mut Vec<Arc<Tenant>>,
    server: Option<&Arc<ServerBudget>>,
    now: u64,
    cutoff: u64,
) -> Option<(Arc<Tenant>, OpenPool)> {
    let mut candidates: Vec<(f64, u64, usize)> = pools
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            server.is_none_or(|s| t.is_on(s))
                && t.is_evictable()
                && t.last_used.load(Ordering::Relaxed) < cutoff
        })
        .filter_map(|(i, t)| {
            let (in_flight, heat) = t.in_flight_and_heat(now);
            (in_flight == 0).then(|| (heat, t.last_used.load(Ordering::Relaxed), i))
        })
        .collect();
    // Equal heat (never leased, say): the least recently used first.
    candidates.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    // A candidate may have been leased since the scan; take the first still idle.
    let (index, pool) = candidates
        .into_iter()
        .find_map(|(_, _, i)| pools[i].take_if_idle().map(|pool| (i, pool)))?;
    let victim = pools.swap_remove(index);
    Some((victim, pool))
}
