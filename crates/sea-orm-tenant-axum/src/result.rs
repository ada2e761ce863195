//! [`TenantResultExt`]: tenant and database errors as axum responses.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use sea_orm_tenant::TenantError;
use sea_orm_tenant::sea_orm::DbErr;
use sea_orm_tenant_http::TenantRejection;

/// Turns tenant routing errors into HTTP answers in handlers:
/// `store.with_tenant(..).await.into_axum()?` or `query.all(&db).await.into_axum()?`.
///
/// The same mapping as the poem crate's `into_poem`: a [`TenantError`]
/// (bare, or carried inside a `DbErr` from a `TenantDb` call) becomes a
/// [`TenantRejection`] with its status (a `with_tenant` switch to another
/// tenant: 403); a database that cannot serve now is a 503 with
/// `Retry-After`, missing tables a 503, any other `DbErr` a 500 whose error
/// is logged, never sent.
pub trait TenantResultExt<T> {
    /// Converts the error into an axum response with the right status.
    fn into_axum(self) -> Result<T, Response>;
}

impl<T> TenantResultExt<T> for Result<T, TenantError> {
    fn into_axum(self) -> Result<T, Response> {
        self.map_err(|err| TenantRejection::from(err).into_response())
    }
}

impl<T> TenantResultExt<T> for Result<T, DbErr> {
    fn into_axum(self) -> Result<T, Response> {
        self.map_err(|err| match TenantRejection::from_failure(&err) {
            Some(rejection) => rejection.into_response(),
            None => {
                tracing::error!(error = %err, "database error");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        })
    }
}
