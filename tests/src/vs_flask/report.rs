//! The report of `bench-vs-flask`: each run (requests/s, p50, p99, errors,
//! connections, CPU shares), the medians per server and the ratio, as a
//! table or one JSON object.

use serde_json::{Value, json};

use super::args::{Args, Plan, TARGET};
use super::cpu::{CpuUse, OTHERS_LIMIT_PERCENT};
use crate::bench::cli::Format;
use crate::bench::load::LoadResult;
use crate::bench::percentile::{ms, round2};
use crate::bench::rounds::median;

/// The servers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// The Flask recipe under gunicorn.
    Flask,
    /// notes-server.
    Notes,
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl Server {
    /// Its name in the report.
    pub fn label(self) -> &'static str {
        match self {
            Self::Flask => "flask recipe",
            Self::Notes => "notes-server",
        }
    }
}

/// One measured run and the errors of its warm-up.
pub struct Run {
    /// Its round, from 1.
    pub round: usize,
    /// The server measured.
    pub server: Server,
    /// Errors of its warm-up.
    pub warmup_errors: u64,
    /// The first error of its warm-up.
    pub warmup_first_error: Option<String>,
    /// The measured period.
    pub measured: LoadResult,
    /// CPU shares during the measured period (None without `/proc`).
    pub cpu: Option<CpuUse>,
}

impl Run {
    fn errors(&self) -> u64 {
        self.measured.errors() + self.warmup_errors
    }

    /// Other processes took more than [`OTHERS_LIMIT_PERCENT`] of the machine.
    fn disturbed(&self) -> bool {
        self.cpu
            .is_some_and(|c| c.others_percent > OTHERS_LIMIT_PERCENT)
    }

    fn first_error(&self) -> Option<&str> {
        self.warmup_first_error
            .as_deref()
            .or(self.measured.first_error.as_deref())
    }

    fn json(&self) -> Value {
        json!({
            "round": self.round,
            "requests_per_sec": round2(self.measured.requests_per_sec()),
            "p50_ms": ms(self.measured.percentile(0.50)),
            "p99_ms": ms(self.measured.percentile(0.99)),
            "ok": self.measured.ok,
            "errors": self.errors(),
            "connections_opened": self.measured.connects,
            "first_error": self.first_error(),
            "server_cpu_percent": self.cpu.map(|c| round2(c.server_percent)),
            "load_generator_cpu_percent": self.cpu.map(|c| round2(c.own_percent)),
            "other_processes_cpu_percent_of_machine": self.cpu.map(|c| round2(c.others_percent)),
            "disturbed": self.disturbed(),
        })
    }
}

/// Medians over a server's runs.
struct Summary {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

impl Summary {
    fn of(runs: &[&Run]) -> Self {
        let rps: Vec<f64> = runs.iter().map(|r| r.measured.requests_per_sec()).collect();
        let p50: Vec<f64> = runs
            .iter()
            .map(|r| ms(r.measured.percentile(0.50)))
            .collect();
        let p99: Vec<f64> = runs
            .iter()
            .map(|r| ms(r.measured.percentile(0.99)))
            .collect();
        Self {
            rps: median(rps),
            p50_ms: median(p50),
            p99_ms: median(p99),
            errors: runs.iter().map(|r| r.errors()).sum(),
        }
    }

    fn json(&self) -> Value {
        json!({
            "requests_per_sec": round2(self.rps),
            "p50_ms": round2(self.p50_ms),
            "p99_ms": round2(self.p99_ms),
            "errors": self.errors,
        })
    }
}

/// What the report says about the set-up.
pub struct Setup {
    /// Notes per answer.
    pub notes: usize,
    /// notes-server's `RUST_LOG`.
    pub rust_log: &'static str,
    /// `[defaults] max_connections`, if set.
    pub max_connections: Option<u32>,
    /// The recipe's reported pins.
    pub pins: Vec<String>,
    /// The venv's Python version.
    pub python: String,
}

/// Prints the report; true when there was no error.
pub fn report(args: &Args, plan: &Plan, setup: &Setup, runs: &[Run]) -> bool {
    let of = |server: Server| -> Vec<&Run> { runs.iter().filter(|r| r.server == server).collect() };
    let flask = Summary::of(&of(Server::Flask));
    let notes = Summary::of(&of(Server::Notes));
    let rps_ratio = if flask.rps > 0.0 {
        notes.rps / flask.rps
    } else {
        0.0
    };
    let p99_ratio = if notes.p99_ms > 0.0 {
        flask.p99_ms / notes.p99_ms
    } else {
        0.0
    };
    let errors = flask.errors + notes.errors;
    let pool = setup.max_connections.map_or_else(
        || "unset (tenants.toml without pool options, the library's defaults)".to_owned(),
        |n| n.to_string(),
    );
    match args.format.format {
        Format::Json => {
            let runs_of = |server| of(server).iter().map(|r| r.json()).collect::<Vec<_>>();
            let report = json!({
                "request": format!("GET {TARGET}"),
                "notes_per_answer": setup.notes,
                "concurrency": args.concurrency,
                "client_threads": args.client_threads,
                "rounds": plan.rounds,
                "seconds": plan.seconds.as_secs_f64(),
                "warmup_seconds": plan.warmup.as_secs_f64(),
                "flask": {
                    "gunicorn_workers": args.workers,
                    "python": setup.python,
                    "pins": setup.pins,
                    "runs": runs_of(Server::Flask),
                    "median": flask.json(),
                },
                "notes_server": {
                    "rust_log": setup.rust_log,
                    "max_connections": setup.max_connections,
                    "runs": runs_of(Server::Notes),
                    "median": notes.json(),
                },
                "ratio_notes_server_over_flask": {
                    "requests_per_sec": round2(rps_ratio),
                    "p99_flask_over_notes_server": round2(p99_ratio),
                },
                "errors": errors,
                "disturbed_runs": runs.iter().filter(|r| r.disturbed()).count(),
            });
            println!("{report:#}");
        }
        Format::Text => {
            println!(
                "GET {TARGET} ({} notes per answer), both servers on the same SQLite files; \
                 load: {} connections on {} client thread(s), one request in flight each; \
                 {} round(s), each server in turn: {:.1?} warm-up + {:.1?} measured",
                setup.notes,
                args.concurrency,
                args.client_threads,
                plan.rounds,
                plan.warmup,
                plan.seconds
            );
            println!(
                "flask recipe: gunicorn -w {} (sync workers), {}, Python {}",
                args.workers,
                setup.pins.join(", "),
                setup.python
            );
            println!(
                "notes-server: release, RUST_LOG={}{}, max_connections {pool}",
                setup.rust_log,
                if setup.rust_log == "info" {
                    " (one log line per request)"
                } else {
                    ""
                }
            );
            println!();
            println!(
                "{:<8} {:<14} {:>11} {:>10} {:>10} {:>7} {:>12} {:>11} {:>11} {:>7}",
                "round",
                "server",
                "requests/s",
                "p50",
                "p99",
                "errors",
                "connections",
                "server cpu",
                "client cpu",
                "others"
            );
            let percent = |v: Option<f64>| v.map_or_else(|| "?".to_owned(), |v| format!("{v:.0}%"));
            for run in runs {
                println!(
                    "{:<8} {:<14} {:>11.1} {:>7.2} ms {:>7.2} ms {:>7} {:>12} {:>11} {:>11} {:>7}{}",
                    run.round,
                    run.server.label(),
                    run.measured.requests_per_sec(),
                    ms(run.measured.percentile(0.50)),
                    ms(run.measured.percentile(0.99)),
                    run.errors(),
                    run.measured.connects,
                    percent(run.cpu.map(|c| c.server_percent)),
                    percent(run.cpu.map(|c| c.own_percent)),
                    percent(run.cpu.map(|c| c.others_percent)),
                    if run.disturbed() { " *" } else { "" }
                );
            }
            for (server, s) in [(Server::Flask, &flask), (Server::Notes, &notes)] {
                println!(
                    "{:<8} {:<14} {:>11.1} {:>7.2} ms {:>7.2} ms {:>7}",
                    "median",
                    server.label(),
                    s.rps,
                    s.p50_ms,
                    s.p99_ms,
                    s.errors
                );
            }
            println!(
                "notes-server / flask recipe: {rps_ratio:.2}x the requests/s; p99 {p99_ratio:.1}x lower"
            );
            println!(
                "cpu: % of one core over the measured period (server: notes-server, or gunicorn's master \
                 and workers; client: this process, load generator included); others: every other \
                 process, % of the machine (interrupts left out)"
            );
            if runs.iter().any(Run::disturbed) {
                println!(
                    "* other processes used more than {OTHERS_LIMIT_PERCENT:.0}% of the machine during \
                     this run: its figures are disturbed, run again on a quiet machine"
                );
            }
            for run in runs.iter().filter(|r| r.errors() > 0) {
                println!(
                    "errors: round {} {}: {} (first: {})",
                    run.round,
                    run.server.label(),
                    run.errors(),
                    run.first_error().unwrap_or("?")
                );
            }
        }
    }
    errors == 0
}
