//! The TOML file format: [`TenantsConfig`], with `${VAR}` expansion, SQLite
//! paths relative to the file, and `[databases.*]` sections that place many
//! schema tenants in one PostgreSQL database without repeating its URL.
//!
//! ```toml
//! [databases.app]                # a PostgreSQL database holding tenant schemas
//! url = "postgres://app:${APP_DB_PASSWORD}@db/app"
//! schema_prefix = "t_"           # tenant acme lives in schema t_acme (default: none)
//! tenants = ["acme", "globex"]   # its schema tenants
//! max_connections = 10           # its pool, shared by all its tenants
//!
//! [tenants.initech]              # a schema tenant with its own schema name
//! database = "app"
//! schema = "initech_legacy"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::catalog::CatalogOptions;
use super::env::expand_env;
use super::error::ConfigError;
use super::pool::PoolOptions;
use super::store::StoreOptions;
use super::tenant::TenantConfig;
use super::toml_fields::{take_field, take_pool};
use crate::key::TenantKey;
use crate::schema::SchemaName;

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
    /// PostgreSQL databases holding schema tenants, by name. Reading the file
    /// adds each of their tenants to [`tenants`](Self::tenants).
    #[serde(default)]
    pub databases: BTreeMap<String, SchemaDatabase>,
    /// `[catalog]`: also serve the tenants of the catalog in the shared
    /// database, following its changes (see [`crate::CatalogSync`]).
    pub catalog: Option<CatalogOptions>,
    /// `[provisioning]`: where tenants created at runtime go.
    pub provisioning: Option<ProvisioningConfig>,
}

/// Where tenants created at runtime go (a `[provisioning]` table): `url`, or
/// `schema_in` naming a `[databases.*]` table. URLs keep their `${VAR}`
/// placeholders (they are stored that way in the catalog); `{tenant}` stands
/// for the tenant's name, and a relative SQLite path is resolved against the
/// file's folder.
///
/// ```toml
/// [provisioning]
/// url = "postgres://app:${APP_DB_PASSWORD}@db/t_{tenant}"
/// template = "sea_orm_tenant_template"   # PostgreSQL: clone new databases from it
/// ```
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningConfig {
    /// A database or SQLite file per tenant.
    pub url: Option<String>,
    /// A schema per tenant in this `[databases.*]` database.
    pub schema_in: Option<String>,
    /// PostgreSQL: the template database new tenant databases are cloned from.
    pub template: Option<String>,
}

impl std::fmt::Debug for ProvisioningConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvisioningConfig")
            .field("url", &self.url.as_deref().map(crate::redact_url))
            .field("schema_in", &self.schema_in)
            .field("template", &self.template)
            .finish()
    }
}

/// A PostgreSQL database holding schema or row tenants, or a MySQL or
/// MariaDB server holding database tenants that share its connections (a
/// `[databases.NAME]` table): its URL once, how its tenants live in it, and
/// its tenants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaDatabase {
    /// The database's URL; `${VAR}` is read from the environment.
    pub url: String,
    /// How its tenants live in it: `tenants_are = "schemas"` (the default)
    /// or `"rows"`.
    pub tenants_are: TenantsAre,
    /// Tenant `acme` lives in schema `{schema_prefix}acme` (schema tenants
    /// only). Default: empty.
    pub schema_prefix: String,
    /// Tenant `acme` lives in database `{database_prefix}acme` on this
    /// server (`tenants_are = "databases"` only). Default: empty.
    pub database_prefix: String,
    /// The tenants in this database, by name.
    pub tenants: Vec<TenantKey>,
    /// The database's pool, shared by all its tenants.
    pub pool: PoolOptions,
}

impl<'de> Deserialize<'de> for SchemaDatabase {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(deserializer)?;
        Ok(Self {
            url: take_field::<String, D::Error>(&mut table, "url")?
                .ok_or_else(|| serde::de::Error::missing_field("url"))?,
            tenants_are: take_field::<TenantsAre, D::Error>(&mut table, "tenants_are")?
                .unwrap_or_default(),
            schema_prefix: take_field::<String, D::Error>(&mut table, "schema_prefix")?
                .unwrap_or_default(),
            database_prefix: take_field::<String, D::Error>(&mut table, "database_prefix")?
                .unwrap_or_default(),
            tenants: take_field::<Vec<TenantKey>, D::Error>(&mut table, "tenants")?
                .unwrap_or_default(),
            pool: take_pool(table)?,
        })
    }
}

/// How the tenants of a `[databases.*]` database live in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TenantsAre {
    /// A schema each.
    #[default]
    Schemas,
    /// Rows of shared tables, told apart by a tenant column under row-level
    /// security (see the crate docs, "Row tenants").
    Rows,
    /// A database each on one MySQL or MariaDB server (the table's `url`
    /// names the server, no database), sharing its connections (see
    /// [`TenantConfig::sharing_server`]).
    Databases,
}

/// A `[tenants.NAME]` entry placed in a `[databases.*]` database.
struct SchemaTenantEntry {
    key: TenantKey,
    database: String,
    schema: Option<String>,
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
        let mut raw: toml::Table = toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        let mut placed = Vec::new();
        if let Some(toml::Value::Table(tenants)) = raw.get_mut("tenants") {
            for name in tenants.keys() {
                TenantKey::new(name).map_err(|source| ConfigError::InvalidKey {
                    name: name.clone(),
                    source,
                })?;
            }
            placed = take_schema_entries(tenants).map_err(parse_error)?;
        }
        if let Some(toml::Value::Table(databases)) = raw.get("databases") {
            let names = databases
                .values()
                .filter_map(|db| db.get("tenants")?.as_array())
                .flatten()
                .filter_map(toml::Value::as_str);
            for name in names {
                TenantKey::new(name).map_err(|source| ConfigError::InvalidKey {
                    name: name.to_owned(),
                    source,
                })?;
            }
        }
        let mut config: TenantsConfig = toml::Value::Table(raw)
            .try_into()
            .map_err(|e: toml::de::Error| parse_error(e.to_string()))?;
        config.place_schema_tenants(placed)?;
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
        if let Some(provisioning) = &mut config.provisioning {
            if let Some(url) = &mut provisioning.url {
                let mut resolved = TenantConfig::new(url.clone());
                resolved.resolve_relative_to(base);
                *url = resolved.url;
            }
            if let Some(name) = &provisioning.schema_in
                && !config.databases.contains_key(name)
            {
                return Err(parse_error(format!(
                    "provisioning.schema_in names [databases.{name}], which is not configured"
                )));
            }
        }
        Ok(config)
    }
}

/// Takes the `[tenants.*]` entries that name a `database` out of `tenants`.
fn take_schema_entries(tenants: &mut toml::Table) -> Result<Vec<SchemaTenantEntry>, String> {
    let names: Vec<String> = tenants
        .iter()
        .filter(|(_, v)| v.as_table().is_some_and(|t| t.contains_key("database")))
        .map(|(k, _)| k.clone())
        .collect();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let Some(toml::Value::Table(mut entry)) = tenants.remove(&name) else {
            continue;
        };
        let database = match entry.remove("database") {
            Some(toml::Value::String(d)) => d,
            _ => return Err(format!("tenants.{name}: `database` must be a string")),
        };
        let schema = match entry.remove("schema") {
            Some(toml::Value::String(s)) => Some(s),
            None => None,
            Some(_) => return Err(format!("tenants.{name}: `schema` must be a string")),
        };
        if let Some(field) = entry.keys().next() {
            return Err(format!(
                "tenants.{name}: unknown field `{field}` (a tenant in a database takes `database` and `schema`; pool settings go in its [databases.*] table)"
            ));
        }
        out.push(SchemaTenantEntry {
            key: TenantKey::new(&name).map_err(|e| e.to_string())?,
            database,
            schema,
        });
    }
    Ok(out)
}

impl TenantsConfig {
    /// Adds the tenants of every `[databases.*]` table, and the `[tenants.*]`
    /// entries placed in one, to `tenants`.
    fn place_schema_tenants(&mut self, entries: Vec<SchemaTenantEntry>) -> Result<(), ConfigError> {
        let config_of =
            |name: &str, db: &SchemaDatabase, schema: Result<SchemaName, _>, key: &TenantKey| {
                if db.tenants_are == TenantsAre::Databases {
                    let url = database_url(&db.url, &format!("{}{key}", db.database_prefix))
                        .ok_or_else(|| ConfigError::SharingNeedsMySqlDatabase {
                            target: format!("{key} (databases.{name})"),
                            url: crate::redact_url(&db.url),
                        })?;
                    return Ok(TenantConfig::new(url)
                        .with_pool(db.pool.clone())
                        .sharing_server());
                }
                let config = TenantConfig::new(db.url.clone()).with_pool(db.pool.clone());
                if db.tenants_are == TenantsAre::Rows {
                    return Ok(config.in_rows());
                }
                let schema = schema.map_err(|source| ConfigError::InvalidSchema {
                    target: format!("{key} (databases.{name})"),
                    source,
                })?;
                Ok::<_, ConfigError>(config.in_schema(schema))
            };
        for (name, db) in &self.databases {
            SchemaName::check_prefix(&db.schema_prefix).map_err(|source| {
                ConfigError::InvalidSchema {
                    target: format!("databases.{name}.schema_prefix"),
                    source,
                }
            })?;
            let prefix_ok = db
                .database_prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !prefix_ok
                || (db.tenants_are != TenantsAre::Databases && !db.database_prefix.is_empty())
            {
                return Err(ConfigError::Parse {
                    origin: None,
                    reason: format!(
                        "databases.{name}: `database_prefix` takes lowercase letters, digits and `_`, and only with tenants_are = \"databases\""
                    ),
                });
            }
            if db.tenants_are != TenantsAre::Schemas && !db.schema_prefix.is_empty() {
                return Err(ConfigError::Parse {
                    origin: None,
                    reason: format!("databases.{name}: `schema_prefix` is for schema tenants"),
                });
            }
            for key in &db.tenants {
                let config = config_of(
                    name,
                    db,
                    SchemaName::for_tenant(&db.schema_prefix, key),
                    key,
                )?;
                if self.tenants.insert(key.clone(), config).is_some() {
                    return Err(ConfigError::AlreadyRegistered(key.clone()));
                }
            }
        }
        for entry in entries {
            let db = self.databases.get(&entry.database).ok_or_else(|| {
                ConfigError::UnknownDatabase {
                    tenant: entry.key.clone(),
                    database: entry.database.clone(),
                }
            })?;
            if db.tenants_are != TenantsAre::Schemas && entry.schema.is_some() {
                return Err(ConfigError::Parse {
                    origin: None,
                    reason: format!(
                        "tenants.{}: only a schema tenant takes `schema` (databases.{} holds rows or databases)",
                        entry.key, entry.database
                    ),
                });
            }
            let schema = match &entry.schema {
                Some(s) => SchemaName::new(s),
                None => SchemaName::for_tenant(&db.schema_prefix, &entry.key),
            };
            let config = config_of(&entry.database, db, schema, &entry.key)?;
            if self.tenants.insert(entry.key.clone(), config).is_some() {
                return Err(ConfigError::AlreadyRegistered(entry.key));
            }
        }
        Ok(())
    }
}

/// `server` (a URL naming no database) with `database` as its path; `None`
/// unless it is a MySQL URL naming no database. Text, not a parsed URL, so
/// `${VAR}` placeholders are kept for their expansion.
fn database_url(server: &str, database: &str) -> Option<String> {
    let (scheme, rest) = server.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("mysql") {
        return None;
    }
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority = before_query.strip_suffix('/').unwrap_or(before_query);
    if authority.contains('/') || authority.is_empty() {
        return None;
    }
    Some(match query {
        Some(query) => format!("{scheme}://{authority}/{database}?{query}"),
        None => format!("{scheme}://{authority}/{database}"),
    })
}

impl TenantConfig {
    pub(crate) fn prepare(&mut self, target: &str, base: &Path) -> Result<(), ConfigError> {
        self.url = expand_env(&self.url, target)?;
        self.backend_for(target)?;
        self.pool.validate(target)?;
        self.resolve_relative_to(base);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

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

    #[test]
    fn places_database_tenants_sharing_a_mysql_server() {
        let text = r#"
            [databases.main]
            url = "mysql://app:${SEA_ORM_TENANT_SHARED_PW}@db:3306?ssl-mode=disabled"
            tenants_are = "databases"
            database_prefix = "t_"
            tenants = ["acme", "globex"]
            max_connections = 20
        "#;
        let var = "SEA_ORM_TENANT_SHARED_PW";
        assert!(std::env::var(var).is_err());
        let err = TenantsConfig::from_toml_str(text, ".").unwrap_err();
        assert!(matches!(err, ConfigError::MissingEnv { .. }), "{err}");
        let config =
            TenantsConfig::from_toml_str(&text.replace("${SEA_ORM_TENANT_SHARED_PW}", "pw"), ".")
                .unwrap();
        let acme = &config.tenants[&TenantKey::new("acme").unwrap()];
        assert_eq!(
            acme.url(),
            "mysql://app:pw@db:3306/t_acme?ssl-mode=disabled"
        );
        assert!(acme.shares_server());
        assert_eq!(acme.pool.max_connections, Some(20));
        assert!(!format!("{acme:?}").contains("pw@"));

        for (bad, why) in [
            (
                "url = \"mysql://app@db:3306/app\"",
                "a URL naming a database",
            ),
            ("url = \"postgres://app@db/app\"", "a PostgreSQL URL"),
        ] {
            let text = format!(
                "[databases.main]\n{bad}\ntenants_are = \"databases\"\ntenants = [\"acme\"]\n"
            );
            assert!(
                matches!(
                    TenantsConfig::from_toml_str(&text, "."),
                    Err(ConfigError::SharingNeedsMySqlDatabase { .. })
                ),
                "{why}"
            );
        }
        let prefix = "[databases.main]\nurl = \"mysql://app@db:3306\"\ntenants_are = \"databases\"\ndatabase_prefix = \"t`x\"\n";
        assert!(matches!(
            TenantsConfig::from_toml_str(prefix, "."),
            Err(ConfigError::Parse { .. })
        ));
    }
}
