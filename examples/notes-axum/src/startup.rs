//! Start-up: reading `tenants.toml` (SQLite folders created), migrating every
//! tenant (a tenant that fails is taken out of service: 503), and serving.

use std::path::Path;

use sea_orm_tenant::{ConfigError, TenantConnections, TenantsConfig};

/// Reads the configuration and builds the store; SQLite tenants' folders are
/// created when missing.
pub fn load_store(path: &Path) -> Result<TenantConnections, ConfigError> {
    let config = TenantsConfig::from_toml_file(path)?;
    for (tenant, db) in &config.tenants {
        if let Some(dir) = db
            .sqlite_path()
            .and_then(|p| p.parent().map(Path::to_owned))
            && let Err(err) = std::fs::create_dir_all(&dir)
        {
            tracing::warn!(%tenant, dir = %dir.display(), error = %err, "cannot create the database folder");
        }
    }
    TenantConnections::from_config(config)
}

/// Applies pending migrations to every tenant (row tenants' shared tables
/// get the row variant, once per database); tenants that fail are logged
/// and taken out of service (served 503).
pub async fn migrate_tenants(store: &TenantConnections) {
    let report =
        sea_orm_tenant_migration::TenantMigrator::new::<migration::Migrator>(store.clone())
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
    for tenant in &report.tenants {
        match tenant.outcome {
            sea_orm_tenant_migration::Outcome::Failed
            | sea_orm_tenant_migration::Outcome::Skipped => {
                let error = tenant.error.as_deref().unwrap_or("");
                tracing::error!(tenant = %tenant.tenant, %error, "migration failed: tenant out of service (503)");
                let _ = store
                    .set_out_of_service(&tenant.tenant, format!("its migrations failed: {error}"));
            }
            outcome => tracing::info!(tenant = %tenant.tenant, %outcome, "migrations"),
        }
    }
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
