//! `just bench-scale`: GET /notes load on notes-server over many PostgreSQL
//! databases (150 by default) under a per-server connection budget (60 by
//! default), a random tenant per request, against the same server with one hot
//! tenant (every request to one tenant), in interleaved rounds. Prints
//! requests/s, p50, p99, errors and the peak of the server's sessions on those
//! databases (sampled every 50 ms) for each run, and the ratio random/hot.
//! Creates its databases with a unique prefix and drops them at the end (also
//! after Ctrl-C or a panic); stops the server it started. `--quick` is a short
//! smoke run. The scenario and its flags: [`e2e_tests::random_hot`]. Bar: the
//! peak of sessions within the budget. Exit codes: [`e2e_tests::bench::exit`]
//! (1 when a request was not answered 200, 3 when the bar is missed).

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use clap::Parser;
use e2e_tests::NotesServer;
use e2e_tests::bench::bar::Bars;
use e2e_tests::bench::cleanup::{Runtime, main as main_until_interrupted};
use e2e_tests::bench::exit::Exit;
use e2e_tests::random_hot::{Figures, Plan, RandomHotArgs, measure, print_runs};
use e2e_tests::scale::{ServerDatabases, ServerKind, tenant_names};
use futures_util::stream::{self, StreamExt};

/// Load benchmark of notes-server over many PostgreSQL databases within a
/// connection budget: random tenants against one hot tenant.
#[derive(Debug, Parser)]
struct Args {
    /// Tenant databases to create [default: 150; --quick: 20].
    #[arg(long)]
    tenants: Option<usize>,
    /// `[store] max_open_pools`, if given (the pool-count bound that exists
    /// apart from the server budget).
    #[arg(long)]
    max_open_pools: Option<usize>,
    /// Pool size per tenant (`[defaults] max_connections`).
    #[arg(long, default_value_t = 2)]
    pool_size: u32,
    /// Seed of the random tenant choice.
    #[arg(long, default_value_t = 0x5CA1E)]
    seed: u64,
    #[command(flatten)]
    common: RandomHotArgs,
}

/// Creates the databases, starts the server, seeds and measures; prints the table.
async fn scenario(args: &Args, plan: Plan, dbs: &mut ServerDatabases) -> Result<Exit, String> {
    let common = &args.common;
    let tenants = common.quick.or(args.tenants, 150, 20).max(1);
    let names = tenant_names(tenants);
    let setup = Instant::now();
    eprintln!("creating {tenants} databases {}_* ...", dbs.prefix());
    dbs.create(&names, 4).await;
    eprintln!("created in {:.1?}", setup.elapsed());
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut toml = dbs
        .tenants_toml(&names, common.budget)
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

    eprintln!("seeding {} notes per tenant...", common.notes);
    let seed_failures: usize = stream::iter(
        names
            .iter()
            .flat_map(|t| (0..common.notes).map(move |n| (t, n))),
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
    .buffer_unordered(common.concurrency.clamp(1, 16))
    .collect::<Vec<usize>>()
    .await
    .into_iter()
    .sum();

    let runs = measure(&server, &sampler, &names, (common, plan), args.seed).await?;
    let stopped = server.terminate().await;
    let sessions = sampler.stop().await;
    let server_errors = stopped.lines().filter(|l| l.contains("ERROR")).count();

    println!(
        "GET /notes ({} notes per answer) on notes-server over {tenants} PostgreSQL databases; budget {} connections to {} \
         (pool size {}, max_open_pools {}); concurrency {}; {:.1?} per run after {:.1?} warm-up; seed {}",
        common.notes,
        common.budget,
        dbs.server_key(),
        args.pool_size,
        args.max_open_pools
            .map_or_else(|| "unset".to_owned(), |n| n.to_string()),
        common.concurrency,
        plan.seconds,
        plan.warmup,
        args.seed
    );
    println!(
        "start-up (migrations included): {startup_time:.1?}, peak server sessions {} (budget {}), {} tenants out of \
         service, {} of {} seed notes failed",
        startup_peak,
        common.budget,
        out_of_service,
        seed_failures,
        tenants * common.notes
    );
    print_runs(&runs);
    println!("server sessions sampling: {}", sessions.summary());
    let figures = Figures::of(&runs);
    println!(
        "median: random tenant {:.0} req/s ({} errors, peak {} sessions), one hot tenant {:.0} req/s \
         ({} errors, peak {} sessions)",
        figures.random,
        figures.random_errors,
        figures.random_peak,
        figures.hot,
        figures.hot_errors,
        figures.hot_peak
    );
    let mut bars = Bars::new(common.quick.bars_enforced());
    let peak = figures.peak().max(startup_peak);
    let kept = common.budget_bar(&mut bars, peak);
    println!(
        "ratio random/hot requests/s: {:.3}; peak sessions overall {peak} (budget {}: {}); notes-server ERROR lines: {}",
        figures.ratio(),
        common.budget,
        kept,
        server_errors
    );
    bars.print();
    Ok(Exit::failed_unless(figures.errors() == 0 && seed_failures == 0).worst(bars.exit()))
}

/// Runs the scenario, then drops its databases (on a signal, their guard does).
async fn bench(args: &Args) -> Result<Exit, String> {
    let plan = args.common.plan()?;
    let mut dbs = ServerDatabases::new(ServerKind::Postgres, &args.common.postgres_url);
    let exit = scenario(args, plan, &mut dbs).await;
    let cleanup = Instant::now();
    dbs.drop_all().await;
    eprintln!("dropped the databases in {:.1?}", cleanup.elapsed());
    exit
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    main_until_interrupted("bench-scale", Runtime::MultiThread, bench(&args))
}
