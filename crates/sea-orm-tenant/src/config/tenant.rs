//! [`TenantConfig`]: where a tenant lives (a connection URL; a schema in it,
//! or rows of its shared tables) and its pool settings.

use std::fmt;
use std::path::{Path, PathBuf};

use sea_orm::DbBackend;
use serde::Deserialize;

use super::error::ConfigError;
use super::pool::PoolOptions;
use super::toml_fields::{take_field, take_pool};
use crate::redact::redact_url;
use crate::schema::SchemaName;

/// Where a tenant lives: a database (its connection URL), optionally a schema
/// in it or rows of its shared tables, and pool settings.
///
/// Tenants with a [`schema`](Self::schema) in the same PostgreSQL database
/// (the same URL) share one pool: see the crate docs, "Schema tenants"; so do
/// [row tenants](Self::in_rows), see "Row tenants". `Debug` and `Display`
/// mask the URL's password.
#[derive(Clone, PartialEq, Eq)]
pub struct TenantConfig {
    pub(crate) url: String,
    within: Within,
    /// Pool settings for this database; unset fields use the store defaults.
    /// For a schema tenant, the first tenant registered on a database sets its
    /// shared pool's settings.
    pub pool: PoolOptions,
    /// The pool of a shared database: its connections serve many tenants, so
    /// the release check also puts their sessions back ([`crate::pool::session_state`]).
    pub(crate) serves_tenants: bool,
}

/// Where in its database a tenant lives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Within {
    /// The whole database.
    #[default]
    Database,
    /// A schema of it.
    Schema(SchemaName),
    /// Rows of its shared tables, told apart by a tenant column.
    Rows,
    /// The whole database, on a MySQL server whose connections its database
    /// tenants share.
    SharedServer,
}

impl TenantConfig {
    /// A database at `url` with default pool settings.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            within: Within::Database,
            pool: PoolOptions::default(),
            serves_tenants: false,
        }
    }

    /// This database as the shared pool of its schema or row tenants.
    pub(crate) fn serving_tenants(mut self) -> Self {
        self.serves_tenants = true;
        self
    }

    /// The tenant lives in `schema` of the PostgreSQL database at this URL,
    /// sharing the database's connections with the other tenants in it.
    pub fn in_schema(mut self, schema: SchemaName) -> Self {
        self.within = Within::Schema(schema);
        self
    }

    /// The tenant's rows live in the tables of the PostgreSQL database at this
    /// URL, shared with its other tenants and told apart by a tenant column
    /// that row-level security checks against the session's tenant setting
    /// (see the crate docs, "Row tenants"). It shares the database's
    /// connections with them.
    pub fn in_rows(mut self) -> Self {
        self.within = Within::Rows;
        self
    }

    /// The tenant's database (the one the MySQL or MariaDB URL names) shares
    /// the server's connections with the other tenants configured this way
    /// on the same server and user: one pool per server, each call moved to
    /// its tenant's database with `USE` as the server confirms (see the crate
    /// docs, "Database tenants sharing a MySQL server").
    pub fn sharing_server(mut self) -> Self {
        self.within = Within::SharedServer;
        self
    }

    /// Whether the tenant shares its server's connections ([`sharing_server`](Self::sharing_server)).
    pub fn shares_server(&self) -> bool {
        self.within == Within::SharedServer
    }

    /// The URL of the pool this tenant shares with others: its database's
    /// for a schema or row tenant; for a tenant sharing its server, this URL
    /// without its database (a new connection of that pool is on none).
    /// `None` for a tenant with a pool of its own.
    pub(crate) fn shared_pool_url(&self) -> Option<String> {
        match self.within {
            Within::Database => None,
            Within::Schema(_) | Within::Rows => Some(self.url.clone()),
            Within::SharedServer => {
                let mut url = url::Url::parse(&self.url).ok()?;
                url.set_path("");
                Some(url.to_string())
            }
        }
    }

    /// The tenant's schema, for a schema tenant.
    pub fn schema(&self) -> Option<&SchemaName> {
        match &self.within {
            Within::Schema(schema) => Some(schema),
            _ => None,
        }
    }

    /// Whether the tenant is a row tenant ([`in_rows`](Self::in_rows)).
    pub fn is_row_tenant(&self) -> bool {
        self.within == Within::Rows
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
        match &self.within {
            Within::Schema(schema) if backend != DbBackend::Postgres => {
                return Err(ConfigError::SchemaNeedsPostgres {
                    target: target.to_owned(),
                    schema: schema.clone(),
                    url: self.redacted_url(),
                });
            }
            Within::Rows if backend != DbBackend::Postgres => {
                return Err(ConfigError::RowsNeedPostgres {
                    target: target.to_owned(),
                    url: self.redacted_url(),
                });
            }
            Within::SharedServer
                if backend != DbBackend::MySql || self.database_name().is_none() =>
            {
                return Err(ConfigError::SharingNeedsMySqlDatabase {
                    target: target.to_owned(),
                    url: self.redacted_url(),
                });
            }
            _ => {}
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

    /// Whether this is an in-memory SQLite database (it vanishes with its pool).
    pub fn is_sqlite_memory(&self) -> bool {
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
            .field("within", &self.within)
            .field("pool", &self.pool)
            .finish()
    }
}

impl fmt::Display for TenantConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted_url())?;
        match &self.within {
            Within::Schema(schema) => write!(f, " (schema {schema})"),
            Within::Rows => f.write_str(" (rows)"),
            Within::SharedServer => f.write_str(" (sharing its server)"),
            Within::Database => Ok(()),
        }
    }
}

impl<'de> Deserialize<'de> for TenantConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(deserializer)?;
        let url = take_field::<String, D::Error>(&mut table, "url")?
            .ok_or_else(|| serde::de::Error::missing_field("url"))?;
        let schema: Option<SchemaName> = take_field(&mut table, "schema")?;
        let pool = take_pool(table)?;
        Ok(Self {
            url,
            within: schema.map_or(Within::Database, Within::Schema),
            pool,
            serves_tenants: false,
        })
    }
}
