//! Loading a row tenant's archive under a tenant's name: into the shared
//! tables (a row tenant) or a schema's own (promotion).

use std::path::Path;

use sea_orm::sqlx::{self, AssertSqlSafe};
use sea_orm_tenant::rows::TENANT_COLUMN;
use sea_orm_tenant::{TenantConfig, TenantConnections, TenantKey};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{
    CopyFailed, END, RowTarget, TableHeader, TenantTransaction, column_list, ident, qualified,
};
use crate::transfer::error::{TransferError, db_err};
use crate::transfer::kind::ROWS_MAGIC;

/// The tenant tables in which tenant `key` has a row (at most five).
async fn with_rows(
    txn: &mut TenantTransaction,
    key: &TenantKey,
) -> Result<Vec<String>, sqlx::Error> {
    let mut found = Vec::new();
    for table in txn.tables().await? {
        let any: bool = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM {} WHERE {} = $1)",
            qualified(&table),
            ident(TENANT_COLUMN)
        )))
        .bind(key.as_str())
        .fetch_one(txn.pg())
        .await?;
        if any {
            found.push(qualified(&table));
            if found.len() == 5 {
                break;
            }
        }
    }
    Ok(found)
}

/// Loads the archive `file` into tenant `key` at `target`, which holds no
/// rows; returns the rows imported.
pub(in crate::transfer) async fn import_rows(
    store: &TenantConnections,
    key: &TenantKey,
    config: &TenantConfig,
    file: &Path,
    target: RowTarget<'_>,
) -> Result<u64, TransferError> {
    let mut txn = TenantTransaction::begin(store, key, config, "BEGIN").await?;
    let loaded = match target {
        RowTarget::Rows => match with_rows(&mut txn, key).await {
            Err(e) => Err(CopyFailed::Sql("look for rows", e)),
            Ok(tables) if !tables.is_empty() => Err(CopyFailed::NotEmpty(tables)),
            Ok(_) => load_rows(&mut txn, key, file, target).await,
        },
        RowTarget::Schema(_) => load_rows(&mut txn, key, file, target).await,
    };
    let ended = txn.end(loaded.is_ok()).await;
    match (loaded, ended) {
        (Err(e), _) => Err(e.into_transfer(key, config, file)),
        (Ok(_), Err(e)) => Err(db_err(key, "commit", &e.to_string(), config.url())),
        (Ok(n), Ok(())) => Ok(n),
    }
}

async fn load_rows(
    txn: &mut TenantTransaction,
    key: &TenantKey,
    file: &Path,
    target: RowTarget<'_>,
) -> Result<u64, CopyFailed> {
    let input = tokio::fs::File::open(file)
        .await
        .map_err(|e| CopyFailed::Io("open", e))?;
    let mut input = BufReader::new(input);
    let read = |e| CopyFailed::Io("read", e);
    let mut line = Vec::new();
    input.read_until(b'\n', &mut line).await.map_err(read)?;
    if line != ROWS_MAGIC {
        return Err(CopyFailed::Archive("not a row tenant archive".into()));
    }
    let mut staged = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).await.map_err(read)? == 0 {
            break;
        }
        let header: TableHeader = line
            .strip_prefix(b"table ")
            .and_then(|json| serde_json::from_slice(json).ok())
            .ok_or_else(|| CopyFailed::Archive("a table's header line is malformed".into()))?;
        let stage = format!("sea_orm_tenant_import_{}", staged.len());
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA",
            ident(&stage),
            column_list(&header.columns),
            target.table(&header.table)
        )))
        .execute(txn.pg())
        .await
        .map_err(|e| CopyFailed::Sql("stage a table", e))?;
        let mut copy = txn
            .pg()
            .copy_in_raw(&format!(
                "COPY {} ({}) FROM STDIN",
                ident(&stage),
                column_list(&header.columns)
            ))
            .await
            .map_err(|e| CopyFailed::Sql("COPY FROM", e))?;
        let mut ended = false;
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line).await.map_err(read)? == 0 {
                break;
            }
            if line == END {
                ended = true;
                break;
            }
            if let Err(e) = copy.send(line.as_slice()).await {
                let _ = copy.abort("the archive could not be sent").await;
                return Err(CopyFailed::Sql("COPY FROM", e));
            }
        }
        if !ended {
            let _ = copy.abort("the archive ended inside a table").await;
            return Err(CopyFailed::Archive(format!(
                "the rows of table {} end without their end marker",
                header.table
            )));
        }
        let copied = copy
            .finish()
            .await
            .map_err(|e| CopyFailed::Sql("COPY FROM", e))?;
        if copied != header.rows {
            return Err(CopyFailed::Archive(format!(
                "table {} has {copied} rows, its header says {}",
                header.table, header.rows
            )));
        }
        staged.push((stage, header));
    }
    if let RowTarget::Schema(_) = target {
        let mut filled = Vec::new();
        for (_, header) in &staged {
            let any: bool = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT EXISTS (SELECT 1 FROM {})",
                target.table(&header.table)
            )))
            .fetch_one(txn.pg())
            .await
            .map_err(|e| CopyFailed::Sql("look for rows", e))?;
            if any {
                filled.push(target.table(&header.table));
            }
        }
        if !filled.is_empty() {
            return Err(CopyFailed::NotEmpty(filled));
        }
    }
    insert_staged(txn, key, staged, target).await
}

/// Inserts every staged table into its table at `target` under tenant
/// `key`, parents first (a table a foreign key refuses is retried after the
/// others), then moves the tables' sequences past what was inserted.
async fn insert_staged(
    txn: &mut TenantTransaction,
    key: &TenantKey,
    mut pending: Vec<(String, TableHeader)>,
    target: RowTarget<'_>,
) -> Result<u64, CopyFailed> {
    let sql = |action| move |e| CopyFailed::Sql(action, e);
    let mut inserted = 0;
    let mut done = Vec::new();
    while !pending.is_empty() {
        let tried = pending.len();
        let mut refused = Vec::new();
        let mut last_error = None;
        for (stage, header) in pending {
            sqlx::raw_sql("SAVEPOINT sea_orm_tenant_import")
                .execute(txn.pg())
                .await
                .map_err(sql("savepoint"))?;
            let columns = column_list(&header.columns);
            let has_tenant_column: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a \
                 JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3 AND NOT a.attisdropped)",
            )
            .bind(target.schema_name())
            .bind(&header.table)
            .bind(TENANT_COLUMN)
            .fetch_one(txn.pg())
            .await
            .map_err(sql("list columns"))?;
            // The tenant's name goes into the tenant column where there is one.
            let (tenant_column, tenant_value) = if has_tenant_column {
                (format!(", {}", ident(TENANT_COLUMN)), ", $1")
            } else {
                (String::new(), "")
            };
            let insert = format!(
                "INSERT INTO {} ({columns}{tenant_column}) OVERRIDING SYSTEM VALUE \
                 SELECT {columns}{tenant_value} FROM {}",
                target.table(&header.table),
                ident(&stage)
            );
            let mut insert = sqlx::query(AssertSqlSafe(insert));
            if has_tenant_column {
                insert = insert.bind(key.as_str());
            }
            match insert.execute(txn.pg()).await {
                Ok(result) => {
                    sqlx::raw_sql("RELEASE SAVEPOINT sea_orm_tenant_import")
                        .execute(txn.pg())
                        .await
                        .map_err(sql("release savepoint"))?;
                    inserted += result.rows_affected();
                    done.push((stage, header));
                }
                Err(e) => {
                    sqlx::raw_sql("ROLLBACK TO SAVEPOINT sea_orm_tenant_import")
                        .execute(txn.pg())
                        .await
                        .map_err(sql("roll back to savepoint"))?;
                    last_error = Some(e);
                    refused.push((stage, header));
                }
            }
        }
        if let Some(e) = last_error
            && refused.len() == tried
        {
            return Err(CopyFailed::Sql("insert", e));
        }
        pending = refused;
    }
    for (stage, header) in &done {
        for column in &header.columns {
            // A column with a sequence (serial or identity) holds integers.
            let sequence: Option<String> =
                sqlx::query_scalar("SELECT pg_catalog.pg_get_serial_sequence($1, $2)")
                    .bind(target.table(&header.table))
                    .bind(column)
                    .fetch_one(txn.pg())
                    .await
                    .map_err(sql("find a sequence"))?;
            let Some(sequence) = sequence else { continue };
            sqlx::query(AssertSqlSafe(format!(
                "SELECT pg_catalog.setval($1::regclass, m.max) \
                 FROM (SELECT max({})::bigint AS max FROM {}) m \
                 WHERE m.max > COALESCE(pg_catalog.pg_sequence_last_value($1::regclass), 0)",
                ident(column),
                ident(stage)
            )))
            .bind(&sequence)
            .execute(txn.pg())
            .await
            .map_err(sql("advance a sequence"))?;
        }
    }
    Ok(inserted)
}
