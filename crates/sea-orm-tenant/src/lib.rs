//! One SeaORM backend, many tenants, each in its own database.
//!
//! * [`TenantKey`]: a validated tenant name, safe as a file, database or schema name.
//! * [`TenantConnections`]: the store. Tenant name to connection URL (in code, from a
//!   map, or from a TOML file, see [`config`]); pools open lazily, at most
//!   `max_open_pools` at once, least recently used idle pools closed first; tenants
//!   added and removed at runtime; an optional shared database for global tables.
//! * [`with_tenant`](TenantConnections::with_tenant): runs a future with a tenant
//!   current (a tokio task-local). Switching to another tenant inside it is an
//!   error ([`TenantError::Switch`]), and so is a query with no tenant
//!   ([`TenantError::NoTenant`]): there is never a silent default database.
//! * [`TenantDb`]: implements SeaORM's `ConnectionTrait`, `TransactionTrait` and
//!   `StreamTrait` by routing each call to the current tenant, so every SeaORM API
//!   works unchanged.
//!
//! ```
//! use sea_orm::{ConnectionTrait, Statement};
//! use sea_orm_tenant::{TenantConnections, TenantError};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = TenantConnections::from_urls([
//!     ("acme", "sqlite::memory:"),
//!     ("globex", "sqlite::memory:"),
//! ])?;
//! let db = store.db();
//!
//! for tenant in ["acme", "globex"] {
//!     store
//!         .with_tenant(tenant, async {
//!             db.execute_unprepared("CREATE TABLE note (body TEXT)").await?;
//!             db.execute_unprepared(&format!("INSERT INTO note VALUES ('hello from {tenant}')"))
//!                 .await
//!         })
//!         .await??;
//! }
//!
//! let row = store
//!     .with_tenant("globex", async {
//!         db.query_one_raw(Statement::from_string(db.get_database_backend(), "SELECT body FROM note"))
//!             .await
//!     })
//!     .await??
//!     .unwrap();
//! assert_eq!(row.try_get::<String>("", "body")?, "hello from globex");
//!
//! // No tenant chosen: an error, never a default database.
//! let err = db.execute_unprepared("SELECT 1").await.unwrap_err();
//! assert!(matches!(TenantError::from_db_err(&err), Some(TenantError::NoTenant)));
//!
//! // Switching tenant inside a tenant scope is refused.
//! let switched = store
//!     .with_tenant("acme", store.with_tenant("globex", async {}))
//!     .await?;
//! assert!(matches!(switched, Err(TenantError::Switch { .. })));
//! # Ok(())
//! # }
//! ```
//!
//! # Spawned tasks lose the tenant
//!
//! The current tenant is a tokio task-local. `tokio::spawn`, `spawn_blocking`,
//! WebSocket upgrades and response bodies polled after a handler returns all run
//! *outside* it, and their queries fail with `NoTenant` (other frameworks silently
//! fall back to a default database here, a classic cross-tenant leak). Use
//! [`spawn`] and [`spawn_blocking`] instead of tokio's, or capture a
//! [`TenantContext`] and [`wrap`](TenantContext::wrap) the future or stream.
//!
//! # Metrics
//!
//! [`record_metrics`](TenantConnections::record_metrics) publishes the store's
//! figures (pools, per-server connection budgets, per-tenant queries and
//! errors) through the `metrics` facade when an exporter is scraped; the
//! [`metrics`] module lists them.
//!
//! # Tracing
//!
//! Every routed call runs in a `debug`-level span `tenant_db` with fields `tenant`
//! and `op`; opening, evicting and failing pools are logged with the tenant.
//!
//! # Features
//!
//! `sqlite`, `postgres` and `mysql` (MySQL and MariaDB), all on by default.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod budget;
mod builder;
mod capacity;
pub mod config;
mod config_file;
mod connection;
mod context;
mod current;
mod error;
mod key;
pub mod limits;
pub mod metrics;
mod open;
mod redact;
mod registry;
mod release_check;
mod router;
mod schema;
#[cfg(feature = "postgres")]
mod schema_route;
#[cfg(not(feature = "postgres"))]
#[path = "schema_route_off.rs"]
mod schema_route;
mod session;
mod stats;
mod store;
mod tenant;
#[cfg(feature = "testing")]
pub mod testing;

pub use budget::{ServerKey, ServerStats};
pub use builder::TenantConnectionsBuilder;
pub use config::{
    ConfigError, PoolOptions, SchemaDatabase, ServerOptions, StoreOptions, TenantConfig,
    TenantsConfig,
};
pub use connection::RowStream;
pub use context::{Scoped, TenantContext, spawn, spawn_blocking};
pub use current::current_tenant;
pub use error::TenantError;
pub use key::{KeyError, MAX_KEY_LEN, TenantKey};
pub use redact::redact_url;
pub use router::{TenantDb, TenantStream};
pub use schema::{MAX_SCHEMA_LEN, SchemaName, SchemaNameError};
pub use session::TenantSession;
pub use stats::{StoreStats, TenantStats};
pub use store::{TenantConnection, TenantConnections};

/// Re-exported so users name the same SeaORM version.
pub use sea_orm;
