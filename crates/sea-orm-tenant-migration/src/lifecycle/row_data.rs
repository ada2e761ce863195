//! A row tenant's data: its rows in every tenant table of its database,
//! deleted in one transaction when the tenant is dropped.

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use sea_orm_tenant::rows::{ROW_SCHEMA, TENANT_COLUMN, TENANT_SETTING};
use sea_orm_tenant::{TenantConfig, TenantConnections, TenantKey, redact_url};

use super::place::server_of;
use super::storage_error::StorageError;

/// The tables of the shared schema (`$1`) with the tenant column (`$2`).
pub(crate) const TENANT_TABLES: &str = "SELECT c.relname::text AS name FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $2 AND NOT a.attisdropped \
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1";

/// Deletes every row of `tenant` from every tenant table of the database of
/// `config`, in one transaction, as the app's role with the tenant set (so
/// row-level security confines the deletes to its rows, and the explicit
/// filter too). Tables referencing each other are emptied children first:
/// a delete refused by a foreign key is retried after the others.
/// `before` and `after` run in the same transaction, first and last (a
/// moved tenant's seal taken off). Returns the rows deleted.
pub(super) async fn delete_tenant_rows(
    store: &TenantConnections,
    config: &TenantConfig,
    tenant: &TenantKey,
    before: &[String],
    after: &[String],
) -> Result<u64, StorageError> {
    let what = format!("rows of {tenant} in {}", redact_url(config.url()));
    let failed = |err: sea_orm::DbErr| StorageError::Failed {
        action: "delete",
        what: what.clone(),
        reason: err.to_string(),
    };
    let session = store
        .open_outside(&TenantConfig::new(config.url()), 1)
        .await
        .map_err(|e| StorageError::Unavailable {
            server: server_of(config.url()),
            reason: e.to_string(),
        })?;
    let txn = session.begin().await.map_err(failed)?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!("SELECT pg_catalog.set_config('{TENANT_SETTING}', $1, true)"),
        [tenant.as_str().into()],
    ))
    .await
    .map_err(failed)?;
    for sql in before {
        txn.execute_unprepared(sql).await.map_err(failed)?;
    }
    let mut pending: Vec<String> = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            TENANT_TABLES,
            [ROW_SCHEMA.into(), TENANT_COLUMN.into()],
        ))
        .await
        .map_err(failed)?
        .iter()
        .map(|r| r.try_get::<String>("", "name"))
        .collect::<Result<_, _>>()
        .map_err(failed)?;
    let mut deleted = 0;
    while !pending.is_empty() {
        let mut refused = Vec::new();
        let mut last_error = None;
        let tables = std::mem::take(&mut pending);
        let tried = tables.len();
        for table in tables {
            let savepoint = txn.begin().await.map_err(failed)?;
            let delete = Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "DELETE FROM \"{ROW_SCHEMA}\".\"{}\" WHERE \"{TENANT_COLUMN}\" = $1",
                    table.replace('"', "\"\"")
                ),
                [tenant.as_str().into()],
            );
            match savepoint.execute_raw(delete).await {
                Ok(done) => {
                    savepoint.commit().await.map_err(failed)?;
                    deleted += done.rows_affected();
                }
                Err(err) => {
                    savepoint.rollback().await.map_err(failed)?;
                    last_error = Some(err);
                    refused.push(table);
                }
            }
        }
        if let Some(err) = last_error
            && refused.len() == tried
        {
            // No table could be emptied in this pass: give up, nothing deleted.
            let _ = txn.rollback().await;
            session.close().await;
            return Err(failed(err));
        }
        pending = refused;
    }
    for sql in after {
        txn.execute_unprepared(sql).await.map_err(failed)?;
    }
    txn.commit().await.map_err(failed)?;
    session.close().await;
    Ok(deleted)
}
