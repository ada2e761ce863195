//! [`RequestTenant`]: what the tenant middleware made of a request's tenant,
//! for middlewares outside it (a request log) that run before the tenant is
//! known and after the task-local scope has ended.

use std::fmt;
use std::sync::{Arc, OnceLock};

use sea_orm_tenant::TenantKey;

use crate::error::TenantRejection;

/// A request's tenant as the tenant middleware saw it. Never the raw value of
/// a malformed or conflicting name, so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestTenant {
    /// No source gave a name.
    None,
    /// A well-formed name: the request ran for it, or was refused for it
    /// (unknown, unavailable, out of service).
    Name(TenantKey),
    /// A malformed name.
    Invalid,
    /// Sources gave different names.
    Conflicting,
}

impl RequestTenant {
    /// What a rejection says about the request's tenant.
    pub fn of_rejection(rejection: &TenantRejection) -> Self {
        match rejection {
            TenantRejection::Missing { .. } => Self::None,
            TenantRejection::Malformed { .. } => Self::Invalid,
            TenantRejection::Conflict { .. } => Self::Conflicting,
            other => other.tenant().cloned().map_or(Self::None, Self::Name),
        }
    }
}

/// `-`, the name, `(invalid)` or `(conflicting)`.
impl fmt::Display for RequestTenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("-"),
            Self::Name(key) => f.write_str(key.as_str()),
            Self::Invalid => f.write_str("(invalid)"),
            Self::Conflicting => f.write_str("(conflicting)"),
        }
    }
}

/// A slot a middleware outside [`TenantMiddleware`](crate::TenantMiddleware)
/// puts in the request's extensions; the tenant middleware fills it with the
/// [`RequestTenant`] once it has resolved (or refused) the tenant. A request
/// without a slot costs nothing more.
///
/// ```
/// use poem::{Endpoint, Request};
/// use sea_orm_tenant_poem::RequestTenantSlot;
///
/// # async fn log<E: Endpoint>(inner: &E, mut req: Request) -> poem::Result<E::Output> {
/// let slot = RequestTenantSlot::default();
/// req.extensions_mut().insert(slot.clone());
/// let result = inner.call(req).await;
/// let tenant = slot.get().map_or("-".to_owned(), |t| t.to_string());
/// tracing::info!(%tenant, ok = result.is_ok(), "request");
/// result
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestTenantSlot(Arc<OnceLock<RequestTenant>>);

impl RequestTenantSlot {
    /// What the tenant middleware saw; `None` if the request did not reach it
    /// or was exempt.
    pub fn get(&self) -> Option<&RequestTenant> {
        self.0.get()
    }

    pub(crate) fn fill(&self, tenant: RequestTenant) {
        let _ = self.0.set(tenant);
    }
}
