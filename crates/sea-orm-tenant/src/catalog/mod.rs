//! The tenant catalog: tenants as rows of a table in the shared database
//! ([`rows`]), and an instance following it ([`follower`]).

mod follower;
mod rows;

pub use crate::config::CatalogOptions;
pub use follower::CatalogSync;
pub use rows::{
    CATALOG_TABLE, Catalog, CatalogEntry, CatalogError, GENERATION_TABLE, NOTIFY_CHANNEL,
    TenantState,
};
