//! [`MoveError`]: why a tenant could not be moved, one variant per cause.

use sea_orm_tenant::{CatalogError, KeyError, TenantKey, TenantState};

use super::super::ProvisionError;

/// Why a tenant could not be moved. Unless it says otherwise, the tenant
/// still serves from its original placement, with nothing lost, and what the
/// move made (the target, the replication) was removed again.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum MoveError {
    /// The name is not a valid tenant name: nothing was touched.
    #[error("invalid tenant name {name:?}: {source}")]
    InvalidName {
        /// The name, cut to 80 characters.
        name: String,
        /// What is wrong with it.
        source: KeyError,
    },
    /// The tenant is not known (to the catalog, or to the store without one).
    #[error("tenant {tenant} does not exist")]
    NotFound {
        /// The tenant.
        tenant: TenantKey,
    },
    /// The tenant is being created, dropped or switched off: only an active
    /// tenant (or one a failed move left `moving`) can be moved.
    #[error("tenant {tenant} is {state}; only an active tenant can be moved")]
    WrongState {
        /// The tenant.
        tenant: TenantKey,
        /// Its state.
        state: TenantState,
    },
    /// This kind of move is not supported: nothing was touched.
    #[error("cannot move tenant {tenant}: {reason}")]
    Unsupported {
        /// The tenant.
        tenant: TenantKey,
        /// Why, and what to do instead.
        reason: String,
    },
    /// The source server cannot publish changes: `wal_level` must be
    /// `logical` (set it with `ALTER SYSTEM SET wal_level = logical` and
    /// restart the server).
    #[error(
        "cannot move tenant {tenant}: server {server} has wal_level {wal_level}; it must be logical (ALTER SYSTEM SET wal_level = logical, then restart)"
    )]
    NotLogical {
        /// The tenant.
        tenant: TenantKey,
        /// The source server (no password).
        server: String,
        /// Its `wal_level`.
        wal_level: String,
    },
    /// A table has neither a primary key nor a replica identity: its updates
    /// and deletes could not be replicated (and would fail on the source while
    /// it is published). Nothing was touched.
    #[error(
        "cannot move tenant {tenant}: table {table} has no primary key or replica identity; add one first"
    )]
    NoReplicaIdentity {
        /// The tenant.
        tenant: TenantKey,
        /// The table, schema-qualified.
        table: String,
    },
    /// The target exists already (and is not a leftover of this tenant's own
    /// failed move): nothing was touched.
    #[error("cannot move tenant {tenant}: the target {target} exists already")]
    TargetExists {
        /// The tenant.
        tenant: TenantKey,
        /// The target (no password).
        target: String,
    },
    /// The target could not be created or migrated.
    #[error("cannot move tenant {tenant}: the target: {source}")]
    Target {
        /// The tenant.
        tenant: TenantKey,
        /// Why.
        source: Box<ProvisionError>,
    },
    /// The source and the migrated target are at different migrations: run
    /// the migrations on the tenant first.
    #[error(
        "cannot move tenant {tenant}: its migrations end at {source_version:?}, the target's at {target_version:?}; migrate the tenant first"
    )]
    VersionMismatch {
        /// The tenant.
        tenant: TenantKey,
        /// The last migration applied to the source.
        source_version: Option<String>,
        /// The last migration applied to the target.
        target_version: Option<String>,
    },
    /// A migration of the tenant held its migration lock for longer than
    /// [`MoveOptions::lock_wait`](crate::MoveOptions::lock_wait).
    #[error(
        "cannot move tenant {tenant}: a migration of it held its migration lock for more than {seconds} s; move it when the migration is done"
    )]
    Migrating {
        /// The tenant.
        tenant: TenantKey,
        /// How long the move waited, in seconds.
        seconds: f64,
    },
    /// A step on a database failed.
    #[error("cannot move tenant {tenant}: {step}: {reason}")]
    Step {
        /// The tenant.
        tenant: TenantKey,
        /// The step.
        step: &'static str,
        /// Why (no password).
        reason: String,
    },
    /// A step did not finish in its time.
    #[error("cannot move tenant {tenant}: {step} did not finish within {seconds} s")]
    TimedOut {
        /// The tenant.
        tenant: TenantKey,
        /// The step.
        step: &'static str,
        /// Its limit, in seconds.
        seconds: f64,
    },
    /// The copy on the target does not match the fenced source.
    #[error(
        "cannot move tenant {tenant}: table {table} has {source_rows} rows on the source and {target_rows} on the target"
    )]
    CopyMismatch {
        /// The tenant.
        tenant: TenantKey,
        /// The table.
        table: String,
        /// Rows on the source.
        source_rows: i64,
        /// Rows on the target.
        target_rows: i64,
    },
    /// The move's caller went away (its future was dropped) before the
    /// switch: the move stopped at its next safe point and was undone.
    #[error("the move of tenant {tenant} was cancelled and undone")]
    Cancelled {
        /// The tenant.
        tenant: TenantKey,
    },
    /// The catalog could not be read or written.
    #[error("tenant {tenant}: {source}")]
    Catalog {
        /// The tenant.
        tenant: TenantKey,
        /// The catalog error.
        source: CatalogError,
    },
}
