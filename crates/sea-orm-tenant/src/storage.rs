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
use std::sync::Mutex;
use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, RuntimeErr,
    Statement, TransactionTrait,
};

use crate::config::TenantConfig;
use crate::lock::lock;
use crate::pool::opener::open_pool;
use crate::redact::redact_url;
use crate::schema::{SchemaName, SchemaNameError};

/// How long a template clone waits for the template to be free (PostgreSQL
/// refuses a clone while any session is connected to it).
const TEMPLATE_WAIT: Duration = Duration::from_secs(10);

/// How long an administration statement waits for one of its pool's connections.
const ADMIN_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a tenant's storage could not be created or dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database, schema or file exists already: nothing was changed.
    #[error("{what} already exists; choose another tenant name or drop it first")]
    AlreadyExists {
        /// What exists (`database "t_acme" on 127.0.0.1:5432`, a file path, ...).
        what: String,
    },
    /// The URL names no database, or a database name the naming rule refuses.
    #[error("cannot use the database name in {url}: {source}")]
    InvalidName {
        /// The URL, password masked.
        url: String,
        /// What is wrong with the name.
        source: SchemaNameError,
    },
    /// The URL names nothing that can be created (an in-memory SQLite database,
    /// a URL without a database).
    #[error("{url} names no database that can be created or dropped: {reason}")]
    Unsupported {
        /// The URL, password masked.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// The server could not be reached.
    #[error("cannot reach {server}: {reason}")]
    Unavailable {
        /// The server's URL, password masked.
        server: String,
        /// The driver's error, password masked.
        reason: String,
    },
    /// The server refused a statement.
    #[error("{action} {what} failed: {reason}")]
    Failed {
        /// `create`, `drop`, ...
        action: &'static str,
        /// What it was applied to.
        what: String,
        /// The server's error.
        reason: String,
    },
    /// Sessions stayed connected to the template database, so it cannot be cloned.
    #[error(
        "template database {template:?} stayed in use for {TEMPLATE_WAIT:?}; nothing may stay connected to a template"
    )]
    TemplateBusy {
        /// The template's name.
        template: String,
    },
}

/// What a tenant's storage is, worked out from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A SQLite file.
    SqliteFile(PathBuf),
    /// A database of its own on a PostgreSQL or MySQL/MariaDB server.
    Database {
        /// The server's backend.
        backend: DbBackend,
        /// The server's maintenance URL (the tenant's URL on the `postgres`
        /// database, or on no database for MySQL).
        server_url: String,
        /// The database's name.
        name: SchemaName,
    },
    /// A schema in a PostgreSQL database.
    Schema {
        /// The database's URL.
        url: String,
        /// The schema.
        schema: SchemaName,
    },
}

impl Place {
    /// Where `config` points.
    pub fn of(config: &TenantConfig) -> Result<Self, StorageError> {
        let url = config.url();
        let unsupported = |reason| StorageError::Unsupported {
            url: redact_url(url),
            reason,
        };
        let backend = config
            .backend()
            .map_err(|_| unsupported("unknown backend"))?;
        if let Some(schema) = config.schema() {
            return Ok(Self::Schema {
                url: url.to_owned(),
                schema: schema.clone(),
            });
        }
        if backend == DbBackend::Sqlite {
            return match config.sqlite_path() {
                Some(path) if !config.is_sqlite_memory() => Ok(Self::SqliteFile(path)),
                _ => Err(unsupported("an in-memory database has no storage")),
            };
        }
        let mut parsed = url::Url::parse(url).map_err(|_| unsupported("the URL does not parse"))?;
        let database = parsed.path().trim_start_matches('/').to_owned();
        if database.is_empty() {
            return Err(unsupported("the URL has no database name"));
        }
        let name = SchemaName::new(&database).map_err(|source| StorageError::InvalidName {
            url: redact_url(url),
            source,
        })?;
        parsed.set_path(if backend == DbBackend::Postgres {
            "/postgres"
        } else {
            ""
        });
        Ok(Self::Database {
            backend,
            server_url: parsed.to_string(),
            name,
        })
    }

    /// A description for messages, with no password.
    pub fn describe(&self) -> String {
        match self {
            Self::SqliteFile(path) => format!("SQLite file {}", path.display()),
            Self::Database {
                server_url, name, ..
            } => format!("database {name} on {}", server_of(server_url)),
            Self::Schema { url, schema } => format!("schema {schema} in {}", redact_url(url)),
        }
    }
}

/// Creates and drops tenants' storage, keeping one small administration pool
/// per server (opened by the one opener every connection goes through).
///
/// Administration pools hold at most 2 connections each and are not counted
/// in the store's per-server budget.
#[derive(Default)]
pub struct Storage {
    pools: Mutex<HashMap<String, DatabaseConnection>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let servers: Vec<String> = lock(&self.pools).keys().map(|u| redact_url(u)).collect();
        f.debug_struct("Storage")
            .field("servers", &servers)
            .finish()
    }
}

impl Storage {
    /// A new, empty set of administration pools.
    pub fn new() -> Self {
        Self::default()
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
        let failed = |err: DbErr| classify(err, "create", &place);
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
        }
        Ok(existed)
    }

    /// Whether the storage exists.
    pub async fn exists(&self, place: &Place) -> Result<bool, StorageError> {
        let (url, backend, sql, name) = match place {
            Place::SqliteFile(path) => return Ok(path.exists()),
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
        .map_err(|err| classify(err, "look up", place))
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
        let pools: Vec<DatabaseConnection> = lock(&self.pools).drain().map(|(_, p)| p).collect();
        for pool in pools {
            let _ = pool.close().await;
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
            .map_err(|err| classify(err, action, place))
    }

    async fn pool(
        &self,
        url: &str,
        backend: DbBackend,
    ) -> Result<DatabaseConnection, StorageError> {
        if let Some(pool) = lock(&self.pools).get(url) {
            return Ok(pool.clone());
        }
        // CREATE and DROP DATABASE can wait many seconds for a checkpoint
        // after a burst of creations: waiters for the pool wait that long too.
        let config = TenantConfig::new(url).with_pool(crate::config::PoolOptions {
            acquire_timeout: Some(ADMIN_ACQUIRE_TIMEOUT),
            ..crate::config::PoolOptions::default()
        });
        let pool = open_pool(&config, backend, 2, Duration::from_secs(5))
            .await
            .map_err(|reason| StorageError::Unavailable {
                server: server_of(url),
                reason,
            })?;
        Ok(lock(&self.pools)
            .entry(url.to_owned())
            .or_insert(pool)
            .clone())
    }
}

fn quote(backend: DbBackend, name: &SchemaName) -> String {
    match backend {
        DbBackend::MySql => format!("`{name}`"),
        _ => name.quoted(),
    }
}

/// `host:port` of a URL, for messages.
fn server_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}:{}",
            u.host_str().unwrap_or("localhost"),
            u.port_or_known_default().unwrap_or(0)
        ),
        Err(_) => redact_url(url),
    }
}

/// Duplicate database (PostgreSQL 42P04, MySQL 1007) and duplicate schema
/// (42P06) are [`StorageError::AlreadyExists`].
fn classify(err: DbErr, action: &'static str, place: &Place) -> StorageError {
    let code = match &err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned()),
        _ => None,
    };
    let creates = action == "create" || action == "clone";
    match code.as_deref() {
        Some("42P04" | "42P06") if creates => StorageError::AlreadyExists {
            what: place.describe(),
        },
        // MySQL reports error 1007 with the generic SQLSTATE HY000.
        Some("HY000") if creates && err.to_string().contains("database exists") => {
            StorageError::AlreadyExists {
                what: place.describe(),
            }
        }
        // Unique violation on pg_database / pg_namespace: a concurrent create of the same name.
        Some("23505") if creates => StorageError::AlreadyExists {
            what: place.describe(),
        },
        _ => failed(err, action, place),
    }
}

fn failed(err: DbErr, action: &'static str, place: &Place) -> StorageError {
    StorageError::Failed {
        action,
        what: place.describe(),
        reason: err.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_from_urls() {
        let place = Place::of(&TenantConfig::new(
            "postgres://u:pw@h:5433/t_acme?sslmode=disable",
        ))
        .unwrap();
        let Place::Database {
            server_url, name, ..
        } = &place
        else {
            panic!("{place:?}")
        };
        assert_eq!(name.as_str(), "t_acme");
        assert_eq!(
            server_url,
            "postgres://u:pw@h:5433/postgres?sslmode=disable"
        );
        assert!(!place.describe().contains("pw"));
        let mysql = Place::of(&TenantConfig::new("mysql://root@h:3306/t_acme")).unwrap();
        assert!(
            matches!(&mysql, Place::Database { server_url, .. } if server_url == "mysql://root@h:3306")
        );
        assert!(matches!(
            Place::of(&TenantConfig::new("postgres://u@h/a%22b")),
            Err(StorageError::InvalidName { .. })
        ));
        assert!(matches!(
            Place::of(&TenantConfig::new("postgres://u@h/")),
            Err(StorageError::Unsupported { .. })
        ));
        assert!(matches!(
            Place::of(&TenantConfig::new("sqlite::memory:")),
            Err(StorageError::Unsupported { .. })
        ));
    }
}
