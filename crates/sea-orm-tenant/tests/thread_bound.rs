//! 10,000 SQLite tenants with the store's defaults: the process's threads stay
//! bounded. In a test binary of its own: the count is the whole process's, and
//! other tests running beside it (their pools' sqlx worker threads) would be
//! counted too.

use sea_orm::ConnectionTrait;
use sea_orm_tenant::TenantConnections;
use sea_orm_tenant::testing::TestDatabases;

/// Threads of this process, from `/proc/self/status`.
fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

/// 10,000 registered SQLite tenants used round robin with the store's defaults
/// (no `max_open_pools` set): every tenant writes its own row; the process never
/// holds more than the default 100 pools, so never about 100 more threads
/// than at the start while writing (one sqlx worker thread per SQLite
/// connection) and 500 while reading (readers too), and every
/// row reads back (each tenant through the router after its pool was evicted,
/// a sample directly from the files).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_sqlite_tenants_with_defaults_stay_bounded() {
    const TENANTS: usize = 10_000;
    let dbs = TestDatabases::sqlite();
    let names: Vec<String> = (0..TENANTS).map(|i| format!("t{i:05}")).collect();
    let store = names
        .iter()
        .fold(TenantConnections::builder(), |b, k| b.tenant(k, dbs.url(k)))
        .build()
        .unwrap();
    let default_bound = store.options().effective_max_open_pools();
    assert_eq!(default_bound, 100);
    let db = store.db();
    let baseline = threads();
    let mut peak_threads = baseline;
    for key in &names {
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS owner (name TEXT); INSERT INTO owner VALUES ('{key}')"
        );
        store
            .with_tenant(key, db.execute_unprepared(&sql))
            .await
            .unwrap()
            .unwrap();
        peak_threads = peak_threads.max(threads());
    }
    let stats = store.stats();
    assert_eq!(stats.registered, TENANTS);
    assert!(stats.peak_open <= default_bound, "{stats:?}");
    assert!(
        peak_threads <= baseline + default_bound + 8,
        "threads grew from {baseline} to {peak_threads}"
    );
    // Reads go to each pool's read pool too: a writer and its readers (4 by
    // default) per open pool at most.
    let mut peak_read_threads = threads();
    for key in &names {
        let row = store
            .with_tenant(
                key,
                db.query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Sqlite,
                    "SELECT group_concat(name) AS names FROM owner",
                )),
            )
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<String>("", "names").unwrap(), *key);
        peak_read_threads = peak_read_threads.max(threads());
    }
    assert!(
        peak_read_threads <= baseline + 5 * default_bound + 8,
        "threads grew from {baseline} to {peak_read_threads} while reading"
    );
    store.close().await;
    for key in names.iter().step_by(500) {
        let direct = dbs.connect_direct(key).await;
        let row = direct
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                "SELECT group_concat(name) AS names FROM owner",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<String>("", "names").unwrap(), *key);
        direct.close().await.ok();
    }
    dbs.cleanup().await;
}
