//! Entering a tenant: [`TenantConnections::with_tenant`] makes a tenant
//! current for a future (refusing a switch), and every routed call finds the
//! connection it runs on from the current tenant ([`Routed`]).

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use super::current::{self, Current};
use crate::error::TenantError;
use crate::key::TenantKey;
use crate::store::{Inner, Tenant, TenantConnection, TenantConnections};

impl TenantConnections {
    /// Runs `fut` with tenant `name` current: every query through a [`TenantDb`](crate::TenantDb)
    /// inside it goes to that tenant's database.
    ///
    /// Fails before running anything if the name is invalid
    /// ([`TenantError::InvalidKey`]), not registered ([`TenantError::Unknown`]),
    /// or another tenant is already current ([`TenantError::Switch`]).
    /// Re-entering the tenant that is already current is allowed. A tenant
    /// [out of service](Self::set_out_of_service) is refused with
    /// [`TenantError::OutOfService`].
    ///
    /// Each routed call inside takes its own lease, so a tenant switched to a
    /// new placement between two calls (a move's cut-over, which copies the
    /// data first) sends the next call there. To keep several statements on
    /// one connection whatever happens meanwhile, run them in a transaction.
    pub async fn with_tenant<F: Future>(
        &self,
        name: impl AsRef<str>,
        fut: F,
    ) -> Result<F::Output, TenantError> {
        let tenant = match self.inner.resolve_for_scope(name.as_ref()) {
            Err(TenantError::Unknown(_)) if self.refresh_unknown().await => {
                self.inner.resolve_for_scope(name.as_ref())?
            }
            other => other?,
        };
        Ok(match tenant {
            Some(tenant) => {
                if let Some(reason) = tenant.out_of_service() {
                    return Err(TenantError::OutOfService {
                        tenant: tenant.key.clone(),
                        reason,
                    });
                }
                current::scope(Current::of(tenant), fut).await
            }
            None => fut.await,
        })
    }
}

impl Inner {
    /// What `with_tenant` should scope: `None` when `name` is already current.
    fn resolve_for_scope(&self, name: &str) -> Result<Option<Arc<Tenant>>, TenantError> {
        let requested = TenantKey::new(name)?;
        match current::check_switch(&requested)? {
            Some(cur) if cur.store_id == self.id && !cur.is_removed() => Ok(None),
            _ => self.resolve(name).map(Some),
        }
    }

    /// The connection a routed call should use: the scope's own lease when it
    /// has one, else a new lease of the current tenant.
    pub(crate) async fn routed_connection(self: &Arc<Self>) -> Result<Routed, TenantError> {
        let pinned = current::with_current_shared(|cur| match cur {
            Some(c) if c.tenant().store_id == self.id && !c.tenant().is_removed() => {
                c.lease().cloned()
            }
            _ => None,
        });
        match pinned {
            Some(lease) => Ok(Routed::Pinned(lease)),
            None => {
                let tenant = self.current_tenant()?;
                self.lease(&tenant).await.map(Routed::Leased)
            }
        }
    }

    /// The entry a routed call should use, from the task-local.
    pub(crate) fn current_tenant(&self) -> Result<Arc<Tenant>, TenantError> {
        current::with_current(|cur| match cur {
            None => Err(TenantError::NoTenant),
            Some(c) if c.tenant().store_id == self.id && !c.tenant().is_removed() => {
                Ok(Arc::clone(c.tenant()))
            }
            Some(c) => self.resolve(c.tenant().key.as_str()),
        })
    }
}

/// The connection a routed call runs on: the scope's own lease, or one taken
/// for this call.
// Lives on the stack for one call; boxing the lease would allocate per call.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Routed {
    Pinned(Arc<TenantConnection>),
    Leased(TenantConnection),
}

impl Routed {
    /// The tenant entry, to count the call once it is done.
    pub(crate) fn entry(&self) -> Arc<Tenant> {
        Arc::clone(&self.tenant)
    }
}

impl Deref for Routed {
    type Target = TenantConnection;

    fn deref(&self) -> &TenantConnection {
        match self {
            Routed::Pinned(lease) => lease,
            Routed::Leased(lease) => lease,
        }
    }
}
