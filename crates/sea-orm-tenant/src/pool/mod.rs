//! Connections to database servers: opening them within each server's
//! budget, checking them when they go back to a pool, and running the calls
//! of tenants that share a pool (schema and row tenants of a PostgreSQL
//! database, database tenants of a MySQL server) on their seats.
//!
//! Nothing here knows tenants by name or which tenant is current: `store`
//! and `route` build on this layer.

pub mod budget;
#[cfg(feature = "mysql")]
pub(crate) mod mysql_route;
#[cfg(feature = "mysql")]
mod mysql_session;
pub(crate) mod opened;
pub(crate) mod opener;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod park;
#[cfg(all(test, feature = "sqlite", any(feature = "postgres", feature = "mysql")))]
mod park_tests;
#[cfg(feature = "postgres")]
pub(crate) mod pg_route;
pub(crate) mod release_check;
pub(crate) mod seat;
mod session;
#[cfg(feature = "postgres")]
mod session_state;
pub(crate) mod shared_route;
pub(crate) mod sqlite_readers;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod sqlx_call;

pub use session::TenantSession;
