//! Writing a row tenant's archive: one snapshot, its rows of every tenant
//! table, the tenant column left out.

use std::path::Path;

use futures_util::TryStreamExt;
use sea_orm::sqlx::{self, AssertSqlSafe};
use sea_orm_tenant::rows::{ROW_SCHEMA, TENANT_COLUMN};
use sea_orm_tenant::{TenantConfig, TenantConnections, TenantKey};
use tokio::io::{AsyncWriteExt, BufWriter};

use super::{
    COLUMNS, CopyFailed, END, TableHeader, TenantTransaction, column_list, ident, literal,
    qualified,
};
use crate::transfer::error::{TransferError, db_err};
use crate::transfer::kind::ROWS_MAGIC;

/// Writes tenant `key`'s rows (see the module docs) to `partial`.
pub(in crate::transfer) async fn export_rows(
    store: &TenantConnections,
    key: &TenantKey,
    config: &TenantConfig,
    partial: &Path,
) -> Result<(), TransferError> {
    let mut txn = TenantTransaction::begin(
        store,
        key,
        config,
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    )
    .await?;
    let written = write_rows(&mut txn, key, partial).await;
    let ended = txn.end(written.is_ok()).await;
    match (written, ended) {
        (Err(e), _) => Err(e.into_transfer(key, config, partial)),
        (Ok(()), Err(e)) => Err(db_err(key, "commit", &e.to_string(), config.url())),
        (Ok(()), Ok(())) => Ok(()),
    }
}

async fn write_rows(
    txn: &mut TenantTransaction,
    key: &TenantKey,
    partial: &Path,
) -> Result<(), CopyFailed> {
    let file = tokio::fs::File::create_new(partial)
        .await
        .map_err(|e| CopyFailed::Io("create", e))?;
    let mut out = BufWriter::new(file);
    let write = |e| CopyFailed::Io("write", e);
    out.write_all(ROWS_MAGIC).await.map_err(write)?;
    let tables = txn
        .tables()
        .await
        .map_err(|e| CopyFailed::Sql("list tenant tables", e))?;
    let filter = format!("{} = {}", ident(TENANT_COLUMN), literal(key.as_str()));
    for table in tables {
        let columns: Vec<String> = sqlx::query_scalar(COLUMNS)
            .bind(ROW_SCHEMA)
            .bind(&table)
            .bind(TENANT_COLUMN)
            .fetch_all(txn.pg())
            .await
            .map_err(|e| CopyFailed::Sql("list columns", e))?;
        let rows: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM {} WHERE {filter}",
            qualified(&table)
        )))
        .fetch_one(txn.pg())
        .await
        .map_err(|e| CopyFailed::Sql("count rows", e))?;
        let header = TableHeader {
            table: table.clone(),
            columns,
            rows: rows as u64,
        };
        let line =
            serde_json::to_string(&header).map_err(|e| CopyFailed::Archive(e.to_string()))?;
        out.write_all(format!("table {line}\n").as_bytes())
            .await
            .map_err(write)?;
        let copy = format!(
            "COPY (SELECT {} FROM {} WHERE {filter}) TO STDOUT",
            column_list(&header.columns),
            qualified(&table)
        );
        let mut data = txn
            .pg()
            .copy_out_raw(&copy)
            .await
            .map_err(|e| CopyFailed::Sql("COPY TO", e))?;
        while let Some(chunk) = data
            .try_next()
            .await
            .map_err(|e| CopyFailed::Sql("COPY TO", e))?
        {
            out.write_all(&chunk).await.map_err(write)?;
        }
        out.write_all(END).await.map_err(write)?;
    }
    out.flush().await.map_err(write)?;
    out.into_inner().sync_all().await.map_err(write)?;
    Ok(())
}
