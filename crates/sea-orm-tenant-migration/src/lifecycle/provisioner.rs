//! [`Provisioner`]: a tenant's whole life at runtime. `create` makes its
//! storage, migrates it and registers it; `drop` stops serving it, drops its
//! storage and forgets it. A failed or cancelled create undoes exactly what it
//! made.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::DbBackend;
use sea_orm_migration::MigratorTrait;
use sea_orm_tenant::{
    Catalog, CatalogEntry, CatalogError, ConfigError, SchemaName, TenantConfig, TenantConnections,
    TenantKey, TenantState,
};

use super::background::Background;
use super::error::ProvisionError;
use super::place::Place;
use super::placement::Placement;
use super::storage::Storage;
use super::storage_error::StorageError;
use super::undo::Undo;
use crate::runner::apply::{ApplyFn, MigrationDb, apply_fn};
use crate::runner::{Operation, Outcome, TenantMigrator};

/// Creates and drops tenants of a store, with migrator `M` (see
/// [`new`](Self::new)) and, optionally, a shared [`Catalog`]. Cheap to clone.
///
/// * **create**: checks the name and placement (no I/O), claims the name (a
///   catalog row in state `provisioning`; without a catalog, the storage's
///   own creation is the claim), makes the storage, migrates it, marks it
///   `active` and registers it in the store. Any failure, cancellation
///   included, undoes exactly what this call made and registers nothing.
/// * **template clones** ([`template`](Self::template)): a PostgreSQL database
///   tenant is created as `CREATE DATABASE .. TEMPLATE tpl`, with `tpl` kept
///   at the latest migration (its version is the database's comment; a
///   template behind is migrated first, and if that fails the tenant is created
///   and migrated the ordinary way). The template never sits in a pool.
/// * **schema tenants**: the schema is created and migrated in one transaction.
/// * **drop**: state `deleting` (every instance stops serving it), the store
///   unregisters it and waits for its in-flight calls, the storage is dropped,
///   the row removed. Running a failed drop again finishes it.
#[derive(Clone)]
pub struct Provisioner {
    pub(super) store: TenantConnections,
    pub(super) apply: ApplyFn,
    pub(super) catalog: Option<Catalog>,
    pub(super) storage: Arc<Storage>,
    pub(super) template: Option<SchemaName>,
    pub(super) template_lock: Arc<tokio::sync::RwLock<()>>,
    pub(super) drop_grace: Duration,
    pub(super) lock_timeout: Duration,
    pub(super) background: Background,
}

impl std::fmt::Debug for Provisioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provisioner")
            .field("catalog", &self.catalog.is_some())
            .field("template", &self.template)
            .field("drop_grace", &self.drop_grace)
            .finish_non_exhaustive()
    }
}

impl Provisioner {
    /// Creates tenants of `store` migrated by `M`.
    pub fn new<M: MigratorTrait + 'static>(store: TenantConnections) -> Self {
        Self::with_apply(store, apply_fn::<M>())
    }

    pub(crate) fn with_apply(store: TenantConnections, apply: ApplyFn) -> Self {
        Self {
            storage: Arc::new(Storage::new(store.clone())),
            store,
            apply,
            catalog: None,
            template: None,
            template_lock: Arc::new(tokio::sync::RwLock::new(())),
            drop_grace: Duration::ZERO,
            lock_timeout: crate::runner::DEFAULT_LOCK_TIMEOUT,
            background: Background::new(),
        }
    }

    /// Record tenants in `catalog`. A drop then waits `grace` between marking
    /// the tenant `deleting` and dropping its storage, so other instances stop
    /// serving it first (default 1 s with a catalog).
    pub fn catalog(mut self, catalog: Catalog) -> Self {
        self.catalog = Some(catalog);
        if self.drop_grace.is_zero() {
            self.drop_grace = Duration::from_secs(1);
        }
        self
    }

    /// Clone PostgreSQL database tenants from template database `name`
    /// (created on the tenant's server when missing).
    pub fn template(mut self, name: SchemaName) -> Self {
        self.template = Some(name);
        self
    }

    /// How long a drop waits after marking a tenant `deleting`.
    pub fn drop_grace(mut self, grace: Duration) -> Self {
        self.drop_grace = grace;
        self
    }

    /// The store.
    pub fn store(&self) -> &TenantConnections {
        &self.store
    }

    /// The catalog, if any.
    pub fn catalog_ref(&self) -> Option<&Catalog> {
        self.catalog.as_ref()
    }

    /// Every tenant: the catalog's rows, or the store's tenants as `active`.
    pub async fn list(&self) -> Result<Vec<CatalogEntry>, CatalogError> {
        match &self.catalog {
            Some(catalog) => catalog.list().await,
            None => Ok(self
                .store
                .tenants()
                .into_iter()
                .filter_map(|key| {
                    let config = self.store.tenant_config(key.as_str())?;
                    let mut entry = CatalogEntry::new(key, config.url(), config.schema().cloned());
                    entry.state = TenantState::Active;
                    Some(entry)
                })
                .collect()),
        }
    }

    /// Creates tenant `name` at `placement` (cloned from the template when one
    /// is set and the placement is a PostgreSQL database).
    pub async fn create(
        &self,
        name: &str,
        placement: &Placement,
    ) -> Result<Created, ProvisionError> {
        let started = Instant::now();
        let key = tenant_key(name)?;
        let entry = placement.entry_for(&key)?;
        let placement_err = |reason: String| ProvisionError::Placement {
            tenant: key.clone(),
            reason,
        };
        let config = entry.config().map_err(|e| placement_err(e.to_string()))?;
        let place = Place::of(&config).map_err(|e| placement_err(e.to_string()))?;
        config.backend().map_err(|e| placement_err(e.to_string()))?;
        if self.store.contains(key.as_str()) {
            return Err(ProvisionError::AlreadyExists { tenant: key });
        }
        let mut undo = self.undo();
        match self
            .create_steps(&key, &entry, &config, &place, &mut undo)
            .await
        {
            Ok((version, from_template)) => {
                undo.disarm();
                tracing::info!(tenant = %key, place = %place.describe(), from_template, "tenant created");
                Ok(Created {
                    tenant: key,
                    place: place.describe(),
                    version,
                    from_template,
                    millis: started.elapsed().as_millis() as u64,
                })
            }
            Err(err) => {
                undo.run().await;
                Err(err)
            }
        }
    }

    /// The steps of a create after validation; what they make is recorded in `undo`.
    async fn create_steps(
        &self,
        key: &TenantKey,
        entry: &CatalogEntry,
        config: &TenantConfig,
        place: &Place,
        undo: &mut Undo,
    ) -> Result<(Option<String>, bool), ProvisionError> {
        // A row tenant has nothing to make: its catalog row is written
        // active at once, one catalog write instead of two.
        let ready_at_once = matches!(place, Place::Rows { .. });
        if let Some(catalog) = &self.catalog {
            let mut entry = entry.clone();
            if ready_at_once {
                entry.state = TenantState::Active;
            }
            catalog
                .insert(&entry)
                .await
                .map_err(|source| match source {
                    CatalogError::AlreadyExists { tenant } => {
                        ProvisionError::AlreadyExists { tenant }
                    }
                    source => ProvisionError::Catalog {
                        tenant: key.clone(),
                        source,
                    },
                })?;
            undo.catalog_row(catalog.clone(), key.clone());
        }
        let storage_err = storage_error(key);
        let (version, from_template) = match place {
            Place::Schema { .. } => (self.make_migrated(key, config, place, undo).await?, false),
            Place::Database {
                backend: DbBackend::Postgres,
                server_url,
                ..
            } if self.template.is_some() => {
                match self.clone_template(key, config, server_url, undo).await {
                    Ok(version) => (version, true),
                    Err(TemplateFallback::Tenant(err)) => return Err(err),
                    Err(TemplateFallback::Template(reason)) => {
                        tracing::warn!(tenant = %key, %reason, "template unusable; creating and migrating");
                        self.storage.create(config).await.map_err(storage_err)?;
                        undo.storage(config.clone());
                        (self.migrate(key, config).await?, false)
                    }
                }
            }
            // A row tenant is its catalog row: the tables are its database's,
            // migrated once for every tenant in it.
            Place::Rows { .. } => (None, false),
            _ => (self.make_migrated(key, config, place, undo).await?, false),
        };
        if let Some(catalog) = self.catalog.as_ref().filter(|_| !ready_at_once) {
            catalog
                .set_state(key, TenantState::Active, version.as_deref())
                .await
                .map_err(|source| ProvisionError::Catalog {
                    tenant: key.clone(),
                    source,
                })?;
        }
        // This instance serves it at once; others through the catalog. The
        // catalog follower may have registered it already.
        if !self.store.contains(key.as_str()) {
            match self.store.add_tenant(key.as_str(), config.clone()) {
                Ok(()) | Err(ConfigError::AlreadyRegistered(_)) => {}
                Err(source) => {
                    return Err(ProvisionError::Register {
                        tenant: key.clone(),
                        source,
                    });
                }
            }
        }
        Ok((version, from_template))
    }

    /// Makes the schema or database of `config` and applies every migration,
    /// recording in `undo` what it made. A schema and its tables are made in
    /// one transaction: they appear together or not at all.
    pub(crate) async fn make_migrated(
        &self,
        key: &TenantKey,
        config: &TenantConfig,
        place: &Place,
        undo: &mut Undo,
    ) -> Result<Option<String>, ProvisionError> {
        let storage_err = storage_error(key);
        if let Place::Schema { .. } = place {
            let txn = self
                .storage
                .begin_new_schema(config)
                .await
                .map_err(storage_err)?;
            // Committed by `apply` only if every migration succeeded.
            let applied = (self.apply.apply)(MigrationDb::Transaction(txn), Operation::UP)
                .await
                .map_err(|f| ProvisionError::Migration {
                    tenant: key.clone(),
                    reason: f.error.to_string(),
                })?;
            undo.storage(config.clone());
            return Ok(applied.version);
        }
        self.storage.create(config).await.map_err(storage_err)?;
        undo.storage(config.clone());
        self.migrate(key, config).await
    }

    /// A record of what a create makes, undone on the provisioner's
    /// background tasks if the create does not finish.
    pub(super) fn undo(&self) -> Undo {
        Undo::new(Arc::clone(&self.storage), self.background.clone())
    }

    /// Waits until the work that dropped calls left running has ended: the
    /// undo of a cancelled create, and a dropped move, which stops at its
    /// next safe point and then rolls back (before its switch) or finishes
    /// (after it, dropping the source). A call of this provisioner (or a
    /// clone) that is still running is not waited for, but what it leaves
    /// when it is dropped is.
    pub async fn settled(&self) {
        self.background.settled().await;
    }

    /// Waits until [`settled`](Self::settled), then closes the
    /// administration pools: an app that closes its provisioner before it
    /// exits leaves no move half done and no undo unrun.
    pub async fn close(&self) {
        self.settled().await;
        self.storage.close().await;
    }

    /// Applies every migration to a new database tenant, locked like any
    /// run, on connections of the store counted in its server's budget.
    pub(super) async fn migrate(
        &self,
        key: &TenantKey,
        config: &TenantConfig,
    ) -> Result<Option<String>, ProvisionError> {
        let failed = |reason: String| ProvisionError::Migration {
            tenant: key.clone(),
            reason,
        };
        let tenant = TenantMigrator::with_apply(self.store.clone(), self.apply)
            .lock_timeout(self.lock_timeout)
            .progress(crate::ProgressMode::Off)
            .run_database(key, config, Operation::UP)
            .await;
        match tenant.outcome {
            Outcome::Migrated | Outcome::UpToDate => Ok(tenant.version.clone()),
            _ => Err(failed(
                tenant
                    .error
                    .clone()
                    .unwrap_or_else(|| tenant.outcome.as_str().to_owned()),
            )),
        }
    }
}

/// A storage error of tenant `key`'s create: a name taken is
/// [`ProvisionError::AlreadyExists`].
fn storage_error(key: &TenantKey) -> impl Fn(StorageError) -> ProvisionError + '_ {
    move |source| match source {
        StorageError::AlreadyExists { .. } => ProvisionError::AlreadyExists {
            tenant: key.clone(),
        },
        source => ProvisionError::Storage {
            tenant: key.clone(),
            source,
        },
    }
}

/// `name` as a tenant key, or [`ProvisionError::InvalidName`].
pub(super) fn tenant_key(name: &str) -> Result<TenantKey, ProvisionError> {
    TenantKey::new(name).map_err(|source| ProvisionError::InvalidName {
        name: name.chars().take(80).collect(),
        source,
    })
}

/// How a tenant was created.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Created {
    /// The tenant.
    pub tenant: TenantKey,
    /// Where it lives (no password).
    pub place: String,
    /// The last migration applied.
    pub version: Option<String>,
    /// Whether it was cloned from the template database.
    pub from_template: bool,
    /// How long it took, in milliseconds.
    pub millis: u64,
}

/// Why a template clone did not make the tenant.
pub(super) enum TemplateFallback {
    /// The tenant's own clone failed (its name is taken, say): give up.
    Tenant(ProvisionError),
    /// The template cannot be used: create and migrate instead.
    Template(String),
}
