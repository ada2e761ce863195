//! `just bench-scale`: GET /notes load on notes-server over many PostgreSQL
//! databases (150 by default; `--server mysql` for MariaDB/MySQL) under a
//! per-server connection budget (60 by default), a random tenant per request
//! (uniform, and Zipf with s = 1.1 over a seeded rank order of the tenants),
//! against the same server with one hot tenant (every request to one tenant),
//! in interleaved rounds. Prints requests/s, p50, p99, errors and the peak of
//! the server's sessions on those databases (sampled every 50 ms) for each
//! run, the store's counters over it from notes-server's `/metrics` (pools
//! opened, evicted and grown, waits for the budget), and the ratios
//! uniform/hot and zipf/hot (`--traffic` runs one only). With a pool per
//! database it first measures the server's rate of new connections and
//! prints the ceiling that puts on each random traffic
//! ([`e2e_tests::scale::Ceiling`]).
//! Creates its databases with a unique prefix and drops them at the end (also
//! after Ctrl-C or a panic); stops the server it started. `--quick` is a short
//! smoke run. The scenario and its flags: [`e2e_tests::random_hot`]. Bar: the
//! peak of sessions within the budget. Exit codes: [`e2e_tests::bench::exit`]
//! (1 when a request was not answered 200, 3 when the bar is missed).

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use e2e_tests::bench::bar::Bars;
use e2e_tests::bench::cleanup::{Runtime, main as main_until_interrupted};
use e2e_tests::bench::exit::Exit;
use e2e_tests::bench::rounds::Measured;
use e2e_tests::random_hot::{
    Figures, Plan, RandomHotArgs, Run, Tenancy, measure_variants, print_runs,
};
use e2e_tests::scale::{
    Ceiling, ServerDatabases, ServerKind, ZIPF_EXPONENT, Zipf, tenant_names, tenants_open_at_most,
};
use e2e_tests::{NotesServer, TenantsToml};
use futures_util::stream::{self, StreamExt};

/// Load benchmark of notes-server over many PostgreSQL (or MariaDB)
/// databases within a connection budget: random tenants (uniform and Zipf)
/// against one hot tenant.
#[derive(Debug, Parser)]
struct Args {
    /// The server holding the tenant databases.
    #[arg(long, value_enum, default_value_t = Server::Postgres)]
    server: Server,
    /// The MariaDB/MySQL admin URL, for `--server mysql`.
    #[arg(
        long,
        env = "TEST_MYSQL_URL",
        default_value = "mysql://root@127.0.0.1:3306/mysql"
    )]
    mysql_url: String,
    /// `--server mysql`: serve every tenant database from one shared pool
    /// (`tenants_are = "databases"`) instead of a pool per database.
    #[arg(long)]
    mysql_shared: bool,
    /// Which random-tenant traffic to run against the hot tenant: both (in
    /// the same rounds, so both ratios share the hot-tenant runs), or one.
    #[arg(long, value_enum, default_value_t = Traffic::Both)]
    traffic: Traffic,
    /// Tenant databases to create [default: 150; --quick: 20].
    #[arg(long)]
    tenants: Option<usize>,
    /// `[store] max_open_pools`, if given (the pool-count bound that exists
    /// apart from the server budget).
    #[arg(long)]
    max_open_pools: Option<usize>,
    /// Pool size per tenant (`[defaults] max_connections`) [default: unset,
    /// so each pool opens with its fair share of the budget and grows under
    /// load while the budget has room].
    #[arg(long)]
    pool_size: Option<u32>,
    /// Seed of the random tenant choice.
    #[arg(long, default_value_t = 0x5CA1E)]
    seed: u64,
    #[command(flatten)]
    common: RandomHotArgs,
}

/// `--server`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Server {
    /// PostgreSQL (`--postgres-url`).
    Postgres,
    /// MariaDB or MySQL (`--mysql-url`).
    Mysql,
}

/// `--traffic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Traffic {
    /// Uniform and Zipf, each against the same hot-tenant runs.
    Both,
    /// Every tenant equally likely.
    Uniform,
    /// Zipf, s = 1.1, over a seeded rank order of the tenants.
    Zipf,
}

impl Traffic {
    /// The runs of each round, in order.
    fn variants(self) -> &'static [Tenancy] {
        match self {
            Self::Both => &[Tenancy::Random, Tenancy::Zipf, Tenancy::Hot],
            Self::Uniform => &[Tenancy::Random, Tenancy::Hot],
            Self::Zipf => &[Tenancy::Zipf, Tenancy::Hot],
        }
    }
}

/// How notes-server's pools map onto the tenant databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// One pool per tenant database (`[tenants.NAME] url = ...`): what
    /// PostgreSQL needs, a connection belonging to one database.
    PoolPerDatabase,
    /// MySQL: every tenant database of the server served from one pool
    /// (`--mysql-shared`).
    SharedMySqlPool,
}

impl Args {
    /// The kind of server and its admin URL.
    fn server(&self) -> (ServerKind, &str) {
        match self.server {
            Server::Postgres => (ServerKind::Postgres, &self.common.postgres_url),
            Server::Mysql => (ServerKind::MySql, &self.mysql_url),
        }
    }

    /// The layout asked for; an error for `--mysql-shared` without
    /// `--server mysql`.
    fn layout(&self) -> Result<Layout, String> {
        match (self.mysql_shared, self.server) {
            (false, _) => Ok(Layout::PoolPerDatabase),
            (true, Server::Mysql) => Ok(Layout::SharedMySqlPool),
            (true, Server::Postgres) => Err("--mysql-shared needs --server mysql".to_owned()),
        }
    }
}

/// The `tenants.toml` serving `names` (databases of `dbs`) in `layout`
/// within `budget`, before the pool size and `max_open_pools` are added.
/// The shared pool's size is the budget (`--pool-size` is per database); its
/// sessions are counted once `USE` put them on one of `dbs`' databases.
fn tenants_config(
    layout: Layout,
    dbs: &ServerDatabases,
    names: &[String],
    budget: u32,
) -> Result<TenantsToml, String> {
    match layout {
        Layout::PoolPerDatabase => Ok(dbs.tenants_toml(names, budget)),
        Layout::SharedMySqlPool => Ok(dbs.shared_server_toml(names, budget)),
    }
}

/// The name of `kind`'s server, as printed.
fn server_name(kind: ServerKind) -> &'static str {
    match kind {
        ServerKind::Postgres => "PostgreSQL",
        ServerKind::MySql => "MariaDB/MySQL",
    }
}

/// Creates the databases, starts the server, seeds and measures; prints the table.
async fn scenario(args: &Args, plan: Plan, dbs: &mut ServerDatabases) -> Result<Exit, String> {
    let common = &args.common;
    let tenants = common.quick.or(args.tenants, 150, 20).max(1);
    let names = tenant_names(tenants);
    let mut toml = tenants_config(args.layout()?, dbs, &names, common.budget)?;
    toml = match args.pool_size {
        Some(n) => toml.default_option("max_connections", &n.to_string()),
        None => toml.without_default_option("max_connections"),
    };
    if let Some(n) = args.max_open_pools {
        toml = toml.store_option("max_open_pools", &n.to_string());
    }
    let setup = Instant::now();
    eprintln!("creating {tenants} databases {}_* ...", dbs.prefix());
    dbs.create(&names, 4).await;
    eprintln!("created in {:.1?}", setup.elapsed());
    // Before the server starts, so the measure has the server to itself.
    let accepted = match args.layout()? {
        Layout::PoolPerDatabase => {
            let total = common.quick.or(None, 400, 100);
            Some(
                dbs.accepted_per_second(&names[0], total, ACCEPT_CONCURRENCY)
                    .await?,
            )
        }
        Layout::SharedMySqlPool => None,
    };
    let dir = tempfile::tempdir().expect("temporary folder");
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

    let variants = &[
        args.traffic.variants(),
        if args.common.hot_among_random {
            &[Tenancy::HotAmongRandom][..]
        } else {
            &[]
        },
    ]
    .concat();
    let runs = measure_variants(
        &server,
        &sampler,
        &names,
        (common, plan),
        args.seed,
        variants,
    )
    .await?;
    let stopped = server.terminate().await;
    let sessions = sampler.stop().await;
    let server_errors = stopped.lines().filter(|l| l.contains("ERROR")).count();

    println!(
        "GET /notes ({} notes per answer) on notes-server over {tenants} {} databases; budget {} connections to {} \
         ({}, max_open_pools {}); concurrency {}; {:.1?} per run after {:.1?} warm-up; seed {}",
        common.notes,
        server_name(dbs.kind()),
        common.budget,
        dbs.server_key(),
        match args.layout()? {
            Layout::PoolPerDatabase => match args.pool_size {
                Some(n) => format!("a pool of {n} per database"),
                None => "a pool per database, its fair share of the budget, growing under load"
                    .to_owned(),
            },
            Layout::SharedMySqlPool => format!("one shared pool of {}", common.budget),
        },
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
    if variants.contains(&Tenancy::Zipf) {
        print_zipf(tenants, args.seed);
    }
    print_runs(&runs);
    println!("server sessions sampling: {}", sessions.summary());
    let figures = Figures::of(&runs);
    print_medians(&runs, &figures);
    if let Some(accepted) = accepted {
        let open = tenants_open_at_most(common.budget, args.pool_size, args.max_open_pools);
        print_ceilings(&runs, &figures, accepted, open, tenants, args.seed);
    }
    let mut bars = Bars::new(common.quick.bars_enforced());
    let peak = figures.peak().max(startup_peak);
    let kept = common.budget_bar(&mut bars, peak);
    println!(
        "peak sessions overall {peak} (budget {}: {}); notes-server ERROR lines: {}",
        common.budget, kept, server_errors
    );
    bars.print();
    Ok(Exit::failed_unless(figures.errors() == 0 && seed_failures == 0).worst(bars.exit()))
}

/// Prints the Zipf traffic's shape: the hottest tenants and the share of the
/// top 1, 10 and 10 %.
fn print_zipf(tenants: usize, seed: u64) {
    let zipf = Zipf::new(tenants, ZIPF_EXPONENT, seed);
    let names = tenant_names(tenants);
    let hottest: Vec<&str> = (1..=tenants.min(3))
        .map(|rank| names[zipf.tenant_of_rank(rank)].as_str())
        .collect();
    let tenth = tenants.div_ceil(10);
    println!(
        "zipf traffic: s = {}, ranks shuffled with seed {seed} (hottest {}); top 1 gets {:.1} %, top 10 {:.1} %, \
         top {tenth} (10 %) {:.1} %",
        zipf.exponent(),
        hottest.join(", "),
        100.0 * zipf.share_of_top(1),
        100.0 * zipf.share_of_top(10),
        100.0 * zipf.share_of_top(tenth)
    );
}

/// New connections opened `ACCEPT_CONCURRENCY` at a time to measure the
/// server's rate (as `pgbench -C -c 8`).
const ACCEPT_CONCURRENCY: usize = 8;

/// Prints, for each random traffic that ran, the least share of requests
/// that must open a connection with at most `open` tenants open at once, and
/// the requests/s the server's `accepted` connections/s allow at that share,
/// also as a ratio to the hot tenant's median.
fn print_ceilings(
    runs: &[Measured<Tenancy, Run>],
    figures: &Figures,
    accepted: f64,
    open: usize,
    tenants: usize,
    seed: u64,
) {
    let mut traffic = Vec::new();
    if ran(runs, Tenancy::Random) {
        traffic.push(("uniform", open.min(tenants) as f64 / tenants as f64));
    }
    if ran(runs, Tenancy::Zipf) {
        let zipf = Zipf::new(tenants, ZIPF_EXPONENT, seed);
        traffic.push(("zipf", zipf.share_of_top(open)));
    }
    println!(
        "connection ceiling: the server accepted {accepted:.0} new connections/s ({ACCEPT_CONCURRENCY} at a time, \
         before the runs); at most {open} of {tenants} tenants open at once"
    );
    for (name, share) in traffic {
        let ceiling = Ceiling::new(share, accepted);
        if ceiling.min_miss == 0.0 {
            println!(
                "  {name}: every tenant can stay open, so no request needs to open a connection"
            );
            continue;
        }
        println!(
            "  {name}: at least {:.1} % of requests open a connection, so at most {:.0} req/s ({:.3} of the hot \
             tenant's median), if the server did nothing but accept connections",
            100.0 * ceiling.min_miss,
            ceiling.requests_per_second,
            ceiling.requests_per_second / figures.hot
        );
    }
}

/// Whether runs of `tenancy` were measured.
fn ran(runs: &[Measured<Tenancy, Run>], tenancy: Tenancy) -> bool {
    runs.iter().any(|m| m.variant == tenancy)
}

/// Prints the medians of each kind of run and the ratios to the hot tenant's.
fn print_medians(runs: &[Measured<Tenancy, Run>], figures: &Figures) {
    let mut medians = Vec::new();
    let mut ratios = Vec::new();
    if ran(runs, Tenancy::Random) {
        medians.push(format!(
            "uniform random tenant {:.0} req/s ({} errors, peak {} sessions)",
            figures.random, figures.random_errors, figures.random_peak
        ));
        ratios.push(format!("uniform/hot {:.3}", figures.ratio()));
    }
    if let (Some(zipf), Some(ratio)) = (figures.zipf, figures.zipf_ratio()) {
        medians.push(format!(
            "zipf tenant {:.0} req/s ({} errors, peak {} sessions)",
            zipf.rps, zipf.errors, zipf.peak
        ));
        ratios.push(format!("zipf/hot {ratio:.3}"));
    }
    medians.push(format!(
        "one hot tenant {:.0} req/s ({} errors, peak {} sessions)",
        figures.hot, figures.hot_errors, figures.hot_peak
    ));
    println!("median: {}", medians.join(", "));
    println!("ratio requests/s: {}", ratios.join("; "));
}

/// Runs the scenario, then drops its databases (on a signal, their guard does).
async fn bench(args: &Args) -> Result<Exit, String> {
    let plan = args.common.plan()?;
    let (kind, admin_url) = args.server();
    let mut dbs = ServerDatabases::new(kind, admin_url);
    let exit = scenario(args, plan, &mut dbs).await;
    let cleanup = Instant::now();
    dbs.drop_all().await;
    eprintln!("dropped the databases in {:.1?}", cleanup.elapsed());
    exit
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Err(e) = args.layout() {
        eprintln!("bench-scale: {e}");
        return Exit::Usage.into();
    }
    main_until_interrupted("bench-scale", Runtime::MultiThread, bench(&args))
}
