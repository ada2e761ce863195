//! The opener: every connection the process makes to a database is opened
//! here, and every one to a server within that server's budget
//! ([`super::budget`]).

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};

use super::release_check::{self, Sessions};
use crate::config::TenantConfig;
use crate::redact::scrub;

/// Opens a pool of at most `max_connections` (what the server's budget
/// admitted) within the connect timeout; the error text has the password masked.
/// Every connection of the project is opened here.
///
/// `close_timeout` bounds the check every connection gets when it goes back to
/// its pool (see [`crate::pool::release_check`]). A SQLite file whose URL allows
/// creation (`mode=rwc`) gets its folder created.
pub(crate) async fn open_pool(
    config: &TenantConfig,
    backend: DbBackend,
    max_connections: u32,
    close_timeout: Duration,
) -> Result<DatabaseConnection, String> {
    if let Some(folder) = config.sqlite_folder_to_create() {
        std::fs::create_dir_all(&folder)
            .map_err(|e| format!("cannot create folder {}: {e}", folder.display()))?;
    }
    let timeout = config.pool.effective_connect_timeout();
    let connect = async {
        let mut pause = Duration::from_millis(5);
        loop {
            let options = connect_options(config, backend, max_connections, close_timeout);
            match Database::connect(options).await {
                // Two processes opening one new SQLite file at once: the one
                // switching it to WAL wins, the other gets SQLITE_BUSY at
                // connect time, before any busy timeout applies. Try again
                // (within the connect timeout).
                Err(err) if backend == DbBackend::Sqlite && is_sqlite_busy(&err.to_string()) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                other => return other,
            }
        }
    };
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(err)) => Err(scrub(&err.to_string(), config.url())),
        Err(_) => Err(format!("no connection within {timeout:?}")),
    }
}

fn is_sqlite_busy(message: &str) -> bool {
    message.contains("(code: 5)") || message.contains("database is locked")
}

/// `sea_orm::ConnectOptions` for `config`'s database, its `pool` already
/// merged with defaults. `max_connections` is the pool size admitted by the
/// server's budget; `release_timeout` bounds the check a connection gets
/// when it goes back to its pool.
fn connect_options(
    config: &TenantConfig,
    backend: DbBackend,
    max_connections: u32,
    release_timeout: Duration,
) -> ConnectOptions {
    let pool = &config.pool;
    let sqlite = backend == DbBackend::Sqlite;
    let memory = sqlite && config.is_sqlite_memory();
    let mut opts = ConnectOptions::new(config.url.clone());
    opts.max_connections(max_connections)
        .min_connections(pool.min_connections.unwrap_or(0).min(max_connections))
        .connect_timeout(pool.effective_connect_timeout())
        .acquire_timeout(pool.effective_acquire_timeout())
        .sqlx_logging(pool.sqlx_logging.unwrap_or(false));
    let sessions = if config.serves_tenants {
        Sessions::Shared {
            pool: config.url.as_str().into(),
        }
    } else {
        Sessions::Own {
            database: config.database_name(),
        }
    };
    release_check::install(&mut opts, backend, sessions, release_timeout);
    #[cfg(feature = "mysql")]
    if backend == DbBackend::MySql && config.serves_tenants {
        let capacity = super::mysql_route::statement_cache_capacity(max_connections);
        opts.map_sqlx_mysql_opts(move |o| o.statement_cache_capacity(capacity));
    }
    if sqlite {
        // No sqlx maintenance task for SQLite pools: in sqlx 0.9.0 it can read
        // the idle count while a release and an acquire race (the count
        // wraps below zero for an instant) and then loop that many times
        // without yielding, a core spinning for good (seen in CI with 100
        // SQLite pools; fixed in sqlx 0.9.1, transact-rs/sqlx 4289, and not
        // needed either way). A SQLite connection is a file handle, and an idle
        // pool closes as a whole (`pool_idle_timeout`); an in-memory
        // database must never lose its connection anyway.
        opts.idle_timeout(None::<Duration>)
            .max_lifetime(None::<Duration>);
    } else {
        opts.idle_timeout(pool.effective_idle_timeout())
            .max_lifetime(pool.max_lifetime.unwrap_or(Duration::from_secs(1800)));
    }
    #[cfg(feature = "sqlite")]
    if sqlite {
        use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        let busy = pool.sqlite_busy_timeout.unwrap_or(Duration::from_secs(5));
        let wal = pool.sqlite_wal.unwrap_or(true) && !memory;
        opts.map_sqlx_sqlite_opts(move |o| {
            let o = o.busy_timeout(busy);
            if wal {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
            } else {
                o
            }
        });
    }
    opts
}
