//! A tenant's storage: creating and dropping the database, PostgreSQL schema or
//! SQLite file a tenant lives in.
//!
//! [`Storage`] works out what a [`TenantConfig`] points at ([`Place`]) and
//! makes or removes exactly that:
//!
//! * PostgreSQL and MySQL/MariaDB: `CREATE DATABASE` / `DROP DATABASE IF EXISTS`
//!   on the server, through an administration pool opened on the server's
//!   maintenance database (`postgres` on PostgreSQL, none on MySQL);
//! * PostgreSQL schema tenants: `CREATE SCHEMA` inside a transaction that the
//!   caller goes on to migrate and commit ([`Storage::begin_new_schema`]), and
//!   `DROP SCHEMA IF EXISTS .. CASCADE`;
//! * SQLite files: created exclusively (`create_new`), removed with their
//!   `-wal`, `-shm` and lock files.
//!
//! Names reach SQL only after validation by the [`SchemaName`] rule, always
//! quoted, so a hostile name is refused before any I/O. Creating what already
//! exists is [`StorageError::AlreadyExists`] and touches nothing: the caller
//! that gets it never owns, and so never drops, what another caller made.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
    TransactionTrait,
};
use sea_orm_tenant::{
    PoolOptions, SchemaName, TenantConfig, TenantConnections, TenantSession, redact_url,
};

use super::place::{Place, server_of};
use super::storage_error::{StorageError, classify};

/// How long a template clone waits for the template to be free (PostgreSQL
/// refuses a clone while any session is connected to it).
const TEMPLATE_WAIT: Duration = Duration::from_secs(10);

/// How long an administration statement waits for one of its pool's connections.
const ADMIN_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(120);

/// Creates and drops tenants' storage, keeping one small administration pool
/// per server, opened by the store
/// ([`open_outside`](TenantConnections::open_outside)): at most 2 connections
/// each, counted in the store's per-server budget like every other.
pub struct Storage {
    store: TenantConnections,
    pools: Mutex<HashMap<String, Arc<TenantSession>>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let servers: Vec<String> = self
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .map(|u| redact_url(u))
            .collect();
        f.debug_struct("Storage")
            .field("servers", &servers)
            .finish()
    }
}

impl Storage {
    /// Storage for the tenants of `store`, with no administration pool open yet.
    pub fn new(store: TenantConnections) -> Self {
        Self {
            store,
            pools: Mutex::default(),
        }
    }

    /// Creates the tenant's database or SQLite file (a schema tenant's schema
    /// is created by [`begin_new_schema`](Self::begin_new_schema)). Returns
    /// where it is.
    pub async fn create(&self, config: &TenantConfig) -> Result<Place, StorageError> {
        let place = Place::of(config)?;
        match &place {
            Place::SqliteFile(path) => create_file(path)?,
            Place::Database {
                backend,
                server_url,
                name,
            } => {
                let sql = format!("CREATE DATABASE {}", quote(*backend, name));
                self.execute_on(server_url, *backend, &sql, "create", &place)
                    .await?;
            }
            Place::Schema { .. } => {
                return Err(StorageError::Unsupported {
                    url: redact_url(config.url()),
                    reason: "a schema is created in a transaction: use begin_new_schema",
                });
            }
            // Its tables are the database's, shared: nothing to create.
            Place::Rows { .. } => {}
        }
        Ok(place)
    }

    /// PostgreSQL: creates the tenant's database as a copy of `template`,
    /// waiting (up to 10 s) while sessions are connected to the template.
    pub async fn create_from_template(
        &self,
        config: &TenantConfig,
        template: &SchemaName,
    ) -> Result<Place, StorageError> {
        let place = Place::of(config)?;
        let Place::Database {
            backend: DbBackend::Postgres,
            server_url,
            name,
        } = &place
        else {
            return Err(StorageError::Unsupported {
                url: redact_url(config.url()),
                reason: "only PostgreSQL databases are cloned from a template",
            });
        };
        let sql = format!(
            "CREATE DATABASE {} TEMPLATE {}",
            name.quoted(),
            template.quoted()
        );
        let deadline = tokio::time::Instant::now() + TEMPLATE_WAIT;
        let mut pause = Duration::from_millis(20);
        loop {
            let result = self
                .execute_on(server_url, DbBackend::Postgres, &sql, "clone", &place)
                .await;
            match result {
                // 55006: the template is being accessed by other users.
                Err(StorageError::Failed { reason, .. })
                    if reason.contains("being accessed by other users") =>
                {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(StorageError::TemplateBusy {
                            template: template.to_string(),
                            waited: TEMPLATE_WAIT,
                        });
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                other => return other.map(|()| place),
            }
        }
    }

    /// PostgreSQL schema tenant: begins a transaction on the tenant's database,
    /// creates its schema and puts the transaction on it (`SET LOCAL`
    /// semantics). Commit it to keep the schema, roll it back (or drop it) and
    /// the schema never existed.
    pub async fn begin_new_schema(
        &self,
        config: &TenantConfig,
    ) -> Result<DatabaseTransaction, StorageError> {
        let place = Place::of(config)?;
        let Place::Schema { url, schema } = &place else {
            return Err(StorageError::Unsupported {
                url: redact_url(config.url()),
                reason: "not a schema tenant",
            });
        };
        let db = self.pool(url, DbBackend::Postgres).await?;
        let failed = |err: DbErr| classify(err, "create", place.describe());
        let txn = db.begin().await.map_err(failed)?;
        txn.execute_unprepared(&format!("CREATE SCHEMA {}", schema.quoted()))
            .await
            .map_err(failed)?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_catalog.set_config('search_path', $1, true)",
            [schema.search_path().into()],
        ))
        .await
        .map_err(failed)?;
        Ok(txn)
    }

    /// Drops the tenant's storage if it exists; returns whether something was
    /// dropped. A PostgreSQL database is dropped `WITH (FORCE)`: sessions still
    /// connected to it (idle pools of other instances) are ended.
    pub async fn drop_storage(&self, config: &TenantConfig) -> Result<bool, StorageError> {
        let place = Place::of(config)?;
        let existed = self.exists(&place).await?;
        match &place {
            Place::SqliteFile(path) => remove_file(path)?,
            Place::Database {
                backend,
                server_url,
                name,
            } => {
                let force = if *backend == DbBackend::Postgres {
                    " WITH (FORCE)"
                } else {
                    ""
                };
                let sql = format!("DROP DATABASE IF EXISTS {}{force}", quote(*backend, name));
                self.execute_on(server_url, *backend, &sql, "drop", &place)
                    .await?;
            }
            Place::Schema { url, schema } => {
                let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", schema.quoted());
                self.execute_on(url, DbBackend::Postgres, &sql, "drop", &place)
                    .await?;
            }
            Place::Rows { .. } => {
                return Err(StorageError::Unsupported {
                    url: redact_url(config.url()),
                    reason: "a row tenant's rows are deleted by name: use delete_rows",
                });
            }
        }
        Ok(existed)
    }

    /// Whether the storage exists.
    pub async fn exists(&self, place: &Place) -> Result<bool, StorageError> {
        let (url, backend, sql, name) = match place {
            Place::SqliteFile(path) => return Ok(path.exists()),
            Place::Rows { .. } => return Ok(true),
            Place::Database {
                backend: DbBackend::Postgres,
                server_url,
                name,
            } => (
                server_url,
                DbBackend::Postgres,
                "SELECT 1 FROM pg_database WHERE datname = $1",
                name,
            ),
            Place::Database {
                backend,
                server_url,
                name,
            } => (
                server_url,
                *backend,
                "SELECT 1 FROM information_schema.schemata WHERE schema_name = ?",
                name,
            ),
            Place::Schema { url, schema } => (
                url,
                DbBackend::Postgres,
                "SELECT 1 FROM pg_namespace WHERE nspname = $1",
                schema,
            ),
        };
        let db = self.pool(url, backend).await?;
        db.query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [name.as_str().into()],
        ))
        .await
        .map(|row| row.is_some())
        .map_err(|err| classify(err, "look up", place.describe()))
    }

    /// PostgreSQL: the comment on database `name` (`None` when the database
    /// does not exist): where a template records its migration version.
    pub async fn database_comment(
        &self,
        server_url: &str,
        name: &SchemaName,
    ) -> Result<Option<Option<String>>, StorageError> {
        let db = self.pool(server_url, DbBackend::Postgres).await?;
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1",
                [name.as_str().into()],
            ))
            .await
            .map_err(|e| StorageError::Failed {
                action: "read the comment of",
                what: name.to_string(),
                reason: e.to_string(),
            })?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some(row.try_get::<Option<String>>("", "comment").map_err(
                |e| StorageError::Failed {
                    action: "read the comment of",
                    what: name.to_string(),
                    reason: e.to_string(),
                },
            )?)),
        }
    }

    /// PostgreSQL: sets the comment on database `name`.
    pub async fn set_database_comment(
        &self,
        server_url: &str,
        name: &SchemaName,
        comment: &str,
    ) -> Result<(), StorageError> {
        let literal = format!("'{}'", comment.replace('\'', "''"));
        let sql = format!("COMMENT ON DATABASE {} IS {literal}", name.quoted());
        let place = Place::Database {
            backend: DbBackend::Postgres,
            server_url: server_url.to_owned(),
            name: name.clone(),
        };
        self.execute_on(server_url, DbBackend::Postgres, &sql, "comment on", &place)
            .await
    }

    /// Closes every administration pool.
    pub async fn close(&self) {
        let pools: Vec<Arc<TenantSession>> = self
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, p)| p)
            .collect();
        for pool in pools {
            if let Ok(session) = Arc::try_unwrap(pool) {
                session.close().await;
            }
        }
    }

    async fn execute_on(
        &self,
        url: &str,
        backend: DbBackend,
        sql: &str,
        action: &'static str,
        place: &Place,
    ) -> Result<(), StorageError> {
        let db = self.pool(url, backend).await?;
        db.execute_unprepared(sql)
            .await
            .map(drop)
            .map_err(|err| classify(err, action, place.describe()))
    }

    async fn pool(
        &self,
        url: &str,
        backend: DbBackend,
    ) -> Result<DatabaseConnection, StorageError> {
        if let Some(pool) = self
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(url)
        {
            return Ok(DatabaseConnection::clone(pool));
        }
        // CREATE and DROP DATABASE can wait many seconds for a checkpoint
        // after a burst of creations: waiters for the pool wait that long too.
        let config = TenantConfig::new(url).with_pool(PoolOptions {
            acquire_timeout: Some(ADMIN_ACQUIRE_TIMEOUT),
            ..PoolOptions::default()
        });
        debug_assert_eq!(config.backend().ok(), Some(backend));
        let session =
            self.store
                .open_outside(&config, 2)
                .await
                .map_err(|e| StorageError::Unavailable {
                    server: server_of(url),
                    reason: e.to_string(),
                })?;
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        let pool = pools
            .entry(url.to_owned())
            .or_insert_with(|| Arc::new(session));
        Ok(DatabaseConnection::clone(pool))
    }
}

fn quote(backend: DbBackend, name: &SchemaName) -> String {
    match backend {
        DbBackend::MySql => format!("`{name}`"),
        _ => name.quoted(),
    }
}

fn create_file(path: &std::path::Path) -> Result<(), StorageError> {
    let what = || format!("SQLite file {}", path.display());
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|e| StorageError::Failed {
            action: "create",
            what: format!("folder {}", folder.display()),
            reason: e.to_string(),
        })?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(StorageError::AlreadyExists { what: what() })
        }
        Err(e) => Err(StorageError::Failed {
            action: "create",
            what: what(),
            reason: e.to_string(),
        }),
    }
}

/// Removes a SQLite file and what SQLite and the migration lock keep beside it.
fn remove_file(path: &std::path::Path) -> Result<(), StorageError> {
    for suffix in ["", "-wal", "-shm", "-journal", ".migrate-lock"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StorageError::Failed {
                    action: "drop",
                    what: PathBuf::from(file).display().to_string(),
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(())
}
