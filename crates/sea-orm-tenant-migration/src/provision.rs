//! [`Provisioner`]: a tenant's whole life at runtime. `create` makes its
//! storage, migrates it and registers it; `drop` stops serving it, drops its
//! storage and forgets it. A failed or cancelled create undoes exactly what it
//! made.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::DbBackend;
use sea_orm_migration::MigratorTrait;
use sea_orm_tenant::{
    Catalog, CatalogEntry, CatalogError, ConfigError, KeyError, Place, SchemaName, Storage,
    StorageError, TenantConfig, TenantConnections, TenantKey, TenantState,
};

use crate::apply::{ApplyFn, MigrationDb, apply_fn};
use crate::operation::Operation;
use crate::report::Outcome;
use crate::runner::TenantMigrator;

/// The template database's default name (PostgreSQL template clones).
pub const DEFAULT_TEMPLATE: &str = "sea_orm_tenant_template";

/// Where new tenants are placed. `{tenant}` in a URL is replaced by the tenant
/// name; `${VAR}` placeholders are kept as written (and so never stored in
/// clear in the catalog), read from the environment at use.
#[derive(Clone, PartialEq, Eq)]
pub enum Placement {
    /// A database (PostgreSQL, MySQL) or SQLite file of its own, e.g.
    /// `postgres://app:${PW}@db/t_{tenant}` or `sqlite://data/{tenant}.db?mode=rwc`.
    Url(String),
    /// A schema `{prefix}{tenant}` in the PostgreSQL database at `url`.
    Schema {
        /// The database's URL.
        url: String,
        /// The schema name prefix.
        prefix: String,
    },
}

impl std::fmt::Debug for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Url(url) => f
                .debug_tuple("Url")
                .field(&sea_orm_tenant::redact_url(url))
                .finish(),
            Self::Schema { url, prefix } => f
                .debug_struct("Schema")
                .field("url", &sea_orm_tenant::redact_url(url))
                .field("prefix", prefix)
                .finish(),
        }
    }
}

impl Placement {
    /// The placement a configuration's `[provisioning]` table gives (`None`
    /// without one). `schema_in` must name a `[databases.*]` table.
    pub fn from_config(config: &sea_orm_tenant::TenantsConfig) -> Result<Option<Self>, String> {
        let Some(provisioning) = &config.provisioning else {
            return Ok(None);
        };
        if let Some(name) = &provisioning.schema_in {
            return Self::schema_in(config, name).map(Some);
        }
        Ok(provisioning.url.clone().map(Self::Url))
    }

    /// A schema per tenant in the configuration's `[databases.NAME]`, with its prefix.
    pub fn schema_in(config: &sea_orm_tenant::TenantsConfig, name: &str) -> Result<Self, String> {
        let db = config
            .databases
            .get(name)
            .ok_or_else(|| format!("no [databases.{name}] in the configuration"))?;
        Ok(Self::Schema {
            url: db.url.clone(),
            prefix: db.schema_prefix.clone(),
        })
    }

    /// The catalog row of `tenant` placed here (URL as written).
    pub fn entry_for(&self, tenant: &TenantKey) -> Result<CatalogEntry, ProvisionError> {
        match self {
            Self::Url(url) => Ok(CatalogEntry::new(
                tenant.clone(),
                url.replace("{tenant}", tenant.as_str()),
                None,
            )),
            Self::Schema { url, prefix } => {
                let schema = SchemaName::for_tenant(prefix, tenant).map_err(|e| {
                    ProvisionError::Placement {
                        tenant: tenant.clone(),
                        reason: e.to_string(),
                    }
                })?;
                Ok(CatalogEntry::new(tenant.clone(), url.clone(), Some(schema)))
            }
        }
    }
}

/// Why a tenant could not be created or dropped. A failed create left nothing
/// behind.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// The name is not a valid tenant name: nothing was touched.
    #[error("invalid tenant name {name:?}: {source}")]
    InvalidName {
        /// The name, cut to 80 characters.
        name: String,
        /// What is wrong with it.
        source: KeyError,
    },
    /// The tenant exists (in the catalog, the store or as storage): nothing was
    /// touched, and nothing the other creator made was dropped.
    #[error("tenant {tenant} already exists")]
    AlreadyExists {
        /// The tenant.
        tenant: TenantKey,
    },
    /// The tenant is not known (to the catalog, or to the store without one).
    #[error("tenant {tenant} does not exist")]
    NotFound {
        /// The tenant.
        tenant: TenantKey,
    },
    /// The placement cannot hold this tenant (a bad schema or database name, an
    /// unset `${VAR}`).
    #[error("cannot place tenant {tenant}: {reason}")]
    Placement {
        /// The tenant.
        tenant: TenantKey,
        /// Why.
        reason: String,
    },
    /// Creating or dropping the storage failed.
    #[error("tenant {tenant}: {source}")]
    Storage {
        /// The tenant.
        tenant: TenantKey,
        /// The storage error.
        source: StorageError,
    },
    /// The migrations failed; the storage was dropped again.
    #[error("tenant {tenant}: migration failed: {reason}")]
    Migration {
        /// The tenant.
        tenant: TenantKey,
        /// The migration error.
        reason: String,
    },
    /// The tenant is being created or dropped: it cannot be switched on or off.
    #[error(
        "tenant {tenant} is {state}; only active, quarantined or disabled tenants can be switched on or off"
    )]
    WrongState {
        /// The tenant.
        tenant: TenantKey,
        /// Its state.
        state: TenantState,
    },
    /// The catalog could not be read or written.
    #[error("tenant {tenant}: {source}")]
    Catalog {
        /// The tenant.
        tenant: TenantKey,
        /// The catalog error.
        source: CatalogError,
    },
    /// The tenant could not be registered in this instance's store.
    #[error("tenant {tenant}: {source}")]
    Register {
        /// The tenant.
        tenant: TenantKey,
        /// The configuration error.
        source: ConfigError,
    },
}

impl ProvisionError {
    /// The tenant concerned, when the name was valid.
    pub fn tenant(&self) -> Option<&TenantKey> {
        match self {
            Self::InvalidName { .. } => None,
            Self::AlreadyExists { tenant }
            | Self::NotFound { tenant }
            | Self::Placement { tenant, .. }
            | Self::Storage { tenant, .. }
            | Self::Migration { tenant, .. }
            | Self::WrongState { tenant, .. }
            | Self::Catalog { tenant, .. }
            | Self::Register { tenant, .. } => Some(tenant),
        }
    }
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
    store: TenantConnections,
    apply: ApplyFn,
    catalog: Option<Catalog>,
    storage: Arc<Storage>,
    template: Option<SchemaName>,
    template_lock: Arc<tokio::sync::RwLock<()>>,
    drop_grace: Duration,
    lock_timeout: Duration,
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
            store,
            apply,
            catalog: None,
            storage: Arc::new(Storage::new()),
            template: None,
            template_lock: Arc::new(tokio::sync::RwLock::new(())),
            drop_grace: Duration::ZERO,
            lock_timeout: crate::runner::DEFAULT_LOCK_TIMEOUT,
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
        let mut undo = Undo::new(Arc::clone(&self.storage));
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
        if let Some(catalog) = &self.catalog {
            catalog.insert(entry).await.map_err(|source| match source {
                CatalogError::AlreadyExists { tenant } => ProvisionError::AlreadyExists { tenant },
                source => ProvisionError::Catalog {
                    tenant: key.clone(),
                    source,
                },
            })?;
            undo.catalog_row(catalog.clone(), key.clone());
        }
        let storage_err = |source: StorageError| match source {
            StorageError::AlreadyExists { .. } => ProvisionError::AlreadyExists {
                tenant: key.clone(),
            },
            source => ProvisionError::Storage {
                tenant: key.clone(),
                source,
            },
        };
        let (version, from_template) = match place {
            Place::Schema { .. } => {
                let txn = self
                    .storage
                    .begin_new_schema(config)
                    .await
                    .map_err(storage_err)?;
                // Committed by `apply` only if every migration succeeded: the
                // schema and its tables appear together or not at all.
                let applied = (self.apply.apply)(MigrationDb::Transaction(txn), Operation::UP)
                    .await
                    .map_err(|f| ProvisionError::Migration {
                        tenant: key.clone(),
                        reason: f.error.to_string(),
                    })?;
                undo.storage(config.clone());
                (applied.version, false)
            }
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
            _ => {
                self.storage.create(config).await.map_err(storage_err)?;
                undo.storage(config.clone());
                (self.migrate(key, config).await?, false)
            }
        };
        if let Some(catalog) = &self.catalog {
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
        let storage_dropped = if keep_data {
            false
        } else {
            self.storage
                .drop_storage(&config)
                .await
                .map_err(|source| ProvisionError::Storage {
                    tenant: key.clone(),
                    source,
                })?
        };
        if let Some(catalog) = &self.catalog {
            catalog.remove(&key).await.map_err(catalog_err)?;
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

    /// Closes the administration pools.
    pub async fn close(&self) {
        self.storage.close().await;
    }

    /// Applies every migration to a new database tenant through a store of its
    /// own (locked like any run), closed afterwards.
    async fn migrate(
        &self,
        key: &TenantKey,
        config: &TenantConfig,
    ) -> Result<Option<String>, ProvisionError> {
        let failed = |reason: String| ProvisionError::Migration {
            tenant: key.clone(),
            reason,
        };
        let store = TenantConnections::builder()
            .tenant_config(key.as_str(), config.clone())
            .max_open_pools(1)
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let report = TenantMigrator::with_apply(store.clone(), self.apply)
            .jobs(1)
            .lock_timeout(self.lock_timeout)
            .progress(crate::ProgressMode::Off)
            .run(Operation::UP)
            .await;
        store.close().await;
        let report = report.map_err(|e| failed(e.to_string()))?;
        let tenant = report
            .tenant(key.as_str())
            .ok_or_else(|| failed("no report".to_owned()))?;
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

    /// Clones the template, bringing it up to date first when it is behind.
    async fn clone_template(
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
                        Err(StorageError::TemplateBusy { template }) => Err(
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

/// `name` as a tenant key, or [`ProvisionError::InvalidName`].
fn tenant_key(name: &str) -> Result<TenantKey, ProvisionError> {
    TenantKey::new(name).map_err(|source| ProvisionError::InvalidName {
        name: name.chars().take(80).collect(),
        source,
    })
}

enum TemplateFallback {
    /// The tenant's own clone failed (its name is taken, say): give up.
    Tenant(ProvisionError),
    /// The template cannot be used: create and migrate instead.
    Template(String),
}

/// The name the template is migrated under (its migration lock and report).
fn template_key(template: &SchemaName) -> Result<TenantKey, String> {
    TenantKey::new(template.as_str().trim_start_matches('_')).map_err(|e| e.to_string())
}

/// What a create made so far, undone if it does not finish: on an error path
/// by [`Undo::run`], on cancellation by a task spawned from `Drop`.
struct Undo {
    storage: Arc<Storage>,
    made: Arc<Mutex<Made>>,
    armed: bool,
}

#[derive(Default)]
struct Made {
    storage: Option<TenantConfig>,
    catalog_row: Option<(Catalog, TenantKey)>,
}

impl Undo {
    fn new(storage: Arc<Storage>) -> Self {
        Self {
            storage,
            made: Arc::default(),
            armed: true,
        }
    }

    fn storage(&mut self, config: TenantConfig) {
        lock(&self.made).storage = Some(config);
    }

    fn catalog_row(&mut self, catalog: Catalog, key: TenantKey) {
        lock(&self.made).catalog_row = Some((catalog, key));
    }

    fn disarm(mut self) {
        self.armed = false;
    }

    /// Undoes now (an error path); if this is cancelled, `Drop` finishes it.
    async fn run(self) {
        Self::undo(Arc::clone(&self.storage), Arc::clone(&self.made)).await;
        self.disarm();
    }

    async fn undo(storage: Arc<Storage>, made: Arc<Mutex<Made>>) {
        let (config, row) = {
            let mut made = lock(&made);
            (made.storage.take(), made.catalog_row.take())
        };
        if let Some(config) = config
            && let Err(error) = storage.drop_storage(&config).await
        {
            tracing::error!(%error, "could not drop the storage of a failed tenant creation");
        }
        if let Some((catalog, key)) = row
            && let Err(error) = catalog.remove(&key).await
        {
            tracing::error!(tenant = %key, %error, "could not remove the catalog row of a failed tenant creation");
        }
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let work = Self::undo(Arc::clone(&self.storage), Arc::clone(&self.made));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(work);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
