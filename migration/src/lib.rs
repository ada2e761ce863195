//! This workspace's migrations: the schema of the notes example, applied to every
//! tenant's database by the `migration` binary (see `sea-orm-tenant-migration`).
//!
//! After all migrations a tenant database has a table `notes` with `id` (integer,
//! auto-increment primary key), `body` (text, not null) and `title` (string, not
//! null, default `''`).
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
