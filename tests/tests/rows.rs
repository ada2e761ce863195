//! Row tenants through notes-server: it migrates their shared database once
//! (the workspace's `RowMigrator`: `notes` keyed by `(tenant_id, id)` under
//! forced row-level security) and serves each tenant its own notes. Rows are
//! read back directly as the superuser. A database whose protection is
//! broken is refused: its tenants answer 503, never another tenant's rows.
//! Needs `TEST_POSTGRES_URL`.

mod common;

use e2e_tests::{NotesServer, TenantsToml};
use sea_orm_tenant::sea_orm::{self, ConnectionTrait, DbBackend, Statement};
use sea_orm_tenant::testing::TestRowDatabase;

use common::config_dir;

/// Every `(tenant_id, body)` of `notes`, read directly.
async fn rows(db: &TestRowDatabase) -> Vec<(String, String)> {
    let conn = sea_orm::Database::connect(db.owner_url()).await.unwrap();
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT tenant_id, body FROM notes ORDER BY tenant_id, id",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.try_get("", "tenant_id").unwrap(),
                r.try_get("", "body").unwrap(),
            )
        })
        .collect();
    conn.close().await.ok();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_server_serves_row_tenants_their_own_rows_only() {
    let Some(db) = TestRowDatabase::new().await else {
        return;
    };
    let tenants = ["r1".to_owned(), "r2".to_owned(), "r3".to_owned()];
    let toml = TenantsToml::new().row_database(
        "shared",
        &db.app_url(),
        &tenants,
        &["max_connections = 4"],
    );
    let dir = config_dir();
    let server = NotesServer::start(&toml.write_to(dir.path()), &[]).await;
    let mut ids = Vec::new();
    for round in 0..3 {
        for t in &tenants {
            let posted = server
                .post_note(t, &format!("{t} note {round}"))
                .await
                .expect("post");
            assert_eq!(posted.status, 201, "{t}: {:?}", posted.json);
            ids.push((t.clone(), posted.json["id"].as_i64().expect("an id")));
        }
    }
    for t in &tenants {
        let listed = server.get(&format!("/notes?tenant={t}")).await;
        assert_eq!(listed.status, 200);
        let bodies: Vec<&str> = listed
            .json
            .as_array()
            .expect("a list")
            .iter()
            .map(|n| n["body"].as_str().unwrap())
            .collect();
        assert_eq!(bodies.len(), 3, "{t}: {bodies:?}");
        assert!(
            bodies.iter().all(|b| b.starts_with(t.as_str())),
            "{t}: {bodies:?}"
        );
    }
    // Another tenant's note, by its id: not found, never served.
    for (owner, id) in &ids {
        for t in &tenants {
            let got = server.get(&format!("/notes/{id}?tenant={t}")).await;
            let expected = if t == owner { 200 } else { 404 };
            assert_eq!(got.status, expected, "{t} asking for {owner}'s note {id}");
        }
    }
    let direct = rows(&db).await;
    assert_eq!(direct.len(), 9);
    assert!(
        direct
            .iter()
            .all(|(tenant, body)| body.starts_with(tenant.as_str())),
        "{direct:?}"
    );
    server.terminate().await;

    // The table's owner skips policies that are not forced: refused, 503.
    db.sql("ALTER TABLE notes NO FORCE ROW LEVEL SECURITY")
        .await;
    let server = NotesServer::start(&toml.write_to(dir.path()), &[]).await;
    let listed = server.get("/notes?tenant=r1").await;
    assert_eq!(listed.status, 503, "{:?}", listed.json);
    assert!(listed.json["error"].is_string(), "{:?}", listed.json);
    server.terminate().await;
    db.cleanup().await;
}
