//! Connections to database servers: opening them within each server's
//! budget, checking them when they go back to a pool, and running a schema
//! tenant's calls on the shared pool of its database.
//!
//! Nothing here knows tenants by name or which tenant is current: `store`
//! and `route` build on this layer.

pub mod budget;
pub(crate) mod opened;
pub(crate) mod opener;
#[cfg(feature = "postgres")]
mod park;
pub(crate) mod release_check;
pub(crate) mod seat;
mod session;
#[cfg(feature = "postgres")]
mod session_state;
#[cfg(feature = "postgres")]
pub(crate) mod shared_route;
#[cfg(not(feature = "postgres"))]
#[path = "shared_route_off.rs"]
pub(crate) mod shared_route;
pub(crate) mod sqlite_readers;

pub use session::TenantSession;
