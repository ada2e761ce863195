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
//!
//! [tenants.globex]
//! url = "postgres://app:${GLOBEX_DB_PASSWORD}@db/globex"
//! max_connections = 20                      # per-tenant override
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sea_orm::{ConnectOptions, DbBackend};
use serde::Deserialize;

use crate::key::{KeyError, TenantKey};
use crate::redact::redact_url;

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
}

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

    /// The connect timeout in force (built-in default 5 s).
    pub fn effective_connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(Duration::from_secs(5))
    }

    /// The pool size in force (built-in default 1 for SQLite, 5 for servers).
    pub fn effective_max_connections(&self, backend: DbBackend) -> u32 {
        self.max_connections
            .unwrap_or(if backend == DbBackend::Sqlite { 1 } else { 5 })
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

/// One database: its connection URL and pool settings.
///
/// `Debug` and `Display` mask the URL's password.
#[derive(Clone, PartialEq, Eq)]
pub struct TenantConfig {
    url: String,
    /// Pool settings for this database; unset fields use the store defaults.
    pub pool: PoolOptions,
}

impl TenantConfig {
    /// A database at `url` with default pool settings.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool: PoolOptions::default(),
        }
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

    pub(crate) fn is_sqlite_memory(&self) -> bool {
        sqlite_parts(&self.url).is_some_and(|(path, query)| {
            is_memory(path) || query.is_some_and(|q| q.split('&').any(|kv| kv == "mode=memory"))
        })
    }

    /// Resolves a relative SQLite path against `base`; other URLs are left alone.
    fn resolve_relative_to(&mut self, base: &Path) {
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
        crate::release_check::install(&mut opts, backend, release_timeout);
        if memory {
            opts.idle_timeout(None::<Duration>)
                .max_lifetime(None::<Duration>);
        } else {
            opts.idle_timeout(pool.idle_timeout.unwrap_or(Duration::from_secs(60)))
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
            .field("pool", &self.pool)
            .finish()
    }
}

impl fmt::Display for TenantConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted_url())
    }
}

impl<'de> Deserialize<'de> for TenantConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(deserializer)?;
        let url = match table.remove("url") {
            Some(toml::Value::String(url)) => url,
            Some(_) => return Err(D::Error::custom("`url` must be a string")),
            None => return Err(D::Error::missing_field("url")),
        };
        let pool = PoolOptions::deserialize(toml::Value::Table(table)).map_err(D::Error::custom)?;
        Ok(Self { url, pool })
    }
}

/// A whole tenant configuration, as read from a TOML file (see the module docs).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantsConfig {
    /// Store-wide limits.
    #[serde(default)]
    pub store: StoreOptions,
    /// Pool settings for every tenant.
    #[serde(default)]
    pub defaults: PoolOptions,
    /// The optional shared database for global tables.
    pub shared: Option<TenantConfig>,
    /// The tenants, by name.
    #[serde(default)]
    pub tenants: BTreeMap<TenantKey, TenantConfig>,
    /// Per-server connection budgets, by `host:port` (`sqlite` for SQLite files).
    #[serde(default)]
    pub servers: BTreeMap<String, ServerOptions>,
}

/// One database server's settings (a `[servers."host:port"]` table).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerOptions {
    /// At most this many connections from this process to the server, counting
    /// every tenant pool on it, the shared database and migration sessions.
    pub max_connections: Option<u32>,
}

impl TenantsConfig {
    /// Reads a TOML file. `${VAR}` in URLs is read from the environment, and relative
    /// SQLite paths are resolved against the file's folder, so the result does not
    /// depend on the working directory.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let base = std::path::absolute(base).unwrap_or_else(|_| base.to_owned());
        Self::parse(&text, Some(path), &base)
    }

    /// Parses TOML text; relative SQLite paths are resolved against `base_dir`.
    pub fn from_toml_str(text: &str, base_dir: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::parse(text, None, base_dir.as_ref())
    }

    fn parse(text: &str, origin: Option<&Path>, base: &Path) -> Result<Self, ConfigError> {
        let parse_error = |reason: String| ConfigError::Parse {
            origin: origin.map(Path::to_owned),
            reason,
        };
        // Parse tenant names ourselves first, so a bad one gets the typed error.
        let raw: toml::Table = toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        if let Some(toml::Value::Table(tenants)) = raw.get("tenants") {
            for name in tenants.keys() {
                TenantKey::new(name).map_err(|source| ConfigError::InvalidKey {
                    name: name.clone(),
                    source,
                })?;
            }
        }
        let mut config: TenantsConfig =
            toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        config.store.validate()?;
        config.defaults.validate("defaults")?;
        for (server, options) in &config.servers {
            options.validate(server)?;
        }
        if let Some(shared) = &mut config.shared {
            shared.prepare("shared", base)?;
        }
        for (key, tenant) in &mut config.tenants {
            tenant.prepare(key.as_str(), base)?;
        }
        Ok(config)
    }
}

impl TenantConfig {
    fn prepare(&mut self, target: &str, base: &Path) -> Result<(), ConfigError> {
        self.url = expand_env(&self.url, target)?;
        self.backend_for(target)?;
        self.pool.validate(target)?;
        self.resolve_relative_to(base);
        Ok(())
    }
}

/// Replaces `${VAR}` with the environment variable's value.
fn expand_env(url: &str, target: &str) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let var = &after[..end];
        let value = std::env::var(var).map_err(|_| ConfigError::MissingEnv {
            target: target.to_owned(),
            var: var.to_owned(),
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_format_with_env_and_relative_paths() {
        let var = "SEA_ORM_TENANT_CONFIG_TEST_PW";
        assert!(std::env::var(var).is_err());
        let text = r#"
            [store]
            max_open_pools = 3
            pool_idle_timeout = "2m"
            [defaults]
            max_connections = 4
            connect_timeout = "1s"
            [tenants.a]
            url = "sqlite://data/a.db?mode=rwc"
            [tenants.b]
            url = "postgres://u:${SEA_ORM_TENANT_CONFIG_TEST_PW}@h/b"
            max_connections = 9
        "#;
        let err = TenantsConfig::from_toml_str(text, "/srv/app").unwrap_err();
        assert!(
            matches!(err, ConfigError::MissingEnv { ref var, .. } if var == "SEA_ORM_TENANT_CONFIG_TEST_PW"),
            "{err}"
        );

        let text = text.replace("${SEA_ORM_TENANT_CONFIG_TEST_PW}", "pw");
        let config = TenantsConfig::from_toml_str(&text, "/srv/app").unwrap();
        assert_eq!(config.store.max_open_pools, Some(3));
        assert_eq!(
            config.store.pool_idle_timeout,
            Some(Duration::from_secs(120))
        );
        assert_eq!(config.defaults.max_connections, Some(4));
        let a = &config.tenants[&TenantKey::new("a").unwrap()];
        assert_eq!(a.url(), "sqlite:///srv/app/data/a.db?mode=rwc");
        assert_eq!(a.sqlite_path(), Some(PathBuf::from("/srv/app/data/a.db")));
        let b = &config.tenants[&TenantKey::new("b").unwrap()];
        assert_eq!(b.pool.max_connections, Some(9));
        assert!(!format!("{b:?}").contains("pw"));
    }

    #[test]
    fn rejects_unknown_fields_bad_names_and_schemes() {
        let typo = "[tenants.a]\nurl = \"sqlite::memory:\"\nmax_conections = 3\n";
        assert!(matches!(
            TenantsConfig::from_toml_str(typo, "."),
            Err(ConfigError::Parse { .. })
        ));
        let bad_name = "[tenants.\"../etc\"]\nurl = \"sqlite::memory:\"\n";
        assert!(matches!(
            TenantsConfig::from_toml_str(bad_name, "."),
            Err(ConfigError::InvalidKey { .. })
        ));
        let scheme = "[tenants.a]\nurl = \"oracle://u:secret@h/x\"\n";
        let err = TenantsConfig::from_toml_str(scheme, ".").unwrap_err();
        assert!(matches!(err, ConfigError::UnsupportedUrl { .. }));
        assert!(!err.to_string().contains("secret"));
    }
}
