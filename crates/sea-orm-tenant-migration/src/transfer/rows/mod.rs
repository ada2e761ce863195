//! A row tenant's archive: its rows of every tenant table, written with
//! `COPY ... TO STDOUT` filtered on the tenant column, and loaded with
//! `COPY ... FROM STDIN` under another tenant's name.
//!
//! # The file
//!
//! [`ROWS_MAGIC`], then for each tenant table (a table of the shared schema
//! with the tenant column), in name order: a line `table ` + a JSON
//! [`TableHeader`] (the table, its columns without the tenant column and
//! generated columns, the number of rows), the rows in `COPY`'s text format
//! (one line each: a newline or backslash inside a value is escaped), and the
//! end marker `\.` on a line of its own, which no row line can be.
//!
//! The tenant column is not written: an archive holds no tenant's name, and
//! imports under any.
//!
//! # Export
//!
//! One `REPEATABLE READ READ ONLY` transaction (one snapshot of every table)
//! with the tenant's setting made (so row-level security confines it to the
//! tenant's rows, as the app's role), and the tenant column filtered too, on a
//! session counted in the server's budget.
//!
//! # Import
//!
//! One transaction, with the target tenant's setting made: each table's rows
//! are copied into a temporary table of the archive's columns, checked
//! against the header's count, then inserted into the shared table with the
//! tenant column set to the target (row-level security's `WITH CHECK`
//! verifies it). A table whose insert a foreign key refuses is retried after
//! the others (parents first). Identity and serial sequences are moved past
//! the largest imported value, so the tenant's next insert does not collide.
//! Refused, with nothing changed, when the target has a row in any tenant
//! table.

mod export;
mod import;
mod promote;

pub(super) use export::export_rows;
pub(super) use import::import_rows;
pub(crate) use promote::copy_rows_into_schema;

use std::path::Path;

use sea_orm::sqlx::postgres::PgConnection;
use sea_orm::sqlx::{self, Connection};
use sea_orm_tenant::rows::{ROW_SCHEMA, TENANT_COLUMN, TENANT_SETTING};
use sea_orm_tenant::{TenantConfig, TenantConnections, TenantKey};

use super::error::{TransferError, db_err, io_err};
use super::place_of;
use crate::lifecycle::TENANT_TABLES;
use crate::quote::{ident, literal};

/// `COPY`'s end-of-data marker, on a line of its own.
const END: &[u8] = b"\\.\n";

/// One table's part of the archive.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct TableHeader {
    /// The table, in the shared schema.
    table: String,
    /// Its columns, in order, without the tenant column and generated columns.
    columns: Vec<String>,
    /// The rows that follow.
    rows: u64,
}

/// The table's columns an archive carries.
const COLUMNS: &str = "SELECT a.attname::text FROM pg_catalog.pg_attribute a \
     JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
     AND a.attgenerated = '' AND a.attname <> $3 ORDER BY a.attnum";

fn qualified(table: &str) -> String {
    format!("{}.{}", ident(ROW_SCHEMA), ident(table))
}

/// Where an archive's rows go.
#[derive(Debug, Clone, Copy)]
pub(super) enum RowTarget<'a> {
    /// A row tenant: the shared tables, the tenant column set to its name.
    Rows,
    /// A schema or database tenant (promotion): the tables of this schema,
    /// which its migrations made; the tenant column is set where a table has
    /// one.
    Schema(&'a str),
}

impl RowTarget<'_> {
    fn table(self, table: &str) -> String {
        match self {
            Self::Rows => qualified(table),
            Self::Schema(schema) => format!("{}.{}", ident(schema), ident(table)),
        }
    }

    fn schema_name(self) -> String {
        match self {
            Self::Rows => ROW_SCHEMA.to_owned(),
            Self::Schema(schema) => schema.to_owned(),
        }
    }
}

fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A connection to the row tenants' database, on a session counted in the
/// server's budget, inside a transaction with `tenant`'s setting made.
struct TenantTransaction {
    session: sea_orm_tenant::TenantSession,
    conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
}

impl TenantTransaction {
    async fn begin(
        store: &TenantConnections,
        key: &TenantKey,
        config: &TenantConfig,
        begin: &'static str,
    ) -> Result<Self, TransferError> {
        let failed =
            |action, e: &dyn std::fmt::Display| db_err(key, action, &e.to_string(), config.url());
        let session = store
            .open_outside(&TenantConfig::new(config.url()), 1)
            .await
            .map_err(|e| failed("open", &e))?;
        let mut conn = session
            .get_postgres_connection_pool()
            .acquire()
            .await
            .map_err(|e| failed("open", &e))?;
        sqlx::raw_sql(begin)
            .execute(&mut *conn)
            .await
            .map_err(|e| failed("begin", &e))?;
        sqlx::query("SELECT pg_catalog.set_config($1, $2, true)")
            .bind(TENANT_SETTING)
            .bind(key.as_str())
            .execute(&mut *conn)
            .await
            .map_err(|e| failed("set the tenant", &e))?;
        Ok(Self { session, conn })
    }

    fn pg(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    async fn tables(&mut self) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(TENANT_TABLES)
            .bind(ROW_SCHEMA)
            .bind(TENANT_COLUMN)
            .fetch_all(self.pg())
            .await
    }

    /// Commits (or rolls back) and closes the session.
    async fn end(mut self, commit: bool) -> Result<(), sqlx::Error> {
        let sql = if commit { "COMMIT" } else { "ROLLBACK" };
        let done = sqlx::raw_sql(sql).execute(self.pg()).await.map(|_| ());
        if done.is_err() {
            // The server ends the transaction with the connection.
            let _ = self.conn.detach().close().await;
        } else {
            drop(self.conn);
        }
        self.session.close().await;
        done
    }
}

/// What went wrong while copying: the database or the file.
enum CopyFailed {
    /// The target's tables hold rows already.
    NotEmpty(Vec<String>),
    Sql(&'static str, sqlx::Error),
    Io(&'static str, std::io::Error),
    Archive(String),
}

impl CopyFailed {
    fn into_transfer(self, key: &TenantKey, config: &TenantConfig, path: &Path) -> TransferError {
        match self {
            Self::NotEmpty(tables) => TransferError::NotEmpty {
                tenant: key.clone(),
                place: place_of(config),
                tables,
            },
            Self::Sql(action, e) => db_err(key, action, &e.to_string(), config.url()),
            Self::Io(action, e) => io_err(action, path, e),
            Self::Archive(reason) => TransferError::Corrupt {
                path: path.to_owned(),
                reason,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(qualified("note"), "\"public\".\"note\"");
    }

    #[test]
    fn no_row_line_is_the_end_marker() {
        // COPY's text format escapes a backslash in a value as two.
        assert_eq!(END, b"\\.\n");
        assert!(!b"\\\\.\n".eq(END));
    }
}
