//! Configuration: tenant URLs, pool settings and the TOML file format.
//!
//! ```toml
//! [store]
//! max_open_pools = 100          # at most this many tenant pools open at once
//! pool_idle_timeout = "10m"     # close a tenant's pool after this long unused
//!
//! [defaults]                    # pool settings for every tenant
//! max_connections = 5
//! connect_timeout = "5s"
//!
//! [shared]                      # optional database for global tables
//! url = "postgres://app:${SHARED_DB_PASSWORD}@db/shared"
//!
//! [servers."db:5432"]          # connection budget of one database server
//! max_connections = 60
//!
//! [tenants.acme]
//! url = "sqlite://data/acme.db?mode=rwc"   # relative to this file's folder
//! sqlite_readers = 8                        # read pool beside the one writer (default 4)
//!
//! [tenants.globex]
//! url = "postgres://app:${GLOBEX_DB_PASSWORD}@db/globex"
//! max_connections = 20                      # per-tenant override
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sea_orm::{ConnectOptions, DbBackend};
use serde::Deserialize;

use crate::key::{KeyError, TenantKey};
use crate::redact::redact_url;
use crate::schema::{SchemaName, SchemaNameError};

pub use crate::config_file::{ProvisioningConfig, SchemaDatabase, ServerOptions, TenantsConfig};

/// Why a configuration could not be loaded or a tenant could not be registered.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read tenant configuration {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error, as text.
        reason: String,
    },
    /// The configuration is not valid TOML or has unknown or mistyped fields.
    #[error("invalid tenant configuration{}: {reason}", origin.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    Parse {
        /// The file, when the configuration came from one.
        origin: Option<PathBuf>,
        /// What the parser said.
        reason: String,
    },
    /// A tenant name in the configuration is not a valid [`TenantKey`].
    #[error("invalid tenant name {name:?}: {source}")]
    InvalidKey {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        source: KeyError,
    },
    /// A URL has `${` with no closing `}`.
    #[error(
        "connection URL for {target} has `${{` with no closing `}}`: write ${{VAR}}, or percent-encode `$` as %24"
    )]
    UnterminatedEnv {
        /// The tenant (or `shared`).
        target: String,
    },
    /// A URL refers to `${VAR}` but the environment has no such variable.
    #[error(
        "connection URL for {target} refers to ${{{var}}}, which is not set in the environment"
    )]
    MissingEnv {
        /// The tenant (or `shared`).
        target: String,
        /// The variable name.
        var: String,
    },
    /// The URL's scheme is not one of `sqlite`, `postgres`, `postgresql` or `mysql`.
    #[error(
        "connection URL {url} for {target} has unsupported scheme {scheme:?}; use sqlite:, postgres: or mysql:"
    )]
    UnsupportedUrl {
        /// The tenant (or `shared`).
        target: String,
        /// The URL, password masked.
        url: String,
        /// The scheme found.
        scheme: String,
    },
    /// The URL needs a backend whose cargo feature is not enabled.
    #[error("connection URL for {target} needs the `{feature}` feature of sea-orm-tenant")]
    BackendDisabled {
        /// The tenant (or `shared`).
        target: String,
        /// The feature to enable.
        feature: &'static str,
    },
    /// A numeric or duration setting is outside its valid range (see [`crate::limits`]).
    #[error("{target}: {field} = {value} is out of range; allowed: {range}")]
    OutOfRange {
        /// The tenant, or `defaults`, `shared`, `store`.
        target: String,
        /// The setting.
        field: &'static str,
        /// The value given.
        value: String,
        /// The allowed range.
        range: String,
    },
    /// `add_tenant` was called with a name that is already registered.
    #[error("tenant {0} is already registered")]
    AlreadyRegistered(TenantKey),
    /// A schema name, or a schema prefix, breaks the rule of [`SchemaName`].
    #[error("invalid schema for {target}: {source}")]
    InvalidSchema {
        /// The tenant, or the `[databases.*]` setting.
        target: String,
        /// What is wrong with it.
        source: SchemaNameError,
    },
    /// A tenant has a schema but its URL is not a PostgreSQL one.
    #[error(
        "tenant {target} has schema {schema} but {url} is not a PostgreSQL URL; schema tenants need postgres:"
    )]
    SchemaNeedsPostgres {
        /// The tenant.
        target: String,
        /// The schema asked for.
        schema: SchemaName,
        /// The URL, password masked.
        url: String,
    },
    /// The shared database was given a schema: it is opened as a plain pool
    /// with no routing, so a schema would be silently ignored.
    #[error(
        "the shared database cannot have a schema ({schema}); use a database, or its default schema"
    )]
    SharedSchema {
        /// The schema asked for.
        schema: SchemaName,
    },
    /// A `[tenants.*]` entry names a database with no `[databases.*]` table.
    #[error(
        "tenant {tenant} is placed in database {database:?}, which has no [databases.{database}] table"
    )]
    UnknownDatabase {
        /// The tenant.
        tenant: TenantKey,
        /// The database name given.
        database: String,
    },
}

/// Read connections of a SQLite file in WAL mode when `sqlite_readers` is not set.
pub const DEFAULT_SQLITE_READERS: u32 = 4;

/// Pool settings. Every field is optional: unset fields fall back to the store's
/// `[defaults]`, then to the built-in defaults listed on each field.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolOptions {
    /// Most connections in one tenant's pool. Default: 1 for SQLite (one writer), 5 otherwise.
    pub max_connections: Option<u32>,
    /// Connections kept open while the pool is open. Default: 0.
    pub min_connections: Option<u32>,
    /// How long opening a connection may take. Default: 5 s.
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    /// How long a query may wait for a free connection. Default: 10 s.
    #[serde(default, with = "humantime_serde")]
    pub acquire_timeout: Option<Duration>,
    /// Close a connection unused for this long, so that an open pool shrinks to
    /// no idle connection. Default: 1 min (never for in-memory SQLite).
    #[serde(default, with = "humantime_serde")]
    pub idle_timeout: Option<Duration>,
    /// Replace a connection after this long. Default: 30 min (never for in-memory SQLite).
    #[serde(default, with = "humantime_serde")]
    pub max_lifetime: Option<Duration>,
    /// SQLite: wait this long for a lock instead of failing with `SQLITE_BUSY`. Default: 5 s.
    #[serde(default, with = "humantime_serde")]
    pub sqlite_busy_timeout: Option<Duration>,
    /// SQLite: use write-ahead logging with `synchronous = NORMAL` for file databases. Default: true.
    pub sqlite_wal: Option<bool>,
    /// SQLite files in WAL mode: connections of a second pool that serves
    /// statements starting with `SELECT` outside transactions, beside the
    /// pool of `max_connections` that serves everything else. WAL lets them
    /// read while the writer writes; each sees every write acknowledged before
    /// it started. 0 sends reads to the writer pool too. Default: 4 (each
    /// a thread while open; the pool grows on demand and idle ones close).
    pub sqlite_readers: Option<u32>,
    /// Log every statement through sqlx's logger. Default: false.
    pub sqlx_logging: Option<bool>,
}

/// Calls `$m!` with every `PoolOptions` field, so the list lives in one place.
macro_rules! pool_fields {
    ($m:ident) => {
        $m!(
            max_connections,
            min_connections,
            connect_timeout,
            acquire_timeout,
            idle_timeout,
            max_lifetime,
            sqlite_busy_timeout,
            sqlite_wal,
            sqlite_readers,
            sqlx_logging
        )
    };
}

impl fmt::Debug for PoolOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("PoolOptions");
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = &self.$field { d.field(stringify!($field), v); }
            )*};
        }
        pool_fields!(set);
        d.finish()
    }
}

impl PoolOptions {
    /// Fills every unset field of `self` from `fallback`.
    pub fn or(mut self, fallback: &PoolOptions) -> PoolOptions {
        macro_rules! fill {
            ($($field:ident),*) => {$( if self.$field.is_none() { self.$field = fallback.$field; } )*};
        }
        pool_fields!(fill);
        self
    }

    /// How long a connection may sit idle before it is closed (built-in default 1 min).
    pub fn effective_idle_timeout(&self) -> Duration {
        self.idle_timeout.unwrap_or(Duration::from_secs(60))
    }

    /// The connect timeout in force (built-in default 5 s).
    pub fn effective_connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(Duration::from_secs(5))
    }

    /// The pool size in force (built-in default 1 for SQLite, 5 for servers).
    pub fn effective_max_connections(&self, backend: DbBackend) -> u32 {
        self.max_connections
            .unwrap_or(if backend == DbBackend::Sqlite { 1 } else { 5 })
    }

    /// Connections of the read pool of a SQLite file in WAL mode (built-in
    /// default 4); 0 for other databases.
    pub fn effective_sqlite_readers(&self, backend: DbBackend, memory: bool) -> u32 {
        let wal = self.sqlite_wal.unwrap_or(true);
        if backend != DbBackend::Sqlite || memory || !wal {
            return 0;
        }
        self.sqlite_readers.unwrap_or(DEFAULT_SQLITE_READERS)
    }

    /// The acquire timeout in force (built-in default 10 s).
    pub fn effective_acquire_timeout(&self) -> Duration {
        self.acquire_timeout.unwrap_or(Duration::from_secs(10))
    }
}

/// Store-wide limits (the `[store]` table).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreOptions {
    /// At most this many tenant pools are open at once; the least recently used idle
    /// pool is closed to make room. Default: 100.
    pub max_open_pools: Option<usize>,
    /// Close a tenant's pool when no query has used it for this long. Default: 5 min.
    #[serde(default, with = "humantime_serde")]
    pub pool_idle_timeout: Option<Duration>,
    /// How long closing a pool (eviction, removal, [`close`](crate::TenantConnections::close))
    /// waits for its connections to come back before abandoning them; also bounds the
    /// check each connection gets when it is returned to its pool. A closing pool
    /// keeps counting against `max_open_pools`. Default: 5 s.
    #[serde(default, with = "humantime_serde")]
    pub close_timeout: Option<Duration>,
    /// Connection budget of every database server without a `[servers."host:port"]`
    /// entry. Default: derived from the server (see [`crate::budget`]).
    pub server_max_connections: Option<u32>,
    /// How many app instances share the database servers: a derived budget is
    /// divided by this. Default: 1.
    pub instances: Option<u32>,
}

impl StoreOptions {
    /// `max_open_pools` in force (built-in default 100: at most 100 SQLite
    /// worker threads, and a bounded number of server pools, for any number of
    /// registered tenants).
    pub fn effective_max_open_pools(&self) -> usize {
        self.max_open_pools.unwrap_or(100)
    }

    /// `pool_idle_timeout` in force (built-in default 5 min: a tenant that
    /// stopped calling gives its files, threads and connections back).
    pub fn effective_pool_idle_timeout(&self) -> Duration {
        self.pool_idle_timeout.unwrap_or(Duration::from_secs(300))
    }

    /// The close timeout in force (built-in default 5 s).
    pub fn effective_close_timeout(&self) -> Duration {
        self.close_timeout.unwrap_or(Duration::from_secs(5))
    }
}

/// Where a tenant lives: a database (its connection URL), optionally a schema
/// in it, and pool settings.
///
/// Tenants with a [`schema`](Self::schema) in the same PostgreSQL database
/// (the same URL) share one pool: see the crate docs, "Schema tenants".
/// `Debug` and `Display` mask the URL's password.
#[derive(Clone, PartialEq, Eq)]
pub struct TenantConfig {
    pub(crate) url: String,
    schema: Option<SchemaName>,
    /// Pool settings for this database; unset fields use the store defaults.
    /// For a schema tenant, the first tenant registered on a database sets its
    /// shared pool's settings.
    pub pool: PoolOptions,
    /// The pool of a schema database: its connections serve many tenants, so
    /// the release check also puts their sessions back ([`crate::session_state`]).
    serves_schemas: bool,
}

impl TenantConfig {
    /// A database at `url` with default pool settings.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            pool: PoolOptions::default(),
            serves_schemas: false,
        }
    }

    /// This database as the shared pool of its schema tenants.
    pub(crate) fn serving_schemas(mut self) -> Self {
        self.serves_schemas = true;
        self
    }

    /// The tenant lives in `schema` of the PostgreSQL database at this URL,
    /// sharing the database's connections with the other tenants in it.
    pub fn in_schema(mut self, schema: SchemaName) -> Self {
        self.schema = Some(schema);
        self
    }

    /// The tenant's schema, for a schema tenant.
    pub fn schema(&self) -> Option<&SchemaName> {
        self.schema.as_ref()
    }

    /// The same database with these pool settings.
    pub fn with_pool(mut self, pool: PoolOptions) -> Self {
        self.pool = pool;
        self
    }

    /// The connection URL, password included: never log it, use [`redacted_url`](Self::redacted_url).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The connection URL with its password masked.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// The backend the URL selects, checked against the enabled cargo features.
    pub fn backend(&self) -> Result<DbBackend, ConfigError> {
        self.backend_for("tenant")
    }

    pub(crate) fn backend_for(&self, target: &str) -> Result<DbBackend, ConfigError> {
        let scheme = self
            .url
            .split_once(':')
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default();
        let (backend, feature, enabled) = match scheme.as_str() {
            "sqlite" => (DbBackend::Sqlite, "sqlite", cfg!(feature = "sqlite")),
            "postgres" | "postgresql" => {
                (DbBackend::Postgres, "postgres", cfg!(feature = "postgres"))
            }
            "mysql" => (DbBackend::MySql, "mysql", cfg!(feature = "mysql")),
            _ => {
                return Err(ConfigError::UnsupportedUrl {
                    target: target.to_owned(),
                    url: self.redacted_url(),
                    scheme,
                });
            }
        };
        if !enabled {
            return Err(ConfigError::BackendDisabled {
                target: target.to_owned(),
                feature,
            });
        }
        if let Some(schema) = &self.schema
            && backend != DbBackend::Postgres
        {
            return Err(ConfigError::SchemaNeedsPostgres {
                target: target.to_owned(),
                schema: schema.clone(),
                url: self.redacted_url(),
            });
        }
        Ok(backend)
    }

    /// For a SQLite file database, the file's path; `None` for in-memory SQLite and servers.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let (path, _) = sqlite_parts(&self.url)?;
        (!is_memory(path)).then(|| PathBuf::from(path))
    }

    /// For a SQLite file whose URL allows creating it (`mode=rwc`), its folder
    /// when missing.
    pub(crate) fn sqlite_folder_to_create(&self) -> Option<PathBuf> {
        let (_, query) = sqlite_parts(&self.url)?;
        let creates = query.is_some_and(|q| q.split('&').any(|kv| kv == "mode=rwc"));
        let folder = self.sqlite_path()?.parent()?.to_owned();
        (creates && !folder.as_os_str().is_empty() && !folder.exists()).then_some(folder)
    }

    /// The database a server URL names (its path, percent-decoded); `None`
    /// for SQLite and for a URL that names none.
    pub(crate) fn database_name(&self) -> Option<String> {
        if sqlite_parts(&self.url).is_some() {
            return None;
        }
        let parsed = url::Url::parse(&self.url).ok()?;
        let path = parsed.path().trim_start_matches('/');
        let name = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .ok()?;
        (!name.is_empty()).then(|| name.into_owned())
    }

    pub(crate) fn is_sqlite_memory(&self) -> bool {
        sqlite_parts(&self.url).is_some_and(|(path, query)| {
            is_memory(path) || query.is_some_and(|q| q.split('&').any(|kv| kv == "mode=memory"))
        })
    }

    /// Resolves a relative SQLite path against `base`; other URLs are left alone.
    pub(crate) fn resolve_relative_to(&mut self, base: &Path) {
        let Some((path, query)) = sqlite_parts(&self.url) else {
            return;
        };
        if is_memory(path) || Path::new(path).is_absolute() {
            return;
        }
        let absolute = base.join(path);
        self.url = match query {
            Some(q) => format!("sqlite://{}?{q}", absolute.display()),
            None => format!("sqlite://{}", absolute.display()),
        };
    }

    /// `sea_orm::ConnectOptions` for this database, with `pool` already merged with defaults.
    /// `max_connections` is the pool size admitted by the server's budget;
    /// `release_timeout` bounds the check a connection gets when it goes back to its pool.
    pub(crate) fn connect_options(
        &self,
        backend: DbBackend,
        max_connections: u32,
        release_timeout: Duration,
    ) -> ConnectOptions {
        let pool = &self.pool;
        let sqlite = backend == DbBackend::Sqlite;
        let memory = sqlite && self.is_sqlite_memory();
        let mut opts = ConnectOptions::new(self.url.clone());
        opts.max_connections(max_connections)
            .min_connections(pool.min_connections.unwrap_or(0).min(max_connections))
            .connect_timeout(pool.effective_connect_timeout())
            .acquire_timeout(pool.effective_acquire_timeout())
            .sqlx_logging(pool.sqlx_logging.unwrap_or(false));
        let sessions = if self.serves_schemas {
            crate::release_check::Sessions::Shared
        } else {
            crate::release_check::Sessions::Own {
                database: self.database_name(),
            }
        };
        crate::release_check::install(&mut opts, backend, sessions, release_timeout);
        if memory {
            opts.idle_timeout(None::<Duration>)
                .max_lifetime(None::<Duration>);
        } else {
            opts.idle_timeout(pool.effective_idle_timeout())
                .max_lifetime(pool.max_lifetime.unwrap_or(Duration::from_secs(1800)));
        }
        #[cfg(feature = "sqlite")]
        if sqlite {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            let busy = pool.sqlite_busy_timeout.unwrap_or(Duration::from_secs(5));
            let wal = pool.sqlite_wal.unwrap_or(true) && !memory;
            opts.map_sqlx_sqlite_opts(move |o| {
                let o = o.busy_timeout(busy);
                if wal {
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                } else {
                    o
                }
            });
        }
        opts
    }
}

fn sqlite_parts(url: &str) -> Option<(&str, Option<&str>)> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    })
}

fn is_memory(path: &str) -> bool {
    path.is_empty() || path == ":memory:" || path == "memory:"
}

impl fmt::Debug for TenantConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantConfig")
            .field("url", &self.redacted_url())
            .field("schema", &self.schema)
            .field("pool", &self.pool)
            .finish()
    }
}

impl fmt::Display for TenantConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted_url())?;
        match &self.schema {
            Some(schema) => write!(f, " (schema {schema})"),
            None => Ok(()),
        }
    }
}

impl<'de> Deserialize<'de> for TenantConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(deserializer)?;
        let url = take_field::<String, D::Error>(&mut table, "url")?
            .ok_or_else(|| serde::de::Error::missing_field("url"))?;
        let schema = take_field(&mut table, "schema")?;
        let pool = take_pool(table)?;
        Ok(Self {
            url,
            schema,
            pool,
            serves_schemas: false,
        })
    }
}

/// Removes `key` from a TOML table and reads it as a `T`: for tables that mix
/// a few fields of their own with pool settings.
pub(crate) fn take_field<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    table: &mut toml::Table,
    key: &str,
) -> Result<Option<T>, E> {
    table
        .remove(key)
        .map(|v| T::deserialize(v).map_err(|e| E::custom(format!("`{key}`: {e}"))))
        .transpose()
}

/// The rest of such a table: pool settings, unknown keys refused.
pub(crate) fn take_pool<E: serde::de::Error>(table: toml::Table) -> Result<PoolOptions, E> {
    PoolOptions::deserialize(toml::Value::Table(table)).map_err(E::custom)
}
