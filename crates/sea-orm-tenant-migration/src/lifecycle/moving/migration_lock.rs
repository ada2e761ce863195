//! The tenant's migration lock, held on its source for the whole move: a
//! migration that ran on the source while it is copied would change tables
//! the target was made without (logical replication copies rows, not DDL),
//! and one applied to the source after the version check would be missing
//! on the target. Runners wait for it like for another runner's, and report
//! the tenant busy past their lock timeout.

use super::super::provisioner::Provisioner;
use super::error::MoveError;
use super::plan::Plan;
use crate::runner::LockError;
use crate::runner::lock::TenantLock;

impl Provisioner {
    /// Takes the tenant's migration lock where it is now, the same lock (and
    /// key) a migration runner takes: on a session of the tenant for a
    /// server, on the lock file for a SQLite file.
    pub(super) async fn lock_migrations(
        &self,
        plan: &Plan,
        options: &super::MoveOptions,
    ) -> Result<TenantLock, MoveError> {
        let wait = options.lock_wait;
        let locked = if plan.sqlite {
            TenantLock::sqlite(&plan.source, wait).await
        } else {
            let session =
                self.store.session(plan.key.as_str()).await.map_err(|e| {
                    plan.fail("open a session for the migration lock")(e.to_string())
                })?;
            TenantLock::on_session(session, wait).await
        };
        locked.map_err(|e| match e {
            LockError::Busy(_) => MoveError::Migrating {
                tenant: plan.key.clone(),
                seconds: wait.as_secs_f64(),
            },
            other => plan.fail("take the migration lock")(other.to_string()),
        })
    }
}
