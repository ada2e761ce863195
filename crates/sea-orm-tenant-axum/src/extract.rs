//! [`CurrentTenant`] (shared with the poem crate) and [`RoutedDb`]: the
//! request's tenant and its routing handle, as axum extractors.
//!
//! ```
//! use sea_orm_tenant::sea_orm::ConnectionTrait;
//! use sea_orm_tenant_axum::{CurrentTenant, ErrorResponse, TenantResultExt};
//!
//! async fn hello(tenant: CurrentTenant) -> Result<String, ErrorResponse> {
//!     tenant.db().execute_unprepared("SELECT 1").await.into_axum()?;
//!     Ok(format!("hello from {}", tenant.key()))
//! }
//! let _app: axum::Router = axum::Router::new().route("/hello", axum::routing::get(hello));
//! ```

use std::ops::Deref;

use axum::extract::FromRequestParts;
use http::request::Parts;
use sea_orm_tenant::TenantDb;
pub use sea_orm_tenant_http::CurrentTenant;
use sea_orm_tenant_http::TenantRejection;

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
            .map(|tenant| Self(tenant.db().clone()))
            .ok_or(TenantRejection::NoTenant)
    }
}
