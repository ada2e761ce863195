//! [`CurrentTenant`] and [`RoutedDb`]: the request's tenant and its routing
//! handle, as axum extractors.

use std::fmt;
use std::ops::Deref;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use sea_orm_tenant::{TenantConnections, TenantDb, TenantKey};
use sea_orm_tenant_http::TenantRejection;

/// The tenant chosen for this request by [`TenantLayer`](crate::TenantLayer),
/// with the routing handle to its database.
///
/// The tenant is read from the task-local the layer runs the request in, the
/// handle from the request extensions (the one entry the layer adds, a
/// [`TenantDb`], so `Extension<TenantDb>` works too). On a route that is
/// exempt or not behind the layer, extraction fails with
/// [`TenantRejection::NoTenant`] (500, a wiring bug); take
/// `Option<CurrentTenant>` where the tenant is optional.
///
/// ```
/// use sea_orm_tenant::sea_orm::ConnectionTrait;
/// use sea_orm_tenant_axum::{CurrentTenant, ErrorResponse, TenantResultExt};
///
/// async fn hello(tenant: CurrentTenant) -> Result<String, ErrorResponse> {
///     tenant.db().execute_unprepared("SELECT 1").await.into_axum()?;
///     Ok(format!("hello from {}", tenant.key()))
/// }
/// let _app: axum::Router = axum::Router::new().route("/hello", axum::routing::get(hello));
/// ```
#[derive(Clone)]
pub struct CurrentTenant {
    key: TenantKey,
    db: TenantDb,
}

impl CurrentTenant {
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

    /// The request's tenant, if the layer chose one for it.
    pub fn from_parts(parts: &Parts) -> Option<Self> {
        match (
            sea_orm_tenant::current_tenant(),
            parts.extensions.get::<TenantDb>(),
        ) {
            (Some(key), Some(db)) => Some(Self {
                key,
                db: db.clone(),
            }),
            _ => None,
        }
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

impl<S: Send + Sync> FromRequestParts<S> for CurrentTenant {
    type Rejection = TenantRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, TenantRejection> {
        Self::from_parts(parts).ok_or(TenantRejection::NoTenant)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentTenant {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(Self::from_parts(parts))
    }
}

/// The routing handle of the request, [`TenantDb`], as an extractor: queries
/// through it reach the request's tenant. Dereferences to the `TenantDb`.
///
/// Fails with [`TenantRejection::NoTenant`] (500) where no tenant is current
/// (an exempt route, or a router not behind the layer).
#[derive(Clone, Debug)]
pub struct RoutedDb(pub TenantDb);

impl Deref for RoutedDb {
    type Target = TenantDb;

    fn deref(&self) -> &TenantDb {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RoutedDb {
    type Rejection = TenantRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, TenantRejection> {
        CurrentTenant::from_parts(parts)
            .map(|tenant| Self(tenant.db))
            .ok_or(TenantRejection::NoTenant)
    }
}
