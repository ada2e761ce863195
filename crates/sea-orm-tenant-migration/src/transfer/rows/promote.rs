//! A row tenant's rows copied into the tables of a schema (a promotion, by
//! [`Provisioner::move_tenant`](crate::Provisioner::move_tenant)): through
//! an archive in a directory of its own, so the copy has the export's
//! snapshot and the import's checks, parent-first order and key handling.

use sea_orm_tenant::{TenantConfig, TenantConnections, TenantKey};

use super::{RowTarget, export_rows, import_rows};
use crate::transfer::error::{TransferError, io_err};

/// Copies every row of row tenant `key` (the database of `source`) into the
/// tables of `schema` in the database of `target`, which hold no rows;
/// returns the rows copied.
pub(crate) async fn copy_rows_into_schema(
    store: &TenantConnections,
    key: &TenantKey,
    source: &TenantConfig,
    target: &TenantConfig,
    schema: &str,
) -> Result<u64, TransferError> {
    let dir = tempfile::tempdir().map_err(|e| io_err("create", &std::env::temp_dir(), e))?;
    let file = dir.path().join("rows");
    export_rows(store, key, source, &file).await?;
    import_rows(store, key, target, &file, RowTarget::Schema(schema)).await
}
