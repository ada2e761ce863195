//! [`TransferError`]: why an export or import did not happen.

use std::path::{Path, PathBuf};

use sea_orm_tenant::{KeyError, TenantKey, scrub};

use super::kind::TransferKind;

/// Why an export or import did not happen. Nothing was changed unless the
/// variant says otherwise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The name is not a valid tenant name.
    #[error("invalid tenant name {name:?}: {source}")]
    InvalidName {
        /// The name given (at most 80 characters).
        name: String,
        /// What is wrong with it.
        source: KeyError,
    },
    /// The tenant is not in the configuration (or the catalog).
    #[error("unknown tenant {tenant}; check the name, or create it first")]
    UnknownTenant {
        /// The tenant.
        tenant: TenantKey,
    },
    /// The tenant's placement has no export or import.
    #[error(
        "tenant {tenant} is {place}: export and import support SQLite file tenants, PostgreSQL database, schema and row tenants, and MySQL/MariaDB database tenants only ({reason})"
    )]
    Unsupported {
        /// The tenant.
        tenant: TenantKey,
        /// Where it lives, password masked.
        place: String,
        /// Why.
        reason: &'static str,
    },
    /// Export: the file or its manifest exists already; nothing is overwritten.
    #[error("{path} exists already; remove it or choose another file")]
    FileExists {
        /// The file.
        path: PathBuf,
    },
    /// Import: the file has no manifest beside it.
    #[error(
        "{manifest} is missing: import needs the manifest `tenant export` writes beside the file"
    )]
    ManifestMissing {
        /// Where the manifest was looked for.
        manifest: PathBuf,
    },
    /// Import: the manifest does not parse, or is of another format.
    #[error("{manifest} is not a tenant export manifest: {reason}")]
    ManifestInvalid {
        /// The manifest.
        manifest: PathBuf,
        /// Why.
        reason: String,
    },
    /// Import: the file is of another kind than the tenant it should go into.
    #[error(
        "{path} holds {}, and tenant {tenant} is {}: import into a tenant of the same kind",
        .file_kind.describe(), .tenant_kind.describe()
    )]
    KindMismatch {
        /// The file.
        path: PathBuf,
        /// The tenant.
        tenant: TenantKey,
        /// What the file holds.
        file_kind: TransferKind,
        /// What the tenant is.
        tenant_kind: TransferKind,
    },
    /// Import: the file is not what its manifest says (another file, or truncated).
    #[error("{path} does not match its manifest: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// Import: the target tenant holds tables already; nothing was changed.
    #[error(
        "tenant {tenant} ({place}) is not empty: it holds {} (first: {}); import only into an empty tenant",
        .tables.len(), .tables.join(", ")
    )]
    NotEmpty {
        /// The tenant.
        tenant: TenantKey,
        /// Where it lives, password masked.
        place: String,
        /// Some of the relations found (at most 5).
        tables: Vec<String>,
    },
    /// The tenant's database does not exist (PostgreSQL: create it first).
    #[error("tenant {tenant}'s {place} does not exist; create it first")]
    Missing {
        /// The tenant.
        tenant: TenantKey,
        /// Where it should live, password masked.
        place: String,
    },
    /// SQLite import: this store has the tenant's pool open.
    #[error(
        "tenant {tenant} is open in this process; import into a SQLite tenant that is not serving"
    )]
    InUse {
        /// The tenant.
        tenant: TenantKey,
    },
    /// A statement on the tenant's database failed.
    #[error("{action} on tenant {tenant} failed: {reason}")]
    Database {
        /// The tenant.
        tenant: TenantKey,
        /// What was being done.
        action: &'static str,
        /// The error, password masked.
        reason: String,
    },
    /// `pg_dump` or `pg_restore` is not installed (not on `PATH`).
    #[error(
        "{tool} was not found on PATH; install the database's client tools (PostgreSQL's of the server's major version, or MariaDB's)"
    )]
    ToolMissing {
        /// The program.
        tool: &'static str,
    },
    /// `pg_dump` or `pg_restore` failed.
    #[error("{tool} failed ({status}): {stderr}")]
    ToolFailed {
        /// The program.
        tool: &'static str,
        /// Its exit status.
        status: String,
        /// Its error output, password masked.
        stderr: String,
    },
    /// Reading or writing a file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done (`read`, `write`, `rename`, ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

pub(super) fn db_err(
    key: &TenantKey,
    action: &'static str,
    message: &str,
    url: &str,
) -> TransferError {
    TransferError::Database {
        tenant: key.clone(),
        action,
        reason: scrub(message, url),
    }
}

pub(super) fn io_err(action: &'static str, path: &Path, source: std::io::Error) -> TransferError {
    TransferError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}
