//! [`DbFailure`]: what a failed database call means for whoever answers the
//! request: routing refused it, the database cannot serve now (retry later),
//! the tenant's tables are not there (its migrations have not run), or a bug.

use sea_orm::sqlx;
use sea_orm::{DbErr, RuntimeErr};

use crate::error::TenantError;

/// A failed database call, sorted by what the caller should do about it.
///
/// ```
/// use sea_orm_tenant::{DbFailure, TenantError};
/// use sea_orm_tenant::sea_orm::DbErr;
///
/// let refused: DbErr = TenantError::NoTenant.into();
/// assert!(matches!(DbFailure::of(&refused), DbFailure::Routing(TenantError::NoTenant)));
/// assert!(matches!(DbFailure::of(&DbErr::Custom("oops".into())), DbFailure::Bug));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DbFailure {
    /// The router refused the call (no tenant, unknown tenant, pool not
    /// openable, schema missing...): the [`TenantError`] says which.
    Routing(TenantError),
    /// The database cannot serve now: unreachable, restarting, shutting
    /// down, out of connections, locked, or the connection was lost. Worth
    /// retrying later (an HTTP 503 with `Retry-After`).
    Unavailable,
    /// A table the call needs does not exist: the database's migrations have
    /// not run (an HTTP 503: a deployment problem, not the client's).
    SchemaMissing,
    /// Anything else: a bug in the query, or an unexpected database state
    /// (an HTTP 500).
    Bug,
}

impl DbFailure {
    /// Sorts `err`. The backend is read from the error itself (the driver's
    /// error type), so one store may mix backends.
    pub fn of(err: &DbErr) -> Self {
        if let Some(routing) = TenantError::from_db_err(err) {
            return Self::Routing(routing.clone());
        }
        match err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::Unavailable,
            DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
                of_sqlx(e)
            }
            _ => Self::Bug,
        }
    }

    /// Whether a client should retry the request later: the database is
    /// unavailable, its tables are missing, or routing failed for a reason
    /// that passes (an unopenable or busy database, a closed store).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable | Self::SchemaMissing => true,
            Self::Routing(err) => matches!(
                err,
                TenantError::Unavailable { .. }
                    | TenantError::PoolLimit { .. }
                    | TenantError::Busy { .. }
                    | TenantError::SharedUnavailable { .. }
                    | TenantError::SchemaMissing { .. }
                    | TenantError::OutOfService { .. }
                    | TenantError::Closed
            ),
            Self::Bug => false,
        }
    }
}

fn of_sqlx(err: &sqlx::Error) -> DbFailure {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => DbFailure::Unavailable,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            let message = db.message();
            if is_missing_table(&**db, &code, message) {
                DbFailure::SchemaMissing
            } else if is_unavailable(&**db, &code) {
                DbFailure::Unavailable
            } else {
                DbFailure::Bug
            }
        }
        _ => DbFailure::Bug,
    }
}

/// PostgreSQL `42P01` (undefined table), MySQL `1146` (no such table), SQLite
/// "no such table".
fn is_missing_table(db: &dyn sqlx::error::DatabaseError, code: &str, message: &str) -> bool {
    match backend_of(db) {
        Backend::Postgres => code == "42P01",
        Backend::MySql => code == "1146",
        Backend::Sqlite => message.starts_with("no such table"),
        Backend::Unknown => false,
    }
}

fn is_unavailable(db: &dyn sqlx::error::DatabaseError, code: &str) -> bool {
    match backend_of(db) {
        Backend::Postgres => postgres_unavailable(code),
        Backend::MySql => mysql_unavailable(code),
        Backend::Sqlite => sqlite_unavailable(code),
        Backend::Unknown => false,
    }
}

enum Backend {
    Postgres,
    MySql,
    Sqlite,
    Unknown,
}

fn backend_of(db: &dyn sqlx::error::DatabaseError) -> Backend {
    #[cfg(feature = "postgres")]
    if db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        return Backend::Postgres;
    }
    #[cfg(feature = "mysql")]
    if db
        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .is_some()
    {
        return Backend::MySql;
    }
    #[cfg(feature = "sqlite")]
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return Backend::Sqlite;
    }
    let _ = db;
    Backend::Unknown
}

/// SQLSTATE classes and codes: connection exception (08), operator intervention
/// (57P: shutdown, database dropped), insufficient resources (53), database does
/// not exist (3D000), database not accepting connections (55000).
fn postgres_unavailable(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("57P")
        || code.starts_with("53")
        || code == "3D000"
        || code == "55000"
}

/// Too many connections, access denied, unknown database, server shutdown,
/// connection killed, lock wait timeout, gone away, lost, disconnected.
fn mysql_unavailable(code: &str) -> bool {
    matches!(
        code,
        "1040"
            | "1045"
            | "1049"
            | "1053"
            | "1077"
            | "1152"
            | "1205"
            | "1927"
            | "2002"
            | "2003"
            | "2006"
            | "2013"
            | "4031"
    )
}

/// Primary result codes (extended codes carry them in the low byte): BUSY, LOCKED,
/// READONLY, IOERR, CORRUPT, FULL, CANTOPEN, NOTADB.
fn sqlite_unavailable(code: &str) -> bool {
    code.parse::<u32>()
        .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 8 | 10 | 11 | 13 | 14 | 26))
}
