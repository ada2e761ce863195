//! Errors of the notes API and their JSON answers: `{"error": "..."}`.

use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
use sea_orm::DbErr;
use sea_orm_tenant_poem::TenantRejection;

/// The body of every error answer.
#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
}

/// Why a notes request failed. One variant per cause.
#[derive(Debug, thiserror::Error)]
pub enum NotesError {
    /// No note has this id (in the current tenant's database).
    #[error("note {0} not found")]
    NoteNotFound(i32),
    /// The request could not be served for its tenant now: routing refused
    /// it (unknown tenant, database not openable, out of service), or the
    /// database cannot serve (restarting, locked) or lacks its tables.
    #[error(transparent)]
    Routing(TenantRejection),
    /// Any other database error (details are logged, not sent).
    #[error("internal database error")]
    Database(DbErr),
}

impl NotesError {
    /// Turns a database error into the answer, sorted by the library's
    /// [`DbFailure`](sea_orm_tenant::DbFailure): 503 for a database that
    /// cannot serve now or lacks its tables, 500 for anything else.
    pub fn from_db(err: DbErr) -> Self {
        match TenantRejection::from_failure(&err) {
            Some(rejection) => Self::Routing(rejection),
            None => {
                tracing::error!(error = %err, "database error");
                Self::Database(err)
            }
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoteNotFound(_) => StatusCode::NOT_FOUND,
            Self::Routing(rejection) => rejection.status(),
            Self::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The error answers of the notes operations, as documented in the OpenAPI spec.
///
/// Requests that fail to parse (body, id, query) never reach a handler: poem-openapi
/// rejects them, and the app's error catcher answers them 400 with this body.
#[derive(Debug, ApiResponse)]
pub enum ErrorResponse {
    /// Invalid tenant, body, id or query parameter.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Unknown tenant, or no note with this id.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// Unexpected server error.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The tenant's database is unavailable or not migrated.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

impl From<NotesError> for ErrorResponse {
    fn from(err: NotesError) -> Self {
        let status = err.status();
        let body = Json(ErrorBody {
            error: err.to_string(),
        });
        match status {
            StatusCode::BAD_REQUEST => Self::BadRequest(body),
            StatusCode::NOT_FOUND => Self::NotFound(body),
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable(body),
            _ => Self::Internal(body),
        }
    }
}

/// A JSON error answer for errors raised outside the notes operations
/// (unknown route, wrong method, tenant rejected by the middleware).
pub fn json_error(status: StatusCode, message: impl Into<String>) -> poem::Response {
    let body = serde_json::json!({ "error": message.into() });
    poem::Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(body.to_string())
}
