//! [`ProvisionError`]: why a tenant could not be created or dropped, one
//! variant per cause.

use sea_orm_tenant::{CatalogError, ConfigError, KeyError, TenantKey, TenantState};

use super::storage_error::StorageError;

/// Why a tenant could not be created or dropped. A failed create left nothing
/// behind.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// The name is not a valid tenant name: nothing was touched.
    #[error("invalid tenant name {name:?}: {source}")]
    InvalidName {
        /// The name, cut to 80 characters.
        name: String,
        /// What is wrong with it.
        source: KeyError,
    },
    /// The tenant exists (in the catalog, the store or as storage): nothing was
    /// touched, and nothing the other creator made was dropped.
    #[error("tenant {tenant} already exists")]
    AlreadyExists {
        /// The tenant.
        tenant: TenantKey,
    },
    /// The tenant is not known (to the catalog, or to the store without one).
    #[error("tenant {tenant} does not exist")]
    NotFound {
        /// The tenant.
        tenant: TenantKey,
    },
    /// The placement cannot hold this tenant (a bad schema or database name, an
    /// unset `${VAR}`).
    #[error("cannot place tenant {tenant}: {reason}")]
    Placement {
        /// The tenant.
        tenant: TenantKey,
        /// Why.
        reason: String,
    },
    /// Creating or dropping the storage failed.
    #[error("tenant {tenant}: {source}")]
    Storage {
        /// The tenant.
        tenant: TenantKey,
        /// The storage error.
        source: StorageError,
    },
    /// The migrations failed; the storage was dropped again.
    #[error("tenant {tenant}: migration failed: {reason}")]
    Migration {
        /// The tenant.
        tenant: TenantKey,
        /// The migration error.
        reason: String,
    },
    /// The tenant is being created or dropped: it cannot be switched on or off.
    #[error(
        "tenant {tenant} is {state}; only active, quarantined or disabled tenants can be switched on or off"
    )]
    WrongState {
        /// The tenant.
        tenant: TenantKey,
        /// Its state.
        state: TenantState,
    },
    /// The catalog could not be read or written.
    #[error("tenant {tenant}: {source}")]
    Catalog {
        /// The tenant.
        tenant: TenantKey,
        /// The catalog error.
        source: CatalogError,
    },
    /// The tenant could not be registered in this instance's store.
    #[error("tenant {tenant}: {source}")]
    Register {
        /// The tenant.
        tenant: TenantKey,
        /// The configuration error.
        source: ConfigError,
    },
}

impl ProvisionError {
    /// The tenant concerned, when the name was valid.
    pub fn tenant(&self) -> Option<&TenantKey> {
        match self {
            Self::InvalidName { .. } => None,
            Self::AlreadyExists { tenant }
            | Self::NotFound { tenant }
            | Self::Placement { tenant, .. }
            | Self::Storage { tenant, .. }
            | Self::Migration { tenant, .. }
            | Self::WrongState { tenant, .. }
            | Self::Catalog { tenant, .. }
            | Self::Register { tenant, .. } => Some(tenant),
        }
    }
}
