//! Growing a database tenant's pool under load, within its server's budget.
//!
//! A tenant whose pool size is not configured opens with its fair share of
//! the server's budget (`budget / tenants on the server`, at least 1), so
//! that every recently used tenant keeps a connection. When more than twice
//! as many of its calls are in flight as its pool has connections, none of
//! them idle (a pool whose connection is mostly idle gains nothing and
//! would take room the other tenants' pools need), and the budget has room that nobody is waiting for (free, or given back by
//! closing idle pools unused for five seconds, coldest first),
//! it gets a larger pool (twice the size, or its calls in flight, up to the
//! built-in pool size) in place of its own: the new pool's permits are taken
//! before it opens, and the old pool keeps its permits until its last lease
//! has ended and it has closed, so the budget holds at every instant. Room
//! goes back to others through the eviction of the coldest pools, which
//! closes whole pools, grown ones included; an evicted tenant opens again at
//! its fair share.
//!
//! Growing runs in a task of its own, so a cancelled caller never leaves it
//! half done; one grow per tenant runs at a time.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::entry::Tenant;
use super::inner::Inner;
use super::stats::Counters;
use crate::lock::lock;
use crate::pool::opened::OpenPool;
use crate::pool::opener::open_pool;

/// A pool unused this long may be closed to let a busy one grow: at the
/// traffic of a busy server, only the coldest tenants.
const COLD_AFTER: Duration = Duration::from_secs(5);
/// How long a grow waits for the room cold pools give back.
const ROOM_WAIT: Duration = Duration::from_secs(1);

impl Inner {
    /// Starts growing `tenant`'s pool, unless a grow is under way.
    pub(super) fn grow(self: &Arc<Self>, tenant: &Arc<Tenant>) {
        if tenant.growing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tenant.growing.store(false, Ordering::Release);
            return;
        };
        let inner = Arc::clone(self);
        let tenant = Arc::clone(tenant);
        runtime.spawn(async move {
            inner.grow_now(&tenant).await;
            tenant.growing.store(false, Ordering::Release);
        });
    }

    async fn grow_now(self: &Arc<Self>, tenant: &Arc<Tenant>) {
        let Some(server) = &tenant.server else {
            return;
        };
        let Some(semaphore) = server.semaphore_if_known() else {
            return;
        };
        let (size, grows_to, in_flight) = {
            let slot = lock(&tenant.slot);
            match &slot.pool {
                Some(pool) => (pool.size, pool.grows_to, tenant.in_flight()),
                None => return,
            }
        };
        let target = (size.saturating_mul(2) as usize)
            .max(in_flight)
            .min(grows_to as usize) as u32;
        if target <= size {
            return;
        }
        // The new pool's permits are taken while the old pool still holds
        // its own, from room nobody is waiting for: free room, or room that
        // pools unused for `COLD_AFTER` give back.
        if server.waiting.load(Ordering::Acquire) > 0 {
            return;
        }
        let room = semaphore.available_permits() as u32;
        if room < target {
            self.capacity.evict_cold(server, target - room, COLD_AFTER);
        }
        let deadline =
            Instant::now() + ROOM_WAIT.min(tenant.config.pool.effective_acquire_timeout());
        let watching = self.capacity.changed.watch();
        let new_size = loop {
            let changed = watching.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if server.waiting.load(Ordering::Acquire) > 0 {
                return;
            }
            let room = semaphore.available_permits() as u32;
            if room >= target || Instant::now() >= deadline {
                break target.min(room);
            }
            let _ = tokio::time::timeout_at(deadline.into(), changed).await;
        };
        if new_size <= size {
            return;
        }
        let Ok(permits) = Arc::clone(&semaphore).try_acquire_many_owned(new_size) else {
            return;
        };
        let Some(reservation) = self.capacity.try_reserve() else {
            return;
        };
        let close_timeout = self.capacity.close_timeout();
        let conn = match open_pool(&tenant.config, tenant.backend, new_size, close_timeout).await {
            Ok(conn) => conn,
            Err(reason) => {
                tracing::debug!(tenant = %tenant.key, %reason, "tenant pool not grown");
                return;
            }
        };
        let pool = OpenPool::new(conn, Some(permits), new_size, grows_to);
        if self.capacity.replace_pool(reservation, tenant, pool) {
            Counters::bump(&self.counters.grows, 1);
            tracing::debug!(tenant = %tenant.key, from = size, to = new_size, "tenant pool grown");
        }
    }
}
