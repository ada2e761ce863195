//! What a [`TenantMiddleware`](crate::TenantMiddleware) was configured with
//! (the store, the resolver, exempt paths, the rejection's shape) and the
//! rejections it answers with.

use std::sync::Arc;
use std::time::Duration;

use poem::Response;
use sea_orm_tenant::{TenantConnections, TenantError};
use sea_orm_tenant_http::Exempt;

use crate::error::{TenantRejection, add_retry_after};
use crate::resolver::{ConflictPolicy, Found, Rejected, Resolver};

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
    pub(crate) fn is_exempt(&self, path: &str) -> bool {
        self.exempt.contains(path)
    }

    pub(crate) fn missing(&self) -> poem::Error {
        self.reject(TenantRejection::Missing {
            expected: self.resolver.to_string(),
        })
    }

    pub(crate) fn rejected(&self, rejected: Rejected) -> poem::Error {
        match rejected {
            Rejected::Tenant(rejection) => self.reject(rejection),
            Rejected::Custom(err) => err,
        }
    }

    /// Why the store gave no lease for `found`.
    pub(crate) fn lease_error(&self, found: &Found, err: TenantError) -> poem::Error {
        self.reject(TenantRejection::of_lease(&found.from, err))
    }

    pub(crate) fn reject(&self, rejection: TenantRejection) -> poem::Error {
        tracing::debug!(status = %rejection.status(), error = %rejection, "tenant rejection");
        let mut resp = match &self.on_rejection {
            Some(f) => f(&rejection),
            None => rejection.to_response(self.retry_after),
        };
        add_retry_after(&mut resp, self.retry_after);
        let mut err = poem::Error::from_response(resp);
        err.set_data(rejection);
        err
    }
}
