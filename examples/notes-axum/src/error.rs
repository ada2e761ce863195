//! Errors of the notes API and their JSON answers: `{"error": "..."}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sea_orm::DbErr;
use sea_orm_tenant_axum::TenantRejection;

/// Why a notes request failed.
#[derive(Debug)]
pub enum ApiError {
    /// An invalid body, id or query parameter (400).
    BadRequest(String),
    /// No note has this id (404).
    NoteNotFound(i32),
    /// The request could not be served for its tenant now (its status).
    Routing(TenantRejection),
    /// Any other database error (500; details logged, not sent).
    Database,
}

impl ApiError {
    /// Sorts a database error: a database that cannot serve now or lacks its
    /// tables is a 503, anything else a 500.
    pub fn from_db(err: DbErr) -> Self {
        match TenantRejection::from_failure(&err) {
            Some(rejection) => Self::Routing(rejection),
            None => {
                tracing::error!(error = %err, "database error");
                Self::Database
            }
        }
    }
}

/// A JSON error answer.
pub fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::BadRequest(message) => json_error(StatusCode::BAD_REQUEST, message),
            Self::NoteNotFound(id) => {
                json_error(StatusCode::NOT_FOUND, format!("note {id} not found"))
            }
            Self::Routing(rejection) => rejection.into_response(),
            Self::Database => {
                json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal database error")
            }
        }
    }
}
