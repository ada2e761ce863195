//! Tenant lifecycle: create and drop on every backend (SQLite files, PostgreSQL
//! databases, template clones and schemas, MariaDB databases), with failures
//! injected, concurrent creates, and the catalog. What exists afterwards is read
//! directly from the servers and the folder, never through the store.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{FailingMigrator, M1, M2, Migrator, catalog_store, direct, small_pools};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use sea_orm_migration::MigratorTrait;
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{
    Catalog, CatalogOptions, CatalogSync, SchemaName, TenantConnections, TenantError, TenantState,
};
use sea_orm_tenant_migration::{CatalogMigrator, Placement, ProvisionError, Provisioner};

/// Every backend the environment offers, schema tenants included.
fn every_backend() -> Vec<TestDatabases> {
    let mut all = TestDatabases::all();
    all.extend(TestDatabases::postgres_schemas());
    all
}

fn placement(dbs: &TestDatabases) -> Placement {
    if dbs.is_schemas() {
        Placement::Schema {
            url: dbs.url("x"),
            prefix: "s_".to_owned(),
        }
    } else {
        Placement::Url(dbs.url_template())
    }
}

/// What the test's databases hold, besides the schema database's base schema.
/// The tenants' storage left: databases, their side files, schemas. The lock
/// file a SQLite folder's databases share is not a tenant's: it stays by design.
async fn existing(dbs: &TestDatabases) -> BTreeSet<String> {
    dbs.existing()
        .await
        .into_iter()
        .filter(|n| n != "s_base" && n != ".sea-orm-tenant.migrate-lock")
        .collect()
}

async fn prepare(dbs: &mut TestDatabases) {
    if dbs.is_schemas() {
        // The database schema tenants live in.
        dbs.create("base").await;
    }
}

fn store() -> TenantConnections {
    TenantConnections::builder()
        .defaults(small_pools())
        .build()
        .unwrap()
}

/// A store whose shared database (a SQLite file in `dir`) holds a migrated catalog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_then_drop_leaves_nothing_on_every_backend() {
    for mut dbs in every_backend() {
        prepare(&mut dbs).await;
        let label = format!("{:?} schemas={}", dbs.backend(), dbs.is_schemas());
        let store = store();
        let provisioner = Provisioner::new::<Migrator>(store.clone());
        let created = provisioner
            .create("acme", &placement(&dbs))
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(created.version.as_deref(), Some(M2), "{label}");
        assert!(store.contains("acme"), "{label}: registered");
        assert_eq!(
            direct(&dbs, "acme").await,
            (vec![M1.to_owned(), M2.to_owned()], true),
            "{label}: migrated, read directly"
        );
        // Served through the store.
        let conn = store.connection("acme").await.unwrap();
        conn.execute_raw(Statement::from_string(
            conn.get_database_backend(),
            "INSERT INTO items (name, qty) VALUES ('x', 1)",
        ))
        .await
        .unwrap();
        drop(conn);
        assert!(!existing(&dbs).await.is_empty(), "{label}: storage exists");

        let dropped = provisioner.drop("acme", false).await.unwrap();
        assert!(dropped.storage_dropped, "{label}");
        assert!(!store.contains("acme"), "{label}: unregistered");
        assert!(
            matches!(store.connection("acme").await, Err(TenantError::Unknown(_))),
            "{label}"
        );
        assert_eq!(
            existing(&dbs).await,
            BTreeSet::new(),
            "{label}: nothing left"
        );
        // Dropping again: not found, nothing else happens.
        assert!(matches!(
            provisioner.drop("acme", false).await,
            Err(ProvisionError::NotFound { .. })
        ));
        provisioner.close().await;
        store.close().await;
        dbs.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_failing_halfway_leaves_nothing_behind() {
    for mut dbs in every_backend() {
        prepare(&mut dbs).await;
        let label = format!("{:?} schemas={}", dbs.backend(), dbs.is_schemas());
        let dir = tempfile::tempdir().unwrap();
        let (store, catalog) = catalog_store(dir.path()).await;
        let provisioner =
            Provisioner::new::<FailingMigrator>(store.clone()).catalog(catalog.clone());
        let err = provisioner
            .create("acme", &placement(&dbs))
            .await
            .expect_err("the third migration fails");
        assert!(
            matches!(&err, ProvisionError::Migration { tenant, .. } if tenant.as_str() == "acme"),
            "{label}: {err:?}"
        );
        assert!(
            err.to_string().contains("acme"),
            "{label}: names the tenant"
        );
        assert_eq!(
            existing(&dbs).await,
            BTreeSet::new(),
            "{label}: storage undone"
        );
        assert!(catalog.list().await.unwrap().is_empty(), "{label}: no row");
        assert!(!store.contains("acme"), "{label}: not registered");
        // The name is free again: a good migrator creates it.
        let provisioner = Provisioner::new::<Migrator>(store.clone()).catalog(catalog.clone());
        provisioner
            .create("acme", &placement(&dbs))
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        provisioner.drop("acme", false).await.unwrap();
        store.close().await;
        dbs.cleanup().await;
    }
}

#[tokio::test]
async fn bad_names_and_unreachable_servers_touch_nothing() {
    let mut dbs = TestDatabases::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let (store, catalog) = catalog_store(dir.path()).await;
    let provisioner = Provisioner::new::<Migrator>(store.clone()).catalog(catalog.clone());
    for name in [
        "../etc",
        "a\"b",
        "Acme",
        "x; DROP TABLE tenants",
        "",
        "con",
        &"a".repeat(64),
    ] {
        let err = provisioner
            .create(name, &placement(&dbs))
            .await
            .expect_err(name);
        assert!(
            matches!(err, ProvisionError::InvalidName { .. }),
            "{name:?}: {err:?}"
        );
    }
    // A placement whose database name the rule refuses.
    let err = provisioner
        .create(
            "acme",
            &Placement::Url("postgres://u@127.0.0.1:1/Bad\"Name".into()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProvisionError::Placement { .. }), "{err:?}");
    // A server that is not there: a typed error, the row undone.
    let err = provisioner
        .create(
            "acme",
            &Placement::Url("postgres://u:secret@127.0.0.1:1/t_{tenant}".into()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProvisionError::Storage { .. }),
        "unreachable: {err:?}"
    );
    assert!(!err.to_string().contains("secret"), "{err}");
    assert!(existing(&dbs).await.is_empty());
    assert!(catalog.list().await.unwrap().is_empty());
    prepare(&mut dbs).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_creates_of_one_name_one_wins() {
    let mut backends = vec![TestDatabases::sqlite()];
    backends.extend(TestDatabases::postgres());
    for dbs in backends {
        let label = format!("{:?}", dbs.backend());
        let dir = tempfile::tempdir().unwrap();
        let (store, catalog) = catalog_store(dir.path()).await;
        let provisioner = Provisioner::new::<Migrator>(store.clone()).catalog(catalog.clone());
        let place = placement(&dbs);
        let results =
            futures_util::future::join_all((0..10).map(|_| provisioner.create("acme", &place)))
                .await;
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "{label}: {results:?}");
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(r, ProvisionError::AlreadyExists { .. }),
                "{label}: {r:?}"
            );
        }
        // The winner's tenant is whole: nothing of it was dropped by a loser.
        assert_eq!(
            direct(&dbs, "acme").await,
            (vec![M1.to_owned(), M2.to_owned()], true),
            "{label}"
        );
        let rows = catalog.list().await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].state, TenantState::Active);
        provisioner.drop("acme", false).await.unwrap();
        store.close().await;
        dbs.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_creates() {
    let dbs = TestDatabases::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let (store, catalog) = catalog_store(dir.path()).await;
    let provisioner = Provisioner::new::<Migrator>(store.clone()).catalog(catalog.clone());
    let place = placement(&dbs);
    let names: Vec<String> = (0..100).map(|i| format!("t{i:03}")).collect();
    let results =
        futures_util::future::join_all(names.iter().map(|n| provisioner.create(n, &place))).await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    let rows = catalog.list().await.unwrap();
    assert_eq!(rows.len(), 100);
    assert!(
        rows.iter()
            .all(|r| r.state == TenantState::Active && r.version.as_deref() == Some(M2))
    );
    for name in names.iter().step_by(17) {
        assert_eq!(
            direct(&dbs, name).await,
            (vec![M1.to_owned(), M2.to_owned()], true)
        );
    }
    assert_eq!(store.tenants().len(), 100);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_clones_and_a_template_behind_is_brought_up() {
    let Some(dbs) = TestDatabases::postgres() else {
        return;
    };
    let template = SchemaName::new(&format!("{}_tpl", dbs.prefix())).unwrap();
    let store = store();
    let provisioner = Provisioner::new::<Migrator>(store.clone()).template(template.clone());
    let place = placement(&dbs);
    for name in ["acme", "globex"] {
        let created = provisioner.create(name, &place).await.unwrap();
        assert!(created.from_template, "{name}");
        assert_eq!(created.version.as_deref(), Some(M2));
        assert_eq!(
            direct(&dbs, name).await,
            (vec![M1.to_owned(), M2.to_owned()], true),
            "{name}: the clone holds the migrated schema"
        );
    }
    let admin = dbs.admin().await;
    let comment = |admin: sea_orm::DatabaseConnection| {
        let template = template.clone();
        async move {
            let row = admin
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT shobj_description(oid, 'pg_database') AS c, \
                     (SELECT count(*) FROM pg_stat_activity WHERE datname = $1) AS n \
                     FROM pg_database WHERE datname = $1",
                    [template.as_str().into()],
                ))
                .await
                .unwrap()
                .unwrap();
            (
                row.try_get::<Option<String>>("", "c").unwrap(),
                row.try_get::<i64>("", "n").unwrap(),
            )
        }
    };
    assert_eq!(
        comment(admin.clone()).await,
        (Some(M2.to_owned()), 0),
        "the template records its version, and nothing stays connected to it"
    );
    // A template behind (a new migration since): brought up, then cloned.
    admin
        .execute_unprepared(&format!(
            "COMMENT ON DATABASE {} IS 'm0'",
            template.quoted()
        ))
        .await
        .unwrap();
    let created = provisioner.create("initech", &place).await.unwrap();
    assert!(created.from_template);
    assert_eq!(comment(admin.clone()).await, (Some(M2.to_owned()), 0));
    for name in ["acme", "globex", "initech"] {
        provisioner.drop(name, false).await.unwrap();
    }
    admin.close().await.ok();
    provisioner.close().await;
    store.close().await;
    dbs.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_waits_for_in_flight_work_and_new_calls_are_refused() {
    let dbs = TestDatabases::sqlite();
    let store = store();
    let provisioner = Provisioner::new::<Migrator>(store.clone());
    provisioner.create("acme", &placement(&dbs)).await.unwrap();
    let db = store.db();
    // A transaction in flight when the drop starts.
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (finish_tx, finish_rx) = tokio::sync::oneshot::channel::<()>();
    let in_flight = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .with_tenant("acme", async move {
                    use sea_orm::TransactionTrait;
                    let txn = db.begin().await.unwrap();
                    txn.execute_unprepared("INSERT INTO items (name, qty) VALUES ('in-flight', 1)")
                        .await
                        .unwrap();
                    started_tx.send(()).unwrap();
                    finish_rx.await.unwrap();
                    txn.commit().await
                })
                .await
        }
    });
    started_rx.await.unwrap();
    let dropping = tokio::spawn({
        let provisioner = provisioner.clone();
        async move { provisioner.drop("acme", true).await }
    });
    // New calls are refused while the drop waits.
    loop {
        if !store.contains("acme") {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(matches!(
        store.connection("acme").await,
        Err(TenantError::Unknown(_))
    ));
    finish_tx.send(()).unwrap();
    in_flight
        .await
        .unwrap()
        .unwrap()
        .expect("the in-flight transaction commits");
    dropping.await.unwrap().unwrap();
    // Kept data (--keep-data): the committed row is there, read directly.
    let conn = Database::connect(dbs.url("acme")).await.unwrap();
    let n = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT count(*) AS n FROM items WHERE name = 'in-flight'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(n, 1);
    conn.close().await.ok();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_serves_a_new_tenant_on_its_next_request_without_notifications() {
    let dbs = TestDatabases::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let (a, catalog_a) = catalog_store(dir.path()).await;
    let (b, catalog_b) = catalog_store(dir.path()).await;
    let options = CatalogOptions {
        poll_interval: Duration::from_secs(3600),
        listen: false,
        ..CatalogOptions::default()
    };
    let _sync_b = CatalogSync::start(b.clone(), catalog_b, options)
        .await
        .unwrap();
    let provisioner = Provisioner::new::<Migrator>(a.clone())
        .catalog(catalog_a)
        .drop_grace(Duration::ZERO);
    provisioner.create("acme", &placement(&dbs)).await.unwrap();
    // B has not polled (an hour): the unknown name triggers the re-read.
    let conn = b
        .connection("acme")
        .await
        .expect("served on the next request");
    drop(conn);
    let inside = b
        .with_tenant("acme", async { sea_orm_tenant::current_tenant() })
        .await
        .unwrap();
    assert_eq!(inside.unwrap().as_str(), "acme");
    // A drop on A: B no longer serves it after its next re-read.
    provisioner.drop("acme", false).await.unwrap();
    _sync_b.refresh().await.unwrap();
    assert!(matches!(
        b.connection("acme").await,
        Err(TenantError::Unknown(_))
    ));
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notifications_reach_another_instance_within_a_second() {
    let Some(mut dbs) = TestDatabases::postgres() else {
        return;
    };
    let shared_url = dbs.create("shared").await;
    let open = || async {
        let store = TenantConnections::builder()
            .defaults(small_pools())
            .shared(shared_url.clone())
            .build()
            .unwrap();
        let catalog = Catalog::open(&store).await.unwrap();
        (store, catalog)
    };
    let (a, catalog_a) = open().await;
    CatalogMigrator::up(&a.shared().await.unwrap(), None)
        .await
        .unwrap();
    let (b, catalog_b) = open().await;
    let options = CatalogOptions {
        poll_interval: Duration::from_secs(3600),
        ..CatalogOptions::default()
    };
    let sync_b = CatalogSync::start(b.clone(), catalog_b, options)
        .await
        .unwrap();
    let mut changes = sync_b.subscribe();
    let provisioner = Provisioner::new::<Migrator>(a.clone())
        .catalog(catalog_a)
        .drop_grace(Duration::ZERO);
    provisioner.create("acme", &placement(&dbs)).await.unwrap();
    // No request to B: only the notification can bring the tenant.
    tokio::time::timeout(Duration::from_secs(1), async {
        while !b.contains("acme") {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("B registered the tenant within 1 s of the create, from the notification");
    provisioner.drop("acme", false).await.unwrap();
    tokio::time::timeout(Duration::from_secs(1), async {
        while b.contains("acme") {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("B dropped the tenant within 1 s");
    drop(sync_b);
    a.close().await;
    b.close().await;
    dbs.cleanup().await;
}

#[test]
fn catalog_migrator_names_its_own_table() {
    let names: Vec<String> = CatalogMigrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "m20261126_000001_create_tenant_catalog",
            "m20261204_000001_catalog_row_tenants",
            "m20261205_000001_tenant_move_journal"
        ]
    );
    assert_eq!(
        CatalogMigrator::migration_table_name().to_string(),
        "seaql_tenant_catalog_migrations"
    );
}

/// Signalled by [`Hangs`] when it starts; it then never finishes.
static HANG_STARTED: tokio::sync::Notify = tokio::sync::Notify::const_new();

struct Hangs;
impl sea_orm_migration::MigrationName for Hangs {
    fn name(&self) -> &str {
        "m9_hangs"
    }
}
#[async_trait::async_trait]
impl sea_orm_migration::MigrationTrait for Hangs {
    async fn up(&self, _: &sea_orm_migration::SchemaManager) -> Result<(), sea_orm::DbErr> {
        HANG_STARTED.notify_one();
        std::future::pending().await
    }
}

/// Two good migrations, then one that never finishes.
struct HangingMigrator;
impl MigratorTrait for HangingMigrator {
    fn migrations() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> {
        vec![
            Box::new(common::CreateItems),
            Box::new(common::AddQty),
            Box::new(Hangs),
        ]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_cancelled_mid_migration_leaves_nothing_behind() {
    let dbs = TestDatabases::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let (store, catalog) = catalog_store(dir.path()).await;
    let provisioner = Provisioner::new::<HangingMigrator>(store.clone()).catalog(catalog.clone());
    let place = placement(&dbs);
    let create = provisioner.create("acme", &place);
    tokio::select! {
        result = create => panic!("the hanging migration finished: {result:?}"),
        () = HANG_STARTED.notified() => {}
    }
    // The create future is dropped here, mid-migration: its storage and its
    // catalog row existed. The undo runs in the background; `settled` waits
    // for it.
    provisioner.settled().await;
    let rows = catalog.list().await.unwrap();
    assert!(rows.is_empty(), "catalog rows left: {rows:?}");
    let files = existing(&dbs).await;
    assert!(!files.iter().any(|f| f.starts_with("acme.")), "{files:?}");
    assert!(!store.contains("acme"));
    // The name is free again.
    let provisioner = Provisioner::new::<Migrator>(store.clone()).catalog(catalog);
    provisioner.create("acme", &place).await.unwrap();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_interrupted_after_marking_deleting_is_finished_by_running_it_again() {
    let dbs = TestDatabases::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let (store, catalog) = catalog_store(dir.path()).await;
    let provisioner = Provisioner::new::<Migrator>(store.clone())
        .catalog(catalog.clone())
        .drop_grace(Duration::ZERO);
    provisioner.create("acme", &placement(&dbs)).await.unwrap();
    // A drop that stopped after its first step (the process died): the row
    // says `deleting`, the storage is still there.
    let key = sea_orm_tenant::TenantKey::new("acme").unwrap();
    catalog
        .set_state(&key, TenantState::Deleting, None)
        .await
        .unwrap();
    assert!(existing(&dbs).await.iter().any(|f| f == "acme.db"));
    provisioner.drop("acme", false).await.unwrap();
    assert!(catalog.list().await.unwrap().is_empty());
    assert!(!existing(&dbs).await.iter().any(|f| f.starts_with("acme.")));
    assert!(!store.contains("acme"));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poll_brings_creates_and_drops_with_no_request_and_no_notification() {
    let dbs = TestDatabases::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let (a, catalog_a) = catalog_store(dir.path()).await;
    let (b, catalog_b) = catalog_store(dir.path()).await;
    let options = CatalogOptions {
        poll_interval: Duration::from_millis(100),
        listen: false,
        ..CatalogOptions::default()
    };
    let sync_b = CatalogSync::start(b.clone(), catalog_b, options)
        .await
        .unwrap();
    let mut changes = sync_b.subscribe();
    let provisioner = Provisioner::new::<Migrator>(a.clone())
        .catalog(catalog_a)
        .drop_grace(Duration::ZERO);
    provisioner.create("acme", &placement(&dbs)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !b.contains("acme") {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("the poll registered the tenant");
    assert_eq!(sync_b.state("acme"), Some(TenantState::Active));
    provisioner.drop("acme", false).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while b.contains("acme") {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("the poll unregistered the tenant");
    drop(sync_b);
    a.close().await;
    b.close().await;
}
