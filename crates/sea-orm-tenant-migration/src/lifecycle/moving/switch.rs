//! [`CutOver`]: a move ready to switch (the source fenced, the target caught
//! up and checked); the switch and what follows it.

use std::time::Instant;

use sea_orm_tenant::TenantSession;

use super::super::place::Place;
use super::super::provisioner::Provisioner;
use super::error::MoveError;
use super::fence::Fence;
use super::options::{MoveOptions, Moved};
use super::plan::Plan;
use super::rollback::Rollback;
use super::sql::Table;

/// A move ready to switch.
pub(super) struct CutOver {
    pub(super) plan: Plan,
    pub(super) options: MoveOptions,
    pub(super) source: TenantSession,
    pub(super) target: TenantSession,
    /// Every table of the tenant, the migration table included.
    pub(super) tables: Vec<Table>,
    /// The tables copied.
    pub(super) data: Vec<Table>,
    pub(super) fence: Fence,
    pub(super) rows: i64,
    pub(super) copy_millis: u64,
    pub(super) held_at: Instant,
    pub(super) target_place: Place,
}

impl CutOver {
    /// Switches the catalog to the target, then seals the source, removes
    /// the replication and drops the source after the grace. If the switch
    /// fails, `rollback` undoes the move; after it, nothing is undone.
    pub(super) async fn switch(
        self,
        provisioner: Provisioner,
        rollback: Rollback,
    ) -> Result<Moved, MoveError> {
        let Self {
            plan,
            options,
            source,
            target,
            tables,
            data,
            fence,
            rows,
            copy_millis,
            held_at,
            target_place,
        } = self;
        let drained = match provisioner.switch_placement(&plan, rollback).await {
            Ok(drained) => drained,
            Err((err, rollback)) => {
                fence.release().await;
                rollback.run().await;
                return Err(err);
            }
        };
        let mut warnings = Vec::new();
        if let Err(reason) = fence.seal(&tables).await {
            warnings.push(format!(
                "the source could not be sealed against writes: {reason}"
            ));
        }
        let held_millis = held_at.elapsed().as_millis() as u64;
        if let Some(drained) = drained {
            let _ = drained.await;
        }
        if !data.is_empty() {
            if let Err(reason) = plan.replication.unsubscribe(&target).await {
                warnings.push(format!("subscription {}: {reason}", plan.replication.name));
            }
            if let Err(reason) = plan.replication.unpublish(&source).await {
                warnings.push(format!(
                    "replication slot {}: {reason}",
                    plan.replication.name
                ));
            }
        }
        source.close().await;
        target.close().await;
        let switched = Switched {
            to: target_place.describe(),
            tables: data.len(),
            rows,
            copy_millis,
            held_millis,
            warnings,
        };
        Ok(provisioner.finish_switched(&plan, &options, switched).await)
    }
}

/// What a move did up to and after its switch, before its source is dropped.
pub(super) struct Switched {
    /// Where the tenant is now (no password).
    pub(super) to: String,
    pub(super) tables: usize,
    pub(super) rows: i64,
    pub(super) copy_millis: u64,
    pub(super) held_millis: u64,
    pub(super) warnings: Vec<String>,
}

impl Provisioner {
    /// After the switch, the same for every backend: the source dropped
    /// after the grace unless kept, the warnings logged; the move's report.
    pub(super) async fn finish_switched(
        &self,
        plan: &Plan,
        options: &MoveOptions,
        switched: Switched,
    ) -> Moved {
        let Switched {
            to,
            tables,
            rows,
            copy_millis,
            held_millis,
            mut warnings,
        } = switched;
        let mut source_dropped = false;
        if !options.keep_source {
            tokio::time::sleep(options.grace).await;
            let dropped = if plan.rows {
                self.delete_promoted_rows(plan).await.map(drop)
            } else {
                self.storage
                    .drop_storage(&plan.source)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            };
            match dropped {
                Ok(()) => source_dropped = true,
                Err(e) => warnings.push(format!("the source could not be dropped: {e}")),
            }
        }
        for warning in &warnings {
            tracing::warn!(tenant = %plan.key, %warning, "move finished with a warning");
        }
        // With a warning the journal keeps the move: the tenant's next move
        // tries what did not work out again.
        if warnings.is_empty() {
            self.forget_move(&plan.key).await;
        }
        tracing::info!(tenant = %plan.key, %to, held_millis, "tenant moved");
        Moved {
            tenant: plan.key.clone(),
            from: Place::of(&plan.source)
                .map(|p| p.describe())
                .unwrap_or_default(),
            to,
            tables,
            rows,
            copy_millis,
            held_millis,
            source_dropped,
            warnings,
        }
    }
}
