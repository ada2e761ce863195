//! SQLite files in WAL mode get a read pool (`sqlite_readers`): plain
//! `SELECT`s outside transactions are served while the writer is busy, and
//! see every write acknowledged before them.

mod common;

use std::time::Duration;

use common::{create_schema, note, rows_direct};
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, Set, TransactionTrait};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{PoolOptions, TenantConnections, TenantDb};

/// One SQLite tenant `acme` with the note table, a writer pool of one
/// connection that gives up after 500 ms, and `readers` read connections.
async fn acme(readers: u32) -> (TestDatabases, TenantConnections, TenantDb) {
    let mut dbs = TestDatabases::sqlite();
    let config = dbs.create_config("acme").await.with_pool(PoolOptions {
        max_connections: Some(1),
        acquire_timeout: Some(Duration::from_millis(500)),
        sqlite_readers: Some(readers),
        ..Default::default()
    });
    let store = TenantConnections::builder()
        .tenant_config("acme", config)
        .build()
        .unwrap();
    create_schema(&store.connection("acme").await.unwrap()).await;
    let db = store.db();
    (dbs, store, db)
}

fn new_note(body: &str) -> note::ActiveModel {
    note::ActiveModel {
        owner: Set("acme".into()),
        body: Set(body.into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_served_while_a_transaction_holds_the_writer() {
    let (dbs, store, db) = acme(2).await;
    store
        .with_tenant("acme", async {
            new_note("committed").insert(&db).await.unwrap();
            // The writer pool's only connection, held by an open transaction.
            let txn = db.begin().await.unwrap();
            new_note("uncommitted").insert(&txn).await.unwrap();
            // Served by the read pool: the committed row only.
            let seen = note::Entity::find().all(&db).await.unwrap();
            assert_eq!(
                seen.iter().map(|n| n.body.as_str()).collect::<Vec<_>>(),
                ["committed"]
            );
            txn.commit().await.unwrap();
            // Acknowledged writes are seen by the very next read.
            for i in 0..50 {
                new_note(&format!("n{i}")).insert(&db).await.unwrap();
                assert_eq!(note::Entity::find().count(&db).await.unwrap(), i + 3);
            }
        })
        .await
        .unwrap();
    assert_eq!(rows_direct(&dbs, "acme").await.len(), 52);
    store.close().await;
    dbs.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_readers_a_read_waits_for_the_writer() {
    let (dbs, store, db) = acme(0).await;
    store
        .with_tenant("acme", async {
            let txn = db.begin().await.unwrap();
            new_note("uncommitted").insert(&txn).await.unwrap();
            let err = note::Entity::find().all(&db).await.unwrap_err();
            assert!(err.to_string().contains("timed out"), "{err}");
            txn.commit().await.unwrap();
            assert_eq!(note::Entity::find().count(&db).await.unwrap(), 1);
        })
        .await
        .unwrap();
    store.close().await;
    dbs.cleanup().await;
}
