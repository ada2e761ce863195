//! The per-tenant migration lock, so two runners (processes or tasks) never
//! migrate the same database at once.
//!
//! * PostgreSQL: a session-level advisory lock, keyed by the current schema,
//!   waited for with `lock_timeout`. A schema tenant's lock is a
//!   transaction-level one in the transaction its migrations run in.
//! * MySQL/MariaDB: `GET_LOCK` on a name derived from the current database.
//! * SQLite files: an exclusive `flock` (via `fs4`) on `<database file>.migrate-lock`
//!   beside the database. The file is left in place: deleting a lock file races
//!   with a runner that just opened it. In-memory SQLite needs no lock.
//!
//! Server locks are held on a dedicated single-connection session from the
//! store ([`TenantConnections::session`](sea_orm_tenant::TenantConnections::session),
//! the same opener and connection budget as every other connection), and the
//! migrations run on that same session: the lock
//! lives exactly as long as the session, and a run costs one connection per
//! tenant, like a plain `Migrator::up` (a second connection just for the lock
//! doubled the cost of a PostgreSQL tenant in the benchmark). If the runner
//! dies, the server drops the session and its lock; the kernel drops the `flock`.
//!
//! A runner that finds the lock taken waits up to the lock timeout, then reports
//! the tenant failed with [`LockError::Busy`]. Since the migration table is read
//! only after the lock is taken, the second runner then finds nothing pending.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fs4::fs_std::FileExt;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
};
use sea_orm_tenant::{TenantConfig, TenantSession};

use crate::error::LockError;

/// First key of the PostgreSQL advisory lock (the second is the schema's hash).
const PG_LOCK_CLASS: i32 = 0x5e0_7e4a;
/// SQL for the MySQL lock name: at most 64 characters.
const MYSQL_LOCK_NAME: &str = "CONCAT('sea_orm_tenant_mig.', SHA1(COALESCE(DATABASE(), '')))";
/// Longest pause between two attempts on a busy lock file.
const FILE_POLL_MAX: Duration = Duration::from_millis(50);

/// A held migration lock; released on [`release`](Self::release) or drop.
#[derive(Debug)]
pub(crate) enum TenantLock {
    /// Nothing to lock (in-memory SQLite).
    None,
    /// An exclusive `flock` on the lock file, released when the file closes.
    File(File),
    /// A server session holding the lock.
    Session(TenantSession),
}

impl TenantLock {
    /// Takes the lock file of a SQLite database, waiting up to `wait`
    /// (nothing to lock for in-memory databases).
    pub(crate) async fn sqlite(config: &TenantConfig, wait: Duration) -> Result<Self, LockError> {
        match config.sqlite_path() {
            Some(path) => lock_file(lock_path(path), wait).await.map(TenantLock::File),
            None => Ok(TenantLock::None),
        }
    }

    /// Takes the server lock on `session`, waiting up to `wait`.
    /// The session is closed if the lock cannot be taken.
    pub(crate) async fn on_session(
        session: TenantSession,
        wait: Duration,
    ) -> Result<Self, LockError> {
        match lock_on_session(&session, wait).await {
            Ok(true) => Ok(TenantLock::Session(session)),
            Ok(false) => {
                let _ = session.close().await;
                Err(LockError::Busy(wait))
            }
            Err(e) => {
                let _ = session.close().await;
                Err(LockError::Session(e.to_string()))
            }
        }
    }

    /// The session holding a server lock.
    pub(crate) fn session(&self) -> Option<&DatabaseConnection> {
        match self {
            TenantLock::Session(session) => Some(session),
            _ => None,
        }
    }

    /// Releases the lock now (dropping it does too, later for server sessions).
    pub(crate) async fn release(self) {
        match self {
            TenantLock::None => {}
            TenantLock::File(file) => {
                let _ = FileExt::unlock(&file);
            }
            TenantLock::Session(session) => {
                let sql = match session.get_database_backend() {
                    DbBackend::Postgres => format!(
                        "SELECT pg_advisory_unlock({PG_LOCK_CLASS}, hashtext(COALESCE(current_schema(), '')))"
                    ),
                    _ => format!("SELECT RELEASE_LOCK({MYSQL_LOCK_NAME})"),
                };
                let _ = session.execute_unprepared(&sql).await;
                session.close().await;
            }
        }
    }
}

/// `<database file>.migrate-lock`, beside the database.
fn lock_path(db: PathBuf) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_owned()).unwrap_or_default();
    name.push(".migrate-lock");
    db.with_file_name(name)
}

async fn lock_file(path: PathBuf, wait: Duration) -> Result<File, LockError> {
    let io_err = |e: std::io::Error| LockError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    // Open first, create only if missing: an open with O_CREAT takes the
    // directory's lock exclusively even when the file exists, and serializes
    // with every other file creation there (SQLite's -wal and -shm files).
    let file = match OpenOptions::new().write(true).open(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path),
        opened => opened,
    }
    .map_err(io_err)?;
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(1);
    loop {
        if FileExt::try_lock_exclusive(&file).map_err(io_err)? {
            return Ok(file);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(LockError::Busy(wait));
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(FILE_POLL_MAX);
    }
}

/// Takes a schema tenant's lock inside the transaction its migrations run in
/// (keyed on the schema, like the session lock), waiting up to `wait`. The
/// lock ends with the transaction.
pub(crate) async fn lock_in_transaction(
    txn: &DatabaseTransaction,
    wait: Duration,
) -> Result<(), LockError> {
    let session = |e: DbErr| LockError::Session(e.to_string());
    txn.execute_unprepared(&format!(
        "SET LOCAL lock_timeout = {}",
        wait.as_millis().max(1)
    ))
    .await
    .map_err(session)?;
    let lock = format!(
        "SELECT pg_advisory_xact_lock({PG_LOCK_CLASS}, hashtext(COALESCE(current_schema(), '')))"
    );
    match txn.execute_unprepared(&lock).await {
        Ok(_) => {}
        Err(e) if e.to_string().contains("lock timeout") => return Err(LockError::Busy(wait)),
        Err(e) => return Err(session(e)),
    }
    txn.execute_unprepared("SET LOCAL lock_timeout TO DEFAULT")
        .await
        .map_err(session)?;
    Ok(())
}

/// Waits up to `wait` for the server lock; `Ok(false)` when it stayed taken.
async fn lock_on_session(conn: &DatabaseConnection, wait: Duration) -> Result<bool, DbErr> {
    let backend = conn.get_database_backend();
    match backend {
        DbBackend::Postgres => {
            let set = format!("SET lock_timeout = {}", wait.as_millis().max(1));
            conn.execute_unprepared(&set).await?;
            let lock = format!(
                "SELECT pg_advisory_lock({PG_LOCK_CLASS}, hashtext(COALESCE(current_schema(), '')))"
            );
            let got = match conn.execute_unprepared(&lock).await {
                Ok(_) => true,
                Err(e) if e.to_string().contains("lock timeout") => false,
                Err(e) => return Err(e),
            };
            // The migrations run on this session: give them the server's default back.
            conn.execute_unprepared("RESET lock_timeout").await?;
            Ok(got)
        }
        _ => {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let sql = format!("SELECT GET_LOCK({MYSQL_LOCK_NAME}, {secs}) AS got");
            let row = conn
                .query_one_raw(Statement::from_string(backend, sql))
                .await?;
            Ok(row
                .and_then(|r| r.try_get::<Option<i64>>("", "got").ok())
                .flatten()
                == Some(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_file_sits_beside_the_database() {
        assert_eq!(
            lock_path(PathBuf::from("/srv/data/acme.db")),
            PathBuf::from("/srv/data/acme.db.migrate-lock")
        );
    }

    #[tokio::test]
    async fn second_file_lock_waits_then_reports_busy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db.migrate-lock");
        let first = lock_file(path.clone(), Duration::ZERO).await.unwrap();
        let err = lock_file(path.clone(), Duration::from_millis(20))
            .await
            .unwrap_err();
        assert!(matches!(err, LockError::Busy(_)), "{err}");
        drop(first);
        lock_file(path, Duration::ZERO).await.unwrap();
    }
}
