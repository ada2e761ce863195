//! `just bench-move`: an online move of a schema tenant with a million rows
//! from one PostgreSQL server to another while it serves.
//!
//! A tenant of this workspace's migrations gets N rows in `notes` (1,000,000
//! by default), then writers and readers call it through the store (the
//! app's path), and other clients call another tenant of the same server,
//! while `Provisioner::move_tenant` moves its schema to the second server. Every call's wait is timed; the report gives the copy
//! time, the hold, the longest and the 99th-percentile call, each against a
//! baseline of the same calls before the move, and checks every
//! acknowledged write on the target, read directly. After a 1.5 s warm-up
//! at full speed, the clients offer 60% of what they got through in it
//! (`--load`, as the soak does; 1 for full speed): at full speed every core
//! is busy, and the copy's work on the two servers, which share this
//! machine's two cores with the app and the clients, comes out of the
//! others' share whatever the library does.
//!
//! Needs `TEST_POSTGRES_URL` and `TEST_POSTGRES_URL_2` (the `just` recipe
//! sets them) and `wal_level = logical` on the first server. Bars: no call
//! waits more than 2 s, none fails, none is lost; the other tenant keeps at
//! least 0.9 of its throughput. `--quick` is a short
//! smoke run. Exit codes: [`e2e_tests::bench::exit`].
//!
//! `--mysql`: a MySQL/MariaDB database tenant (`TEST_MYSQL_URL`) of N rows
//! (100,000 by default) moved to another database of its server, by copy
//! under a write hold: the hold lasts the copy, so the report gives the
//! hold and its cost per 10,000 rows; bars: none fails, none is lost.

#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use e2e_tests::bench::bar::Bars;
use e2e_tests::bench::cleanup::{Runtime, main as main_until_interrupted};
use e2e_tests::bench::cli::Quick;
use e2e_tests::bench::exit::Exit;
use e2e_tests::bench::pace::{Pace, Schedule, load_fraction};
use e2e_tests::bench::percentile::{ms, percentile_of};
use sea_orm_tenant::sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use sea_orm_tenant::{Catalog, PoolOptions, TenantConnections};
use sea_orm_tenant_migration::sea_orm_migration::MigratorTrait;
use sea_orm_tenant_migration::{CatalogMigrator, MoveOptions, Placement, Provisioner};

/// An online move under load.
#[derive(Debug, Parser)]
struct Args {
    /// Rows in the tenant [default: 1000000; --quick: 20000].
    #[arg(long)]
    rows: Option<i64>,
    /// Tasks inserting through the store.
    #[arg(long, default_value_t = 4)]
    writers: usize,
    /// Tasks reading through the store.
    #[arg(long, default_value_t = 2)]
    readers: usize,
    /// Tasks calling another tenant of the same server (half write, half read).
    #[arg(long, default_value_t = 10)]
    others: usize,
    /// Offered load after the warm-up, as a fraction of the calls per second
    /// the clients got through in it, going as fast as they could; 1 keeps
    /// them going as fast as they can (every core busy: the copy's work on
    /// this machine's cores then comes out of the others' share).
    #[arg(long, default_value_t = 0.6, value_parser = load_fraction)]
    load: f64,
    /// Move a MySQL/MariaDB database tenant (copied under a write hold) instead.
    #[arg(long)]
    mysql: bool,
    #[command(flatten)]
    quick: Quick,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    main_until_interrupted("bench-move", Runtime::MultiThread, bench(&args))
}

fn database_url(server: &str, database: &str) -> String {
    let mut url = url::Url::parse(server).expect("a server URL");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

/// Each call's wait, and the acknowledged writes.
#[derive(Default)]
struct Calls {
    waits: Vec<(Instant, Duration)>,
    acked: Vec<String>,
    errors: Vec<String>,
}

/// `writers` then `readers` tasks calling `tenant` until stopped.
fn load(
    store: &TenantConnections,
    tenant: &'static str,
    (writers, readers): (usize, usize),
    pace: &Arc<Paced>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Calls>> {
    let mut tasks = Vec::new();
    for worker in 0..writers + readers {
        let (store, stop, paced) = (store.clone(), stop.clone(), pace.clone());
        let writer = worker < writers;
        tasks.push(tokio::spawn(async move {
            let db = store.db();
            let mut calls = Calls::default();
            let mut schedule = Schedule::default();
            let mut n = 0u64;
            while !stop.load(Ordering::Acquire) {
                schedule.wait(&paced.pace).await;
                paced.calls.fetch_add(1, Ordering::Relaxed);
                n += 1;
                let body = format!("w{worker}-{n}");
                let sql = if writer {
                    format!("INSERT INTO notes (body) VALUES ('{body}')")
                } else {
                    format!("SELECT body FROM notes WHERE id = {}", n * 7919 % 1000 + 1)
                };
                let started = Instant::now();
                let result = store.with_tenant(tenant, db.execute_unprepared(&sql)).await;
                calls.waits.push((started, started.elapsed()));
                match result {
                    Ok(Ok(_)) if writer => calls.acked.push(body),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => calls.errors.push(e.to_string()),
                    Err(e) => calls.errors.push(e.to_string()),
                }
            }
            calls
        }));
    }
    tasks
}

/// A group of clients' pace, and their calls so far.
#[derive(Default)]
struct Paced {
    pace: Pace,
    calls: AtomicU64,
}

/// Where the two tenants are made, where `acme` moves, and how its
/// `notes` are read back.
struct Layout {
    placement: Placement,
    target_url: String,
    /// `notes` as the target's URL reaches it.
    notes: &'static str,
    backend: DbBackend,
}

async fn bench(args: &Args) -> Result<Exit, String> {
    if args.mysql {
        return bench_mysql(args).await;
    }
    let rows = args.quick.or(args.rows, 1_000_000, 20_000);
    let (Ok(first), Ok(second)) = (
        std::env::var("TEST_POSTGRES_URL"),
        std::env::var("TEST_POSTGRES_URL_2"),
    ) else {
        eprintln!("TEST_POSTGRES_URL and TEST_POSTGRES_URL_2 are needed: nothing to measure");
        return Ok(Exit::Ok);
    };
    let name = format!("bmv_{}", std::process::id());
    let admin = |server: &str| {
        let server = server.to_owned();
        async move { Database::connect(&server).await.map_err(|e| e.to_string()) }
    };
    let (admin1, admin2) = (admin(&first).await?, admin(&second).await?);
    for a in [&admin1, &admin2] {
        a.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .map_err(|e| e.to_string())?;
    }
    let (source_url, target_url) = (database_url(&first, &name), database_url(&second, &name));
    let layout = Layout {
        placement: Placement::Schema {
            url: source_url.clone(),
            prefix: "t_".into(),
        },
        target_url,
        notes: "t_acme.notes",
        backend: DbBackend::Postgres,
    };
    let result = run(args, rows, &layout).await;
    for a in [&admin1, &admin2] {
        let _ = a
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    }
    result
}

/// `--mysql`: database tenants `<name>_acme` and `<name>_other` on the
/// server of `TEST_MYSQL_URL`; `acme` moves to `<name>_acme_new`.
async fn bench_mysql(args: &Args) -> Result<Exit, String> {
    let rows = args.quick.or(args.rows, 100_000, 5_000);
    let Ok(server) = std::env::var("TEST_MYSQL_URL") else {
        eprintln!("TEST_MYSQL_URL is needed: nothing to measure");
        return Ok(Exit::Ok);
    };
    let name = format!("bmv_{}", std::process::id());
    // Built by hand: the URL type would percent-encode `{tenant}`.
    let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
    let layout = Layout {
        placement: Placement::Url(format!("{base}/{name}_{{tenant}}")),
        target_url: format!("{base}/{name}_acme_new"),
        notes: "notes",
        backend: DbBackend::MySql,
    };
    let result = run(args, rows, &layout).await;
    let admin = Database::connect(&server)
        .await
        .map_err(|e| e.to_string())?;
    for database in ["acme", "other", "acme_new"] {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS `{name}_{database}`"))
            .await;
    }
    admin.close().await.ok();
    result
}

/// SQL inserting `rows` seed notes into `notes`.
fn seed_sql(backend: DbBackend, notes: &str, rows: i64) -> String {
    match backend {
        // MariaDB stops a recursive query after max_recursive_iterations.
        DbBackend::MySql => format!(
            "SET SESSION max_recursive_iterations = {rows}; \
             INSERT INTO {notes} (body) WITH RECURSIVE g(n) AS \
             (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows}) \
             SELECT CONCAT('seed-', n) FROM g"
        ),
        _ => format!(
            "INSERT INTO {notes} (body) SELECT 'seed-' || g FROM generate_series(1, {rows}) g"
        ),
    }
}

async fn run(args: &Args, rows: i64, layout: &Layout) -> Result<Exit, String> {
    let target_url = layout.target_url.as_str();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = TenantConnections::builder()
        .defaults(PoolOptions {
            max_connections: Some(8),
            ..PoolOptions::default()
        })
        .shared(format!(
            "sqlite://{}/catalog.db?mode=rwc",
            dir.path().display()
        ))
        .build()
        .map_err(|e| e.to_string())?;
    CatalogMigrator::up(&store.shared().await.map_err(|e| e.to_string())?, None)
        .await
        .map_err(|e| e.to_string())?;
    let catalog = Catalog::open(&store).await.map_err(|e| e.to_string())?;
    let provisioner =
        Provisioner::new::<migration::Migrator>(store.clone()).catalog(catalog.clone());
    for tenant in ["acme", "other"] {
        provisioner
            .create(tenant, &layout.placement)
            .await
            .map_err(|e| e.to_string())?;
    }
    let seeded = Instant::now();
    let direct = store.session("acme").await.map_err(|e| e.to_string())?;
    let seed = direct
        .execute_unprepared(&seed_sql(layout.backend, layout.notes, rows))
        .await;
    direct.close().await;
    seed.map_err(|e| e.to_string())?;
    println!(
        "{rows} rows seeded in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let (acme_pace, others_pace) = (Arc::new(Paced::default()), Arc::new(Paced::default()));
    let tasks = load(
        &store,
        "acme",
        (args.writers, args.readers),
        &acme_pace,
        &stop,
    );
    let others = load(
        &store,
        "other",
        (args.others / 2, args.others - args.others / 2),
        &others_pace,
        &stop,
    );
    // A warm-up at full speed (pools opening, caches filling; left out),
    // whose last second measures what the clients get through; then the
    // offered load, and the baseline: the same calls for two seconds
    // before the move.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counted = [&acme_pace, &others_pace].map(|p| p.calls.load(Ordering::Relaxed));
    tokio::time::sleep(Duration::from_secs(1)).await;
    if args.load < 1.0 {
        for ((paced, workers), before) in [
            (&acme_pace, args.writers + args.readers),
            (&others_pace, args.others),
        ]
        .into_iter()
        .zip(counted)
        {
            let full_speed = (paced.calls.load(Ordering::Relaxed) - before) as f64;
            paced.pace.offer(full_speed * args.load, workers);
        }
    }
    let baseline_end = Instant::now() + Duration::from_secs(2);
    tokio::time::sleep_until(baseline_end.into()).await;
    let moved = provisioner
        .move_tenant(
            "acme",
            target_url,
            &MoveOptions::default().grace(Duration::from_millis(500)),
        )
        .await;
    let move_end = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Release);
    let mut calls = Calls::default();
    for task in tasks {
        let c = task.await.map_err(|e| e.to_string())?;
        calls.waits.extend(c.waits);
        calls.acked.extend(c.acked);
        calls.errors.extend(c.errors);
    }
    let mut other = Calls::default();
    for task in others {
        let c = task.await.map_err(|e| e.to_string())?;
        other.waits.extend(c.waits);
        other.errors.extend(c.errors);
    }
    let moved = moved.map_err(|e| format!("the move failed: {e}"))?;
    let start = baseline_end - Duration::from_secs(2);
    let per_second = |calls: &Calls, from: Instant, to: Instant| {
        let n = calls
            .waits
            .iter()
            .filter(|(at, d)| *at >= from && *at + *d <= to)
            .count();
        n as f64 / (to - from).as_secs_f64()
    };
    let other_before = per_second(&other, start, baseline_end);
    let other_during = per_second(&other, baseline_end, move_end);

    let target = Database::connect(target_url)
        .await
        .map_err(|e| e.to_string())?;
    let on_target: Vec<String> = target
        .query_all_raw(Statement::from_string(
            layout.backend,
            format!(
                "SELECT body FROM {} WHERE body NOT LIKE 'seed-%'",
                layout.notes
            ),
        ))
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .filter_map(|r| r.try_get::<String>("", "body").ok())
        .collect();
    let seeds: i64 = target
        .query_one_raw(Statement::from_string(
            layout.backend,
            format!(
                "SELECT count(*) AS n FROM {} WHERE body LIKE 'seed-%'",
                layout.notes
            ),
        ))
        .await
        .map_err(|e| e.to_string())?
        .and_then(|r| r.try_get("", "n").ok())
        .unwrap_or(0);
    target.close().await.ok();
    let on_target: std::collections::HashSet<String> = on_target.into_iter().collect();
    let lost = calls
        .acked
        .iter()
        .filter(|b| !on_target.contains(*b))
        .count();

    let mut bars = Bars::new(args.quick.bars_enforced());
    let baseline: Vec<Duration> = calls
        .waits
        .iter()
        .filter(|(at, _)| *at >= start && *at < baseline_end)
        .map(|(_, d)| *d)
        .collect();
    let during: Vec<Duration> = calls
        .waits
        .iter()
        .filter(|(at, _)| *at >= baseline_end && *at <= move_end)
        .map(|(_, d)| *d)
        .collect();
    let max = |v: &[Duration]| ms(v.iter().copied().max().unwrap_or_default());
    let p99 = |v: &[Duration]| ms(percentile_of(v.to_vec(), 0.99));
    println!(
        "\nmoved {} rows in {} table(s) from {} to {}",
        moved.rows, moved.tables, moved.from, moved.to
    );
    println!(
        "copy {:.2} s; tenant held {} ms; seeds on the target {seeds} of {rows}",
        moved.copy_millis as f64 / 1000.0,
        moved.held_millis
    );
    println!(
        "calls: {} before the move (p99 {:.1} ms, longest {:.1} ms), {} during it (p99 {:.1} ms, longest {:.1} ms; p99 ratio during/before {:.2})",
        baseline.len(),
        p99(&baseline),
        max(&baseline),
        during.len(),
        p99(&during),
        max(&during),
        p99(&during) / p99(&baseline).max(0.001)
    );
    println!(
        "writes acknowledged {}, lost {lost}; calls failed {}",
        calls.acked.len(),
        calls.errors.len()
    );
    for e in calls.errors.iter().take(3) {
        println!("  error: {e}");
    }
    let ratio = other_during / other_before.max(0.001);
    let other_p99 = |from: Instant, to: Instant| {
        let waits: Vec<Duration> = other
            .waits
            .iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .map(|(_, d)| *d)
            .collect();
        p99(&waits)
    };
    println!(
        "offered load: {} of what the clients got through at full speed in the warm-up (--load; 1 for full speed); \
         another tenant's p99 {:.1} ms before, {:.1} ms during the move",
        args.load,
        other_p99(start, baseline_end),
        other_p99(baseline_end, move_end)
    );
    if layout.backend == DbBackend::MySql {
        // Under a write hold the longest call is the hold: reported, no bar.
        println!(
            "longest call during the move {:.0} ms; hold per 10,000 rows {:.0} ms",
            max(&during),
            moved.held_millis as f64 * 10_000.0 / moved.rows.max(1) as f64
        );
        println!(
            "another tenant of the source server ({} clients): {other_before:.0} calls/s before, {other_during:.0} during the move, {} failed; ratio {ratio:.2}",
            args.others,
            other.errors.len(),
        );
    } else {
        println!(
            "longest call during the move {:.0} ms (bar: <= 2000 ms: {})",
            max(&during),
            bars.at_most("longest call during the move, ms", max(&during), 2000.0)
        );
        println!(
            "another tenant of the source server ({} clients): {other_before:.0} calls/s before, {other_during:.0} during the move, {} failed; ratio {ratio:.2} (bar: >= 0.90: {})",
            args.others,
            other.errors.len(),
            bars.at_least(
                "another tenant's throughput during the move / before",
                ratio,
                0.90
            )
        );
    }
    bars.print();
    let correct = lost == 0
        && calls.errors.is_empty()
        && other.errors.is_empty()
        && seeds == rows
        && moved.warnings.is_empty();
    store.close().await;
    provisioner.close().await;
    Ok(Exit::failed_unless(correct).worst(bars.exit()))
}
