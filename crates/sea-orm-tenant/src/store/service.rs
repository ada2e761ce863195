//! Taking a tenant out of service and back: its requests are refused
//! ([`TenantError::OutOfService`]) while its data, its registration and
//! administration access (migrations, sessions) stay.

use super::lease::TenantConnection;
use super::tenant_connections::TenantConnections;
use crate::error::TenantError;
use crate::key::TenantKey;

impl TenantConnections {
    /// Takes tenant `name` out of service: [`with_tenant`](Self::with_tenant)
    /// and request middlewares refuse it with [`TenantError::OutOfService`]
    /// (an HTTP 503) until [`set_in_service`](Self::set_in_service). Calls
    /// already running finish. [`connection`](Self::connection) and
    /// [`session`](Self::session) still reach it, so it can be migrated or
    /// repaired. A catalog followed with [`CatalogSync`](crate::CatalogSync)
    /// does this for tenants in state `quarantined`.
    pub fn set_out_of_service(
        &self,
        name: &str,
        reason: impl Into<String>,
    ) -> Result<(), TenantError> {
        self.inner
            .resolve(name)?
            .set_out_of_service(Some(reason.into()));
        Ok(())
    }

    /// Puts tenant `name` back in service; returns whether it was out.
    pub fn set_in_service(&self, name: &str) -> Result<bool, TenantError> {
        Ok(self.inner.resolve(name)?.set_out_of_service(None))
    }

    /// The tenants out of service and why, sorted by name.
    pub fn out_of_service(&self) -> Vec<(TenantKey, String)> {
        self.inner
            .registry
            .sorted()
            .into_iter()
            .filter_map(|t| t.out_of_service().map(|reason| (t.key.clone(), reason)))
            .collect()
    }
}

impl TenantConnection {
    /// Fails with [`TenantError::OutOfService`] when this connection's tenant
    /// is out of service: what a request middleware checks before it enters
    /// the tenant (administration work on the connection does not).
    pub fn check_in_service(&self) -> Result<(), TenantError> {
        match self.tenant.out_of_service() {
            None => Ok(()),
            Some(reason) => Err(TenantError::OutOfService {
                tenant: self.tenant.key.clone(),
                reason,
            }),
        }
    }
}
