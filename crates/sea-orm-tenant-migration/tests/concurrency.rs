//! Two runners started together on the same 20 tenants: the per-tenant lock
//! makes one of them migrate each tenant and the other find it up to date.

mod common;

use common::*;
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant_migration::{Outcome, TenantMigrator};

async fn two_runners(mut dbs: TestDatabases, jobs: usize) {
    let backend = dbs.backend();
    let tenants = names(20);
    // Each runner has its own store, as two processes would.
    let store_a = store(&mut dbs, &tenants).await;
    let store_b = tenants
        .iter()
        .fold(
            sea_orm_tenant::TenantConnections::builder().defaults(small_pools()),
            |b, t| b.tenant_config(t, dbs.config(t)),
        )
        .build()
        .unwrap();
    let a = TenantMigrator::new::<Migrator>(store_a.clone()).jobs(jobs);
    // The second runner visits tenants in the same order: the worst case for collisions.
    let b = TenantMigrator::new::<Migrator>(store_b.clone()).jobs(jobs);
    let barrier = tokio::sync::Barrier::new(2);
    let (ra, rb) = tokio::join!(
        async {
            barrier.wait().await;
            a.up().await.unwrap()
        },
        async {
            barrier.wait().await;
            b.up().await.unwrap()
        }
    );
    assert!(ra.is_success(), "{backend:?} runner A\n{ra}");
    assert!(rb.is_success(), "{backend:?} runner B\n{rb}");
    for t in &tenants {
        let outcomes = [ra.tenant(t).unwrap(), rb.tenant(t).unwrap()];
        let migrated: Vec<_> = outcomes
            .iter()
            .filter(|r| r.outcome == Outcome::Migrated)
            .collect();
        assert_eq!(
            migrated.len(),
            1,
            "{backend:?} {t}: exactly one runner migrated it\n{ra}\n{rb}"
        );
        assert_eq!(migrated[0].migrations, [M1, M2]);
        assert!(outcomes.iter().any(|r| r.outcome == Outcome::UpToDate));
        let (recorded, items) = direct(&dbs, t).await;
        assert_eq!(
            recorded,
            [M1, M2],
            "{backend:?} {t}: each migration recorded exactly once"
        );
        assert!(items);
    }
    store_a.close().await;
    store_b.close().await;
    dbs.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_sqlite() {
    two_runners(TestDatabases::sqlite(), 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_postgres() {
    if let Some(dbs) = TestDatabases::postgres() {
        two_runners(dbs, 3).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_postgres_schemas() {
    if let Some(dbs) = TestDatabases::postgres_schemas() {
        two_runners(dbs, 4).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_mysql() {
    if let Some(dbs) = TestDatabases::mysql() {
        two_runners(dbs, 3).await;
    }
}

/// MySQL database tenants sharing their server's pool: each database is
/// migrated on a session of its own, under its `GET_LOCK`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_mysql_shared() {
    if let Some(dbs) = TestDatabases::mysql_shared() {
        two_runners(dbs, 3).await;
    }
}
