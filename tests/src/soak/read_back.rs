//! Reading a tenant's notes back directly from its SQLite file, schema or
//! rows, past the server, for the check against the history.

use sea_orm_tenant::sea_orm::ConnectOptions;

use crate::scale::{read_notes_at, read_notes_where};

/// `(id, body)` of every note at `url` (in `schema` when given), read directly.
pub async fn read_rows(url: &str, schema: Option<&str>) -> Result<Vec<(i64, String)>, String> {
    let mut options = ConnectOptions::new(url.to_owned());
    if let Some(schema) = schema {
        options.set_schema_search_path(format!("\"{schema}\""));
    }
    read_notes_at(options).await.map_err(|e| e.to_string())
}

/// `(id, body)` of `tenant`'s notes in the row database at `superuser_url`
/// (a superuser: row-level security does not hold it, `tenant_id` filters).
pub async fn read_tenant_rows(
    superuser_url: &str,
    tenant: &str,
) -> Result<Vec<(i64, String)>, String> {
    read_notes_where(ConnectOptions::new(superuser_url.to_owned()), Some(tenant))
        .await
        .map_err(|e| e.to_string())
}
