//! What the server says a pooled PostgreSQL session carries, and putting it
//! back to a state any tenant may use.
//!
//! A connection of a schema database serves many tenants one after another.
//! Whatever a call leaves in its session (a `search_path` set by a function,
//! a temporary table, a role, an open transaction, a reset that dropped the
//! driver's prepared statements) must not reach the next call. Nothing here
//! reads the statements that ran: the session is asked, after every call,
//! before the connection serves anyone again.
//!
//! * [`settle`] runs after each routed call (off the caller's path, or
//!   by the next checkout, together with the move to its seat:
//!   [`settle_moving`]) and on every connection going back to the pool: one
//!   statement reports the search path, the current schema, whether a
//!   transaction is open, whether the role was changed, and whether the
//!   session ever had a temporary schema. Temporary objects are dropped
//!   (`DISCARD TEMP`); a changed role or an open transaction closes the
//!   connection.
//! * Prepared statements a call dropped (`DEALLOCATE`, `DISCARD ALL`) are
//!   found by the next call that uses one of the driver's: the server refuses
//!   it before running anything, the driver forgets its cache and the call
//!   is sent again ([`is_missing_statement`], in `pg_route`); a connection
//!   going back to the pool is asked ([`settle_for_pool`]).
//! * Cursors kept open `WITH HOLD` are the calling tenant's own until another
//!   tenant's call takes the connection: they are closed (`CLOSE ALL`) in the
//!   round trip that moves it to that tenant's schema (`shared_route`).
//! * [`settle_for_pool`] adds what costs more to ask (cursors, `LISTEN`,
//!   prepared statements made with SQL `PREPARE`, the driver's cache against
//!   the server's statements) for connections going back to the pool, where
//!   transactions take them: a session carrying any of it is reset with
//!   `DISCARD ALL`.
//!
//! * Every statement whose answer decides anything is sent as text, in the
//!   simple-query protocol. A statement kept in the session (prepared with
//!   `PREPARE`, or in the driver's cache) can be dropped by a call and
//!   prepared again under its name, answering whatever that call likes; text
//!   the router sends fresh cannot be.
//!
//! Every function and operator in these statements is schema-qualified, so a
//! session whose `search_path` puts a schema of the tenant's before
//! `pg_catalog` cannot substitute its own `current_setting` or `<>`.

use sea_orm::sqlx::AssertSqlSafe;
use sea_orm::sqlx::postgres::{PgConnection, PgRow};
use sea_orm::sqlx::{self, Connection, Row};

/// The check after every call, run in the simple-query protocol: its
/// timestamps tell a transaction block apart: `transaction_timestamp()`
/// equals `statement_timestamp()` exactly unless an earlier statement opened
/// the transaction (in the extended protocol the server stamps a statement
/// again at `Execute`, so the two never match there).
const CHECK: &str = "SELECT pg_catalog.current_setting('search_path'), \
     pg_catalog.current_schema()::pg_catalog.text, \
     pg_catalog.transaction_timestamp() OPERATOR(pg_catalog.<>) pg_catalog.statement_timestamp(), \
     current_user OPERATOR(pg_catalog.<>) session_user, \
     pg_catalog.pg_my_temp_schema() OPERATOR(pg_catalog.<>) 0::pg_catalog.oid, \
     pg_catalog.current_setting('sea_orm_tenant.id', true)";

/// Whether the session's temporary schema holds anything: every object in a
/// schema depends on it. Asked only once the session has a temporary schema
/// (it keeps one, empty or not, for the rest of its life).
const TEMP_OBJECTS: &str = "SELECT EXISTS (SELECT FROM pg_catalog.pg_depend \
     WHERE refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass \
     AND refobjid OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema())";

/// The check's verdicts (the same expressions as [`CHECK`]'s) and then the
/// move of the session to a seat, given its `search_path` and tenant setting
/// as escaped literals: the path (not set again when it is already the
/// seat's: setting it makes the server look its schemas up again on the next
/// statement), the tenant setting, and where names now resolve. The inner
/// query runs first (`OFFSET 0` keeps it a query of its own), so
/// `current_schema()` is read after the move.
fn move_statement(path: &str, tenant: &str) -> String {
    format!(
        "SELECT m.in_transaction, m.role_changed, m.had_temp_schema, \
         pg_catalog.current_schema()::pg_catalog.text FROM (SELECT \
         pg_catalog.transaction_timestamp() OPERATOR(pg_catalog.<>) pg_catalog.statement_timestamp() AS in_transaction, \
         current_user OPERATOR(pg_catalog.<>) session_user AS role_changed, \
         pg_catalog.pg_my_temp_schema() OPERATOR(pg_catalog.<>) 0::pg_catalog.oid AS had_temp_schema, \
         CASE WHEN pg_catalog.current_setting('search_path') OPERATOR(pg_catalog.=) {path} THEN {path} \
         ELSE pg_catalog.set_config('search_path', {path}, false) END AS path, \
         pg_catalog.set_config('sea_orm_tenant.id', {tenant}, false) AS tenant OFFSET 0) m"
    )
}

/// `value` as a string literal: quoted schema names and a tenant key, whose
/// characters need no escaping in a literal, escaped all the same.
fn literal(value: &str) -> String {
    format!("'{}'::pg_catalog.text", value.replace('\'', "''"))
}

/// Session state that only connections going back to the pool are asked for.
const POOL_EXTRAS: &str = "SELECT \
     EXISTS (SELECT FROM pg_catalog.pg_cursor() c WHERE c.name OPERATOR(pg_catalog.<>) ''), \
     EXISTS (SELECT FROM pg_catalog.pg_listening_channels()), \
     EXISTS (SELECT FROM pg_catalog.pg_prepared_statement() s \
         WHERE s.from_sql), \
     (SELECT pg_catalog.count(*) FROM pg_catalog.pg_prepared_statement() s WHERE NOT s.from_sql)";

/// SQLSTATE `invalid_sql_statement_name`: a prepared statement that does not exist.
const NO_SUCH_STATEMENT: &str = "26000";

/// A session that may serve the next call, with where its names resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Clean {
    /// `current_setting('search_path')`, exactly as the server holds it.
    pub(crate) search_path: String,
    /// `current_schema()`: the first schema of the path that exists.
    pub(crate) schema: Option<String>,
    /// The row tenant setting (`sea_orm_tenant.id`), if the session has one.
    pub(crate) tenant: Option<String>,
}

/// What to do with a connection after its session was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Nothing of an earlier call is left that could reach another call.
    Clean(Clean),
    /// The session cannot be put back cheaply (a transaction left open, a
    /// changed role): close the connection.
    Close(&'static str),
}

/// Sends `sql` as text, in the simple-query protocol, and returns the
/// message's last row: its last statement's.
async fn last_row(conn: &mut PgConnection, sql: &str) -> Result<PgRow, sqlx::Error> {
    let mut rows = sqlx::raw_sql(AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?;
    rows.pop().ok_or(sqlx::Error::RowNotFound)
}

/// Whether the server refused a statement because it is not prepared in the
/// session (SQLSTATE `invalid_sql_statement_name`): a statement the driver
/// cached that a call dropped, refused before it ran.
pub(crate) fn is_missing_statement(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == NO_SUCH_STATEMENT)
}

/// Checks the session after a call and clears what a later call must not
/// see (see the module docs).
pub(crate) async fn settle(conn: &mut PgConnection) -> Result<Settled, sqlx::Error> {
    let row = last_row(conn, CHECK).await?;
    if let Some(why) = left_behind(conn, &row, 2).await? {
        return Ok(Settled::Close(why));
    }
    Ok(Settled::Clean(Clean {
        search_path: row.try_get(0)?,
        schema: row.try_get(1)?,
        tenant: row.try_get(5)?,
    }))
}

/// [`settle`] and the move to a seat (`search_path`, the tenant setting) in
/// one round trip, for a connection that goes to another seat: after
/// another tenant's call, or from the pool. The cursors an earlier call kept
/// open `WITH HOLD` are closed in the same message; the statement timestamps
/// are the message's, so the check still tells a transaction opened before
/// it apart. `Ok(Err(why))` when the connection must be closed; else where
/// its names now resolve (`current_schema()`).
pub(crate) async fn settle_moving(
    conn: &mut PgConnection,
    search_path: &str,
    tenant: &str,
) -> Result<Result<Option<String>, &'static str>, sqlx::Error> {
    let sql = format!(
        "CLOSE ALL; {}",
        move_statement(&literal(search_path), &literal(tenant))
    );
    let row = last_row(conn, &sql).await?;
    if let Some(why) = left_behind(conn, &row, 0).await? {
        return Ok(Err(why));
    }
    Ok(Ok(row.try_get(3)?))
}

/// The check's three verdicts, from column `at` of its row on: why the
/// connection must be closed (a transaction left open, a changed role), or
/// `None` once any temporary objects are dropped.
async fn left_behind(
    conn: &mut PgConnection,
    row: &PgRow,
    at: usize,
) -> Result<Option<&'static str>, sqlx::Error> {
    if row.try_get::<bool, _>(at)? {
        return Ok(Some("a transaction was left open"));
    }
    if row.try_get::<bool, _>(at + 1)? {
        return Ok(Some("the role was changed with SET ROLE"));
    }
    if row.try_get::<bool, _>(at + 2)? {
        discard_temp_objects(conn).await?;
    }
    Ok(None)
}

async fn discard_temp_objects(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let row = sqlx::raw_sql(TEMP_OBJECTS).fetch_one(&mut *conn).await?;
    if row.try_get::<bool, _>(0)? {
        sqlx::raw_sql("DISCARD TEMP").execute(&mut *conn).await?;
    }
    Ok(())
}

/// [`settle`], and a `DISCARD ALL` for a session that keeps cursors, listens
/// on channels, has statements prepared with SQL `PREPARE`, or misses
/// statements the driver has cached: the check for connections going back to
/// the pool.
pub(crate) async fn settle_for_pool(conn: &mut PgConnection) -> Result<Settled, sqlx::Error> {
    let clean = match settle(conn).await? {
        Settled::Clean(clean) => clean,
        close => return Ok(close),
    };
    let row = sqlx::raw_sql(POOL_EXTRAS).fetch_one(&mut *conn).await?;
    let (cursors, listening, from_sql): (bool, bool, bool) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let on_server: i64 = row.try_get(3)?;
    let cached = conn.cached_statements_size();
    if !(cursors || listening || from_sql || on_server < cached as i64) {
        return Ok(Settled::Clean(clean));
    }
    sqlx::raw_sql("DISCARD ALL").execute(&mut *conn).await?;
    conn.clear_cached_statements().await?;
    // The reset put the search path back to the server's default.
    settle(conn).await
}

/// Moves a session to a seat (`local`: for the current transaction only,
/// `SET LOCAL` semantics) and answers one row when names then resolve in
/// `schema`, none when that schema does not exist. Text, so a call cannot
/// have replaced it. Each `OFFSET 0` keeps a query of its own, run before
/// the one around it reads it: the move, then `current_schema()`, then the
/// comparison (in a `WHERE` of the move's query, the server would compare
/// once, before the move).
pub(crate) fn enter_statement(
    search_path: &str,
    tenant: &str,
    schema: &str,
    local: bool,
) -> String {
    format!(
        "SELECT FROM (SELECT pg_catalog.current_schema()::pg_catalog.text AS s FROM \
         (SELECT pg_catalog.set_config('search_path', {path}, {local}), \
         pg_catalog.set_config('sea_orm_tenant.id', {tenant}, {local}) OFFSET 0) m OFFSET 0) c \
         WHERE c.s OPERATOR(pg_catalog.=) {schema}",
        path = literal(search_path),
        tenant = literal(tenant),
        schema = literal(schema),
    )
}
