//! Errors of the notes API and their JSON answers: `{"error": "..."}`.

use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
use sea_orm::{DbBackend, DbErr};
use sea_orm_tenant::current_tenant;
use sea_orm_tenant_poem::TenantRejection;

use crate::db_failure::DbFailure;

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
    /// The tenant router refused the request (unknown tenant, database not openable...).
    #[error(transparent)]
    Routing(TenantRejection),
    /// The database cannot be reached or is locked.
    #[error("the database of {} is unavailable; try again later", tenant_phrase(.tenant))]
    Unavailable {
        /// The tenant, when there is one.
        tenant: Option<String>,
    },
    /// The database has no `notes` table: migrations have not run.
    #[error("the database of {} has no notes table: its migrations have not run", tenant_phrase(.tenant))]
    SchemaMissing {
        /// The tenant, when there is one.
        tenant: Option<String>,
    },
    /// Any other database error (details are logged, not sent).
    #[error("internal database error")]
    Database(DbErr),
}

fn tenant_phrase(tenant: &Option<String>) -> String {
    match tenant {
        Some(t) => format!("tenant {t}"),
        None => "this server".to_owned(),
    }
}

impl NotesError {
    /// Turns a database error from a call on a `backend` database into the answer.
    pub fn from_db(err: DbErr, backend: DbBackend) -> Self {
        let tenant = current_tenant().map(|t| t.to_string());
        match DbFailure::classify(&err, backend) {
            DbFailure::Routing(routing) => Self::Routing(routing.into()),
            DbFailure::Unavailable => {
                tracing::warn!(error = %err, "database unavailable");
                Self::Unavailable { tenant }
            }
            DbFailure::SchemaMissing => {
                tracing::warn!(error = %err, "notes table missing");
                Self::SchemaMissing { tenant }
            }
            DbFailure::Other => {
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
            Self::Unavailable { .. } | Self::SchemaMissing { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
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
