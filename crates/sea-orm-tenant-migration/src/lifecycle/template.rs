//! PostgreSQL template clones: a new database tenant made as a copy of a
//! template kept at the latest migration (its version is the template
//! database's comment), which is never connected to while it is cloned.

use sea_orm_tenant::{SchemaName, TenantConfig, TenantKey};

use super::error::ProvisionError;
use super::provisioner::{Provisioner, TemplateFallback};
use super::storage_error::StorageError;
use super::undo::Undo;

/// The template database's default name (PostgreSQL template clones).
pub const DEFAULT_TEMPLATE: &str = "sea_orm_tenant_template";

impl Provisioner {
    /// Clones the template, bringing it up to date first when it is behind.
    pub(super) async fn clone_template(
        &self,
        key: &TenantKey,
        config: &TenantConfig,
        server_url: &str,
        undo: &mut Undo,
    ) -> Result<Option<String>, TemplateFallback> {
        let Some(template) = self.template.clone() else {
            return Err(TemplateFallback::Template("no template set".to_owned()));
        };
        let latest = (self.apply.names)().last().cloned();
        let tenant_err = |source: StorageError| {
            let tenant = key.clone();
            match source {
                StorageError::AlreadyExists { .. } => {
                    TemplateFallback::Tenant(ProvisionError::AlreadyExists { tenant })
                }
                source => TemplateFallback::Tenant(ProvisionError::Storage { tenant, source }),
            }
        };
        loop {
            {
                let _shared = self.template_lock.read().await;
                let comment = self
                    .storage
                    .database_comment(server_url, &template)
                    .await
                    .map_err(|e| TemplateFallback::Template(e.to_string()))?;
                if comment.as_ref().and_then(|c| c.as_deref()) == latest.as_deref()
                    && comment.is_some()
                {
                    return match self.storage.create_from_template(config, &template).await {
                        Ok(_) => {
                            undo.storage(config.clone());
                            Ok(latest)
                        }
                        Err(StorageError::TemplateBusy { template, .. }) => Err(
                            TemplateFallback::Template(format!("template {template} busy")),
                        ),
                        Err(e) => Err(tenant_err(e)),
                    };
                }
            }
            let _exclusive = self.template_lock.write().await;
            self.refresh_template(config, server_url, &template, latest.as_deref())
                .await
                .map_err(TemplateFallback::Template)?;
        }
    }

    /// Creates the template when missing, migrates it, closes every connection
    /// to it and records its version as the database comment.
    async fn refresh_template(
        &self,
        config: &TenantConfig,
        server_url: &str,
        template: &SchemaName,
        latest: Option<&str>,
    ) -> Result<(), String> {
        let comment = self
            .storage
            .database_comment(server_url, template)
            .await
            .map_err(|e| e.to_string())?;
        if comment.as_ref().is_some_and(|c| c.as_deref() == latest) {
            return Ok(());
        }
        let mut url = url::Url::parse(config.url()).map_err(|e| e.to_string())?;
        url.set_path(&format!("/{template}"));
        let template_config = TenantConfig::new(url.to_string());
        if comment.is_none() {
            match self.storage.create(&template_config).await {
                Ok(_) | Err(StorageError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        let key = template_key(template)?;
        self.migrate(&key, &template_config)
            .await
            .map_err(|e| e.to_string())?;
        self.storage
            .set_database_comment(server_url, template, latest.unwrap_or(""))
            .await
            .map_err(|e| e.to_string())
    }
}

/// The name the template is migrated under (its migration lock and report).
fn template_key(template: &SchemaName) -> Result<TenantKey, String> {
    TenantKey::new(template.as_str().trim_start_matches('_')).map_err(|e| e.to_string())
}
