//! Schema tenants at a larger count: 1,000 schemas migrated from scratch, then
//! `up` with nothing to apply and `status` read every schema's versions in
//! batches: they answer even while every tenant's migration lock is held by
//! another session (a runner mid-way elsewhere), since they take no lock.

mod common;

use std::time::Duration;

use common::*;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_tenant::TenantConnections;
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant_migration::{Outcome, TenantMigrator};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_schemas_then_nothing_to_apply_without_locks() {
    const TENANTS: usize = 1_000;
    let Some(mut dbs) = TestDatabases::postgres_schemas() else {
        return;
    };
    let tenants: Vec<String> = (0..TENANTS).map(|i| format!("t{i:04}")).collect();
    let mut builder = TenantConnections::builder().defaults(sea_orm_tenant::PoolOptions {
        max_connections: Some(4),
        ..Default::default()
    });
    for t in &tenants {
        builder = builder.tenant_config(t, dbs.create_config(t).await);
    }
    let store = builder.build().unwrap();
    let migrator = TenantMigrator::new::<Migrator>(store.clone()).jobs(4);
    let report = migrator.up().await.unwrap();
    assert_eq!(report.summary.migrated, TENANTS, "{report}");

    // Another session holds every tenant's migration lock.
    let holder = dbs.connect_direct(&tenants[0]).await;
    let schemas: Vec<String> = tenants
        .iter()
        .map(|t| format!("'{}'", dbs.schema_name(t)))
        .collect();
    holder
        .execute_unprepared(&format!(
            "SELECT pg_advisory_lock({}, hashtext(s)) FROM unnest(ARRAY[{}]) AS s",
            0x5e0_7e4a,
            schemas.join(", ")
        ))
        .await
        .unwrap();
    let quick = migrator.clone().lock_timeout(Duration::from_millis(200));
    let again = quick.up().await.unwrap();
    assert_eq!(again.summary.up_to_date, TENANTS, "{again}");
    let status = quick.status().await.unwrap();
    assert_eq!(status.summary.up_to_date, TENANTS, "{status}");
    assert!(
        status
            .tenants
            .iter()
            .all(|r| r.version.as_deref() == Some(M2))
    );
    holder.close().await.ok();

    // Each schema holds its own migration table and its table, read directly.
    let conn = sea_orm::Database::connect(dbs.url("")).await.unwrap();
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_name IN ('seaql_migrations', 'items')",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 2 * TENANTS as i64);
    conn.close().await.ok();
    assert_eq!(
        report
            .tenants
            .iter()
            .filter(|r| r.outcome == Outcome::Migrated)
            .count(),
        TENANTS
    );
    store.close().await;
    dbs.cleanup().await;
}
