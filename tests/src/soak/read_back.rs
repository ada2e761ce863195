//! Reading a tenant's notes back directly from its SQLite file or schema,
//! past the server, for the check against the history.

use sea_orm_tenant::sea_orm::{ConnectOptions, ConnectionTrait, Database, Statement};

/// `(id, body)` of every note at `url` (in `schema` when given), read directly.
pub async fn read_rows(url: &str, schema: Option<&str>) -> Result<Vec<(i64, String)>, String> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(1).sqlx_logging(false);
    if let Some(schema) = schema {
        options.set_schema_search_path(format!("\"{schema}\""));
    }
    let conn = Database::connect(options)
        .await
        .map_err(|e| e.to_string())?;
    let backend = conn.get_database_backend();
    let rows = conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id, body FROM notes ORDER BY id",
        ))
        .await
        .map_err(|e| e.to_string());
    conn.close().await.ok();
    rows?
        .iter()
        .map(|r| {
            let id = r
                .try_get::<i64>("", "id")
                .or_else(|_| r.try_get::<i32>("", "id").map(i64::from))
                .map_err(|e| e.to_string())?;
            Ok((
                id,
                r.try_get::<String>("", "body").map_err(|e| e.to_string())?,
            ))
        })
        .collect()
}
