//! [`Rollback`]: what a move changed before its switch, undone when it does
//! not get there: the tenant serves from its source again, and the
//! replication and the target are removed.

use std::sync::{Arc, Mutex, PoisonError};

use sea_orm_tenant::{TenantConfig, TenantKey, TenantState};

use super::super::provisioner::Provisioner;
use super::super::undo::Undo;
use super::replication::Replication;
use super::row_seal::RowSeal;

/// What a move changed so far. Run on an error path by
/// [`Rollback::run`]; on cancellation by a task spawned from `Drop`.
pub(super) struct Rollback {
    provisioner: Provisioner,
    key: TenantKey,
    changed: Arc<Mutex<Changed>>,
    /// The target's storage, dropped by the create's own undo.
    target: Option<Undo>,
    /// The task renewing the `moving` mark, stopped with the rollback.
    renewal: Option<tokio::task::AbortHandle>,
    armed: bool,
}

#[derive(Default)]
struct Changed {
    /// The source's placement as written in the catalog, restored when the
    /// tenant was marked `moving`.
    marked_moving: Option<(String, TenantConfig)>,
    held: bool,
    /// The source and target databases, once the replication may exist.
    replication: Option<(Replication, TenantConfig, TenantConfig)>,
    /// A row tenant's source, once its rows may be sealed.
    row_seal: Option<(Replication, TenantConfig)>,
}

impl Rollback {
    pub(super) fn new(provisioner: &Provisioner, key: &TenantKey) -> Self {
        Self {
            target: Some(provisioner.undo()),
            provisioner: provisioner.clone(),
            key: key.clone(),
            changed: Arc::default(),
            renewal: None,
            armed: true,
        }
    }

    fn changed(&self) -> std::sync::MutexGuard<'_, Changed> {
        self.changed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn marked_moving(&self, written: &str, source: &TenantConfig) {
        self.changed().marked_moving = Some((written.to_owned(), source.clone()));
    }

    /// `renewal` renews the tenant's `moving` mark until the switch or
    /// the undo.
    pub(super) fn renewing(&mut self, renewal: tokio::task::AbortHandle) {
        self.renewal = Some(renewal);
    }

    pub(super) fn held(&self) {
        self.changed().held = true;
    }

    pub(super) fn replication(
        &self,
        names: &Replication,
        source: &TenantConfig,
        target: &TenantConfig,
    ) {
        self.changed().replication = Some((names.clone(), source.clone(), target.clone()));
    }

    pub(super) fn row_seal(&self, names: &Replication, source: &TenantConfig) {
        self.changed().row_seal = Some((names.clone(), source.clone()));
    }

    /// Records what the target's create made.
    pub(super) fn target(&mut self) -> &mut Undo {
        let provisioner = &self.provisioner;
        self.target.get_or_insert_with(|| provisioner.undo())
    }

    /// The switch is made: nothing before it is undone any more.
    pub(super) fn disarm(mut self) {
        self.armed = false;
        if let Some(target) = self.target.take() {
            target.disarm();
        }
    }

    /// Undoes now (an error path); if this is cancelled, `Drop` finishes it.
    pub(super) async fn run(mut self) {
        self.armed = false;
        let changed = std::mem::take(&mut *self.changed());
        let target = self.target.take();
        Self::undo(self.provisioner.clone(), self.key.clone(), changed, target).await;
    }

    async fn undo(
        provisioner: Provisioner,
        key: TenantKey,
        changed: Changed,
        target: Option<Undo>,
    ) {
        // Before the tenant is released: its held requests write again.
        if let Some((names, source)) = &changed.row_seal {
            remove_row_seal(&provisioner, &key, names, source).await;
        }
        if let Some((written, source)) = &changed.marked_moving
            && let Some(catalog) = &provisioner.catalog
        {
            match catalog
                .set_placement(
                    &key,
                    written,
                    source.schema(),
                    source.is_row_tenant(),
                    TenantState::Active,
                )
                .await
            {
                Ok(()) => provisioner.forget_move(&key).await,
                Err(error) => {
                    tracing::error!(tenant = %key, %error, "could not mark a tenant whose move failed active again; a second move of it undoes the first")
                }
            }
        }
        if changed.held {
            let _ = provisioner.store.release(key.as_str());
        }
        if let Some((names, source, target)) = &changed.replication {
            remove_replication(&provisioner, names, source, target).await;
        }
        if let Some(target) = target {
            target.run().await;
        }
    }
}

/// Drops the subscription on the target database and the slot and the
/// publication on the source, each if it exists.
pub(super) async fn remove_replication(
    provisioner: &Provisioner,
    names: &Replication,
    source: &TenantConfig,
    target: &TenantConfig,
) {
    let store = &provisioner.store;
    match store.open_outside(target, 1).await {
        Ok(db) => {
            if let Err(error) = names.unsubscribe(&db).await {
                tracing::error!(subscription = %names.name, %error, "could not drop a move's subscription");
            }
            db.close().await;
        }
        // A target database that is not there has no subscription.
        Err(error) => tracing::debug!(%error, "no target database to drop a subscription from"),
    }
    match store.open_outside(source, 1).await {
        Ok(db) => {
            if let Err(error) = names.unpublish(&db).await {
                tracing::error!(slot = %names.name, %error, "could not drop a move's replication slot and publication");
            }
            db.close().await;
        }
        Err(error) => {
            tracing::error!(slot = %names.name, %error, "could not reach the source to drop a move's replication slot")
        }
    }
}

/// Takes a row tenant's seal off its rows in the shared tables, if it is
/// there.
pub(super) async fn remove_row_seal(
    provisioner: &Provisioner,
    key: &TenantKey,
    names: &Replication,
    source: &TenantConfig,
) {
    let seal = RowSeal::new(key, names);
    match provisioner
        .store
        .open_outside(&TenantConfig::new(source.url()), 1)
        .await
    {
        Ok(db) => {
            if let Err(error) = seal.remove(&db).await {
                tracing::error!(tenant = %key, %error, "could not take the seal off a row tenant whose move failed; a second move of it does");
            }
            db.close().await;
        }
        Err(error) => {
            tracing::error!(tenant = %key, %error, "could not reach a row tenant's database to take its seal off; a second move of it does")
        }
    }
}

impl Drop for Rollback {
    fn drop(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        if !self.armed {
            return;
        }
        let changed = std::mem::take(&mut *self.changed());
        let target = self.target.take();
        let work = Self::undo(self.provisioner.clone(), self.key.clone(), changed, target);
        self.provisioner.background.spawn_from_drop(work);
    }
}
