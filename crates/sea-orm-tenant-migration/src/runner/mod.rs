//! The runner: a sea-orm-migration `Migrator` applied to many tenants in
//! parallel, each under its migration lock, with a report.

pub(crate) mod apply;
mod error;
mod finish;
pub(crate) mod lock;
mod migrator;
mod operation;
mod options;
pub(crate) mod progress;
mod report;
mod target;
mod versions;

pub use error::{LockError, MigrateError, TenantFailure};
pub use migrator::{TenantMigrator, migrate_all, migrate_tenants};
pub use operation::Operation;
pub use options::{DEFAULT_LOCK_TIMEOUT, RunOptions, default_jobs};
pub use progress::ProgressMode;
pub use report::{Outcome, RunReport, SHARED, Summary, TenantReport};
