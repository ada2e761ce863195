//! Sorting database errors into what the client should hear: routing refused,
//! database unavailable (503), schema missing (503), or a server bug (500).

use sea_orm::sqlx;
use sea_orm::{DbBackend, DbErr, RuntimeErr};
use sea_orm_tenant::TenantError;

/// Why a database call failed, as far as the HTTP answer is concerned.
#[derive(Debug)]
pub enum DbFailure {
    /// The tenant router refused the call (no tenant, unknown tenant, pool not openable...).
    Routing(TenantError),
    /// The database cannot be reached, is locked, or dropped the connection.
    Unavailable,
    /// The `notes` table does not exist: migrations have not run on this database.
    SchemaMissing,
    /// Anything else: a bug or an unexpected database state.
    Other,
}

impl DbFailure {
    /// Classifies `err`, returned by a database of type `backend`.
    pub fn classify(err: &DbErr, backend: DbBackend) -> Self {
        if let Some(routing) = TenantError::from_db_err(err) {
            return Self::Routing(routing.clone());
        }
        match err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::Unavailable,
            DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
                classify_sqlx(e, backend)
            }
            _ => Self::Other,
        }
    }
}

fn classify_sqlx(err: &sqlx::Error, backend: DbBackend) -> DbFailure {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => DbFailure::Unavailable,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            let (missing_table, unavailable) = match backend {
                DbBackend::Postgres => (code == "42P01", postgres_unavailable(&code)),
                DbBackend::MySql => (code == "1146", mysql_unavailable(&code)),
                _ => (
                    db.message().starts_with("no such table"),
                    sqlite_unavailable(&code),
                ),
            };
            if missing_table {
                DbFailure::SchemaMissing
            } else if unavailable {
                DbFailure::Unavailable
            } else {
                DbFailure::Other
            }
        }
        _ => DbFailure::Other,
    }
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
