//! A move's cut-over through the catalog, seen by two app instances: the
//! row marked `moving` holds the tenant's new requests in both (they wait,
//! they do not fail); the row switched to the new placement and `active`
//! sends them there, and nothing of theirs to the old placement. Rows are
//! read back directly from both files.

mod common;

use std::time::Duration;

use common::{Migrator, catalog_store, instances_with, kill_mover_when, stop_writers};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use sea_orm_migration::MigratorTrait;
use sea_orm_tenant::testing::{TestDatabases, wait_until_held};
use sea_orm_tenant::{CatalogOptions, CatalogSync, TenantConnections, TenantKey, TenantState};
use sea_orm_tenant_migration::{MoveOptions, Placement, Provisioner};

/// Inserts an item named `name` for `acme` through `store`'s router.
fn insert(
    store: &TenantConnections,
    name: &'static str,
) -> tokio::task::JoinHandle<Result<(), String>> {
    let store = store.clone();
    tokio::spawn(async move {
        let db = store.db();
        store
            .with_tenant(
                "acme",
                db.execute_unprepared(&format!("INSERT INTO items (name) VALUES ('{name}')")),
            )
            .await
            .map_err(|e| e.to_string())?
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// Moves `acme` to `new_url` in a task of its own.
fn spawn_move(
    provisioner: &Provisioner,
    new_url: &str,
    options: MoveOptions,
) -> tokio::task::JoinHandle<
    Result<sea_orm_tenant_migration::Moved, sea_orm_tenant_migration::MoveError>,
> {
    let (provisioner, new_url) = (provisioner.clone(), new_url.to_owned());
    tokio::spawn(async move { provisioner.move_tenant("acme", &new_url, &options).await })
}

/// Whether `store` holds `acme`.
fn held(store: &TenantConnections) -> bool {
    store.held().iter().any(|(k, _)| k.as_str() == "acme")
}

/// Waits until `store` holds `acme`, while `moving` goes on.
async fn until_held<T>(store: &TenantConnections, moving: &tokio::task::JoinHandle<T>) {
    while !held(store) {
        assert!(
            !moving.is_finished(),
            "the move ended before the tenant was held"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The item names in the SQLite file at `url`, read directly.
async fn items(url: &str) -> Vec<String> {
    items_of(DbBackend::Sqlite, url).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_instances_hold_a_moving_tenant_then_serve_it_from_its_new_placement() {
    let dbs = TestDatabases::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let (a, catalog) = catalog_store(dir.path()).await;
    let (b, catalog_b) = catalog_store(dir.path()).await;
    let options = CatalogOptions {
        poll_interval: Duration::from_secs(3600),
        listen: false,
        ..CatalogOptions::default()
    };
    let sync_a = CatalogSync::start(a.clone(), catalog.clone(), options.clone())
        .await
        .unwrap();
    let sync_b = CatalogSync::start(b.clone(), catalog_b, options)
        .await
        .unwrap();
    let provisioner = Provisioner::new::<Migrator>(a.clone()).catalog(catalog.clone());
    provisioner
        .create("acme", &Placement::Url(dbs.url_template()))
        .await
        .unwrap();
    sync_b.refresh().await.unwrap();
    let old_url = dbs.url("acme");
    for store in [&a, &b] {
        insert(store, "before").await.unwrap().unwrap();
    }
    // The target, made and migrated as a move makes it.
    let new_url = dbs.url("acme-new");
    let target = Database::connect(&new_url).await.unwrap();
    Migrator::up(&target, None).await.unwrap();
    target.close().await.ok();

    let key = TenantKey::new("acme").unwrap();
    catalog
        .set_state(&key, TenantState::Moving, None)
        .await
        .unwrap();
    sync_a.refresh().await.unwrap();
    sync_b.refresh().await.unwrap();
    let held = [insert(&a, "held-a"), insert(&b, "held-b")];
    wait_until_held(&a, "acme", 1).await;
    wait_until_held(&b, "acme", 1).await;
    assert_eq!(items(&old_url).await, ["before", "before"]);
    assert!(items(&new_url).await.is_empty());

    catalog
        .set_placement(&key, &new_url, None, false, TenantState::Active)
        .await
        .unwrap();
    sync_a.refresh().await.unwrap();
    sync_b.refresh().await.unwrap();
    for call in held {
        call.await
            .unwrap()
            .expect("a held request runs on the new placement");
    }
    for store in [&a, &b] {
        insert(store, "after").await.unwrap().unwrap();
        assert!(store.held().is_empty());
    }
    assert_eq!(items(&old_url).await, ["before", "before"]);
    assert_eq!(
        items(&new_url).await,
        ["after", "after", "held-a", "held-b"]
    );
    a.close().await;
    b.close().await;
}

/// The item names in `items` of the database at `url`, read directly.
async fn items_of(backend: DbBackend, url: &str) -> Vec<String> {
    let conn = Database::connect(url).await.unwrap();
    let names = conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT name FROM items ORDER BY name",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .collect();
    conn.close().await.ok();
    names
}

/// `move_tenant` on tenant `acme` of `dbs` (a SQLite file or a MySQL
/// database) while writers call it through two instances (the second
/// following the catalog by polling): every acknowledged write is at the
/// new placement once, none failed; the kept old placement refuses writes
/// from anyone (a direct session), and the tenant is active at the new one.
async fn moves_while_two_instances_write(dbs: &TestDatabases) {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    let backend = dbs.backend();
    let dir = tempfile::tempdir().unwrap();
    let (a, catalog) = catalog_store(dir.path()).await;
    let (b, catalog_b) = catalog_store(dir.path()).await;
    let options = CatalogOptions {
        poll_interval: Duration::from_millis(20),
        listen: false,
        ..CatalogOptions::default()
    };
    let _sync_a = CatalogSync::start(a.clone(), catalog.clone(), options.clone())
        .await
        .unwrap();
    let sync_b = CatalogSync::start(b.clone(), catalog_b, options)
        .await
        .unwrap();
    let provisioner = Provisioner::new::<Migrator>(a.clone()).catalog(catalog.clone());
    provisioner
        .create("acme", &Placement::Url(dbs.url_template()))
        .await
        .unwrap();
    // The second instance knows the tenant before its writers start.
    sync_b.refresh().await.unwrap();
    let (old_url, new_url) = (dbs.url("acme"), dbs.url("acme-new"));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = common::writers(&a, &stop, 0);
    writers.extend(common::writers(&b, &stop, 2));
    while items_of(backend, &old_url).await.len() < 50 {
        tokio::task::yield_now().await;
    }
    let moved = provisioner
        .move_tenant(
            "acme",
            &new_url,
            &sea_orm_tenant_migration::MoveOptions::default().keep_source(true),
        )
        .await
        .unwrap();
    eprintln!("moved: {moved:?}");
    while items_of(backend, &new_url).await.len() < moved.rows as usize + 20 {
        tokio::task::yield_now().await;
    }
    let (mut acked, errors) = stop_writers(&stop, writers).await;
    assert!(
        errors.is_empty(),
        "{} writes failed, first: {:?}",
        errors.len(),
        &errors[..errors.len().min(3)]
    );
    acked.sort();
    assert_eq!(
        items_of(backend, &new_url).await,
        acked,
        "every acknowledged write, once"
    );
    assert!(
        !moved.source_dropped && moved.warnings.is_empty(),
        "{moved:?}"
    );
    let old = Database::connect(&old_url).await.unwrap();
    let err = old
        .execute_unprepared("INSERT INTO items (name) VALUES ('stale')")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("has moved"), "{err}");
    let kept = items_of(backend, &old_url).await;
    assert!(!kept.is_empty());
    if backend == DbBackend::MySql {
        // What no trigger sees fails on the old copy too.
        for sql in [
            "TRUNCATE TABLE items",
            "ALTER TABLE items ADD COLUMN stale INT",
            "DROP TABLE items",
            "DELETE FROM items",
            "UPDATE items SET name = 'stale'",
        ] {
            let refused = old.execute_unprepared(sql).await;
            assert!(refused.is_err(), "{sql} changed the kept old copy");
        }
    }
    old.close().await.ok();
    assert_eq!(
        items_of(backend, &old_url).await,
        kept,
        "the old copy is unchanged"
    );
    let entry = catalog
        .get(&TenantKey::new("acme").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (entry.url.as_str(), entry.state),
        (new_url.as_str(), TenantState::Active)
    );
    a.close().await;
    b.close().await;
    provisioner.close().await;
}

/// A SQLite file is copied under a write lock while the tenant is held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_tenant_moves_while_two_instances_write() {
    moves_while_two_instances_write(&TestDatabases::sqlite()).await;
}

/// A MySQL/MariaDB database is sealed while the tenant is held, dumped and
/// loaded into the new database (the seal's copies dropped there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_tenant_moves_while_two_instances_write() {
    let Some(dbs) = TestDatabases::mysql() else {
        eprintln!("notice: TEST_MYSQL_URL is not set; the MySQL move test is skipped");
        return;
    };
    moves_while_two_instances_write(&dbs).await;
    dbs.cleanup().await;
}

/// A MySQL move whose seal cannot lock the tables in time (a session keeps
/// `items` locked) is undone: the tenant serves from its source, which
/// takes writes (no seal left), the new database is gone, and a second run
/// moves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_move_that_cannot_seal_in_time_is_undone() {
    let Some(dbs) = TestDatabases::mysql() else {
        eprintln!("notice: TEST_MYSQL_URL is not set; the MySQL move test is skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, catalog) = catalog_store(dir.path()).await;
    let provisioner = Provisioner::new::<Migrator>(a.clone()).catalog(catalog.clone());
    provisioner
        .create("acme", &Placement::Url(dbs.url_template()))
        .await
        .unwrap();
    let (old_url, new_url) = (dbs.url("acme"), dbs.url("acme-new"));
    insert(&a, "before").await.unwrap().unwrap();
    let blocker = sea_orm::Database::connect(&old_url).await.unwrap();
    let blocked = blocker.get_mysql_connection_pool().clone();
    let mut held = blocked.acquire().await.unwrap();
    sea_orm::sqlx::raw_sql("LOCK TABLES items READ")
        .execute(&mut *held)
        .await
        .unwrap();
    let options = sea_orm_tenant_migration::MoveOptions::default()
        .keep_source(true)
        .cut_over_timeout(Duration::from_secs(1));
    let err = provisioner
        .move_tenant("acme", &new_url, &options)
        .await
        .unwrap_err();
    assert!(
        matches!(err, sea_orm_tenant_migration::MoveError::TimedOut { .. }),
        "{err}"
    );
    let key = TenantKey::new("acme").unwrap();
    let entry = catalog.get(&key).await.unwrap().unwrap();
    assert_eq!(
        (entry.url.as_str(), entry.state),
        (old_url.as_str(), TenantState::Active)
    );
    assert!(
        !dbs.existing()
            .await
            .contains(&dbs.database_name("acme-new")),
        "the new database is dropped"
    );
    sea_orm::sqlx::raw_sql("UNLOCK TABLES")
        .execute(&mut *held)
        .await
        .unwrap();
    drop(held);
    blocker.close().await.ok();
    insert(&a, "between").await.unwrap().unwrap();
    assert_eq!(
        items_of(DbBackend::MySql, &old_url).await,
        ["before", "between"]
    );

    let moved = provisioner
        .move_tenant("acme", &new_url, &options)
        .await
        .unwrap();
    assert_eq!(moved.rows, 2 + 2, "two items and two migrations: {moved:?}");
    insert(&a, "after").await.unwrap().unwrap();
    assert_eq!(
        items_of(DbBackend::MySql, &new_url).await,
        ["after", "before", "between"]
    );
    a.close().await;
    provisioner.close().await;
    dbs.cleanup().await;
}

/// Triggers of a move's seal in the MySQL database at `url`.
async fn mysql_seal_triggers(url: &str) -> i64 {
    let conn = Database::connect(url).await.unwrap();
    let n = conn
        .query_one_raw(Statement::from_string(
            DbBackend::MySql,
            "SELECT CAST(COUNT(*) AS SIGNED) AS n FROM information_schema.TRIGGERS \
             WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE 'sot\\_moved\\_%'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    conn.close().await.ok();
    n
}

/// A MySQL mover killed while the tenant is held and its source sealed:
/// the instances hold the tenant until their `moving_expiry`, then write to
/// its source (the seal refuses only while the mover's session holds its
/// lock); a second run clears what the first left and moves the tenant with
/// every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_mover_killed_in_the_hold_leaves_the_tenant_writable_and_a_rerun_moves_it() {
    let Some(dbs) = TestDatabases::mysql() else {
        eprintln!("notice: TEST_MYSQL_URL is not set; the MySQL move test is skipped");
        return;
    };
    let app = instances_with(CatalogOptions {
        moving_expiry: common::shortest_moving_expiry(),
        ..CatalogOptions::default()
    })
    .await;
    let provisioner = Provisioner::new::<Migrator>(app.a.clone()).catalog(app.catalog.clone());
    provisioner
        .create("acme", &Placement::Url(dbs.url_template()))
        .await
        .unwrap();
    let (old_url, new_url) = (dbs.url("acme"), dbs.url("acme-new"));
    // 2^16 items, so that the copy is still running when the mover is killed.
    let direct = Database::connect(&old_url).await.unwrap();
    direct
        .execute_unprepared("INSERT INTO items (name) VALUES ('seed')")
        .await
        .unwrap();
    for _ in 0..16 {
        direct
            .execute_unprepared("INSERT INTO items (name) SELECT name FROM items")
            .await
            .unwrap();
    }
    direct.close().await.ok();
    while !app.b.contains("acme") {
        tokio::task::yield_now().await;
    }
    let options = sea_orm_tenant_migration::MoveOptions::default()
        .cut_over_timeout(Duration::from_secs(60))
        .grace(Duration::ZERO);
    kill_mover_when(app.dir.path(), "acme", &new_url, &options, async {
        while mysql_seal_triggers(&old_url).await == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let key = TenantKey::new("acme").unwrap();
    assert_eq!(
        app.catalog.get(&key).await.unwrap().unwrap().state,
        TenantState::Moving
    );
    for store in [&app.a, &app.b] {
        insert(store, "after-kill")
            .await
            .unwrap()
            .expect("the tenant takes writes once its dead mover's hold ends");
    }
    let expected = items_of(DbBackend::MySql, &old_url).await;
    assert_eq!(expected.len(), (1 << 16) + 2);

    let moved = provisioner
        .move_tenant("acme", &new_url, &options)
        .await
        .unwrap();
    eprintln!("moved after the kill: {moved:?}");
    assert!(
        items_of(DbBackend::MySql, &new_url).await == expected,
        "every row on the target"
    );
    assert_eq!(mysql_seal_triggers(&new_url).await, 0);
    insert(&app.a, "after").await.unwrap().unwrap();
    app.a.close().await;
    app.b.close().await;
    provisioner.close().await;
    dbs.cleanup().await;
}

/// A catalog made before the move journal existed: a move is refused with
/// the catalog's "not migrated" error, which says what to run, and the
/// tenant stays active where it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_on_a_catalog_without_its_journal_says_to_migrate_the_catalog() {
    let dbs = TestDatabases::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let (a, catalog) = catalog_store(dir.path()).await;
    let provisioner = Provisioner::new::<Migrator>(a.clone()).catalog(catalog.clone());
    provisioner
        .create("acme", &Placement::Url(dbs.url_template()))
        .await
        .unwrap();
    catalog
        .database()
        .execute_unprepared("DROP TABLE tenant_moves")
        .await
        .unwrap();
    let err = provisioner
        .move_tenant("acme", &dbs.url("acme-new"), &Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            sea_orm_tenant_migration::MoveError::Catalog {
                source: sea_orm_tenant::CatalogError::NotMigrated,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("catalog init"), "{err}");
    let entry = catalog
        .get(&TenantKey::new("acme").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.state, TenantState::Active);
    insert(&a, "after").await.unwrap().unwrap();
    a.close().await;
    provisioner.close().await;
}

/// A mover of `acme` (of `dbs`) killed after the catalog switched it to its
/// new database or file: the tenant serves from there; a second run of the
/// same move finishes it: the kept old copy refuses writes from anyone (a
/// direct session), and the journal's row is gone.
async fn killed_after_its_switch_then_finished(dbs: &TestDatabases, backend: DbBackend) {
    // The default expiry of a hold: the instances hold the tenant until
    // they see the switch.
    let app = common::instances().await;
    let provisioner = Provisioner::new::<Migrator>(app.a.clone()).catalog(app.catalog.clone());
    provisioner
        .create("acme", &Placement::Url(dbs.url_template()))
        .await
        .unwrap();
    let (old_url, new_url) = (dbs.url("acme"), dbs.url("acme-new"));
    insert(&app.a, "before").await.unwrap().unwrap();
    while !app.b.contains("acme") {
        tokio::task::yield_now().await;
    }
    // A grace of an hour: the kill lands after the switch, before the drop.
    let killed = MoveOptions::default().grace(Duration::from_secs(3600));
    kill_mover_when(
        app.dir.path(),
        "acme",
        &new_url,
        &killed,
        common::until_switched(&app.catalog, "acme", &new_url),
    )
    .await;
    for store in [&app.a, &app.b] {
        insert(store, "after-kill")
            .await
            .unwrap()
            .expect("the tenant takes writes on its new placement");
    }
    // The kill lands after the seal, in practice: its triggers are dropped
    // here, as a kill between the switch and the seal leaves the old copy.
    unseal(backend, &old_url).await;

    let moved = provisioner
        .move_tenant("acme", &new_url, &MoveOptions::default().keep_source(true))
        .await
        .unwrap();
    eprintln!("finished after a kill past the switch: {moved:?}");
    assert!(
        !moved.source_dropped && moved.warnings.is_empty(),
        "{moved:?}"
    );
    assert_eq!(
        items_of(backend, &new_url).await,
        ["after-kill", "after-kill", "before"]
    );
    let direct = Database::connect(&old_url).await.unwrap();
    let refused = direct
        .execute_unprepared("INSERT INTO items (name) VALUES ('into-the-old-copy')")
        .await
        .expect_err("the kept old copy is sealed");
    assert!(refused.to_string().contains("has moved"), "{refused}");
    if backend == DbBackend::MySql {
        direct
            .execute_unprepared("TRUNCATE TABLE items")
            .await
            .expect_err("the kept old copy's tables are behind views");
    }
    direct.close().await.ok();
    assert_eq!(items_of(backend, &old_url).await, ["before"]);
    assert_eq!(
        common::journal_rows(&app.catalog).await,
        0,
        "the journal's row is removed"
    );
    app.a.close().await;
    app.b.close().await;
    provisioner.close().await;
}

/// Drops every trigger of the database or file at `url` (the killed run
/// may or may not have sealed it).
async fn unseal(backend: DbBackend, url: &str) {
    let conn = Database::connect(url).await.unwrap();
    let list = match backend {
        DbBackend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'trigger'",
        _ => {
            "SELECT CAST(TRIGGER_NAME AS CHAR) AS name FROM information_schema.TRIGGERS \
             WHERE TRIGGER_SCHEMA = DATABASE()"
        }
    };
    let names: Vec<String> = conn
        .query_all_raw(Statement::from_string(backend, list))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("", "name").unwrap())
        .collect();
    for name in names {
        let quoted = match backend {
            DbBackend::Sqlite => format!("\"{name}\""),
            _ => format!("`{name}`"),
        };
        conn.execute_unprepared(&format!("DROP TRIGGER {quoted}"))
            .await
            .unwrap();
    }
    conn.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_mover_killed_after_its_switch_is_finished_by_a_rerun() {
    killed_after_its_switch_then_finished(&TestDatabases::sqlite(), DbBackend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_mover_killed_after_its_switch_is_finished_by_a_rerun() {
    let Some(dbs) = TestDatabases::mysql() else {
        eprintln!("notice: TEST_MYSQL_URL is not set; the MySQL move test is skipped");
        return;
    };
    killed_after_its_switch_then_finished(&dbs, DbBackend::MySql).await;
    dbs.cleanup().await;
}

/// A tenant whose mover was killed after its switch, dropped: its old copy
/// goes with it, not only its new one, and the journal's row too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_tenant_whose_mover_was_killed_after_its_switch_drops_its_old_copy() {
    let dbs = TestDatabases::sqlite();
    let app = common::instances().await;
    let provisioner = Provisioner::new::<Migrator>(app.a.clone()).catalog(app.catalog.clone());
    provisioner
        .create("acme", &Placement::Url(dbs.url_template()))
        .await
        .unwrap();
    insert(&app.a, "before").await.unwrap().unwrap();
    let (old_url, new_url) = (dbs.url("acme"), dbs.url("acme-new"));
    let killed = MoveOptions::default().grace(Duration::from_secs(3600));
    kill_mover_when(
        app.dir.path(),
        "acme",
        &new_url,
        &killed,
        common::until_switched(&app.catalog, "acme", &new_url),
    )
    .await;
    let file = |url: &str| {
        std::path::PathBuf::from(
            url.trim_start_matches("sqlite://")
                .split('?')
                .next()
                .unwrap(),
        )
    };
    assert!(file(&old_url).exists() && file(&new_url).exists());
    assert_eq!(common::journal_rows(&app.catalog).await, 1);
    provisioner.drop("acme", false).await.unwrap();
    assert!(!file(&old_url).exists(), "the old copy is dropped");
    assert!(!file(&new_url).exists(), "the tenant's file is dropped");
    assert_eq!(common::journal_rows(&app.catalog).await, 0);
    app.a.close().await;
    app.b.close().await;
    provisioner.close().await;
}

/// Options a live mover's renewals cannot keep up with are refused when a
/// follower starts, with the least valid expiry in the error.
#[tokio::test]
async fn a_follower_refuses_a_moving_expiry_shorter_than_two_renewals_and_a_poll() {
    let dir = tempfile::tempdir().unwrap();
    let (store, catalog) = catalog_store(dir.path()).await;
    let options = CatalogOptions {
        moving_expiry: Duration::from_millis(2500),
        ..CatalogOptions::default()
    };
    let err = CatalogSync::start(store.clone(), catalog, options)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            sea_orm_tenant::CatalogError::InvalidOptions(
                sea_orm_tenant::ConfigError::MovingExpiryTooShort { .. }
            )
        ),
        "{err}"
    );
    assert!(err.to_string().contains("at least 3s"), "{err}");
    store.close().await;
}

/// An instance that polls its catalog rarely (every 10 minutes, no
/// notifications) and learns of a move from a re-read still holds the
/// tenant through its live mover's renewals: while a tenant is `moving`, it
/// polls at least every renew interval, so the shortest valid
/// `moving_expiry` (3 s here) never lapses in the middle of the move; it
/// serves the tenant from its new placement after the switch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_polling_rarely_holds_a_moving_tenant_while_its_mover_renews() {
    let dbs = TestDatabases::sqlite();
    let app = common::instances().await;
    let (c, catalog_c) = catalog_store(app.dir.path()).await;
    let rare = CatalogOptions {
        poll_interval: Duration::from_secs(600),
        listen: false,
        ..CatalogOptions::default()
    };
    let expiry = rare.least_moving_expiry();
    assert_eq!(expiry, Duration::from_secs(3));
    let _sync_c = CatalogSync::start(
        c.clone(),
        catalog_c,
        CatalogOptions {
            moving_expiry: expiry,
            ..rare
        },
    )
    .await
    .unwrap();
    let provisioner = Provisioner::new::<Migrator>(app.a.clone()).catalog(app.catalog.clone());
    provisioner
        .create("acme", &Placement::Url(dbs.url_template()))
        .await
        .unwrap();
    // c learns of the tenant from the re-read an unknown name makes.
    c.connection("acme").await.unwrap();
    let new_url = dbs.url("acme-new");
    // A hold past twice the expiry (the settle wait).
    let options = MoveOptions::default()
        .settle(expiry * 2 + Duration::from_secs(1))
        .cut_over_timeout(Duration::from_secs(60))
        .grace(Duration::ZERO);
    let moving = spawn_move(&provisioner, &new_url, options);
    // b polls every 20 ms: once it holds the tenant, the mark is written.
    until_held(&app.b, &moving).await;
    // c reads the catalog again for a name it does not know, and so sees
    // the mark; it is not polled again for 10 minutes otherwise.
    assert!(c.connection("nosuch").await.is_err());
    assert!(
        held(&c),
        "c re-read the catalog and holds the moving tenant"
    );
    let since = std::time::Instant::now();
    while since.elapsed() < expiry * 2 {
        assert!(
            held(&c),
            "c let the tenant go {:?} into a live mover's hold",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    moving.await.unwrap().unwrap();
    insert(&c, "after").await.unwrap().unwrap();
    assert_eq!(items(&new_url).await, ["after"]);
    app.a.close().await;
    app.b.close().await;
    c.close().await;
    provisioner.close().await;
}

/// A live mover whose hold outlasts the instances' `moving_expiry` renews
/// its mark: the other instance holds the tenant from the mark to the
/// switch, never serving it in between (where it would meet the fence or
/// the seal), and serves it from the new placement after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_hold_a_tenant_as_long_as_its_live_mover_renews_the_mark() {
    let dbs = TestDatabases::sqlite();
    let expiry = common::shortest_moving_expiry();
    let app = instances_with(CatalogOptions {
        moving_expiry: expiry,
        ..CatalogOptions::default()
    })
    .await;
    let provisioner = Provisioner::new::<Migrator>(app.a.clone()).catalog(app.catalog.clone());
    provisioner
        .create("acme", &Placement::Url(dbs.url_template()))
        .await
        .unwrap();
    insert(&app.a, "before").await.unwrap().unwrap();
    while !app.b.contains("acme") {
        tokio::task::yield_now().await;
    }
    let new_url = dbs.url("acme-new");
    // A hold of 4 s (the settle wait), past the expiry.
    let options = MoveOptions::default()
        .settle(Duration::from_secs(4))
        .grace(Duration::ZERO);
    let moving = spawn_move(&provisioner, &new_url, options);
    until_held(&app.b, &moving).await;
    let since = std::time::Instant::now();
    while since.elapsed() < expiry + Duration::from_secs(1) {
        assert!(
            held(&app.b),
            "b let the tenant go {:?} into a live mover's hold",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let moved = moving.await.unwrap().unwrap();
    assert!(moved.held_millis >= 4000, "{moved:?}");
    insert(&app.b, "after").await.unwrap().unwrap();
    assert_eq!(items(&new_url).await, ["after", "before"]);
    app.a.close().await;
    app.b.close().await;
    provisioner.close().await;
}
