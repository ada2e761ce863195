//! Switching a registered tenant to another placement in one step: the new
//! entry takes the name's place at once (new calls, and leases waiting on a
//! [hold](super::hold), go there), and the old one finishes its calls and
//! closes in the background.

use std::future::Future;

use super::tenant_connections::TenantConnections;
use crate::config::{ConfigError, TenantConfig};
use crate::error::TenantError;

impl TenantConnections {
    /// Registers tenant `name` with `config`, replacing its registration if it
    /// has one, with no instant at which the name is unknown. Calls already
    /// running on the old placement finish there; the returned future
    /// resolves when they have and the old pool (or place in its shared
    /// database) is gone. Dropping it changes nothing: the switch is made
    /// when this returns.
    ///
    /// The catalog follower switches a tenant whose row names another
    /// placement this way (a move's cut-over).
    pub fn replace_tenant(
        &self,
        name: &str,
        config: TenantConfig,
    ) -> Result<impl Future<Output = Result<(), TenantError>> + Send + 'static, ConfigError> {
        let tenant = self.new_entry(name, config)?;
        let old = self.inner.registry.replace(tenant);
        let store = self.clone();
        Ok(async move {
            if let Some(old) = old {
                store.drain_removed(&old).await;
                tracing::info!(tenant = %old.key, "tenant switched to a new placement");
            }
            Ok(())
        })
    }
}
