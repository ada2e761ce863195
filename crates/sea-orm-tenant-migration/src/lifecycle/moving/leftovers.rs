//! What a failed or cancelled move may leave, found and removed by the
//! next run: the replication (named for the tenant and its source), and a
//! target no tenant lives in.

use sea_orm_tenant::{TenantConfig, TenantState};

use super::super::place::Place;
use super::super::provisioner::Provisioner;
use super::error::MoveError;
use super::open;
use super::plan::Plan;
use super::rollback::remove_replication;
use super::sql::{self, MIGRATIONS};

/// Whether a failed run of this move left something behind: the tenant
/// still `moving` in the catalog, or, killed before it marked it, its
/// replication slot, found by name on the source's server.
pub(super) async fn failed_run_left(
    plan: &Plan,
    source: &sea_orm::DatabaseConnection,
) -> Result<bool, MoveError> {
    if plan.leftover {
        return Ok(true);
    }
    plan.replication
        .slot_exists(source)
        .await
        .map_err(plan.fail("look for a failed move's replication"))
}

impl Provisioner {
    /// What a failed move of this tenant left (it is still `moving`): the
    /// replication, and the target unless a tenant lives there; then the
    /// tenant is marked active again.
    pub(super) async fn clear_leftovers(
        &self,
        plan: &Plan,
        source_db: &TenantConfig,
        target_db: &TenantConfig,
    ) -> Result<(), MoveError> {
        remove_replication(self, &plan.replication, source_db, target_db).await;
        self.drop_target_and_reactivate(plan, true).await
    }

    /// The target a failed move made is dropped (if it exists and no other
    /// tenant lives there: a copy cut short was never served), and the
    /// tenant is active again where it was.
    pub(super) async fn drop_target_and_reactivate(
        &self,
        plan: &Plan,
        target_exists: bool,
    ) -> Result<(), MoveError> {
        if target_exists && !self.target_taken(plan).await? {
            self.storage
                .drop_storage(&plan.target)
                .await
                .map_err(|e| plan.fail("drop the failed move's target")(e.to_string()))?;
        }
        if let Some(catalog) = &self.catalog {
            catalog
                .set_state(&plan.key, TenantState::Active, None)
                .await
                .map_err(|source| MoveError::Catalog {
                    tenant: plan.key.clone(),
                    source,
                })?;
            self.forget_move(&plan.key).await;
        }
        let _ = self.store.release(plan.key.as_str());
        Ok(())
    }

    /// [`MoveError::TargetExists`] if the target exists and is not a
    /// leftover this move may drop ([`spare_target`](Self::spare_target)).
    pub(super) async fn refuse_taken_target(
        &self,
        plan: &Plan,
        target_place: &Place,
        target_db: &TenantConfig,
    ) -> Result<(), MoveError> {
        let exists = self
            .storage
            .exists(target_place)
            .await
            .map_err(|e| plan.fail("look for the target")(e.to_string()))?;
        if exists && !self.spare_target(plan, target_db).await? {
            return Err(MoveError::TargetExists {
                tenant: plan.key.clone(),
                target: target_place.describe(),
            });
        }
        Ok(())
    }

    /// Whether a target that exists is a leftover this move may drop: no
    /// other tenant of the catalog lives there, and none of its tables has
    /// a row (a create cut short by cancellation may finish on the server
    /// after its undo ran).
    pub(super) async fn spare_target(
        &self,
        plan: &Plan,
        target_db: &TenantConfig,
    ) -> Result<bool, MoveError> {
        if self.target_taken(plan).await? {
            return Ok(false);
        }
        let db = open(&self.store, target_db, 1)
            .await
            .map_err(plan.fail("connect to the target"))?;
        let tables = sql::tables(&*db, &plan.schemas)
            .await
            .map_err(plan.fail("list the target's tables"))?;
        let mut empty = true;
        for table in tables.iter().filter(|t| t.name != MIGRATIONS) {
            if sql::count(&*db, table)
                .await
                .map_err(plan.fail("count the target's rows"))?
                > 0
            {
                empty = false;
                break;
            }
        }
        db.close().await;
        if empty {
            self.storage
                .drop_storage(&plan.target)
                .await
                .map_err(|e| plan.fail("drop a failed move's target")(e.to_string()))?;
        }
        Ok(empty)
    }

    /// Whether a tenant other than this one lives at the target.
    pub(super) async fn target_taken(&self, plan: &Plan) -> Result<bool, MoveError> {
        let target_place = Place::of(&plan.target).ok();
        Ok(self
            .list()
            .await
            .map_err(|source| MoveError::Catalog {
                tenant: plan.key.clone(),
                source,
            })?
            .iter()
            .filter(|e| e.name != plan.key)
            .filter_map(|e| e.config().ok())
            .any(|c| Place::of(&c).ok() == target_place))
    }
}
