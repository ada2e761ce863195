//! Schema and row tenants: every tenant of one PostgreSQL database shares
//! that database's pool, and each call runs on its tenant's [`Seat`]: its own
//! schema, or the shared tables with its id in the session's tenant setting.
//!
//! SeaORM acquires a pooled connection per call with no hook, so calls of a
//! shared database's tenant run on a connection of their own checkout
//! ([`PgRoute`]):
//!
//! * Before the call: a connection the server reported on the tenant's seat
//!   is used as it is, so consecutive calls of one tenant cost no extra round
//!   trip. Any other (parked on another seat, or from the pool) gets its
//!   `search_path` and tenant setting with `set_config(.., false)` and
//!   `current_schema()` in one round trip, after `CLOSE ALL`. The path holds
//!   one schema and, after it, the session's temporary schema: a missing
//!   schema leaves `current_schema()` elsewhere, the call fails with
//!   [`TenantError::SchemaMissing`], and nothing can fall through to `public`.
//! * After a call that completed: the session is asked where it is and what
//!   it carries ([`crate::pool::session_state::settle`]) before anyone uses
//!   the connection again. With calls waiting, the connection goes to the
//!   oldest one, which asks in the round trip that moves it to its own seat
//!   ([`crate::pool::session_state::settle_moving`]). With none waiting, it
//!   is asked off the caller's path and parked with the seat the server
//!   reported ([`Park`]), or closed; but while most checkouts find no
//!   connection on their own seat (many tenants, few calls each), it is
//!   parked unchecked and asked by the checkout that takes it, in the round
//!   trip that moves it (or, on its own seat, before the call). Either way a
//!   switch of tenant costs one round trip besides the call, not a check and
//!   then a move. What the statement said is never consulted: a function
//!   that moved the session, a reset, a temporary table are seen in the
//!   session itself.
//! * A call cancelled mid-statement or failed drops its connection back to
//!   the pool, whose release check settles it the same way and more
//!   ([`crate::pool::release_check`]).
//! * Transactions are `begin()` on the database's pool followed by
//!   `set_config(.., true)` (`SET LOCAL`): the transaction starts on its
//!   tenant, and its setting ends with it, committed or rolled back.
//!
//! Prepared statements are safe across schemas: PostgreSQL re-plans a cached
//! statement when `search_path` changed since its last use.

use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{PgConnection, PgPool, Postgres};
use sea_orm::sqlx::{self, AssertSqlSafe, Connection};
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, IsolationLevel, QueryResult, Statement, TransactionTrait,
};

use super::park::{AfterCall, Arrival, Park, Verdict};
use super::seat::Seat;
use super::session_state::{self, Settled};
use super::sqlx_call::{
    sqlx_error_to_conn_err, sqlx_error_to_exec_err, sqlx_error_to_query_err, sqlx_query,
};
use crate::error::TenantError;
use crate::key::TenantKey;

/// SQLSTATEs of a name that does not resolve: on a connection that was on its
/// schema before the call, the schema may have been dropped since.
const UNRESOLVED_NAME: &[&str] = &["42P01", "3F000", "42883", "42704"];

/// A shared database's tenant's route: the database's pool, its park, and the seat.
#[derive(Clone)]
pub(crate) struct PgRoute {
    pub(crate) db: DatabaseConnection,
    pool: PgPool,
    park: std::sync::Arc<Park<Postgres>>,
    seat: Seat,
    tenant: TenantKey,
}

/// A connection on the route's seat for one call. Dropped without
/// [`finish`](Self::finish) (cancelled, failed), it goes back to the pool.
struct Checkout {
    conn: PoolConnection<Postgres>,
    park: std::sync::Arc<Park<Postgres>>,
    seat: Seat,
    /// Whether this checkout moved the connection to the schema (else it was
    /// parked there).
    entered: bool,
}

impl Checkout {
    /// After a call that completed (see [`Park::finish`]).
    fn finish(self) {
        self.park.finish::<SettleAfterCall>(self.seat, self.conn);
    }
}

/// The check after a schema or row tenant's call ([`session_state::settle`]).
struct SettleAfterCall;

impl AfterCall<Postgres> for SettleAfterCall {
    async fn check(conn: &mut PoolConnection<Postgres>, seat: &Seat) -> Verdict {
        match session_state::settle(conn).await {
            Ok(Settled::Clean(clean)) => Verdict::Clean(seat.is_at(
                &clean.search_path,
                clean.schema.as_deref(),
                clean.tenant.as_deref(),
            )),
            Ok(Settled::Close(why)) => Verdict::Close(why.to_owned()),
            Err(err) => Verdict::Close(format!("its check failed: {err}")),
        }
    }
}

impl PgRoute {
    pub(crate) fn new(
        db: DatabaseConnection,
        park: std::sync::Arc<Park<Postgres>>,
        seat: Seat,
        tenant: TenantKey,
    ) -> Result<Self, TenantError> {
        if db.get_database_backend() != DbBackend::Postgres {
            return Err(TenantError::Unavailable {
                tenant,
                reason: "schema and row tenants need a PostgreSQL database".into(),
            });
        }
        let pool = db.get_postgres_connection_pool().clone();
        Ok(Self {
            db,
            pool,
            park,
            seat,
            tenant,
        })
    }

    pub(crate) fn seat(&self) -> &Seat {
        &self.seat
    }

    fn missing(&self) -> DbErr {
        match &self.seat {
            Seat::Schema(schema) => TenantError::SchemaMissing {
                tenant: self.tenant.clone(),
                schema: schema.clone(),
            },
            Seat::Row(_) | Seat::Database(_) => TenantError::Unavailable {
                tenant: self.tenant.clone(),
                reason: format!("its database has no schema {}", self.seat.schema_name()),
            },
        }
        .into()
    }

    /// The statement that moves a session to the seat (`local`: for the
    /// transaction only), sent as text.
    fn enter_sql(&self, local: bool) -> String {
        session_state::enter_statement(
            &self.seat.search_path(),
            self.seat.tenant_setting(),
            self.seat.schema_name(),
            local,
        )
    }

    /// Moves `conn` to the seat for the session; `false` if its schema does
    /// not exist.
    async fn enter(&self, conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
        let entered = sqlx::raw_sql(AssertSqlSafe(self.enter_sql(false)))
            .execute(conn)
            .await?;
        Ok(entered.rows_affected() == 1)
    }

    /// Prepares a connection that arrived `arrival` for a call on the seat:
    /// `Some(entered)` when it is there (`entered`: this moved it), `None`
    /// when the session a call left on it was not clean and it was closed.
    async fn seat_connection(
        &self,
        conn: &mut PoolConnection<Postgres>,
        arrival: Arrival,
    ) -> Result<Option<bool>, DbErr> {
        let entered = match arrival {
            Arrival::OnSeat => false,
            Arrival::Unchecked { from_seat: true } => match session_state::settle(conn).await {
                Ok(Settled::Clean(clean))
                    if self.seat.is_at(
                        &clean.search_path,
                        clean.schema.as_deref(),
                        clean.tenant.as_deref(),
                    ) =>
                {
                    false
                }
                Ok(Settled::Clean(_)) => return self.moved(conn, false).await,
                Ok(Settled::Close(why)) => return Ok(closed(conn, why)),
                Err(err) => return Ok(closed(conn, &err.to_string())),
            },
            Arrival::Elsewhere => return self.moved(conn, false).await,
            Arrival::Unchecked { from_seat: false } => return self.moved(conn, true).await,
        };
        Ok(Some(entered))
    }

    /// Checks a connection from elsewhere and moves it to the seat, in one
    /// round trip: `Some(true)`, `None` if its session was not clean (it is
    /// closed), or the seat's schema is missing. A check that fails on a
    /// connection straight from a call (`unchecked`) means that call left it
    /// unusable (an aborted transaction): it is closed too.
    async fn moved(
        &self,
        conn: &mut PoolConnection<Postgres>,
        unchecked: bool,
    ) -> Result<Option<bool>, DbErr> {
        let moved = session_state::settle_moving(
            conn,
            &self.seat.search_path(),
            self.seat.tenant_setting(),
        )
        .await;
        match moved {
            Ok(Ok(schema)) if schema.as_deref() == Some(self.seat.schema_name()) => Ok(Some(true)),
            Ok(Ok(_)) => Err(self.missing()),
            Ok(Err(why)) => Ok(closed(conn, why)),
            Err(err) if unchecked => Ok(closed(conn, &err.to_string())),
            Err(err) => Err(sqlx_error_to_query_err(err)),
        }
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

    async fn checkout(&self) -> Result<Checkout, DbErr> {
        let deadline = Instant::now() + self.pool.options().get_acquire_timeout();
        loop {
            let (mut conn, arrival) = self
                .park
                .connection(&self.pool, &self.seat, deadline)
                .await
                .map_err(sqlx_error_to_conn_err)?;
            // A connection closed because of what its last call left: another.
            if let Some(entered) = self.seat_connection(&mut conn, arrival).await? {
                return Ok(Checkout {
                    conn,
                    park: std::sync::Arc::clone(&self.park),
                    seat: self.seat.clone(),
                    entered,
                });
            }
        }
    }

    pub(crate) async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let mut c = self.checkout().await?;
        match once_more_if_forgotten(&mut c.conn, &stmt, async |conn, stmt| {
            sqlx_query(stmt).execute(conn).await
        })
        .await
        {
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
        match once_more_if_forgotten(&mut c.conn, &stmt, async |conn, stmt| {
            sqlx_query(stmt).fetch_optional(conn).await
        })
        .await
        {
            Ok(row) => {
                c.finish();
                Ok(row.map(QueryResult::from))
            }
            Err(err) => Err(self.failed(c, err, sqlx_error_to_query_err).await),
        }
    }

    pub(crate) async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut c = self.checkout().await?;
        match once_more_if_forgotten(&mut c.conn, &stmt, async |conn, stmt| {
            sqlx_query(stmt).fetch_all(conn).await
        })
        .await
        {
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
            // Refused before its first row because a statement the driver
            // cached is gone: once more, as `once_more_if_forgotten` does.
            let mut sent_again = false;
            loop {
                let mut forgotten = false;
                {
                    let mut yielded = false;
                    let mut rows = sqlx_query(&stmt).fetch(&mut *c.conn);
                    while let Some(row) = rows.next().await {
                        match row {
                            Ok(row) => {
                                yielded = true;
                                yield QueryResult::from(row);
                            }
                            Err(err) if !yielded && !sent_again
                                && session_state::is_missing_statement(&err) =>
                            {
                                forgotten = true;
                                break;
                            }
                            Err(err) => {
                                failure = Some(err);
                                break;
                            }
                        }
                    }
                }
                if !forgotten {
                    break;
                }
                sent_again = true;
                if let Err(err) = c.conn.clear_cached_statements().await {
                    failure = Some(err);
                    break;
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
        let entered = txn.execute_unprepared(&self.enter_sql(true)).await?;
        if entered.rows_affected() != 1 {
            return Err(self.missing());
        }
        Ok(txn)
    }
}

/// Runs one call of the driver's prepared statements on `conn`. A call the
/// server refused because a statement the driver cached is gone from the
/// session (an earlier call ran `DEALLOCATE` or `DISCARD ALL`) ran nothing:
/// the driver forgets its cache and the call is sent once more. The server
/// names the same error for a statement that itself executes a missing
/// prepared statement (a function running `EXECUTE`): that call is sent
/// twice, its first run rolled back but for what no rollback undoes
/// (sequence values, `dblink`), and fails again.
async fn once_more_if_forgotten<T>(
    conn: &mut PgConnection,
    stmt: &Statement,
    call: impl AsyncFn(&mut PgConnection, &Statement) -> Result<T, sqlx::Error>,
) -> Result<T, sqlx::Error> {
    match call(&mut *conn, stmt).await {
        Err(err) if session_state::is_missing_statement(&err) => {
            conn.clear_cached_statements().await?;
            call(conn, stmt).await
        }
        other => other,
    }
}

/// Closes a connection whose session its last call left unusable: `None`.
fn closed(conn: &mut PoolConnection<Postgres>, why: &str) -> Option<bool> {
    tracing::debug!(why, "closing a shared connection handed over after a call");
    conn.close_on_drop();
    None
}
