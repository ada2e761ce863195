//! What the server says a MySQL or MariaDB session shared by database
//! tenants carries, and moving it to a tenant's database.
//!
//! A connection of a shared server pool serves many tenants' databases one
//! after another (`USE`). Nothing here reads the statements that ran: after
//! every call the session is asked ([`STATE`]), in the text protocol, where
//! it is and whether it carries anything a later call of another tenant
//! could meet:
//!
//! * `DATABASE()`: where unqualified names resolve. A connection is on a
//!   tenant's database only as far as this answer says.
//! * a transaction left open, or `autocommit` turned off: the next tenant's
//!   writes would join it;
//! * a role set with `SET ROLE`;
//! * objects that outlive a call and are not bound to where they resolve
//!   next: temporary tables (a `CREATE TEMPORARY TABLE other_db.t` would
//!   shadow `t` of that database for whoever uses the connection there
//!   next), statements prepared with SQL `PREPARE` (bound to the database
//!   current when they were prepared), `HANDLER ... OPEN` and `LOCK TABLES`.
//!   The server counts these statements per session
//!   (`information_schema.SESSION_STATUS`); a session that ever ran one is
//!   closed rather than cleaned, since their names cannot be listed.
//!   `FLUSH STATUS` resets those counters: the database user of a shared
//!   pool must not have the `RELOAD` privilege.
//!
//! Every function here is built into the server (a stored function of the
//! same name needs a database qualifier), so a call cannot change what the
//! check answers. Every check also selects a fresh [`ReplyToken`] and
//! trusts its answer only when the token comes back: sqlx-mysql 0.9.0 can
//! lose its place in the reply stream when a query is cancelled mid-reply,
//! and would then read what an earlier call left unread as this check's
//! answer.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

use sea_orm::sqlx::mysql::{MySqlConnection, MySqlDatabaseError};
use sea_orm::sqlx::{self, AssertSqlSafe, Connection, Row};

use crate::lock::lock;

/// The session's state: its database, whether a transaction is open (or
/// autocommit is off), whether a role is set, how many of the counted
/// statements (see the module docs) it ever ran, its id and `token`.
fn state_sql(token: ReplyToken) -> String {
    format!(
        "SELECT DATABASE(), \
         @@session.in_transaction OR NOT @@session.autocommit, \
         CURRENT_ROLE() IS NOT NULL, \
         (SELECT COUNT(*) FROM information_schema.SESSION_STATUS \
          WHERE VARIABLE_NAME IN ('COM_CREATE_TEMPORARY_TABLE', 'COM_PREPARE_SQL', \
          'COM_HA_OPEN', 'COM_LOCK_TABLES') AND VARIABLE_VALUE <> '0'), \
         CONNECTION_ID(), {token}",
        token = token.0
    )
}

/// A value a check selects and must read back: no earlier reply on the
/// connection carries it, and the SQL of a call cannot guess it (a
/// per-process random key hashed with a counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplyToken(u64);

impl ReplyToken {
    /// A token not handed out before in this process.
    pub(crate) fn fresh() -> Self {
        use std::hash::{BuildHasher, RandomState};
        use std::sync::atomic::{AtomicU64, Ordering};
        static KEY: LazyLock<RandomState> = LazyLock::new(RandomState::new);
        static NEXT: AtomicU64 = AtomicU64::new(0);
        // Below 2^63: read back as a signed or unsigned integer alike.
        Self(KEY.hash_one(NEXT.fetch_add(1, Ordering::Relaxed)) >> 1)
    }

    /// The value to put in a `SELECT`.
    pub(crate) fn sql(self) -> u64 {
        self.0
    }

    /// Whether column `index` of `row` is this token.
    pub(crate) fn is_in(self, row: &sqlx::mysql::MySqlRow, index: usize) -> bool {
        row.try_get::<i64, _>(index)
            .is_ok_and(|v| u64::try_from(v).ok() == Some(self.0))
    }
}

/// Why a check's answer is not trusted: it was not the reply to the check.
const OUT_OF_STEP: &str =
    "the reply did not carry the check's token (the connection's reply stream is out of step)";

/// Connections of shared pools that ran a transaction since they were last
/// released, by pool (its URL) and `CONNECTION_ID()`. A transaction's
/// statements go through sqlx's cache under their own text, prepared in the
/// transaction's database; such a connection's cache is cleared when it goes
/// back to the pool ([`settle_for_pool`]), before another tenant's
/// transaction can take it. Kept in this process, where no SQL reaches it.
static TRANSACTION_CONNECTIONS: LazyLock<Mutex<HashMap<Arc<str>, HashSet<u64>>>> =
    LazyLock::new(Mutex::default);

/// Records that connection `id` of `pool` runs a transaction.
pub(crate) fn mark_transaction(pool: &Arc<str>, id: u64) {
    lock(&TRANSACTION_CONNECTIONS)
        .entry(Arc::clone(pool))
        .or_default()
        .insert(id);
}

/// Whether connection `id` of `pool` ran a transaction since it was last
/// released; forgets it.
fn take_transaction_mark(pool: &str, id: u64) -> bool {
    let mut marks = lock(&TRANSACTION_CONNECTIONS);
    let Some(ids) = marks.get_mut(pool) else {
        return false;
    };
    let marked = ids.remove(&id);
    if ids.is_empty() {
        marks.remove(pool);
    }
    marked
}

/// MySQL's error for a database that does not exist (`ER_BAD_DB_ERROR`).
const BAD_DATABASE: u16 = 1049;

/// What to do with a connection after its session was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Nothing of an earlier call is left that could reach another call; the
    /// session is on this database.
    Clean(Option<String>),
    /// The session cannot be put back cheaply: close the connection.
    Close(&'static str),
}

/// [`settle`] after a `ROLLBACK` (which ends a transaction a cancelled call
/// left, and is a no-op otherwise): the check for connections going back to
/// `pool`. A connection that ran a transaction gets its statement cache
/// cleared ([`TRANSACTION_CONNECTIONS`]), and then one more round trip: the
/// statements are closed with packets the server does not answer, so the
/// next command waits for their acknowledgement (sqlx does not set
/// `TCP_NODELAY`), here rather than in the next caller's call.
pub(crate) async fn settle_for_pool(
    conn: &mut MySqlConnection,
    pool: &str,
) -> Result<Settled, sqlx::Error> {
    let token = ReplyToken::fresh();
    let rows = sqlx::raw_sql(AssertSqlSafe(format!("ROLLBACK; {}", state_sql(token))))
        .fetch_all(&mut *conn)
        .await?;
    let row = rows.last().ok_or(sqlx::Error::RowNotFound)?;
    if !token.is_in(row, 5) {
        return Ok(Settled::Close(OUT_OF_STEP));
    }
    let id: u64 = row.try_get(4)?;
    let transaction = take_transaction_mark(pool, id);
    let settled = settled(row, token)?;
    if transaction && matches!(settled, Settled::Clean(_)) {
        conn.clear_cached_statements().await?;
        sqlx::raw_sql("DO 0").execute(&mut *conn).await?;
    }
    Ok(settled)
}

/// A move to a database that did not happen.
#[derive(Debug)]
pub(crate) enum MoveFailed {
    /// The session carries what its last call left (see [`Settled::Close`]).
    Close(&'static str),
    /// The database does not exist on the server.
    Missing,
    /// The server answered that the session is elsewhere.
    Elsewhere,
    /// The round trip failed.
    Sql(sqlx::Error),
}

fn settled(row: &sqlx::mysql::MySqlRow, token: ReplyToken) -> Result<Settled, sqlx::Error> {
    if !token.is_in(row, 5) {
        return Ok(Settled::Close(OUT_OF_STEP));
    }
    let database: Option<String> = row.try_get(0)?;
    let in_transaction: bool = row.try_get::<i64, _>(1)? != 0;
    let role: bool = row.try_get::<i64, _>(2)? != 0;
    let kept_objects: i64 = row.try_get(3)?;
    Ok(if in_transaction {
        Settled::Close("a transaction was left open (or autocommit turned off)")
    } else if role {
        Settled::Close("a role was set with SET ROLE")
    } else if kept_objects > 0 {
        Settled::Close(
            "the session made temporary tables, SQL prepared statements, handlers or table locks",
        )
    } else {
        Settled::Clean(database)
    })
}

/// Checks the session after a call (see the module docs).
pub(crate) async fn settle(conn: &mut MySqlConnection) -> Result<Settled, sqlx::Error> {
    let token = ReplyToken::fresh();
    let row = sqlx::raw_sql(AssertSqlSafe(state_sql(token)))
        .fetch_one(&mut *conn)
        .await?;
    settled(&row, token)
}

/// `database` as a MySQL identifier for `USE`: backticks doubled.
pub(crate) fn quoted_database(database: &str) -> String {
    format!("`{}`", database.replace('`', "``"))
}

/// Moves the session to `database`, in one round trip: with `check`, the
/// session is first checked (a connection straight from another call);
/// `Ok(before)` is where the check found it (`None` without `check`). The
/// server's `DATABASE()` after the `USE` must name `database`, in a reply
/// that carries the move's [`ReplyToken`].
pub(crate) async fn move_to(
    conn: &mut MySqlConnection,
    database: &str,
    check: bool,
) -> Result<Option<String>, MoveFailed> {
    let quoted = quoted_database(database);
    let token = ReplyToken::fresh();
    let after = format!("USE {quoted}; SELECT DATABASE(), {}", token.sql());
    let message = if check {
        format!("{}; {after}", state_sql(token))
    } else {
        after
    };
    let rows = match sqlx::raw_sql(AssertSqlSafe(message))
        .fetch_all(&mut *conn)
        .await
    {
        Ok(rows) => rows,
        Err(err) if is_bad_database(&err) => return Err(MoveFailed::Missing),
        Err(err) => return Err(MoveFailed::Sql(err)),
    };
    let before = if check {
        let first = rows
            .first()
            .ok_or(MoveFailed::Sql(sqlx::Error::RowNotFound))?;
        match settled(first, token).map_err(MoveFailed::Sql)? {
            Settled::Clean(before) => before,
            Settled::Close(why) => return Err(MoveFailed::Close(why)),
        }
    } else {
        None
    };
    let last = rows
        .last()
        .ok_or(MoveFailed::Sql(sqlx::Error::RowNotFound))?;
    if !token.is_in(last, 1) {
        return Err(MoveFailed::Close(OUT_OF_STEP));
    }
    let after: Option<String> = last.try_get(0).map_err(MoveFailed::Sql)?;
    if after.as_deref() != Some(database) {
        return Err(MoveFailed::Elsewhere);
    }
    Ok(before)
}

/// Whether SeaORM's `err` is the server's answer that a database does not exist.
pub(crate) fn is_bad_database_err(err: &sea_orm::DbErr) -> bool {
    match err {
        sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(err))
        | sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(err))
        | sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(err)) => is_bad_database(err),
        _ => false,
    }
}

fn is_bad_database(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.try_downcast_ref::<MySqlDatabaseError>())
        .is_some_and(|e| e.number() == BAD_DATABASE)
}

/// Whether the server is MariaDB, whose session variables ([`STATE`]) the
/// check reads: MySQL has no `in_transaction` and no `SESSION_STATUS` table.
pub(crate) async fn is_mariadb(conn: &mut MySqlConnection) -> Result<bool, sqlx::Error> {
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut *conn)
        .await?;
    Ok(version.to_ascii_lowercase().contains("mariadb"))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn connection() -> Option<MySqlConnection> {
        let Ok(url) = std::env::var("TEST_MYSQL_URL") else {
            eprintln!("notice: TEST_MYSQL_URL is not set; skipping this MySQL test");
            return None;
        };
        Some(MySqlConnection::connect(&url).await.expect("connect"))
    }

    #[test]
    fn tokens_differ() {
        let (a, b) = (ReplyToken::fresh(), ReplyToken::fresh());
        assert_ne!(a, b);
        assert!(a.sql() < 1 << 63 && b.sql() < 1 << 63);
    }

    #[tokio::test]
    async fn a_fresh_session_is_clean_by_its_own_reply() {
        let Some(mut conn) = connection().await else {
            return;
        };
        assert!(matches!(
            settle(&mut conn).await.unwrap(),
            Settled::Clean(_)
        ));
        let reply = sqlx::raw_sql("SELECT 'x', 0, 0, 0, 7, 123")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            settled(&reply, ReplyToken(123)).unwrap(),
            Settled::Clean(Some("x".into()))
        );
        assert_eq!(
            settled(&reply, ReplyToken(124)).unwrap(),
            Settled::Close(OUT_OF_STEP),
            "a reply that does not carry this check's token is an earlier call's"
        );
        conn.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_move_reads_its_own_reply() {
        let Some(mut conn) = connection().await else {
            return;
        };
        let before = move_to(&mut conn, "information_schema", true)
            .await
            .unwrap();
        assert!(before.is_some(), "TEST_MYSQL_URL names a database");
        assert_eq!(
            move_to(&mut conn, "information_schema", false)
                .await
                .unwrap(),
            None
        );
        conn.close().await.unwrap();
    }
}
