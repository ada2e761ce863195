//! Tenants that failed to migrate at start-up: answered 503 until fixed.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use sea_orm_tenant::{TenantKey, current_tenant};

use crate::error::json_error;

/// The set of tenants out of service, with the reason (for logs and `/health`).
///
/// Cheap to clone; every clone is the same set.
#[derive(Debug, Clone, Default)]
pub struct Quarantine {
    tenants: Arc<RwLock<BTreeMap<TenantKey, String>>>,
}

impl Quarantine {
    /// Puts `tenant` out of service.
    pub fn insert(&self, tenant: TenantKey, reason: String) {
        self.write().insert(tenant, reason);
    }

    /// Puts `tenant` back in service; returns whether it was out.
    pub fn remove(&self, tenant: &TenantKey) -> bool {
        self.write().remove(tenant).is_some()
    }

    /// Whether `tenant` is out of service.
    pub fn contains(&self, tenant: &TenantKey) -> bool {
        self.read().contains_key(tenant)
    }

    /// The tenants out of service, sorted.
    pub fn tenants(&self) -> Vec<TenantKey> {
        self.read().keys().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<TenantKey, String>> {
        self.tenants.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<TenantKey, String>> {
        self.tenants.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl<E: Endpoint> Middleware<E> for Quarantine {
    type Output = QuarantineEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        QuarantineEndpoint {
            inner: ep,
            quarantine: self.clone(),
        }
    }
}

/// The endpoint made by [`Quarantine`]: must run inside the tenant middleware.
#[derive(Debug)]
pub struct QuarantineEndpoint<E> {
    inner: E,
    quarantine: Quarantine,
}

impl<E: Endpoint> Endpoint for QuarantineEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        if let Some(tenant) = current_tenant().filter(|t| self.quarantine.contains(t)) {
            return Ok(json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("tenant {tenant} is out of service: its database could not be migrated"),
            ));
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}
