//! The store: tenants by name, their pools (opened once, bounded, evicted when
//! idle, within each server's budget), and leases that keep a pool open while
//! a call uses it. It knows no current tenant: that is `route`.

mod builder;
mod capacity;
mod closing;
mod entry;
mod growth;
mod heat;
mod held;
mod hold;
mod inner;
mod lease;
mod opening;
mod refresh;
mod registry;
mod replace;
#[cfg(feature = "postgres")]
mod row_audit;
mod server_permits;
mod service;
mod sessions;
mod signal;
mod stats;
mod tenant_connections;

pub use builder::TenantConnectionsBuilder;
pub use lease::TenantConnection;
pub use stats::{StoreStats, TenantStats};
pub use tenant_connections::TenantConnections;

pub(crate) use entry::Tenant;
pub(crate) use inner::Inner;
pub(crate) use refresh::Refresh;
