//! [`CurrentTenant`]: the request's tenant and its routing handle, the
//! extractor of both adapters.

use std::fmt;
use std::ops::Deref;

use sea_orm_tenant::{TenantConnections, TenantDb, TenantKey};

/// The tenant chosen for this request by the tenant middleware (poem's
/// `TenantMiddleware`, axum's `TenantLayer`), with the routing handle to its
/// database.
///
/// An extractor in both frameworks (with the `poem` feature a poem
/// `FromRequest`, with the `axum` feature an axum `FromRequestParts` and
/// `OptionalFromRequestParts`). The tenant is read from the task-local the
/// middleware runs the request in (no copy per request), the routing handle
/// from the one request-data entry the middleware adds: the [`TenantDb`].
///
/// On a route that is exempt or not behind the middleware, extraction fails
/// with [`TenantRejection::NoTenant`](crate::TenantRejection::NoTenant) (500, a
/// wiring bug); take `Option<CurrentTenant>` where the tenant is optional.
#[derive(Clone)]
pub struct CurrentTenant {
    key: TenantKey,
    db: TenantDb,
}

impl CurrentTenant {
    /// The tenant current in this task with `db`, the routing handle the
    /// middleware put in the request; `None` when either is missing.
    pub fn current(db: Option<&TenantDb>) -> Option<Self> {
        Some(Self {
            key: sea_orm_tenant::current_tenant()?,
            db: db?.clone(),
        })
    }

    /// The request's tenant, read from the task-local and the request's
    /// extensions (an `http` request's parts).
    pub fn from_parts(parts: &http::request::Parts) -> Option<Self> {
        Self::current(parts.extensions.get::<TenantDb>())
    }

    /// The tenant's name.
    pub fn key(&self) -> &TenantKey {
        &self.key
    }

    /// The tenant's name as a string slice.
    pub fn as_str(&self) -> &str {
        self.key.as_str()
    }

    /// The routing handle: pass `&db` to any SeaORM API; it reaches this
    /// tenant's database inside the request (and in its response body).
    pub fn db(&self) -> &TenantDb {
        &self.db
    }

    /// The tenant store.
    pub fn store(&self) -> &TenantConnections {
        self.db.store()
    }
}

impl Deref for CurrentTenant {
    type Target = TenantKey;

    fn deref(&self) -> &TenantKey {
        &self.key
    }
}

impl fmt::Display for CurrentTenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.key, f)
    }
}

impl fmt::Debug for CurrentTenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CurrentTenant").field(&self.key).finish()
    }
}
