//! [`TenantConnections`]: the store of tenants, their URLs and their lazily opened pools.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::{Duration, Instant};

use sea_orm::{Database, DatabaseConnection, DbBackend};
use tokio::sync::{Notify, OnceCell};

use crate::builder::TenantConnectionsBuilder;
use crate::config::{ConfigError, PoolOptions, StoreOptions, TenantConfig, TenantsConfig};
use crate::current::{self, Current};
use crate::error::TenantError;
use crate::key::TenantKey;
use crate::redact::scrub;
use crate::router::TenantDb;

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// Locks a mutex, ignoring poisoning: every critical section here leaves the data consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One registered tenant and the state of its pool.
pub(crate) struct Tenant {
    pub(crate) key: TenantKey,
    pub(crate) store_id: u64,
    pub(crate) backend: DbBackend,
    config: TenantConfig,
    slot: Mutex<Slot>,
    /// Serialises opening the pool: concurrent first uses open exactly one.
    opening: tokio::sync::Mutex<()>,
    attempts: AtomicU64,
    last_error: Mutex<Option<TenantError>>,
    /// Nanoseconds since the store started, at the last lease: orders LRU eviction.
    last_used: AtomicU64,
    removed: AtomicBool,
    /// Whether anyone may wait for this pool to become idle (bounded store).
    notify_idle: bool,
    idle: Arc<Notify>,
}

#[derive(Default)]
struct Slot {
    conn: Option<DatabaseConnection>,
    in_flight: usize,
}

impl Tenant {
    fn try_lease(self: &Arc<Self>, now: u64) -> Option<TenantConnection> {
        let conn = {
            let mut slot = lock(&self.slot);
            let conn = slot.conn.as_ref()?.clone();
            slot.in_flight += 1;
            conn
        };
        self.last_used.store(now, Ordering::Relaxed);
        Some(TenantConnection {
            conn,
            tenant: Arc::clone(self),
        })
    }

    fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    fn in_flight(&self) -> usize {
        lock(&self.slot).in_flight
    }

    /// Takes the pool out if no call is using it.
    fn take_if_idle(&self) -> Option<DatabaseConnection> {
        let mut slot = lock(&self.slot);
        if slot.in_flight == 0 {
            slot.conn.take()
        } else {
            None
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
    /// to run work inside it with no second lookup (request middlewares).
    /// Unlike [`with_tenant`](TenantConnections::with_tenant), entering it does
    /// not check whether another tenant is current: check that first.
    pub fn context(&self) -> crate::TenantContext {
        crate::TenantContext::from_current(Current {
            tenant: Arc::clone(&self.tenant),
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
        if idle && (self.tenant.notify_idle || self.tenant.is_removed()) {
            self.tenant.idle.notify_waiters();
        }
    }
}

/// Counters for tests and metrics; see [`TenantConnections::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StoreStats {
    /// Tenants registered now.
    pub registered: usize,
    /// Tenant pools open now.
    pub open: usize,
    /// The most tenant pools ever open at once.
    pub peak_open: usize,
    /// Pools opened since the store was built.
    pub opens: u64,
    /// Pools closed to make room or because they sat idle.
    pub evictions: u64,
    /// Failed attempts to open a pool.
    pub open_failures: u64,
}

#[derive(Default)]
struct Registry {
    tenants: HashMap<TenantKey, Arc<Tenant>>,
    /// Tenants per backend: Sqlite, Postgres, MySql.
    per_backend: [usize; 3],
}

fn backend_index(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Sqlite => 0,
        DbBackend::Postgres => 1,
        _ => 2,
    }
}

#[derive(Default)]
struct OpenSet {
    pools: Vec<Arc<Tenant>>,
    /// Places taken by pools being opened.
    reserved: usize,
    peak: usize,
}

struct Shared {
    config: TenantConfig,
    backend: DbBackend,
    conn: OnceCell<DatabaseConnection>,
}

pub(crate) struct Inner {
    pub(crate) id: u64,
    registry: RwLock<Registry>,
    open: Mutex<OpenSet>,
    idle: Arc<Notify>,
    defaults: PoolOptions,
    options: StoreOptions,
    shared: Option<Shared>,
    started: Instant,
    reaper_started: AtomicBool,
    closed: AtomicBool,
    opens: AtomicU64,
    evictions: AtomicU64,
    open_failures: AtomicU64,
}

/// The tenant store: tenant name to connection URL, with pools opened lazily,
/// bounded by `max_open_pools`, evicted when idle, and tenants added and
/// removed at runtime.
///
/// Cloning is cheap and every clone is the same store. `Debug` and `Display`
/// never show passwords.
#[derive(Clone)]
pub struct TenantConnections {
    pub(crate) inner: Arc<Inner>,
}

impl TenantConnections {
    /// A builder, for configuring the store in code.
    pub fn builder() -> TenantConnectionsBuilder {
        TenantConnectionsBuilder::default()
    }

    /// A store with these tenants (name, URL) and default settings, like
    /// Flask-SQLAlchemy's `SQLALCHEMY_BINDS`.
    pub fn from_urls<I, K, U>(tenants: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, U)>,
        K: AsRef<str>,
        U: Into<String>,
    {
        tenants
            .into_iter()
            .fold(Self::builder(), |b, (k, u)| b.tenant(k, u))
            .build()
    }

    /// A store from a TOML file (format in [`crate::config`]).
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::from_config(TenantsConfig::from_toml_file(path)?)
    }

    /// A store from a parsed configuration.
    pub fn from_config(config: TenantsConfig) -> Result<Self, ConfigError> {
        let shared = match config.shared {
            Some(shared) => {
                let backend = shared.backend_for("shared")?;
                let config = shared.clone().with_pool(shared.pool.or(&config.defaults));
                Some(Shared {
                    config,
                    backend,
                    conn: OnceCell::new(),
                })
            }
            None => None,
        };
        let store = Self {
            inner: Arc::new(Inner {
                id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
                registry: RwLock::default(),
                open: Mutex::default(),
                idle: Arc::new(Notify::new()),
                defaults: config.defaults,
                options: config.store,
                shared,
                started: Instant::now(),
                reaper_started: AtomicBool::new(false),
                closed: AtomicBool::new(false),
                opens: AtomicU64::new(0),
                evictions: AtomicU64::new(0),
                open_failures: AtomicU64::new(0),
            }),
        };
        if store.inner.options.max_open_pools == Some(0) {
            return Err(ConfigError::Parse {
                origin: None,
                reason: "store.max_open_pools must be at least 1".to_owned(),
            });
        }
        for (key, tenant) in config.tenants {
            store.add_tenant(key, tenant)?;
        }
        Ok(store)
    }

    /// The routing handle: pass `&db` to any SeaORM API.
    pub fn db(&self) -> TenantDb {
        TenantDb::new(self.clone())
    }

    /// Registers a tenant at runtime. Its pool opens on first use.
    pub fn add_tenant(
        &self,
        key: impl AsRef<str>,
        config: TenantConfig,
    ) -> Result<(), ConfigError> {
        let name = key.as_ref();
        let key = TenantKey::new(name).map_err(|source| ConfigError::InvalidKey {
            name: name.to_owned(),
            source,
        })?;
        let backend = config.backend_for(key.as_str())?;
        let config = config
            .clone()
            .with_pool(config.pool.or(&self.inner.defaults));
        let tenant = Arc::new(Tenant {
            key: key.clone(),
            store_id: self.inner.id,
            backend,
            config,
            slot: Mutex::default(),
            opening: tokio::sync::Mutex::new(()),
            attempts: AtomicU64::new(0),
            last_error: Mutex::new(None),
            last_used: AtomicU64::new(0),
            removed: AtomicBool::new(false),
            notify_idle: self.inner.options.max_open_pools.is_some(),
            idle: Arc::clone(&self.inner.idle),
        });
        let mut registry = self
            .inner
            .registry
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if registry.tenants.contains_key(&key) {
            return Err(ConfigError::AlreadyRegistered(key));
        }
        registry.per_backend[backend_index(backend)] += 1;
        registry.tenants.insert(key, tenant);
        Ok(())
    }

    /// Unregisters a tenant. New calls for it fail with [`TenantError::Unknown`];
    /// calls already running finish, then its pool is closed.
    pub async fn remove_tenant(&self, key: impl AsRef<str>) -> Result<(), TenantError> {
        let key = TenantKey::new(key.as_ref())?;
        let tenant = {
            let mut registry = self
                .inner
                .registry
                .write()
                .unwrap_or_else(|e| e.into_inner());
            let tenant = registry
                .tenants
                .remove(&key)
                .ok_or_else(|| TenantError::Unknown(key.clone()))?;
            registry.per_backend[backend_index(tenant.backend)] -= 1;
            tenant
        };
        let conn = {
            let mut open = lock(&self.inner.open);
            tenant.removed.store(true, Ordering::Release);
            open.pools.retain(|t| !Arc::ptr_eq(t, &tenant));
            lock(&tenant.slot).conn.take()
        };
        if let Some(conn) = conn {
            loop {
                let notified = tenant.idle.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if tenant.in_flight() == 0 {
                    break;
                }
                notified.await;
            }
            let _ = conn.close().await;
        }
        tracing::info!(tenant = %key, "tenant removed");
        Ok(())
    }

    /// Whether `name` is a registered tenant.
    pub fn contains(&self, name: &str) -> bool {
        self.inner.lookup(name).is_some()
    }

    /// The registered tenants, sorted by name.
    pub fn tenants(&self) -> Vec<TenantKey> {
        let registry = self
            .inner
            .registry
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let mut keys: Vec<TenantKey> = registry.tenants.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// A tenant's configuration (pool settings merged with the defaults).
    pub fn tenant_config(&self, name: &str) -> Option<TenantConfig> {
        self.inner.lookup(name).map(|t| t.config.clone())
    }

    /// Validates `name` and checks it is registered: what a request handler does
    /// before [`with_tenant`](Self::with_tenant).
    pub fn check(&self, name: &str) -> Result<TenantKey, TenantError> {
        self.inner.resolve(name).map(|t| t.key.clone())
    }

    /// Runs `fut` with tenant `name` current: every query through a [`TenantDb`]
    /// inside it goes to that tenant's database.
    ///
    /// Fails before running anything if the name is invalid
    /// ([`TenantError::InvalidKey`]), not registered ([`TenantError::Unknown`]),
    /// or another tenant is already current ([`TenantError::Switch`]).
    /// Re-entering the tenant that is already current is allowed.
    pub async fn with_tenant<F: Future>(
        &self,
        name: impl AsRef<str>,
        fut: F,
    ) -> Result<F::Output, TenantError> {
        let tenant = self.inner.resolve_for_scope(name.as_ref())?;
        Ok(match tenant {
            Some(tenant) => current::scope(Current { tenant }, fut).await,
            None => fut.await,
        })
    }

    /// Opens (if needed) and returns tenant `name`'s pool, for APIs that need a
    /// concrete connection (sea-orm-migration, schema tools). The pool is not
    /// evicted while the returned value lives.
    pub async fn connection(&self, name: &str) -> Result<TenantConnection, TenantError> {
        let tenant = self.inner.resolve(name)?;
        self.inner.lease(&tenant).await
    }

    /// The shared database for global tables, reachable without a tenant.
    /// Opened on first use; a failed open is not cached.
    pub async fn shared(&self) -> Result<DatabaseConnection, TenantError> {
        let shared = self
            .inner
            .shared
            .as_ref()
            .ok_or(TenantError::NoSharedDatabase)?;
        if self.inner.is_closed() {
            return Err(TenantError::Closed);
        }
        shared
            .conn
            .get_or_try_init(|| async {
                open_pool(&shared.config, shared.backend)
                    .await
                    .map_err(|reason| TenantError::SharedUnavailable { reason })
            })
            .await
            .cloned()
    }

    /// Whether a shared database is configured.
    pub fn has_shared(&self) -> bool {
        self.inner.shared.is_some()
    }

    /// The shared database's configuration, if any.
    pub fn shared_config(&self) -> Option<&TenantConfig> {
        self.inner.shared.as_ref().map(|s| &s.config)
    }

    /// Counts of tenants, open pools, opens and evictions.
    pub fn stats(&self) -> StoreStats {
        let registered = self
            .inner
            .registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .tenants
            .len();
        let (open, peak_open) = {
            let open = lock(&self.inner.open);
            (open.pools.len(), open.peak)
        };
        StoreStats {
            registered,
            open,
            peak_open,
            opens: self.inner.opens.load(Ordering::Relaxed),
            evictions: self.inner.evictions.load(Ordering::Relaxed),
            open_failures: self.inner.open_failures.load(Ordering::Relaxed),
        }
    }

    /// Closes every pool not in use and unused for at least `older_than`;
    /// returns how many were closed. The store does this by itself when
    /// `pool_idle_timeout` is set.
    pub async fn evict_idle(&self, older_than: Duration) -> usize {
        self.inner.evict_idle(older_than).await
    }

    /// Closes every pool, the shared one too. Later calls fail with [`TenantError::Closed`].
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let pools: Vec<_> = {
            let mut open = lock(&self.inner.open);
            open.pools
                .drain(..)
                .filter_map(|t| lock(&t.slot).conn.take())
                .collect()
        };
        for conn in pools {
            let _ = conn.close().await;
        }
        if let Some(conn) = self.inner.shared.as_ref().and_then(|s| s.conn.get()) {
            let _ = conn.close_by_ref().await;
        }
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// The backend every registered tenant uses, or `None` when the store is
    /// empty or mixes backends.
    pub fn common_backend(&self) -> Option<DbBackend> {
        self.inner.common_backend()
    }

    /// The store's limits.
    pub fn options(&self) -> &StoreOptions {
        &self.inner.options
    }
}

impl fmt::Debug for TenantConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registry = self
            .inner
            .registry
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let mut tenants: Vec<_> = registry.tenants.values().collect();
        tenants.sort_by(|a, b| a.key.cmp(&b.key));
        f.debug_struct("TenantConnections")
            .field(
                "tenants",
                &tenants
                    .iter()
                    .map(|t| (t.key.as_str(), t.config.redacted_url()))
                    .collect::<Vec<_>>(),
            )
            .field(
                "shared",
                &self.inner.shared.as_ref().map(|s| s.config.redacted_url()),
            )
            .field("options", &self.inner.options)
            .field("stats", &self.stats())
            .finish()
    }
}

impl fmt::Display for TenantConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.stats();
        write!(f, "{} tenants, {} open pools", stats.registered, stats.open)
    }
}

/// Opens a pool within the connect timeout; the error text has the password masked.
async fn open_pool(
    config: &TenantConfig,
    backend: DbBackend,
) -> Result<DatabaseConnection, String> {
    let timeout = config.pool.effective_connect_timeout();
    match tokio::time::timeout(timeout, Database::connect(config.connect_options(backend))).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(err)) => Err(scrub(&err.to_string(), config.url())),
        Err(_) => Err(format!("no connection within {timeout:?}")),
    }
}

/// A place in the open set, given back if the open fails or is cancelled.
struct Reservation<'a> {
    inner: &'a Inner,
    armed: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.armed {
            lock(&self.inner.open).reserved -= 1;
            self.inner.idle.notify_waiters();
        }
    }
}

impl Inner {
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<Arc<Tenant>> {
        self.registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .tenants
            .get(name)
            .cloned()
    }

    /// Validates and looks up a tenant name.
    pub(crate) fn resolve(&self, name: &str) -> Result<Arc<Tenant>, TenantError> {
        if let Some(tenant) = self.lookup(name) {
            return Ok(tenant);
        }
        Err(TenantError::Unknown(TenantKey::new(name)?))
    }

    /// What `with_tenant` should scope: `None` when `name` is already current.
    fn resolve_for_scope(&self, name: &str) -> Result<Option<Arc<Tenant>>, TenantError> {
        let requested = TenantKey::new(name)?;
        let current = current::with_current(|cur| cur.map(|c| Arc::clone(&c.tenant)));
        match current {
            Some(cur) if cur.key != requested => Err(TenantError::Switch {
                current: cur.key.clone(),
                requested,
            }),
            Some(cur) if cur.store_id == self.id && !cur.is_removed() => Ok(None),
            _ => self.resolve(name).map(Some),
        }
    }

    /// The entry a routed call should use, from the task-local.
    pub(crate) fn current_tenant(&self) -> Result<Arc<Tenant>, TenantError> {
        current::with_current(|cur| match cur {
            None => Err(TenantError::NoTenant),
            Some(c) if c.tenant.store_id == self.id && !c.tenant.is_removed() => {
                Ok(Arc::clone(&c.tenant))
            }
            Some(c) => self.resolve(c.tenant.key.as_str()),
        })
    }

    pub(crate) fn common_backend(&self) -> Option<DbBackend> {
        let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
        let mut used = registry
            .per_backend
            .iter()
            .zip([DbBackend::Sqlite, DbBackend::Postgres, DbBackend::MySql])
            .filter(|(n, _)| **n > 0)
            .map(|(_, b)| b);
        match (used.next(), used.next()) {
            (Some(b), None) => Some(b),
            _ => None,
        }
    }

    /// A lease on `tenant`'s pool, opening it if needed.
    pub(crate) async fn lease(
        self: &Arc<Self>,
        tenant: &Arc<Tenant>,
    ) -> Result<TenantConnection, TenantError> {
        if self.is_closed() {
            return Err(TenantError::Closed);
        }
        if tenant.is_removed() {
            return Err(TenantError::Unknown(tenant.key.clone()));
        }
        if let Some(conn) = tenant.try_lease(self.now()) {
            return Ok(conn);
        }
        // Boxed: opening nests sqlx's connect future (about 8 kB). Inline, every
        // lease future (one per routed query) would carry and move it even when
        // the pool is already open, and its type depth would add up with callers'.
        Box::pin(self.open_single_flight(tenant)).await
    }

    async fn open_single_flight(
        self: &Arc<Self>,
        tenant: &Arc<Tenant>,
    ) -> Result<TenantConnection, TenantError> {
        let seen = tenant.attempts.load(Ordering::Acquire);
        let _opening = tenant.opening.lock().await;
        if let Some(conn) = tenant.try_lease(self.now()) {
            return Ok(conn);
        }
        if self.is_closed() {
            return Err(TenantError::Closed);
        }
        if tenant.is_removed() {
            return Err(TenantError::Unknown(tenant.key.clone()));
        }
        // Someone else's attempt failed while we waited: share its answer
        // rather than queueing another connect timeout behind it.
        if tenant.attempts.load(Ordering::Acquire) != seen
            && let Some(err) = lock(&tenant.last_error).clone()
        {
            return Err(err);
        }
        tenant.attempts.fetch_add(1, Ordering::AcqRel);
        let result = self.open_tenant(tenant).await;
        *lock(&tenant.last_error) = result.as_ref().err().cloned();
        if let Err(err) = &result {
            self.open_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(tenant = %tenant.key, error = %err, "cannot open tenant database");
        }
        result
    }

    async fn open_tenant(
        self: &Arc<Self>,
        tenant: &Arc<Tenant>,
    ) -> Result<TenantConnection, TenantError> {
        let mut reservation = self.reserve(tenant).await?;
        let conn = open_pool(&tenant.config, tenant.backend)
            .await
            .map_err(|reason| TenantError::Unavailable {
                tenant: tenant.key.clone(),
                reason,
            })?;
        let refused = {
            let mut open = lock(&self.open);
            open.reserved -= 1;
            reservation.armed = false;
            if self.is_closed() {
                Some(TenantError::Closed)
            } else if tenant.is_removed() {
                Some(TenantError::Unknown(tenant.key.clone()))
            } else {
                open.pools.push(Arc::clone(tenant));
                open.peak = open.peak.max(open.pools.len());
                let mut slot = lock(&tenant.slot);
                slot.conn = Some(conn.clone());
                slot.in_flight += 1;
                None
            }
        };
        if let Some(err) = refused {
            let _ = conn.close().await;
            return Err(err);
        }
        self.opens.fetch_add(1, Ordering::Relaxed);
        tenant.last_used.store(self.now(), Ordering::Relaxed);
        self.start_reaper();
        tracing::debug!(tenant = %tenant.key, "tenant pool opened");
        Ok(TenantConnection {
            conn,
            tenant: Arc::clone(tenant),
        })
    }

    /// Takes a place in the open set, evicting the least recently used idle
    /// pool when the store is full, or waiting for one to become idle.
    async fn reserve(&self, tenant: &Tenant) -> Result<Reservation<'_>, TenantError> {
        let started = Instant::now();
        let deadline = started + tenant.config.pool.effective_acquire_timeout();
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let evicted = {
                let mut open = lock(&self.open);
                match self.options.max_open_pools {
                    Some(max) if open.pools.len() + open.reserved >= max => {
                        lru_idle(&mut open.pools).inspect(|_| open.reserved += 1)
                    }
                    _ => {
                        open.reserved += 1;
                        return Ok(Reservation {
                            inner: self,
                            armed: true,
                        });
                    }
                }
            };
            if let Some((victim, conn)) = evicted {
                self.evictions.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(tenant = %victim, "idle tenant pool evicted to make room");
                close_in_background(conn);
                return Ok(Reservation {
                    inner: self,
                    armed: true,
                });
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                return Err(TenantError::PoolLimit {
                    tenant: tenant.key.clone(),
                    max_open_pools: self.options.max_open_pools.unwrap_or_default(),
                    waited: started.elapsed(),
                });
            }
        }
    }

    async fn evict_idle(&self, older_than: Duration) -> usize {
        let cutoff = self.now().saturating_sub(older_than.as_nanos() as u64);
        let evicted: Vec<DatabaseConnection> = {
            let mut open = lock(&self.open);
            let mut evicted = Vec::new();
            open.pools.retain(|t| {
                if t.last_used.load(Ordering::Relaxed) > cutoff {
                    return true;
                }
                match t.take_if_idle() {
                    Some(conn) => {
                        evicted.push(conn);
                        false
                    }
                    None => true,
                }
            });
            evicted
        };
        let n = evicted.len();
        if n > 0 {
            self.evictions.fetch_add(n as u64, Ordering::Relaxed);
            self.idle.notify_waiters();
            tracing::debug!(pools = n, "idle tenant pools closed");
        }
        for conn in evicted {
            let _ = conn.close().await;
        }
        n
    }

    /// Starts the background task that closes pools idle for `pool_idle_timeout`.
    fn start_reaper(self: &Arc<Self>) {
        let Some(timeout) = self.options.pool_idle_timeout else {
            return;
        };
        if self.reaper_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(self);
        let period = (timeout / 2).max(Duration::from_millis(100));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                if inner.is_closed() {
                    break;
                }
                inner.evict_idle(timeout).await;
            }
        });
    }
}

/// Picks the least recently used pool nobody is using and takes it out.
fn lru_idle(pools: &mut Vec<Arc<Tenant>>) -> Option<(TenantKey, DatabaseConnection)> {
    let mut candidates: Vec<(u64, usize)> = pools
        .iter()
        .enumerate()
        .filter(|(_, t)| t.in_flight() == 0)
        .map(|(i, t)| (t.last_used.load(Ordering::Relaxed), i))
        .collect();
    candidates.sort_unstable();
    // A candidate may have been leased since the scan; take the first still idle.
    let (index, conn) = candidates
        .into_iter()
        .find_map(|(_, i)| pools[i].take_if_idle().map(|conn| (i, conn)))?;
    let victim = pools.swap_remove(index);
    Some((victim.key.clone(), conn))
}

fn close_in_background(conn: DatabaseConnection) {
    tokio::spawn(async move {
        let _ = conn.close().await;
    });
}
