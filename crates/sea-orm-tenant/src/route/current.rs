//! The current tenant: a tokio task-local set by `with_tenant`.

use std::future::Future;
use std::sync::Arc;

use tokio::task::futures::TaskLocalFuture;

use crate::error::TenantError;
use crate::key::TenantKey;
use crate::store::{Tenant, TenantConnection};

/// What the task-local holds: the resolved tenant entry, so routing needs no
/// lookup, or the lease of the scope's owner (a request), whose entry it is,
/// so routed calls use it instead of taking a lease each. One `Arc` either
/// way: a scope entered on every poll clones it.
#[derive(Clone)]
pub(crate) enum Current {
    Tenant(Arc<Tenant>),
    Lease(Arc<TenantConnection>),
}

impl Current {
    /// The entry alone, with no lease.
    pub(crate) fn of(tenant: Arc<Tenant>) -> Self {
        Self::Tenant(tenant)
    }

    /// The current tenant's entry.
    pub(crate) fn tenant(&self) -> &Arc<Tenant> {
        match self {
            Self::Tenant(tenant) => tenant,
            Self::Lease(lease) => &lease.tenant,
        }
    }

    /// The scope owner's lease, if it gave one.
    pub(crate) fn lease(&self) -> Option<&Arc<TenantConnection>> {
        match self {
            Self::Tenant(_) => None,
            Self::Lease(lease) => Some(lease),
        }
    }
}

tokio::task_local! {
    static CURRENT: Current;
}

/// The tenant current in this task, if any.
///
/// `None` outside `with_tenant` (or the middleware), and inside a plain
/// `tokio::spawn`ed task: use [`spawn`](crate::spawn) to carry the tenant along.
pub fn current_tenant() -> Option<TenantKey> {
    with_current(|cur| cur.map(|c| c.tenant().key.clone()))
}

/// Runs `f` with the current tenant entry, if any, without cloning it.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Current>) -> R) -> R {
    let mut f = Some(f);
    match CURRENT.try_with(|cur| (f.take().expect("called once"))(Some(cur))) {
        Ok(r) => r,
        Err(_) => (f.take().expect("called once"))(None),
    }
}

/// The one switch check: entering `requested` is allowed when no tenant or the
/// same tenant is current. Returns the current entry when it is `requested`.
pub(crate) fn check_switch(requested: &TenantKey) -> Result<Option<Arc<Tenant>>, TenantError> {
    with_current(|cur| match cur {
        None => Ok(None),
        Some(c) if c.tenant().key == *requested => Ok(Some(Arc::clone(c.tenant()))),
        Some(c) => Err(TenantError::Switch {
            current: c.tenant().key.clone(),
            requested: requested.clone(),
        }),
    })
}

/// Polls `fut` with `current` as the task's tenant.
pub(crate) fn scope<F: Future>(current: Current, fut: F) -> TaskLocalFuture<Current, F> {
    CURRENT.scope(current, fut)
}

/// Runs `f` synchronously with `current` as the task's tenant.
pub(crate) fn sync_scope<R>(current: Current, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(current, f)
}
