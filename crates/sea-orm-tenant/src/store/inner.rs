//! The store's state ([`Inner`]) and what every call needs from it: a name
//! resolved to its entry, and a lease on the entry's pool, opened once
//! (single flight) within the open-pool bound and the server's budget.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::{OnceCell, OwnedSemaphorePermit};

use super::capacity::Capacity;
use super::entry::Tenant;
use super::lease::TenantConnection;
use super::refresh::Refresh;
use super::registry::Registry;
use super::stats::Counters;
use crate::config::{PoolOptions, StoreOptions, TenantConfig};
use crate::error::TenantError;
use crate::key::TenantKey;
use crate::pool::budget::{Budgets, ServerBudget};
use crate::pool::opened::OpenPool;
use crate::pool::opener::open_pool;
use crate::pool::sqlite_readers::SqliteReaders;

/// The shared database for global tables.
pub(super) struct Shared {
    pub(super) config: TenantConfig,
    pub(super) backend: DbBackend,
    pub(super) server: Option<Arc<ServerBudget>>,
    /// The pool and its share of the server's budget, held until the store is dropped.
    pub(super) conn: OnceCell<(DatabaseConnection, Option<OwnedSemaphorePermit>)>,
}

/// The store's state, shared by every clone of the store.
pub(crate) struct Inner {
    pub(crate) id: u64,
    pub(super) registry: Registry,
    pub(super) capacity: Arc<Capacity>,
    pub(super) budgets: Budgets,
    pub(super) counters: Arc<Counters>,
    pub(super) defaults: PoolOptions,
    pub(super) options: StoreOptions,
    pub(super) shared: Option<Shared>,
    pub(super) reaper_started: AtomicBool,
    /// The catalog follower consulted before an unknown tenant is refused.
    pub(super) refresher: Mutex<Option<Weak<dyn Refresh>>>,
}

impl Inner {
    /// Validates and looks up a tenant name.
    pub(crate) fn resolve(&self, name: &str) -> Result<Arc<Tenant>, TenantError> {
        if let Some(tenant) = self.registry.get(name) {
            return Ok(tenant);
        }
        Err(TenantError::Unknown(TenantKey::new(name)?))
    }

    /// A lease on `tenant`'s pool (a schema tenant: its database's), opening
    /// it if needed. An entry replaced meanwhile (a move's switch, made by
    /// the mover and again by the catalog follower) is followed to the entry
    /// that holds its name now.
    pub(crate) async fn lease(
        self: &Arc<Self>,
        tenant: &Arc<Tenant>,
    ) -> Result<TenantConnection, TenantError> {
        match self.lease_entry(tenant).await {
            Err(TenantError::Unknown(_)) if tenant.is_removed() => {
                Box::pin(self.lease_replaced(tenant)).await
            }
            leased => leased,
        }
    }

    /// `lease` of the entries that replaced `removed`, until one leases or
    /// the name is gone.
    async fn lease_replaced(
        self: &Arc<Self>,
        removed: &Arc<Tenant>,
    ) -> Result<TenantConnection, TenantError> {
        let mut current = Arc::clone(removed);
        loop {
            let next = self.resolve(current.key.as_str())?;
            if Arc::ptr_eq(&next, &current) {
                return Err(TenantError::Unknown(current.key.clone()));
            }
            current = next;
            match self.lease_entry(&current).await {
                Err(TenantError::Unknown(_)) if current.is_removed() => continue,
                leased => return leased,
            }
        }
    }

    async fn lease_entry(
        self: &Arc<Self>,
        tenant: &Arc<Tenant>,
    ) -> Result<TenantConnection, TenantError> {
        if let Some(now) = self.lease_now(Arc::clone(tenant)) {
            return now;
        }
        // Held: wait, then lease whichever entry holds the name now (held
        // again meanwhile: wait again).
        let mut held;
        let mut tenant = tenant;
        while tenant.hold.is_held() {
            held = self.after_hold(tenant).await?;
            tenant = &held;
            if let Some(now) = self.lease_now(Arc::clone(tenant)) {
                return now;
            }
        }
        // Boxed: opening nests sqlx's connect future (about 8 kB). Inline, every
        // lease future (one per routed query) would carry and move it even when
        // the pool is already open, and its type depth would add up with callers'.
        let Some(placement) = &tenant.placement else {
            return Box::pin(self.open_single_flight(tenant)).await;
        };
        let lease = Box::pin(self.open_single_flight(&placement.database))
            .await
            .map_err(|e| e.about(&tenant.key))?;
        self.seat_lease(Arc::clone(tenant), lease)
    }

    /// `lease` without waiting: `None` when the pool must be opened first.
    /// The entry is moved into the lease, not referenced a second time.
    pub(crate) fn lease_now(
        self: &Arc<Self>,
        tenant: Arc<Tenant>,
    ) -> Option<Result<TenantConnection, TenantError>> {
        if tenant.hold.is_held() {
            return None;
        }
        let Some(placement) = &tenant.placement else {
            return self.pool_lease_now(tenant);
        };
        if tenant.is_removed() {
            return Some(Err(TenantError::Unknown(tenant.key.clone())));
        }
        let database = Arc::clone(&placement.database);
        Some(match self.pool_lease_now(database)? {
            Ok(lease) => self.seat_lease(tenant, lease),
            Err(err) => Err(err.about(&tenant.key)),
        })
    }

    fn pool_lease_now(
        self: &Arc<Self>,
        tenant: Arc<Tenant>,
    ) -> Option<Result<TenantConnection, TenantError>> {
        if self.capacity.is_closed() {
            return Some(Err(TenantError::Closed));
        }
        if tenant.is_removed() {
            return Some(Err(TenantError::Unknown(tenant.key.clone())));
        }
        let (lease, grow) = tenant.try_lease(self.capacity.now())?;
        if grow {
            self.grow(lease.holder());
        }
        Some(Ok(lease))
    }

    /// A schema or row tenant's lease on its database's pool.
    fn seat_lease(
        &self,
        tenant: Arc<Tenant>,
        lease: TenantConnection,
    ) -> Result<TenantConnection, TenantError> {
        tenant
            .last_used
            .store(self.capacity.now(), Ordering::Relaxed);
        lease.for_seat(tenant)
    }

    async fn open_single_flight(
        self: &Arc<Self>,
        tenant: &Arc<Tenant>,
    ) -> Result<TenantConnection, TenantError> {
        let turn = tenant.opening.turn().await?;
        if let Some((conn, _)) = Arc::clone(tenant).try_lease(self.capacity.now()) {
            return Ok(conn);
        }
        if self.capacity.is_closed() {
            return Err(TenantError::Closed);
        }
        if tenant.is_removed() {
            return Err(TenantError::Unknown(tenant.key.clone()));
        }
        let result = turn.attempt(self.open_tenant(tenant)).await;
        if let Err(err) = &result {
            Counters::bump(&self.counters.open_failures, 1);
            tracing::warn!(tenant = %tenant.key, error = %err, "cannot open tenant database");
        }
        result
    }

    async fn open_tenant(
        self: &Arc<Self>,
        tenant: &Arc<Tenant>,
    ) -> Result<TenantConnection, TenantError> {
        let reservation = self
            .capacity
            .reserve(tenant, tenant.config.pool.effective_acquire_timeout())
            .await?;
        let mut pool = self
            .open_within_budget(
                &tenant.config,
                tenant.backend,
                &tenant.server,
                None,
                Some(&tenant.key),
            )
            .await?;
        let budget = tenant.server.as_ref().map_or(0, |s| s.limit());
        pool.grows_to = tenant.grows_to(pool.size, budget);
        pool.readers = SqliteReaders::new(
            &tenant.config,
            tenant.backend,
            self.capacity.close_timeout(),
        )
        .map(Arc::new);
        #[cfg(feature = "postgres")]
        if tenant.shared_by == Some(crate::pool::seat::SeatKind::Row)
            && let Err(err) = super::row_audit::refuse_unprotected(&pool.conn, &tenant.key).await
        {
            // Closed before its permits go back: the budget holds at every instant.
            let _ = pool.conn.close_by_ref().await;
            return Err(err);
        }
        #[cfg(feature = "mysql")]
        if tenant.shared_by == Some(crate::pool::seat::SeatKind::Database)
            && let Err(err) =
                crate::pool::mysql_route::refuse_unless_mariadb(&pool.conn, &tenant.key).await
        {
            let _ = pool.conn.close_by_ref().await;
            return Err(err);
        }
        if tenant.shared_by.is_some() {
            pool.park = crate::pool::shared_route::SharedPark::new(
                tenant.backend,
                tenant.config.url(),
                crate::pool::release_check::PING_IF_IDLE_FOR,
                self.capacity.close_timeout(),
            );
        }
        let lease = self.capacity.admit(reservation, tenant, pool)?;
        Counters::bump(&self.counters.opens, 1);
        self.start_reaper();
        tracing::debug!(tenant = %tenant.key, "tenant pool opened");
        Ok(lease)
    }

    /// Opens a pool of `size` connections (default: the configured pool size),
    /// after taking that many permits of the server's budget (fewer if the
    /// budget is smaller).
    ///
    /// Boxed: it nests sqlx's connect future, and callers' futures (a migration
    /// run over many tenants) would otherwise exceed rustc's layout depth.
    pub(super) fn open_within_budget<'a>(
        self: &'a Arc<Self>,
        config: &'a TenantConfig,
        backend: DbBackend,
        server: &'a Option<Arc<ServerBudget>>,
        size: Option<u32>,
        tenant: Option<&'a TenantKey>,
    ) -> Pin<Box<dyn Future<Output = Result<OpenPool, TenantError>> + Send + 'a>> {
        Box::pin(self.open_within_budget_inner(config, backend, server, size, tenant))
    }

    async fn open_within_budget_inner(
        self: &Arc<Self>,
        config: &TenantConfig,
        backend: DbBackend,
        server: &Option<Arc<ServerBudget>>,
        size: Option<u32>,
        tenant: Option<&TenantKey>,
    ) -> Result<OpenPool, TenantError> {
        let mut size = size.unwrap_or_else(|| config.pool.effective_max_connections(backend));
        let permits = match server {
            Some(server) => {
                let semaphore = server.semaphore(config).await;
                let limit = server.limit().max(1);
                if config.pool.max_connections.is_none() {
                    // A fair share of the budget (at least 1) when the size is not set.
                    let tenants = server.tenants.load(Ordering::Relaxed).max(1);
                    size = size.min((limit / tenants).max(1) as u32);
                }
                size = size.min(limit as u32);
                let permits = self
                    .capacity
                    .server_permits(
                        server,
                        semaphore,
                        size,
                        config.pool.effective_acquire_timeout(),
                        tenant,
                    )
                    .await?;
                Some(permits)
            }
            None => None,
        };
        let conn = open_pool(config, backend, size, self.capacity.close_timeout())
            .await
            .map_err(|reason| TenantError::Unavailable {
                tenant: tenant
                    .cloned()
                    .unwrap_or_else(|| TenantKey::new("shared").expect("valid key")),
                reason,
            })?;
        Ok(OpenPool::new(conn, permits, size, size))
    }

    /// Starts the idle reaper on first open, when `pool_idle_timeout` is set.
    fn start_reaper(&self) {
        let timeout = self.options.effective_pool_idle_timeout();
        if !self.reaper_started.swap(true, Ordering::AcqRel) {
            self.capacity.start_reaper(timeout);
        }
    }
}
