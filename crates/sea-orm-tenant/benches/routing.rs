//! Routing overhead: the same point query (SQLite in-memory, one row by primary
//! key) through `TenantDb` inside `with_tenant` versus directly on the
//! `DatabaseConnection`; the same with 10,000 registered tenants; and the cost of
//! entering `with_tenant`. Criterion measures each; a closing A/B pass with
//! interleaved rounds prints the ratios against the direct baseline of the same run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, Schema};
use sea_orm_tenant::{TenantConnections, TenantDb};

mod note {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "note")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

const TENANT: &str = "t00000";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

async fn seed(conn: &impl ConnectionTrait) {
    let schema = Schema::new(conn.get_database_backend());
    conn.execute(&schema.create_table_from_entity(note::Entity))
        .await
        .unwrap();
    conn.execute_unprepared("INSERT INTO note (id, body) VALUES (1, 'hello')")
        .await
        .unwrap();
}

async fn point_query(conn: &impl ConnectionTrait) {
    let row = note::Entity::find_by_id(1).one(conn).await.unwrap();
    black_box(row.unwrap());
}

/// A direct connection and a store of `tenants` in-memory tenants, `TENANT` seeded.
async fn setup(tenants: usize) -> (DatabaseConnection, TenantConnections, TenantDb) {
    let direct = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
    seed(&direct).await;
    let store = (0..tenants)
        .fold(TenantConnections::builder(), |b, i| {
            b.tenant(format!("t{i:05}"), "sqlite::memory:")
        })
        .build()
        .unwrap();
    let db = store.db();
    store.with_tenant(TENANT, seed(&db)).await.unwrap();
    (direct, store, db)
}

async fn direct_loop(conn: &DatabaseConnection, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        point_query(conn).await;
    }
    start.elapsed()
}

async fn routed_loop(store: &TenantConnections, db: &TenantDb, iters: u64) -> Duration {
    store
        .with_tenant(TENANT, async {
            let start = Instant::now();
            for _ in 0..iters {
                point_query(db).await;
            }
            start.elapsed()
        })
        .await
        .unwrap()
}

async fn enter_loop(store: &TenantConnections, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        store.with_tenant(TENANT, async {}).await.unwrap();
    }
    start.elapsed()
}

fn point_query_bench(c: &mut Criterion) {
    let rt = runtime();
    let (direct, store, db) = rt.block_on(setup(1));
    let (_, big_store, big_db) = rt.block_on(setup(10_000));
    let mut group = c.benchmark_group("point_query");
    group.bench_function("direct", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| direct_loop(&direct, iters))
    });
    group.bench_function("routed", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| routed_loop(&store, &db, iters))
    });
    group.bench_function("routed_10000_tenants", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| routed_loop(&big_store, &big_db, iters))
    });
    group.finish();

    let mut group = c.benchmark_group("with_tenant");
    group.bench_function("enter_1_tenant", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| enter_loop(&store, iters))
    });
    group.bench_function("enter_10000_tenants", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| enter_loop(&big_store, iters))
    });
    group.finish();
}

/// Interleaved rounds so drift on a busy machine hits both sides alike; medians.
fn ab_summary() {
    const ROUNDS: usize = 21;
    const QUERIES: u64 = 2_000;
    let rt = runtime();
    let (direct, store, db) = rt.block_on(setup(1));
    let (_, big_store, big_db) = rt.block_on(setup(10_000));
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut d, mut r, mut big) = (Vec::new(), Vec::new(), Vec::new());
    rt.block_on(async {
        direct_loop(&direct, QUERIES).await;
        routed_loop(&store, &db, QUERIES).await;
        for _ in 0..ROUNDS {
            d.push(direct_loop(&direct, QUERIES).await.as_nanos() as f64 / QUERIES as f64);
            r.push(routed_loop(&store, &db, QUERIES).await.as_nanos() as f64 / QUERIES as f64);
            big.push(
                routed_loop(&big_store, &big_db, QUERIES).await.as_nanos() as f64 / QUERIES as f64,
            );
        }
    });
    let enter = rt.block_on(enter_loop(&big_store, 100_000)).as_nanos() as f64 / 100_000.0;
    let (d, r, big) = (median(d), median(r), median(big));
    println!("\nrouting summary ({ROUNDS} interleaved rounds of {QUERIES} point queries, medians)");
    println!(
        "  direct DatabaseConnection:            {:>8.2} us/query",
        d / 1000.0
    );
    println!(
        "  TenantDb in with_tenant:              {:>8.2} us/query",
        r / 1000.0
    );
    println!(
        "  TenantDb, 10,000 registered tenants:  {:>8.2} us/query",
        big / 1000.0
    );
    println!(
        "  routed/direct ratio:                  {:>8.3} (target <= 1.02)",
        r / d
    );
    println!("  routed(10,000)/direct ratio:          {:>8.3}", big / d);
    println!("  routing cost per query:               {:>8.0} ns", r - d);
    println!("  entering with_tenant (10,000 tenants): {:>7.0} ns", enter);
}

criterion_group!(benches, point_query_bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    ab_summary();
}
