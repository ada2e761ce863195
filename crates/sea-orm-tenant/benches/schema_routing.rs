//! Cost of schema routing: the same PostgreSQL point query through a plain
//! SeaORM pool whose connections are on the tenant's schema
//! (`set_schema_search_path`), and through a schema tenant of the store
//! (`TenantDb` inside `with_tenant`) sharing one pool of the same size with
//! the other tenants of the database, in interleaved rounds, 1 and 16 tasks:
//!
//! * one tenant: consecutive queries stay on one tenant (the bar: <= 1.10);
//! * switching: every query names the next of 50 tenants, round robin, so
//!   almost every checkout moves its connection to another schema.
//!
//! Prints queries/s and the ratio against the plain pool of the same run, and
//! exits with status 1 when a one-tenant ratio is over its bar. Skipped when
//! `TEST_POSTGRES_URL` is unset.

use std::time::{Duration, Instant};

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use sea_orm_tenant::testing::{TestDatabases, median};
use sea_orm_tenant::{PoolOptions, TenantConnections, TenantDb};

const ROUNDS: usize = 7;
const ROUND: Duration = Duration::from_millis(700);
const POOL: u32 = 4;
const TENANTS: usize = 50;
/// The highest time ratio of one tenant against the plain pool.
const ONE_TENANT_BAR: f64 = 1.10;

fn stmt() -> Statement {
    Statement::from_string(
        DbBackend::Postgres,
        "SELECT id, body FROM note WHERE id = 1",
    )
}

#[derive(Clone)]
enum Way {
    Plain(DatabaseConnection),
    OneTenant(TenantConnections, TenantDb),
    Switching(TenantConnections, TenantDb, Vec<String>),
}

/// Queries per second over one round with `tasks` concurrent tasks.
async fn round(way: &Way, tasks: usize) -> f64 {
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let way = way.clone();
            tokio::spawn(async move {
                let mut n = 0usize;
                match &way {
                    Way::Plain(conn) => {
                        while started.elapsed() < ROUND {
                            conn.query_one_raw(stmt()).await.unwrap().unwrap();
                            n += 1;
                        }
                    }
                    Way::OneTenant(store, db) => {
                        store
                            .with_tenant("t00", async {
                                while started.elapsed() < ROUND {
                                    db.query_one_raw(stmt()).await.unwrap().unwrap();
                                    n += 1;
                                }
                            })
                            .await
                            .unwrap();
                    }
                    Way::Switching(store, db, tenants) => {
                        while started.elapsed() < ROUND {
                            let tenant = &tenants[(task * 7 + n) % tenants.len()];
                            store
                                .with_tenant(tenant, db.query_one_raw(stmt()))
                                .await
                                .unwrap()
                                .unwrap()
                                .unwrap();
                            n += 1;
                        }
                    }
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

async fn compare(mut dbs: TestDatabases) -> bool {
    let tenants: Vec<String> = (0..TENANTS).map(|i| format!("t{i:02}")).collect();
    let mut builder = TenantConnections::builder().defaults(PoolOptions {
        max_connections: Some(POOL),
        ..Default::default()
    });
    for t in &tenants {
        builder = builder.tenant_config(t, dbs.create_config(t).await);
        let direct = dbs.connect_direct(t).await;
        direct
            .execute_unprepared("CREATE TABLE note (id INT PRIMARY KEY, body TEXT)")
            .await
            .unwrap();
        direct
            .execute_unprepared(&format!("INSERT INTO note VALUES (1, 'hello {t}')"))
            .await
            .unwrap();
        direct.close().await.ok();
    }
    let store = builder.build().unwrap();
    let plain = {
        let mut opts = ConnectOptions::new(dbs.url("t00"));
        opts.max_connections(POOL)
            .sqlx_logging(false)
            .set_schema_search_path(format!("\"{}\"", dbs.schema_name("t00")));
        Database::connect(opts).await.unwrap()
    };
    let plain_way = Way::Plain(plain.clone());
    let mut missed = false;
    for (name, way) in [
        ("one tenant", Way::OneTenant(store.clone(), store.db())),
        (
            "switching among 50",
            Way::Switching(store.clone(), store.db(), tenants.clone()),
        ),
    ] {
        for tasks in [1, 16] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            round(&plain_way, tasks).await;
            round(&way, tasks).await;
            for _ in 0..ROUNDS {
                a.push(round(&plain_way, tasks).await);
                b.push(round(&way, tasks).await);
            }
            let (a, b) = (median(a), median(b));
            if matches!(way, Way::OneTenant(..)) && a / b > ONE_TENANT_BAR {
                eprintln!(
                    "bar missed: one tenant, {tasks} task(s), time ratio over {ONE_TENANT_BAR}"
                );
                missed = true;
            }
            println!(
                "schema routing, {name:<18} {tasks:>2} task(s): plain pool on the schema {a:>8.0} q/s, \
                 schema tenant {b:>8.0} q/s, time ratio {:.3}",
                a / b
            );
        }
    }
    store.close().await;
    plain.close().await.ok();
    dbs.cleanup().await;
    missed
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let missed = rt.block_on(async {
        match TestDatabases::postgres_schemas() {
            Some(dbs) => compare(dbs).await,
            None => false,
        }
    });
    if missed {
        std::process::exit(1);
    }
}
