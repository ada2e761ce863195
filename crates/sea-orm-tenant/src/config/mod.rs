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

mod catalog;
mod databases;
mod env;
mod error;
mod file;
pub mod limits;
mod pool;
mod store;
mod tenant;
mod toml_fields;

pub use catalog::{CatalogOptions, MOVING_RENEW_INTERVAL};
pub use databases::{SchemaDatabase, TenantsAre};
pub(crate) use env::expand_env;
pub use error::ConfigError;
pub use file::{ProvisioningConfig, ServerOptions, TenantsConfig};
pub use pool::{DEFAULT_SQLITE_READERS, PoolOptions};
pub use store::StoreOptions;
pub use tenant::TenantConfig;
