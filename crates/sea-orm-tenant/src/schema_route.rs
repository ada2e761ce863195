//! Schema tenants: every tenant of one PostgreSQL database shares that
//! database's pool, and each call runs on its tenant's schema.
//!
//! SeaORM acquires a pooled connection per call with no hook, so calls of a
//! schema tenant run on a connection of their own checkout ([`SchemaRoute`]):
//!
//! * Before the call: a connection the server reported on the tenant's schema
//!   is used as it is, so consecutive calls of one tenant cost no extra round
//!   trip. Any other (parked on another schema, or from the pool) gets
//!   `set_config('search_path', '"schema", pg_temp', false)` and
//!   `current_schema()` in one prepared statement. The path holds the tenant's
//!   schema and, after it, the session's temporary schema: a missing schema
//!   leaves `current_schema()` elsewhere, the call fails with
//!   [`TenantError::SchemaMissing`], and nothing can fall through to `public`.
//! * After a call that completed, off the caller's path: the session is asked
//!   where it is and what it carries ([`crate::session_state::settle`]), and
//!   the connection is parked with the schema the server reported ([`Park`]),
//!   or closed. What the statement said is never consulted: a function that
//!   moved the session, a reset, a temporary table are seen in the session
//!   itself.
//! * A call cancelled mid-statement or failed drops its connection back to
//!   the pool, whose release check settles it the same way and more
//!   ([`crate::release_check`]).
//! * Transactions are `begin()` on the database's pool followed by
//!   `set_config(.., true)` (`SET LOCAL`): the transaction starts on its
//!   tenant, and its setting ends with it, committed or rolled back.
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
use sea_orm::sqlx::postgres::{PgConnection, PgPool, Postgres};
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
use crate::session_state::{self, Settled};
use crate::tenant::lock;

/// The statement that moves a connection to a schema and proves the schema exists.
const ENTER_SCHEMA: &str = "SELECT pg_catalog.set_config('search_path', $1, $2), \
     pg_catalog.current_schema()::pg_catalog.text";

/// SQLSTATEs of a name that does not resolve: on a connection that was on its
/// schema before the call, the schema may have been dropped since.
const UNRESOLVED_NAME: &[&str] = &["42P01", "3F000", "42883", "42704"];

/// Connections of one schema database whose sessions the server reported
/// clean after their last call, each with the schema it is on (`None`: on no
/// tenant's). They stay checked out of the sqlx pool (holding its permits,
/// within the pool's admitted size) until taken again, expired, or given back
/// to make room for a transaction or a close.
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
    /// How long the check after a call may take before the connection is
    /// closed instead.
    check_timeout: Duration,
}

/// Counts a call among those waiting on the pool.
struct PoolWaiter<'a>(&'a Park);

impl Drop for PoolWaiter<'_> {
    fn drop(&mut self) {
        self.0.pool_waiters.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Parked {
    schema: Option<SchemaName>,
    conn: PoolConnection<Postgres>,
    since: Instant,
}

impl Park {
    pub(crate) fn new(fresh_for: Duration, check_timeout: Duration) -> Self {
        Self {
            parked: Mutex::new(Vec::new()),
            fresh_for,
            closed: AtomicBool::new(false),
            available: Notify::new(),
            pool_waiters: AtomicUsize::new(0),
            check_timeout,
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
            let found = match parked
                .iter()
                .rposition(|p| p.schema.as_ref() == Some(schema))
            {
                Some(i) => Some((parked.remove(i).conn, true)),
                None if parked.is_empty() => None,
                None => Some((parked.remove(0).conn, false)),
            };
            (found, expired)
        };
        drop(expired);
        found
    }

    /// Whether a finished call's connection may be parked: not while the pool
    /// closes, nor while calls wait on the pool itself (they get it instead).
    fn accepts(&self) -> bool {
        !self.closed.load(Ordering::Acquire) && self.pool_waiters.load(Ordering::Acquire) == 0
    }

    fn put(&self, schema: Option<SchemaName>, conn: PoolConnection<Postgres>) {
        if !self.accepts() {
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
    /// Whether this checkout moved the connection to the schema (else it was
    /// parked there).
    entered: bool,
}

impl Checkout {
    /// After a call that completed: the session is checked off the caller's
    /// path, and the connection parked where the server says it is, or closed.
    fn finish(self) {
        if !self.park.accepts() {
            return;
        }
        let Checkout {
            mut conn,
            park,
            schema,
            ..
        } = self;
        tokio::spawn(async move {
            let settled =
                tokio::time::timeout(park.check_timeout, session_state::settle(&mut conn)).await;
            match settled {
                Ok(Ok(Settled::Clean(clean))) => {
                    let on_schema = clean.schema.as_deref() == Some(schema.as_str())
                        && schema.is_search_path(&clean.search_path);
                    park.put(on_schema.then_some(schema), conn);
                }
                Ok(Ok(Settled::Close(why))) => {
                    tracing::debug!(schema = %schema, why, "closing a schema connection after a call");
                    conn.close_on_drop();
                }
                Ok(Err(err)) => {
                    tracing::debug!(schema = %schema, error = %err, "closing a schema connection: its check failed");
                    conn.close_on_drop();
                }
                Err(_) => conn.close_on_drop(),
            }
        });
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
            [self.schema.search_path().into(), local.into()],
        )
    }

    /// Moves `conn` to the schema for the session; `false` if the schema does not exist.
    async fn enter(&self, conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
        let (_, current): (String, Option<String>) = sqlx::query_as(ENTER_SCHEMA)
            .bind(self.schema.search_path())
            .bind(false)
            .fetch_one(conn)
            .await?;
        Ok(current.as_deref() == Some(self.schema.as_str()))
    }

    /// The error of a call that failed. A name that did not resolve on a
    /// connection parked on the schema may mean the schema was dropped since:
    /// the server is asked, and a missing schema is [`TenantError::SchemaMissing`].
    async fn failed(
        &self,
        mut c: Checkout,
        err: sqlx::Error,
        to_db: fn(sqlx::Error) -> DbErr,
    ) -> DbErr {
        let unresolved = err
            .as_database_error()
            .and_then(|e| e.code())
            .is_some_and(|code| UNRESOLVED_NAME.contains(&&*code));
        if unresolved && !c.entered && matches!(self.enter(&mut c.conn).await, Ok(false)) {
            return self.missing();
        }
        to_db(err)
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
        if !on_schema
            && !self
                .enter(&mut conn)
                .await
                .map_err(sqlx_error_to_query_err)?
        {
            return Err(self.missing());
        }
        Ok(Checkout {
            conn,
            park: std::sync::Arc::clone(&self.park),
            schema: self.schema.clone(),
            entered: !on_schema,
        })
    }

    pub(crate) async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let mut c = self.checkout().await?;
        match sqlx_query(&stmt).execute(&mut *c.conn).await {
            Ok(result) => {
                c.finish();
                Ok(result.into())
            }
            Err(err) => Err(self.failed(c, err, sqlx_error_to_exec_err).await),
        }
    }

    pub(crate) async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut c = self.checkout().await?;
        match sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *c.conn)
            .await
        {
            Ok(result) => {
                c.finish();
                Ok(result.into())
            }
            Err(err) => Err(self.failed(c, err, sqlx_error_to_exec_err).await),
        }
    }

    pub(crate) async fn query_one_raw(
        &self,
        stmt: Statement,
    ) -> Result<Option<QueryResult>, DbErr> {
        let mut c = self.checkout().await?;
        match sqlx_query(&stmt).fetch_optional(&mut *c.conn).await {
            Ok(row) => {
                c.finish();
                Ok(row.map(QueryResult::from))
            }
            Err(err) => Err(self.failed(c, err, sqlx_error_to_query_err).await),
        }
    }

    pub(crate) async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut c = self.checkout().await?;
        match sqlx_query(&stmt).fetch_all(&mut *c.conn).await {
            Ok(rows) => {
                c.finish();
                Ok(rows.into_iter().map(QueryResult::from).collect())
            }
            Err(err) => Err(self.failed(c, err, sqlx_error_to_query_err).await),
        }
    }

    /// Rows of `stmt`, streamed on a connection of their own. The checkout
    /// happens here, so a missing schema fails the call, not the first row.
    pub(crate) async fn stream_raw(
        &self,
        stmt: Statement,
    ) -> Result<BoxStream<'static, Result<QueryResult, DbErr>>, DbErr> {
        let checkout = self.checkout().await?;
        let route = self.clone();
        Ok(Box::pin(async_stream::try_stream! {
            let mut c = checkout;
            let mut failure = None;
            {
                let mut rows = sqlx_query(&stmt).fetch(&mut *c.conn);
                while let Some(row) = rows.next().await {
                    match row {
                        Ok(row) => yield QueryResult::from(row),
                        Err(err) => {
                            failure = Some(err);
                            break;
                        }
                    }
                }
            }
            match failure {
                None => c.finish(),
                Some(err) => Err(route.failed(c, err, sqlx_error_to_query_err).await)?,
            }
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
