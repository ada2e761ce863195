//! The notes operations, generic over the connection ([`TenantDb`](sea_orm_tenant::TenantDb)
//! in the real server, one plain `DatabaseConnection` in the benchmark baseline)
//! and over how the tenant is declared ([`TenantArgs`]).

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Serialize;
use std::fmt::Write as _;
use std::marker::PhantomData;

use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QueryTrait,
};

use crate::error::{ErrorResponse, NotesError};
use crate::json_body::JsonBody;
use crate::note;
use crate::tenant_args::TenantArgs;

/// Notes per page when `limit` is not given.
pub const DEFAULT_LIMIT: u64 = 100;
/// The largest `limit` accepted.
pub const MAX_LIMIT: u64 = 1000;
/// The longest note body accepted, in characters.
pub const MAX_BODY_CHARS: usize = 10_000;

/// A stored note.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
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
#[derive(Debug, Clone, Object)]
pub struct NewNote {
    /// The note's text: 1 to 10,000 characters.
    #[oai(validator(min_length = 1, max_length = 10000))]
    pub body: String,
}

/// Answer of `POST /notes`.
#[derive(Debug, ApiResponse)]
pub enum Created {
    /// The note was stored.
    #[oai(status = 201)]
    Note(Json<Note>),
}

/// Answer of `DELETE /notes/{id}`.
#[derive(Debug, ApiResponse)]
pub enum Deleted {
    /// The note was deleted.
    #[oai(status = 204)]
    Done,
}

/// The notes API over connection type `C`, declaring the tenant as `T` says.
#[derive(Debug, Clone)]
pub struct NotesApi<C, T> {
    db: C,
    tenant_args: PhantomData<T>,
}

impl<C, T> NotesApi<C, T>
where
    C: ConnectionTrait,
{
    /// The API on `db`.
    pub fn new(db: C) -> Self {
        Self {
            db,
            tenant_args: PhantomData,
        }
    }

    fn fail(&self, err: DbErr) -> ErrorResponse {
        NotesError::from_db(err).into()
    }
}

#[OpenApi]
impl<C, T> NotesApi<C, T>
where
    C: ConnectionTrait + Send + Sync + 'static,
    T: TenantArgs,
{
    /// The tenant's notes, ordered by id: at most `limit` (default 100, at most
    /// 1,000) with an id greater than `after_id`.
    #[oai(path = "/notes", method = "get", operation_id = "list_notes")]
    async fn list(
        &self,
        _by_header: T::Header,
        _by_query: T::Query,
        /// How many notes to return (1 to 1,000; default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u64>>,
        /// Only notes with an id greater than this (for paging).
        after_id: Query<Option<i32>>,
    ) -> Result<JsonBody<Vec<Note>>, ErrorResponse> {
        let mut query = note::Entity::find().order_by_asc(note::Column::Id);
        if let Some(after) = after_id.0 {
            query = query.filter(note::Column::Id.gt(after));
        }
        // A literal LIMIT (a checked integer): SQLite re-prepares a statement
        // whose LIMIT is a bound parameter every time it is bound, since the
        // value may change the plan, so a bound LIMIT defeats the statement cache.
        let mut statement = query.build(self.db.get_database_backend());
        let _ = write!(statement.sql, " LIMIT {}", limit.0.unwrap_or(DEFAULT_LIMIT));
        let notes = note::Entity::find()
            .from_raw_sql(statement)
            .all(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(JsonBody(notes.into_iter().map(Note::from).collect()))
    }

    /// Stores a note.
    #[oai(path = "/notes", method = "post", operation_id = "create_note")]
    async fn create(
        &self,
        _by_header: T::Header,
        _by_query: T::Query,
        note: Json<NewNote>,
    ) -> Result<Created, ErrorResponse> {
        let model = note::ActiveModel {
            id: ActiveValue::NotSet,
            body: ActiveValue::Set(note.0.body),
        }
        .insert(&self.db)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(Created::Note(Json(model.into())))
    }

    /// One note.
    #[oai(path = "/notes/:id", method = "get", operation_id = "get_note")]
    async fn get(
        &self,
        _by_header: T::Header,
        _by_query: T::Query,
        /// The note's id.
        #[oai(name = "id")]
        id: Path<i32>,
    ) -> Result<JsonBody<Note>, ErrorResponse> {
        note::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .map_err(|e| self.fail(e))?
            .map(|model| JsonBody(model.into()))
            .ok_or_else(|| NotesError::NoteNotFound(id.0).into())
    }

    /// Deletes a note.
    #[oai(path = "/notes/:id", method = "delete", operation_id = "delete_note")]
    async fn delete(
        &self,
        _by_header: T::Header,
        _by_query: T::Query,
        /// The note's id.
        #[oai(name = "id")]
        id: Path<i32>,
    ) -> Result<Deleted, ErrorResponse> {
        let result = note::Entity::delete_by_id(id.0)
            .exec(&self.db)
            .await
            .map_err(|e| self.fail(e))?;
        if result.rows_affected == 0 {
            return Err(NotesError::NoteNotFound(id.0).into());
        }
        Ok(Deleted::Done)
    }
}
