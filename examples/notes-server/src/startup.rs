//! Start-up: reading the tenant configuration, preparing SQLite folders and
//! migrating every tenant.

use std::path::Path;

use sea_orm_tenant::{
    Catalog, CatalogError, CatalogOptions, CatalogSync, ConfigError, TenantConnections,
    TenantsConfig,
};
use sea_orm_tenant_migration::sea_orm_migration::MigratorTrait;
use sea_orm_tenant_migration::{CatalogMigrator, TenantMigrator, record_outcomes};

/// Reads the configuration and builds the store (see [`load_config`]).
pub fn load_store(path: &Path) -> Result<TenantConnections, ConfigError> {
    TenantConnections::from_config(load_config(path)?)
}

/// Reads the configuration. SQLite tenants' folders are created when missing
/// (a failure is logged; that tenant then fails to migrate).
pub fn load_config(path: &Path) -> Result<TenantsConfig, ConfigError> {
    let config = TenantsConfig::from_toml_file(path)?;
    for (tenant, db) in &config.tenants {
        let Some(dir) = db
            .sqlite_path()
            .and_then(|p| p.parent().map(Path::to_owned))
        else {
            continue;
        };
        if let Err(err) = std::fs::create_dir_all(&dir) {
            tracing::warn!(%tenant, dir = %dir.display(), error = %err, "cannot create the database folder");
        }
    }
    Ok(config)
}

/// Makes the catalog tables when missing (the library's own migration), then
/// loads the catalog's tenants into `store` and follows its changes.
pub async fn follow_catalog(
    store: &TenantConnections,
    options: CatalogOptions,
) -> Result<CatalogSync, CatalogError> {
    let shared = store.shared().await.map_err(CatalogError::Unavailable)?;
    // Two instances starting together may race on the tables: the loser's
    // second attempt finds them made.
    if CatalogMigrator::up(&shared, None).await.is_err() {
        CatalogMigrator::up(&shared, None)
            .await
            .map_err(|e| CatalogError::Query(e.to_string()))?;
    }
    let catalog = Catalog::open(store).await?;
    CatalogSync::start(store.clone(), catalog, options).await
}

/// Applies pending migrations to every tenant. Tenants that fail are logged and
/// taken out of service in the store (served 503), and with a catalog recorded
/// there as `quarantined` (which every instance follows); the others are ready
/// when this returns.
pub async fn migrate_tenants(store: &TenantConnections, catalog: Option<&Catalog>) {
    // Row tenants' shared tables get the row variant, once per database.
    let report = TenantMigrator::new::<migration::Migrator>(store.clone())
        .rows::<migration::RowMigrator>()
        .jobs(sea_orm_tenant_migration::default_jobs())
        .up()
        .await;
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            tracing::error!(%error, "tenant migrations could not start");
            return;
        }
    };
    if let Some(catalog) = catalog
        && let Err(error) = record_outcomes(catalog, &report).await
    {
        tracing::warn!(%error, "migration outcomes not recorded in the tenant catalog");
    }
    for tenant in &report.tenants {
        let error = tenant.error.as_deref().unwrap_or("");
        match tenant.outcome {
            sea_orm_tenant_migration::Outcome::Failed
            | sea_orm_tenant_migration::Outcome::Skipped => {
                tracing::error!(tenant = %tenant.tenant, %error, "migration failed: tenant out of service (503)");
                if let Err(err) = store
                    .set_out_of_service(&tenant.tenant, format!("its migrations failed: {error}"))
                {
                    tracing::warn!(tenant = %tenant.tenant, %err, "cannot take the tenant out of service");
                }
            }
            outcome => tracing::info!(
                tenant = %tenant.tenant,
                %outcome,
                applied = tenant.migrations.len(),
                version = tenant.version.as_deref().unwrap_or("-"),
                "migrations"
            ),
        }
    }
}
