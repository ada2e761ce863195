//! The check every PostgreSQL and MySQL connection gets when it goes back to its
//! pool: no connection is kept in a pool, or handed out again, while the server
//! still has a transaction open on it that no `DatabaseTransaction` owns.
//!
//! sqlx 0.9.0 raises a connection's transaction depth only after the reply to
//! `BEGIN` has been read. A `begin()` future dropped in between (a timeout, a
//! client gone) returns the connection to the pool with the server inside a
//! transaction and nothing to end it; the next borrower's autocommit writes then
//! run inside it, are acknowledged, and vanish when the connection closes
//! (transact-rs/sqlx issue 4393; sqlx 0.9.1's fix, 4394, is for PostgreSQL,
//! and the check also catches a transaction left open any other way). sqlx
//! keeps the transaction status private, so
//! the check asks the server, in one round trip made while the connection is
//! released (off the caller's path):
//!
//! * PostgreSQL: `transaction_timestamp()` equals `statement_timestamp()` exactly
//!   in the first statement of a transaction (the server copies one into the
//!   other), so the check's statement differs from them only inside a
//!   transaction block opened earlier; such a connection is closed, which ends
//!   the transaction on the server.
//! * PostgreSQL, the shared pool of schema tenants: the session is put back
//!   to a state any tenant may use, or closed
//!   ([`crate::pool::session_state::settle_for_pool`]), which covers the leaked
//!   transaction too.
//! * MySQL and MariaDB: `ROLLBACK`, which ends a leaked transaction and is a
//!   silent no-op otherwise, and `DATABASE()` in the same round trip: a
//!   connection that a tenant's `USE` moved to another database is closed (its
//!   prepared statements would stay bound to that database). The check
//!   selects a fresh token too: a reply without it belongs to an earlier,
//!   cancelled query that sqlx-mysql lost its place in, and the connection
//!   is closed.
//! * MySQL and MariaDB, the shared pool of a server's database tenants:
//!   `ROLLBACK`, the session's check ([`crate::pool::mysql_session`]), and its
//!   statement cache cleared, since a transaction of any tenant may take it
//!   next.
//! * SQLite needs nothing: sqlx's worker rolls back a `BEGIN` nobody received,
//!   and a pooled SQLite connection is not pinged before use either.
//!
//! The check also drains whatever a cancelled query left unread; it gets
//! `close_timeout`, after which the connection is dropped hard rather than
//! pinned forever (a connection stuck mid-protocol otherwise never returns to its
//! pool, and the pool never finishes closing).
//!
//! The check is a round trip that proves the connection alive when it went
//! back to the pool, so sqlx's own ping on every acquire is replaced by a ping
//! of connections idle for at least [`PING_IF_IDLE_FOR`]: a hot connection
//! costs the same round trips as with sqlx's defaults (measured by
//! `benches/release_check.rs`).

use std::time::Duration;

use sea_orm::{ConnectOptions, DbBackend};

/// A pooled connection idle at least this long is pinged before it is handed out.
pub(crate) const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// sqlx-mysql 0.9.0 can panic decoding what a cancelled query left on the
/// wire (`split_to out of bounds` in a column definition). The stream is then
/// corrupt: the connection is closed hard (`Err`), since a graceful close
/// would wait on that stream and hold the pool's close up, past the budget.
#[cfg(feature = "mysql")]
async fn mysql_checked<T>(
    check: impl std::future::Future<Output = T>,
) -> Result<T, sea_orm::sqlx::Error> {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(check)
        .catch_unwind()
        .await
        .map_err(|_panicked| {
            sea_orm::sqlx::Error::Protocol(
                "the driver panicked reading a cancelled query's reply".into(),
            )
        })
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
/// A check that failed closes its connection: `false` to sqlx, which then
/// closes it gracefully (`Terminate` first). An `Err` would make sqlx close it
/// "hard", which over TLS waits for the server, which waits for the client:
/// seen here with sqlx 0.9.0 and rustls, the connection stayed open, inside
/// the transaction the check found, until the server was told to end it.
fn close_after(err: &dyn std::fmt::Display) -> bool {
    tracing::debug!(error = %err, "closing a pooled connection: its release check failed");
    false
}

/// Whose sessions a pool's connections carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sessions {
    /// One tenant's database: `database` is the one its URL names.
    Own { database: Option<String> },
    /// A pool shared by tenants (a schema database's, a MySQL server's):
    /// `pool` is its URL, which names it among the process's pools.
    Shared { pool: std::sync::Arc<str> },
}

/// Installs the release check on `opts` for `backend`.
#[cfg_attr(
    not(any(feature = "postgres", feature = "mysql")),
    allow(unused_variables)
)]
pub(crate) fn install(
    opts: &mut ConnectOptions,
    backend: DbBackend,
    sessions: Sessions,
    timeout: Duration,
) {
    if backend == DbBackend::Sqlite {
        // A SQLite connection is a file handle on a worker thread of this
        // process: nothing can break it while it sits in the pool, and sqlx's
        // ping would be a round trip to that thread before every query.
        opts.test_before_acquire(false);
    } else {
        opts.test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
    }
    match backend {
        #[cfg(feature = "postgres")]
        DbBackend::Postgres if matches!(sessions, Sessions::Shared { .. }) => {
            opts.map_sqlx_postgres_pool_opts(move |o| {
                o.after_release(move |conn, _meta| {
                    Box::pin(async move {
                        use crate::pool::session_state::{Settled, settle_for_pool};
                        match tokio::time::timeout(timeout, settle_for_pool(conn)).await {
                            Ok(Ok(Settled::Clean(_))) => Ok(true),
                            Ok(Ok(Settled::Close(why))) => {
                                tracing::warn!(why, "closing a pooled schema connection");
                                Ok(false)
                            }
                            Ok(Err(err)) => Ok(close_after(&err)),
                            Err(_) => Ok(close_after(&"no answer within the close timeout")),
                        }
                    })
                })
            });
        }
        #[cfg(feature = "postgres")]
        DbBackend::Postgres => {
            opts.map_sqlx_postgres_pool_opts(move |o| {
                o.after_release(move |conn, _meta| {
                    Box::pin(async move {
                        // The simple-query protocol: with a prepared statement the
                        // two timestamps differ even outside a transaction block.
                        let leaked = sea_orm::sqlx::raw_sql(
                            "SELECT 1 WHERE transaction_timestamp() <> statement_timestamp()",
                        )
                        .fetch_optional(&mut *conn);
                        match tokio::time::timeout(timeout, leaked).await {
                            Ok(Ok(row)) => {
                                if row.is_some() {
                                    tracing::warn!(
                                        "closing a pooled connection left inside a transaction by a cancelled call"
                                    );
                                }
                                Ok(row.is_none())
                            }
                            Ok(Err(err)) => Ok(close_after(&err)),
                            Err(_) => Ok(close_after(&"no answer within the close timeout")),
                        }
                    })
                })
            });
        }
        #[cfg(feature = "mysql")]
        DbBackend::MySql if matches!(sessions, Sessions::Shared { .. }) => {
            let Sessions::Shared { pool } = sessions else {
                return;
            };
            opts.map_sqlx_mysql_pool_opts(move |o| {
                let pool = std::sync::Arc::clone(&pool);
                o.after_release(move |conn, _meta| {
                    let pool = std::sync::Arc::clone(&pool);
                    Box::pin(async move {
                        use crate::pool::mysql_session::{Settled, settle_for_pool};
                        let check = mysql_checked(settle_for_pool(conn, &pool));
                        match tokio::time::timeout(timeout, check).await {
                            Ok(Err(panicked)) => Err(panicked),
                            Ok(Ok(Ok(Settled::Clean(_)))) => Ok(true),
                            Ok(Ok(Ok(Settled::Close(why)))) => {
                                tracing::warn!(why, "closing a pooled shared MySQL connection");
                                Ok(false)
                            }
                            Ok(Ok(Err(err))) => Ok(close_after(&err)),
                            Err(_) => Ok(close_after(&"no answer within the close timeout")),
                        }
                    })
                })
            });
        }
        #[cfg(feature = "mysql")]
        DbBackend::MySql => {
            let expected = match sessions {
                Sessions::Own { database } => database,
                Sessions::Shared { .. } => None,
            };
            opts.map_sqlx_mysql_pool_opts(move |o| {
                let expected = expected.clone();
                o.after_release(move |conn, _meta| {
                    let expected = expected.clone();
                    Box::pin(async move {
                        use crate::pool::mysql_session::ReplyToken;
                        use sea_orm::sqlx::{AssertSqlSafe, Row};
                        let token = ReplyToken::fresh();
                        let check = mysql_checked(
                            sea_orm::sqlx::raw_sql(AssertSqlSafe(format!(
                                "ROLLBACK; SELECT DATABASE(), {}",
                                token.sql()
                            )))
                            .fetch_one(&mut *conn),
                        );
                        match tokio::time::timeout(timeout, check).await {
                            Ok(Err(panicked)) => Err(panicked),
                            Ok(Ok(Ok(row))) if !token.is_in(&row, 1) => {
                                tracing::warn!(
                                    "closing a pooled connection whose reply stream is out of step"
                                );
                                Ok(false)
                            }
                            Ok(Ok(Ok(row))) => {
                                let database: Option<String> = row.try_get(0)?;
                                if database != expected {
                                    tracing::warn!(
                                        "closing a pooled connection moved to another database by USE"
                                    );
                                }
                                Ok(database == expected)
                            }
                            Ok(Ok(Err(err))) => Ok(close_after(&err)),
                            Err(_) => Ok(close_after(&"no answer within the close timeout")),
                        }
                    })
                })
            });
        }
        _ => {}
    }
}
