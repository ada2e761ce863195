//! A database tenant whose pool size is not configured opens with its fair
//! share of the server's budget and grows under load while the budget has
//! room; the budget holds at every instant, leases of the replaced pool keep
//! working, and a grown pool gives its room back through the eviction of
//! the coldest pools. A pool with an idle connection does not grow.

mod cancel_support;
mod common;

use std::time::{Duration, Instant};

use cancel_support::{Sampler, Server, cleanup, must_return};
use common::{create_schema, names};
use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{PoolOptions, TenantConfig, TenantConnection, TenantConnections};

/// Connections to the server: three tenants get a fair share of 2 each.
const BUDGET: u32 = 6;

fn server_of(url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    format!("{}:{}", url.host_str().unwrap(), url.port().unwrap())
}

fn count_notes(backend: DbBackend) -> Statement {
    Statement::from_string(backend, "SELECT COUNT(*) AS n FROM note")
}

/// Three tenants with the note table, no pool size configured, within `BUDGET`.
async fn store(dbs: &mut TestDatabases) -> TenantConnections {
    let pool = PoolOptions {
        acquire_timeout: Some(Duration::from_secs(5)),
        ..Default::default()
    };
    let mut builder = TenantConnections::builder().defaults(pool);
    let mut server = None;
    for name in names(3) {
        let url = dbs.create(&name).await;
        let direct = sea_orm::Database::connect(&url).await.unwrap();
        create_schema(&direct).await;
        direct.close().await.ok();
        server.get_or_insert_with(|| server_of(&url));
        builder = builder.tenant_config(&name, TenantConfig::new(url));
    }
    builder
        .server(server.expect("three tenants"), BUDGET)
        .build()
        .unwrap()
}

/// Leases of `tenant`, taken one after another (each is one request).
async fn leases(store: &TenantConnections, tenant: &str, n: usize) -> Vec<TenantConnection> {
    let mut leases = Vec::new();
    for _ in 0..n {
        leases.push(store.connection(tenant).await.unwrap());
    }
    leases
}

/// Waits (bounded) until the store has grown `n` pools.
async fn grown(store: &TenantConnections, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.stats().grows < n {
        assert!(
            Instant::now() < deadline,
            "no pool grew: {:?}",
            store.stats()
        );
        tokio::task::yield_now().await;
    }
}

/// Five requests of `t00` at once are more than twice its fair share of 2,
/// and both its connections are busy: its pool grows, and four new requests then hold four transactions at once (the
/// server shows four open transactions, read directly) while the requests
/// that leased the replaced pool still run their queries on it. The server
/// never sees more than the budget of our connections; once `t00` is idle,
/// `t01` and `t02` open their pools of 2 in the room its grown pool gives
/// back.
async fn a_pool_grows_under_load_within_the_budget(mut dbs: TestDatabases) {
    let backend = dbs.backend();
    let store = store(&mut dbs).await;
    let server = Server::new(&dbs).await.expect("a server backend");
    let sampler = Sampler::start(&dbs, Duration::from_millis(20))
        .await
        .expect("a server backend");

    let mut first = leases(&store, "t00", 4).await;
    // Both its connections busy: the next request finds none idle.
    let busy = join_all(first[..2].iter().map(|lease| async move {
        let txn = lease.begin().await.unwrap();
        txn.query_one_raw(count_notes(backend)).await.unwrap();
        txn
    }))
    .await;
    first.extend(leases(&store, "t00", 1).await);
    grown(&store, 1).await;
    for txn in busy {
        txn.commit().await.unwrap();
    }
    let second = leases(&store, "t00", 4).await;
    let transactions = must_return(
        "four transactions on the grown pool",
        join_all(second.iter().map(|lease| async move {
            let txn = lease.begin().await.unwrap();
            txn.query_one_raw(count_notes(backend)).await.unwrap();
            txn
        })),
    )
    .await;
    assert_eq!(
        server.open_transactions().await,
        4,
        "four transactions at once on t00's grown pool"
    );
    for lease in &first {
        let row = lease.query_one_raw(count_notes(backend)).await;
        assert!(row.is_ok(), "a lease of the replaced pool failed: {row:?}");
    }
    for txn in transactions {
        txn.commit().await.unwrap();
    }
    drop((first, second));

    for tenant in ["t01", "t02"] {
        let lease = must_return(tenant, store.connection(tenant)).await.unwrap();
        let txns = join_all((0..2).map(|_| lease.begin())).await;
        for txn in txns {
            let txn = txn.unwrap();
            txn.query_one_raw(count_notes(backend)).await.unwrap();
            txn.commit().await.unwrap();
        }
    }
    let (peak, _) = sampler.finish().await;
    assert!(
        peak <= i64::from(BUDGET),
        "the server saw {peak} of our connections; budget {BUDGET}"
    );
    let stats = store.stats();
    assert!(stats.grows >= 1, "{stats:?}");
    must_return("close", store.close()).await;
    server.close().await;
    cleanup(dbs).await;
}

crate::on_servers!(a_pool_grows_under_load_within_the_budget);
