//! `just bench-http`: GET /notes load on notes-server over 2 tenants, then on
//! the same server with tenancy bypassed (`--single-db`: one database, no
//! middleware, same handlers), in one run. Prints requests/s, p50 and p99 for
//! both and their ratio (target: at least 0.95). Loopback only, bounded by a
//! request count and a time limit.

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use clap::Parser;
use e2e_tests::load::median;
use e2e_tests::{NotesServer, TenantsToml};
use futures_util::future::join_all;

/// Load benchmark of notes-server: tenant routing against no routing.
#[derive(Debug, Parser)]
struct Args {
    /// Requests measured per run.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Requests sent before measuring, per run.
    #[arg(long, default_value_t = 2_000)]
    warmup: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Each run stops after this many seconds even if `--requests` is not reached.
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
    /// Runs per mode, alternating (tenant, single-db, tenant, ...).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Notes stored per tenant (each GET returns all of them).
    #[arg(long, default_value_t = 20)]
    notes: usize,
    /// Database connections in all: split over the 2 tenant pools when routed,
    /// all in the one pool of the baseline (each SQLite connection is a thread).
    #[arg(long, default_value_t = 4)]
    connections: u32,
}

/// One measured run.
struct Run {
    done: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn rps(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[i - 1]
    }
}

const TENANTS: [&str; 2] = ["bench1", "bench2"];

/// `total` GET /notes spread over the two tenants by `concurrency` workers,
/// stopping early at `limit`.
async fn load(server: &NotesServer, total: usize, concurrency: usize, limit: Duration) -> Run {
    let urls: Vec<String> = TENANTS
        .iter()
        .map(|t| server.url(&format!("/notes?tenant={t}")))
        .collect();
    let started = Instant::now();
    let workers = (0..concurrency).map(|w| {
        let client = server.client().clone();
        let urls = urls.clone();
        async move {
            let mut latencies = Vec::with_capacity(total / concurrency + 1);
            let mut i = w;
            while i < total && started.elapsed() < limit {
                let sent = Instant::now();
                let resp = client
                    .get(&urls[i % urls.len()])
                    .send()
                    .await
                    .expect("GET /notes");
                assert_eq!(resp.status(), 200);
                resp.bytes().await.expect("body");
                latencies.push(sent.elapsed());
                i += concurrency;
            }
            latencies
        }
    });
    let mut latencies: Vec<Duration> = join_all(workers).await.into_iter().flatten().collect();
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Run {
        done: latencies.len(),
        elapsed,
        latencies,
    }
}

async fn measure(args: &Args, config: &std::path::Path, extra: &[&str]) -> Run {
    let server = NotesServer::start_with_env(config, extra, &[("RUST_LOG", "warn")]).await;
    let limit = Duration::from_secs(args.max_seconds);
    load(&server, args.warmup, args.concurrency, limit).await;
    let run = load(&server, args.requests, args.concurrency, limit).await;
    server.terminate().await;
    run
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temporary folder");
        let per_tenant = (args.connections / TENANTS.len() as u32).max(1);
        let config_with = |connections: u32, folder: &std::path::Path| {
            let mut toml = TenantsToml::new().default_option("max_connections", &connections.to_string());
            for t in TENANTS {
                toml = toml.tenant(t, &format!("sqlite://{}/{t}.db?mode=rwc", dir.path().display()));
            }
            toml.write_to(folder)
        };
        let config = config_with(per_tenant, dir.path());
        let single_dir = tempfile::tempdir().expect("temporary folder");
        let single_config = config_with(args.connections, single_dir.path());

        eprintln!("building notes-server and seeding {} notes per tenant...", args.notes);
        let seed = NotesServer::start_with_env(&config, &[], &[("RUST_LOG", "warn")]).await;
        for t in TENANTS {
            for n in 0..args.notes {
                let answer = seed.post_note(t, &format!("{t} note {n}")).await.expect("seed");
                assert_eq!(answer.status, 201);
            }
        }
        seed.terminate().await;

        let mut tenant_runs = Vec::new();
        let mut single_runs = Vec::new();
        for round in 1..=args.rounds {
            eprintln!("round {round}/{}: tenant routing...", args.rounds);
            tenant_runs.push(measure(&args, &config, &[]).await);
            eprintln!("round {round}/{}: single database, no middleware...", args.rounds);
            single_runs.push(measure(&args, &single_config, &["--single-db", TENANTS[0]]).await);
        }

        println!(
            "GET /notes ({} notes per answer) over {} tenants; {} requests per run after {} warm-up; concurrency {}; \
             {} connections per tenant routed, {} in the baseline",
            args.notes,
            TENANTS.len(),
            args.requests,
            args.warmup,
            args.concurrency,
            per_tenant,
            args.connections
        );
        println!("{:<26} {:>12} {:>10} {:>10}", "run", "requests/s", "p50", "p99");
        for (i, (t, s)) in tenant_runs.iter().zip(&single_runs).enumerate() {
            for (name, run) in [("tenant routing", t), ("single db (bypassed)", s)] {
                println!(
                    "{:<26} {:>12.0} {:>10.2?} {:>10.2?}",
                    format!("{name} #{}", i + 1),
                    run.rps(),
                    run.percentile(0.50),
                    run.percentile(0.99)
                );
            }
        }
        // Medians over the rounds: on a shared machine one disturbed round
        // would move a mean by more than the difference being measured.
        let rps = |runs: &[Run]| median(runs.iter().map(Run::rps).collect());
        let p99 = |runs: &[Run]| {
            median(runs.iter().map(|r| r.percentile(0.99).as_secs_f64() * 1e3).collect())
        };
        let (tenant, single) = (rps(&tenant_runs), rps(&single_runs));
        println!(
            "median: tenant routing {tenant:.0} req/s (p99 {:.2} ms), single db {single:.0} req/s (p99 {:.2} ms)",
            p99(&tenant_runs),
            p99(&single_runs)
        );
        println!(
            "ratio tenant/single requests/s: {:.3} (target >= 0.95: {})",
            tenant / single,
            if tenant / single >= 0.95 { "met" } else { "NOT met" }
        );
    });
}
