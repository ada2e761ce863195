//! A real migration run within the per-server connection budget: 12 tenant
//! databases, the shared database and the run's lock sessions on one
//! PostgreSQL server with a budget of 5, while other tasks keep querying the
//! shared database and the tenants. Sampled every 20 ms, the server never
//! sees more than 5 of our sessions, and every tenant is migrated.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use common::*;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{PoolOptions, TenantConnections};
use sea_orm_tenant_migration::TenantMigrator;

const BUDGET: u32 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_run_and_shared_database_stay_within_the_budget() {
    let Some(mut dbs) = TestDatabases::postgres() else {
        return;
    };
    let tenants = names(12);
    let server = {
        let url = url::Url::parse(&dbs.url("x")).unwrap();
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap())
    };
    let shared = dbs.create("shared").await;
    let mut builder = TenantConnections::builder()
        .defaults(PoolOptions {
            max_connections: Some(2),
            acquire_timeout: Some(Duration::from_secs(30)),
            ..Default::default()
        })
        .server(server, BUDGET)
        .shared(shared);
    for t in &tenants {
        builder = builder.tenant_config(t, dbs.create_config(t).await);
    }
    let store = builder.build().unwrap();

    // The sampler's own session is on the admin database, not counted.
    let admin = dbs.admin().await;
    let pattern = format!("{}\\_%", dbs.prefix().replace('_', "\\_"));
    let (stop, peak, samples) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicI64::new(0)),
        Arc::new(AtomicI64::new(0)),
    );
    let sampler = {
        let (stop, peak, samples) = (stop.clone(), peak.clone(), samples.clone());
        tokio::spawn(async move {
            let sql = format!(
                "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname LIKE '{pattern}'"
            );
            while !stop.load(Ordering::Acquire) {
                let n = admin
                    .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.clone()))
                    .await
                    .unwrap()
                    .unwrap()
                    .try_get::<i64>("", "n")
                    .unwrap();
                peak.fetch_max(n, Ordering::AcqRel);
                samples.fetch_add(1, Ordering::AcqRel);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            admin.close().await.ok();
        })
    };

    let busy = {
        let store = store.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut calls = 0usize;
            while !stop.load(Ordering::Acquire) {
                let shared = store.shared().await.unwrap();
                shared
                    .execute_unprepared("SELECT pg_sleep(0.005)")
                    .await
                    .unwrap();
                calls += 1;
            }
            calls
        })
    };
    let report = TenantMigrator::new::<Migrator>(store.clone())
        .jobs(8)
        .up()
        .await
        .unwrap();
    stop.store(true, Ordering::Release);
    let shared_calls = busy.await.unwrap();
    sampler.await.unwrap();
    store.close().await;
    dbs.cleanup().await;

    let (peak, samples) = (
        peak.load(Ordering::Acquire),
        samples.load(Ordering::Acquire),
    );
    eprintln!(
        "peak {peak} sessions over {samples} samples; {shared_calls} shared calls during the run"
    );
    assert_eq!(report.summary.migrated, tenants.len(), "{report}");
    assert!(samples >= 5, "too few samples ({samples}) to show anything");
    assert!(shared_calls > 0);
    assert!(
        peak <= i64::from(BUDGET),
        "peak {peak} sessions > budget {BUDGET}"
    );
}
