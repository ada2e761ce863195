//! The soak's flags; `--quick` and `--format` are the bench harness's.

use clap::Parser;

use crate::bench::cli::{FormatArg, Quick};
use crate::bench::pace::load_fraction;

/// The soak's settings.
#[derive(Debug, Parser)]
#[command(name = "soak")]
pub struct Args {
    /// Requests in all [default: 100000; --quick: 20000].
    #[arg(long)]
    pub requests: Option<u64>,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Offered load after the warm-up, as a fraction of the requests per
    /// second the clients got through in it, going as fast as they could;
    /// 1 keeps them going as fast as they can (every core busy).
    #[arg(long, default_value_t = 0.6, value_parser = load_fraction)]
    pub load: f64,
    /// Seconds of warm-up, as fast as the clients can go, before the offered
    /// load and the first fault.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(2..=60))]
    pub warm_up: u64,
    /// Stop after this many seconds even if fewer requests were sent.
    #[arg(long, default_value_t = 900)]
    pub max_seconds: u64,
    /// The server's `--request-timeout`, in seconds.
    #[arg(long, default_value_t = 5)]
    pub request_timeout: u64,
    /// `--format text|json`.
    #[command(flatten)]
    pub format: FormatArg,
    /// The server's `RUST_LOG`.
    #[arg(long, default_value = "warn")]
    pub server_log_level: String,
    /// Write the server's output (its log) to this file.
    #[arg(long)]
    pub server_log: Option<std::path::PathBuf>,
    /// Write every request's outcome to this file as CSV
    /// (`sent_s,took_s,tenant,kind,status`).
    #[arg(long)]
    pub outcomes: Option<std::path::PathBuf>,
    /// `--quick`: the short form (CI).
    #[command(flatten)]
    pub quick: Quick,
    /// Seed of the random choices.
    #[arg(long, default_value_t = 0x50A4)]
    pub seed: u64,
}
