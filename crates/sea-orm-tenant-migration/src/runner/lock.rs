//! The per-tenant migration lock, so two runners (processes or tasks) never
//! migrate the same database at once.
//!
//! * PostgreSQL: a session-level advisory lock, keyed by the current schema,
//!   waited for with `lock_timeout`. A schema tenant's lock is a
//!   transaction-level one in the transaction its migrations run in.
//! * MySQL/MariaDB: `GET_LOCK` on a name derived from the current database.
//! * SQLite files, on Linux: one lock file per folder, `.sea-orm-tenant.migrate-lock`,
//!   and in it one byte per database (at an offset hashed from the file name),
//!   locked with an open-file-description lock (`F_OFD_SETLK`). No file is
//!   created per tenant: creating one cost a migration a new inode and the
//!   journal commit of it, 4 to 8% of a fresh tenant's migration on ext4.
//!   Two names with the same byte only wait for each other. Elsewhere, or
//!   where the kernel refuses such locks, an exclusive `flock` (via `fs4`) on
//!   `<database file>.migrate-lock` beside the database. Lock files are left in
//!   place: deleting one races with a runner that just opened it. In-memory
//!   SQLite needs no lock.
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
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs4::fs_std::FileExt;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
};
use sea_orm_tenant::{TenantConfig, TenantSession};

use crate::runner::LockError;

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
    /// A lock on (a byte of) a lock file, released when the file closes.
    File(File),
    /// A server session holding the lock.
    Session(TenantSession),
}

impl TenantLock {
    /// Takes the lock file of a SQLite database, waiting up to `wait`
    /// (nothing to lock for in-memory databases).
    pub(crate) async fn sqlite(config: &TenantConfig, wait: Duration) -> Result<Self, LockError> {
        match config.sqlite_path() {
            Some(path) => lock_sqlite(&path, wait).await.map(TenantLock::File),
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
            // Closing the file releases its lock, a byte's or a `flock`.
            TenantLock::File(file) => drop(file),
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

/// Takes the lock of the SQLite database at `db`, waiting up to `wait`.
async fn lock_sqlite(db: &Path, wait: Duration) -> Result<File, LockError> {
    #[cfg(target_os = "linux")]
    if let Some(file) = byte_lock::lock(db, wait).await? {
        return Ok(file);
    }
    lock_file(lock_path(db), wait).await
}

/// `<database file>.migrate-lock`, beside the database.
fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_owned()).unwrap_or_default();
    name.push(".migrate-lock");
    db.with_file_name(name)
}

fn file_error(path: &Path, e: std::io::Error) -> LockError {
    LockError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Opens the lock file at `path` for writing, creating it only if missing: an
/// open with `O_CREAT` takes the folder's lock exclusively even when the file
/// exists, and serializes with every other file creation there (SQLite's
/// journal files).
fn open_lock_file(path: &Path) -> Result<File, LockError> {
    match OpenOptions::new().write(true).open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path),
        opened => opened,
    }
    .map_err(|e| file_error(path, e))
}

/// Retries `attempt` until it takes the lock (`Ok(true)`) or `wait` has passed.
async fn take_within(
    wait: Duration,
    path: &Path,
    mut attempt: impl FnMut() -> std::io::Result<bool>,
) -> Result<(), LockError> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(1);
    loop {
        if attempt().map_err(|e| file_error(path, e))? {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(LockError::Busy(wait));
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(FILE_POLL_MAX);
    }
}

/// An exclusive `flock` on the whole file at `path`.
async fn lock_file(path: PathBuf, wait: Duration) -> Result<File, LockError> {
    let file = open_lock_file(&path)?;
    take_within(wait, &path, || FileExt::try_lock_exclusive(&file)).await?;
    Ok(file)
}

/// One byte per database in a lock file shared by its folder (Linux).
#[cfg(target_os = "linux")]
mod byte_lock {
    use std::fs::File;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::time::Duration;

    use nix::errno::Errno;
    use nix::fcntl::{FcntlArg, fcntl};
    use nix::libc;

    use super::{file_error, open_lock_file, take_within};
    use crate::runner::LockError;

    /// The lock file shared by every database of a folder.
    const SHARED_LOCK_FILE: &str = ".sea-orm-tenant.migrate-lock";

    /// The database's byte locked in its folder's lock file; `None` when the
    /// kernel or the file system has no open-file-description locks.
    pub(super) async fn lock(db: &Path, wait: Duration) -> Result<Option<File>, LockError> {
        let path = db.with_file_name(SHARED_LOCK_FILE);
        let file = open_lock_file(&path)?;
        let byte = byte_of(db);
        match try_lock(&file, byte) {
            Ok(true) => return Ok(Some(file)),
            Ok(false) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(None),
            Err(e) => return Err(file_error(&path, e)),
        }
        take_within(wait, &path, || try_lock(&file, byte)).await?;
        Ok(Some(file))
    }

    /// Where `db`'s byte is: FNV-1a of its file name, within the offsets
    /// `off_t` can hold. Stable across processes and versions.
    pub(super) fn byte_of(db: &Path) -> libc::off_t {
        let name = db.file_name().unwrap_or_default().as_bytes();
        let hash = name.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
        let bits = 8 * std::mem::size_of::<libc::off_t>() as u32 - 2;
        libc::off_t::try_from(hash >> (64 - bits)).unwrap_or_default()
    }

    /// One attempt at the write lock on `byte`; released when `file` closes.
    fn try_lock(file: &File, byte: libc::off_t) -> std::io::Result<bool> {
        let lock = libc::flock {
            l_type: libc::F_WRLCK as libc::c_short,
            l_whence: libc::SEEK_SET as libc::c_short,
            l_start: byte,
            l_len: 1,
            l_pid: 0,
        };
        match fcntl(file, FcntlArg::F_OFD_SETLK(&lock)) {
            Ok(_) => Ok(true),
            Err(Errno::EAGAIN | Errno::EACCES) => Ok(false),
            Err(e) => Err(e.into()),
        }
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
            lock_path(Path::new("/srv/data/acme.db")),
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
        // Not `ZERO`: a process another test spawns inherits the descriptor
        // between its fork and its exec, and the lock lives until then.
        lock_file(path, Duration::from_secs(5)).await.unwrap();
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_database_byte_lock_waits_then_reports_busy_and_leaves_other_databases_free() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
        let first = lock_sqlite(&a, Duration::ZERO).await.unwrap();
        let err = lock_sqlite(&a, Duration::from_millis(20))
            .await
            .unwrap_err();
        assert!(matches!(err, LockError::Busy(_)), "{err}");
        let other = lock_sqlite(&b, Duration::ZERO).await.unwrap();
        // One file for the folder, none per database.
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(files, [".sea-orm-tenant.migrate-lock"]);
        drop(first);
        lock_sqlite(&a, Duration::from_secs(5)).await.unwrap();
        drop(other);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn database_bytes_are_stable_and_apart() {
        let byte = |name: &str| byte_lock::byte_of(Path::new(name));
        assert_eq!(byte("/srv/a/acme.db"), byte("other/acme.db"));
        assert_ne!(byte("acme.db"), byte("acme2.db"));
        assert!(byte("acme.db") >= 0);
        // FNV-1a 64 of "acme.db", top 62 bits: the same in every process and version.
        assert_eq!(byte("acme.db"), 0x214c_bc5b_218c_c4f5);
    }
}
