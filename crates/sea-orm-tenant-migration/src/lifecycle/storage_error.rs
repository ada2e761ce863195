//! [`StorageError`]: why a tenant's storage could not be created or
//! dropped, and how a database error is read as one.

use sea_orm::{DbErr, RuntimeErr};
use sea_orm_tenant::SchemaNameError;

/// Why a tenant's storage could not be created or dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database, schema or file exists already: nothing was changed.
    #[error("{what} already exists; choose another tenant name or drop it first")]
    AlreadyExists {
        /// What exists (`database "t_acme" on 127.0.0.1:5432`, a file path, ...).
        what: String,
    },
    /// The URL names no database, or a database name the naming rule refuses.
    #[error("cannot use the database name in {url}: {source}")]
    InvalidName {
        /// The URL, password masked.
        url: String,
        /// What is wrong with the name.
        source: SchemaNameError,
    },
    /// The URL names nothing that can be created (an in-memory SQLite database,
    /// a URL without a database).
    #[error("{url} names no database that can be created or dropped: {reason}")]
    Unsupported {
        /// The URL, password masked.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// The server could not be reached.
    #[error("cannot reach {server}: {reason}")]
    Unavailable {
        /// The server's URL, password masked.
        server: String,
        /// The driver's error, password masked.
        reason: String,
    },
    /// The server refused a statement.
    #[error("{action} {what} failed: {reason}")]
    Failed {
        /// `create`, `drop`, ...
        action: &'static str,
        /// What it was applied to.
        what: String,
        /// The server's error.
        reason: String,
    },
    /// Sessions stayed connected to the template database, so it cannot be cloned.
    #[error(
        "template database {template:?} stayed in use for {waited:?}; nothing may stay connected to a template"
    )]
    TemplateBusy {
        /// The template's name.
        template: String,
        /// How long the clone waited for it.
        waited: std::time::Duration,
    },
}

/// Duplicate database (PostgreSQL 42P04, MySQL 1007) and duplicate schema
/// (42P06) are [`StorageError::AlreadyExists`].
/// `what` describes the storage acted on ([`Place::describe`](super::Place::describe)).
pub(super) fn classify(err: DbErr, action: &'static str, what: String) -> StorageError {
    let code = match &err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned()),
        _ => None,
    };
    let creates = action == "create" || action == "clone";
    match code.as_deref() {
        Some("42P04" | "42P06") if creates => StorageError::AlreadyExists { what },
        // MySQL reports error 1007 with the generic SQLSTATE HY000.
        Some("HY000") if creates && err.to_string().contains("database exists") => {
            StorageError::AlreadyExists { what }
        }
        // Unique violation on pg_database / pg_namespace: a concurrent create of the same name.
        Some("23505") if creates => StorageError::AlreadyExists { what },
        _ => failed(err, action, what),
    }
}

pub(super) fn failed(err: DbErr, action: &'static str, what: String) -> StorageError {
    StorageError::Failed {
        action,
        what,
        reason: err.to_string(),
    }
}
