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

/// Every kind of connection the process makes, at once, on one PostgreSQL
/// server with a budget of 8: tenant pools under traffic, the shared
/// database, the catalog's listening session, a burst of tenant creations
/// (the administration pool, the template migrated then cloned, each new
/// tenant migrated by the runner). Every connection carries the test's
/// `application_name`, so the sampler (every 20 ms) counts exactly ours,
/// administration sessions on `postgres` included: never more than 8.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_connection_stays_within_the_budget() {
    use sea_orm_migration::MigratorTrait;
    use sea_orm_tenant::{Catalog, CatalogOptions, CatalogSync, SchemaName};
    use sea_orm_tenant_migration::{CatalogMigrator, Placement, Provisioner};

    const ALL_BUDGET: u32 = 8;
    const EXISTING: usize = 4;
    const BURST: usize = 6;
    let Some(mut dbs) = TestDatabases::postgres() else {
        return;
    };
    let app = format!("{}_app", dbs.prefix());
    let tagged = |url: String| format!("{url}?application_name={app}");
    let server = {
        let url = url::Url::parse(&dbs.url("x")).unwrap();
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap())
    };
    let shared = tagged(dbs.create("shared").await);
    let store = TenantConnections::builder()
        .defaults(PoolOptions {
            max_connections: Some(2),
            acquire_timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        })
        .server(server, ALL_BUDGET)
        .shared(shared)
        .build()
        .unwrap();
    CatalogMigrator::up(&store.shared().await.unwrap(), None)
        .await
        .unwrap();
    let catalog = Catalog::open(&store).await.unwrap();
    let sync = CatalogSync::start(
        store.clone(),
        catalog.clone(),
        CatalogOptions {
            listen: true,
            ..CatalogOptions::default()
        },
    )
    .await
    .unwrap();
    let template = SchemaName::new(&format!("{}_tpl", dbs.prefix())).unwrap();
    let provisioner = Provisioner::new::<Migrator>(store.clone())
        .catalog(catalog)
        .template(template);
    let placement = Placement::Url(tagged(dbs.url_template()));
    let existing = names(EXISTING);
    for t in &existing {
        provisioner.create(t, &placement).await.unwrap();
    }

    let admin = dbs.admin().await;
    let (stop, peak, samples) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicI64::new(0)),
        Arc::new(AtomicI64::new(0)),
    );
    let sampler = {
        let (stop, peak, samples) = (stop.clone(), peak.clone(), samples.clone());
        let sql =
            format!("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE application_name = '{app}'");
        tokio::spawn(async move {
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
    let traffic: Vec<_> = (0..4)
        .map(|worker| {
            let (store, stop, tenants) = (store.clone(), stop.clone(), existing.clone());
            tokio::spawn(async move {
                let (mut calls, mut errors) = (0usize, Vec::new());
                let db = store.db();
                while !stop.load(Ordering::Acquire) {
                    let tenant = &tenants[(worker + calls) % tenants.len()];
                    let query = db.query_one_raw(Statement::from_string(
                        DbBackend::Postgres,
                        "SELECT COUNT(*) AS n FROM items",
                    ));
                    match store.with_tenant(tenant, query).await {
                        Ok(Ok(_)) => {}
                        other => errors.push(format!("{tenant}: {other:?}")),
                    }
                    calls += 1;
                }
                (calls, errors)
            })
        })
        .collect();
    let burst = futures_util::future::join_all((0..BURST).map(|i| {
        let (provisioner, placement) = (provisioner.clone(), placement.clone());
        async move { provisioner.create(&format!("new{i:02}"), &placement).await }
    }))
    .await;
    // A burst that ends within a few samples (a fast machine, or a sampler
    // held up on a loaded one) shows little: the traffic and the listener
    // go on until the sampler has read the server five times.
    while samples.load(Ordering::Acquire) < 5 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Release);
    let mut calls = 0;
    let mut errors = Vec::new();
    for t in traffic {
        let (n, e) = t.await.unwrap();
        calls += n;
        errors.extend(e);
    }
    sampler.await.unwrap();
    drop(sync);
    provisioner.close().await;
    store.close().await;
    dbs.cleanup().await;

    let (peak, samples) = (
        peak.load(Ordering::Acquire),
        samples.load(Ordering::Acquire),
    );
    eprintln!("peak {peak} sessions over {samples} samples; {calls} tenant calls meanwhile");
    for created in &burst {
        assert!(created.is_ok(), "{created:?}");
    }
    assert!(errors.is_empty(), "{errors:?}");
    assert!(samples >= 5, "too few samples ({samples}) to show anything");
    assert!(
        peak <= i64::from(ALL_BUDGET),
        "peak {peak} sessions > budget {ALL_BUDGET}"
    );
}
