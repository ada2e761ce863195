//! Row tenants' protection: the row-level security that keeps each tenant
//! to its own rows of the shared tables ([`RowTable`], the statements a
//! migration runs), and the audit that checks it from the server's catalogs
//! ([`audit`]) before the store serves any row tenant.
//!
//! The database decides which rows a call sees: each table with the tenant
//! column ([`TENANT_COLUMN`]) has row-level security enabled and forced, and
//! a policy comparing the column with the session's tenant setting
//! ([`TENANT_SETTING`]), which the router sets on every checkout and the
//! server reports back after every call. With no tenant set, or the setting
//! reset or emptied, the policy compares with `NULL`: no row is visible and
//! no row can be written.

pub(crate) mod audit;
mod policy;

pub use audit::{RowAudit, RowFinding, audit};
pub use policy::{
    CURRENT_TENANT_SQL, POLICY_NAME, ROW_SCHEMA, RowTable, RowTableError, TENANT_COLUMN,
    TENANT_SETTING,
};
