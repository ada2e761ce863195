//! What a [`TenantLayer`](crate::TenantLayer) was configured with, how it
//! leases a request's tenant, and the rejections it answers with.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use http::request::Parts;
use sea_orm_tenant::{TenantConnection, TenantConnections, TenantError};
use sea_orm_tenant_http::{Exempt, Found, Rejected, TenantRejection, add_retry_after};

use crate::resolver::{ConflictPolicy, Resolver};

pub(crate) type RejectionFn = dyn Fn(&TenantRejection) -> Response + Send + Sync + 'static;

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) store: TenantConnections,
    pub(crate) resolver: Resolver,
    pub(crate) conflict: ConflictPolicy,
    pub(crate) exempt: Exempt,
    pub(crate) on_rejection: Option<Arc<RejectionFn>>,
    pub(crate) retry_after: Duration,
}

impl Config {
    /// Resolves the tenant of `parts`, rewrites its URI for a path-segment
    /// source, and leases the tenant's pool (opening it if needed).
    pub(crate) async fn lease(&self, parts: &mut Parts) -> Result<TenantConnection, Response> {
        let resolved = match self.resolver.resolve_now(parts, self.conflict) {
            Some(resolved) => resolved,
            None => self.resolver.resolve(parts, self.conflict).await,
        };
        let found = match resolved {
            Ok(Some(found)) => found.into_owned(),
            Ok(None) => return Err(self.missing()),
            Err(Rejected::Tenant(rejection)) => return Err(self.reject(rejection)),
            Err(Rejected::Custom(resp)) => return Err(resp),
        };
        let leased = match self.store.connection_now(&found.name) {
            Some(leased) => leased,
            None => self.store.connection(&found.name).await,
        };
        let lease = leased
            .and_then(|lease| lease.check_in_service().map(|()| lease))
            .map_err(|err| self.lease_error(&found, err))?;
        if let Some(uri) = found.rewrite {
            parts.uri = uri;
        }
        Ok(lease)
    }

    fn missing(&self) -> Response {
        self.reject(TenantRejection::Missing {
            expected: self.resolver.to_string(),
        })
    }

    /// Why the store gave no lease for `found`.
    fn lease_error(&self, found: &Found, err: TenantError) -> Response {
        self.reject(TenantRejection::of_lease(&found.from, err))
    }

    /// The response for `rejection`; the rejection itself is put in the
    /// response's extensions for outer layers.
    pub(crate) fn reject(&self, rejection: TenantRejection) -> Response {
        tracing::debug!(status = %rejection.status(), error = %rejection, "tenant rejection");
        let mut resp = match &self.on_rejection {
            Some(f) => f(&rejection),
            None => rejection.to_axum_response(self.retry_after),
        };
        let status = resp.status();
        add_retry_after(status, resp.headers_mut(), self.retry_after);
        resp.extensions_mut().insert(rejection);
        resp
    }
}
