//! The behavioural suite, run on SQLite, PostgreSQL and MySQL/MariaDB.
//! Every isolation claim is checked by reading each tenant's database directly.

mod common;

use common::{names, note, rows_direct, small_pools, store_with};
use futures_util::StreamExt;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{TenantContext, TenantError, current_tenant};

fn new_note(owner: &str, body: impl Into<String>) -> note::ActiveModel {
    note::ActiveModel {
        owner: Set(owner.to_owned()),
        body: Set(body.into()),
        ..Default::default()
    }
}

fn tenant_error(err: &sea_orm::DbErr) -> &TenantError {
    TenantError::from_db_err(err).unwrap_or_else(|| panic!("not a routing error: {err}"))
}

async fn isolation(mut dbs: TestDatabases) {
    let store = store_with(&mut dbs, 3, small_pools()).await;
    let db = store.db();
    for (i, tenant) in names(3).iter().enumerate() {
        store
            .with_tenant(tenant, async {
                for n in 0..=i {
                    new_note(tenant, format!("{tenant}-{n}"))
                        .insert(&db)
                        .await
                        .unwrap();
                }
            })
            .await
            .unwrap();
    }
    for (i, tenant) in names(3).iter().enumerate() {
        let expected: Vec<_> = (0..=i)
            .map(|n| (tenant.clone(), format!("{tenant}-{n}")))
            .collect();
        assert_eq!(rows_direct(&dbs, tenant).await, expected, "tenant {tenant}");
    }
    store.close().await;
    dbs.cleanup().await;
}

async fn seaorm_apis_work_unchanged(mut dbs: TestDatabases) {
    let store = store_with(&mut dbs, 2, small_pools()).await;
    let db = store.db();
    store
        .with_tenant("t00", async {
            // ActiveModel insert / update / save / delete
            let a = new_note("t00", "first").insert(&db).await.unwrap();
            let mut active: note::ActiveModel = a.clone().into();
            active.body = Set("first, edited".into());
            let a = active.update(&db).await.unwrap();
            assert_eq!(a.body, "first, edited");
            let saved = new_note("t00", "saved").save(&db).await.unwrap();
            let saved_id = saved.id.clone().unwrap();
            // insert_many
            note::Entity::insert_many((0..10).map(|i| new_note("t00", format!("many-{i}"))))
                .exec(&db)
                .await
                .unwrap();
            // count and paginate
            assert_eq!(note::Entity::find().count(&db).await.unwrap(), 12);
            let pages = note::Entity::find()
                .order_by_asc(note::Column::Id)
                .paginate(&db, 5);
            assert_eq!(pages.num_pages().await.unwrap(), 3);
            assert_eq!(pages.fetch_page(2).await.unwrap().len(), 2);
            // stream
            let streamed: Vec<_> = note::Entity::find()
                .filter(note::Column::Body.starts_with("many-"))
                .stream(&db)
                .await
                .unwrap()
                .map(|r| r.unwrap().body)
                .collect()
                .await;
            assert_eq!(streamed.len(), 10);
            // delete
            note::Entity::delete_by_id(saved_id)
                .exec(&db)
                .await
                .unwrap();
            // begin / rollback / commit
            let txn = db.begin().await.unwrap();
            new_note("t00", "rolled back").insert(&txn).await.unwrap();
            txn.rollback().await.unwrap();
            let txn = db.begin().await.unwrap();
            new_note("t00", "committed").insert(&txn).await.unwrap();
            txn.commit().await.unwrap();
            // transaction closure
            db.transaction::<_, _, sea_orm::DbErr>(|txn| {
                Box::pin(async move {
                    new_note("t00", "in closure").insert(txn).await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
            // raw SQL through execute_unprepared and a statement
            db.execute_unprepared("UPDATE note SET body = body WHERE 1 = 0")
                .await
                .unwrap();
        })
        .await
        .unwrap();

    let rows = rows_direct(&dbs, "t00").await;
    let bodies: Vec<&str> = rows.iter().map(|(_, b)| b.as_str()).collect();
    assert_eq!(rows.len(), 13, "{bodies:?}");
    assert!(bodies.contains(&"first, edited") && bodies.contains(&"committed"));
    assert!(bodies.contains(&"in closure") && !bodies.contains(&"rolled back"));
    assert!(!bodies.contains(&"saved"));
    assert!(
        rows_direct(&dbs, "t01").await.is_empty(),
        "other tenant untouched"
    );
    store.close().await;
    dbs.cleanup().await;
}

async fn transaction_stays_on_its_tenant(mut dbs: TestDatabases) {
    let store = store_with(&mut dbs, 2, small_pools()).await;
    let db = store.db();
    let txn = store.with_tenant("t00", db.begin()).await.unwrap().unwrap();
    // Used with no tenant current, and inside another tenant: still t00's transaction.
    new_note("t00", "outside").insert(&txn).await.unwrap();
    store
        .with_tenant("t01", async {
            new_note("t00", "inside t01 scope")
                .insert(&txn)
                .await
                .unwrap();
            new_note("t01", "routed").insert(&db).await.unwrap();
        })
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        rows_direct(&dbs, "t00").await,
        vec![
            ("t00".into(), "inside t01 scope".into()),
            ("t00".into(), "outside".into())
        ]
    );
    assert_eq!(
        rows_direct(&dbs, "t01").await,
        vec![("t01".into(), "routed".into())]
    );
    store.close().await;
    dbs.cleanup().await;
}

/// 1,000 concurrent tasks over 10 tenants, mixing plain writes, transactions and
/// streams: every read sees only its tenant's rows, and every row is where it belongs.
async fn concurrent_tasks_never_cross(mut dbs: TestDatabases) {
    const TENANTS: usize = 10;
    const TASKS: usize = 1_000;
    let store = store_with(&mut dbs, TENANTS, small_pools()).await;
    let db = store.db();
    let tenants = names(TENANTS);
    let mut handles = Vec::with_capacity(TASKS);
    for task in 0..TASKS {
        let tenant = tenants[task % TENANTS].clone();
        let (store, db) = (store.clone(), db.clone());
        handles.push(tokio::spawn(async move {
            store
                .with_tenant(&tenant, async {
                    let body = format!("task-{task}");
                    let inserted = match task % 3 {
                        0 => {
                            let txn = db.begin().await.unwrap();
                            let m = new_note(&tenant, &body).insert(&txn).await.unwrap();
                            txn.commit().await.unwrap();
                            m
                        }
                        _ => new_note(&tenant, &body).insert(&db).await.unwrap(),
                    };
                    let back = note::Entity::find_by_id(inserted.id)
                        .one(&db)
                        .await
                        .unwrap()
                        .unwrap();
                    assert_eq!(
                        (back.owner.as_str(), back.body.as_str()),
                        (tenant.as_str(), body.as_str())
                    );
                    if task % 5 == 0 {
                        let mut stream = note::Entity::find().stream(&db).await.unwrap();
                        while let Some(row) = stream.next().await {
                            assert_eq!(row.unwrap().owner, tenant, "stream saw a foreign row");
                        }
                    }
                    assert_eq!(current_tenant().unwrap().as_str(), tenant);
                })
                .await
                .unwrap();
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    for (i, tenant) in tenants.iter().enumerate() {
        let mut expected: Vec<_> = (i..TASKS)
            .step_by(TENANTS)
            .map(|t| (tenant.clone(), format!("task-{t}")))
            .collect();
        expected.sort();
        assert_eq!(rows_direct(&dbs, tenant).await, expected, "tenant {tenant}");
    }
    store.close().await;
    dbs.cleanup().await;
}

async fn seed_semantics(mut dbs: TestDatabases) {
    let store = store_with(&mut dbs, 2, small_pools()).await;
    let db = store.db();

    let err = note::Entity::find().all(&db).await.unwrap_err();
    assert!(matches!(tenant_error(&err), TenantError::NoTenant));
    assert_eq!(current_tenant(), None);

    let switched = store
        .with_tenant("t00", store.with_tenant("t01", async { unreachable!() }))
        .await
        .unwrap();
    match switched {
        Err(TenantError::Switch { current, requested }) => {
            assert_eq!((current.as_str(), requested.as_str()), ("t00", "t01"));
        }
        other => panic!("expected Switch, got {other:?}"),
    }

    let reentered = store
        .with_tenant("t00", async {
            store
                .with_tenant("t00", async { note::Entity::find().count(&db).await })
                .await
        })
        .await;
    assert_eq!(reentered.unwrap().unwrap().unwrap(), 0);

    let unknown = store.with_tenant("nobody", async { unreachable!() }).await;
    assert!(matches!(unknown, Err(TenantError::Unknown(ref k)) if k.as_str() == "nobody"));

    store
        .with_tenant("t01", async {
            let plain_db = db.clone();
            let plain = tokio::spawn(async move { note::Entity::find().all(&plain_db).await })
                .await
                .unwrap();
            assert!(matches!(
                tenant_error(&plain.unwrap_err()),
                TenantError::NoTenant
            ));

            let carried_db = db.clone();
            let carried = sea_orm_tenant::spawn(async move {
                new_note("t01", "from spawn")
                    .insert(&carried_db)
                    .await
                    .map(|_| current_tenant())
            })
            .await
            .unwrap()
            .unwrap();
            assert_eq!(carried.unwrap().as_str(), "t01");

            let blocking_db = db.clone();
            let handle = tokio::runtime::Handle::current();
            sea_orm_tenant::spawn_blocking(move || {
                handle.block_on(new_note("t01", "from spawn_blocking").insert(&blocking_db))
            })
            .await
            .unwrap()
            .unwrap();

            // A stream polled later, outside the scope, re-enters the tenant on every poll.
            let cx = TenantContext::current().unwrap();
            cx.wrap(futures_util::stream::iter(0..3).then(|_| async { current_tenant() }))
        })
        .await
        .map(|stream| async move {
            let seen: Vec<_> = stream.collect().await;
            assert!(
                seen.iter()
                    .all(|t| matches!(t, Ok(Some(k)) if k.as_str() == "t01"))
            );
        })
        .unwrap()
        .await;

    assert_eq!(
        rows_direct(&dbs, "t01").await,
        vec![
            ("t01".into(), "from spawn".into()),
            ("t01".into(), "from spawn_blocking".into())
        ]
    );
    assert!(rows_direct(&dbs, "t00").await.is_empty());
    store.close().await;
    dbs.cleanup().await;
}

async fn runtime_add_and_remove(mut dbs: TestDatabases) {
    let store = store_with(&mut dbs, 2, small_pools()).await;
    let db = store.db();

    // Added at runtime: usable at once.
    let config = dbs.create_config("late").await;
    common::create_note_table(&dbs, "late").await;
    store
        .add_tenant("late", config.with_pool(small_pools()))
        .unwrap();
    store
        .with_tenant("late", new_note("late", "hello").insert(&db))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rows_direct(&dbs, "late").await,
        vec![("late".into(), "hello".into())]
    );

    // Removed while a call holds its connection: that call finishes, new ones are refused.
    let held = store
        .with_tenant("t00", db.connection())
        .await
        .unwrap()
        .unwrap();
    let remover = {
        let store = store.clone();
        tokio::spawn(async move { store.remove_tenant("t00").await })
    };
    while store.contains("t00") {
        tokio::task::yield_now().await;
    }
    let refused = store.with_tenant("t00", async {}).await;
    assert!(matches!(refused, Err(TenantError::Unknown(_))));
    new_note("t00", "in flight during removal")
        .insert(&held)
        .await
        .unwrap();
    drop(held);
    remover.await.unwrap().unwrap();
    assert_eq!(
        rows_direct(&dbs, "t00").await,
        vec![("t00".into(), "in flight during removal".into())]
    );
    // The other tenant is unaffected.
    store
        .with_tenant("t01", new_note("t01", "still here").insert(&db))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.stats().registered, 2);
    store.close().await;
    dbs.cleanup().await;
}

async fn backend_follows_the_current_tenant(mut dbs: TestDatabases) {
    let backend = dbs.backend();
    let store = store_with(&mut dbs, 1, small_pools()).await;
    let db = store.db();
    assert_eq!(
        db.get_database_backend(),
        backend,
        "uniform store, no tenant"
    );
    let inside = store
        .with_tenant("t00", async { db.get_database_backend() })
        .await
        .unwrap();
    assert_eq!(inside, backend);
    let conn = store
        .with_tenant("t00", db.connection())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conn.get_database_backend(), backend);
    drop(conn);
    store.close().await;
    dbs.cleanup().await;
}

on_every_backend!(
    isolation,
    seaorm_apis_work_unchanged,
    transaction_stays_on_its_tenant,
    concurrent_tasks_never_cross,
    seed_semantics,
    runtime_add_and_remove,
    backend_follows_the_current_tenant,
);

on_schema_tenants!(
    isolation,
    seaorm_apis_work_unchanged,
    transaction_stays_on_its_tenant,
    concurrent_tasks_never_cross,
    seed_semantics,
    runtime_add_and_remove,
    backend_follows_the_current_tenant,
);
on_mysql_shared!(
    isolation,
    seaorm_apis_work_unchanged,
    transaction_stays_on_its_tenant,
    concurrent_tasks_never_cross,
    seed_semantics,
    runtime_add_and_remove,
    backend_follows_the_current_tenant,
);
