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
use crate::error::TenantError;
use crate::key::TenantKey;
use crate::open::Opening;
use crate::schema::SchemaName;
use crate::schema_route::{Park, SchemaRoute};
use crate::sqlite_readers::SqliteReaders;

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
    /// For a schema tenant: its database's entry, which owns the shared pool,
    /// and its schema. Its own slot then stays empty.
    pub(crate) placement: Option<SchemaPlacement>,
    /// For a schema database's entry: its pool parks connections per schema.
    pub(crate) shares_schemas: bool,
}

/// Where a schema tenant lives.
pub(crate) struct SchemaPlacement {
    pub(crate) database: Arc<Tenant>,
    pub(crate) schema: SchemaName,
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
    /// The parked connections of a schema database's pool.
    pub(crate) park: Option<Arc<Park>>,
    /// The read pool of a SQLite file in WAL mode (`sqlite_readers`).
    pub(crate) readers: Option<Arc<SqliteReaders>>,
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
            placement: None,
            shares_schemas: false,
        }
    }

    /// This entry with its server's budget.
    pub(crate) fn on_server(mut self, server: Option<Arc<ServerBudget>>) -> Self {
        self.server = server;
        self
    }

    /// This entry as a schema tenant placed in `database`.
    pub(crate) fn placed(mut self, database: Arc<Tenant>, schema: SchemaName) -> Self {
        self.placement = Some(SchemaPlacement { database, schema });
        self
    }

    /// This entry as a schema database's, whose pool its tenants share.
    pub(crate) fn sharing_schemas(mut self) -> Self {
        self.shares_schemas = true;
        self
    }

    /// A lease on the pool, if it is open.
    pub(crate) fn try_lease(self: &Arc<Self>, now: u64) -> Option<TenantConnection> {
        let lease = {
            let mut slot = lock(&self.slot);
            let lease = TenantConnection::of_pool(slot.pool.as_ref()?, Arc::clone(self));
            slot.in_flight += 1;
            lease
        };
        self.last_used.store(now, Ordering::Relaxed);
        Some(lease)
    }

    /// Installs a freshly opened pool and leases it.
    pub(crate) fn install(self: &Arc<Self>, pool: OpenPool, now: u64) -> TenantConnection {
        let lease = TenantConnection::of_pool(&pool, Arc::clone(self));
        {
            let mut slot = lock(&self.slot);
            slot.pool = Some(pool);
            slot.in_flight += 1;
        }
        self.last_used.store(now, Ordering::Relaxed);
        lease
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

    /// Whether the pool this tenant uses is open now.
    pub(crate) fn is_open(&self) -> bool {
        match &self.placement {
            Some(p) => p.database.is_open(),
            None => lock(&self.slot).pool.is_some(),
        }
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

/// A tenant's connections, held for the duration of a call or a request.
///
/// While any `TenantConnection` of a tenant is alive its pool is never
/// evicted. It implements SeaORM's [`ConnectionTrait`](sea_orm::ConnectionTrait),
/// [`TransactionTrait`](sea_orm::TransactionTrait) and
/// [`StreamTrait`](sea_orm::StreamTrait), so every SeaORM API accepts `&conn`;
/// a schema tenant's calls get its `search_path` (see the crate docs).
pub struct TenantConnection {
    pub(crate) conn: DatabaseConnection,
    /// The tenant the calls are for.
    pub(crate) tenant: Arc<Tenant>,
    /// The entry whose pool is leased (the tenant's own, or its database's).
    pub(crate) holder: Arc<Tenant>,
    park: Option<Arc<Park>>,
    /// Where plain `SELECT`s go, when the tenant has a read pool.
    pub(crate) readers: Option<Arc<SqliteReaders>>,
    pub(crate) schema: Option<SchemaRoute>,
}

impl TenantConnection {
    fn of_pool(pool: &OpenPool, holder: Arc<Tenant>) -> Self {
        Self {
            conn: pool.conn.clone(),
            tenant: Arc::clone(&holder),
            holder,
            park: pool.park.clone(),
            readers: pool.readers.clone(),
            schema: None,
        }
    }

    /// This lease of a schema database's pool, for schema tenant `tenant`.
    pub(crate) fn for_schema(
        mut self,
        tenant: &Arc<Tenant>,
        schema: &SchemaName,
    ) -> Result<Self, TenantError> {
        let park = self.park.clone().ok_or_else(|| TenantError::Unavailable {
            tenant: tenant.key.clone(),
            reason: "its database's pool does not serve schemas".into(),
        })?;
        self.schema = Some(SchemaRoute::new(
            self.conn.clone(),
            park,
            schema.clone(),
            tenant.key.clone(),
        )?);
        lock(&tenant.slot).in_flight += 1;
        self.tenant = Arc::clone(tenant);
        Ok(self)
    }

    /// The tenant this connection belongs to.
    pub fn tenant(&self) -> &TenantKey {
        &self.tenant.key
    }

    /// The tenant's schema, for a schema tenant.
    pub fn schema(&self) -> Option<&SchemaName> {
        self.schema.as_ref().map(SchemaRoute::schema)
    }

    /// The tenant's backend; inherent so that `conn.get_database_backend()`
    /// is not ambiguous between SeaORM's traits.
    pub fn get_database_backend(&self) -> DbBackend {
        self.tenant.backend
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

    /// A clone of the pool handle, for a tenant with a database of its own;
    /// `None` for a schema tenant, whose pool is shared with the other tenants
    /// of its database and is not on any schema outside this connection's
    /// calls. Unlike `self`, the handle does not keep the pool from being
    /// evicted; once evicted, its calls fail with a closed-pool error.
    pub fn to_database_connection(&self) -> Option<DatabaseConnection> {
        self.schema.is_none().then(|| self.conn.clone())
    }
}

impl fmt::Debug for TenantConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantConnection")
            .field("tenant", &self.tenant.key)
            .field("backend", &self.tenant.backend)
            .field("schema", &self.schema())
            .finish()
    }
}

impl Drop for TenantConnection {
    fn drop(&mut self) {
        if !Arc::ptr_eq(&self.tenant, &self.holder) {
            // A schema tenant's own count, for waiting on its calls when it is removed.
            let idle = {
                let mut slot = lock(&self.tenant.slot);
                slot.in_flight -= 1;
                slot.in_flight == 0
            };
            if idle {
                self.tenant.idle.notify_waiters();
            }
        }
        let idle = {
            let mut slot = lock(&self.holder.slot);
            slot.in_flight -= 1;
            slot.in_flight == 0
        };
        if idle {
            self.holder.idle.notify_waiters();
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
