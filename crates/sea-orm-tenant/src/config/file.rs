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
use super::databases::{SchemaDatabase, place_schema_tenants, take_schema_entries};
use super::env::expand_env;
use super::error::ConfigError;
use super::pool::PoolOptions;
use super::store::StoreOptions;
use super::tenant::TenantConfig;
use crate::key::TenantKey;

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
        place_schema_tenants(&config.databases, &mut config.tenants, placed)?;
        config.store.validate()?;
        if let Some(catalog) = &config.catalog {
            catalog.validate()?;
        }
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
