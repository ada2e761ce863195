//! `just bench-schemas`: schema tenants at scale, in one run.
//!
//! 1. Creates one PostgreSQL database with a schema per tenant (10,000 by
//!    default) and times the workspace migrations over all of them from
//!    scratch, then `up` with nothing to apply, then `status`, in-process with
//!    `TenantMigrator` (the same runner as `just migrate-all`).
//! 2. Seeds a few notes per tenant directly, starts notes-server (release,
//!    `--no-migrate`) with the tenants in a `[databases.*]` table within a
//!    per-server connection budget, and drives `GET /notes` with a random
//!    tenant per request against one hot tenant, in interleaved rounds,
//!    sampling the server's sessions every 50 ms.
//!
//! Prints the figures and the ratio random/hot; drops the database at the end
//! (also after Ctrl-C or a panic). `--quick` is a short smoke run.

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use clap::Parser;
use e2e_tests::NotesServer;
use e2e_tests::load::{Mode, Run, measure};
use e2e_tests::scale::{ServerDatabases, ServerKind, tenant_names};
use sea_orm_tenant::TenantConnections;
use sea_orm_tenant::sea_orm::{ConnectionTrait, Database};
use sea_orm_tenant_migration::{RunReport, TenantMigrator};

/// Schema tenants at scale: migrations over every schema, then HTTP load with
/// random tenants against one hot tenant.
#[derive(Debug, Parser)]
struct Args {
    /// Schema tenants [default: 10000; --quick: 200].
    #[arg(long)]
    tenants: Option<usize>,
    /// `[servers."host:port"] max_connections`: the connection budget to the server.
    #[arg(long, default_value_t = 60)]
    budget: u32,
    /// The schema database's pool, shared by every tenant.
    #[arg(long, default_value_t = 20)]
    pool_size: u32,
    /// Tenants migrated at once.
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    /// Measured seconds per run [default: 10; --quick: 2].
    #[arg(long)]
    seconds: Option<f64>,
    /// Warm-up seconds before each run [default: 2; --quick: 0.5].
    #[arg(long)]
    warmup_seconds: Option<f64>,
    /// Concurrent HTTP connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Rounds, each one random-tenant run then one hot-tenant run [default: 2; --quick: 1].
    #[arg(long)]
    rounds: Option<usize>,
    /// Notes stored per tenant before measuring (each GET returns all of them).
    #[arg(long, default_value_t = 5)]
    notes: usize,
    /// Seed of the random tenant choice.
    #[arg(long, default_value_t = 0x5C4E)]
    seed: u64,
    /// A short smoke run: 200 tenants, 1 round of 2 s runs.
    #[arg(long)]
    quick: bool,
    /// The PostgreSQL admin URL (the database is created from it).
    #[arg(
        long,
        env = "TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
}

const SCHEMA_PREFIX: &str = "t_";

fn summary(report: &RunReport) -> String {
    let s = &report.summary;
    format!(
        "{} tenants: {} migrated, {} up to date, {} behind, {} failed",
        s.total, s.migrated, s.up_to_date, s.behind, s.failed
    )
}

async fn timed<T>(what: &str, fut: impl Future<Output = T>) -> (T, Duration) {
    eprintln!("{what}...");
    let started = Instant::now();
    let out = fut.await;
    (out, started.elapsed())
}

async fn scenario(args: &Args, dbs: &mut ServerDatabases) {
    let tenants = args
        .tenants
        .unwrap_or(if args.quick { 200 } else { 10_000 })
        .max(1);
    let seconds =
        Duration::from_secs_f64(args.seconds.unwrap_or(if args.quick { 2.0 } else { 10.0 }));
    let warmup =
        Duration::from_secs_f64(
            args.warmup_seconds
                .unwrap_or(if args.quick { 0.5 } else { 2.0 }),
        );
    let rounds = args.rounds.unwrap_or(if args.quick { 1 } else { 2 }).max(1);
    let names = tenant_names(tenants);

    let (url, created) = timed(
        &format!("creating {tenants} schemas"),
        dbs.create_schema_database(&names, SCHEMA_PREFIX),
    )
    .await;
    let dir = tempfile::tempdir().expect("temporary folder");
    let pool_line = format!("max_connections = {}", args.pool_size);
    let config = dbs
        .tenants_toml(&[], args.budget)
        .schema_database("app", &url, SCHEMA_PREFIX, &names, &[&pool_line])
        .write_to(dir.path());

    // Migrations, in-process, as `just migrate-all` runs them.
    let store = TenantConnections::from_toml_file(&config).expect("configuration");
    let migrator = TenantMigrator::new::<migration::Migrator>(store.clone()).jobs(args.jobs);
    let (scratch, scratch_time) = timed("migrating every schema from scratch", migrator.up()).await;
    let scratch = scratch.expect("run starts");
    let (again, again_time) = timed("up with nothing to apply", migrator.up()).await;
    let again = again.expect("run starts");
    let (status, status_time) = timed("status", migrator.status()).await;
    let status = status.expect("run starts");
    store.close().await;

    let (_, seed_time) = timed(&format!("seeding {} notes per tenant", args.notes), async {
        let db = Database::connect(&url).await.expect("connect");
        for chunk in names.chunks(500) {
            let sql: Vec<String> = chunk
                .iter()
                .map(|t| {
                    let rows: Vec<String> =
                        (0..args.notes).map(|n| format!("('{t}:{n}')")).collect();
                    format!(
                        "INSERT INTO \"{SCHEMA_PREFIX}{t}\".notes (body) VALUES {}",
                        rows.join(", ")
                    )
                })
                .collect();
            db.execute_unprepared(&sql.join(";"))
                .await
                .expect("seed notes");
        }
        db.close().await.ok();
    })
    .await;

    eprintln!("building notes-server if needed...");
    tokio::task::spawn_blocking(e2e_tests::notes_server_binary)
        .await
        .expect("build notes-server");
    let sampler = dbs
        .sampler(Duration::from_millis(50), None, Duration::from_secs(3600))
        .await;
    let (server, startup_time) = timed(
        "starting notes-server",
        NotesServer::start_with_env(&config, &["--no-migrate"], &[("RUST_LOG", "warn")]),
    )
    .await;
    let urls: Vec<String> = names
        .iter()
        .map(|t| server.url(&format!("/notes?tenant={t}&limit=1000")))
        .collect();
    let mut random_runs: Vec<Run> = Vec::new();
    let mut hot_runs: Vec<Run> = Vec::new();
    for round in 1..=rounds {
        let seed = args.seed.wrapping_add(round as u64);
        eprintln!("round {round}/{rounds}: random tenant per request...");
        random_runs.push(
            measure(
                &server,
                &sampler,
                &urls,
                Mode::Random,
                args.concurrency,
                (warmup, seconds),
                seed,
            )
            .await,
        );
        eprintln!("round {round}/{rounds}: one hot tenant ({})...", names[0]);
        hot_runs.push(
            measure(
                &server,
                &sampler,
                &urls,
                Mode::Hot,
                args.concurrency,
                (warmup, seconds),
                seed,
            )
            .await,
        );
    }
    let stopped = server.terminate().await;
    let sessions = sampler.stop().await;
    let server_errors = stopped.lines().filter(|l| l.contains("ERROR")).count();

    println!(
        "{tenants} schema tenants in one PostgreSQL database ({}); pool {} shared by all; budget {}; migration jobs {}",
        dbs.server_key(),
        args.pool_size,
        args.budget,
        args.jobs
    );
    println!("schemas created in {created:.1?}; notes seeded in {seed_time:.1?}");
    let per = |d: Duration| d / tenants as u32;
    println!(
        "migrations from scratch: {scratch_time:.1?} ({:.2?} per tenant) - {}",
        per(scratch_time),
        summary(&scratch)
    );
    println!(
        "up with nothing to apply: {again_time:.1?} ({:.2?} per tenant) - {} [bar: <= 30 s for 10,000: {}]",
        per(again_time),
        summary(&again),
        if again_time <= Duration::from_secs(30) {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "status: {status_time:.1?} ({:.2?} per tenant) - {}",
        per(status_time),
        summary(&status)
    );
    println!("notes-server start-up: {startup_time:.1?}");
    println!(
        "{:<20} {:>11} {:>10} {:>10} {:>8} {:>11}",
        "run", "requests/s", "p50", "p99", "errors", "peak conns"
    );
    for (i, (r, h)) in random_runs.iter().zip(&hot_runs).enumerate() {
        for (name, run) in [("random tenant", r), ("one hot tenant", h)] {
            println!(
                "{:<20} {:>11.0} {:>10.2?} {:>10.2?} {:>8} {:>11}",
                format!("{name} #{}", i + 1),
                run.rps(),
                run.percentile(0.50),
                run.percentile(0.99),
                run.load.errors,
                run.peak
            );
        }
    }
    if let Some(e) = random_runs
        .iter()
        .chain(&hot_runs)
        .find_map(|r| r.load.first_error.as_ref())
    {
        println!("first error: {e}");
    }
    println!("server sessions sampling: {}", sessions.summary());
    let mean = |runs: &[Run]| runs.iter().map(Run::rps).sum::<f64>() / runs.len() as f64;
    let peak = random_runs
        .iter()
        .chain(&hot_runs)
        .map(|r| r.peak)
        .max()
        .unwrap_or(0);
    let errors: usize = random_runs
        .iter()
        .chain(&hot_runs)
        .map(|r| r.load.errors)
        .sum();
    let ratio = mean(&random_runs) / mean(&hot_runs);
    println!(
        "mean: random tenant {:.0} req/s, one hot tenant {:.0} req/s; ratio random/hot {ratio:.3} [bar >= 0.70: {}]",
        mean(&random_runs),
        mean(&hot_runs),
        if ratio >= 0.70 { "met" } else { "NOT met" }
    );
    println!(
        "errors {errors} [bar 0: {}]; peak sessions {peak} (budget {}: {}); notes-server ERROR lines: {server_errors}",
        if errors == 0 { "met" } else { "NOT met" },
        args.budget,
        if peak <= i64::from(args.budget) {
            "kept"
        } else {
            "EXCEEDED"
        }
    );
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut dbs = ServerDatabases::new(ServerKind::Postgres, &args.postgres_url);
        let finished = tokio::select! {
            () = scenario(&args, &mut dbs) => true,
            _ = tokio::signal::ctrl_c() => false,
        };
        if !finished {
            eprintln!("interrupted: dropping the database");
        }
        dbs.drop_all().await;
        if !finished {
            std::process::exit(130);
        }
    });
}
