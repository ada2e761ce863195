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
    fn into_axum(self) -> Result<T, ErrorResponse>;
}

/// An error answer ready to send: a handler returning
/// `Result<_, ErrorResponse>` can use `?` on [`TenantResultExt::into_axum`].
/// (A boxed `Response`, so that `Result`s carrying it stay small.)
#[derive(Debug)]
pub struct ErrorResponse(Box<Response>);

impl ErrorResponse {
    /// The response's status.
    pub fn status(&self) -> StatusCode {
        self.0.status()
    }
}

impl From<Response> for ErrorResponse {
    fn from(resp: Response) -> Self {
        Self(Box::new(resp))
    }
}

impl From<TenantRejection> for ErrorResponse {
    fn from(rejection: TenantRejection) -> Self {
        rejection.into_response().into()
    }
}

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl<T> TenantResultExt<T> for Result<T, TenantError> {
    fn into_axum(self) -> Result<T, ErrorResponse> {
        self.map_err(|err| TenantRejection::from(err).into())
    }
}

impl<T> TenantResultExt<T> for Result<T, DbErr> {
    fn into_axum(self) -> Result<T, ErrorResponse> {
        self.map_err(|err| match TenantRejection::from_failure(&err) {
            Some(rejection) => rejection.into(),
            None => {
                tracing::error!(error = %err, "database error");
                StatusCode::INTERNAL_SERVER_ERROR.into_response().into()
            }
        })
    }
}
