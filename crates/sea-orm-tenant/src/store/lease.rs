//! [`TenantConnection`]: a lease on a tenant's pool (a schema tenant's: its
//! database's pool, on its schema), which keeps that pool open while a call
//! or a request uses it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use sea_orm::{DatabaseConnection, DbBackend};

use super::entry::Tenant;
use crate::error::TenantError;
use crate::key::TenantKey;
use crate::lock::lock;
use crate::pool::opened::{LeasedPool, OpenPool};
use crate::pool::seat::Seat;
use crate::pool::shared_route::SharedRoute;
use crate::schema::SchemaName;

/// A tenant's connections, held for the duration of a call or a request.
///
/// While any `TenantConnection` of a tenant is alive its pool is never
/// evicted. It implements SeaORM's [`ConnectionTrait`](sea_orm::ConnectionTrait),
/// [`TransactionTrait`](sea_orm::TransactionTrait) and
/// [`StreamTrait`](sea_orm::StreamTrait), so every SeaORM API accepts `&conn`;
/// a schema tenant's calls get its `search_path` (see the crate docs).
pub struct TenantConnection {
    /// The leased pool (its handle, its park, its read pool); keeps it from
    /// closing when a larger one replaces it.
    pub(crate) pool: Arc<LeasedPool>,
    /// The tenant the calls are for.
    pub(crate) tenant: Arc<Tenant>,
    /// The entry whose pool is leased when it is not the tenant's own (a
    /// schema or row tenant's database); `None`: the tenant's own pool,
    /// which saves a reference count per lease.
    holder: Option<Arc<Tenant>>,
    /// For a schema or row tenant: its route on the database's shared pool.
    /// Boxed: a lease is moved several times on the request path, and a
    /// database tenant's is then a few words, not the route's size.
    pub(crate) shared: Option<Box<SharedRoute>>,
}

impl TenantConnection {
    fn of_pool(pool: &OpenPool, holder: Arc<Tenant>) -> Self {
        Self::of_leased(pool.leased(), holder)
    }

    /// A lease of `holder`'s own pool, whose in-flight count the caller has raised.
    fn of_leased(pool: Arc<LeasedPool>, holder: Arc<Tenant>) -> Self {
        Self {
            pool,
            tenant: holder,
            holder: None,
            shared: None,
        }
    }

    /// The entry whose pool is leased: the tenant's own, or its database's.
    pub(crate) fn holder(&self) -> &Arc<Tenant> {
        self.holder.as_ref().unwrap_or(&self.tenant)
    }

    /// This lease of a shared database's pool, for `tenant`, placed in that
    /// database (on its seat there).
    pub(crate) fn for_seat(mut self, tenant: Arc<Tenant>) -> Result<Self, TenantError> {
        let unavailable = |reason: &str| TenantError::Unavailable {
            tenant: tenant.key.clone(),
            reason: reason.into(),
        };
        let park = self
            .pool
            .park
            .clone()
            .ok_or_else(|| unavailable("its database's pool is not shared by tenants"))?;
        let seat = match &tenant.placement {
            Some(placement) => placement.seat.clone(),
            None => return Err(unavailable("it is not placed in a shared database")),
        };
        self.shared = Some(Box::new(SharedRoute::new(
            self.pool.conn.clone(),
            &park,
            seat,
            tenant.key.clone(),
        )?));
        tenant.in_flight.fetch_add(1, Ordering::Relaxed);
        let holder = std::mem::replace(&mut self.tenant, tenant);
        self.holder = Some(holder);
        Ok(self)
    }

    /// The tenant this connection belongs to.
    pub fn tenant(&self) -> &TenantKey {
        &self.tenant.key
    }

    /// The tenant's schema, for a schema tenant.
    pub fn schema(&self) -> Option<&SchemaName> {
        match self.shared.as_deref().map(SharedRoute::seat) {
            Some(Seat::Schema(schema)) => Some(schema),
            _ => None,
        }
    }

    /// Whether the tenant is a row tenant (its rows in tables shared with the
    /// other tenants of its database).
    pub fn is_row_tenant(&self) -> bool {
        matches!(
            self.shared.as_deref().map(SharedRoute::seat),
            Some(Seat::Row(_))
        )
    }

    /// The tenant's backend; inherent so that `conn.get_database_backend()`
    /// is not ambiguous between SeaORM's traits.
    pub fn get_database_backend(&self) -> DbBackend {
        self.tenant.backend
    }

    /// A clone of the pool handle, for a tenant with a pool of its own;
    /// `None` for a schema or row tenant, or a database tenant sharing its
    /// server's pool, whose pool is shared with other tenants and is on no
    /// tenant outside this connection's calls. Unlike `self`, the handle does
    /// not keep the pool from being evicted; once evicted, its calls fail
    /// with a closed-pool error.
    pub fn to_database_connection(&self) -> Option<DatabaseConnection> {
        self.shared.is_none().then(|| self.pool.conn.clone())
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
        if self.holder.is_some() {
            // A schema tenant's own count, for waiting on its calls when it is removed.
            if self.tenant.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.tenant.idle.notify_waiters();
            }
        }
        let holder = self.holder();
        if holder.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            holder.idle.notify_waiters();
        }
    }
}

/// Taking a lease: the pool counts the call in flight until the lease drops.
impl Tenant {
    /// A lease on the pool, if it is open, and whether the pool is due to
    /// grow ([`super::growth`]).
    pub(crate) fn try_lease(self: Arc<Self>, now: u64) -> Option<(TenantConnection, bool)> {
        let (leased, grow) = {
            let mut slot = lock(&self.slot);
            let pool = slot.pool.as_ref()?;
            let leased = pool.leased();
            // Raised under the lock, so eviction (which takes it) sees it.
            let in_flight = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
            let grow = pool.is_due_to_grow(in_flight);
            slot.heat.touch(now);
            (leased, grow)
        };
        self.last_used.store(now, Ordering::Relaxed);
        Some((TenantConnection::of_leased(leased, self), grow))
    }

    /// Installs a freshly opened pool and leases it.
    pub(crate) fn install(self: &Arc<Self>, pool: OpenPool, now: u64) -> TenantConnection {
        let lease = TenantConnection::of_pool(&pool, Arc::clone(self));
        {
            let mut slot = lock(&self.slot);
            slot.pool = Some(pool);
            self.in_flight.fetch_add(1, Ordering::Relaxed);
            slot.heat.touch(now);
        }
        self.last_used.store(now, Ordering::Relaxed);
        lease
    }
}
