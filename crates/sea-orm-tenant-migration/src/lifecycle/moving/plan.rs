//! [`Plan`]: a move worked out from the catalog and the target URL before
//! anything is touched.

use sea_orm::DbBackend;
use sea_orm_tenant::{CatalogEntry, SchemaName, TenantConfig, TenantKey, TenantState};

use super::super::place::Place;
use super::super::provisioner::Provisioner;
use super::error::MoveError;
use super::replication::Replication;
use super::sql::Schemas;

/// A move worked out before anything is touched.
#[derive(Clone)]
pub(super) struct Plan {
    pub(super) key: TenantKey,
    pub(super) source: TenantConfig,
    /// The source URL as the catalog has it (`${VAR}` unexpanded).
    pub(super) source_written: String,
    pub(super) target: TenantConfig,
    pub(super) target_written: String,
    pub(super) schemas: Schemas,
    /// The schema of the migration table.
    pub(super) migrations_schema: String,
    pub(super) replication: Replication,
    /// A SQLite file tenant: copied under a write lock, not replicated.
    pub(super) sqlite: bool,
    /// A MySQL/MariaDB database tenant: copied under a seal, not replicated.
    pub(super) mysql: bool,
    /// A row tenant promoted to a schema or a database: its rows copied
    /// under a seal of its own, not replicated. `schemas` and
    /// `migrations_schema` are then the target's.
    pub(super) rows: bool,
    /// A failed move left the tenant `moving`.
    pub(super) leftover: bool,
}

impl Plan {
    pub(super) fn fail(&self, step: &'static str) -> impl Fn(String) -> MoveError + '_ {
        move |reason| MoveError::Step {
            tenant: self.key.clone(),
            step,
            reason,
        }
    }
}

impl Provisioner {
    pub(super) async fn plan_move(
        &self,
        key: &TenantKey,
        to: &str,
        into_schema: Option<&SchemaName>,
    ) -> Result<Plan, MoveError> {
        let unsupported = |reason: &str| MoveError::Unsupported {
            tenant: key.clone(),
            reason: reason.to_owned(),
        };
        let (source_written, source, leftover) = match &self.catalog {
            Some(catalog) => {
                let entry = catalog
                    .get(key)
                    .await
                    .map_err(|source| MoveError::Catalog {
                        tenant: key.clone(),
                        source,
                    })?
                    .ok_or_else(|| MoveError::NotFound {
                        tenant: key.clone(),
                    })?;
                if !matches!(entry.state, TenantState::Active | TenantState::Moving) {
                    return Err(MoveError::WrongState {
                        tenant: key.clone(),
                        state: entry.state,
                    });
                }
                let config = entry
                    .config()
                    .map_err(|e| unsupported(&format!("its placement: {e}")))?;
                (
                    entry.url.clone(),
                    config,
                    entry.state == TenantState::Moving,
                )
            }
            None => {
                let config =
                    self.store
                        .tenant_config(key.as_str())
                        .ok_or_else(|| MoveError::NotFound {
                            tenant: key.clone(),
                        })?;
                (config.url().to_owned(), config, false)
            }
        };
        let rows = source.is_row_tenant();
        let target_schema = match (rows, into_schema, source.schema()) {
            (true, schema, _) => schema.cloned(),
            (false, None, schema) => schema.cloned(),
            (false, Some(wanted), Some(own)) if wanted == own => Some(own.clone()),
            (false, Some(_), _) => {
                return Err(unsupported(
                    "only a row tenant moves into a schema of another name (a schema tenant keeps its schema's name; a database tenant stays one)",
                ));
            }
        };
        let backend = source.backend().ok();
        if backend.is_none() {
            return Err(unsupported("its backend is not known"));
        }
        if source.shares_server() {
            return Err(unsupported(
                "a MySQL tenant sharing its server's pool is placed by the configuration, not the catalog: move it by export and import (tenant export, then tenant import)",
            ));
        }
        let target = CatalogEntry::new(key.clone(), to, target_schema)
            .config()
            .map_err(|e| unsupported(&format!("the target: {e}")))?;
        if target.backend().ok() != backend {
            return Err(unsupported(
                "the target must be of the tenant's own backend",
            ));
        }
        if target.schema().is_some() && self.holds_row_tenants(key, &source, &target).await? {
            return Err(unsupported(
                "the target database holds row tenants, and a database holds schema tenants or row tenants, not both: choose a schema in another database, or a database of its own",
            ));
        }
        let same = match (Place::of(&source), Place::of(&target)) {
            (Ok(Place::SqliteFile(a)), Ok(Place::SqliteFile(b))) => a == b,
            _ => same_database(source.url(), target.url()),
        };
        if same {
            return Err(unsupported("the target is the tenant's own database"));
        }
        Ok(Plan::new(
            key,
            (source_written, source),
            (to.to_owned(), target),
            leftover,
        ))
    }
}

impl Plan {
    /// The move of `key` from `source` to `target`, each with its URL as
    /// the catalog writes it.
    pub(super) fn new(
        key: &TenantKey,
        (source_written, source): (String, TenantConfig),
        (target_written, target): (String, TenantConfig),
        leftover: bool,
    ) -> Self {
        let (schemas, migrations_schema) = match target.schema() {
            Some(schema) => (
                Schemas::One(schema.as_str().to_owned()),
                schema.as_str().to_owned(),
            ),
            None => (Schemas::All, "public".to_owned()),
        };
        let backend = source.backend().ok();
        Self {
            sqlite: backend == Some(DbBackend::Sqlite),
            mysql: backend == Some(DbBackend::MySql),
            rows: source.is_row_tenant(),
            replication: Replication::for_tenant(key.as_str(), source.url()),
            key: key.clone(),
            source,
            source_written,
            target,
            target_written,
            schemas,
            migrations_schema,
            leftover,
        }
    }
}

impl Provisioner {
    /// Whether the database of `target` holds row tenants (this one, if it
    /// is one, included).
    async fn holds_row_tenants(
        &self,
        key: &TenantKey,
        source: &TenantConfig,
        target: &TenantConfig,
    ) -> Result<bool, MoveError> {
        if source.is_row_tenant() && same_database(source.url(), target.url()) {
            return Ok(true);
        }
        let entries = self.list().await.map_err(|source| MoveError::Catalog {
            tenant: key.clone(),
            source,
        })?;
        Ok(entries
            .iter()
            .filter_map(|e| e.config().ok())
            .any(|c| c.is_row_tenant() && same_database(c.url(), target.url())))
    }
}

/// Whether two PostgreSQL URLs name the same database of the same server.
pub(super) fn same_database(a: &str, b: &str) -> bool {
    let key = |url: &str| {
        url::Url::parse(url).ok().map(|u| {
            (
                u.host_str().map(str::to_ascii_lowercase),
                u.port().unwrap_or(5432),
                u.path().trim_start_matches('/').to_owned(),
            )
        })
    };
    matches!((key(a), key(b)), (Some(x), Some(y)) if x == y)
}
