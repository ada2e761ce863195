//! [`TenantRejection`] (shared with the axum crate: [`sea_orm_tenant_http`])
//! and [`TenantResultExt`], which turns tenant errors into poem errors.

use std::time::Duration;

use poem::Response;
use sea_orm_tenant::TenantError;
use sea_orm_tenant::sea_orm::DbErr;
pub use sea_orm_tenant_http::{DEFAULT_RETRY_AFTER, TenantRejection};

/// Sets `Retry-After` (whole seconds, at least 1) on a 503 response that lacks one.
pub(crate) fn add_retry_after(resp: &mut Response, retry_after: Duration) {
    let status = resp.status();
    sea_orm_tenant_http::add_retry_after(status, resp.headers_mut(), retry_after);
}

/// Turns tenant routing errors into HTTP answers in handlers:
/// `store.with_tenant(..).await.into_poem()?` or `query.all(&db).await.into_poem()?`.
///
/// A [`TenantError`] (bare, or carried inside a `DbErr` from a `TenantDb` call)
/// becomes a [`TenantRejection`] with its status (a `with_tenant` switch to
/// another tenant: 403). Any other `DbErr` is sorted by
/// [`DbFailure`](sea_orm_tenant::DbFailure): a database that cannot serve now
/// (restarting, unreachable, out of connections) is a 503 with `Retry-After`,
/// missing tables a 503, anything else a 500. The database error is logged,
/// never sent.
pub trait TenantResultExt<T> {
    /// Converts the error into a `poem::Error` with the right status.
    fn into_poem(self) -> poem::Result<T>;
}

impl<T> TenantResultExt<T> for Result<T, TenantError> {
    fn into_poem(self) -> poem::Result<T> {
        self.map_err(|err| TenantRejection::from(err).into())
    }
}

impl<T> TenantResultExt<T> for Result<T, DbErr> {
    fn into_poem(self) -> poem::Result<T> {
        self.map_err(|err| match TenantRejection::from_failure(&err) {
            Some(rejection) => rejection.into(),
            None => {
                tracing::error!(error = %err, "database error");
                poem::error::InternalServerError(err)
            }
        })
    }
}
