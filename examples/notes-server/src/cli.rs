//! Command-line options (each also readable from the environment where noted).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::http::client_deadlines::ClientTimeouts;

/// The multi-tenant notes server.
#[derive(Debug, Clone, Parser)]
#[command(name = "notes-server", version, about)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8000")]
    pub bind: String,

    /// Tenant configuration file (default: tenants.toml at the repository root).
    #[arg(long, env = "TENANTS_CONFIG", default_value_os_t = default_config_path())]
    pub config: PathBuf,

    /// Do not apply pending migrations to the tenants at start-up.
    #[arg(long)]
    pub no_migrate: bool,

    /// Seconds in-flight requests may take to finish after SIGINT or SIGTERM.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub shutdown_timeout: u64,

    /// Benchmark baseline: serve only this tenant's database (same URL and pool
    /// settings as in the config), with no tenant middleware and no routing.
    #[arg(long, value_name = "TENANT")]
    pub single_db: Option<String>,

    /// Seconds a request may take before it is answered 503 (its query is
    /// cancelled and its connection freed). 1 to 3600.
    #[arg(
        long,
        env = "REQUEST_TIMEOUT",
        default_value_t = 10,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub request_timeout: u64,

    /// Seconds a connection may go without reading or writing anything before
    /// it is closed: a client that stops half-way through its request, or an
    /// idle keep-alive connection. 1 to 3600, longer than --request-timeout.
    #[arg(
        long,
        env = "IDLE_TIMEOUT",
        default_value_t = 60,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub idle_timeout: u64,

    /// Seconds a client has to send a request's headers in full, from their
    /// first byte: a client trickling them a byte at a time is cut off.
    /// 1 to 3600.
    #[arg(
        long,
        env = "HEADER_TIMEOUT",
        default_value_t = 10,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub header_timeout: u64,
}

impl Args {
    /// `--request-timeout` as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout)
    }

    /// The deadlines a client must keep: `--idle-timeout` and `--header-timeout`.
    pub fn client_timeouts(&self) -> ClientTimeouts {
        ClientTimeouts {
            idle: Duration::from_secs(self.idle_timeout),
            headers: Duration::from_secs(self.header_timeout),
        }
    }

    /// `--shutdown-timeout` as a duration.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout)
    }
}

/// `tenants.toml` at the repository root, found from where this crate was
/// built, so `cargo run -p notes-server` works from any working directory.
pub fn default_config_path() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .unwrap_or(&manifest)
        .join("tenants.toml")
}
