//! The tenant's lifecycle, in one place: **to create a tenant, call
//! [`Provisioner::create`]**; to drop one, [`Provisioner::drop`].
//!
//! * [`placement`](Placement): where new tenants go (a URL pattern, a
//!   schema database, or rows of a row database);
//! * [`storage`](Storage): the DDL that makes and removes what a tenant lives
//!   in (a database, a schema, a SQLite file), on administration pools
//!   counted in the store's per-server budget;
//! * [`Provisioner`]: create (claim the name in the catalog, make the storage,
//!   migrate it with the runner, register it), drop, switch off and on,
//!   template clones, and undoing a create that did not finish (a row
//!   tenant is a catalog row: no DDL; dropping it deletes its rows from every
//!   tenant table in one transaction);
//! * [`CatalogMigrator`]: the catalog's own tables; [`record_outcomes`]:
//!   the runner's results written back to the catalog.

mod background;
mod catalog_migration;
mod catalog_outcomes;
mod drop;
mod error;
mod export_import;
mod moving;
mod place;
mod placement;
mod provisioner;
mod row_data;
mod storage;
mod storage_error;
mod template;
mod undo;

pub use catalog_migration::CatalogMigrator;
pub use catalog_outcomes::record_outcomes;
pub use drop::Dropped;
pub use error::ProvisionError;
pub use moving::{MoveError, MoveOptions, Moved};
pub use place::Place;
pub use placement::Placement;
pub use provisioner::{Created, Provisioner};
pub use storage::Storage;
pub use storage_error::StorageError;
pub use template::DEFAULT_TEMPLATE;

pub(crate) use background::Background;
pub(crate) use row_data::TENANT_TABLES;
