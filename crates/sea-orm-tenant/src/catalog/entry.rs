//! A catalog row ([`CatalogEntry`]) and a tenant's state in it
//! ([`TenantState`]).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{ConfigError, TenantConfig, expand_env};
use crate::key::TenantKey;
use crate::schema::SchemaName;

/// A tenant's state in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantState {
    /// Being created: not served.
    Provisioning,
    /// Served.
    Active,
    /// Its migrations failed: registered, but the app answers 503 for it until
    /// a migration succeeds.
    Quarantined,
    /// Switched off by an operator: not served (404).
    Disabled,
    /// Being dropped: not served (404); a drop run again finishes it.
    Deleting,
    /// Being moved to another placement: registered, and held in every
    /// instance following the catalog (its new requests wait, up to
    /// `max_hold`), until the row names the new placement and is `active`.
    Moving,
}

impl TenantState {
    /// The state as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Active => "active",
            Self::Quarantined => "quarantined",
            Self::Disabled => "disabled",
            Self::Deleting => "deleting",
            Self::Moving => "moving",
        }
    }

    /// Parses a stored state.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "provisioning" => Self::Provisioning,
            "active" => Self::Active,
            "quarantined" => Self::Quarantined,
            "disabled" => Self::Disabled,
            "deleting" => Self::Deleting,
            "moving" => Self::Moving,
            _ => return None,
        })
    }

    /// Whether instances register the tenant (serve it, or answer 503 for it).
    pub fn is_registered(self) -> bool {
        matches!(self, Self::Active | Self::Quarantined | Self::Moving)
    }
}

impl fmt::Display for TenantState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One catalog row.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct CatalogEntry {
    /// The tenant.
    pub name: TenantKey,
    /// Its database URL as written: `${VAR}` placeholders are kept and read
    /// from the environment at use ([`config`](Self::config)), so a password
    /// given that way is never stored. Never shown unmasked.
    #[serde(serialize_with = "serialize_redacted")]
    pub url: String,
    /// Its schema, for a schema tenant.
    pub schema: Option<SchemaName>,
    /// Whether it is a row tenant: its rows in the tables of the database at
    /// `url`, shared with the other row tenants there.
    pub rows: bool,
    /// Its state.
    pub state: TenantState,
    /// The last migration applied, as last recorded.
    pub version: Option<String>,
    /// When the row was made (milliseconds since the Unix epoch).
    pub created_at_ms: i64,
    /// When the row last changed (milliseconds since the Unix epoch).
    pub updated_at_ms: i64,
}

fn serialize_redacted<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::redact_url(url))
}

impl fmt::Debug for CatalogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatalogEntry")
            .field("name", &self.name)
            .field("url", &crate::redact_url(&self.url))
            .field("schema", &self.schema)
            .field("rows", &self.rows)
            .field("state", &self.state)
            .field("version", &self.version)
            .field("created_at_ms", &self.created_at_ms)
            .field("updated_at_ms", &self.updated_at_ms)
            .finish()
    }
}

impl CatalogEntry {
    /// A new row for `name` at `url` (placeholders kept), in state `provisioning`.
    pub fn new(name: TenantKey, url: impl Into<String>, schema: Option<SchemaName>) -> Self {
        let now = now_ms();
        Self {
            name,
            url: url.into(),
            schema,
            rows: false,
            state: TenantState::Provisioning,
            version: None,
            created_at_ms: now,
            updated_at_ms: now,
        }
    }

    /// A new row for row tenant `name` in the database at `url`, in state
    /// `provisioning`.
    pub fn rows(name: TenantKey, url: impl Into<String>) -> Self {
        Self {
            rows: true,
            ..Self::new(name, url, None)
        }
    }

    /// The tenant's configuration, `${VAR}` read from the environment now.
    pub fn config(&self) -> Result<TenantConfig, ConfigError> {
        let url = expand_env(&self.url, self.name.as_str())?;
        let config = TenantConfig::new(url);
        Ok(match &self.schema {
            Some(schema) => config.in_schema(schema.clone()),
            None if self.rows => config.in_rows(),
            None => config,
        })
    }
}

/// Now, in milliseconds since the Unix epoch.
pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
