//! Failures are collected per tenant: a broken tenant among healthy ones,
//! `fail_fast`, the per-tenant timeout, a busy lock, a failing migration on
//! PostgreSQL, and a failing shared database.

mod common;

use std::time::Duration;

use common::*;
use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{TenantConfig, TenantConnections};
use sea_orm_tenant_migration::{Operation, Outcome, SHARED, TenantMigrator};

/// Gives tenant `t03` a table that conflicts with the first migration.
async fn break_t03(dbs: &TestDatabases) {
    let db = if dbs.is_schemas() {
        dbs.connect_direct("t03").await
    } else {
        sea_orm::Database::connect(dbs.url("t03")).await.unwrap()
    };
    db.execute_unprepared("CREATE TABLE items (other INTEGER)")
        .await
        .unwrap();
    db.close().await.ok();
}

async fn one_broken_among_ten(mut dbs: TestDatabases) {
    let tenants = names(10);
    let store = store(&mut dbs, &tenants).await;
    break_t03(&dbs).await;
    let report = TenantMigrator::new::<Migrator>(store.clone())
        .jobs(3)
        .up()
        .await
        .unwrap();

    assert_eq!(report.summary.migrated, 9, "{report}");
    assert_eq!(report.summary.failed, 1);
    assert_eq!(report.exit_code(false), 1);
    let failed: Vec<_> = report.failures().collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].tenant, "t03");
    assert!(
        failed[0]
            .error
            .as_deref()
            .unwrap()
            .to_lowercase()
            .contains("items"),
        "{report}"
    );
    assert_eq!(failed[0].pending, [M1, M2], "read back after the failure");
    let table = report.to_table();
    assert!(table.contains("Failed:\n  t03: "), "{table}");
    for t in tenants.iter().filter(|t| *t != "t03") {
        assert_eq!(
            direct(&dbs, t).await,
            (vec![M1.to_owned(), M2.to_owned()], true),
            "{t}"
        );
    }
    assert_eq!(direct(&dbs, "t03").await.0, Vec::<String>::new());
    store.close().await;
    dbs.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_broken_among_ten_sqlite() {
    one_broken_among_ten(TestDatabases::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_broken_among_ten_postgres() {
    if let Some(dbs) = TestDatabases::postgres() {
        one_broken_among_ten(dbs).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_broken_among_ten_mysql() {
    if let Some(dbs) = TestDatabases::mysql() {
        one_broken_among_ten(dbs).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_reported_and_the_others_are_migrated() {
    let mut dbs = TestDatabases::sqlite();
    let tenants = names(9);
    let store = store(&mut dbs, &tenants).await;
    let mut down = TenantConfig::new("postgres://app:hunter2@127.0.0.1:1/nowhere");
    down.pool.connect_timeout = Some(Duration::from_secs(2));
    store.add_tenant("down", down).unwrap();

    let report = TenantMigrator::new::<Migrator>(store.clone())
        .jobs(4)
        .up()
        .await
        .unwrap();
    assert_eq!(report.summary.migrated, 9, "{report}");
    let failed: Vec<_> = report.failures().collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].tenant, "down");
    assert!(
        failed[0].error.as_deref().unwrap().contains("unavailable"),
        "{report}"
    );
    assert!(
        !report.to_json().contains("hunter2"),
        "no password in the report"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_starts_nothing_after_the_first_failure() {
    let mut dbs = TestDatabases::sqlite();
    let tenants = names(10);
    let store = store(&mut dbs, &tenants).await;
    break_t03(&dbs).await;

    // One job: tenants run in name order, so t00..t02 migrate, t03 fails, the rest never start.
    let report = TenantMigrator::new::<Migrator>(store.clone())
        .jobs(1)
        .fail_fast(true)
        .up()
        .await
        .unwrap();
    assert_eq!(report.summary.migrated, 3, "{report}");
    assert_eq!(report.summary.failed, 1);
    assert_eq!(report.summary.skipped, 6);
    assert_eq!(report.exit_code(false), 1);
    for t in &tenants[4..] {
        let r = report.tenant(t).unwrap();
        assert_eq!(r.outcome, Outcome::Skipped);
        assert!(r.error.as_deref().unwrap().contains("fail-fast"));
        assert!(!dbs.sqlite_path(t).exists(), "{t} was never opened");
    }

    // Several jobs: tenants already running finish; nothing new starts after the failure.
    for t in &tenants[..3] {
        {
            let db = dbs.connect_direct(t).await;
            db.execute_unprepared("DROP TABLE items").await.unwrap();
            db.execute_unprepared("DROP TABLE seaql_migrations")
                .await
                .unwrap();
            db.close().await.ok();
        }
    }
    let report = TenantMigrator::new::<Migrator>(store.clone())
        .jobs(3)
        .fail_fast(true)
        .up()
        .await
        .unwrap();
    assert_eq!(report.summary.failed, 1, "{report}");
    assert!(
        report.summary.skipped >= 4,
        "at most jobs-1 tenants started after t03\n{report}"
    );
    assert_eq!(report.summary.migrated + report.summary.skipped, 9);
    store.close().await;
}

/// Lets a migration run only once the test allows it.
static HELD_ENTERED: tokio::sync::Notify = tokio::sync::Notify::const_new();
static HELD_RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// The first migration, run only once the test releases it: its runner holds
/// the tenant's lock meanwhile.
struct Held;
impl MigrationName for Held {
    fn name(&self) -> &str {
        M1
    }
}
#[async_trait::async_trait]
impl MigrationTrait for Held {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        HELD_ENTERED.notify_one();
        HELD_RELEASE.notified().await;
        CreateItems.up(m).await
    }
}

/// [`Migrator`]'s first migration, held.
struct HeldMigrator;
impl MigratorTrait for HeldMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Held)]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_tenant_waits_for_the_lock_then_is_reported() {
    let mut dbs = TestDatabases::sqlite();
    let tenants = names(2);
    let store = store(&mut dbs, &tenants).await;
    // Another runner holds t00's lock: its migration waits for the test.
    let holder = tokio::spawn({
        let migrator = TenantMigrator::new::<HeldMigrator>(store.clone()).select(["t00"]);
        async move { migrator.up().await }
    });
    HELD_ENTERED.notified().await;

    let report = TenantMigrator::new::<Migrator>(store.clone())
        .lock_timeout(Duration::from_millis(200))
        .up()
        .await
        .unwrap();
    let busy = report.tenant("t00").unwrap();
    assert_eq!(busy.outcome, Outcome::Failed, "{report}");
    assert!(
        busy.error.as_deref().unwrap().starts_with("busy"),
        "{report}"
    );
    assert_eq!(report.tenant("t01").unwrap().outcome, Outcome::Migrated);
    assert_eq!(direct(&dbs, "t00").await.0, Vec::<String>::new());

    // The per-tenant timeout cuts a long wait short.
    let report = TenantMigrator::new::<Migrator>(store.clone())
        .select(["t00"])
        .lock_timeout(Duration::from_secs(600))
        .tenant_timeout(Some(Duration::from_millis(200)))
        .up()
        .await
        .unwrap();
    let r = report.tenant("t00").unwrap();
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(
        r.error.as_deref().unwrap().starts_with("timed out"),
        "{report}"
    );

    HELD_RELEASE.notify_one();
    let held = holder.await.unwrap().unwrap();
    assert_eq!(
        held.tenant("t00").unwrap().outcome,
        Outcome::Migrated,
        "{held}"
    );
    let report = TenantMigrator::new::<Migrator>(store.clone())
        .up()
        .await
        .unwrap();
    assert_eq!(
        report.tenant("t00").unwrap().outcome,
        Outcome::Migrated,
        "{report}"
    );
    store.close().await;
}

async fn failing_migration(mut dbs: TestDatabases) {
    let backend = dbs.backend();
    let tenants = names(3);
    let store = store(&mut dbs, &tenants).await;
    TenantMigrator::new::<Migrator>(store.clone())
        .up()
        .await
        .unwrap();

    let report = TenantMigrator::new::<FailingMigrator>(store.clone())
        .up()
        .await
        .unwrap();
    assert_eq!(report.summary.failed, 3, "{report}");
    for t in &tenants {
        let r = report.tenant(t).unwrap();
        assert_eq!(r.outcome, Outcome::Failed);
        assert!(r.migrations.is_empty(), "nothing took effect\n{report}");
        assert_eq!(
            r.version.as_deref(),
            Some(M2),
            "still at the previous version\n{report}"
        );
        assert_eq!(r.pending, [M3]);
        let db = dbs.connect_direct(t).await;
        assert_eq!(recorded(&db).await, [M1, M2], "{backend:?}");
        assert!(
            !has_table(&db, "audit").await,
            "{backend:?}: the failed migration's DDL was rolled back"
        );
        db.close().await.ok();
    }
    store.close().await;
    dbs.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_broken_among_ten_postgres_schemas() {
    if let Some(dbs) = TestDatabases::postgres_schemas() {
        one_broken_among_ten(dbs).await;
    }
}

/// A schema tenant's operation is one transaction: all or nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_migration_leaves_a_schema_at_its_previous_version() {
    if let Some(dbs) = TestDatabases::postgres_schemas() {
        failing_migration(dbs).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_migration_leaves_postgres_at_previous_version() {
    if let Some(dbs) = TestDatabases::postgres() {
        failing_migration(dbs).await;
    }
}

/// On SQLite (no transaction) the report shows the half-applied state as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_migration_on_sqlite_is_reported_where_it_stopped() {
    let mut dbs = TestDatabases::sqlite();
    let store = store(&mut dbs, &names(1)).await;
    let report = TenantMigrator::new::<FailingMigrator>(store.clone())
        .up()
        .await
        .unwrap();
    let r = report.tenant("t00").unwrap();
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.migrations, [M1, M2], "{report}");
    assert_eq!(r.version.as_deref(), Some(M2));
    assert_eq!(r.pending, [M3]);
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .to_lowercase()
            .contains("syntax"),
        "{report}"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_database_runs_first_and_its_failure_stops_the_tenants() {
    let mut dbs = TestDatabases::sqlite();
    let tenants = names(2);
    let urls = dbs.create_many(&tenants).await;
    let shared_url = dbs.create("shared").await;
    let store = urls
        .iter()
        .fold(
            TenantConnections::builder().shared(shared_url.clone()),
            |b, (n, u)| b.tenant(n, u),
        )
        .build()
        .unwrap();

    let report = TenantMigrator::new::<Migrator>(store.clone())
        .shared::<Migrator>()
        .up()
        .await
        .unwrap();
    let shared = report.shared.as_ref().expect("shared report");
    assert_eq!(shared.tenant, SHARED);
    assert_eq!(shared.outcome, Outcome::Migrated, "{report}");
    assert_eq!(report.summary.migrated, 2);
    assert_eq!(direct(&dbs, "shared").await.0, [M1, M2]);

    // Shared migrations failing: no tenant is attempted.
    let report = TenantMigrator::new::<Migrator>(store.clone())
        .shared::<FailingMigrator>()
        .run(Operation::Refresh)
        .await
        .unwrap();
    assert_eq!(
        report.shared.as_ref().unwrap().outcome,
        Outcome::Failed,
        "{report}"
    );
    assert_eq!(report.summary.skipped, 2);
    assert!(
        report
            .tenants
            .iter()
            .all(|t| t.error.as_deref().unwrap().contains("shared"))
    );
    assert_eq!(report.exit_code(false), 1);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_migration_is_reported_failed_and_the_run_goes_on() {
    let mut dbs = TestDatabases::sqlite();
    let store = store(&mut dbs, &names(3)).await;
    let report = TenantMigrator::new::<PanickingMigrator>(store.clone())
        .jobs(2)
        .up()
        .await
        .unwrap();
    assert_eq!(report.summary.failed, 3, "{report}");
    assert!(
        report
            .tenants
            .iter()
            .all(|t| t.error.as_deref() == Some("panicked: migration bug"))
    );
    store.close().await;
}
