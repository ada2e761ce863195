//! Schema tenants as `bench-schemas` and `bench-rows` set them up: one
//! database with a schema per tenant (made by
//! [`ServerDatabases::create_schema_database`](super::ServerDatabases::create_schema_database)),
//! named with [`SCHEMA_PREFIX`], and notes seeded into each directly.

use sea_orm_tenant::sea_orm::{ConnectionTrait, Database};

/// The schema prefix of the benchmarks' schema tenants (`t_{tenant}`).
pub const SCHEMA_PREFIX: &str = "t_";

/// Inserts `notes` notes (`{tenant}:{n}`) into the `notes` table of every
/// tenant's schema in the database at `url`, migrated already, as the URL's
/// user, 500 schemas per round trip. Panics on failure.
pub async fn seed_schema_notes(url: &str, tenants: &[String], notes: usize) {
    let db = Database::connect(url).await.expect("connect");
    for chunk in tenants.chunks(500) {
        let sql: Vec<String> = chunk
            .iter()
            .map(|t| {
                let rows: Vec<String> = (0..notes).map(|n| format!("('{t}:{n}')")).collect();
                format!(
                    "INSERT INTO \"{SCHEMA_PREFIX}{t}\".notes (body) VALUES {}",
                    rows.join(", ")
                )
            })
            .collect();
        db.execute_unprepared(&sql.join(";"))
            .await
            .expect("seed notes");
    }
    db.close().await.ok();
}
