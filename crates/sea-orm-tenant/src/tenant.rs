//! A registered tenant, the state of its pool, and [`TenantConnection`], the
//! lease that keeps that pool open while a call uses it.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::{Notify, OwnedSemaphorePermit};

use crate::budget::ServerBudget;
use crate::config::TenantConfig;
use crate::current::Current;
use crate::key::TenantKey;
use crate::open::Opening;

/// Locks a mutex, ignoring poisoning: every critical section here leaves the data consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One registered tenant and the state of its pool.
pub(crate) struct Tenant {
    pub(crate) key: TenantKey,
    pub(crate) store_id: u64,
    pub(crate) backend: DbBackend,
    pub(crate) config: TenantConfig,
    /// The database server's budget; `None` for SQLite.
    pub(crate) server: Option<Arc<ServerBudget>>,
    slot: Mutex<Slot>,
    /// Single-flight opening of the pool.
    pub(crate) opening: Opening,
    /// Nanoseconds since the store started, at the last lease: orders LRU eviction.
    pub(crate) last_used: AtomicU64,
    removed: AtomicBool,
    /// Routed calls and their failures, for per-tenant statistics.
    pub(crate) queries: AtomicU64,
    pub(crate) errors: AtomicU64,
    /// Woken when the last lease of this tenant ends.
    pub(crate) idle: Arc<Notify>,
}

#[derive(Default)]
struct Slot {
    pool: Option<OpenPool>,
    in_flight: usize,
}

/// An open pool and its share of the server's budget, given back when the
/// pool has closed.
pub(crate) struct OpenPool {
    pub(crate) conn: DatabaseConnection,
    pub(crate) permits: Option<OwnedSemaphorePermit>,
}

impl Tenant {
    pub(crate) fn new(
        key: TenantKey,
        store_id: u64,
        backend: DbBackend,
        config: TenantConfig,
        server: Option<Arc<ServerBudget>>,
        idle: Arc<Notify>,
    ) -> Self {
        Self {
            key,
            store_id,
            backend,
            config,
            server,
            slot: Mutex::default(),
            opening: Opening::default(),
            last_used: AtomicU64::new(0),
            queries: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            removed: AtomicBool::new(false),
            idle,
        }
    }

    /// A lease on the pool, if it is open.
    pub(crate) fn try_lease(self: &Arc<Self>, now: u64) -> Option<TenantConnection> {
        let conn = {
            let mut slot = lock(&self.slot);
            let conn = slot.pool.as_ref()?.conn.clone();
            slot.in_flight += 1;
            conn
        };
        self.last_used.store(now, Ordering::Relaxed);
        Some(TenantConnection {
            conn,
            tenant: Arc::clone(self),
        })
    }

    /// Installs a freshly opened pool and leases it.
    pub(crate) fn install(self: &Arc<Self>, pool: OpenPool, now: u64) -> TenantConnection {
        let conn = pool.conn.clone();
        {
            let mut slot = lock(&self.slot);
            slot.pool = Some(pool);
            slot.in_flight += 1;
        }
        self.last_used.store(now, Ordering::Relaxed);
        TenantConnection {
            conn,
            tenant: Arc::clone(self),
        }
    }

    pub(crate) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    pub(crate) fn mark_removed(&self) {
        self.removed.store(true, Ordering::Release);
    }

    pub(crate) fn in_flight(&self) -> usize {
        lock(&self.slot).in_flight
    }

    /// Takes the pool out if no call is using it.
    pub(crate) fn take_if_idle(&self) -> Option<OpenPool> {
        let mut slot = lock(&self.slot);
        if slot.in_flight == 0 {
            slot.pool.take()
        } else {
            None
        }
    }

    /// Takes the pool out even if calls are using it (they keep their clones).
    pub(crate) fn take(&self) -> Option<OpenPool> {
        lock(&self.slot).pool.take()
    }

    /// Whether the pool is open now.
    pub(crate) fn is_open(&self) -> bool {
        lock(&self.slot).pool.is_some()
    }

    /// Whether closing the pool to make room or when idle loses nothing: an
    /// in-memory SQLite database vanishes with its pool, so it is never evicted.
    pub(crate) fn is_evictable(&self) -> bool {
        !self.config.is_sqlite_memory()
    }

    /// Whether this tenant's pool counts against `server`'s budget.
    pub(crate) fn is_on(&self, server: &Arc<ServerBudget>) -> bool {
        self.server.as_ref().is_some_and(|s| Arc::ptr_eq(s, server))
    }

    /// Waits until no lease of this tenant is alive.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// A tenant's open connection pool, held for the duration of a call.
///
/// While any `TenantConnection` of a tenant is alive its pool is never evicted.
/// Derefs to `DatabaseConnection`, so every SeaORM API accepts `&*conn`.
pub struct TenantConnection {
    conn: DatabaseConnection,
    tenant: Arc<Tenant>,
}

impl TenantConnection {
    /// The tenant this connection belongs to.
    pub fn tenant(&self) -> &TenantKey {
        &self.tenant.key
    }

    /// This connection's tenant as a [`TenantContext`](crate::TenantContext),
    /// to run work inside it with no second lookup.
    pub fn context(&self) -> crate::TenantContext {
        crate::TenantContext::from_current(Current::of(Arc::clone(&self.tenant)))
    }

    /// Like [`context`](Self::context), and the context keeps this lease:
    /// routed calls inside it use this pool without taking a lease each, and
    /// the pool stays open while any clone of the context lives (request
    /// middlewares: the request's lease serves all its queries).
    pub fn into_context(self) -> crate::TenantContext {
        crate::TenantContext::from_current(Current {
            tenant: Arc::clone(&self.tenant),
            lease: Some(Arc::new(self)),
        })
    }

    /// A clone of the pool handle. Unlike `self`, it does not keep the pool from
    /// being evicted; once evicted, its calls fail with a closed-pool error.
    pub fn to_database_connection(&self) -> DatabaseConnection {
        self.conn.clone()
    }
}

impl Deref for TenantConnection {
    type Target = DatabaseConnection;

    fn deref(&self) -> &DatabaseConnection {
        &self.conn
    }
}

impl AsRef<DatabaseConnection> for TenantConnection {
    fn as_ref(&self) -> &DatabaseConnection {
        &self.conn
    }
}

impl fmt::Debug for TenantConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantConnection")
            .field("tenant", &self.tenant.key)
            .field("backend", &self.tenant.backend)
            .finish()
    }
}

impl Drop for TenantConnection {
    fn drop(&mut self) {
        let idle = {
            let mut slot = lock(&self.tenant.slot);
            slot.in_flight -= 1;
            slot.in_flight == 0
        };
        if idle {
            self.tenant.idle.notify_waiters();
        }
    }
}

/// The connection a routed call runs on: the scope's own lease, or one taken
/// for this call.
pub(crate) enum Routed {
    Pinned(Arc<TenantConnection>),
    Leased(TenantConnection),
}

impl Routed {
    /// The tenant entry, to count the call once it is done.
    pub(crate) fn entry(&self) -> Arc<Tenant> {
        Arc::clone(&self.tenant)
    }
}

impl Tenant {
    /// Counts a routed call and its failure in the tenant's statistics.
    pub(crate) fn count<T, E>(&self, result: &Result<T, E>) {
        self.queries.fetch_add(1, Ordering::Relaxed);
        if result.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Deref for Routed {
    type Target = TenantConnection;

    fn deref(&self) -> &TenantConnection {
        match self {
            Routed::Pinned(lease) => lease,
            Routed::Leased(lease) => lease,
        }
    }
}
