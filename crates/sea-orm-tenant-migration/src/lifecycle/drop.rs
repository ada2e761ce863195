//! Dropping a tenant, and switching it off and on.

use std::time::Instant;

use sea_orm_tenant::{CatalogError, ConfigError, TenantKey, TenantState};

use super::error::ProvisionError;
use super::provisioner::{Provisioner, tenant_key};
use super::row_data::delete_tenant_rows;

impl Provisioner {
    /// Drops tenant `name`: stops serving it, waits for its in-flight calls,
    /// drops its storage (unless `keep_data`) and forgets it. Running it again
    /// after a failure finishes the job.
    pub async fn drop(&self, name: &str, keep_data: bool) -> Result<Dropped, ProvisionError> {
        let started = Instant::now();
        let key = tenant_key(name)?;
        let catalog_err = |source| ProvisionError::Catalog {
            tenant: key.clone(),
            source,
        };
        let config =
            match &self.catalog {
                Some(catalog) => {
                    let entry = catalog
                        .get(&key)
                        .await
                        .map_err(catalog_err)?
                        .ok_or_else(|| ProvisionError::NotFound {
                            tenant: key.clone(),
                        })?;
                    if entry.state != TenantState::Deleting {
                        catalog
                            .set_state(&key, TenantState::Deleting, None)
                            .await
                            .map_err(catalog_err)?;
                    }
                    entry.config().map_err(|e| ProvisionError::Placement {
                        tenant: key.clone(),
                        reason: e.to_string(),
                    })?
                }
                None => self.store.tenant_config(key.as_str()).ok_or_else(|| {
                    ProvisionError::NotFound {
                        tenant: key.clone(),
                    }
                })?,
            };
        // Unknown here already (a re-run, or the follower was first): fine.
        let _ = self.store.remove_tenant(key.as_str()).await;
        if !self.drop_grace.is_zero() {
            tokio::time::sleep(self.drop_grace).await;
        }
        if !keep_data {
            // A move killed after its switch left the tenant's old copy
            // (and maybe a replication slot): they go too.
            let finish = super::MoveOptions::default().grace(std::time::Duration::ZERO);
            if let Err(error) = self.finish_killed_move(&key, &finish).await {
                tracing::warn!(tenant = %key, %error, "could not finish a killed move of a tenant being dropped");
            }
        }
        let storage_err = |source| ProvisionError::Storage {
            tenant: key.clone(),
            source,
        };
        let storage_dropped = if keep_data {
            false
        } else if config.is_row_tenant() {
            delete_tenant_rows(&self.store, &config, &key, &[], &[])
                .await
                .map_err(storage_err)?;
            true
        } else {
            self.storage
                .drop_storage(&config)
                .await
                .map_err(storage_err)?
        };
        if let Some(catalog) = &self.catalog {
            catalog.remove(&key).await.map_err(catalog_err)?;
            // A killed move's row names the dropped tenant's old copy: a
            // later tenant of the name must not finish that move.
            self.forget_move(&key).await;
        }
        tracing::info!(tenant = %key, storage_dropped, "tenant dropped");
        Ok(Dropped {
            tenant: key,
            storage_dropped,
            millis: started.elapsed().as_millis() as u64,
        })
    }

    /// Switches a tenant off (`disabled`: every instance answers 404 for it,
    /// its data kept) or back on (`active`). Needs a catalog.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<(), ProvisionError> {
        let key = tenant_key(name)?;
        let catalog_err = |source| ProvisionError::Catalog {
            tenant: key.clone(),
            source,
        };
        let Some(catalog) = &self.catalog else {
            return Err(catalog_err(CatalogError::NoSharedDatabase));
        };
        let entry = catalog
            .get(&key)
            .await
            .map_err(catalog_err)?
            .ok_or_else(|| ProvisionError::NotFound {
                tenant: key.clone(),
            })?;
        let state = if enabled {
            TenantState::Active
        } else {
            TenantState::Disabled
        };
        if !matches!(
            entry.state,
            TenantState::Active | TenantState::Disabled | TenantState::Quarantined
        ) {
            return Err(ProvisionError::WrongState {
                tenant: key,
                state: entry.state,
            });
        }
        catalog
            .set_state(&key, state, None)
            .await
            .map_err(catalog_err)?;
        if !enabled {
            let _ = self.store.remove_tenant(key.as_str()).await;
        } else if !self.store.contains(key.as_str()) {
            let config = entry.config().map_err(|e| ProvisionError::Placement {
                tenant: key.clone(),
                reason: e.to_string(),
            })?;
            match self.store.add_tenant(key.as_str(), config) {
                Ok(()) | Err(ConfigError::AlreadyRegistered(_)) => {}
                Err(source) => {
                    return Err(ProvisionError::Register {
                        tenant: key,
                        source,
                    });
                }
            }
        }
        Ok(())
    }
}

/// How a tenant was dropped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Dropped {
    /// The tenant.
    pub tenant: TenantKey,
    /// Whether its storage was dropped (false with `keep_data`, or when it was gone already).
    pub storage_dropped: bool,
    /// How long it took, in milliseconds.
    pub millis: u64,
}
