//! Errors: [`MigrateError`] stops a run before any database is touched;
//! [`TenantFailure`] is why one tenant failed (the run goes on).

use std::time::Duration;

use sea_orm::DbErr;
use sea_orm_tenant::{ConfigError, TenantError};

/// Why a run could not start. Nothing was touched: these are found before any
/// database is opened.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// A selected tenant name is malformed or not registered in the store.
    #[error("{0}")]
    Tenant(#[from] TenantError),
    /// The tenant configuration could not be read.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The tenant catalog could not be read.
    #[error("{0}")]
    Catalog(#[from] sea_orm_tenant::CatalogError),
    /// `jobs` was 0.
    #[error("jobs must be at least 1")]
    ZeroJobs,
}

/// Why a per-tenant lock could not be taken.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another runner held the tenant's migration lock for longer than the lock timeout.
    #[error("busy: another runner held the migration lock for more than {0:?}")]
    Busy(Duration),
    /// The lock file beside a SQLite database could not be created or locked.
    #[error("cannot use lock file {path}: {reason}")]
    File {
        /// The lock file.
        path: String,
        /// The I/O error, as text.
        reason: String,
    },
    /// The dedicated lock session could not be opened or the lock query failed.
    #[error("cannot take the migration lock: {0}")]
    Session(String),
}

/// Why one tenant failed. Other tenants are still attempted (unless `fail_fast`).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TenantFailure {
    /// The tenant's database could not be opened.
    #[error("{0}")]
    Connect(TenantError),
    /// The per-tenant migration lock could not be taken.
    #[error("{0}")]
    Lock(#[from] LockError),
    /// A migration (or reading the migration table) failed.
    #[error("{0}")]
    Migration(DbErr),
    /// The tenant took longer than the per-tenant timeout; its work was cancelled.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The task migrating the tenant panicked.
    #[error("panicked: {0}")]
    Panic(String),
}
