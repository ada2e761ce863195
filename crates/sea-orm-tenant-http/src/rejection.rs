//! [`TenantRejection`]: why a request was not run for a tenant, and its HTTP answer.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, StatusCode, header};
use sea_orm_tenant::sea_orm::DbErr;
use sea_orm_tenant::{DbFailure, KeyError, TenantError, TenantKey};

/// The `Retry-After` sent with a 503 unless the middleware is told otherwise
/// (`retry_after` of the poem middleware and of the axum layer).
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The longest piece of a client-supplied value quoted in an error message.
const QUOTE_LIMIT: usize = 64;

/// Why a request could not be run for a tenant.
///
/// With the `poem` feature it implements poem's `ResponseError` (return it from
/// handlers: `Err(rejection.into())`, or `?` in a handler returning
/// `poem::Result`); with the `axum` feature, axum's `IntoResponse`.
///
/// | variant | status |
/// |---|---|
/// | [`Missing`](Self::Missing), [`Malformed`](Self::Malformed), [`Conflict`](Self::Conflict) | 400 Bad Request |
/// | [`Switch`](Self::Switch) | 403 Forbidden |
/// | [`Unknown`](Self::Unknown) | 404 Not Found |
/// | [`Unavailable`](Self::Unavailable), [`Busy`](Self::Busy), [`Closed`](Self::Closed), [`OutOfService`](Self::OutOfService), [`DatabaseUnavailable`](Self::DatabaseUnavailable), [`SchemaMissing`](Self::SchemaMissing) | 503 Service Unavailable, with `Retry-After` |
/// | [`NoTenant`](Self::NoTenant) | 500 Internal Server Error (a wiring bug, never a bad client value) |
/// | [`Store`](Self::Store) | 503 for `SharedUnavailable`, otherwise 500 |
///
/// The default body is JSON `{"error": "<message>", "tenant": "<name>"}`; the
/// `tenant` field is present only when the variant carries a valid, registered-or-not
/// tenant name ([`tenant`](Self::tenant)). Replace the whole response with
/// the adapter's `on_rejection`.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TenantRejection {
    /// No configured source gave a tenant name.
    #[error("no tenant given: expected {expected}")]
    Missing {
        /// The configured sources, for example "header X-Tenant or query parameter tenant".
        expected: String,
    },
    /// The tenant name is not a valid [`TenantKey`].
    #[error("malformed tenant name from {from}: {reason}")]
    Malformed {
        /// Where the name came from, for example "header X-Tenant".
        from: String,
        /// Why it is not valid.
        #[source]
        reason: KeyError,
    },
    /// Two sources gave different tenant names.
    #[error(
        "tenant sources disagree: {first_from} gives {first:?}, {second_from} gives {second:?}"
    )]
    Conflict {
        /// The first source that gave a name.
        first_from: String,
        /// Its value (at most 64 characters quoted).
        first: String,
        /// The source that disagreed.
        second_from: String,
        /// Its value (at most 64 characters quoted).
        second: String,
    },
    /// The tenant name is valid but not registered.
    #[error("unknown tenant {0}")]
    Unknown(TenantKey),
    /// The tenant's database cannot be opened right now. The reason is kept for
    /// logs (with any password masked) and is not shown to the client.
    #[error("the database of tenant {tenant} is unavailable; retry later")]
    Unavailable {
        /// The tenant.
        tenant: TenantKey,
        /// What failed.
        reason: String,
    },
    /// Every open pool is busy and the store may open no more (`max_open_pools`).
    #[error("too many tenant databases are busy; retry later (tenant {tenant})")]
    Busy {
        /// The tenant whose database could not be opened.
        tenant: TenantKey,
    },
    /// The tenant store was closed (the server is shutting down).
    #[error("the tenant store is closed")]
    Closed,
    /// The tenant is out of service (quarantined): its requests are refused
    /// until it is put back. The reason is kept for logs, not shown.
    #[error("tenant {tenant} is out of service; retry later")]
    OutOfService {
        /// The tenant.
        tenant: TenantKey,
        /// Why, for operators.
        reason: String,
    },
    /// A database call of the request failed because the database cannot
    /// serve now (unreachable, restarting, out of connections, locked):
    /// [`DbFailure::Unavailable`](sea_orm_tenant::DbFailure::Unavailable).
    /// The error is kept for logs, not shown.
    #[error("the database{} is unavailable; retry later", tenant_phrase(.tenant.as_ref()))]
    DatabaseUnavailable {
        /// The request's tenant, when there is one.
        tenant: Option<TenantKey>,
        /// The database error.
        reason: String,
    },
    /// A database call of the request needs a table that does not exist: the
    /// database's migrations have not run
    /// ([`DbFailure::SchemaMissing`](sea_orm_tenant::DbFailure::SchemaMissing)).
    #[error("the database{} is missing tables: its migrations have not run", tenant_phrase(.tenant.as_ref()))]
    SchemaMissing {
        /// The request's tenant, when there is one.
        tenant: Option<TenantKey>,
        /// The database error.
        reason: String,
    },
    /// The handler tried to use another tenant than the request's
    /// (`with_tenant` for a different tenant inside the request): refused as a
    /// cross-tenant access attempt.
    #[error(
        "cross-tenant access refused: this request belongs to tenant {current}, not {requested}"
    )]
    Switch {
        /// The request's tenant.
        current: TenantKey,
        /// The tenant the handler asked for.
        requested: TenantKey,
    },
    /// The code asked for the current tenant where none is set: a route that is
    /// exempt or not behind the tenant middleware.
    #[error("no tenant is current on this route (exempt or not behind TenantMiddleware)")]
    NoTenant,
    /// Any other store error (shared database, configuration).
    #[error(transparent)]
    Store(TenantError),
}

impl TenantRejection {
    /// The HTTP status this rejection answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing { .. } | Self::Malformed { .. } | Self::Conflict { .. } => {
                StatusCode::BAD_REQUEST
            }
            Self::Switch { .. } => StatusCode::FORBIDDEN,
            Self::Unknown(_) => StatusCode::NOT_FOUND,
            Self::Unavailable { .. }
            | Self::Busy { .. }
            | Self::Closed
            | Self::OutOfService { .. }
            | Self::DatabaseUnavailable { .. }
            | Self::SchemaMissing { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(TenantError::SharedUnavailable { .. } | TenantError::Busy { .. }) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::NoTenant | Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The valid tenant name this rejection is about, shown in the body's
    /// `tenant` field; `None` when the name was missing, malformed or ambiguous.
    pub fn tenant(&self) -> Option<&TenantKey> {
        match self {
            Self::Unknown(t)
            | Self::Unavailable { tenant: t, .. }
            | Self::Busy { tenant: t }
            | Self::Switch { current: t, .. }
            | Self::OutOfService { tenant: t, .. } => Some(t),
            Self::DatabaseUnavailable { tenant, .. } | Self::SchemaMissing { tenant, .. } => {
                tenant.as_ref()
            }
            Self::Store(err) => err.tenant(),
            _ => None,
        }
    }

    /// The default JSON body: `{"error": "...", "tenant": "..."}`.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        body.insert("error".to_owned(), self.to_string().into());
        if let Some(tenant) = self.tenant() {
            body.insert("tenant".to_owned(), tenant.as_str().into());
        }
        serde_json::Value::Object(body)
    }

    /// Why the store gave no lease for a name found in source `from`: a
    /// malformed name names its source; an unavailable or busy database is
    /// logged at `warn`.
    pub fn of_lease(from: &str, err: TenantError) -> Self {
        match err {
            TenantError::InvalidKey(reason) => Self::malformed(from, reason),
            err => {
                if matches!(
                    err,
                    TenantError::Unavailable { .. }
                        | TenantError::PoolLimit { .. }
                        | TenantError::Busy { .. }
                ) {
                    tracing::warn!(error = %err, "tenant database unavailable");
                }
                Self::from(err)
            }
        }
    }

    /// Recovers the routing error carried by a `DbErr` from a `TenantDb` call.
    pub fn from_db_err(err: &DbErr) -> Option<Self> {
        TenantError::from_db_err(err).cloned().map(Self::from)
    }

    /// A [`Malformed`](Self::Malformed) name from source `from`.
    pub fn malformed(from: &str, reason: KeyError) -> Self {
        Self::Malformed {
            from: from.to_owned(),
            reason,
        }
    }

    /// A [`Conflict`](Self::Conflict) between two sources, each value quoted to at most 64 characters.
    pub fn conflict(first_from: &str, first: &str, second_from: &str, second: &str) -> Self {
        Self::Conflict {
            first_from: first_from.to_owned(),
            first: quote(first),
            second_from: second_from.to_owned(),
            second: quote(second),
        }
    }
}

/// Sets `Retry-After` (whole seconds, at least 1) on the headers of a 503
/// response that lacks one.
pub fn add_retry_after(status: StatusCode, headers: &mut HeaderMap, retry_after: Duration) {
    if status == StatusCode::SERVICE_UNAVAILABLE && !headers.contains_key(header::RETRY_AFTER) {
        let secs = retry_after.as_secs().max(1);
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
}

fn tenant_phrase(tenant: Option<&TenantKey>) -> String {
    tenant
        .map(|t| format!(" of tenant {t}"))
        .unwrap_or_default()
}

fn quote(value: &str) -> String {
    value.chars().take(QUOTE_LIMIT).collect()
}

impl From<TenantError> for TenantRejection {
    fn from(err: TenantError) -> Self {
        match err {
            TenantError::InvalidKey(reason) => Self::malformed("the tenant name", reason),
            TenantError::Unknown(key) => Self::Unknown(key),
            TenantError::NoTenant => Self::NoTenant,
            TenantError::Switch { current, requested } => Self::Switch { current, requested },
            TenantError::Unavailable { tenant, reason } => Self::Unavailable { tenant, reason },
            TenantError::SchemaMissing { tenant, schema } => Self::Unavailable {
                tenant,
                reason: format!("its schema {schema} does not exist"),
            },
            TenantError::PoolLimit { tenant, .. }
            | TenantError::Busy {
                tenant: Some(tenant),
                ..
            } => Self::Busy { tenant },
            TenantError::Closed => Self::Closed,
            TenantError::OutOfService { tenant, reason } => Self::OutOfService { tenant, reason },
            TenantError::RowsUnprotected { tenant, .. } => Self::Unavailable {
                tenant,
                reason: "its database does not keep row tenants to their own rows".into(),
            },
            other => Self::Store(other),
        }
    }
}

impl TenantRejection {
    /// The rejection a failed database call of a request answers with
    /// ([`DbFailure`](sea_orm_tenant::DbFailure)); `None` for a bug (a 500).
    pub fn from_failure(err: &DbErr) -> Option<Self> {
        let tenant = sea_orm_tenant::current_tenant;
        match DbFailure::of(err) {
            DbFailure::Routing(routing) => Some(Self::from(routing)),
            DbFailure::Unavailable => {
                tracing::warn!(error = %err, "database unavailable");
                Some(Self::DatabaseUnavailable {
                    tenant: tenant(),
                    reason: err.to_string(),
                })
            }
            DbFailure::SchemaMissing => {
                tracing::warn!(error = %err, "database tables missing");
                Some(Self::SchemaMissing {
                    tenant: tenant(),
                    reason: err.to_string(),
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_table() {
        let acme = TenantKey::new("acme").unwrap();
        let cases = [
            (
                TenantRejection::Missing {
                    expected: "x".into(),
                },
                400,
            ),
            (TenantRejection::malformed("x", KeyError::Empty), 400),
            (TenantRejection::conflict("a", "b", "c", "d"), 400),
            (TenantRejection::Unknown(acme.clone()), 404),
            (
                TenantRejection::Unavailable {
                    tenant: acme.clone(),
                    reason: "down".into(),
                },
                503,
            ),
            (
                TenantRejection::Busy {
                    tenant: acme.clone(),
                },
                503,
            ),
            (TenantRejection::Closed, 503),
            (
                TenantRejection::Switch {
                    current: acme.clone(),
                    requested: TenantKey::new("globex").unwrap(),
                },
                403,
            ),
            (TenantRejection::NoTenant, 500),
        ];
        for (rejection, status) in cases {
            assert_eq!(rejection.status().as_u16(), status, "{rejection:?}");
        }
    }

    #[test]
    fn unavailable_body_hides_the_reason() {
        let r = TenantRejection::Unavailable {
            tenant: TenantKey::new("acme").unwrap(),
            reason: "connection refused to db.internal:5432".into(),
        };
        let body = r.body().to_string();
        assert!(!body.contains("db.internal"), "{body}");
        assert_eq!(r.body()["tenant"], "acme");
    }

    #[test]
    fn conflict_quotes_at_most_64_characters() {
        let long = "x".repeat(1000);
        let TenantRejection::Conflict { first, .. } =
            TenantRejection::conflict("a", &long, "b", "c")
        else {
            unreachable!()
        };
        assert_eq!(first.len(), 64);
    }
}
