//! The cut-over's two catalog writes, the same for every backend: the hold
//! (`moving`) and the switch (the new placement, `active`).

use std::time::Instant;

use sea_orm_tenant::{MOVING_RENEW_INTERVAL, TenantError, TenantState};

use super::super::background::Background;
use super::super::provisioner::Provisioner;
use super::error::MoveError;
use super::options::MoveOptions;
use super::plan::Plan;
use super::rollback::Rollback;

/// This instance's calls of the old placement, finished when it resolves.
pub(super) type Drained =
    Option<std::pin::Pin<Box<dyn Future<Output = Result<(), TenantError>> + Send>>>;

/// Renews `key`'s `moving` mark every [`MOVING_RENEW_INTERVAL`] (the interval
/// every follower's `moving_expiry` is checked against), until it is not
/// `moving` any more or the task is aborted (the move switched or undone, or
/// its process gone): followers hold the tenant as long as its mover lives,
/// however long the hold (a copy under a write hold).
fn renew_moving(
    background: &Background,
    catalog: sea_orm_tenant::Catalog,
    key: sea_orm_tenant::TenantKey,
) -> tokio::task::AbortHandle {
    background
        .spawn(async move {
            let mut tick = tokio::time::interval(MOVING_RENEW_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                match catalog.renew_moving(&key).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(error) => tracing::debug!(tenant = %key, %error, "renewing a moving mark"),
                }
            }
        })
        .abort_handle()
}

impl Provisioner {
    /// Marks the tenant `moving` (every instance holds its new requests,
    /// for as long as the mark is renewed, every [`MOVING_RENEW_INTERVAL`]),
    /// holds it here and waits for this instance's calls in flight, then
    /// for the settle time (instances that poll the catalog hold it by
    /// then). Returns when the hold began and the cut-over's deadline.
    pub(super) async fn hold_for_cut_over(
        &self,
        plan: &Plan,
        options: &MoveOptions,
        rollback: &mut Rollback,
    ) -> Result<(Instant, Instant), MoveError> {
        let key = &plan.key;
        let held_at = Instant::now();
        let deadline = held_at + options.cut_over_timeout;
        if let Some(catalog) = &self.catalog {
            // Before the hold: a run killed after its switch is finished
            // by the next one from this row.
            self.journal_move(plan).await?;
            rollback.marked_moving(&plan.source_written, &plan.source);
            catalog
                .set_state(key, TenantState::Moving, None)
                .await
                .map_err(|source| MoveError::Catalog {
                    tenant: key.clone(),
                    source,
                })?;
            rollback.renewing(renew_moving(&self.background, catalog.clone(), key.clone()));
        }
        if self.store.contains(key.as_str()) {
            rollback.held();
            let _ = self.store.hold(key.as_str());
            // A write in flight at the fence fails after the switch: let
            // this instance's calls finish first.
            let _ =
                tokio::time::timeout_at(deadline.into(), self.store.wait_idle(key.as_str())).await;
        }
        tokio::time::sleep(
            options
                .settle
                .min(deadline.saturating_duration_since(Instant::now())),
        )
        .await;
        Ok((held_at, deadline))
    }

    /// Switches the catalog to the target (every instance sends the held
    /// requests there) and this instance's store; from here nothing is
    /// undone. If the catalog write fails, returns the rollback to run.
    pub(super) async fn switch_placement(
        &self,
        plan: &Plan,
        rollback: Rollback,
    ) -> Result<Drained, (MoveError, Rollback)> {
        let key = &plan.key;
        if let Some(catalog) = &self.catalog
            && let Err(source) = catalog
                .set_placement(
                    key,
                    &plan.target_written,
                    plan.target.schema(),
                    false,
                    TenantState::Active,
                )
                .await
        {
            let err = MoveError::Catalog {
                tenant: key.clone(),
                source,
            };
            return Err((err, rollback));
        }
        rollback.disarm();
        if !self.store.contains(key.as_str()) {
            return Ok(None);
        }
        let drained = match self.store.replace_tenant(key.as_str(), plan.target.clone()) {
            Ok(drained) => Some(Box::pin(drained) as _),
            Err(error) => {
                // Never the old placement: out of service here until the
                // app's configuration or a restart follows the catalog.
                tracing::error!(tenant = %key, %error, "this instance cannot serve the tenant's new placement");
                let _ = self.store.set_out_of_service(
                    key.as_str(),
                    "moved to a placement this instance cannot serve",
                );
                None
            }
        };
        let _ = self.store.release(key.as_str());
        Ok(drained)
    }
}
