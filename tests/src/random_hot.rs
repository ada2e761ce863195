//! The scenario `bench-scale`, `bench-schemas` and `bench-rows` share: many
//! tenants behind one notes-server within a per-server connection budget,
//! `GET /notes` with a seeded random tenant per request against one hot
//! tenant (every request to the first), in interleaved rounds, the peak of
//! the server's sessions sampled over each run; optionally also Zipf traffic
//! ([`Tenancy::Zipf`], `bench-scale`) in the same rounds. Its flags
//! ([`RandomHotArgs`]), the runs ([`measure`] or [`measure_variants`], or
//! [`serve`] for the whole of it on a release notes-server), the table
//! ([`print_runs`]) and the figures over the rounds ([`Figures`], medians).

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use clap::Args;

use crate::bench::bar::Bars;
use crate::bench::cli::Quick;
use crate::bench::load::{LoadResult, LoadSpec, Pick, run_in_background};
use crate::bench::rounds::{Measured, interleaved, median_of, of};
use crate::scale::{Sampler, SamplerReport, ServerDatabases, StoreCounters, ZIPF_EXPONENT, Zipf};
use crate::server::NotesServer;

/// The flags of the scenario, flattened into the benchmark's own.
#[derive(Debug, Clone, Args)]
pub struct RandomHotArgs {
    /// `[servers."host:port"] max_connections`: the connection budget to the server.
    #[arg(long, default_value_t = 60)]
    pub budget: u32,
    /// Measured seconds per run [default: 10; --quick: 2].
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Warm-up seconds before each run [default: 2; --quick: 0.5].
    #[arg(long)]
    pub warmup_seconds: Option<f64>,
    /// Concurrent HTTP connections.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Rounds, each one random-tenant run then one hot-tenant run [default: 2; --quick: 1].
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Notes stored per tenant before measuring (each GET returns all of them).
    #[arg(long, default_value_t = 5)]
    pub notes: usize,
    /// Also a run of the hot tenant on an eighth of the connections among
    /// random tenants on the rest, the hot tenant's requests reported
    /// ("hot among random").
    #[arg(long)]
    pub hot_among_random: bool,
    /// `--quick`.
    #[command(flatten)]
    pub quick: Quick,
    /// The PostgreSQL admin URL (databases are created from it).
    #[arg(
        long,
        env = "TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres_url: String,
}

/// The run lengths in force, `--quick` applied.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Measured time per run.
    pub seconds: Duration,
    /// Warm-up before each run.
    pub warmup: Duration,
    /// Rounds.
    pub rounds: usize,
}

impl RandomHotArgs {
    /// Checks `peak` sessions against the budget in `bars`: `"kept"` or `"EXCEEDED"`.
    pub fn budget_bar(&self, bars: &mut Bars, peak: i64) -> &'static str {
        let met = bars.check(
            &format!("peak server sessions <= budget {}", self.budget),
            peak,
            peak <= i64::from(self.budget),
        );
        if met == "met" { "kept" } else { "EXCEEDED" }
    }

    /// The plan; an error for a bad number of seconds.
    pub fn plan(&self) -> Result<Plan, String> {
        let q = &self.quick;
        Ok(Plan {
            seconds: q.seconds("--seconds", self.seconds, 10.0, 2.0)?,
            warmup: q.seconds("--warmup-seconds", self.warmup_seconds, 2.0, 0.5)?,
            rounds: q.or(self.rounds, 2, 1).max(1),
        })
    }
}

/// Which tenants a run asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tenancy {
    /// A seeded random tenant per request, every tenant equally likely.
    Random,
    /// A seeded random tenant per request, Zipf-distributed with exponent
    /// [`ZIPF_EXPONENT`] over a seeded rank order of the tenants ([`Zipf`]).
    Zipf,
    /// Always the first tenant.
    Hot,
    /// The first tenant on an eighth of the connections (at least one) while
    /// the rest ask for a random tenant each; the run's figures are the hot
    /// tenant's requests alone: what its calls pay among many others.
    HotAmongRandom,
}

/// Slots of the table the Zipf runs pick from uniformly ([`Zipf::table`]):
/// each tenant's share is exact to within 1/65,536.
const ZIPF_SLOTS: usize = 1 << 16;

impl fmt::Display for Tenancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Random => "random tenant",
            Self::Zipf => "zipf tenant",
            Self::Hot => "one hot tenant",
            Self::HotAmongRandom => "hot among random",
        })
    }
}

/// One measured run.
#[derive(Debug)]
pub struct Run {
    /// Its requests.
    pub load: LoadResult,
    /// Peak of the server's sessions on the test databases during the run.
    pub peak: i64,
    /// The store's counters over the run, if its `/metrics` answered.
    pub counters: Option<StoreCounters>,
}

/// Interleaved rounds of a random-tenant run and a hot-tenant run over
/// `tenants` (`GET /notes?tenant=..&limit=1000`), each after a warm-up;
/// round `r`'s random tenants come from `seed + r`.
pub async fn measure(
    server: &NotesServer,
    sampler: &Sampler,
    tenants: &[String],
    (args, plan): (&RandomHotArgs, Plan),
    seed: u64,
) -> Result<Vec<Measured<Tenancy, Run>>, String> {
    let variants: &[Tenancy] = if args.hot_among_random {
        &[Tenancy::Random, Tenancy::Hot, Tenancy::HotAmongRandom]
    } else {
        &[Tenancy::Random, Tenancy::Hot]
    };
    measure_variants(server, sampler, tenants, (args, plan), seed, variants).await
}

/// As [`measure`], with the runs of `variants` in each round, in that order.
/// The Zipf runs rank the tenants by a shuffle seeded with `seed` (the same
/// hot tenants in every round) and pick from that ranking with `seed + r`
/// in round `r`.
pub async fn measure_variants(
    server: &NotesServer,
    sampler: &Sampler,
    tenants: &[String],
    (args, plan): (&RandomHotArgs, Plan),
    seed: u64,
    variants: &[Tenancy],
) -> Result<Vec<Measured<Tenancy, Run>>, String> {
    let paths: Vec<String> = tenants
        .iter()
        .map(|t| format!("/notes?tenant={t}&limit=1000"))
        .collect();
    let zipf_paths: Vec<String> = if variants.contains(&Tenancy::Zipf) {
        Zipf::new(tenants.len(), ZIPF_EXPONENT, seed)
            .table(ZIPF_SLOTS)
            .into_iter()
            .map(|i| paths[i].clone())
            .collect()
    } else {
        Vec::new()
    };
    interleaved(plan.rounds, variants, async |round, tenancy| {
        let round_seed = seed.wrapping_add(round as u64);
        let (paths, pick) = match tenancy {
            Tenancy::Random => (&paths, Pick::Random(round_seed)),
            Tenancy::Zipf => (&zipf_paths, Pick::Random(round_seed)),
            Tenancy::Hot | Tenancy::HotAmongRandom => (&paths, Pick::First),
        };
        let hot_among_random = tenancy == Tenancy::HotAmongRandom && args.concurrency > 1;
        // The run's own load: every connection, or the hot tenant's eighth.
        let connections = if hot_among_random {
            (args.concurrency / 8).max(1)
        } else {
            args.concurrency
        };
        let spec = |duration| {
            LoadSpec::get_any(server.addr(), paths.clone(), pick)
                .connections(connections)
                .duration(duration)
        };
        // The random requests beside the hot tenant's, for as long as they run.
        let others = |duration| {
            hot_among_random.then(|| {
                LoadSpec::get_any(server.addr(), paths.clone(), Pick::Random(round_seed))
                    .connections(args.concurrency - connections)
                    .duration(duration)
            })
        };
        let with_others = async |duration| {
            let (load, others) = tokio::join!(run_in_background(spec(duration)), async {
                match others(duration) {
                    Some(spec) => run_in_background(spec).await.map(Some),
                    None => Ok(None),
                }
            });
            others?;
            load
        };
        if !plan.warmup.is_zero() {
            with_others(plan.warmup).await?;
        }
        sampler.take_peak();
        let before = StoreCounters::scrape(server.addr()).await;
        let load = with_others(plan.seconds).await?;
        let peak = sampler.take_peak();
        let after = StoreCounters::scrape(server.addr()).await;
        Ok(Run {
            load,
            peak,
            counters: before.zip(after).map(|(b, a)| a.since(&b)),
        })
    })
    .await
}

/// What [`serve`] measured.
#[derive(Debug)]
pub struct Served {
    /// The runs, in order.
    pub runs: Vec<Measured<Tenancy, Run>>,
    /// notes-server's start-up, until `/health` answered.
    pub startup: Duration,
    /// The sampling of the server's sessions over the whole of it.
    pub sessions: SamplerReport,
    /// `ERROR` lines notes-server wrote.
    pub server_errors: usize,
}

impl Served {
    /// The figures over the rounds.
    pub fn figures(&self) -> Figures {
        Figures::of(&self.runs)
    }

    /// Prints the start-up, the runs and the sampling.
    pub fn print(&self) {
        println!("notes-server start-up: {:.1?}", self.startup);
        print_runs(&self.runs);
        println!("server sessions sampling: {}", self.sessions.summary());
    }
}

/// Starts notes-server (release, `--no-migrate`, `RUST_LOG=warn`) on
/// `config`, whose tenants are `tenants` on `dbs`' server, [`measure`]s it
/// while sampling the server's sessions on `dbs`' databases every 50 ms, and
/// stops it.
pub async fn serve(
    dbs: &ServerDatabases,
    config: &Path,
    tenants: &[String],
    (args, plan): (&RandomHotArgs, Plan),
    seed: u64,
) -> Result<Served, String> {
    eprintln!("building notes-server if needed...");
    tokio::task::spawn_blocking(crate::notes_server_binary)
        .await
        .expect("build notes-server");
    let sampler = dbs
        .sampler(Duration::from_millis(50), None, Duration::from_secs(3600))
        .await;
    let (server, startup) = timed(
        "starting notes-server",
        NotesServer::start_with_env(config, &["--no-migrate"], &[("RUST_LOG", "warn")]),
    )
    .await;
    let runs = measure(&server, &sampler, tenants, (args, plan), seed).await;
    let stopped = server.terminate().await;
    let sessions = sampler.stop().await;
    let server_errors = stopped.lines().filter(|l| l.contains("ERROR")).count();
    Ok(Served {
        runs: runs?,
        startup,
        sessions,
        server_errors,
    })
}

/// Prints one line per run: requests/s, p50, p99, errors, peak sessions;
/// then the first error, if any.
pub fn print_runs(runs: &[Measured<Tenancy, Run>]) {
    println!(
        "{:<20} {:>11} {:>10} {:>10} {:>8} {:>11}",
        "run", "requests/s", "p50", "p99", "errors", "peak conns"
    );
    for m in runs {
        println!(
            "{:<20} {:>11.0} {:>10.2?} {:>10.2?} {:>8} {:>11}",
            format!("{} #{}", m.variant, m.round),
            m.result.load.requests_per_sec(),
            m.result.load.percentile(0.50),
            m.result.load.percentile(0.99),
            m.result.load.errors(),
            m.result.peak
        );
    }
    for m in runs {
        if let Some(c) = &m.result.counters {
            println!("{:<20} {c}", format!("{} #{}", m.variant, m.round));
        }
    }
    if let Some(e) = runs.iter().find_map(|m| m.result.load.first_error.as_ref()) {
        println!("first error: {e}");
    }
}

/// The figures over the rounds.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// Median requests/s with a random tenant per request.
    pub random: f64,
    /// Median requests/s with one hot tenant.
    pub hot: f64,
    /// Errors in the random-tenant runs.
    pub random_errors: u64,
    /// Errors in the hot-tenant runs.
    pub hot_errors: u64,
    /// The highest peak of sessions in the random-tenant runs.
    pub random_peak: i64,
    /// The highest peak of sessions in the hot-tenant runs.
    pub hot_peak: i64,
    /// The Zipf runs' figures; `None` when there were none.
    pub zipf: Option<TrafficFigures>,
}

/// One kind of run's figures over the rounds.
#[derive(Debug, Clone, Copy)]
pub struct TrafficFigures {
    /// Median requests/s.
    pub rps: f64,
    /// Errors in all its runs.
    pub errors: u64,
    /// The highest peak of sessions in its runs.
    pub peak: i64,
}

impl Figures {
    /// The figures of `runs`.
    pub fn of(runs: &[Measured<Tenancy, Run>]) -> Self {
        let (random, hot) = (of(runs, Tenancy::Random), of(runs, Tenancy::Hot));
        let rps = |runs: &[&Run]| median_of(runs, |r| r.load.requests_per_sec());
        let errors = |runs: &[&Run]| runs.iter().map(|r| r.load.errors()).sum();
        let peak = |runs: &[&Run]| runs.iter().map(|r| r.peak).max().unwrap_or(0);
        let zipf = of(runs, Tenancy::Zipf);
        Self {
            random: rps(&random),
            hot: rps(&hot),
            random_errors: errors(&random),
            hot_errors: errors(&hot),
            random_peak: peak(&random),
            hot_peak: peak(&hot),
            zipf: (!zipf.is_empty()).then(|| TrafficFigures {
                rps: rps(&zipf),
                errors: errors(&zipf),
                peak: peak(&zipf),
            }),
        }
    }

    /// Requests/s with random tenants over those with one hot tenant.
    pub fn ratio(&self) -> f64 {
        self.random / self.hot
    }

    /// Requests/s with Zipf traffic over those with one hot tenant, if
    /// there were Zipf runs.
    pub fn zipf_ratio(&self) -> Option<f64> {
        self.zipf.map(|z| z.rps / self.hot)
    }

    /// Errors in all runs.
    pub fn errors(&self) -> u64 {
        self.random_errors + self.hot_errors + self.zipf.map_or(0, |z| z.errors)
    }

    /// The highest peak of sessions in all runs.
    pub fn peak(&self) -> i64 {
        let zipf = self.zipf.map_or(0, |z| z.peak);
        self.random_peak.max(self.hot_peak).max(zipf)
    }
}

/// Runs `fut`, announcing `what` on standard error; returns its output and
/// how long it took (a set-up step of a scenario, timed).
pub async fn timed<T>(what: &str, fut: impl Future<Output = T>) -> (T, Duration) {
    eprintln!("{what}...");
    let started = Instant::now();
    let out = fut.await;
    (out, started.elapsed())
}
