//! `just bench-migrate [--tenants N] [--pg-tenants N] [--repeat R] [--pg-repeat R]`: migrates N fresh SQLite
//! tenants (default 1,000; this workspace's two migrations each) with `TenantMigrator`
//! at jobs 1 and 4, and, in the same run, a plain `Migrator::up` loop over N other
//! fresh tenants of the same store at the same concurrency as the baseline, the
//! two taking turns in batches of 50. Prints summed wall times, the runner's
//! overhead over the baseline and the speedup of jobs 4 over jobs 1.
//! With `TEST_POSTGRES_URL` set, does the same for N PostgreSQL databases (default 100).
//!
//! SQLite is measured twice: tenants migrated for the first time, and tenants
//! an earlier run with nothing to apply has already been through (not timed),
//! so every database file, and any lock file, exists beforehand.
//!
//! Each measurement migrates its own freshly created databases; creating them is
//! not timed. Times are summed over `--repeat` runs (default 3; PostgreSQL
//! `--pg-repeat`, default 1, since creating its databases is slow).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use migration::Migrator;
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{PoolOptions, TenantConnections};
use sea_orm_tenant_migration::TenantMigrator;

#[derive(Clone, Copy, PartialEq)]
enum Way {
    Plain,
    Runner,
}

struct Args {
    tenants: usize,
    pg_tenants: usize,
    repeat: usize,
    pg_repeat: usize,
}

fn args() -> Args {
    let mut out = Args {
        tenants: 1000,
        pg_tenants: 100,
        repeat: 3,
        pg_repeat: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().and_then(|v| v.parse().ok()).expect("a number");
        match a.as_str() {
            "--tenants" => out.tenants = value(),
            "--pg-tenants" => out.pg_tenants = value(),
            "--repeat" => out.repeat = value(),
            "--pg-repeat" => out.pg_repeat = value(),
            _ => {} // cargo bench passes `--bench`
        }
    }
    out
}

/// The store the CLI would build: small pools, at most jobs + 1 open at once.
fn store(urls: &[(String, String)], jobs: usize) -> TenantConnections {
    urls.iter()
        .fold(
            TenantConnections::builder()
                .defaults(PoolOptions {
                    max_connections: Some(1),
                    ..PoolOptions::default()
                })
                .max_open_pools(jobs + 1),
            |b, (n, u)| b.tenant(n, u),
        )
        .build()
        .expect("store builds")
}

/// A migrator with no migrations: an `up` run with it only takes and
/// releases each tenant's lock.
struct NoMigrations;

impl MigratorTrait for NoMigrations {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        Vec::new()
    }
}

/// Tenants per batch: plain and runner take turns batch by batch, so the
/// disk's drift over a run (ext4 journal and writeback; whole passes of one
/// way varied by ±25% here) falls on both alike.
const BATCH: usize = 50;

/// Plain and runner over `n` fresh tenants each, batch by batch, alternating
/// which goes first; returns each way's summed time.
async fn measure(
    mut dbs: TestDatabases,
    n: usize,
    jobs: usize,
    visited_before: bool,
) -> (Duration, Duration) {
    let plain: Vec<String> = (0..n).map(|i| format!("p{i:04}")).collect();
    let runner: Vec<String> = (0..n).map(|i| format!("r{i:04}")).collect();
    let all: Vec<String> = plain.iter().chain(&runner).cloned().collect();
    let urls = dbs.create_many(&all).await;
    let store = store(&urls, jobs);
    if visited_before {
        // Every tenant, the plain loop's too: each database file then exists
        // before the timed part, for both ways alike.
        let report = TenantMigrator::new::<NoMigrations>(store.clone())
            .jobs(jobs)
            .up()
            .await
            .unwrap();
        assert_eq!(report.summary.up_to_date, 2 * n, "{report}");
    }
    let (mut plain_time, mut runner_time) = (Duration::ZERO, Duration::ZERO);
    for (i, (p, r)) in plain.chunks(BATCH).zip(runner.chunks(BATCH)).enumerate() {
        let order = if i % 2 == 0 {
            [Way::Plain, Way::Runner]
        } else {
            [Way::Runner, Way::Plain]
        };
        for way in order {
            let started = Instant::now();
            match way {
                Way::Plain => {
                    futures_util::stream::iter(p)
                        .for_each_concurrent(jobs, |name| {
                            let store = store.clone();
                            async move {
                                let lease = store.connection(name).await.expect("connect");
                                let conn =
                                    lease.to_database_connection().expect("a database tenant");
                                Migrator::up(&conn, None).await.expect("migrate");
                            }
                        })
                        .await;
                    plain_time += started.elapsed();
                }
                Way::Runner => {
                    let report = TenantMigrator::new::<Migrator>(store.clone())
                        .select(r.to_vec())
                        .jobs(jobs)
                        .up()
                        .await
                        .unwrap();
                    assert_eq!(report.summary.migrated, r.len(), "{report}");
                    runner_time += started.elapsed();
                }
            }
        }
    }
    store.close().await;
    dbs.cleanup().await;
    (plain_time, runner_time)
}

async fn compare(
    label: &str,
    n: usize,
    repeat: usize,
    visited_before: bool,
    fresh: impl Fn() -> TestDatabases,
) {
    println!(
        "\n{label}: {n} tenants x {} migrations each way, in batches of {BATCH} taking turns, summed over {repeat} runs",
        Migrator::migrations().len()
    );
    println!(
        "{:>4}  {:>20}  {:>16}  {:>9}",
        "jobs", "plain Migrator::up", "TenantMigrator", "overhead"
    );
    let mut totals = Vec::new();
    for jobs in [1, 4] {
        let (mut plain, mut runner) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..repeat {
            let (p, r) = measure(fresh(), n, jobs, visited_before).await;
            plain += p;
            runner += r;
        }
        let overhead = (runner.as_secs_f64() / plain.as_secs_f64() - 1.0) * 100.0;
        println!(
            "{jobs:>4}  {:>18.2} s  {:>14.2} s  {overhead:>+8.1}%",
            plain.as_secs_f64(),
            runner.as_secs_f64()
        );
        totals.push((plain, runner));
    }
    let speedup = |i: fn(&(Duration, Duration)) -> Duration| {
        i(&totals[0]).as_secs_f64() / i(&totals[1]).as_secs_f64()
    };
    println!(
        "speedup jobs 4 over jobs 1: plain {:.2}x, TenantMigrator {:.2}x",
        speedup(|b| b.0),
        speedup(|b| b.1)
    );
}

fn main() {
    let args = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("CPUs: {}", sea_orm_tenant_migration::default_jobs());
        let sqlite = TestDatabases::sqlite;
        compare(
            "SQLite, first run",
            args.tenants,
            args.repeat,
            false,
            sqlite,
        )
        .await;
        let label = "SQLite, after an earlier run with nothing to apply";
        compare(label, args.tenants, args.repeat, true, sqlite).await;
        if TestDatabases::postgres().is_some() {
            compare("PostgreSQL", args.pg_tenants, args.pg_repeat, false, || {
                TestDatabases::postgres().expect("TEST_POSTGRES_URL is set")
            })
            .await;
        }
    });
}
