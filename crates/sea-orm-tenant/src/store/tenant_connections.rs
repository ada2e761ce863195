//! [`TenantConnections`]: the store's public API. A handle on [`Inner`]:
//! tenants registered and removed, leases, sessions, the shared database,
//! statistics and closing.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sea_orm::DbBackend;
use tokio::sync::OnceCell;

use super::capacity::Capacity;
use super::entry::Tenant;
use super::inner::{Inner, Shared};
use super::lease::TenantConnection;
use super::refresh::Refresh;
use super::registry::Registry;
use super::stats::{Counters, StoreStats, TenantStats};
use crate::config::{ConfigError, StoreOptions, TenantConfig, TenantsConfig};
use crate::error::TenantError;
use crate::key::TenantKey;
use crate::lock::lock;
use crate::pool::budget::{Budgets, ServerStats};
use crate::pool::seat::{Seat, SeatKind};

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

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
    /// A store from a TOML file (format in [`crate::config`]).
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::from_config(TenantsConfig::from_toml_file(path)?)
    }

    /// A store from a parsed configuration. Every setting is checked against its
    /// range ([`crate::config::limits`]) before anything is built.
    pub fn from_config(config: TenantsConfig) -> Result<Self, ConfigError> {
        config.store.validate()?;
        config.defaults.validate("defaults")?;
        for (server, options) in &config.servers {
            options.validate(server)?;
        }
        let budgets = Budgets::new(
            config.servers,
            config.store.server_max_connections,
            config.store.instances,
        );
        let shared = match config.shared {
            Some(shared) => {
                if let Some(schema) = shared.schema() {
                    return Err(ConfigError::SharedSchema {
                        schema: schema.clone(),
                    });
                }
                let backend = shared.backend_for("shared")?;
                let config = shared.clone().with_pool(shared.pool.or(&config.defaults));
                config.pool.validate("shared")?;
                Some(Shared {
                    server: budgets.server_for(&config, backend),
                    config,
                    backend,
                    conn: OnceCell::new(),
                })
            }
            None => None,
        };
        let counters = Arc::new(Counters::default());
        let capacity = Arc::new(Capacity::new(
            config.store.effective_max_open_pools(),
            config.store.effective_close_timeout(),
            Arc::clone(&counters),
        ));
        let store = Self {
            inner: Arc::new(Inner {
                id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
                registry: Registry::default(),
                capacity,
                budgets,
                counters,
                defaults: config.defaults,
                options: config.store,
                shared,
                reaper_started: AtomicBool::new(false),
                refresher: Mutex::new(None),
            }),
        };
        for (key, tenant) in config.tenants {
            store.add_tenant(key, tenant)?;
        }
        Ok(store)
    }

    /// Registers a tenant at runtime. Its pool opens on first use.
    pub fn add_tenant(
        &self,
        key: impl AsRef<str>,
        config: TenantConfig,
    ) -> Result<(), ConfigError> {
        let tenant = self.new_entry(key.as_ref(), config)?;
        let inserted = self.inner.registry.insert(Arc::clone(&tenant));
        if inserted.is_err() {
            self.leave_database(&tenant);
        }
        inserted
    }

    /// A new entry for tenant `name` with `config` (placed in its shared
    /// database's entry, counted on its server), not yet registered.
    pub(super) fn new_entry(
        &self,
        name: &str,
        config: TenantConfig,
    ) -> Result<Arc<Tenant>, ConfigError> {
        let key = TenantKey::new(name).map_err(|source| ConfigError::InvalidKey {
            name: name.to_owned(),
            source,
        })?;
        let backend = config.backend_for(key.as_str())?;
        let config = config
            .clone()
            .with_pool(config.pool.or(&self.inner.defaults));
        config.pool.validate(key.as_str())?;
        let inner = &self.inner;
        let seat = match config.schema() {
            Some(schema) => Some(Seat::Schema(schema.clone())),
            None if config.is_row_tenant() => Some(Seat::Row(key.clone())),
            None if config.shares_server() => config.database_name().map(Seat::Database),
            None => None,
        };
        let pool_url = config.shared_pool_url().unwrap_or_default();
        let tenant = Tenant::new(
            key,
            inner.id,
            backend,
            config.clone(),
            None,
            Arc::clone(&inner.capacity.changed),
        );
        let tenant = match seat {
            None => {
                let server = inner.budgets.server_for(&config, backend);
                if let Some(server) = &server {
                    server.tenants.fetch_add(1, Ordering::Relaxed);
                }
                tenant.on_server(server)
            }
            Some(seat) => {
                let kind = seat.kind();
                let database = inner.registry.place_in_database(&pool_url, || {
                    let server = inner.budgets.server_for(&config, backend);
                    if let Some(server) = &server {
                        server.tenants.fetch_add(1, Ordering::Relaxed);
                    }
                    let db_config = TenantConfig::new(pool_url.clone())
                        .with_pool(config.pool.clone())
                        .serving_tenants();
                    let entry = Tenant::new(
                        Tenant::database_key(&db_config),
                        inner.id,
                        backend,
                        db_config,
                        server.clone(),
                        Arc::clone(&inner.capacity.changed),
                    );
                    Arc::new(entry.on_server(server).shared_by(kind))
                });
                if database.shared_by != Some(kind) {
                    self.leave_database_of(&pool_url);
                    return Err(ConfigError::MixedDatabase {
                        tenant: tenant.key.clone(),
                        kind: match kind {
                            SeatKind::Schema => "schema",
                            SeatKind::Row => "row",
                            SeatKind::Database => "database",
                        },
                        url: config.redacted_url(),
                    });
                }
                tenant.placed(database, seat)
            }
        };
        Ok(Arc::new(tenant))
    }

    /// For a schema tenant leaving the store: when it was the last one in its
    /// database, the database's pool closes in the background.
    pub(super) fn leave_database(&self, tenant: &Arc<Tenant>) {
        if let Some(url) = tenant.config.shared_pool_url() {
            self.leave_database_of(&url);
        }
    }

    /// Counts one tenant less in the shared database at `url`.
    fn leave_database_of(&self, url: &str) {
        if let Some(database) = self.inner.registry.leave_database(url) {
            if let Some(server) = &database.server {
                server.tenants.fetch_sub(1, Ordering::Relaxed);
            }
            let _ = self.inner.capacity.remove(&database);
        }
    }

    /// Unregisters a tenant. New calls for it fail with [`TenantError::Unknown`]
    /// at once (when this is called, not when the returned future is first
    /// polled); calls already running finish, then its pool is closed.
    ///
    /// The returned future resolves when the pool is closed, or after the
    /// store's `close_timeout` if calls or transactions of the tenant are still
    /// running then: they keep their connections, which close as they come
    /// back. Dropping it unregisters the tenant all the same.
    pub fn remove_tenant(
        &self,
        key: impl AsRef<str>,
    ) -> impl Future<Output = Result<(), TenantError>> + Send + 'static {
        let removed = TenantKey::new(key.as_ref())
            .map_err(TenantError::from)
            .and_then(|key| Ok((self.inner.registry.remove(&key)?, key)));
        let store = self.clone();
        async move {
            let (tenant, key) = removed?;
            store.drain_removed(&tenant).await;
            tracing::info!(tenant = %key, "tenant removed");
            Ok(())
        }
    }

    /// After an entry left the registry: its calls finish, then its pool (or
    /// its place in its shared database) goes.
    pub(super) async fn drain_removed(&self, tenant: &Arc<Tenant>) {
        if let Some(server) = &tenant.server {
            server.tenants.fetch_sub(1, Ordering::Relaxed);
        }
        if tenant.placement.is_some() {
            // Its calls run on the database's shared pool: wait for them, not for a close.
            let _ =
                tokio::time::timeout(self.inner.capacity.close_timeout(), tenant.wait_idle()).await;
            self.leave_database(tenant);
        } else if let Some(close) = self.inner.capacity.remove(tenant) {
            close.wait().await;
        }
    }

    /// Whether `name` is a registered tenant.
    pub fn contains(&self, name: &str) -> bool {
        self.inner.registry.get(name).is_some()
    }

    /// The registered tenants, sorted by name.
    pub fn tenants(&self) -> Vec<TenantKey> {
        self.inner
            .registry
            .sorted()
            .into_iter()
            .map(|t| t.key.clone())
            .collect()
    }

    /// A tenant's configuration (pool settings merged with the defaults).
    pub fn tenant_config(&self, name: &str) -> Option<TenantConfig> {
        self.inner.registry.get(name).map(|t| t.config.clone())
    }

    /// Validates `name` and checks it is registered: what a request handler does
    /// before [`with_tenant`](Self::with_tenant).
    pub fn check(&self, name: &str) -> Result<TenantKey, TenantError> {
        self.inner.resolve(name).map(|t| t.key.clone())
    }

    /// Opens (if needed) and returns tenant `name`'s pool, for APIs that need a
    /// concrete connection (sea-orm-migration, schema tools). The pool is not
    /// evicted while the returned value lives.
    pub async fn connection(&self, name: &str) -> Result<TenantConnection, TenantError> {
        if let Some(now) = self.connection_now(name) {
            return now;
        }
        let tenant = match self.inner.resolve(name) {
            Err(TenantError::Unknown(_)) if self.refresh_unknown().await => {
                self.inner.resolve(name)?
            }
            other => other?,
        };
        self.inner.lease(&tenant).await
    }

    /// [`connection`](Self::connection) when it can answer without waiting:
    /// the lease of an already open pool, or the error of an invalid name, an
    /// unknown tenant (with no catalog to consult) or a closed store. `None`
    /// when the pool must be opened or the catalog re-read first: call
    /// `connection` then. For a request path that must not build a future
    /// for the common case (the poem middleware).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use sea_orm_tenant::{TenantConnections, TenantError};
    ///
    /// let store = TenantConnections::from_urls([("acme", "sqlite::memory:")])?;
    /// assert!(store.connection_now("acme").is_none()); // not opened yet
    /// let lease = store.connection("acme").await?;
    /// assert!(store.connection_now("acme").is_some_and(|now| now.is_ok()));
    /// assert!(matches!(store.connection_now("Not Valid"), Some(Err(TenantError::InvalidKey(_)))));
    /// assert!(matches!(store.connection_now("globex"), Some(Err(TenantError::Unknown(_)))));
    /// # drop(lease);
    /// # Ok(())
    /// # }
    /// ```
    pub fn connection_now(&self, name: &str) -> Option<Result<TenantConnection, TenantError>> {
        match self.inner.resolve(name) {
            Ok(tenant) => self.inner.lease_now(tenant),
            Err(TenantError::Unknown(_)) if self.has_refresher() => None,
            Err(err) => Some(Err(err)),
        }
    }

    fn has_refresher(&self) -> bool {
        lock(&self.inner.refresher)
            .as_ref()
            .is_some_and(|r| r.strong_count() > 0)
    }

    /// With a catalog attached ([`CatalogSync`](crate::CatalogSync)): waits
    /// for a catalog re-read that started after now, so a tenant created a
    /// moment ago on another instance is found. Returns whether one ran.
    pub(crate) async fn refresh_unknown(&self) -> bool {
        let refresher = lock(&self.inner.refresher).as_ref().and_then(Weak::upgrade);
        match refresher {
            Some(refresher) => {
                refresher.refresh_since(tokio::time::Instant::now()).await;
                true
            }
            None => false,
        }
    }

    /// Sets (or clears) what is consulted before an unknown tenant is refused.
    pub(crate) fn set_refresher(&self, refresher: Option<Weak<dyn Refresh>>) {
        *lock(&self.inner.refresher) = refresher;
    }

    /// Every registered tenant's figures, sorted by name.
    pub fn tenant_stats(&self) -> Vec<TenantStats> {
        self.inner
            .registry
            .sorted()
            .into_iter()
            .map(|t| TenantStats {
                tenant: t.key.clone(),
                open: t.is_open(),
                queries: t.queries.load(Ordering::Relaxed),
                errors: t.errors.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Every database server's connection budget and use, sorted by server.
    pub fn server_stats(&self) -> Vec<ServerStats> {
        self.inner.budgets.stats()
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
        let mut stats = StoreStats {
            registered: self.inner.registry.len(),
            ..StoreStats::default()
        };
        self.inner.capacity.fill(&mut stats);
        self.inner.counters.fill(&mut stats);
        stats
    }

    /// Closes every pool not in use and unused for at least `older_than`;
    /// returns how many were closed. The store does this by itself when
    /// `pool_idle_timeout` is set. Returns within `close_timeout`.
    pub async fn evict_idle(&self, older_than: Duration) -> usize {
        self.inner.capacity.evict_idle(older_than).await
    }

    /// Closes every pool, the shared one too. Later calls fail with
    /// [`TenantError::Closed`]. Returns within about twice `close_timeout`:
    /// connections still held by running calls or transactions then are left to
    /// close as they come back.
    pub async fn close(&self) {
        self.inner.capacity.close_all().await;
        if let Some((conn, _)) = self.inner.shared.as_ref().and_then(|s| s.conn.get()) {
            let timeout = self.inner.capacity.close_timeout();
            let _ = tokio::time::timeout(timeout, conn.close_by_ref()).await;
        }
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.capacity.is_closed()
    }

    /// The backend every registered tenant uses, or `None` when the store is
    /// empty or mixes backends.
    pub fn common_backend(&self) -> Option<DbBackend> {
        self.inner.registry.common_backend()
    }

    /// The store's limits.
    pub fn options(&self) -> &StoreOptions {
        &self.inner.options
    }
}

impl fmt::Debug for TenantConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenants = self.inner.registry.sorted();
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
