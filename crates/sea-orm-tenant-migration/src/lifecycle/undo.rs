//! [`Undo`]: what a create made so far, undone when it does not finish.

use std::sync::{Arc, Mutex, PoisonError};

use sea_orm_tenant::{Catalog, TenantConfig, TenantKey};

use super::background::Background;
use super::storage::Storage;

/// What a create made so far, undone if it does not finish: on an error path
/// by [`Undo::run`], on cancellation by a task spawned from `Drop`.
pub(crate) struct Undo {
    storage: Arc<Storage>,
    background: Background,
    made: Arc<Mutex<Made>>,
    armed: bool,
}

#[derive(Default)]
struct Made {
    storage: Option<TenantConfig>,
    catalog_row: Option<(Catalog, TenantKey)>,
}

impl Undo {
    pub(crate) fn new(storage: Arc<Storage>, background: Background) -> Self {
        Self {
            storage,
            background,
            made: Arc::default(),
            armed: true,
        }
    }

    pub(crate) fn storage(&mut self, config: TenantConfig) {
        self.made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .storage = Some(config);
    }

    pub(super) fn catalog_row(&mut self, catalog: Catalog, key: TenantKey) {
        self.made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .catalog_row = Some((catalog, key));
    }

    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }

    /// Undoes now (an error path); if this is cancelled, `Drop` finishes it.
    pub(crate) async fn run(self) {
        Self::undo(Arc::clone(&self.storage), Arc::clone(&self.made)).await;
        self.disarm();
    }

    async fn undo(storage: Arc<Storage>, made: Arc<Mutex<Made>>) {
        let (config, row) = {
            let mut made = made.lock().unwrap_or_else(PoisonError::into_inner);
            (made.storage.take(), made.catalog_row.take())
        };
        if let Some(config) = config
            && let Err(error) = storage.drop_storage(&config).await
        {
            tracing::error!(%error, "could not drop the storage of a failed tenant creation");
        }
        if let Some((catalog, key)) = row
            && let Err(error) = catalog.remove(&key).await
        {
            tracing::error!(tenant = %key, %error, "could not remove the catalog row of a failed tenant creation");
        }
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let work = Self::undo(Arc::clone(&self.storage), Arc::clone(&self.made));
        self.background.spawn_from_drop(work);
    }
}
