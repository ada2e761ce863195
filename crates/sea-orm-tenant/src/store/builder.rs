//! [`TenantConnectionsBuilder`]: configuring a store in code.

use std::time::Duration;

use super::tenant_connections::TenantConnections;
use crate::config::{ConfigError, PoolOptions, TenantConfig, TenantsConfig};
use crate::key::TenantKey;

/// Builds a [`TenantConnections`]; names are validated by [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use sea_orm_tenant::{PoolOptions, TenantConnections};
///
/// let store = TenantConnections::builder()
///     .tenant("acme", "sqlite::memory:")
///     .tenant("globex", "sqlite::memory:")
///     .max_open_pools(100)
///     .pool_idle_timeout(Duration::from_secs(600))
///     .defaults(PoolOptions { max_connections: Some(2), ..Default::default() })
///     .build()?;
/// assert_eq!(store.tenants().len(), 2);
/// # Ok::<(), sea_orm_tenant::ConfigError>(())
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct TenantConnectionsBuilder {
    config: TenantsConfig,
    pending: Vec<(String, TenantConfig)>,
}

impl TenantConnectionsBuilder {
    /// Adds a tenant with default pool settings.
    pub fn tenant(self, name: impl AsRef<str>, url: impl Into<String>) -> Self {
        self.tenant_config(name, TenantConfig::new(url))
    }

    /// Adds a tenant with its own configuration.
    pub fn tenant_config(mut self, name: impl AsRef<str>, config: TenantConfig) -> Self {
        self.pending.push((name.as_ref().to_owned(), config));
        self
    }

    /// Pool settings for every tenant that does not set its own.
    pub fn defaults(mut self, defaults: PoolOptions) -> Self {
        self.config.defaults = defaults;
        self
    }

    /// At most `n` tenant pools open at once (at least 1).
    pub fn max_open_pools(mut self, n: usize) -> Self {
        self.config.store.max_open_pools = Some(n);
        self
    }

    /// Close a tenant's pool after it has been unused this long.
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.store.pool_idle_timeout = Some(timeout);
        self
    }

    /// How long closing a pool waits for its connections (default 5 s); see
    /// [`StoreOptions::close_timeout`](crate::StoreOptions::close_timeout).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.config.store.close_timeout = Some(timeout);
        self
    }

    /// How long a request waits for a held tenant (default 10 s); see
    /// [`StoreOptions::max_hold`](crate::StoreOptions::max_hold).
    pub fn max_hold(mut self, max: Duration) -> Self {
        self.config.store.max_hold = Some(max);
        self
    }

    /// At most `max_connections` connections to the database server
    /// `host:port` (a `[servers."host:port"]` table); see [`crate::pool::budget`].
    pub fn server(mut self, host_port: impl Into<String>, max_connections: u32) -> Self {
        self.config.servers.insert(
            host_port.into(),
            crate::ServerOptions {
                max_connections: Some(max_connections),
            },
        );
        self
    }

    /// The shared database for global tables.
    pub fn shared(self, url: impl Into<String>) -> Self {
        self.shared_config(TenantConfig::new(url))
    }

    /// The shared database, with its own configuration.
    pub fn shared_config(mut self, config: TenantConfig) -> Self {
        self.config.shared = Some(config);
        self
    }

    /// Validates every name and URL and builds the store. No database is opened.
    pub fn build(mut self) -> Result<TenantConnections, ConfigError> {
        for (name, config) in self.pending {
            let key =
                TenantKey::new(&name).map_err(|source| ConfigError::InvalidKey { name, source })?;
            if self.config.tenants.contains_key(&key) {
                return Err(ConfigError::AlreadyRegistered(key));
            }
            self.config.tenants.insert(key, config);
        }
        TenantConnections::from_config(self.config)
    }
}

impl TenantConnections {
    /// A builder, for configuring the store in code.
    pub fn builder() -> TenantConnectionsBuilder {
        TenantConnectionsBuilder::default()
    }

    /// A store with these tenants (name, URL) and default settings, like
    /// Flask-SQLAlchemy's `SQLALCHEMY_BINDS`.
    pub fn from_urls<I, K, U>(tenants: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, U)>,
        K: AsRef<str>,
        U: Into<String>,
    {
        tenants
            .into_iter()
            .fold(Self::builder(), |b, (k, u)| b.tenant(k, u))
            .build()
    }
}
