//! This workspace's migrations: the schema of the notes example, applied to every
//! tenant's database by the `migration` binary (see `sea-orm-tenant-migration`).
//!
//! After all migrations a tenant database has a table `notes` with `id` (integer,
//! auto-increment primary key), `body` (text, not null) and `title` (string, not
//! null, default `''`). A database of row tenants gets [`RowMigrator`]'s
//! instead: the same table with `tenant_id` (defaulting to the session's
//! tenant) first in its key, under row-level security.
//!
//! ```
//! use migration::Migrator;
//! use sea_orm_migration::MigratorTrait;
//!
//! let names: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
//! assert_eq!(names, ["m20250101_000001_create_notes", "m20250101_000002_add_notes_title"]);
//! ```
//!
//! At start-up, bring every tenant up to date and learn who failed:
//!
//! ```no_run
//! # async fn run(store: sea_orm_tenant_migration::sea_orm_tenant::TenantConnections) {
//! let report = sea_orm_tenant_migration::migrate_all::<migration::Migrator>(&store).await;
//! for failed in report.failures() {
//!     eprintln!("{}: {}", failed.tenant, failed.error.as_deref().unwrap_or(""));
//! }
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use sea_orm_migration::prelude::*;

mod m20250101_000001_create_notes;
mod m20250101_000002_add_notes_title;
mod m20261204_000001_create_row_notes;

/// The tenant schema's migrations, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250101_000001_create_notes::Migration),
            Box::new(m20250101_000002_add_notes_title::Migration),
        ]
    }
}

/// The migrations of a database whose tenants are rows (`tenants_are =
/// "rows"`): the same `notes`, shared by its tenants, with `tenant_id` first in
/// its key and row-level security enabled and forced. Run once per database
/// (`TenantMigrator::rows`, `MigrationCli::rows`).
pub struct RowMigrator;

#[async_trait::async_trait]
impl MigratorTrait for RowMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261204_000001_create_row_notes::Migration),
            Box::new(m20250101_000002_add_notes_title::Migration),
        ]
    }
}

/// The `notes` table and its columns, as the migrations name them.
#[derive(DeriveIden, Clone, Copy, Debug)]
pub enum Notes {
    /// The table.
    Table,
    /// Integer, auto-increment primary key.
    Id,
    /// Text, not null.
    Body,
    /// String, not null, default `''` (added by the second migration).
    Title,
}
