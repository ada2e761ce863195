//! `[databases.NAME]` tables: one database (or MariaDB server) named once
//! for many tenants, its schema, row or database tenants, and the
//! `[tenants.NAME]` entries placed in it, turned into tenant configurations.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::error::ConfigError;
use super::pool::PoolOptions;
use super::tenant::TenantConfig;
use super::toml_fields::{take_field, take_pool};
use crate::key::TenantKey;
use crate::schema::SchemaName;

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
pub(super) struct SchemaTenantEntry {
    key: TenantKey,
    database: String,
    schema: Option<String>,
}

/// Takes the `[tenants.*]` entries that name a `database` out of `tenants`.
pub(super) fn take_schema_entries(
    tenants: &mut toml::Table,
) -> Result<Vec<SchemaTenantEntry>, String> {
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

/// Adds the tenants of every table of `databases`, and the `[tenants.*]`
/// entries placed in one, to `tenants`.
pub(super) fn place_schema_tenants(
    databases: &BTreeMap<String, SchemaDatabase>,
    tenants: &mut BTreeMap<TenantKey, TenantConfig>,
    entries: Vec<SchemaTenantEntry>,
) -> Result<(), ConfigError> {
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
    for (name, db) in databases {
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
        if !prefix_ok || (db.tenants_are != TenantsAre::Databases && !db.database_prefix.is_empty())
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
            if tenants.insert(key.clone(), config).is_some() {
                return Err(ConfigError::AlreadyRegistered(key.clone()));
            }
        }
    }
    for entry in entries {
        let db = databases
            .get(&entry.database)
            .ok_or_else(|| ConfigError::UnknownDatabase {
                tenant: entry.key.clone(),
                database: entry.database.clone(),
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
        if tenants.insert(entry.key.clone(), config).is_some() {
            return Err(ConfigError::AlreadyRegistered(entry.key));
        }
    }
    Ok(())
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
