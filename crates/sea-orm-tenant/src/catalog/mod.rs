//! The tenant catalog: tenants as rows of a table in the shared database
//! ([`rows`], each an [`entry`]), and an instance following it ([`follower`]).

mod entry;
mod follower;
mod rows;

pub use crate::config::CatalogOptions;
pub use entry::{CatalogEntry, TenantState};
pub use follower::CatalogSync;
pub use rows::{CATALOG_TABLE, Catalog, CatalogError, GENERATION_TABLE, NOTIFY_CHANNEL};
