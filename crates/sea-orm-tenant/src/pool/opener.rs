//! The opener: every connection the process makes to a database is opened
//! here, and every one to a server within that server's budget
//! ([`super::budget`]).

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{Database, DatabaseConnection, DbBackend};

use tokio::sync::OwnedSemaphorePermit;

use super::schema_route::Park;
use super::sqlite_readers::SqliteReaders;
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
            let options = config.connect_options(backend, max_connections, close_timeout);
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

/// An open pool and its share of the server's budget, given back when the
/// pool has closed.
pub(crate) struct OpenPool {
    pub(crate) conn: DatabaseConnection,
    pub(crate) permits: Option<OwnedSemaphorePermit>,
    /// The parked connections of a schema database's pool.
    pub(crate) park: Option<Arc<Park>>,
    /// The read pool of a SQLite file in WAL mode (`sqlite_readers`).
    pub(crate) readers: Option<Arc<SqliteReaders>>,
}
