//! Opening pools: the one opener every connection of the project goes through,
//! and single-flight opening of a tenant's pool.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::{Database, DatabaseConnection, DbBackend};

use crate::config::TenantConfig;
use crate::error::TenantError;
use crate::redact::scrub;
use crate::tenant::lock;

/// Opens a pool of at most `max_connections` (what the server's budget
/// admitted) within the connect timeout; the error text has the password masked.
/// Every connection of the project is opened here.
///
/// `close_timeout` bounds the check every connection gets when it goes back to
/// its pool (see [`crate::release_check`]). A SQLite file whose URL allows
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

/// Single-flight state of one tenant's pool: concurrent first uses open it once.
///
/// A waiter shares the failure of an attempt that finished while it waited (so
/// twenty requests do not queue twenty connect timeouts), never an older one:
/// an attempt clears the previous error when it starts, and a cancelled
/// attempt leaves none, so its waiters try again themselves.
#[derive(Default)]
pub(crate) struct Opening {
    lock: tokio::sync::Mutex<()>,
    /// Attempts that ran to completion (success or failure).
    finished: AtomicU64,
    /// The failure of the last finished attempt, with its number in `finished`.
    last_error: Mutex<Option<(u64, TenantError)>>,
}

/// Held by the one task allowed to open the pool.
pub(crate) struct OpeningTurn<'a> {
    opening: &'a Opening,
    _guard: tokio::sync::MutexGuard<'a, ()>,
}

impl Opening {
    /// Waits for the turn to open. `Err` carries the failure of an attempt that
    /// started while this caller waited.
    pub(crate) async fn turn(&self) -> Result<OpeningTurn<'_>, TenantError> {
        let seen = self.finished.load(Ordering::Acquire);
        let guard = self.lock.lock().await;
        if let Some((attempt, err)) = &*lock(&self.last_error)
            && *attempt > seen
        {
            return Err(err.clone());
        }
        Ok(OpeningTurn {
            opening: self,
            _guard: guard,
        })
    }
}

impl OpeningTurn<'_> {
    /// Runs one attempt, recording its failure for the callers waiting behind it.
    pub(crate) async fn attempt<T>(
        self,
        open: impl Future<Output = Result<T, TenantError>>,
    ) -> Result<T, TenantError> {
        *lock(&self.opening.last_error) = None;
        let result = open.await;
        let attempt = self.opening.finished.fetch_add(1, Ordering::AcqRel) + 1;
        if let Err(err) = &result {
            *lock(&self.opening.last_error) = Some((attempt, err.clone()));
        }
        result
    }
}
