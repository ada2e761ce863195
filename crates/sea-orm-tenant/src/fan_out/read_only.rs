//! SQL that may only read: run in a transaction the server keeps read-only
//! and that is always rolled back.

use sea_orm::{
    AccessMode, ConnectionTrait, DbBackend, DbErr, FromQueryResult, JsonValue, QueryResult,
    Statement, TransactionSession, TransactionTrait,
};

/// Why [`read_only_query`] gave no rows.
#[derive(Debug, thiserror::Error)]
pub enum ReadOnlyError {
    /// The database refused or failed the statement (on PostgreSQL and
    /// MySQL a write is refused here: the transaction is `READ ONLY`).
    #[error("{0}")]
    Database(#[from] DbErr),
    /// SQLite has no read-only transaction: the statement changed rows, and
    /// the change was rolled back.
    #[error("the statement changed {0} row(s); a read-only query may not write (rolled back)")]
    Wrote(i64),
}

/// Runs `sql` on `db` and returns its rows as JSON objects (column name to
/// value), without ever keeping a change: in a `READ ONLY` transaction on
/// PostgreSQL and MySQL/MariaDB, where the server refuses writes, and in a
/// transaction that is rolled back in every case (on SQLite a statement that
/// changed rows is reported as [`ReadOnlyError::Wrote`]).
///
/// With `db` a [`TenantDb`](crate::TenantDb) inside a tenant (for example in
/// a [`fan_out`](crate::TenantConnections::fan_out)), it reads that tenant's data only.
pub async fn read_only_query<C>(db: &C, sql: &str) -> Result<Vec<JsonValue>, ReadOnlyError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let backend = db.get_database_backend();
    let sqlite = backend == DbBackend::Sqlite;
    // SQLite would only log that it cannot.
    let access = (!sqlite).then_some(AccessMode::ReadOnly);
    let txn = db.begin_with_config(None, access).await?;
    let changes = |txn| async move {
        let row = ConnectionTrait::query_one_raw(
            txn,
            Statement::from_string(DbBackend::Sqlite, "SELECT total_changes() AS n"),
        )
        .await?;
        row.map_or(Ok(0), |r| r.try_get::<i64>("", "n"))
    };
    let before = if sqlite { changes(&txn).await? } else { 0 };
    let statement = Statement::from_string(backend, sql);
    let rows = if sqlite {
        ConnectionTrait::query_all_raw(&txn, statement)
            .await
            .map(|rows| rows.iter().map(sqlite_json).collect())
    } else {
        JsonValue::find_by_statement(statement).all(&txn).await
    };
    let wrote = if sqlite && rows.is_ok() {
        changes(&txn).await? - before
    } else {
        0
    };
    txn.rollback().await?;
    match rows? {
        _ if wrote > 0 => Err(ReadOnlyError::Wrote(wrote)),
        rows => Ok(rows),
    }
}

/// A SQLite row as JSON. SeaORM's conversion goes by the declared column
/// type, so it drops computed columns (`count(*)`); this goes by the value.
fn sqlite_json(row: &QueryResult) -> JsonValue {
    let mut object = serde_json::Map::new();
    for (i, name) in row.column_names().into_iter().enumerate() {
        let value = if let Ok(v) = row.try_get_by_index::<Option<i64>>(i) {
            v.map_or(JsonValue::Null, JsonValue::from)
        } else if let Ok(v) = row.try_get_by_index::<Option<f64>>(i) {
            v.map_or(JsonValue::Null, JsonValue::from)
        } else if let Ok(v) = row.try_get_by_index::<Option<String>>(i) {
            v.map_or(JsonValue::Null, JsonValue::from)
        } else if let Ok(v) = row.try_get_by_index::<Option<Vec<u8>>>(i) {
            v.map_or(JsonValue::Null, JsonValue::from)
        } else {
            JsonValue::Null
        };
        object.insert(name, value);
    }
    JsonValue::Object(object)
}
