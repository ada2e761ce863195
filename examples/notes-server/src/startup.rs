//! Start-up: reading the tenant configuration, preparing SQLite folders and
//! migrating every tenant.

use std::path::Path;

use sea_orm_tenant::{ConfigError, TenantConnections, TenantKey, TenantsConfig};

use crate::quarantine::Quarantine;

/// Reads the configuration and builds the store. SQLite tenants' folders are
/// created when missing (a failure is logged; that tenant then fails to migrate).
pub fn load_store(path: &Path) -> Result<TenantConnections, ConfigError> {
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
    TenantConnections::from_config(config)
}

/// Applies pending migrations to every tenant. Tenants that fail are logged and
/// put in `quarantine` (served 503); the others are ready when this returns.
pub async fn migrate_tenants(store: &TenantConnections, quarantine: &Quarantine) {
    let report = sea_orm_tenant_migration::migrate_all::<migration::Migrator>(store).await;
    for tenant in &report.tenants {
        let error = tenant.error.as_deref().unwrap_or("");
        match tenant.outcome {
            sea_orm_tenant_migration::Outcome::Failed
            | sea_orm_tenant_migration::Outcome::Skipped => {
                tracing::error!(tenant = %tenant.tenant, %error, "migration failed: tenant out of service (503)");
                if let Ok(key) = TenantKey::new(&tenant.tenant) {
                    quarantine.insert(key, error.to_owned());
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
