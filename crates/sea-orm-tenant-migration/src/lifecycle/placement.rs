//! [`Placement`]: where new tenants go.

use sea_orm_tenant::{CatalogEntry, SchemaName, TenantKey};

use super::error::ProvisionError;

/// Where new tenants are placed. `{tenant}` in a URL is replaced by the tenant
/// name; `${VAR}` placeholders are kept as written (and so never stored in
/// clear in the catalog), read from the environment at use.
#[derive(Clone, PartialEq, Eq)]
pub enum Placement {
    /// A database (PostgreSQL, MySQL) or SQLite file of its own, e.g.
    /// `postgres://app:${PW}@db/t_{tenant}` or `sqlite://data/{tenant}.db?mode=rwc`.
    Url(String),
    /// A schema `{prefix}{tenant}` in the PostgreSQL database at `url`.
    Schema {
        /// The database's URL.
        url: String,
        /// The schema name prefix.
        prefix: String,
    },
    /// Rows of the shared tables of the PostgreSQL database at `url` (a
    /// `[databases.*]` table with `tenants_are = "rows"`): a new tenant is a
    /// catalog row, no DDL.
    Rows {
        /// The database's URL.
        url: String,
    },
}

impl std::fmt::Debug for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Url(url) => f
                .debug_tuple("Url")
                .field(&sea_orm_tenant::redact_url(url))
                .finish(),
            Self::Schema { url, prefix } => f
                .debug_struct("Schema")
                .field("url", &sea_orm_tenant::redact_url(url))
                .field("prefix", prefix)
                .finish(),
            Self::Rows { url } => f
                .debug_struct("Rows")
                .field("url", &sea_orm_tenant::redact_url(url))
                .finish(),
        }
    }
}

impl Placement {
    /// The placement a configuration's `[provisioning]` table gives (`None`
    /// without one). `schema_in` must name a `[databases.*]` table.
    pub fn from_config(config: &sea_orm_tenant::TenantsConfig) -> Result<Option<Self>, String> {
        let Some(provisioning) = &config.provisioning else {
            return Ok(None);
        };
        if let Some(name) = &provisioning.schema_in {
            return Self::schema_in(config, name).map(Some);
        }
        Ok(provisioning.url.clone().map(Self::Url))
    }

    /// A schema per tenant in the configuration's `[databases.NAME]`, with its
    /// prefix; rows in it when its tenants are rows.
    pub fn schema_in(config: &sea_orm_tenant::TenantsConfig, name: &str) -> Result<Self, String> {
        let db = config
            .databases
            .get(name)
            .ok_or_else(|| format!("no [databases.{name}] in the configuration"))?;
        if db.tenants_are == sea_orm_tenant::TenantsAre::Rows {
            return Ok(Self::Rows {
                url: db.url.clone(),
            });
        }
        Ok(Self::Schema {
            url: db.url.clone(),
            prefix: db.schema_prefix.clone(),
        })
    }

    /// The catalog row of `tenant` placed here (URL as written).
    pub fn entry_for(&self, tenant: &TenantKey) -> Result<CatalogEntry, ProvisionError> {
        match self {
            Self::Url(url) => Ok(CatalogEntry::new(
                tenant.clone(),
                url.replace("{tenant}", tenant.as_str()),
                None,
            )),
            Self::Schema { url, prefix } => {
                let schema = SchemaName::for_tenant(prefix, tenant).map_err(|e| {
                    ProvisionError::Placement {
                        tenant: tenant.clone(),
                        reason: e.to_string(),
                    }
                })?;
                Ok(CatalogEntry::new(tenant.clone(), url.clone(), Some(schema)))
            }
            Self::Rows { url } => Ok(CatalogEntry::rows(tenant.clone(), url.clone())),
        }
    }
}
