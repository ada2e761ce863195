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

/// What [`Config::lease_now`] could do without waiting.
pub(crate) enum LeasedNow {
    /// The tenant's lease: the request can run.
    Ready(TenantConnection),
    /// The request is answered with this response.
    Rejected(Response),
    /// An asynchronous resolver must run, or the pool be opened; the name,
    /// if already resolved.
    Wait(Option<Found<'static>>),
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) store: TenantConnections,
    pub(crate) resolver: Resolver,
    pub(crate) conflict: ConflictPolicy,
    pub(crate) exempt: Exempt,
    pub(crate) answer: Answer,
}

/// How rejections are answered.
#[derive(Clone)]
pub(crate) struct Answer {
    pub(crate) on_rejection: Option<Arc<RejectionFn>>,
    pub(crate) retry_after: Duration,
}

impl Answer {
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

impl Config {
    /// Resolves the tenant of `parts` and leases its open pool, if neither
    /// needs waiting; rewrites the URI for a path-segment source.
    pub(crate) fn lease_now(&self, parts: &mut Parts) -> LeasedNow {
        let found = match self.resolver.resolve_now(parts, self.conflict) {
            None => return LeasedNow::Wait(None),
            Some(Ok(Some(found))) => found,
            Some(Ok(None)) => return LeasedNow::Rejected(self.missing()),
            Some(Err(rejected)) => return LeasedNow::Rejected(self.rejected(rejected)),
        };
        let leased = match self.store.connection_now(&found.name) {
            None => return LeasedNow::Wait(Some(found.into_owned())),
            Some(leased) => leased.and_then(|lease| lease.check_in_service().map(|()| lease)),
        };
        match leased {
            Ok(lease) => {
                if let Some(uri) = found.rewrite {
                    parts.uri = *uri;
                }
                LeasedNow::Ready(lease)
            }
            Err(err) => LeasedNow::Rejected(self.lease_error(&found, err)),
        }
    }

    /// [`lease_now`](Self::lease_now) when it could not finish: runs an
    /// asynchronous resolver (unless `found` already holds the name) and
    /// opens the pool.
    pub(crate) async fn lease(
        &self,
        parts: &mut Parts,
        found: Option<Found<'static>>,
    ) -> Result<TenantConnection, Response> {
        let found = match found {
            Some(found) => found,
            None => match self.resolver.resolve(parts, self.conflict).await {
                Ok(Some(found)) => found.into_owned(),
                Ok(None) => return Err(self.missing()),
                Err(rejected) => return Err(self.rejected(rejected)),
            },
        };
        let lease = self
            .store
            .connection(&found.name)
            .await
            .and_then(|lease| lease.check_in_service().map(|()| lease))
            .map_err(|err| self.lease_error(&found, err))?;
        if let Some(uri) = found.rewrite {
            parts.uri = *uri;
        }
        Ok(lease)
    }

    fn rejected(&self, rejected: Rejected<Response>) -> Response {
        match rejected {
            Rejected::Tenant(rejection) => self.reject(rejection),
            Rejected::Custom(resp) => resp,
        }
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

    /// The response for `rejection` ([`Answer::reject`]).
    pub(crate) fn reject(&self, rejection: TenantRejection) -> Response {
        self.answer.reject(rejection)
    }
}
