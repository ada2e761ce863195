//! `just bench-scale`: GET /notes load on notes-server over many PostgreSQL
//! databases (150 by default) under a per-server connection budget (60 by
//! default), a random tenant per request, against the same server with one hot
//! tenant (every request to one tenant), in interleaved rounds. Prints
//! requests/s, p50, p99, errors and the peak of the server's sessions on those
//! databases (sampled every 50 ms) for each run, and the ratio random/hot.
//! Creates its databases with a unique prefix and drops them at the end (also
//! after Ctrl-C or a panic); stops the server it started. `--quick` is a short
//! smoke run.

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use clap::Parser;
use e2e_tests::NotesServer;
use e2e_tests::load::{Mode, Run, measure};
use e2e_tests::scale::{ServerDatabases, ServerKind, tenant_names};
use futures_util::stream::{self, StreamExt};

/// Load benchmark of notes-server over many PostgreSQL databases within a
/// connection budget: random tenants against one hot tenant.
#[derive(Debug, Parser)]
struct Args {
    /// Tenant databases to create [default: 150; --quick: 20].
    #[arg(long)]
    tenants: Option<usize>,
    /// `[servers."host:port"] max_connections`: the connection budget to the server.
    #[arg(long, default_value_t = 60)]
    budget: u32,
    /// `[store] max_open_pools`, if given (the pool-count bound that exists
    /// apart from the server budget).
    #[arg(long)]
    max_open_pools: Option<usize>,
    /// Pool size per tenant (`[defaults] max_connections`).
    #[arg(long, default_value_t = 2)]
    pool_size: u32,
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
    #[arg(long, default_value_t = 0x5CA1E)]
    seed: u64,
    /// A short smoke run: 20 tenants, 1 round of 2 s runs.
    #[arg(long)]
    quick: bool,
    /// The PostgreSQL admin URL (databases are created from it).
    #[arg(
        long,
        env = "TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
}

/// The settings in force, `--quick` applied.
struct Plan {
    tenants: usize,
    seconds: Duration,
    warmup: Duration,
    rounds: usize,
}

impl Args {
    fn plan(&self) -> Plan {
        let (tenants, seconds, warmup, rounds) = if self.quick {
            (20, 2.0, 0.5, 1)
        } else {
            (150, 10.0, 2.0, 2)
        };
        Plan {
            tenants: self.tenants.unwrap_or(tenants).max(1),
            seconds: Duration::from_secs_f64(self.seconds.unwrap_or(seconds)),
            warmup: Duration::from_secs_f64(self.warmup_seconds.unwrap_or(warmup)),
            rounds: self.rounds.unwrap_or(rounds).max(1),
        }
    }
}

/// Creates the databases, starts the server, seeds and measures; prints the table.
async fn scenario(args: &Args, plan: &Plan, dbs: &mut ServerDatabases) {
    let names = tenant_names(plan.tenants);
    let setup = Instant::now();
    eprintln!("creating {} databases {}_* ...", plan.tenants, dbs.prefix());
    dbs.create(&names, 4).await;
    eprintln!("created in {:.1?}", setup.elapsed());
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut toml = dbs
        .tenants_toml(&names, args.budget)
        .default_option("max_connections", &args.pool_size.to_string());
    if let Some(n) = args.max_open_pools {
        toml = toml.store_option("max_open_pools", &n.to_string());
    }
    let config = toml.write_to(dir.path());

    eprintln!("building notes-server if needed...");
    tokio::task::spawn_blocking(e2e_tests::notes_server_binary)
        .await
        .expect("build notes-server");
    eprintln!("starting notes-server (it migrates every tenant)...");
    // One sampler for the whole benchmark: its admin connection is opened while
    // the server still has room.
    let sampler = dbs
        .sampler(Duration::from_millis(50), None, Duration::from_secs(3600))
        .await;
    let started = Instant::now();
    let server = NotesServer::start_with_env(&config, &[], &[("RUST_LOG", "warn")]).await;
    let startup_time = started.elapsed();
    let startup_peak = sampler.take_peak();
    let health = server.get("/health").await;
    let out_of_service = health.json["out_of_service"].as_array().map_or(0, Vec::len);

    eprintln!("seeding {} notes per tenant...", args.notes);
    let seed_failures: usize = stream::iter(
        names
            .iter()
            .flat_map(|t| (0..args.notes).map(move |n| (t, n))),
    )
    .map(|(t, n)| {
        let server = &server;
        async move {
            match server.post_note(t, &format!("{t}:{n}")).await {
                Ok(answer) if answer.status == 201 => 0,
                _ => 1,
            }
        }
    })
    .buffer_unordered(args.concurrency.clamp(1, 16))
    .collect::<Vec<usize>>()
    .await
    .into_iter()
    .sum();

    let urls: Vec<String> = names
        .iter()
        .map(|t| server.url(&format!("/notes?tenant={t}&limit=1000")))
        .collect();
    let mut random_runs = Vec::new();
    let mut hot_runs = Vec::new();
    for round in 1..=plan.rounds {
        let seed = args.seed.wrapping_add(round as u64);
        eprintln!(
            "round {round}/{}: random tenant per request...",
            plan.rounds
        );
        let times = (plan.warmup, plan.seconds);
        random_runs.push(
            measure(
                &server,
                &sampler,
                &urls,
                Mode::Random,
                args.concurrency,
                times,
                seed,
            )
            .await,
        );
        eprintln!(
            "round {round}/{}: one hot tenant ({})...",
            plan.rounds, names[0]
        );
        hot_runs.push(
            measure(
                &server,
                &sampler,
                &urls,
                Mode::Hot,
                args.concurrency,
                times,
                seed,
            )
            .await,
        );
    }
    let stopped = server.terminate().await;
    let sessions = sampler.stop().await;
    let server_errors = stopped.lines().filter(|l| l.contains("ERROR")).count();

    println!(
        "GET /notes ({} notes per answer) on notes-server over {} PostgreSQL databases; budget {} connections to {} \
         (pool size {}, max_open_pools {}); concurrency {}; {:.1?} per run after {:.1?} warm-up; seed {}",
        args.notes,
        plan.tenants,
        args.budget,
        dbs.server_key(),
        args.pool_size,
        args.max_open_pools
            .map_or_else(|| "unset".to_owned(), |n| n.to_string()),
        args.concurrency,
        plan.seconds,
        plan.warmup,
        args.seed
    );
    println!(
        "start-up (migrations included): {startup_time:.1?}, peak server sessions {} (budget {}), {} tenants out of \
         service, {} of {} seed notes failed",
        startup_peak,
        args.budget,
        out_of_service,
        seed_failures,
        plan.tenants * args.notes
    );
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
    for run in random_runs.iter().chain(&hot_runs) {
        if let Some(e) = &run.load.first_error {
            println!("first error: {e}");
            break;
        }
    }
    println!("server sessions sampling: {}", sessions.summary());
    let mean = |runs: &[Run]| runs.iter().map(Run::rps).sum::<f64>() / runs.len() as f64;
    let peak = |runs: &[Run]| runs.iter().map(|r| r.peak).max().unwrap_or(0);
    let errors = |runs: &[Run]| runs.iter().map(|r| r.load.errors).sum::<usize>();
    let (random, hot) = (mean(&random_runs), mean(&hot_runs));
    println!(
        "mean: random tenant {random:.0} req/s ({} errors, peak {} sessions), one hot tenant {hot:.0} req/s \
         ({} errors, peak {} sessions)",
        errors(&random_runs),
        peak(&random_runs),
        errors(&hot_runs),
        peak(&hot_runs)
    );
    println!(
        "ratio random/hot requests/s: {:.3}; peak sessions overall {} (budget {}: {}); notes-server ERROR lines: {}",
        random / hot,
        peak(&random_runs).max(peak(&hot_runs)).max(startup_peak),
        args.budget,
        if peak(&random_runs).max(peak(&hot_runs)).max(startup_peak) <= i64::from(args.budget) {
            "kept"
        } else {
            "EXCEEDED"
        },
        server_errors
    );
}

fn main() {
    let args = Args::parse();
    let plan = args.plan();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut dbs = ServerDatabases::new(ServerKind::Postgres, &args.postgres_url);
        let finished = tokio::select! {
            () = scenario(&args, &plan, &mut dbs) => true,
            _ = tokio::signal::ctrl_c() => false,
        };
        // The scenario (and the server it started, killed on drop) is gone here.
        if !finished {
            eprintln!("interrupted: dropping the databases");
        }
        let cleanup = Instant::now();
        dbs.drop_all().await;
        eprintln!("dropped the databases in {:.1?}", cleanup.elapsed());
        if !finished {
            std::process::exit(130);
        }
    });
}
