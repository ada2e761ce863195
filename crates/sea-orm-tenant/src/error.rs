//! [`TenantError`]: why a call could not be routed to a tenant's database.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DbErr, TransactionError};

use crate::config::ConfigError;
use crate::key::{KeyError, TenantKey};
use crate::rows::audit::RowFinding;
use crate::schema::SchemaName;

/// Why a call could not be routed to a tenant's database.
///
/// Through SeaORM's traits this arrives wrapped in a [`DbErr`]; recover it with
/// [`TenantError::from_db_err`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TenantError {
    /// The tenant name is malformed.
    #[error("invalid tenant name: {0}")]
    InvalidKey(#[from] KeyError),
    /// The tenant is out of service (quarantined, by the catalog or by
    /// [`set_out_of_service`](crate::TenantConnections::set_out_of_service)):
    /// its requests are refused until it is put back.
    #[error("tenant {tenant} is out of service: {reason}")]
    OutOfService {
        /// The tenant.
        tenant: TenantKey,
        /// Why, for operators.
        reason: String,
    },
    /// The tenant name is valid but not registered in the store.
    #[error("unknown tenant {0}: it is not registered")]
    Unknown(TenantKey),
    /// A query ran with no tenant current: wrap it in `with_tenant`. There is no default database.
    #[error("no tenant is current: run the query inside `with_tenant` (or the tenant middleware)")]
    NoTenant,
    /// `with_tenant` asked for a different tenant while one was already current.
    #[error("cannot switch to tenant {requested} while tenant {current} is current")]
    Switch {
        /// The tenant already current.
        current: TenantKey,
        /// The tenant asked for.
        requested: TenantKey,
    },
    /// The tenant's database could not be opened (unreachable, missing, timed out).
    /// Nothing is cached: the next use tries again.
    #[error("database of tenant {tenant} is unavailable: {reason}")]
    Unavailable {
        /// The tenant.
        tenant: TenantKey,
        /// What failed, with any password masked.
        reason: String,
    },
    /// `max_open_pools` pools are open and all are busy; none became idle in time.
    #[error(
        "cannot open a pool for tenant {tenant}: all {max_open_pools} open pools stayed busy for {waited:?}"
    )]
    PoolLimit {
        /// The tenant whose pool could not be opened.
        tenant: TenantKey,
        /// The store's limit.
        max_open_pools: usize,
        /// How long the call waited for an idle pool.
        waited: Duration,
    },
    /// The database server's connection budget stayed full, with nothing idle
    /// to close, for the whole acquire timeout. Try again later.
    #[error(
        "no room on database server {server}{}: all {budget} connections of its budget stayed in use for {waited:?}",
        tenant.as_ref().map(|t| format!(" for tenant {t}")).unwrap_or_default()
    )]
    Busy {
        /// The tenant that needed connections; `None` for the shared database.
        tenant: Option<TenantKey>,
        /// The server, `host:port`.
        server: String,
        /// The server's budget.
        budget: usize,
        /// How long the call waited.
        waited: Duration,
    },
    /// The store was closed with [`close`](crate::TenantConnections::close).
    #[error("the tenant store is closed")]
    Closed,
    /// The store has no shared database configured.
    #[error("no shared database is configured")]
    NoSharedDatabase,
    /// The shared database could not be opened.
    #[error("shared database is unavailable: {reason}")]
    SharedUnavailable {
        /// What failed, with any password masked.
        reason: String,
    },
    /// A schema tenant's schema does not exist in its database (never created,
    /// or dropped while serving). Nothing ran, and nothing fell through to
    /// another schema.
    #[error("schema {schema} of tenant {tenant} does not exist in its database")]
    SchemaMissing {
        /// The tenant.
        tenant: TenantKey,
        /// Its schema.
        schema: SchemaName,
    },
    /// A row tenant's database does not keep row tenants to their own rows
    /// (the [audit](crate::rows::audit) made when its pool opens found a
    /// broken rule): the store refuses to serve its row tenants until the
    /// database or the role is fixed.
    #[error(
        "row tenant {tenant} is refused: its database does not keep row tenants to their own rows: {}",
        findings.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    RowsUnprotected {
        /// The tenant.
        tenant: TenantKey,
        /// The rules broken.
        findings: Vec<RowFinding>,
    },
    /// A tenant's configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

const FROM: &str = "the current tenant";
const INTO: &str = "a database connection";

impl TenantError {
    /// Recovers the routing error from a [`DbErr`] returned by a [`TenantDb`](crate::TenantDb) call.
    ///
    /// Returns `None` for ordinary database errors.
    pub fn from_db_err(err: &DbErr) -> Option<&TenantError> {
        match err {
            DbErr::TryIntoErr {
                from: FROM,
                into: INTO,
                source,
            } => source.downcast_ref::<TenantError>(),
            _ => None,
        }
    }

    /// Recovers the routing error from a failed `transaction(..)` call.
    pub fn from_transaction_err<E>(err: &TransactionError<E>) -> Option<&TenantError>
    where
        E: std::error::Error,
    {
        match err {
            TransactionError::Connection(db) => Self::from_db_err(db),
            TransactionError::Transaction(_) => None,
        }
    }

    /// The same error about `tenant`: a schema tenant's call fails on its
    /// database's pool, and the error names the tenant, not the pool.
    pub(crate) fn about(self, tenant: &TenantKey) -> Self {
        match self {
            Self::Unavailable { reason, .. } => Self::Unavailable {
                tenant: tenant.clone(),
                reason,
            },
            Self::PoolLimit {
                max_open_pools,
                waited,
                ..
            } => Self::PoolLimit {
                tenant: tenant.clone(),
                max_open_pools,
                waited,
            },
            Self::Busy {
                server,
                budget,
                waited,
                ..
            } => Self::Busy {
                tenant: Some(tenant.clone()),
                server,
                budget,
                waited,
            },
            Self::RowsUnprotected { findings, .. } => Self::RowsUnprotected {
                tenant: tenant.clone(),
                findings,
            },
            other => other,
        }
    }

    /// The same error from opening the shared database.
    pub(crate) fn for_shared(self) -> Self {
        match self {
            Self::Unavailable { reason, .. } => Self::SharedUnavailable { reason },
            other => other,
        }
    }

    /// The tenant this error is about, when there is one.
    pub fn tenant(&self) -> Option<&TenantKey> {
        match self {
            Self::Unknown(t)
            | Self::Unavailable { tenant: t, .. }
            | Self::PoolLimit { tenant: t, .. }
            | Self::SchemaMissing { tenant: t, .. }
            | Self::OutOfService { tenant: t, .. }
            | Self::RowsUnprotected { tenant: t, .. } => Some(t),
            Self::Busy { tenant, .. } => tenant.as_ref(),
            Self::Switch { requested, .. } => Some(requested),
            _ => None,
        }
    }
}

/// Wraps the error so SeaORM can carry it; the message reads
/// "Error converting `the current tenant` into `a database connection`: REASON".
impl From<TenantError> for DbErr {
    fn from(err: TenantError) -> Self {
        DbErr::TryIntoErr {
            from: FROM,
            into: INTO,
            source: Arc::new(err),
        }
    }
}
