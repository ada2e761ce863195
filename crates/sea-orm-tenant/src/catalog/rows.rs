//! The tenant catalog: a `tenants` table in the shared database, read and
//! written by every app instance.
//!
//! One row per tenant: its name, placement (URL as written, `${VAR}`
//! placeholders kept, and schema), [`TenantState`], migration version and
//! timestamps. Every write also bumps the single row of
//! `tenant_catalog_generation` in the same transaction, so an instance finds
//! out whether anything changed with one tiny query, and on PostgreSQL sends a
//! notification on channel [`NOTIFY_CHANNEL`] when it commits.
//!
//! The tables are made by the library's own migration
//! (`sea_orm_tenant_migration::CatalogMigrator`), from [`Catalog::tables`].

use std::fmt;

use sea_orm::sea_query::{ColumnDef, Table, TableCreateStatement};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, Statement,
    TransactionTrait, Value,
};

use crate::error::TenantError;
use crate::key::TenantKey;
use crate::schema::SchemaName;

use super::entry::{CatalogEntry, TenantState, now_ms};
use crate::store::TenantConnections;

/// The catalog table.
pub const CATALOG_TABLE: &str = "tenants";
/// The one-row table counting catalog writes.
pub const GENERATION_TABLE: &str = "tenant_catalog_generation";
/// The PostgreSQL notification channel of catalog writes (payload: the tenant name).
pub const NOTIFY_CHANNEL: &str = "sea_orm_tenant_catalog";

/// Why a catalog operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The store has no shared database to hold the catalog.
    #[error("a tenant catalog needs a shared database: configure [shared] url")]
    NoSharedDatabase,
    /// The shared database could not be reached.
    #[error("the tenant catalog is unavailable: {0}")]
    Unavailable(TenantError),
    /// The catalog tables are missing.
    #[error(
        "the tenant catalog table is missing in the shared database: run `migration catalog init` (or CatalogMigrator)"
    )]
    NotMigrated,
    /// The tenant has a row already.
    #[error("tenant {tenant} is already in the catalog")]
    AlreadyExists {
        /// The tenant.
        tenant: TenantKey,
    },
    /// The tenant has no row.
    #[error("tenant {tenant} is not in the catalog")]
    NotFound {
        /// The tenant.
        tenant: TenantKey,
    },
    /// A row holds something this version cannot read.
    #[error("catalog row {name:?} is invalid: {reason}")]
    InvalidRow {
        /// The row's name column.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A query failed.
    #[error("tenant catalog query failed: {0}")]
    Query(String),
    /// [`CatalogSync::start`](crate::CatalogSync::start) was given options
    /// out of their ranges ([`CatalogOptions::validate`](crate::CatalogOptions::validate)).
    #[error("invalid catalog options: {0}")]
    InvalidOptions(crate::config::ConfigError),
}

impl From<DbErr> for CatalogError {
    fn from(err: DbErr) -> Self {
        if let Some(tenant) = TenantError::from_db_err(&err) {
            return Self::Unavailable(tenant.clone());
        }
        let text = err.to_string();
        // PostgreSQL 42P01, MySQL 1146, SQLite "no such table".
        if text.contains("does not exist") && text.contains(CATALOG_TABLE)
            || text.contains("no such table")
            || text.contains("doesn't exist")
        {
            return Self::NotMigrated;
        }
        Self::Query(text)
    }
}

/// The catalog in a store's shared database. Cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    db: DatabaseConnection,
    backend: DbBackend,
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str =
    "name, url, schema_name, in_rows, state, version, created_at_ms, updated_at_ms";

impl Catalog {
    /// The catalog in `store`'s shared database.
    pub async fn open(store: &TenantConnections) -> Result<Self, CatalogError> {
        if !store.has_shared() {
            return Err(CatalogError::NoSharedDatabase);
        }
        let db = store.shared().await.map_err(CatalogError::Unavailable)?;
        let backend = db.get_database_backend();
        Ok(Self { db, backend })
    }

    /// The catalog tables, for the library's migration.
    pub fn tables() -> Vec<TableCreateStatement> {
        vec![
            Table::create()
                .table(CATALOG_TABLE)
                .if_not_exists()
                .col(
                    ColumnDef::new("name")
                        .string_len(63)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new("url").text().not_null())
                .col(ColumnDef::new("schema_name").string_len(63).null())
                .col(ColumnDef::new("state").string_len(16).not_null())
                .col(ColumnDef::new("version").string_len(255).null())
                .col(ColumnDef::new("created_at_ms").big_integer().not_null())
                .col(ColumnDef::new("updated_at_ms").big_integer().not_null())
                .to_owned(),
            Table::create()
                .table(GENERATION_TABLE)
                .if_not_exists()
                .col(ColumnDef::new("id").integer().not_null().primary_key())
                .col(ColumnDef::new("generation").big_integer().not_null())
                .to_owned(),
        ]
    }

    /// The statement adding the row tenants' column (`in_rows`) to a catalog
    /// made by [`tables`](Self::tables), for the library's second migration.
    pub fn row_tenants_sql() -> String {
        format!("ALTER TABLE {CATALOG_TABLE} ADD COLUMN in_rows BOOLEAN NOT NULL DEFAULT FALSE")
    }

    /// The statement seeding the generation row; does nothing when it exists.
    pub fn seed_sql() -> String {
        format!(
            "INSERT INTO {GENERATION_TABLE} (id, generation) SELECT 1, 0 FROM (SELECT 1 AS one) seed \
             WHERE NOT EXISTS (SELECT 1 FROM {GENERATION_TABLE} WHERE id = 1)"
        )
    }

    /// Every row, by name.
    pub async fn list(&self) -> Result<Vec<CatalogEntry>, CatalogError> {
        let rows = self
            .db
            .query_all_raw(self.stmt(
                &format!("SELECT {COLUMNS} FROM {CATALOG_TABLE} ORDER BY name"),
                vec![],
            ))
            .await?;
        rows.iter().map(entry_of).collect()
    }

    /// One row.
    pub async fn get(&self, name: &TenantKey) -> Result<Option<CatalogEntry>, CatalogError> {
        let row = self
            .db
            .query_one_raw(self.stmt(
                &format!("SELECT {COLUMNS} FROM {CATALOG_TABLE} WHERE name = ?"),
                vec![name.as_str().into()],
            ))
            .await?;
        row.as_ref().map(entry_of).transpose()
    }

    /// The number of writes so far: unchanged means nothing changed.
    pub async fn generation(&self) -> Result<i64, CatalogError> {
        let row = self
            .db
            .query_one_raw(self.stmt(
                &format!("SELECT generation FROM {GENERATION_TABLE} WHERE id = 1"),
                vec![],
            ))
            .await?
            .ok_or(CatalogError::NotMigrated)?;
        row.try_get::<i64>("", "generation")
            .map_err(|e| CatalogError::Query(e.to_string()))
    }

    /// Adds `entry`: the claim on its name. Exactly one of concurrent claims of
    /// a name succeeds; the others get [`CatalogError::AlreadyExists`].
    pub async fn insert(&self, entry: &CatalogEntry) -> Result<(), CatalogError> {
        let stmt = self.stmt(
            &format!("INSERT INTO {CATALOG_TABLE} ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
            vec![
                entry.name.as_str().into(),
                entry.url.as_str().into(),
                entry.schema.as_ref().map(|s| s.as_str().to_owned()).into(),
                entry.rows.into(),
                entry.state.as_str().into(),
                entry.version.clone().into(),
                entry.created_at_ms.into(),
                entry.updated_at_ms.into(),
            ],
        );
        match self.write(&entry.name, stmt).await {
            Ok(_) => Ok(()),
            Err(CatalogError::Query(text)) if is_unique_violation(&text) => {
                Err(CatalogError::AlreadyExists {
                    tenant: entry.name.clone(),
                })
            }
            Err(err) => Err(err),
        }
    }

    /// Sets a tenant's state, and its version when given.
    pub async fn set_state(
        &self,
        name: &TenantKey,
        state: TenantState,
        version: Option<&str>,
    ) -> Result<(), CatalogError> {
        let stmt = match version {
            Some(version) => self.stmt(
                &format!(
                    "UPDATE {CATALOG_TABLE} SET state = ?, version = ?, updated_at_ms = ? WHERE name = ?"
                ),
                vec![
                    state.as_str().into(),
                    version.into(),
                    now_ms().into(),
                    name.as_str().into(),
                ],
            ),
            None => self.stmt(
                &format!("UPDATE {CATALOG_TABLE} SET state = ?, updated_at_ms = ? WHERE name = ?"),
                vec![state.as_str().into(), now_ms().into(), name.as_str().into()],
            ),
        };
        match self.write(name, stmt).await? {
            0 => Err(CatalogError::NotFound {
                tenant: name.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Renews a `moving` mark: the row's `updated_at_ms` is set to now, and
    /// every instance following the catalog holds the tenant for another
    /// `moving_expiry`, however long its mover's hold lasts. Returns false,
    /// changing nothing, once the tenant is not `moving` (switched or
    /// undone): a renewal racing the switch never marks it moving again.
    pub async fn renew_moving(&self, name: &TenantKey) -> Result<bool, CatalogError> {
        let stmt = self.stmt(
            &format!("UPDATE {CATALOG_TABLE} SET updated_at_ms = ? WHERE name = ? AND state = ?"),
            vec![
                now_ms().into(),
                name.as_str().into(),
                TenantState::Moving.as_str().into(),
            ],
        );
        Ok(self.write(name, stmt).await? > 0)
    }

    /// Moves a tenant's row to another placement (`url` as written,
    /// `schema`, whether it is a row tenant) and sets its state, in one
    /// write: every instance following the catalog switches the tenant to the
    /// new placement in one step, and releases it if it was held.
    pub async fn set_placement(
        &self,
        name: &TenantKey,
        url: &str,
        schema: Option<&SchemaName>,
        rows: bool,
        state: TenantState,
    ) -> Result<(), CatalogError> {
        let stmt = self.stmt(
            &format!(
                "UPDATE {CATALOG_TABLE} SET url = ?, schema_name = ?, in_rows = ?, state = ?, \
                 updated_at_ms = ? WHERE name = ?"
            ),
            vec![
                url.into(),
                schema.map(|s| s.as_str().to_owned()).into(),
                rows.into(),
                state.as_str().into(),
                now_ms().into(),
                name.as_str().into(),
            ],
        );
        match self.write(name, stmt).await? {
            0 => Err(CatalogError::NotFound {
                tenant: name.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Removes a tenant's row; returns whether there was one.
    pub async fn remove(&self, name: &TenantKey) -> Result<bool, CatalogError> {
        let stmt = self.stmt(
            &format!("DELETE FROM {CATALOG_TABLE} WHERE name = ?"),
            vec![name.as_str().into()],
        );
        Ok(self.write(name, stmt).await? > 0)
    }

    /// The shared database holding the catalog, for the tables a library
    /// keeps beside it (the migration crate's move journal).
    pub fn database(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Whether the catalog's database is PostgreSQL (notifications available).
    pub fn notifies(&self) -> bool {
        self.backend == DbBackend::Postgres
    }

    /// Runs one change, the generation bump and (PostgreSQL) the notification in
    /// one transaction; returns the rows the change affected.
    async fn write(&self, name: &TenantKey, change: Statement) -> Result<u64, CatalogError> {
        let txn = self.db.begin().await?;
        let affected = txn.execute_raw(change).await?.rows_affected();
        if affected > 0 {
            txn.execute_raw(self.stmt(
                &format!("UPDATE {GENERATION_TABLE} SET generation = generation + 1 WHERE id = 1"),
                vec![],
            ))
            .await?;
            if self.notifies() {
                txn.execute_raw(self.stmt(
                    "SELECT pg_notify(?, ?)",
                    vec![NOTIFY_CHANNEL.into(), name.as_str().into()],
                ))
                .await?;
            }
        }
        txn.commit().await?;
        Ok(affected)
    }

    /// `?` placeholders, numbered for PostgreSQL.
    fn stmt(&self, sql: &str, values: Vec<Value>) -> Statement {
        let sql = if self.backend == DbBackend::Postgres {
            let mut out = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(c);
                }
            }
            out
        } else {
            sql.to_owned()
        };
        Statement::from_sql_and_values(self.backend, sql, values)
    }
}

fn is_unique_violation(text: &str) -> bool {
    text.contains("duplicate key")
        || text.contains("Duplicate entry")
        || text.contains("UNIQUE constraint failed")
}

fn entry_of(row: &QueryResult) -> Result<CatalogEntry, CatalogError> {
    let get_err = |e: DbErr| CatalogError::Query(e.to_string());
    let name: String = row.try_get("", "name").map_err(get_err)?;
    let invalid = |reason: String| CatalogError::InvalidRow {
        name: name.chars().take(80).collect(),
        reason,
    };
    let key = TenantKey::new(&name).map_err(|e| invalid(e.to_string()))?;
    let schema: Option<String> = row.try_get("", "schema_name").map_err(get_err)?;
    let schema = schema
        .map(|s| SchemaName::new(&s))
        .transpose()
        .map_err(|e| invalid(e.to_string()))?;
    let state: String = row.try_get("", "state").map_err(get_err)?;
    let state =
        TenantState::parse(&state).ok_or_else(|| invalid(format!("unknown state {state:?}")))?;
    Ok(CatalogEntry {
        name: key,
        url: row.try_get("", "url").map_err(get_err)?,
        schema,
        rows: row.try_get("", "in_rows").map_err(get_err)?,
        state,
        version: row.try_get("", "version").map_err(get_err)?,
        created_at_ms: row.try_get("", "created_at_ms").map_err(get_err)?,
        updated_at_ms: row.try_get("", "updated_at_ms").map_err(get_err)?,
    })
}
