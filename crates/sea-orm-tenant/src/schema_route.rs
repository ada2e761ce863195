//! Schema tenants: every tenant of one PostgreSQL database shares that
//! database's pool, and each checkout is given its tenant's `search_path`.
//!
//! SeaORM acquires a pooled connection per call with no hook, so calls of a
//! schema tenant run on a connection of their own checkout ([`SchemaRoute`]):
//!
//! * A connection that finished a call cleanly is parked with the schema it
//!   is on ([`Park`]). The next call of the same tenant takes it back as it is:
//!   consecutive queries of one tenant cost no extra round trip.
//! * Any other connection (parked for another schema, or fresh from the pool,
//!   whose state nobody tracked) gets `set_config('search_path', '"schema"', false)`
//!   and `current_schema()` in one prepared statement before the call. The
//!   search path is the tenant's schema alone, so a missing schema leaves no
//!   schema selected: `current_schema()` is NULL, the call fails with
//!   [`TenantError::SchemaMissing`], and nothing can fall through to `public`.
//! * Fail closed: a connection is parked only after its call completed without
//!   error and the statement cannot have changed the session (no `SET`,
//!   transaction control, `set_config` or `search_path` in it). A call cancelled
//!   mid-statement, a failed call, or a session-changing statement drops the
//!   connection back to the pool, where the release check runs
//!   ([`crate::release_check`]) and the next checkout sets the schema again.
//! * Transactions are `begin()` on the database's pool followed by
//!   `set_config(.., true)` (`SET LOCAL`): the transaction stays on its tenant,
//!   and its setting ends with it, committed or rolled back.
//!
//! Prepared statements are safe across schemas: PostgreSQL re-plans a cached
//! statement when `search_path` changed since its last use.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sea_orm::sea_query::Values;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{PgPool, Postgres};
use sea_orm::sqlx::{self, AssertSqlSafe};
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, IsolationLevel, QueryResult, RuntimeErr, Statement, TransactionTrait,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Notify;

use crate::error::TenantError;
use crate::key::TenantKey;
use crate::schema::SchemaName;
use crate::tenant::lock;

/// The statement that moves a connection to a schema and proves the schema exists.
const ENTER_SCHEMA: &str = "SELECT set_config('search_path', $1, $2), current_schema()";

/// Connections of one schema database that finished a call cleanly, each with
/// the schema it is on. They stay checked out of the sqlx pool (holding its
/// permits, within the pool's admitted size) until taken again, expired, or
/// given back to make room for a transaction or a close.
pub(crate) struct Park {
    parked: Mutex<Vec<Parked>>,
    /// A connection parked longer is given back to the pool instead of being
    /// reused, where it gets the ping every connection idle that long gets
    /// ([`crate::release_check::PING_IF_IDLE_FOR`]): a server restart then
    /// costs no failed call.
    fresh_for: Duration,
    closed: AtomicBool,
    /// Wakes a checkout waiting for a connection when one is parked.
    available: Notify,
    /// `begin()` calls and checkouts waiting on the pool itself: while any
    /// waits, finished calls give their connections back to the pool, which
    /// serves its waiters first come, first served, instead of parking them
    /// for whichever call comes next. Otherwise, on busy cores, a call that
    /// arrived later took each parked connection first and a waiting one ran
    /// out its acquire timeout.
    pool_waiters: AtomicUsize,
}

/// Counts a call among those waiting on the pool.
struct PoolWaiter<'a>(&'a Park);

impl Drop for PoolWaiter<'_> {
    fn drop(&mut self) {
        self.0.pool_waiters.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Parked {
    schema: SchemaName,
    conn: PoolConnection<Postgres>,
    since: Instant,
}

impl Park {
    pub(crate) fn new(fresh_for: Duration) -> Self {
        Self {
            parked: Mutex::new(Vec::new()),
            fresh_for,
            closed: AtomicBool::new(false),
            available: Notify::new(),
            pool_waiters: AtomicUsize::new(0),
        }
    }

    /// A parked connection, preferably one on `schema`; `true` if it is on it.
    fn take(&self, schema: &SchemaName) -> Option<(PoolConnection<Postgres>, bool)> {
        let (found, expired) = {
            let mut parked = lock(&self.parked);
            let now = Instant::now();
            let expired: Vec<Parked> = if parked
                .first()
                .is_some_and(|p| now.duration_since(p.since) >= self.fresh_for)
            {
                let keep = parked
                    .iter()
                    .position(|p| now.duration_since(p.since) < self.fresh_for)
                    .unwrap_or(parked.len());
                parked.drain(..keep).collect()
            } else {
                Vec::new()
            };
            // Another schema's connection: the least recently parked, so the
            // next call of the tenants that just parked finds theirs.
            let found = match parked.iter().rposition(|p| p.schema == *schema) {
                Some(i) => Some((parked.remove(i).conn, true)),
                None if parked.is_empty() => None,
                None => Some((parked.remove(0).conn, false)),
            };
            (found, expired)
        };
        drop(expired);
        found
    }

    fn put(&self, schema: SchemaName, conn: PoolConnection<Postgres>) {
        if self.closed.load(Ordering::Acquire) || self.pool_waiters.load(Ordering::Acquire) > 0 {
            return;
        }
        lock(&self.parked).push(Parked {
            schema,
            conn,
            since: Instant::now(),
        });
        self.available.notify_one();
    }

    /// Counts a call as waiting on the pool until the guard is dropped.
    fn wait_on_pool(&self) -> PoolWaiter<'_> {
        self.pool_waiters.fetch_add(1, Ordering::AcqRel);
        PoolWaiter(self)
    }

    /// Counts a `begin()` as waiting on the pool and gives one parked
    /// connection back to the pool if the pool has none idle and cannot open
    /// more: a `begin()` acquires from the pool itself.
    fn make_room(&self, pool: &PgPool) -> PoolWaiter<'_> {
        let waiting = self.wait_on_pool();
        if pool.num_idle() == 0 && pool.size() >= pool.options().get_max_connections() {
            let oldest = {
                let mut parked = lock(&self.parked);
                (!parked.is_empty()).then(|| parked.remove(0))
            };
            drop(oldest);
        }
        waiting
    }

    /// Gives every parked connection back and parks no more: the pool is closing.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let all = std::mem::take(&mut *lock(&self.parked));
        drop(all);
    }
}

/// Whether `sql` may change the session beyond the call: such a connection is
/// not parked, so the next call sets its schema again.
fn may_change_session(sql: &str) -> bool {
    const CONTROL: &[&str] = &[
        "set",
        "reset",
        "begin",
        "start",
        "commit",
        "end",
        "rollback",
        "abort",
        "savepoint",
        "release",
        "prepare",
        "discard",
        "declare",
        "listen",
        "unlisten",
        "lock",
        "do",
        "call",
        "load",
    ];
    // On every routed call of a schema tenant: no allocation.
    let first = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .next()
        .unwrap_or("");
    CONTROL.iter().any(|w| first.eq_ignore_ascii_case(w))
        || contains_ignore_case(sql, "search_path")
        || contains_ignore_case(sql, "set_config")
        || sql.contains(';')
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// A schema tenant's route: the database's pool, its park, and the schema.
#[derive(Clone)]
pub(crate) struct SchemaRoute {
    pub(crate) db: DatabaseConnection,
    pool: PgPool,
    park: std::sync::Arc<Park>,
    schema: SchemaName,
    tenant: TenantKey,
}

/// A connection on the route's schema for one call. Dropped without
/// [`finish`](Self::finish) (cancelled, failed), it goes back to the pool.
struct Checkout {
    conn: PoolConnection<Postgres>,
    park: std::sync::Arc<Park>,
    schema: SchemaName,
}

impl Checkout {
    fn finish(self, sql: &str) {
        if !may_change_session(sql) {
            self.park.put(self.schema, self.conn);
        }
    }
}

impl SchemaRoute {
    pub(crate) fn new(
        db: DatabaseConnection,
        park: std::sync::Arc<Park>,
        schema: SchemaName,
        tenant: TenantKey,
    ) -> Result<Self, TenantError> {
        if db.get_database_backend() != DbBackend::Postgres {
            return Err(TenantError::Unavailable {
                tenant,
                reason: "schema tenants need a PostgreSQL database".into(),
            });
        }
        let pool = db.get_postgres_connection_pool().clone();
        Ok(Self {
            db,
            pool,
            park,
            schema,
            tenant,
        })
    }

    pub(crate) fn schema(&self) -> &SchemaName {
        &self.schema
    }

    fn missing(&self) -> DbErr {
        TenantError::SchemaMissing {
            tenant: self.tenant.clone(),
            schema: self.schema.clone(),
        }
        .into()
    }

    fn enter_statement(&self, local: bool) -> Statement {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            ENTER_SCHEMA,
            [self.schema.quoted().into(), local.into()],
        )
    }

    /// A parked connection (preferably on this schema) or one from the pool,
    /// whichever comes first: a checkout waiting on the pool alone would
    /// starve while finished calls keep parking theirs.
    ///
    /// The wait on the pool is started once and kept while parked
    /// connections come and go: it may be opening a connection to replace a
    /// dead one, and starting it again on every park would throw that away
    /// each time. While it waits, finished calls give their connections to
    /// the pool's waiters instead of parking them (see `Park::pool_waiters`).
    /// After every session was killed, on busy cores, checkouts otherwise
    /// waited out the acquire timeout.
    async fn connection(&self) -> Result<(PoolConnection<Postgres>, bool), DbErr> {
        let deadline = Instant::now() + self.pool.options().get_acquire_timeout();
        let (mut acquiring, mut waiter) = (None, None);
        loop {
            let parked = self.park.available.notified();
            tokio::pin!(parked);
            parked.as_mut().enable();
            if let Some(found) = self.park.take(&self.schema) {
                return Ok(found);
            }
            if acquiring.is_none() {
                if let Some(conn) = self.pool.try_acquire() {
                    return Ok((conn, false));
                }
                if self.pool.size() < self.pool.options().get_max_connections() {
                    // Room to open one more: racing it against the park would
                    // drop every connect half-way under load, and the pool
                    // would never grow.
                    let conn = tokio::time::timeout_at(deadline.into(), self.pool.acquire()).await;
                    return match conn {
                        Ok(conn) => conn.map(|c| (c, false)).map_err(sqlx_error_to_conn_err),
                        Err(_) => Err(sqlx_error_to_conn_err(sqlx::Error::PoolTimedOut)),
                    };
                }
            }
            waiter.get_or_insert_with(|| self.park.wait_on_pool());
            let acquire = acquiring.get_or_insert_with(|| Box::pin(self.pool.acquire()));
            tokio::select! {
                _ = &mut parked => continue,
                conn = acquire => {
                    return conn.map(|c| (c, false)).map_err(sqlx_error_to_conn_err);
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    return Err(sqlx_error_to_conn_err(sqlx::Error::PoolTimedOut));
                }
            }
        }
    }

    async fn checkout(&self) -> Result<Checkout, DbErr> {
        let (mut conn, on_schema) = self.connection().await?;
        if !on_schema {
            let stmt = self.enter_statement(false);
            let row = sqlx_query(&stmt)
                .fetch_one(&mut *conn)
                .await
                .map_err(sqlx_error_to_query_err)?;
            let current: Option<String> = QueryResult::from(row).try_get_by_index(1)?;
            if current.as_deref() != Some(self.schema.as_str()) {
                return Err(self.missing());
            }
        }
        Ok(Checkout {
            conn,
            park: std::sync::Arc::clone(&self.park),
            schema: self.schema.clone(),
        })
    }

    pub(crate) async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let mut c = self.checkout().await?;
        let result = sqlx_query(&stmt)
            .execute(&mut *c.conn)
            .await
            .map_err(sqlx_error_to_exec_err)?;
        c.finish(&stmt.sql);
        Ok(result.into())
    }

    pub(crate) async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut c = self.checkout().await?;
        let result = sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *c.conn)
            .await
            .map_err(sqlx_error_to_exec_err)?;
        c.finish(sql);
        Ok(result.into())
    }

    pub(crate) async fn query_one_raw(
        &self,
        stmt: Statement,
    ) -> Result<Option<QueryResult>, DbErr> {
        let mut c = self.checkout().await?;
        let row = sqlx_query(&stmt)
            .fetch_optional(&mut *c.conn)
            .await
            .map_err(sqlx_error_to_query_err)?;
        c.finish(&stmt.sql);
        Ok(row.map(QueryResult::from))
    }

    pub(crate) async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut c = self.checkout().await?;
        let rows = sqlx_query(&stmt)
            .fetch_all(&mut *c.conn)
            .await
            .map_err(sqlx_error_to_query_err)?;
        c.finish(&stmt.sql);
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    /// Rows of `stmt`, streamed on a connection of their own. The checkout
    /// happens here, so a missing schema fails the call, not the first row.
    pub(crate) async fn stream_raw(
        &self,
        stmt: Statement,
    ) -> Result<BoxStream<'static, Result<QueryResult, DbErr>>, DbErr> {
        let checkout = self.checkout().await?;
        Ok(Box::pin(async_stream::try_stream! {
            let mut c = checkout;
            {
                let mut rows = sqlx_query(&stmt).fetch(&mut *c.conn);
                while let Some(row) = rows.next().await {
                    yield QueryResult::from(row.map_err(sqlx_error_to_query_err)?);
                }
            }
            c.finish(&stmt.sql);
        }))
    }

    /// A transaction on this tenant's schema: `SET LOCAL` semantics, so the
    /// setting ends with the transaction.
    pub(crate) async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        let waiting = self.park.make_room(&self.pool);
        let txn = self
            .db
            .begin_with_config(isolation_level, access_mode)
            .await?;
        drop(waiting);
        let row = txn.query_one_raw(self.enter_statement(true)).await?;
        let current: Option<String> = match row {
            Some(row) => row.try_get_by_index(1)?,
            None => None,
        };
        if current.as_deref() != Some(self.schema.as_str()) {
            return Err(self.missing());
        }
        Ok(txn)
    }
}

// SeaORM's own conversions of sqlx errors are crate-private; the same mapping.
fn sqlx_error_to_conn_err(err: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(err.into()))
}

fn sqlx_error_to_exec_err(err: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(err.into()))
}

fn sqlx_error_to_query_err(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(err.into()))
}

/// `stmt` as an sqlx query, its values bound as SeaORM binds them.
fn sqlx_query(stmt: &Statement) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
    let values = stmt
        .values
        .as_ref()
        .map_or(Values(Vec::new()), |values| values.clone());
    sqlx::query_with(AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
}

#[cfg(test)]
mod tests {
    use super::may_change_session;

    #[test]
    fn session_changing_statements_are_not_parked() {
        for sql in [
            "SET search_path TO other",
            "  set role x",
            "BEGIN",
            "start transaction",
            "COMMIT",
            "SELECT set_config('search_path', 'x', false)",
            "select 1; select 2",
            "RESET ALL",
            "DISCARD ALL",
            "do $$ begin end $$",
        ] {
            assert!(may_change_session(sql), "{sql}");
        }
        for sql in [
            r#"SELECT "notes"."id" FROM "notes" WHERE "notes"."id" = $1"#,
            r#"INSERT INTO "notes" ("body") VALUES ($1) RETURNING "id""#,
            "UPDATE settings SET value = $1",
            "DELETE FROM notes",
            "WITH x AS (SELECT 1) SELECT * FROM x",
        ] {
            assert!(!may_change_session(sql), "{sql}");
        }
    }
}
