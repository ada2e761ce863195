//! Online moves of PostgreSQL tenants between two servers while writers
//! run through two app instances: every acknowledged write is on the target,
//! read back directly; nothing is lost or fails; a failed cut-over leaves the
//! tenant serving from its source with nothing of the move left, and a
//! second run moves it; a kept source refuses writes from anyone.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::{
    AddQty, CreateItems, Migrator, count, instances, instances_with, kill_mover_when, scalar,
    stop_writers, writers,
};
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, TransactionTrait,
};
use sea_orm_migration::prelude::{
    DbErr, MigrationName, MigrationTrait, MigratorTrait, SchemaManager,
};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{Catalog, CatalogOptions, TenantKey};
use sea_orm_tenant_migration::{
    MoveError, MoveOptions, Outcome, Placement, Provisioner, TenantMigrator,
};

/// Both servers, with `wal_level = logical` on the first; `None` with a notice.
async fn servers() -> Option<(TestDatabases, TestDatabases)> {
    let (Some(source), Some(target)) = (
        TestDatabases::postgres(),
        TestDatabases::postgres_from("TEST_POSTGRES_URL_2"),
    ) else {
        eprintln!(
            "notice: TEST_POSTGRES_URL and TEST_POSTGRES_URL_2 are needed; online move tests skipped"
        );
        return None;
    };
    let admin = source.admin().await;
    let level = scalar::<String>(&admin, "SHOW wal_level").await;
    admin.close().await.ok();
    if level != "logical" {
        eprintln!(
            "notice: the first PostgreSQL server has wal_level {level}, not logical; online move tests skipped"
        );
        return None;
    }
    Some((source, target))
}

/// The item names in `schema.items` of the database at `url`, read directly.
async fn items(url: &str, schema: &str) -> Vec<String> {
    let db = Database::connect(url).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT name FROM \"{schema}\".items ORDER BY name"),
        ))
        .await
        .unwrap();
    db.close().await.ok();
    rows.iter()
        .map(|r| r.try_get("", "name").unwrap())
        .collect()
}

/// Replication slots of the source database, publications in it, and
/// subscriptions in the target database.
async fn replication_left(source_url: &str, target_url: &str) -> (i64, i64, i64) {
    (
        count(
            source_url,
            "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()",
        )
        .await,
        count(source_url, "SELECT count(*) FROM pg_publication").await,
        count(
            target_url,
            "SELECT count(*) FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid \
             WHERE d.datname = current_database()",
        )
        .await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_tenant_moves_between_servers_while_two_instances_write() {
    let Some((mut source, mut target)) = servers().await else {
        return;
    };
    let source_url = source.create("hub").await;
    let target_url = target.create("hub").await;
    let app = instances().await;
    let provisioner = Provisioner::new::<Migrator>(app.a.clone()).catalog(app.catalog.clone());
    provisioner
        .create(
            "acme",
            &Placement::Schema {
                url: source_url.clone(),
                prefix: "t_".into(),
            },
        )
        .await
        .unwrap();
    // Rows before the move, so the initial copy has work.
    let seed = app.a.db();
    app.a
        .with_tenant(
            "acme",
            seed.execute_unprepared(
                "INSERT INTO items (name) SELECT 'seed-' || lpad(g::text, 5, '0') FROM generate_series(1, 5000) g",
            ),
        )
        .await
        .unwrap()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = writers(&app.a, &stop, 0);
    tasks.extend(writers(&app.b, &stop, 2));

    let moved = provisioner
        .move_tenant(
            "acme",
            &target_url,
            &MoveOptions::default().grace(Duration::from_millis(100)),
        )
        .await
        .unwrap();
    eprintln!("moved: {moved:?}");
    // Writers go on against the new placement for a while.
    let after = items(&target_url, "t_acme").await.len();
    while items(&target_url, "t_acme").await.len() < after + 20 {
        tokio::task::yield_now().await;
    }
    let (acked, errors) = stop_writers(&stop, tasks).await;
    assert!(
        errors.is_empty(),
        "writes failed during the move: {errors:?}"
    );
    let on_target = items(&target_url, "t_acme").await;
    let mut expected: Vec<String> = (1..=5000).map(|g| format!("seed-{g:05}")).collect();
    expected.extend(acked);
    expected.sort();
    assert_eq!(on_target.len(), expected.len(), "rows on the target");
    assert_eq!(on_target, expected, "every acknowledged write, once");
    assert!(
        moved.source_dropped && moved.warnings.is_empty(),
        "{moved:?}"
    );
    assert_eq!(
        count(
            &source_url,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 't_acme'"
        )
        .await,
        0,
        "the source schema is dropped"
    );
    assert_eq!(replication_left(&source_url, &target_url).await, (0, 0, 0));
    let entry = app
        .catalog
        .get(&TenantKey::new("acme").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.url, target_url);
    assert!(app.a.held().is_empty() && app.b.held().is_empty());
    app.a.close().await;
    app.b.close().await;
    provisioner.close().await;
    source.cleanup().await;
    target.cleanup().await;
}

/// A writer's open transaction on the source outlasts the cut-over's limit:
/// the move is undone (the tenant serves from its source, the target and the
/// replication are gone). Once it commits, a second run moves the tenant;
/// the kept source then refuses writes, even from a superuser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_cut_over_is_undone_and_a_second_run_moves_the_tenant() {
    let Some((mut source, target)) = servers().await else {
        return;
    };
    let app = instances().await;
    let provisioner = Provisioner::new::<Migrator>(app.a.clone()).catalog(app.catalog.clone());
    provisioner
        .create("acme", &Placement::Url(source.url_template()))
        .await
        .unwrap();
    let source_url = source.url("acme");
    source.create("unused").await;
    let target_url = target.url("acme");
    let db = app.a.db();
    let insert = |name: &'static str| {
        let (store, db) = (app.a.clone(), db.clone());
        async move {
            store
                .with_tenant(
                    "acme",
                    db.execute_unprepared(&format!("INSERT INTO items (name) VALUES ('{name}')")),
                )
                .await
                .unwrap()
                .unwrap();
        }
    };
    insert("before").await;
    let direct: DatabaseConnection = Database::connect(&source_url).await.unwrap();
    // A writer between its lock and its write. It has no transaction id
    // yet: making a replication slot waits for every transaction that has.
    let blocker = direct.begin().await.unwrap();
    blocker
        .execute_unprepared("LOCK TABLE items IN ROW EXCLUSIVE MODE")
        .await
        .unwrap();
    let options = MoveOptions::default()
        .cut_over_timeout(Duration::from_millis(500))
        .keep_source(true);
    let err = provisioner
        .move_tenant("acme", &target_url, &options)
        .await
        .unwrap_err();
    assert!(matches!(err, MoveError::TimedOut { .. }), "{err}");
    let key = TenantKey::new("acme").unwrap();
    let entry = app.catalog.get(&key).await.unwrap().unwrap();
    assert_eq!(
        (entry.url.as_str(), entry.state.as_str()),
        (source_url.as_str(), "active")
    );
    assert_eq!(
        replication_left(&source_url, &source.url("unused")).await,
        (0, 0, 0)
    );
    assert_eq!(
        target.existing().await,
        Vec::<String>::new(),
        "the target database is dropped"
    );
    insert("between").await;
    assert_eq!(items(&source_url, "public").await, ["before", "between"]);
    blocker
        .execute_unprepared("INSERT INTO items (name) VALUES ('slow')")
        .await
        .unwrap();
    blocker.commit().await.unwrap();

    let moved = provisioner
        .move_tenant("acme", &target_url, &options)
        .await
        .unwrap();
    assert!(
        !moved.source_dropped && moved.warnings.is_empty(),
        "{moved:?}"
    );
    insert("after").await;
    assert_eq!(
        items(&target_url, "public").await,
        ["after", "before", "between", "slow"]
    );
    // The kept source is sealed: a superuser's direct write fails.
    let err = direct
        .execute_unprepared("INSERT INTO items (name) VALUES ('stale')")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("has moved"), "{err}");
    direct.close().await.ok();
    assert_eq!(
        items(&source_url, "public").await,
        ["before", "between", "slow"]
    );
    app.a.close().await;
    app.b.close().await;
    provisioner.close().await;
    source.cleanup().await;
    target.cleanup().await;
}

/// Waits until the provisioner's dropped moves have ended, then reads where
/// the tenant is: active, and either still on the source with nothing of
/// the move left (no target, no slot, no publication) or on the target.
/// Returns whether it moved.
async fn settled(provisioner: &Provisioner, target: &TestDatabases, urls: (&str, &str)) -> bool {
    let (source_url, target_url) = urls;
    provisioner.settled().await;
    let catalog = provisioner.catalog_ref().unwrap();
    let key = TenantKey::new("acme").unwrap();
    let entry = catalog.get(&key).await.unwrap().unwrap();
    assert_eq!(entry.state.as_str(), "active", "not settled: {entry:?}");
    if entry.url == target_url {
        return true;
    }
    assert_eq!(entry.url, source_url, "{entry:?}");
    assert_eq!(
        target.existing().await,
        Vec::<String>::new(),
        "the target is left"
    );
    let left = replication_left(source_url, source_url).await;
    assert_eq!(
        (left.0, left.1),
        (0, 0),
        "replication is left on the source"
    );
    false
}

/// The move dropped at points spread over all its steps: each time the
/// tenant settles either where it was, with nothing of the move left, or on
/// the target; it takes writes at once either way, none is lost, and a last
/// run moves it if none did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_dropped_at_any_point_leaves_the_tenant_serving() {
    let Some((source, target)) = servers().await else {
        return;
    };
    let app = instances().await;
    let provisioner = Provisioner::new::<Migrator>(app.a.clone()).catalog(app.catalog.clone());
    provisioner
        .create("acme", &Placement::Url(source.url_template()))
        .await
        .unwrap();
    let (source_url, target_url) = (source.url("acme"), target.url("acme"));
    let db = app.a.db();
    let mut written = Vec::new();
    let options = MoveOptions::default().grace(Duration::ZERO);
    let mut moved = false;
    for (i, cutoff) in [
        1u64, 5, 15, 30, 60, 100, 150, 220, 300, 400, 550, 800, 1000, 1150, 1300, 1450, 1600, 1800,
        2000, 2300, 2600,
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("c{i:02}");
        app.a
            .with_tenant(
                "acme",
                db.execute_unprepared(&format!("INSERT INTO items (name) VALUES ('{name}')")),
            )
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("a write after a move dropped at {cutoff} ms: {e}"));
        written.push(name);
        let run = provisioner.move_tenant("acme", &target_url, &options);
        let finished = tokio::time::timeout(Duration::from_millis(cutoff), run).await;
        if let Ok(result) = finished {
            result.unwrap();
        }
        moved = settled(&provisioner, &target, (&source_url, &target_url)).await;
        eprintln!("dropped at {cutoff} ms: moved {moved}");
        if moved {
            break;
        }
        assert_eq!(items(&source_url, "public").await, written);
    }
    if !moved {
        provisioner
            .move_tenant("acme", &target_url, &options)
            .await
            .unwrap();
    }
    app.a
        .with_tenant(
            "acme",
            db.execute_unprepared("INSERT INTO items (name) VALUES ('zz-after')"),
        )
        .await
        .unwrap()
        .unwrap();
    written.push("zz-after".into());
    assert_eq!(items(&target_url, "public").await, written);
    app.a.close().await;
    app.b.close().await;
    provisioner.close().await;
    source.cleanup().await;
    target.cleanup().await;
}

/// Where a move is dropped.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The target database exists.
    TargetMade,
    /// The target subscribes to the source: the copy runs.
    Copying,
    /// The catalog marks the tenant `moving`: its requests are held.
    Holding,
    /// The catalog names the target.
    Switched,
}

/// Whether the move has reached `step`, read from the servers and the catalog.
async fn reached(step: Step, catalog: &Catalog, target: &TestDatabases, target_url: &str) -> bool {
    let key = TenantKey::new("acme").unwrap();
    match step {
        Step::TargetMade => !target.existing().await.is_empty(),
        // The target can be dropped between the two reads (a run clearing
        // what a killed one left): not reached then.
        Step::Copying => match Database::connect(target_url).await {
            Ok(db) => {
                let n = db
                    .query_one_raw(Statement::from_string(
                        DbBackend::Postgres,
                        "SELECT count(*) FROM pg_subscription s JOIN pg_database d \
                         ON d.oid = s.subdbid WHERE d.datname = current_database()",
                    ))
                    .await
                    .ok()
                    .flatten()
                    .and_then(|r| r.try_get_by_index::<i64>(0).ok());
                db.close().await.ok();
                n.unwrap_or(0) > 0
            }
            Err(_) => false,
        },
        Step::Holding => catalog.get(&key).await.unwrap().unwrap().state.as_str() == "moving",
        Step::Switched => catalog.get(&key).await.unwrap().unwrap().url == target_url,
    }
}

/// The move dropped at each of its steps, seen as it happens: after the
/// target is made, during the copy, during the hold, after the switch. The
/// tenant takes writes after each, none is lost, and it settles where it
/// should: on its source until the switch, on the target after it; a last
/// run moves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_dropped_at_each_step_settles_and_loses_nothing() {
    let Some((source, target)) = servers().await else {
        return;
    };
    let app = instances().await;
    let provisioner = Provisioner::new::<Migrator>(app.a.clone()).catalog(app.catalog.clone());
    provisioner
        .create("acme", &Placement::Url(source.url_template()))
        .await
        .unwrap();
    let (source_url, target_url) = (source.url("acme"), target.url("acme"));
    let db = app.a.db();
    let mut written = Vec::new();
    let options = MoveOptions::default().grace(Duration::ZERO);
    for step in [
        Step::TargetMade,
        Step::Copying,
        Step::Holding,
        Step::Switched,
    ] {
        let name = format!("{step:?}");
        app.a
            .with_tenant(
                "acme",
                db.execute_unprepared(&format!("INSERT INTO items (name) VALUES ('{name}')")),
            )
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("a write before dropping at {step:?}: {e}"));
        written.push(name);
        let mut run = Box::pin(provisioner.move_tenant("acme", &target_url, &options));
        let dropped = async {
            while !reached(step, &app.catalog, &target, &target_url).await {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::select! {
            result = &mut run => panic!("the move ended before {step:?} was seen: {result:?}"),
            () = dropped => {}
        }
        drop(run);
        let moved = settled(&provisioner, &target, (&source_url, &target_url)).await;
        eprintln!("dropped at {step:?}: moved {moved}");
        assert_eq!(moved, matches!(step, Step::Switched), "dropped at {step:?}");
        let here = if moved { &target_url } else { &source_url };
        let mut expected = written.clone();
        expected.sort();
        assert_eq!(items(here, "public").await, expected, "dropped at {step:?}");
    }
    app.a
        .with_tenant(
            "acme",
            db.execute_unprepared("INSERT INTO items (name) VALUES ('zz-after')"),
        )
        .await
        .unwrap()
        .unwrap();
    written.push("zz-after".into());
    written.sort();
    assert_eq!(items(&target_url, "public").await, written);
    // The run dropped after its switch finished on its own task, which
    // `settled` waited for: the source is dropped.
    assert_eq!(source.existing().await, Vec::<String>::new());
    app.a.close().await;
    app.b.close().await;
    provisioner.close().await;
    source.cleanup().await;
    target.cleanup().await;
}

/// The mover killed at each step before its switch (target made, copying,
/// holding), as a process is killed: nothing of it runs again. The tenant
/// takes writes on its source each time (held at most `moving_expiry`),
/// and the next run clears what the dead one left (the target, and the
/// replication found by name even when the catalog has no mark of it) and
/// moves it with every row; nothing of the replication is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mover_killed_at_each_step_leaves_the_tenant_writable_and_a_rerun_moves_it() {
    let Some((source, target)) = servers().await else {
        return;
    };
    let app = instances_with(CatalogOptions {
        moving_expiry: common::shortest_moving_expiry(),
        ..CatalogOptions::default()
    })
    .await;
    let provisioner = Provisioner::new::<Migrator>(app.a.clone()).catalog(app.catalog.clone());
    provisioner
        .create("acme", &Placement::Url(source.url_template()))
        .await
        .unwrap();
    let (source_url, target_url) = (source.url("acme"), target.url("acme"));
    let db = app.a.db();
    // Rows enough for the initial copy to be seen running.
    app.a
        .with_tenant(
            "acme",
            db.execute_unprepared(
                "INSERT INTO items (name) SELECT 'seed-' || lpad(g::text, 6, '0') FROM generate_series(1, 200000) g",
            ),
        )
        .await
        .unwrap()
        .unwrap();
    while !app.b.contains("acme") {
        tokio::task::yield_now().await;
    }
    let options = MoveOptions::default().grace(Duration::ZERO);
    let mut written = 200_000;
    for step in [Step::TargetMade, Step::Copying, Step::Holding] {
        kill_mover_when(app.dir.path(), "acme", &target_url, &options, async {
            while !reached(step, &app.catalog, &target, &target_url).await {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        for store in [&app.a, &app.b] {
            let db = store.db();
            store
                .with_tenant(
                    "acme",
                    db.execute_unprepared(&format!(
                        "INSERT INTO items (name) VALUES ('killed-{step:?}')"
                    )),
                )
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("a write after a kill at {step:?}: {e}"));
            written += 1;
        }
        assert_eq!(
            items(&source_url, "public").await.len(),
            written,
            "killed at {step:?}"
        );
    }
    let moved = provisioner
        .move_tenant("acme", &target_url, &options)
        .await
        .unwrap();
    eprintln!("moved after three kills: {moved:?}");
    assert_eq!(items(&target_url, "public").await.len(), written);
    // The source is dropped, which no slot of its database would allow.
    assert!(
        moved.source_dropped && moved.warnings.is_empty(),
        "{moved:?}"
    );
    assert_eq!(
        count(
            &target_url,
            "SELECT count(*) FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid \
             WHERE d.datname = current_database()"
        )
        .await,
        0
    );
    app.a.close().await;
    app.b.close().await;
    provisioner.close().await;
    source.cleanup().await;
    target.cleanup().await;
}

/// A mover killed after the catalog switched the tenant (in its grace, or
/// before: wherever the kill lands after the switch) left the tenant
/// serving from the target, and its source, its replication and its
/// journal row behind. A second run of the same move finishes it: the
/// replication is gone, the kept source refuses writes, nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mover_killed_after_its_switch_is_finished_by_a_rerun() {
    let Some((source, target)) = servers().await else {
        return;
    };
    let app = instances_with(CatalogOptions {
        moving_expiry: common::shortest_moving_expiry(),
        ..CatalogOptions::default()
    })
    .await;
    let provisioner = Provisioner::new::<Migrator>(app.a.clone()).catalog(app.catalog.clone());
    provisioner
        .create("acme", &Placement::Url(source.url_template()))
        .await
        .unwrap();
    let (source_url, target_url) = (source.url("acme"), target.url("acme"));
    let db = app.a.db();
    app.a
        .with_tenant(
            "acme",
            db.execute_unprepared(
                "INSERT INTO items (name) SELECT 'seed-' || g FROM generate_series(1, 1000) g",
            ),
        )
        .await
        .unwrap()
        .unwrap();
    while !app.b.contains("acme") {
        tokio::task::yield_now().await;
    }
    // A grace of an hour: the kill lands after the switch, before the drop.
    let killed = MoveOptions::default().grace(Duration::from_secs(3600));
    kill_mover_when(app.dir.path(), "acme", &target_url, &killed, async {
        while !reached(Step::Switched, &app.catalog, &target, &target_url).await {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert_eq!(
        common::journal_rows(&app.catalog).await,
        1,
        "the killed move's journal row"
    );
    let mut written = 1000;
    for store in [&app.a, &app.b] {
        let db = store.db();
        store
            .with_tenant(
                "acme",
                db.execute_unprepared("INSERT INTO items (name) VALUES ('after-the-kill')"),
            )
            .await
            .unwrap()
            .unwrap();
        written += 1;
    }
    assert_eq!(items(&target_url, "public").await.len(), written);
    // The kill lands after the seal, in practice: its triggers are dropped
    // here, as a kill between the switch and the seal leaves the source.
    let old = Database::connect(&source_url).await.unwrap();
    for table in ["items", "seaql_migrations"] {
        old.execute_unprepared(&format!(
            "DROP TRIGGER IF EXISTS sot_tenant_moved ON public.{table}"
        ))
        .await
        .unwrap();
    }
    old.close().await.ok();

    let moved = provisioner
        .move_tenant(
            "acme",
            &target_url,
            &MoveOptions::default().keep_source(true),
        )
        .await
        .unwrap();
    eprintln!("finished after a kill past the switch: {moved:?}");
    assert!(
        !moved.source_dropped && moved.warnings.is_empty(),
        "{moved:?}"
    );
    assert_eq!(replication_left(&source_url, &target_url).await, (0, 0, 0));
    assert_eq!(common::journal_rows(&app.catalog).await, 0);
    let old = Database::connect(&source_url).await.unwrap();
    let refused = old
        .execute_unprepared("INSERT INTO items (name) VALUES ('into-the-old-copy')")
        .await
        .expect_err("the kept source is sealed");
    assert!(refused.to_string().contains("has moved"), "{refused}");
    old.close().await.ok();
    assert_eq!(items(&source_url, "public").await.len(), 1000);
    assert_eq!(items(&target_url, "public").await.len(), written);
    // The tenant is where it was moved to: a move there again is refused.
    let again = provisioner
        .move_tenant("acme", &target_url, &MoveOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(again, MoveError::Unsupported { .. }), "{again}");
    app.a.close().await;
    app.b.close().await;
    provisioner.close().await;
    source.cleanup().await;
    target.cleanup().await;
}

static HELD_ENTERED: tokio::sync::Notify = tokio::sync::Notify::const_new();
static HELD_RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// A third migration that waits for the test, then fails without changing
/// anything: its runner holds the tenant's migration lock meanwhile.
struct Held;
impl MigrationName for Held {
    fn name(&self) -> &str {
        "m3_held"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for Held {
    async fn up(&self, _: &SchemaManager) -> Result<(), DbErr> {
        HELD_ENTERED.notify_one();
        HELD_RELEASE.notified().await;
        Err(DbErr::Custom("stopped by the test".into()))
    }
}

struct HeldMigrator;
impl MigratorTrait for HeldMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateItems), Box::new(AddQty), Box::new(Held)]
    }
}

/// Sessions holding the migration runner's advisory lock in the database at `url`.
async fn migration_locks(url: &str) -> i64 {
    count(
        url,
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 98598474 \
         AND d.datname = current_database()",
    )
    .await
}

/// The move and the migration runner take the same lock: a move started
/// while a migration runs on the tenant waits for it, then is refused with
/// a typed error and changes nothing; a migration started during a move
/// reports the tenant busy (nothing migrated on the source while it is
/// copied), and the move finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_and_a_migration_of_the_tenant_never_run_at_once() {
    let Some((mut source, target)) = servers().await else {
        return;
    };
    let app = instances().await;
    let provisioner = Provisioner::new::<Migrator>(app.a.clone()).catalog(app.catalog.clone());
    provisioner
        .create("acme", &Placement::Url(source.url_template()))
        .await
        .unwrap();
    let source_url = source.url("acme");
    source.create("unused").await;
    let target_url = target.url("acme");
    let key = TenantKey::new("acme").unwrap();

    // A migration runs: the move waits for its lock, then gives up.
    let runner = tokio::spawn({
        let migrator = TenantMigrator::new::<HeldMigrator>(app.a.clone()).select(["acme"]);
        async move { migrator.up().await }
    });
    HELD_ENTERED.notified().await;
    let options = MoveOptions::default()
        .lock_wait(Duration::from_millis(300))
        .cut_over_timeout(Duration::from_secs(30));
    let err = provisioner
        .move_tenant("acme", &target_url, &options)
        .await
        .unwrap_err();
    assert!(matches!(err, MoveError::Migrating { .. }), "{err}");
    let entry = app.catalog.get(&key).await.unwrap().unwrap();
    assert_eq!(
        (entry.url.as_str(), entry.state.as_str()),
        (source_url.as_str(), "active")
    );
    assert_eq!(target.existing().await, Vec::<String>::new());
    HELD_RELEASE.notify_one();
    let report = runner.await.unwrap().unwrap();
    assert_eq!(report.tenant("acme").unwrap().outcome, Outcome::Failed);

    // A move runs, pinned at its fence by a writer between its lock and its
    // write: a migration started then finds the tenant busy.
    let direct: DatabaseConnection = Database::connect(&source_url).await.unwrap();
    let blocker = direct.begin().await.unwrap();
    blocker
        .execute_unprepared("LOCK TABLE items IN ROW EXCLUSIVE MODE")
        .await
        .unwrap();
    let moving = tokio::spawn({
        let (provisioner, target_url, options) =
            (provisioner.clone(), target_url.clone(), options.clone());
        async move { provisioner.move_tenant("acme", &target_url, &options).await }
    });
    let mut waited = 0;
    while migration_locks(&source_url).await == 0 {
        assert!(!moving.is_finished(), "the move ended without the lock");
        waited += 1;
        assert!(waited < 3_000, "the move never took the migration lock");
        tokio::task::yield_now().await;
    }
    let report = TenantMigrator::new::<Migrator>(app.a.clone())
        .select(["acme"])
        .lock_timeout(Duration::from_millis(200))
        .up()
        .await
        .unwrap();
    let busy = report.tenant("acme").unwrap();
    assert_eq!(busy.outcome, Outcome::Failed, "{report}");
    assert!(
        busy.error.as_deref().unwrap().starts_with("busy"),
        "{report}"
    );
    blocker.commit().await.unwrap();
    direct.close().await.ok();
    let moved = moving.await.unwrap().unwrap();
    assert!(moved.warnings.is_empty(), "{moved:?}");
    assert_eq!(migration_locks(&target_url).await, 0);
    let entry = app.catalog.get(&key).await.unwrap().unwrap();
    assert_eq!(entry.url, target_url);
    app.a.close().await;
    app.b.close().await;
    provisioner.close().await;
    source.cleanup().await;
    target.cleanup().await;
}
