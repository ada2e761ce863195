//! Shared by the end-to-end test files: reading a tenant's notes straight from
//! its database, bypassing the server and the router.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use e2e_tests::NotesServer;
use sea_orm_tenant::sea_orm::{ConnectionTrait, Statement};
use sea_orm_tenant::testing::TestDatabases;

/// `(id, body)` of every note in `tenant`'s database, by id, read directly.
pub async fn read_direct(dbs: &TestDatabases, tenant: &str) -> Vec<(i64, String)> {
    let conn = dbs.connect_direct(tenant).await;
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT id, body FROM notes ORDER BY id",
        ))
        .await
        .expect("read notes directly");
    conn.close().await.ok();
    rows.iter()
        .map(|r| {
            let id = r
                .try_get::<i64>("", "id")
                .or_else(|_| r.try_get::<i32>("", "id").map(i64::from))
                .expect("id");
            (id, r.try_get::<String>("", "body").expect("body"))
        })
        .collect()
}

/// A temporary folder for `tenants.toml`, apart from the SQLite files, so
/// "no new file" checks see only database files.
pub fn config_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary folder for tenants.toml")
}

/// Polls `GET /notes` for `tenant` until it answers `wanted`; any answer other
/// than 200 or 503 fails the test. Bounded by `within`.
pub async fn until_status(server: &NotesServer, tenant: &str, wanted: u16, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let answer = server.get(&format!("/notes?tenant={tenant}")).await;
        if answer.status == wanted {
            if wanted == 503 {
                assert!(answer.json["error"].is_string(), "{:?}", answer.json);
            }
            return;
        }
        assert!(
            matches!(answer.status, 200 | 503),
            "{tenant}: {} {:?}",
            answer.status,
            answer.json
        );
        assert!(
            Instant::now() < deadline,
            "{tenant} did not answer {wanted} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
