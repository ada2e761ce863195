//! Reading a tenant's notes back directly from its SQLite file or schema,
//! past the server, for the check against the history.

use sea_orm_tenant::sea_orm::ConnectOptions;

use crate::scale::read_notes_at;

/// `(id, body)` of every note at `url` (in `schema` when given), read directly.
pub async fn read_rows(url: &str, schema: Option<&str>) -> Result<Vec<(i64, String)>, String> {
    let mut options = ConnectOptions::new(url.to_owned());
    if let Some(schema) = schema {
        options.set_schema_search_path(format!("\"{schema}\""));
    }
    read_notes_at(options).await.map_err(|e| e.to_string())
}
