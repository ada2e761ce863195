//! Migrations for every tenant: run a sea-orm-migration `Migrator` over all the
//! tenant databases of a [`sea_orm_tenant::TenantConnections`] store.
//!
//! * [`TenantMigrator`]: `up`, `down`, `status`, `fresh`, `refresh`, `reset`
//!   ([`Operation`]) over all tenants or a selection, `jobs` at a time (default:
//!   the number of CPUs), each tenant on its own connection with the migrator's
//!   own methods (never `run_cli`, which installs a global tracing subscriber).
//! * Failures are collected: every selected tenant is attempted, unless
//!   [`fail_fast`](TenantMigrator::fail_fast); a per-tenant timeout is available.
//! * A per-tenant lock (PostgreSQL advisory lock, MySQL/MariaDB `GET_LOCK`, a
//!   lock file beside a SQLite database; see [`lock`](crate#locking)) keeps two
//!   runners from migrating the same tenant at once.
//! * The result is a [`RunReport`]: one [`TenantReport`] per tenant (outcome,
//!   migrations applied, duration, error), as a table or JSON.
//! * [`migrate_all`]: the call a server makes at start-up.
//! * [`Provisioner::export`] / [`Provisioner::import`] ([`transfer`]): one
//!   tenant's data to a file and back, with SQLite's `VACUUM INTO` and
//!   PostgreSQL's `pg_dump`/`pg_restore`, into an empty tenant of the same
//!   kind only.
//! * [`Provisioner::move_tenant`]: a PostgreSQL database or schema tenant
//!   moved to another database or server while it serves (logical
//!   replication, a short hold at the cut-over, undone on failure).
//! * [`MigrationCli`]: a complete command-line program for a migrator (the
//!   `migration` binary of this workspace is three lines).
//!
//! ```
//! use sea_orm_migration::prelude::*;
//! use sea_orm_tenant::TenantConnections;
//! use sea_orm_tenant_migration::{Operation, Outcome, TenantMigrator};
//!
//! #[derive(DeriveMigrationName)]
//! struct CreatePosts;
//!
//! #[async_trait::async_trait]
//! impl MigrationTrait for CreatePosts {
//!     async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
//!         m.create_table(Table::create().table("posts").col(ColumnDef::new("id").integer().primary_key()).to_owned()).await
//!     }
//!     async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
//!         m.drop_table(Table::drop().table("posts").to_owned()).await
//!     }
//! }
//!
//! struct Migrator;
//! impl MigratorTrait for Migrator {
//!     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![Box::new(CreatePosts)] }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = TenantConnections::from_urls([("acme", "sqlite::memory:"), ("globex", "sqlite::memory:")])?;
//! let migrator = TenantMigrator::new::<Migrator>(store).jobs(2);
//!
//! let report = migrator.up().await?;
//! assert!(report.is_success());
//! assert_eq!(report.tenant("acme").unwrap().outcome, Outcome::Migrated);
//!
//! // A second run finds nothing to do.
//! let again = migrator.run(Operation::UP).await?;
//! assert_eq!(again.summary.up_to_date, 2);
//! println!("{}", again.to_table());
//! # Ok(())
//! # }
//! ```
//!
//! # Failures
//!
//! A tenant that cannot be opened, locked or migrated is reported
//! [`Outcome::Failed`] with its error, and the run goes on with the others.
//! With `fail_fast`, no tenant is started after the first failure; those already
//! running finish, and the rest are reported [`Outcome::Skipped`]. With a
//! per-tenant timeout, a tenant that takes longer is cancelled and reported
//! failed. Migrations run in a transaction on PostgreSQL only (sea-orm-migration's
//! rule), so a failing migration leaves a PostgreSQL tenant at its previous
//! version; on SQLite and MySQL the statements before the failure stay applied.
//! The report's `migrations`, `pending` and `version` are read back after a
//! failure, so they show where the tenant really is.
//!
//! # Locking
//!
//! Operations that change a schema take the tenant's migration lock first, and
//! read the migration table only once they hold it: a second runner started
//! at the same time *waits* (up to [`lock_timeout`](TenantMigrator::lock_timeout),
//! default 60 s), then finds nothing pending and reports the tenant up to date.
//! If the lock stays taken longer, the tenant is reported failed with
//! "busy: another runner held the migration lock…". `status` takes no lock.
//!
//! * PostgreSQL: `pg_advisory_lock` (keyed by the current schema) on a dedicated
//!   single-connection session opened from the tenant's URL, waited for with
//!   `lock_timeout`; the migrations then run on that same session (one
//!   connection per tenant, as a plain `Migrator::up` would use).
//! * MySQL/MariaDB: `GET_LOCK` on a name derived from the database name, on a
//!   dedicated session that then runs the migrations.
//! * SQLite, on Linux: a lock on the database's own byte in its folder's
//!   `.sea-orm-tenant.migrate-lock` (an open-file-description lock; no file is
//!   created per tenant). Elsewhere, or where the kernel refuses such locks, an
//!   exclusive `flock` on `<file>.migrate-lock` beside the database. Lock files
//!   are left in place afterwards. In-memory databases need no lock.
//!
//! # Shared database
//!
//! Give the shared database's migrator with [`TenantMigrator::shared`] (or
//! [`MigrationCli::shared`]). When the store has a shared database, it is
//! migrated first, with the same operation, under its own lock; its report is
//! [`RunReport::shared`]. If it fails, no tenant is attempted.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cli;
pub mod lifecycle;
mod login;
mod quote;
pub mod rows;
mod runner;
pub mod transfer;

pub use cli::{
    CatalogCommand, CliArgs, CliCommand, EXIT_FAILED, EXIT_OK, EXIT_USAGE, Format, MigrationCli,
    TenantCommand,
};
pub use lifecycle::{
    CatalogMigrator, Created, DEFAULT_TEMPLATE, Dropped, MoveError, MoveOptions, Moved, Place,
    Placement, ProvisionError, Provisioner, Storage, StorageError, record_outcomes,
};
pub use runner::{
    DEFAULT_LOCK_TIMEOUT, LockError, MigrateError, Operation, Outcome, ProgressMode, RunOptions,
    RunReport, SHARED, Summary, TenantFailure, TenantMigrator, TenantReport, default_jobs,
    migrate_all, migrate_tenants,
};

pub use transfer::{MANIFEST_SUFFIX, Manifest, TransferError, TransferKind, Transferred};

/// Re-exported so users name the same versions.
pub use sea_orm_migration;
pub use sea_orm_tenant;
