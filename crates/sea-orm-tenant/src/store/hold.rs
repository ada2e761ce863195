//! Holding a tenant: while it is held (a move's cut-over), new leases of it
//! wait instead of starting; they go on when it is released, or when its
//! entry is replaced (the placement switched), to the entry that replaced it.
//! A lease that waits longer than `max_hold` is refused as out of service
//! (503), never sent to the old placement.
//!
//! Calls that hold a lease already are not held: they finish where they
//! started, and the one who holds the tenant waits for them (or fences them
//! in the database) before it switches the placement.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::entry::Tenant;
use super::held::Waiting;
use super::inner::Inner;
use super::tenant_connections::TenantConnections;
use crate::error::TenantError;
use crate::key::TenantKey;

impl Inner {
    /// Waits while `tenant` is held; returns the entry to lease: `tenant`,
    /// or the entry registered under its name since it was removed.
    pub(crate) async fn after_hold(
        &self,
        tenant: &Arc<Tenant>,
    ) -> Result<Arc<Tenant>, TenantError> {
        let deadline = tokio::time::Instant::now() + self.options.effective_max_hold();
        let mut tenant = Arc::clone(tenant);
        loop {
            let entry = Arc::clone(&tenant);
            let changed = entry.hold.changed.notified();
            tokio::pin!(changed);
            // Registered before the flag is read: a release in between wakes it.
            changed.as_mut().enable();
            if entry.is_removed() {
                tenant = self.resolve(entry.key.as_str())?;
                continue;
            }
            if !entry.hold.is_held() {
                return Ok(tenant);
            }
            // A hold that ends by itself wakes its waiters when it does.
            let wake = entry
                .hold
                .until()
                .map_or(deadline, |until| until.min(deadline));
            let waited = {
                let _waiting = Waiting::new(&entry.hold.waiting);
                tokio::time::timeout_at(wake, changed).await
            };
            if waited.is_err() && wake == deadline {
                return Err(TenantError::OutOfService {
                    tenant: tenant.key.clone(),
                    reason: format!(
                        "held for a move longer than max_hold ({:?}); retry shortly",
                        self.options.effective_max_hold()
                    ),
                });
            }
        }
    }
}

impl TenantConnections {
    /// Holds tenant `name`: its new leases (requests, routed calls) wait
    /// until [`release`](Self::release), or until the tenant is registered
    /// again with another placement, for at most
    /// [`max_hold`](crate::StoreOptions::max_hold). Calls that hold a lease
    /// already go on. Returns whether it was held already.
    ///
    /// The catalog follower holds a tenant the catalog marks `moving` in
    /// every instance.
    pub fn hold(&self, name: &str) -> Result<bool, TenantError> {
        Ok(self.inner.resolve(name)?.hold.set(true))
    }

    /// Like [`hold`](Self::hold), but the hold ends by itself after `limit`
    /// if nobody releases it first. The catalog follower holds a tenant the
    /// catalog marks `moving` so (for
    /// [`moving_expiry`](crate::CatalogOptions::moving_expiry)): a mover
    /// that died in its cut-over leaves the tenant serving where it was, not
    /// held until the move is run again.
    pub fn hold_for(&self, name: &str, limit: std::time::Duration) -> Result<bool, TenantError> {
        let tenant = self.inner.resolve(name)?;
        // Past what an instant can hold: a hold until released.
        Ok(match tokio::time::Instant::now().checked_add(limit) {
            Some(until) => tenant.hold.set_until(until),
            None => tenant.hold.set(true),
        })
    }

    /// Ends the hold of tenant `name`; its waiting leases go on. Returns
    /// whether it was held.
    pub fn release(&self, name: &str) -> Result<bool, TenantError> {
        Ok(self.inner.resolve(name)?.hold.set(false))
    }

    /// Waits until no lease of tenant `name` is in flight. With the tenant
    /// held, none starts meanwhile: a move's cut-over waits so before it
    /// fences the tenant's tables.
    pub async fn wait_idle(&self, name: &str) -> Result<(), TenantError> {
        self.inner.resolve(name)?.wait_idle().await;
        Ok(())
    }

    /// The tenants held now, sorted by name, each with the number of
    /// leases (requests, calls) waiting for it.
    pub fn held(&self) -> Vec<(TenantKey, usize)> {
        self.inner
            .registry
            .sorted()
            .into_iter()
            .filter(|t| t.hold.is_held())
            .map(|t| (t.key.clone(), t.hold.waiting.load(Ordering::Acquire)))
            .collect()
    }
}
