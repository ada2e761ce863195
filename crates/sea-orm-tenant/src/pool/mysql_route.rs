//! Database tenants of one MySQL or MariaDB server sharing its pool: each
//! call runs on a connection of its own checkout, moved to the tenant's
//! database with `USE` only when the server does not already report it
//! there.
//!
//! * Before the call: a connection parked on the tenant's database (the
//!   server reported it there after its last call, [`Park`]) is used as it
//!   is: a tenant's next call costs no extra round trip. Any other gets
//!   `USE` and `SELECT DATABASE()` in one round trip (text protocol: `USE`
//!   cannot be prepared); a connection straight from another call is
//!   checked in that same round trip ([`mysql_session::move_to`]).
//! * After a call that completed: the session is asked where it is and what
//!   it carries ([`mysql_session::settle`]), off the caller's path, or by the
//!   next checkout when one waits, and parked with the database the server
//!   reported, or closed.
//! * A prepared statement stays bound to the database that was current when
//!   it was prepared, and sqlx caches statements per connection by their
//!   text. So each call's text starts with a comment naming its database
//!   ([`keyed`]): the cache is keyed by database, and a cached statement
//!   only ever runs on the database it was prepared in. Clearing the cache
//!   on a switch instead costs a stall of up to 40 ms on the next command:
//!   sqlx closes statements with packets the server does not answer and
//!   does not set `TCP_NODELAY`, so the next command waits for the delayed
//!   acknowledgement (measured: see `just bench-scale --server mysql-shared`).
//! * Transactions are `begin()` on the pool followed by `USE` inside the
//!   transaction. Their statements are SeaORM's own, not keyed: the
//!   connection is marked ([`mysql_session::mark_transaction`]) and its
//!   cache cleared when it goes back to the pool, before any other
//!   transaction can take it.

use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sea_orm::sqlx::mysql::{MySql, MySqlPool};
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, AssertSqlSafe};
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, IsolationLevel, QueryResult, Statement, TransactionTrait,
};

use super::mysql_session::{self, MoveFailed, Settled};
use super::park::{AfterCall, Arrival, Park, Verdict};
use super::seat::Seat;
use super::sqlx_call::{
    sqlx_error_to_conn_err, sqlx_error_to_exec_err, sqlx_error_to_query_err, sqlx_query,
};
use crate::error::TenantError;
use crate::key::TenantKey;

/// A database tenant's route on its server's shared pool.
#[derive(Clone)]
pub(crate) struct MySqlRoute {
    db: DatabaseConnection,
    park: Arc<Park<MySql>>,
    /// The shared pool's URL: it names the pool among the process's pools.
    pool_url: Arc<str>,
    seat: Seat,
    tenant: TenantKey,
}

/// How many statements each connection of a shared MySQL pool of
/// `max_connections` keeps prepared: half of MariaDB's default
/// `max_prepared_stmt_count` (16,382 for the whole server) over the pool,
/// between 100 (sqlx's default) and 1,000. Statements are keyed by
/// database, so a connection serving many tenants needs more than one.
pub(crate) fn statement_cache_capacity(max_connections: u32) -> usize {
    (8_191 / max_connections.max(1) as usize).clamp(100, 1_000)
}

/// `sql` starting with a comment naming `database`: the key of its
/// prepared statement in sqlx's cache.
fn keyed_sql(database: &str, sql: &str) -> String {
    let plain = database
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$');
    if plain {
        format!("/* sea_orm_tenant db {database} */ {sql}")
    } else {
        let hex: String = database.bytes().map(|b| format!("{b:02x}")).collect();
        format!("/* sea_orm_tenant db x{hex} */ {sql}")
    }
}

/// A connection on the route's database for one call. Dropped without
/// [`finish`](Self::finish) (cancelled, failed), it goes back to the pool,
/// whose release check asks the session the same as after a call.
struct Checkout {
    conn: PoolConnection<MySql>,
    park: Arc<Park<MySql>>,
    seat: Seat,
}

impl Checkout {
    /// After a call that completed (see [`Park::finish`]). Statements are
    /// keyed by database: a call that moved the connection left nothing in
    /// its cache that could run elsewhere.
    fn finish(self) {
        self.park.finish::<SettleAfterCall>(self.seat, self.conn);
    }
}

/// The check after a database tenant's call ([`mysql_session::settle`]).
struct SettleAfterCall;

impl AfterCall<MySql> for SettleAfterCall {
    async fn check(conn: &mut PoolConnection<MySql>, seat: &Seat) -> Verdict {
        match mysql_session::settle(conn).await {
            Ok(Settled::Clean(database)) => {
                Verdict::Clean(database.as_deref() == Some(seat.schema_name()))
            }
            Ok(Settled::Close(why)) => Verdict::Close(why.to_owned()),
            Err(err) => Verdict::Close(format!("its check failed: {err}")),
        }
    }
}

/// Refuses a shared pool on a server that is not MariaDB: the session check
/// reads MariaDB's session variables ([`mysql_session`]).
pub(crate) async fn refuse_unless_mariadb(
    db: &DatabaseConnection,
    server: &TenantKey,
) -> Result<(), TenantError> {
    let unavailable = |reason: String| TenantError::Unavailable {
        tenant: server.clone(),
        reason,
    };
    let mut conn = db
        .get_mysql_connection_pool()
        .acquire()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    match mysql_session::is_mariadb(&mut conn).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(unavailable(
            "database tenants share a server's connections on MariaDB only: the check of each session reads MariaDB's session state".into(),
        )),
        Err(err) => Err(unavailable(err.to_string())),
    }
}

impl MySqlRoute {
    pub(crate) fn new(
        db: DatabaseConnection,
        park: Arc<Park<MySql>>,
        pool_url: Arc<str>,
        seat: Seat,
        tenant: TenantKey,
    ) -> Result<Self, TenantError> {
        if db.get_database_backend() != DbBackend::MySql {
            return Err(TenantError::Unavailable {
                tenant,
                reason: "database tenants sharing a server need a MySQL or MariaDB server".into(),
            });
        }
        Ok(Self {
            db,
            park,
            pool_url,
            seat,
            tenant,
        })
    }

    pub(crate) fn seat(&self) -> &Seat {
        &self.seat
    }

    fn pool(&self) -> &MySqlPool {
        self.db.get_mysql_connection_pool()
    }

    /// The tenant's database on the server.
    fn database(&self) -> &str {
        self.seat.schema_name()
    }

    fn missing(&self) -> DbErr {
        TenantError::Unavailable {
            tenant: self.tenant.clone(),
            reason: format!(
                "its database {} does not exist on its server",
                self.database()
            ),
        }
        .into()
    }

    /// Prepares a connection that arrived `arrival` for a call on the
    /// tenant's database: `true` when it is there, `false` when what its last
    /// call left made it unusable (it is closed).
    async fn seat_connection(
        &self,
        conn: &mut PoolConnection<MySql>,
        arrival: Arrival,
    ) -> Result<bool, DbErr> {
        let check = match arrival {
            Arrival::OnSeat => return Ok(true),
            Arrival::Elsewhere => false,
            Arrival::Unchecked { .. } => true,
        };
        match mysql_session::move_to(conn, self.database(), check).await {
            Ok(_) => Ok(true),
            Err(MoveFailed::Close(why)) => {
                tracing::debug!(
                    why,
                    "closing a shared MySQL connection handed over after a call"
                );
                conn.close_on_drop();
                Ok(false)
            }
            Err(MoveFailed::Missing) => Err(self.missing()),
            Err(MoveFailed::Elsewhere) => {
                conn.close_on_drop();
                Err(self.missing())
            }
            // A connection straight from a call that left it unusable.
            Err(MoveFailed::Sql(err)) if check => {
                tracing::debug!(error = %err, "closing a shared MySQL connection handed over after a call");
                conn.close_on_drop();
                Ok(false)
            }
            Err(MoveFailed::Sql(err)) => Err(sqlx_error_to_conn_err(err)),
        }
    }

    async fn checkout(&self) -> Result<Checkout, DbErr> {
        let deadline = Instant::now() + self.pool().options().get_acquire_timeout();
        loop {
            let (mut conn, arrival) = self
                .park
                .connection(self.pool(), &self.seat, deadline)
                .await
                .map_err(sqlx_error_to_conn_err)?;
            if self.seat_connection(&mut conn, arrival).await? {
                return Ok(Checkout {
                    conn,
                    park: Arc::clone(&self.park),
                    seat: self.seat.clone(),
                });
            }
        }
    }

    /// `stmt` with its text keyed by the tenant's database.
    fn keyed(&self, stmt: Statement) -> Statement {
        Statement {
            sql: keyed_sql(self.database(), &stmt.sql),
            ..stmt
        }
    }

    pub(crate) async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let stmt = self.keyed(stmt);
        let mut c = self.checkout().await?;
        let result = sqlx_query::<MySql>(&stmt)
            .execute(&mut *c.conn)
            .await
            .map_err(sqlx_error_to_exec_err)?;
        c.finish();
        Ok(result.into())
    }

    pub(crate) async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut c = self.checkout().await?;
        let result = sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *c.conn)
            .await
            .map_err(sqlx_error_to_exec_err)?;
        c.finish();
        Ok(result.into())
    }

    pub(crate) async fn query_one_raw(
        &self,
        stmt: Statement,
    ) -> Result<Option<QueryResult>, DbErr> {
        let stmt = self.keyed(stmt);
        let mut c = self.checkout().await?;
        let row = sqlx_query::<MySql>(&stmt)
            .fetch_optional(&mut *c.conn)
            .await
            .map_err(sqlx_error_to_query_err)?;
        c.finish();
        Ok(row.map(QueryResult::from))
    }

    pub(crate) async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let stmt = self.keyed(stmt);
        let mut c = self.checkout().await?;
        let rows = sqlx_query::<MySql>(&stmt)
            .fetch_all(&mut *c.conn)
            .await
            .map_err(sqlx_error_to_query_err)?;
        c.finish();
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    /// Rows of `stmt`, streamed on a connection of their own. The checkout
    /// happens here, so a missing database fails the call, not the first row.
    pub(crate) async fn stream_raw(
        &self,
        stmt: Statement,
    ) -> Result<BoxStream<'static, Result<QueryResult, DbErr>>, DbErr> {
        let stmt = self.keyed(stmt);
        let checkout = self.checkout().await?;
        Ok(Box::pin(async_stream::try_stream! {
            let mut c = checkout;
            {
                let mut rows = sqlx_query::<MySql>(&stmt).fetch(&mut *c.conn);
                while let Some(row) = rows.next().await {
                    yield QueryResult::from(row.map_err(sqlx_error_to_query_err)?);
                }
            }
            c.finish();
        }))
    }

    /// A transaction on this tenant's database: `USE` right after `BEGIN`,
    /// on a connection from the pool (its statement cache empty).
    pub(crate) async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        let waiting = self.park.make_room(self.pool());
        let txn = self
            .db
            .begin_with_config(isolation_level, access_mode)
            .await?;
        drop(waiting);
        let quoted = mysql_session::quoted_database(self.database());
        // `USE` cannot be prepared: the text protocol.
        if let Err(err) = txn.execute_unprepared(&format!("USE {quoted}")).await {
            let _ = txn.rollback().await;
            return Err(if mysql_session::is_bad_database_err(&err) {
                self.missing()
            } else {
                err
            });
        }
        // The connection, marked before any statement of the transaction
        // can be cached on it; this one reads no table.
        let row = txn
            .query_one_raw(Statement::from_string(
                DbBackend::MySql,
                "SELECT CONNECTION_ID(), DATABASE()",
            ))
            .await?;
        let (id, current): (Option<u64>, Option<String>) = match row {
            Some(row) => (row.try_get_by_index(0)?, row.try_get_by_index(1)?),
            None => (None, None),
        };
        if let Some(id) = id {
            mysql_session::mark_transaction(&self.pool_url, id);
        }
        if id.is_none() || current.as_deref() != Some(self.database()) {
            let _ = txn.rollback().await;
            return Err(self.missing());
        }
        Ok(txn)
    }
}
