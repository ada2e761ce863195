//! The per-server connection budget holds at every instant, counting tenant
//! pools, the shared database and dedicated sessions; waiting is fair; a full
//! budget with nothing idle is a typed `Busy` error; the default is derived
//! from the server.

mod cancel_support;
mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cancel_support::{Rng, Sampler, cleanup, must_return};
use common::{create_schema, names};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{PoolOptions, TenantConfig, TenantConnections, TenantError};

fn server_of(url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    format!("{}:{}", url.host_str().unwrap(), url.port().unwrap())
}

/// `n` tenant databases with the note table, plus a shared one; their URLs.
async fn databases(dbs: &mut TestDatabases, n: usize) -> (Vec<(String, String)>, String) {
    let mut tenants = Vec::new();
    for name in names(n) {
        let url = dbs.create(&name).await;
        let direct = sea_orm::Database::connect(&url).await.unwrap();
        create_schema(&direct).await;
        direct.close().await.ok();
        tenants.push((name, url));
    }
    let shared = dbs.create("shared").await;
    (tenants, shared)
}

fn store(
    tenants: &[(String, String)],
    shared: &str,
    budget: u32,
    pool: u32,
    acquire: Duration,
) -> TenantConnections {
    let pool = PoolOptions {
        max_connections: Some(pool),
        acquire_timeout: Some(acquire),
        ..Default::default()
    };
    let mut builder = TenantConnections::builder()
        .defaults(pool)
        .server(server_of(shared), budget)
        .shared(shared);
    for (name, url) in tenants {
        builder = builder.tenant_config(name, TenantConfig::new(url.clone()));
    }
    builder.build().unwrap()
}

fn select_one(backend: DbBackend) -> Statement {
    Statement::from_string(backend, "SELECT 1")
}

/// 10 tenants with pools of 3, the shared database and sessions on one server
/// with a budget of 7: 16 workers hammer random tenants while others use the
/// shared database and open sessions; sampled every 20 ms, the server never
/// sees more than 7 of our connections, and every call succeeds.
async fn budget_holds_at_every_instant(mut dbs: TestDatabases) {
    const BUDGET: u32 = 7;
    const MIN_SAMPLES: usize = 10;
    let backend = dbs.backend();
    let (tenants, shared) = databases(&mut dbs, 10).await;
    let store = store(&tenants, &shared, BUDGET, 3, Duration::from_secs(30));
    let db = store.db();
    let sampler = Sampler::start(&dbs, Duration::from_millis(20))
        .await
        .expect("a server backend");
    let mut tasks = Vec::new();
    for worker in 0..16u64 {
        let (store, db, taken) = (store.clone(), db.clone(), sampler.taken());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(worker);
            let mut calls = 0;
            while calls < 20 || taken.load(Ordering::Acquire) < MIN_SAMPLES {
                calls += 1;
                let tenant = format!("t{:02}", rng.below(10));
                store
                    .with_tenant(&tenant, db.query_one_raw(select_one(backend)))
                    .await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("{tenant}: {e}"));
            }
        }));
    }
    for round in 0..10 {
        let shared_db = store.shared().await.unwrap();
        shared_db.query_one_raw(select_one(backend)).await.unwrap();
        let session = store.session(&format!("t{:02}", round % 10)).await.unwrap();
        session.query_one_raw(select_one(backend)).await.unwrap();
        session.close().await;
    }
    for task in tasks {
        task.await.unwrap();
    }
    let (peak, samples) = sampler.finish().await;
    assert!(samples >= MIN_SAMPLES, "too few samples: {samples}");
    assert!(
        peak <= i64::from(BUDGET),
        "the server saw {peak} of our connections; budget {BUDGET}"
    );
    let stats = store.server_stats();
    assert_eq!(stats.len(), 1, "{stats:?}");
    assert_eq!(stats[0].budget, BUDGET as usize);
    assert!(
        stats[0].waits > 0,
        "the budget never had to wait: {stats:?}"
    );
    assert!(store.stats().evictions > 0);
    must_return("close", store.close()).await;
    cleanup(dbs).await;
}

/// A tenant waiting for room gets it while four others keep the server busy:
/// permits go first come, first served, and idle pools are closed for it.
async fn waiting_tenant_is_served(mut dbs: TestDatabases) {
    let backend = dbs.backend();
    let (tenants, shared) = databases(&mut dbs, 5).await;
    let store = store(&tenants, &shared, 2, 1, Duration::from_secs(20));
    let db = store.db();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut hogs = Vec::new();
    for tenant in ["t00", "t01", "t02", "t03"] {
        let (store, db, stop) = (store.clone(), db.clone(), stop.clone());
        hogs.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                store
                    .with_tenant(tenant, db.query_one_raw(select_one(backend)))
                    .await
                    .unwrap()
                    .unwrap();
                n += 1;
            }
            n
        }));
    }
    for _ in 0..5 {
        store
            .with_tenant("t04", db.query_one_raw(select_one(backend)))
            .await
            .unwrap()
            .expect("the waiting tenant is served within its acquire timeout");
    }
    stop.store(true, std::sync::atomic::Ordering::Release);
    for hog in hogs {
        assert!(hog.await.unwrap() > 0);
    }
    store.close().await;
    cleanup(dbs).await;
}

/// Budget 1, held by a busy pool: another tenant gets `Busy` after its acquire
/// timeout, and is served once the first lets go.
async fn full_budget_is_a_busy_error(mut dbs: TestDatabases) {
    let backend = dbs.backend();
    let (tenants, shared) = databases(&mut dbs, 2).await;
    let store = store(&tenants, &shared, 1, 1, Duration::from_millis(300));
    let db = store.db();
    let held = store.connection("t00").await.unwrap();
    let err = store
        .with_tenant("t01", db.query_one_raw(select_one(backend)))
        .await
        .unwrap()
        .unwrap_err();
    match TenantError::from_db_err(&err) {
        Some(TenantError::Busy {
            tenant: Some(t),
            budget: 1,
            ..
        }) => assert_eq!(t.as_str(), "t01"),
        other => panic!("expected Busy, got {other:?} ({err})"),
    }
    drop(held);
    store
        .with_tenant("t01", db.query_one_raw(select_one(backend)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.server_stats()[0].refusals, 1);
    store.close().await;
    cleanup(dbs).await;
}

/// No budget configured: derived from the server (80 % of what it accepts).
async fn default_budget_is_derived_from_the_server(mut dbs: TestDatabases) {
    let backend = dbs.backend();
    let (tenants, _shared) = databases(&mut dbs, 1).await;
    let store = TenantConnections::from_urls(tenants.clone()).unwrap();
    let db = store.db();
    store
        .with_tenant("t00", db.query_one_raw(select_one(backend)))
        .await
        .unwrap()
        .unwrap();
    let admin = dbs.admin().await;
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT CAST(current_setting('max_connections') AS BIGINT) \
             - CAST(current_setting('superuser_reserved_connections') AS BIGINT) AS n"
        }
        _ => "SELECT CAST(@@max_connections AS SIGNED) AS n",
    };
    let accepted: i64 = admin
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "n")
        .unwrap();
    admin.close().await.ok();
    assert_eq!(
        store.server_stats()[0].budget,
        (accepted * 80 / 100) as usize
    );
    store.close().await;
    cleanup(dbs).await;
}

crate::on_servers!(
    budget_holds_at_every_instant,
    waiting_tenant_is_served,
    full_budget_is_a_busy_error,
    default_budget_is_derived_from_the_server,
);
