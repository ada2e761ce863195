//! `just bench-http`: GET /notes load on notes-server over 2 tenants, then on
//! the same server with tenancy bypassed (`--single-db`: one database, no
//! middleware, same handlers), in interleaved rounds. Prints requests/s, p50
//! and p99 for both and their ratio; bar: the median ratio at least 0.95.
//! Loopback only, bounded by a request count and a time limit, with the
//! harness's load generator ([`e2e_tests::bench::load`], the two tenants in
//! turn on each connection). Exit codes: [`e2e_tests::bench::exit`] (1 when a
//! request was not answered 200, 3 when the bar is missed).

#![forbid(unsafe_code)]

use std::fmt;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use e2e_tests::bench::bar::Bars;
use e2e_tests::bench::cleanup::{Runtime, main as main_until_interrupted};
use e2e_tests::bench::cli::Quick;
use e2e_tests::bench::exit::Exit;
use e2e_tests::bench::load::{LoadResult, LoadSpec, Pick, run_in_background};
use e2e_tests::bench::percentile::ms;
use e2e_tests::bench::rounds::{interleaved, median_of, of};
use e2e_tests::{NotesServer, TenantsToml};

/// Load benchmark of notes-server: tenant routing against no routing.
#[derive(Debug, Parser)]
struct Args {
    /// Requests measured per run [default: 20000; --quick: 2000].
    #[arg(long)]
    requests: Option<u64>,
    /// Requests sent before measuring, per run [default: 2000; --quick: 200].
    #[arg(long)]
    warmup: Option<u64>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Each run stops after this many seconds even if `--requests` is not reached.
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
    /// Runs per mode, alternating (tenant, single-db, tenant, ...) [default: 2; --quick: 1].
    #[arg(long)]
    rounds: Option<usize>,
    /// Notes stored per tenant (each GET returns all of them).
    #[arg(long, default_value_t = 20)]
    notes: usize,
    /// Database connections in all: split over the 2 tenant pools when routed,
    /// all in the one pool of the baseline (each SQLite connection is a thread).
    #[arg(long, default_value_t = 4)]
    connections: u32,
    #[command(flatten)]
    quick: Quick,
}

const TENANTS: [&str; 2] = ["bench1", "bench2"];
/// The bar: tenant routing keeps at least this fraction of the requests/s.
const BAR: f64 = 0.95;

/// The two servers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Tenant,
    Single,
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tenant => "tenant routing",
            Self::Single => "single db (bypassed)",
        })
    }
}

/// Starts the server on `config` (with `extra` flags), warms it up, measures, stops it.
async fn measure(
    args: &Args,
    (warmup, requests): (u64, u64),
    config: &Path,
    extra: &[&str],
) -> Result<LoadResult, String> {
    let server = NotesServer::start_with_env(config, extra, &[("RUST_LOG", "warn")]).await;
    let paths: Vec<String> = TENANTS
        .iter()
        .map(|t| format!("/notes?tenant={t}"))
        .collect();
    let spec = |requests| {
        LoadSpec::get_any(server.addr(), paths.clone(), Pick::Cycle)
            .connections(args.concurrency)
            .duration(Duration::from_secs(args.max_seconds))
            .max_requests(requests)
    };
    let warm = run_in_background(spec(warmup)).await?;
    let run = run_in_background(spec(requests)).await?;
    server.terminate().await;
    Ok(LoadResult {
        non_200: run.non_200 + warm.non_200,
        failed: run.failed + warm.failed,
        first_error: warm.first_error.or(run.first_error),
        ..run
    })
}

async fn bench(args: &Args) -> Result<Exit, String> {
    let requests = args.quick.or(args.requests, 20_000, 2_000);
    let warmup = args.quick.or(args.warmup, 2_000, 200);
    let rounds = args.quick.or(args.rounds, 2, 1).max(1);
    let dir = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    let per_tenant = (args.connections / TENANTS.len() as u32).max(1);
    let config_with = |connections: u32, folder: &Path| {
        let mut toml =
            TenantsToml::new().default_option("max_connections", &connections.to_string());
        for t in TENANTS {
            toml = toml.tenant(
                t,
                &format!("sqlite://{}/{t}.db?mode=rwc", dir.path().display()),
            );
        }
        toml.write_to(folder)
    };
    let config = config_with(per_tenant, dir.path());
    let single_dir = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    let single_config = config_with(args.connections, single_dir.path());

    eprintln!(
        "building notes-server and seeding {} notes per tenant...",
        args.notes
    );
    let seed = NotesServer::start_with_env(&config, &[], &[("RUST_LOG", "warn")]).await;
    for t in TENANTS {
        for n in 0..args.notes {
            let answer = seed
                .post_note(t, &format!("{t} note {n}"))
                .await
                .map_err(|e| format!("seed: {e}"))?;
            if answer.status != 201 {
                return Err(format!("seed: POST /notes answered {}", answer.status));
            }
        }
    }
    seed.terminate().await;

    let sizes = (warmup, requests);
    let runs = interleaved(
        rounds,
        &[Variant::Tenant, Variant::Single],
        async |_, variant| match variant {
            Variant::Tenant => measure(args, sizes, &config, &[]).await,
            Variant::Single => {
                measure(args, sizes, &single_config, &["--single-db", TENANTS[0]]).await
            }
        },
    )
    .await?;

    println!(
        "GET /notes ({} notes per answer) over {} tenants; {requests} requests per run after {warmup} warm-up; \
         concurrency {}; {per_tenant} connections per tenant routed, {} in the baseline",
        args.notes,
        TENANTS.len(),
        args.concurrency,
        args.connections
    );
    println!(
        "{:<26} {:>12} {:>10} {:>10} {:>8}",
        "run", "requests/s", "p50", "p99", "errors"
    );
    for m in &runs {
        println!(
            "{:<26} {:>12.0} {:>10.2?} {:>10.2?} {:>8}",
            format!("{} #{}", m.variant, m.round),
            m.result.requests_per_sec(),
            m.result.percentile(0.50),
            m.result.percentile(0.99),
            m.result.errors()
        );
    }
    // Medians over the rounds: on a shared machine one disturbed round
    // would move a mean by more than the difference being measured.
    let (tenant_runs, single_runs) = (of(&runs, Variant::Tenant), of(&runs, Variant::Single));
    let rps = |runs: &[&LoadResult]| median_of(runs, LoadResult::requests_per_sec);
    let p99 = |runs: &[&LoadResult]| median_of(runs, |r| ms(r.percentile(0.99)));
    let (tenant, single) = (rps(&tenant_runs), rps(&single_runs));
    println!(
        "median: tenant routing {tenant:.0} req/s (p99 {:.2} ms), single db {single:.0} req/s (p99 {:.2} ms)",
        p99(&tenant_runs),
        p99(&single_runs)
    );
    let mut bars = Bars::new(args.quick.bars_enforced());
    let ratio = tenant / single;
    println!(
        "ratio tenant/single requests/s: {ratio:.3} (target >= {BAR}: {})",
        bars.at_least("ratio tenant/single requests/s", ratio, BAR)
    );
    bars.print();
    let errors: u64 = runs.iter().map(|m| m.result.errors()).sum();
    if let Some(e) = runs.iter().find_map(|m| m.result.first_error.as_ref()) {
        println!("{errors} requests not answered 200; first: {e}");
    }
    Ok(Exit::failed_unless(errors == 0).worst(bars.exit()))
}

fn main() -> ExitCode {
    let args = Args::parse();
    // On a signal the bench future is dropped, and the server it started killed.
    main_until_interrupted("bench-http", Runtime::MultiThread, bench(&args))
}
