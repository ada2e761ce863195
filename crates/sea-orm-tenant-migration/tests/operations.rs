//! `up`, `down`, `status`, `fresh`, `refresh` and `reset` over several tenants on
//! every backend, checked by reading each database directly.

mod common;

use common::*;
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant_migration::{MigrateError, Operation, Outcome, TenantMigrator};

async fn every_operation(mut dbs: TestDatabases) {
    let backend = dbs.backend();
    let tenants = names(3);
    let store = store(&mut dbs, &tenants).await;
    let migrator = TenantMigrator::new::<Migrator>(store.clone()).jobs(2);

    let status = migrator.status().await.unwrap();
    assert_eq!(status.summary.behind, 3, "{backend:?}\n{status}");
    assert_eq!(status.tenant("t00").unwrap().pending, [M1, M2]);
    for t in &tenants {
        assert_eq!(
            direct(&dbs, t).await,
            (vec![], false),
            "status changed nothing"
        );
    }

    // Selection: only t01, one step.
    let one = migrator
        .clone()
        .select(["t01"])
        .run(Operation::Up { steps: Some(1) })
        .await
        .unwrap();
    assert_eq!(one.tenants.len(), 1);
    assert_eq!(one.tenants[0].migrations, [M1]);
    assert_eq!(one.tenants[0].version.as_deref(), Some(M1));
    assert_eq!(direct(&dbs, "t01").await, (vec![M1.to_owned()], true));
    assert_eq!(
        direct(&dbs, "t00").await,
        (vec![], false),
        "unselected tenant untouched"
    );

    let up = migrator.up().await.unwrap();
    assert!(up.is_success(), "{up}");
    assert_eq!(up.tenant("t00").unwrap().migrations, [M1, M2]);
    assert_eq!(up.tenant("t01").unwrap().migrations, [M2]);
    assert!(up.tenants.iter().all(|t| t.outcome == Outcome::Migrated));
    for t in &tenants {
        assert_eq!(
            direct(&dbs, t).await,
            (vec![M1.to_owned(), M2.to_owned()], true)
        );
    }

    let again = migrator.up().await.unwrap();
    assert_eq!(again.summary.up_to_date, 3, "second up is a no-op\n{again}");
    assert!(again.tenants.iter().all(|t| t.migrations.is_empty()));

    let check = migrator.status().await.unwrap();
    assert_eq!(check.summary.up_to_date, 3);
    assert_eq!(check.exit_code(true), 0);

    let down = migrator.run(Operation::Down { steps: 1 }).await.unwrap();
    assert!(down.is_success(), "{down}");
    assert!(
        down.tenants
            .iter()
            .all(|t| t.migrations == [M2] && t.pending == [M2])
    );
    for t in &tenants {
        assert_eq!(direct(&dbs, t).await, (vec![M1.to_owned()], true));
    }
    let behind = migrator.status().await.unwrap();
    assert_eq!(behind.summary.behind, 3);
    assert_eq!(behind.exit_code(true), 1);
    assert_eq!(behind.exit_code(false), 0);

    let refresh = migrator.run(Operation::Refresh).await.unwrap();
    assert!(refresh.is_success(), "{refresh}");
    assert!(
        refresh
            .tenants
            .iter()
            .all(|t| t.version.as_deref() == Some(M2))
    );
    for t in &tenants {
        assert_eq!(
            direct(&dbs, t).await,
            (vec![M1.to_owned(), M2.to_owned()], true)
        );
    }

    let reset = migrator
        .clone()
        .select(["t02"])
        .run(Operation::Reset)
        .await
        .unwrap();
    assert!(reset.is_success(), "{reset}");
    assert_eq!(
        reset.tenants[0].migrations,
        [M2, M1],
        "rolled back newest first"
    );
    assert_eq!(reset.tenants[0].version, None);
    assert_eq!(direct(&dbs, "t02").await, (vec![], false));
    assert_eq!(
        direct(&dbs, "t00").await.0.len(),
        2,
        "unselected tenant untouched"
    );

    let down_empty = migrator
        .clone()
        .select(["t02"])
        .run(Operation::Down { steps: 1 })
        .await
        .unwrap();
    assert_eq!(
        down_empty.tenants[0].outcome,
        Outcome::UpToDate,
        "nothing to roll back"
    );

    // `fresh` drops every table, including ones no migration knows.
    {
        let db = dbs.connect_direct("t00").await;
        db.execute_unprepared("CREATE TABLE stray (x INTEGER)")
            .await
            .unwrap();
        db.close().await.ok();
    }
    let fresh = migrator.run(Operation::Fresh).await.unwrap();
    assert!(fresh.is_success(), "{fresh}");
    assert!(fresh.tenants.iter().all(|t| t.migrations == [M1, M2]));
    let db = dbs.connect_direct("t00").await;
    assert!(!has_table(&db, "stray").await);
    db.close().await.ok();
    for t in &tenants {
        assert_eq!(
            direct(&dbs, t).await,
            (vec![M1.to_owned(), M2.to_owned()], true)
        );
    }

    store.close().await;
    dbs.cleanup().await;
}

use sea_orm::ConnectionTrait;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_sqlite() {
    every_operation(TestDatabases::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_postgres() {
    if let Some(dbs) = TestDatabases::postgres() {
        every_operation(dbs).await;
    }
}

/// `up`, `down`, `status`, `fresh`, `refresh` and `reset` on schema tenants,
/// each schema with its own `seaql_migrations`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_postgres_schemas() {
    if let Some(dbs) = TestDatabases::postgres_schemas() {
        every_operation(dbs).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_mysql() {
    if let Some(dbs) = TestDatabases::mysql() {
        every_operation(dbs).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_mysql_shared() {
    if let Some(dbs) = TestDatabases::mysql_shared() {
        every_operation(dbs).await;
    }
}

#[tokio::test]
async fn bad_selection_fails_before_touching_anything() {
    let dbs = TestDatabases::sqlite();
    let url = dbs.url("real");
    let store = sea_orm_tenant::TenantConnections::from_urls([("real", url)]).unwrap();
    let migrator = TenantMigrator::new::<Migrator>(store.clone());
    let err = migrator
        .clone()
        .select(["real", "ghost"])
        .up()
        .await
        .unwrap_err();
    assert!(matches!(err, MigrateError::Tenant(_)), "{err}");
    assert!(err.to_string().contains("ghost"), "{err}");
    let err = migrator.clone().select(["../etc"]).up().await.unwrap_err();
    assert!(matches!(err, MigrateError::Tenant(_)), "{err}");
    let err = migrator.clone().jobs(0).up().await.unwrap_err();
    assert!(matches!(err, MigrateError::ZeroJobs));
    assert!(dbs.existing().await.is_empty(), "no database was created");
    assert_eq!(store.stats().opens, 0);
}
