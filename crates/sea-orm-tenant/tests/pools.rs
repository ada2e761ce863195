//! The pool store: single-flight opens, failures that are not cached, the
//! `max_open_pools` bound with eviction of the coldest idle pool, idle eviction and the shared database.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{names, note, rows_direct, small_pools, store_with};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, Set};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{PoolOptions, TenantConfig, TenantConnections, TenantError};
use tokio::net::{TcpListener, TcpStream};

async fn single_flight(mut dbs: TestDatabases) {
    let store = store_with(&mut dbs, 1, small_pools()).await;
    let db = store.db();
    let barrier = Arc::new(tokio::sync::Barrier::new(500));
    let tasks: Vec<_> = (0..500)
        .map(|_| {
            let (store, db, barrier) = (store.clone(), db.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .with_tenant("t00", note::Entity::find().count(&db))
                    .await
                    .unwrap()
                    .unwrap()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 0);
    }
    assert_eq!(
        store.stats().opens,
        1,
        "500 concurrent first uses open one pool"
    );
    store.close().await;
    dbs.cleanup().await;
}

/// A TCP endpoint that first swallows connections without answering (an
/// unreachable server) and, once switched, forwards them to a real server.
struct FlakyServer {
    port: u16,
    reachable: Arc<AtomicBool>,
}

impl FlakyServer {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let reachable = Arc::new(AtomicBool::new(false));
        let flag = reachable.clone();
        tokio::spawn(async move {
            let mut swallowed = Vec::new();
            while let Ok((mut client, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    let target = target.clone();
                    tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                } else {
                    swallowed.push(client);
                }
            }
        });
        Self { port, reachable }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_fails_within_timeout_and_recovers() {
    let mut dbs = TestDatabases::postgres();
    let (target, url) = match &mut dbs {
        Some(dbs) => {
            let url = url::Url::parse(&dbs.create("flaky").await).unwrap();
            let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
            (target, url)
        }
        // Without a server the failure half still runs; recovery needs the server.
        None => (
            "127.0.0.1:9".to_owned(),
            url::Url::parse("postgres://app:pw@127.0.0.1:5432/none").unwrap(),
        ),
    };
    let flaky = FlakyServer::start(target).await;
    let mut url = url;
    url.set_port(Some(flaky.port)).unwrap();
    let store = TenantConnections::builder()
        .tenant_config(
            "flaky",
            TenantConfig::new(url.to_string()).with_pool(PoolOptions {
                connect_timeout: Some(Duration::from_millis(500)),
                max_connections: Some(1),
                ..Default::default()
            }),
        )
        .build()
        .unwrap();
    let db = store.db();

    // Concurrent users of a failing tenant share one attempt instead of queueing
    // a timeout each; the outer timeout turns a hang into a test failure.
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, db, barrier) = (store.clone(), db.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .with_tenant("flaky", db.execute_unprepared("SELECT 1"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let results = tokio::time::timeout(
        Duration::from_secs(30),
        futures_util::future::join_all(tasks),
    )
    .await
    .expect("a failing open returns within its timeout instead of hanging");
    for r in results {
        let err = r.unwrap().unwrap_err();
        match TenantError::from_db_err(&err) {
            Some(TenantError::Unavailable { tenant, reason }) => {
                assert_eq!(tenant.as_str(), "flaky");
                assert!(reason.contains("500ms"), "{reason}");
            }
            other => panic!("expected Unavailable, got {other:?} ({err})"),
        }
    }
    let stats = store.stats();
    assert!(
        stats.open_failures <= 2,
        "attempts were not shared: {stats:?}"
    );
    assert_eq!(stats.opens, 0);

    let Some(dbs) = dbs else {
        eprintln!("notice: TEST_POSTGRES_URL is not set; skipping the recovery half");
        return;
    };
    flaky.reachable.store(true, Ordering::SeqCst);
    store
        .with_tenant("flaky", db.execute_unprepared("SELECT 1"))
        .await
        .unwrap()
        .expect("the failure was not cached: the tenant recovers once reachable");
    assert_eq!(store.stats().opens, 1);
    store.close().await;
    dbs.cleanup().await;
}

/// A URL that allows creation (`mode=rwc`) gets its missing folder created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_sqlite_folder_is_created() {
    let dbs = TestDatabases::sqlite();
    let folder = dbs.dir().join("data").join("nested");
    let url = format!("sqlite://{}/t.db?mode=rwc", folder.display());
    let store = TenantConnections::from_urls([("fresh", url)]).unwrap();
    let db = store.db();
    store
        .with_tenant("fresh", db.execute_unprepared("CREATE TABLE t (x INTEGER)"))
        .await
        .unwrap()
        .unwrap();
    assert!(folder.join("t.db").is_file());
    // Without `mode=rwc` nothing is created.
    let absent = dbs.dir().join("absent");
    let url = format!("sqlite://{}/t.db", absent.display());
    let store = TenantConnections::from_urls([("ro", url)]).unwrap();
    let db = store.db();
    store
        .with_tenant("ro", db.execute_unprepared("SELECT 1"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(!absent.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_folder_that_cannot_be_created_fails_then_recovers() {
    let dbs = TestDatabases::sqlite();
    let folder = dbs.dir().join("later");
    // A file where the folder should be: the folder cannot be created.
    std::fs::write(&folder, b"").unwrap();
    let url = format!("sqlite://{}/t.db?mode=rwc", folder.display());
    let store = TenantConnections::from_urls([("late", url)]).unwrap();
    let db = store.db();
    let err = store
        .with_tenant("late", db.execute_unprepared("SELECT 1"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(
        TenantError::from_db_err(&err),
        Some(TenantError::Unavailable { .. })
    ));
    std::fs::remove_file(&folder).unwrap();
    store
        .with_tenant("late", db.execute_unprepared("SELECT 1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.stats().open_failures, 1);
    assert_eq!(store.stats().opens, 1);
}

/// `max_open_pools = 8`, 100 tenants used round-robin by 4 concurrent workers:
/// never more than 8 open, no data lost, evicted tenants reopen on next use.
async fn bounded_round_robin(mut dbs: TestDatabases) {
    const TENANTS: usize = 100;
    const ROUNDS: usize = 3;
    let tenants = names(TENANTS);
    let mut builder = TenantConnections::builder().max_open_pools(8);
    for t in &tenants {
        let url = dbs.create(t).await;
        let direct = sea_orm::Database::connect(&url).await.unwrap();
        common::create_schema(&direct).await;
        direct.close().await.unwrap();
        builder = builder.tenant_config(
            t,
            TenantConfig::new(url).with_pool(PoolOptions {
                max_connections: Some(1),
                ..Default::default()
            }),
        );
    }
    let store = builder.build().unwrap();
    let db = store.db();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (store, db, tenants) = (store.clone(), db.clone(), tenants.clone());
            tokio::spawn(async move {
                for round in 0..ROUNDS {
                    for t in tenants.iter().skip(w).step_by(4) {
                        store
                            .with_tenant(t, async {
                                note::ActiveModel {
                                    owner: Set(t.clone()),
                                    body: Set(format!("round-{round}")),
                                    ..Default::default()
                                }
                                .insert(&db)
                                .await
                            })
                            .await
                            .unwrap()
                            .unwrap();
                        assert!(store.stats().open <= 8);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let stats = store.stats();
    assert!(stats.peak_open <= 8, "{stats:?}");
    assert!(
        stats.opens > TENANTS as u64,
        "evicted tenants reopened: {stats:?}"
    );
    assert!(stats.evictions >= stats.opens - 8, "{stats:?}");
    for t in &tenants {
        let expected: Vec<_> = (0..ROUNDS)
            .map(|r| (t.clone(), format!("round-{r}")))
            .collect();
        assert_eq!(rows_direct(&dbs, t).await, expected, "tenant {t}");
    }
    store.close().await;
    dbs.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_pools_are_not_evicted() {
    let dbs = TestDatabases::sqlite();
    let store = TenantConnections::builder()
        .tenant("a", dbs.url("a"))
        .tenant("b", dbs.url("b"))
        .max_open_pools(1)
        .defaults(PoolOptions {
            acquire_timeout: Some(Duration::from_millis(200)),
            ..Default::default()
        })
        .build()
        .unwrap();
    let db = store.db();
    let held = store
        .with_tenant("a", db.connection())
        .await
        .unwrap()
        .unwrap();
    let err = store
        .with_tenant("b", db.connection())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, TenantError::PoolLimit { ref tenant, max_open_pools: 1, .. } if tenant.as_str() == "b"),
        "{err:?}"
    );
    held.execute_unprepared("SELECT 1")
        .await
        .expect("a's pool stayed open");
    drop(held);
    store
        .with_tenant("b", db.execute_unprepared("SELECT 1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.stats().evictions, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evict_idle_closes_only_unused_pools() {
    let dbs = TestDatabases::sqlite();
    let store = TenantConnections::from_urls((0..3).map(|i| {
        let name = format!("m{i}");
        let url = dbs.url(&name);
        (name, url)
    }))
    .unwrap();
    let db = store.db();
    for key in store.tenants() {
        store
            .with_tenant(&key, db.execute_unprepared("SELECT 1"))
            .await
            .unwrap()
            .unwrap();
    }
    let held = store
        .with_tenant("m0", db.connection())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.evict_idle(Duration::ZERO).await, 2);
    assert_eq!(store.stats().open, 1);
    drop(held);
    assert_eq!(store.evict_idle(Duration::ZERO).await, 1);
    assert_eq!(store.stats().open, 0);
    assert_eq!(store.evict_idle(Duration::from_secs(3600)).await, 0);
}

/// A removed tenant's pool closes when its last lease ends, not when
/// `close_timeout` gives up on it: the pool's own share of what its leases
/// hold goes when it starts closing. (Kept instead, removing waits the whole
/// timeout and counts an abandoned close.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_tenant_s_pool_closes_when_its_last_lease_ends() {
    let dbs = TestDatabases::sqlite();
    let store = TenantConnections::builder()
        .close_timeout(Duration::from_secs(30))
        .tenant("m0", dbs.url("m0"))
        .build()
        .unwrap();
    let db = store.db();
    let held = store
        .with_tenant("m0", db.connection())
        .await
        .unwrap()
        .unwrap();
    held.execute_unprepared("SELECT 1").await.unwrap();
    let removal = tokio::spawn(store.remove_tenant("m0"));
    while store.contains("m0") {
        tokio::task::yield_now().await;
    }
    assert!(!removal.is_finished(), "removed under a lease");
    drop(held);
    removal.await.unwrap().unwrap();
    assert_eq!(store.stats().open, 0);
    assert_eq!(
        store.stats().abandoned_closes,
        0,
        "the pool closed at close_timeout, not when its lease ended"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_database_needs_no_tenant() {
    let dbs = TestDatabases::sqlite();
    let none = TenantConnections::from_urls([("a", "sqlite::memory:")]).unwrap();
    assert!(matches!(
        none.shared().await,
        Err(TenantError::NoSharedDatabase)
    ));

    let store = TenantConnections::builder()
        .tenant("a", "sqlite::memory:")
        .shared(dbs.url("shared"))
        .build()
        .unwrap();
    let shared = store.shared().await.unwrap();
    shared
        .execute_unprepared("CREATE TABLE plan (name TEXT)")
        .await
        .unwrap();
    shared
        .execute_unprepared("INSERT INTO plan VALUES ('gold')")
        .await
        .unwrap();
    let again = store.shared().await.unwrap();
    let n = again
        .query_one_raw(sea_orm::Statement::from_string(
            DbBackend::Sqlite,
            "SELECT COUNT(*) AS n FROM plan",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(n, 1);
    assert!(dbs.sqlite_path("shared").exists());
    store.close().await;
    assert!(matches!(store.shared().await, Err(TenantError::Closed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_backends_report_the_current_tenants_backend() {
    // Neither database is opened: the backend comes from the URL.
    let store = TenantConnections::from_urls([
        ("lite", "sqlite::memory:"),
        ("pg", "postgres://app:secret@127.0.0.1:1/none"),
    ])
    .unwrap();
    let db = store.db();
    assert_eq!(store.common_backend(), None);
    assert_eq!(
        db.get_database_backend(),
        DbBackend::Sqlite,
        "documented fallback"
    );
    let pg = store
        .with_tenant("pg", async { db.get_database_backend() })
        .await
        .unwrap();
    assert_eq!(pg, DbBackend::Postgres);
    let lite = store
        .with_tenant("lite", async { db.get_database_backend() })
        .await
        .unwrap();
    assert_eq!(lite, DbBackend::Sqlite);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_store_refuses_queries() {
    let store = TenantConnections::from_urls([("a", "sqlite::memory:")]).unwrap();
    let db = store.db();
    store
        .with_tenant("a", db.execute_unprepared("SELECT 1"))
        .await
        .unwrap()
        .unwrap();
    store.close().await;
    assert!(store.is_closed());
    let err = store
        .with_tenant("a", db.execute_unprepared("SELECT 1"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(
        TenantError::from_db_err(&err),
        Some(TenantError::Closed)
    ));
    assert_eq!(store.stats().open, 0);
}

on_every_backend!(single_flight, bounded_round_robin);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_survives_eviction_of_its_pool() {
    use sea_orm::TransactionTrait;
    let mut dbs = TestDatabases::sqlite();
    let mut builder = TenantConnections::builder().max_open_pools(1);
    for t in ["a", "b"] {
        let url = dbs.create(t).await;
        let direct = sea_orm::Database::connect(&url).await.unwrap();
        common::create_schema(&direct).await;
        direct.close().await.unwrap();
        builder = builder.tenant(t, url);
    }
    let store = builder.build().unwrap();
    let db = store.db();
    let txn = store.with_tenant("a", db.begin()).await.unwrap().unwrap();
    // Using b evicts a's pool: the transaction holds no lease, only its connection.
    store
        .with_tenant("b", db.execute_unprepared("SELECT 1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.stats().evictions, 1);
    note::ActiveModel {
        owner: Set("a".into()),
        body: Set("after eviction".into()),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        rows_direct(&dbs, "a").await,
        vec![("a".into(), "after eviction".into())]
    );
    assert!(rows_direct(&dbs, "b").await.is_empty());
}

/// An in-memory SQLite database vanishes with its pool: never evicted, neither
/// when idle nor to make room, so its data stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_tenants_are_never_evicted() {
    let dbs = TestDatabases::sqlite();
    let store = TenantConnections::builder()
        .tenant("mem", "sqlite::memory:")
        .tenant("file", dbs.url("file"))
        .max_open_pools(1)
        .defaults(PoolOptions {
            acquire_timeout: Some(Duration::from_millis(200)),
            ..Default::default()
        })
        .build()
        .unwrap();
    let db = store.db();
    store
        .with_tenant("mem", db.execute_unprepared("CREATE TABLE t (x INTEGER)"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.evict_idle(Duration::ZERO).await, 0);
    let err = store
        .with_tenant("file", db.connection())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, TenantError::PoolLimit { .. }), "{err:?}");
    store
        .with_tenant("mem", db.execute_unprepared("INSERT INTO t VALUES (1)"))
        .await
        .unwrap()
        .expect("the in-memory table is still there");
    store.close().await;
}

/// Under skewed traffic the pool to close is the one used least lately, not
/// merely the one used longest ago: a tenant used once just now goes before
/// one used many times a moment earlier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_much_used_tenant_keeps_its_pool_over_one_used_once_since() {
    let dbs = TestDatabases::sqlite();
    let store = TenantConnections::builder()
        .tenant("busy", dbs.url("busy"))
        .tenant("once", dbs.url("once"))
        .tenant("new", dbs.url("new"))
        .max_open_pools(2)
        .build()
        .unwrap();
    let db = store.db();
    let select =
        |tenant: &'static str| store.with_tenant(tenant, db.execute_unprepared("SELECT 1"));
    for _ in 0..20 {
        select("busy").await.unwrap().unwrap();
    }
    select("once").await.unwrap().unwrap();
    select("new").await.unwrap().unwrap();
    let open: Vec<(String, bool)> = store
        .tenant_stats()
        .into_iter()
        .map(|t| (t.tenant.to_string(), t.open))
        .collect();
    assert!(
        open.contains(&("busy".into(), true)) && open.contains(&("once".into(), false)),
        "the pool used once was not the one closed: {open:?}"
    );
    assert_eq!(store.stats().evictions, 1);
    store.close().await;
}
