//! The `catalog` subcommand of [`MigrationCli`](crate::MigrationCli): make the
//! catalog tables in the shared database.
//!
//! ```text
//! migration catalog init
//! ```

use clap::Subcommand;
use sea_orm_migration::MigratorTrait;
use sea_orm_tenant::{TenantConnections, TenantsConfig};

use crate::cli::exit::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::lifecycle::CatalogMigrator;

/// `catalog` subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum CatalogCommand {
    /// Make the catalog tables in the shared database, and bring a catalog
    /// made by an older version up to date (its move journal) (idempotent).
    Init,
}

/// Runs a `catalog` subcommand; returns the exit code.
pub(crate) async fn run_catalog(command: CatalogCommand, config_path: &std::path::Path) -> u8 {
    let CatalogCommand::Init = command;
    let store = match TenantsConfig::from_toml_file(config_path).and_then(|mut c| {
        c.tenants.clear();
        c.databases.clear();
        TenantConnections::from_config(c)
    }) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if !store.has_shared() {
        eprintln!("error: {}", sea_orm_tenant::CatalogError::NoSharedDatabase);
        return EXIT_USAGE;
    }
    let result = match store.shared().await {
        Ok(db) => CatalogMigrator::up(&db, None)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    store.close().await;
    match result {
        Ok(()) => {
            println!("catalog ready");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: cannot make the catalog tables: {e}");
            EXIT_FAILED
        }
    }
}
