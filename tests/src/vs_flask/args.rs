//! The settings of `bench-vs-flask`: its flags, the plan they make
//! (`--quick` applied) and the fixed parts (tenants, the request measured,
//! gunicorn's time limits).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::bench::cli::{FormatArg, Quick};

/// The tenants: the recipe's two binds.
pub const TENANTS: [&str; 2] = ["test1", "test2"];
/// Notes stored in test2 (test1 gets `--notes`).
pub const OTHER_TENANT_NOTES: usize = 5;
/// The request measured.
pub const TARGET: &str = "/notes?tenant=test1";
/// The packages named in the report, as pinned in requirements.txt.
pub const REPORTED_PINS: [&str; 5] = [
    "gunicorn",
    "Flask",
    "Werkzeug",
    "Flask-SQLAlchemy",
    "SQLAlchemy",
];
/// How long gunicorn may take to listen and answer.
pub const FLASK_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long gunicorn may take to stop after SIGTERM (its graceful timeout is 30 s).
pub const FLASK_STOP_TIMEOUT: Duration = Duration::from_secs(40);
/// The line gunicorn logs once it listens.
pub const GUNICORN_LISTENING: &str = "Listening at: http://";

/// notes-server against the Flask-SQLAlchemy multi-tenant recipe under gunicorn.
#[derive(Debug, Parser)]
#[command(name = "bench-vs-flask")]
pub struct Args {
    /// Rounds, each one recipe run then one notes-server run [default: 3; --quick: 1].
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Concurrent connections of the load generator.
    #[arg(long, short = 'c', default_value_t = 32)]
    pub concurrency: usize,
    /// Measured seconds per run [default: 8; --quick: 2].
    #[arg(long, short = 'd')]
    pub seconds: Option<f64>,
    /// Warm-up seconds before each measured run [default: 2; --quick: 1].
    #[arg(long)]
    pub warmup_seconds: Option<f64>,
    /// OS threads of the load generator (one current-thread runtime each).
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// Gunicorn sync workers of the recipe.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Notes stored in test1: each answer holds all of them (1 to 100, the recipe's limit).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub notes: u16,
    /// `[defaults] max_connections` in notes-server's tenants.toml; by default
    /// unset, as in the repository's tenants.toml (the library's defaults).
    #[arg(long)]
    pub max_connections: Option<u32>,
    /// Run notes-server with RUST_LOG=warn (no request log line) instead of its default `info`.
    #[arg(long)]
    pub quiet_log: bool,
    /// `--quick`: 1 round of 1 s warm-up + 2 s measured.
    #[command(flatten)]
    pub quick: Quick,
    /// `--format text|json`.
    #[command(flatten)]
    pub format: FormatArg,
    /// The Python that makes the virtual environment.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// The virtual environment (default: bench-vs-flask/venv in the cargo target directory).
    #[arg(long)]
    pub venv: Option<PathBuf>,
}

/// The settings in force, `--quick` applied.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Rounds, each server once.
    pub rounds: usize,
    /// Measured time per run.
    pub seconds: Duration,
    /// Warm-up before each run.
    pub warmup: Duration,
}

impl Args {
    /// The plan; an error for a bad flag.
    pub fn plan(&self) -> Result<Plan, String> {
        let q = &self.quick;
        let plan = Plan {
            rounds: q.or(self.rounds, 3, 1),
            seconds: q.seconds("--seconds", self.seconds, 8.0, 2.0)?,
            warmup: q.seconds("--warmup-seconds", self.warmup_seconds, 2.0, 1.0)?,
        };
        if plan.rounds == 0 {
            return Err("--rounds must be at least 1".into());
        }
        if plan.seconds.is_zero() {
            return Err("--seconds must be more than 0".into());
        }
        if self.concurrency == 0 || self.client_threads == 0 || self.workers == 0 {
            return Err("--concurrency, --client-threads and --workers must be at least 1".into());
        }
        Ok(plan)
    }
}
