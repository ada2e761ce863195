//! A server's budget permits for a pool being opened: first come, first
//! served, closing the least recently used pools on that server to make room
//! while waiting.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::capacity::{Capacity, CloseAfter, coldest_idle};
use super::entry::Tenant;
use super::stats::Counters;
use crate::error::TenantError;
use crate::key::TenantKey;
use crate::lock::lock;
use crate::pool::budget::ServerBudget;
use crate::pool::opened::OpenPool;

impl Capacity {
    /// Takes `n` of `server`'s permits, first come first served. While waiting,
    /// closes the least recently used idle pools on that server (unless closes
    /// already under way there cover every waiter). Refused with
    /// [`TenantError::Busy`] after `acquire_timeout`.
    pub(crate) async fn server_permits(
        self: &Arc<Self>,
        server: &Arc<ServerBudget>,
        semaphore: Arc<Semaphore>,
        n: u32,
        acquire_timeout: Duration,
        tenant: Option<&TenantKey>,
    ) -> Result<OwnedSemaphorePermit, TenantError> {
        if let Ok(permits) = Arc::clone(&semaphore).try_acquire_many_owned(n) {
            return Ok(permits);
        }
        let started = Instant::now();
        let deadline = started + acquire_timeout;
        server.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = WaitingOn(server);
        let acquire = semaphore.acquire_many_owned(n);
        tokio::pin!(acquire);
        let watching = self.changed.watch();
        loop {
            let notified = watching.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Under sustained load no pool may ever be idle at the instant we
            // look: after a quarter of the wait, drain the coldest busy one
            // (no new calls; closed when its running calls end), so that
            // every waiting tenant gets its turn.
            let drain = started.elapsed() >= acquire_timeout / 4;
            let victim = if server.closing.load(Ordering::Acquire)
                < server.waiting.load(Ordering::Acquire)
            {
                let now = self.now();
                let mut set = lock(&self.state);
                let victim = coldest_idle(&mut set.pools, Some(server), now)
                    .map(|(t, p)| (t, p, false))
                    .or_else(|| {
                        drain
                            .then(|| coldest_busy(&mut set.pools, server, now))
                            .flatten()
                            .map(|(t, p)| (t, p, true))
                    });
                if victim.is_some() {
                    set.closing += 1;
                }
                victim
            } else {
                None
            };
            if let Some((victim, pool, busy)) = victim {
                Counters::bump(&self.counters.evictions, 1);
                tracing::debug!(tenant = %victim.key, server = %server.key, busy, "tenant pool evicted to make room on its server");
                let after = if busy {
                    CloseAfter::ItsLeases { room_coming: true }
                } else {
                    CloseAfter::Now
                };
                self.spawn_close(victim, pool, after);
            }
            tokio::select! {
                biased;
                permits = &mut acquire => {
                    server.record_wait(started.elapsed());
                    // The semaphore is never closed.
                    return permits.map_err(|_| TenantError::Closed);
                }
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(deadline.into()) => {
                    server.record_refusal();
                    return Err(TenantError::Busy {
                        tenant: tenant.cloned(),
                        server: server.key.to_string(),
                        budget: server.limit(),
                        waited: started.elapsed(),
                    });
                }
            }
        }
    }
}

/// Takes out the coldest pool on `server`, busy or not: its running calls
/// keep their connections, new calls wait for a new pool.
fn coldest_busy(
    pools: &mut Vec<Arc<Tenant>>,
    server: &Arc<ServerBudget>,
    now: u64,
) -> Option<(Arc<Tenant>, OpenPool)> {
    let index = pools
        .iter()
        .enumerate()
        .filter(|(_, t)| t.is_on(server))
        .map(|(i, t)| (t.in_flight_and_heat(now).1, i))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, i)| i)?;
    let pool = pools[index].take()?;
    Some((pools.swap_remove(index), pool))
}

/// Counts a caller among a server's waiters while it waits.
struct WaitingOn<'a>(&'a ServerBudget);

impl Drop for WaitingOn<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}
