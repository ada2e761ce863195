//! A tenant's data to a file and back: [`Provisioner::export`] and
//! [`Provisioner::import`], with the database's own tools (see
//! [`transfer`](crate::transfer) for each kind of tenant).

use std::path::Path;

use super::provisioner::Provisioner;
use crate::transfer::{TransferError, Transferred, export_tenant, import_tenant};

impl Provisioner {
    /// Exports tenant `name` of the store to `file` (and its manifest
    /// `FILE.tenant.json`). Refuses to overwrite either.
    pub async fn export(&self, name: &str, file: &Path) -> Result<Transferred, TransferError> {
        export_tenant(&self.store, name, file).await
    }

    /// Imports `file` (written by [`export`](Self::export)) into tenant
    /// `name` of the store, which must be of the same kind and empty: a
    /// SQLite tenant whose file does not exist or holds no table, a
    /// PostgreSQL database that exists and holds no table, view or sequence,
    /// a MySQL/MariaDB database that holds no table or view. Refused
    /// otherwise, with nothing changed. A PostgreSQL import lands whole or
    /// not at all; a MySQL/MariaDB load that fails part-way is undone, also
    /// when this future is dropped (the load goes on, on a task that
    /// [`settled`](Self::settled) and [`close`](Self::close) wait for).
    pub async fn import(&self, name: &str, file: &Path) -> Result<Transferred, TransferError> {
        import_tenant(&self.store, &self.background, name, file).await
    }
}
