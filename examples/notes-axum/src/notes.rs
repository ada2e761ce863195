//! The notes handlers. Each reads the request's tenant database through
//! [`RoutedDb`], put there by the tenant layer.

use std::fmt::Write as _;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QueryTrait,
};
use sea_orm_tenant_axum::RoutedDb;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::note;

/// Notes per page when `limit` is not given.
pub const DEFAULT_LIMIT: u64 = 100;
/// The largest `limit` accepted.
pub const MAX_LIMIT: u64 = 1000;
/// The longest note body accepted, in characters.
pub const MAX_BODY_CHARS: usize = 10_000;

/// A stored note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// The note's id, unique within its tenant.
    pub id: i32,
    /// The note's text.
    pub body: String,
}

impl From<note::Model> for Note {
    fn from(model: note::Model) -> Self {
        Self {
            id: model.id,
            body: model.body,
        }
    }
}

/// A note to create.
#[derive(Debug, Deserialize)]
pub struct NewNote {
    /// The note's text: 1 to 10,000 characters.
    pub body: String,
}

/// The query of `GET /notes`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// How many notes to return (1 to 1,000; default 100).
    pub limit: Option<u64>,
    /// Only notes with an id greater than this (for paging).
    pub after_id: Option<i32>,
}

fn bad(err: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(err.to_string())
}

/// `GET /notes`: the tenant's notes ordered by id.
pub async fn list(
    RoutedDb(db): RoutedDb,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<Note>>, ApiError> {
    let Query(query) = query.map_err(bad)?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    let mut find = note::Entity::find().order_by_asc(note::Column::Id);
    if let Some(after) = query.after_id {
        find = find.filter(note::Column::Id.gt(after));
    }
    // A literal LIMIT (a checked integer), as notes-server does.
    let mut statement = find.build(db.get_database_backend());
    let _ = write!(statement.sql, " LIMIT {limit}");
    let notes = note::Entity::find()
        .from_raw_sql(statement)
        .all(&db)
        .await
        .map_err(ApiError::from_db)?;
    Ok(Json(notes.into_iter().map(Note::from).collect()))
}

/// `POST /notes`: stores a note (201).
pub async fn create(
    RoutedDb(db): RoutedDb,
    note: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    let Json(note) = note.map_err(bad)?;
    // serde would read `["text"]` as a `NewNote`: the contract wants an object.
    if !note.is_object() {
        return Err(bad("the body must be a JSON object"));
    }
    let note: NewNote = serde_json::from_value(note).map_err(bad)?;
    let chars = note.body.chars().count();
    if !(1..=MAX_BODY_CHARS).contains(&chars) {
        return Err(bad(format!(
            "body must be 1 to {MAX_BODY_CHARS} characters, not {chars}"
        )));
    }
    let model = note::ActiveModel {
        id: ActiveValue::NotSet,
        body: ActiveValue::Set(note.body),
    }
    .insert(&db)
    .await
    .map_err(ApiError::from_db)?;
    Ok((StatusCode::CREATED, Json(model.into())))
}

/// `GET /notes/{id}`.
pub async fn get(
    RoutedDb(db): RoutedDb,
    id: Result<Path<i32>, PathRejection>,
) -> Result<Json<Note>, ApiError> {
    let Path(id) = id.map_err(|e| bad(format!("invalid note id: {e}")))?;
    note::Entity::find_by_id(id)
        .one(&db)
        .await
        .map_err(ApiError::from_db)?
        .map(|model| Json(model.into()))
        .ok_or(ApiError::NoteNotFound(id))
}

/// `DELETE /notes/{id}` (204).
pub async fn delete(
    RoutedDb(db): RoutedDb,
    id: Result<Path<i32>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id.map_err(|e| bad(format!("invalid note id: {e}")))?;
    let result = note::Entity::delete_by_id(id)
        .exec(&db)
        .await
        .map_err(ApiError::from_db)?;
    if result.rows_affected == 0 {
        return Err(ApiError::NoteNotFound(id));
    }
    Ok(StatusCode::NO_CONTENT)
}
