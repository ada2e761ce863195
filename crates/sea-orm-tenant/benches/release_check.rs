//! Cost of the release check (no pooled connection keeps a transaction that
//! nobody owns): the same PostgreSQL / MariaDB point query through a tenant
//! pool of the store (release check installed) and through a plain SeaORM pool
//! of the same size on the same database, in interleaved rounds, one task and
//! 16 concurrent tasks. Prints queries/s and the ratio against the plain pool of
//! the same run. Skips a backend whose `TEST_*_URL` is unset.

use std::time::{Duration, Instant};

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use sea_orm_tenant::testing::{TestDatabases, median};
use sea_orm_tenant::{PoolOptions, TenantConfig, TenantConnections};

const ROUNDS: usize = 7;
const ROUND: Duration = Duration::from_millis(700);
const POOL: u32 = 4;

async fn point_query(conn: &DatabaseConnection, backend: DbBackend) {
    let stmt = Statement::from_string(backend, "SELECT id, body FROM note WHERE id = 1");
    conn.query_one_raw(stmt).await.unwrap().unwrap();
}

/// Queries per second over one round with `tasks` concurrent tasks.
async fn round(conn: &DatabaseConnection, backend: DbBackend, tasks: usize) -> f64 {
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while started.elapsed() < ROUND {
                    point_query(&conn, backend).await;
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

async fn compare(mut dbs: TestDatabases) {
    let backend = dbs.backend();
    let url = dbs.create("bench").await;
    let plain = {
        let mut opts = ConnectOptions::new(url.clone());
        opts.max_connections(POOL).sqlx_logging(false);
        Database::connect(opts).await.unwrap()
    };
    plain
        .execute_unprepared("CREATE TABLE note (id INT PRIMARY KEY, body TEXT)")
        .await
        .unwrap();
    plain
        .execute_unprepared("INSERT INTO note VALUES (1, 'hello')")
        .await
        .unwrap();
    let pool = PoolOptions {
        max_connections: Some(POOL),
        ..Default::default()
    };
    let store = TenantConnections::builder()
        .tenant_config("bench", TenantConfig::new(url).with_pool(pool))
        .build()
        .unwrap();
    let lease = store.connection("bench").await.unwrap();
    let checked = lease.to_database_connection().expect("a database tenant");
    for tasks in [1, 16] {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        round(&plain, backend, tasks).await;
        round(&checked, backend, tasks).await;
        for _ in 0..ROUNDS {
            a.push(round(&plain, backend, tasks).await);
            b.push(round(&checked, backend, tasks).await);
        }
        let (a, b) = (median(a), median(b));
        println!(
            "{backend:?} {tasks:>2} task(s): plain pool {a:>8.0} q/s, with release check {b:>8.0} q/s, ratio {:.3}",
            b / a
        );
    }
    drop(lease);
    store.close().await;
    plain.close().await.ok();
    dbs.cleanup().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for dbs in [TestDatabases::postgres(), TestDatabases::mysql()]
            .into_iter()
            .flatten()
        {
            compare(dbs).await;
        }
    });
}
