//! Schema tenants as `bench-schemas` and `bench-rows` set them up: one
//! database with a schema per tenant (made by
//! [`ServerDatabases::create_schema_database`](super::ServerDatabases::create_schema_database)),
//! named with [`SCHEMA_PREFIX`], and notes seeded into each directly.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sea_orm_tenant::sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;

use super::ServerDatabases;

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

/// A database of schema tenants and the configuration that serves them.
pub struct SchemaTenants {
    /// The database's URL.
    pub url: String,
    /// How long creating the schemas took.
    pub created: Duration,
    /// A `tenants.toml` serving every tenant from the database's one pool.
    pub config: PathBuf,
    _dir: TempDir,
}

/// Creates one database with an empty schema per tenant and writes a
/// configuration serving them from one pool of `pool_size` connections
/// within a per-server `budget`.
pub async fn schema_tenants(
    dbs: &mut ServerDatabases,
    tenants: &[String],
    pool_size: u32,
    budget: u32,
) -> SchemaTenants {
    eprintln!("creating {} schemas...", tenants.len());
    let started = Instant::now();
    let url = dbs.create_schema_database(tenants, SCHEMA_PREFIX).await;
    let created = started.elapsed();
    let dir = tempfile::tempdir().expect("temporary folder");
    let pool_line = format!("max_connections = {pool_size}");
    let config = dbs
        .tenants_toml(&[], budget)
        .schema_database("app", &url, SCHEMA_PREFIX, tenants, &[&pool_line])
        .write_to(dir.path());
    SchemaTenants {
        url,
        created,
        config,
        _dir: dir,
    }
}
