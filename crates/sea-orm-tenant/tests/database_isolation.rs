//! MySQL/MariaDB database tenants against their own `USE`: a connection of
//! tenant `t00`'s pool moved to `t01`'s database by `t00`'s SQL is never
//! reused there, so `t00`'s later calls (prepared statements included) land
//! in its own database; with pools of their own and sharing their server's.
//! Each database is read directly.

mod common;

use common::{names, note, rows_direct, store_with};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use sea_orm_tenant::PoolOptions;
use sea_orm_tenant::testing::TestDatabases;

fn new_note(owner: &str, body: String) -> note::ActiveModel {
    note::ActiveModel {
        owner: Set(owner.to_owned()),
        body: Set(body),
        ..Default::default()
    }
}

async fn use_of_another_database_moves_no_later_call(dbs: Option<TestDatabases>, pool: u32) {
    let Some(mut dbs) = dbs else {
        return;
    };
    let store = store_with(
        &mut dbs,
        2,
        PoolOptions {
            max_connections: Some(pool),
            ..Default::default()
        },
    )
    .await;
    let db = store.db();
    let other = dbs.database_name("t01");
    let mut wrong = Vec::new();
    for round in 0..6 {
        // The statements t00 will run next are prepared (and cached) while
        // its connection is on t01's database.
        let moved = store
            .with_tenant("t00", async {
                db.execute_unprepared(&format!("USE `{other}`")).await?;
                new_note("t00", format!("moved-{round}"))
                    .insert(&db)
                    .await?;
                note::Entity::find().all(&db).await
            })
            .await
            .unwrap();
        if let Ok(rows) = moved
            && rows.iter().any(|r| r.owner != "t00")
        {
            wrong.push(format!("round {round}: t00 read t01's rows"));
        }
        for t in names(2) {
            let insert = store
                .with_tenant(&t, new_note(&t, format!("after-{round}")).insert(&db))
                .await
                .unwrap();
            if let Err(e) = insert {
                wrong.push(format!("round {round}: {t}'s insert failed: {e}"));
            }
            let rows = store
                .with_tenant(&t, note::Entity::find().all(&db))
                .await
                .unwrap()
                .unwrap();
            if rows.iter().any(|r| r.owner != t) {
                wrong.push(format!("round {round}: {t} read another tenant's rows"));
            }
        }
    }
    store.close().await;
    for t in names(2) {
        for (owner, body) in rows_direct(&dbs, &t).await {
            if owner != t {
                wrong.push(format!("{owner}'s row {body} is in {t}'s database"));
            }
        }
    }
    dbs.cleanup().await;
    assert!(wrong.is_empty(), "pool of {pool}: {wrong:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_use_moves_no_later_call_pool_of_1() {
    use_of_another_database_moves_no_later_call(TestDatabases::mysql(), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_use_moves_no_later_call_pool_of_3() {
    use_of_another_database_moves_no_later_call(TestDatabases::mysql(), 3).await;
}

/// The same on database tenants sharing their server's connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_shared_use_moves_no_later_call_pool_of_1() {
    use_of_another_database_moves_no_later_call(TestDatabases::mysql_shared(), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_shared_use_moves_no_later_call_pool_of_3() {
    use_of_another_database_moves_no_later_call(TestDatabases::mysql_shared(), 3).await;
}
