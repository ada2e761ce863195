//! `just bench-vs-flask`: notes-server side by side with the Flask-SQLAlchemy
//! multi-tenant recipe the project grows from (`tests/flask-recipe`), both
//! serving `GET /notes?tenant=test1` from the very same SQLite files.
//!
//! 1. A Python virtual environment of its own (`<target>/bench-vs-flask/venv`)
//!    gets `tests/flask-recipe/requirements.txt` (skipped when a stamp file
//!    shows those exact requirements are installed).
//! 2. notes-server (release, `RUST_LOG=info` as when run plainly: one log line
//!    per request; `--quiet-log` for `warn`) starts on two SQLite tenants,
//!    test1 and test2, in a temporary folder; its migrations make the `notes`
//!    table and 20 notes go into test1 (5 into test2) through its API.
//! 3. The recipe starts under gunicorn (`-w 2`, sync workers) on a free
//!    loopback port, reading the same files; both must answer the same 20 notes.
//! 4. The same lean load generator ([`e2e_tests::http_load`]: raw TCP, one
//!    request in flight per connection, on its own thread) drives both in
//!    interleaved rounds (the recipe, then notes-server; a warm-up, then a
//!    measured period each). Prints requests/s, p50, p99 and errors per run,
//!    the medians and the ratio notes-server/flask (`--format json` as well).
//! 5. Stops both servers (gunicorn's whole process group), also after an error,
//!    a panic, Ctrl-C or SIGTERM. Exits non-zero when any answer was not 200 or
//!    a server did not start.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use e2e_tests::http_load::{self, LoadResult, LoadSpec};
use e2e_tests::load::median;
use e2e_tests::{NotesServer, drain_lines};
use serde_json::{Value, json};

/// The tenants: the recipe's two binds.
const TENANTS: [&str; 2] = ["test1", "test2"];
/// Notes stored in test2 (test1 gets `--notes`).
const OTHER_TENANT_NOTES: usize = 5;
/// The request measured.
const TARGET: &str = "/notes?tenant=test1";
/// The packages named in the report, as pinned in requirements.txt.
const REPORTED_PINS: [&str; 5] = [
    "gunicorn",
    "Flask",
    "Werkzeug",
    "Flask-SQLAlchemy",
    "SQLAlchemy",
];
/// How long gunicorn may take to listen and answer.
const FLASK_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long gunicorn may take to stop after SIGTERM (its graceful timeout is 30 s).
const FLASK_STOP_TIMEOUT: Duration = Duration::from_secs(40);
/// The line gunicorn logs once it listens.
const GUNICORN_LISTENING: &str = "Listening at: http://";

/// notes-server against the Flask-SQLAlchemy multi-tenant recipe under gunicorn.
#[derive(Debug, Parser)]
struct Args {
    /// Rounds, each one recipe run then one notes-server run [default: 3; --quick: 1].
    #[arg(long)]
    rounds: Option<usize>,
    /// Concurrent connections of the load generator.
    #[arg(long, short = 'c', default_value_t = 32)]
    concurrency: usize,
    /// Measured seconds per run [default: 8; --quick: 2].
    #[arg(long, short = 'd')]
    seconds: Option<f64>,
    /// Warm-up seconds before each measured run [default: 2; --quick: 1].
    #[arg(long)]
    warmup_seconds: Option<f64>,
    /// OS threads of the load generator (one current-thread runtime each).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Gunicorn sync workers of the recipe.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Notes stored in test1: each answer holds all of them (1 to 100, the recipe's limit).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=100))]
    notes: u16,
    /// `[defaults] max_connections` in notes-server's tenants.toml; by default
    /// unset, as in the repository's tenants.toml (the library's defaults).
    #[arg(long)]
    max_connections: Option<u32>,
    /// Run notes-server with RUST_LOG=warn (no request log line) instead of its default `info`.
    #[arg(long)]
    quiet_log: bool,
    /// A short smoke run: 1 round of 1 s warm-up + 2 s measured.
    #[arg(long)]
    quick: bool,
    /// Report format (progress always goes to stderr).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The Python that makes the virtual environment.
    #[arg(long, default_value = "python3")]
    python: String,
    /// The virtual environment [default: <cargo target dir>/bench-vs-flask/venv].
    #[arg(long)]
    venv: Option<PathBuf>,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A table.
    Text,
    /// One JSON object.
    Json,
}

/// The settings in force, `--quick` applied.
#[derive(Debug, Clone, Copy)]
struct Plan {
    rounds: usize,
    seconds: Duration,
    warmup: Duration,
}

impl Args {
    fn plan(&self) -> Result<Plan, String> {
        let (rounds, seconds, warmup) = if self.quick {
            (1, 2.0, 1.0)
        } else {
            (3, 8.0, 2.0)
        };
        let secs = |value: f64, what: &str| {
            Duration::try_from_secs_f64(value)
                .map_err(|_| format!("{what} must be a number of seconds, 0 or more: {value}"))
        };
        let plan = Plan {
            rounds: self.rounds.unwrap_or(rounds),
            seconds: secs(self.seconds.unwrap_or(seconds), "--seconds")?,
            warmup: secs(self.warmup_seconds.unwrap_or(warmup), "--warmup-seconds")?,
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

/// The workspace root (this crate lives in `<root>/tests`).
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The recipe's folder: `tests/flask-recipe`.
fn recipe_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("flask-recipe")
}

/// Cargo's target folder: the one holding this executable (`<target>/release/`).
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Runs `cmd` with its output on our stderr (stdout may carry the JSON report).
fn run_logged(cmd: &mut Command, what: &str) -> Result<(), String> {
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// The virtual environment with exactly `requirements` installed; made or
/// updated when its stamp (the requirements file's text) differs.
fn ensure_venv(python: &str, venv: &Path, requirements: &Path) -> Result<(), String> {
    let wanted = std::fs::read_to_string(requirements)
        .map_err(|e| format!("read {}: {e}", requirements.display()))?;
    let stamp = venv.join("bench-vs-flask.requirements");
    let venv_python = venv.join("bin").join("python");
    let python_runs = Command::new(&venv_python)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if python_runs && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        eprintln!("venv {} is up to date", venv.display());
        return Ok(());
    }
    if !python_runs {
        eprintln!("making the venv {} with {python}...", venv.display());
        run_logged(
            Command::new(python)
                .args(["-m", "venv", "--clear"])
                .arg(venv),
            "python -m venv",
        )?;
    }
    let _ = std::fs::remove_file(&stamp);
    eprintln!("pip install -r {}...", requirements.display());
    run_logged(
        Command::new(&venv_python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(requirements),
        "pip install",
    )?;
    std::fs::write(&stamp, wanted).map_err(|e| format!("write {}: {e}", stamp.display()))
}

/// `name==version` pins of `names` in the requirements file, in that order.
fn pins(requirements: &Path, names: &[&str]) -> Vec<String> {
    let text = std::fs::read_to_string(requirements).unwrap_or_default();
    names
        .iter()
        .filter_map(|name| {
            text.lines()
                .map(str::trim)
                .find(|line| {
                    line.split_once("==")
                        .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
                })
                .map(str::to_owned)
        })
        .collect()
}

/// `python --version` of the venv, e.g. `3.11.7`.
fn python_version(venv: &Path) -> String {
    Command::new(venv.join("bin").join("python"))
        .args(["-c", "import platform; print(platform.python_version())"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "?".into())
}

/// Sends `signal` (`TERM`, `KILL`) to process group `pgid`; false when it has no process left.
fn signal_group(pgid: u32, signal: &str) -> bool {
    Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The recipe under gunicorn, in a process group of its own (master and
/// workers), stopped with the whole group on [`stop`](Self::stop) or drop.
struct Gunicorn {
    child: Child,
    addr: SocketAddr,
    output: Arc<Mutex<String>>,
    stopped: bool,
}

impl Gunicorn {
    /// Starts `gunicorn -w workers -b 127.0.0.1:0 app:app` in `recipe`, on the
    /// SQLite files in `db_dir`, and waits until it listens.
    fn start(venv: &Path, recipe: &Path, db_dir: &Path, workers: usize) -> Result<Self, String> {
        let gunicorn = venv.join("bin").join("gunicorn");
        let mut child = Command::new(&gunicorn)
            .args(["-w", &workers.to_string(), "-b", "127.0.0.1:0", "--chdir"])
            .arg(recipe)
            .arg("app:app")
            .env("FLASK_RECIPE_DB_DIR", db_dir)
            // No __pycache__ in the source tree.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group: stopping it reaches the workers too.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", gunicorn.display()))?;
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            drain_lines(stdout, Arc::clone(&output), None, gunicorn_listening);
        }
        if let Some(stderr) = child.stderr.take() {
            drain_lines(stderr, Arc::clone(&output), Some(tx), gunicorn_listening);
        }
        let mut server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            output,
            stopped: false,
        };
        let deadline = Instant::now() + FLASK_START_TIMEOUT;
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(addr) => {
                    server.addr = addr;
                    return Ok(server);
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = server.child.try_wait() {
                        return Err(format!(
                            "gunicorn exited ({status}) before listening; output:\n{}",
                            server.output()
                        ));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Its stderr closed without the line: it exited (or is exiting).
                    let exited = wait_exit(&mut server.child, Duration::from_secs(5)).map_or_else(
                        || "closed its output".to_owned(),
                        |s| format!("exited ({s})"),
                    );
                    return Err(format!(
                        "gunicorn {exited} before listening; output:\n{}",
                        server.output()
                    ));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "gunicorn did not listen within {FLASK_START_TIMEOUT:?}; output:\n{}",
                        server.output()
                    ));
                }
            }
        }
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// An error when the master has exited.
    fn check_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "gunicorn exited ({status}); output:\n{}",
                self.output()
            )),
            Err(e) => Err(format!("gunicorn: {e}")),
        }
    }

    /// SIGTERM to the group, waits for the master (then SIGKILL to what is left).
    fn stop(&mut self) -> Option<ExitStatus> {
        if self.stopped {
            return None;
        }
        self.stopped = true;
        let pgid = self.child.id();
        signal_group(pgid, "TERM");
        let status = wait_exit(&mut self.child, FLASK_STOP_TIMEOUT).or_else(|| {
            let _ = self.child.kill();
            self.child.wait().ok()
        });
        // Workers still alive after their master: gone now.
        signal_group(pgid, "KILL");
        status
    }
}

impl Drop for Gunicorn {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The exit status of `child` once it exits, within `timeout`.
fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// The address of gunicorn's "Listening at" line.
fn gunicorn_listening(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once(GUNICORN_LISTENING)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// `GET url` parsed as JSON, with its status.
async fn get_json(client: &reqwest::Client, url: &str) -> Result<(u16, Value), String> {
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| format!("GET {url}: {e}"))?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Polls the recipe until `GET /notes?tenant=test1` answers 200 with `notes` rows.
async fn wait_flask_ready(
    flask: &mut Gunicorn,
    client: &reqwest::Client,
    notes: usize,
) -> Result<(), String> {
    let deadline = Instant::now() + FLASK_START_TIMEOUT;
    let url = flask.url(TARGET);
    loop {
        flask.check_running()?;
        let last = match get_json(client, &url).await {
            Ok((200, json)) if json.as_array().is_some_and(|a| a.len() == notes) => return Ok(()),
            Ok((status, json)) => format!("status {status}: {json}"),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "the recipe did not answer {TARGET} with 200 and {notes} notes within \
                 {FLASK_START_TIMEOUT:?} (last: {last}); output:\n{}",
                flask.output()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Both servers give the same JSON for each tenant's `GET /notes`.
async fn compare_answers(
    client: &reqwest::Client,
    flask: &Gunicorn,
    notes: &NotesServer,
    expected: &[(&str, usize)],
) -> Result<(), String> {
    for &(tenant, count) in expected {
        let path = format!("/notes?tenant={tenant}");
        let (fs, fj) = get_json(client, &flask.url(&path)).await?;
        let (ns, nj) = get_json(client, &notes.url(&path)).await?;
        if fs != 200 || ns != 200 {
            return Err(format!(
                "GET {path}: the recipe answered {fs}, notes-server {ns}"
            ));
        }
        let rows = nj.as_array().map_or(0, Vec::len);
        if fj != nj || rows != count {
            return Err(format!(
                "GET {path}: the answers differ or do not hold {count} notes\n  recipe:       {fj}\n  notes-server: {nj}"
            ));
        }
        eprintln!("GET {path}: both servers answer the same {rows} notes");
    }
    Ok(())
}

/// Runs `spec` on the load generator's own threads, without blocking the runtime.
async fn load(spec: LoadSpec) -> Result<LoadResult, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("http-load".into())
        .spawn(move || {
            let _ = tx.send(http_load::run(&spec));
        })
        .map_err(|e| format!("cannot start the load thread: {e}"))?;
    rx.await
        .map_err(|_| "the load thread stopped without a result".to_owned())?
        .map_err(|e| format!("load generator: {e}"))
}

/// Which processes are the server under test.
#[derive(Debug, Clone, Copy)]
enum Processes {
    /// One process (notes-server, all its threads).
    Pid(u32),
    /// A whole process group (gunicorn's master and workers).
    Group(u32),
}

/// CPU time from `/proc` (Linux), in clock ticks summed over all cores.
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    /// All cores, all states.
    total: u64,
    /// All cores, running processes (not idle, iowait or interrupts).
    busy: u64,
    /// The server under test.
    server: u64,
    /// This process: the load generator, and the threads draining the servers' output.
    own: u64,
    /// Cores.
    cores: u64,
}

/// The CPU shares of a measured run.
#[derive(Debug, Clone, Copy)]
struct CpuUse {
    /// The server's CPU, in % of one core (200 = two cores busy).
    server_percent: f64,
    /// This process (load generator included), in % of one core.
    own_percent: f64,
    /// Every other process, in % of the whole machine: noise when high.
    others_percent: f64,
}

/// Above this share of the machine used by other processes, a run is flagged.
const OTHERS_LIMIT_PERCENT: f64 = 10.0;

impl CpuSample {
    fn take(server: Processes) -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let mut cores = 0;
        let mut all = None;
        for line in stat.lines() {
            let mut fields = line.split_whitespace();
            match fields.next() {
                Some("cpu") => {
                    // user nice system idle iowait irq softirq steal
                    let v: Vec<u64> = fields.take(8).filter_map(|f| f.parse().ok()).collect();
                    if v.len() == 8 {
                        let total: u64 = v.iter().sum();
                        // Not idle, not iowait, and not interrupts (mostly the
                        // loopback traffic of the run itself).
                        all = Some((total, total - v[3] - v[4] - v[5] - v[6]));
                    }
                }
                Some(name) if name.starts_with("cpu") => cores += 1,
                _ => {}
            }
        }
        let (total, busy) = all?;
        let own_pid = std::process::id();
        let (mut server_ticks, mut own) = (0, 0);
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Some((pgrp, ticks)) = process_ticks(pid) else {
                continue;
            };
            let is_server = match server {
                Processes::Pid(p) => pid == p,
                Processes::Group(g) => pgrp == g,
            };
            if is_server {
                server_ticks += ticks;
            } else if pid == own_pid {
                own += ticks;
            }
        }
        Some(Self {
            total,
            busy,
            server: server_ticks,
            own,
            cores: cores.max(1),
        })
    }

    /// The shares between `self` and the later sample `end`.
    fn until(&self, end: &Self) -> Option<CpuUse> {
        let total = end.total.checked_sub(self.total).filter(|&t| t > 0)? as f64;
        let busy = end.busy.saturating_sub(self.busy) as f64;
        let server = end.server.saturating_sub(self.server) as f64;
        let own = end.own.saturating_sub(self.own) as f64;
        let one_core = total / self.cores as f64;
        Some(CpuUse {
            server_percent: 100.0 * server / one_core,
            own_percent: 100.0 * own / one_core,
            others_percent: (100.0 * (busy - server - own) / total).max(0.0),
        })
    }
}

/// Process group and user + system CPU ticks of `pid`, from `/proc/PID/stat`.
fn process_ticks(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After "pid (comm) ": state ppid pgrp ... utime (11th) stime (12th).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let pgrp = fields.get(2)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((pgrp, utime + stime))
}

/// The servers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Flask,
    Notes,
}

impl Server {
    fn label(self) -> &'static str {
        match self {
            Self::Flask => "flask recipe",
            Self::Notes => "notes-server",
        }
    }
}

/// One measured run and the errors of its warm-up.
struct Run {
    round: usize,
    server: Server,
    measured: LoadResult,
    warmup_errors: u64,
    warmup_first_error: Option<String>,
    /// CPU shares during the measured period (None without `/proc`).
    cpu: Option<CpuUse>,
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

fn ms(d: Duration) -> f64 {
    round2(d.as_secs_f64() * 1e3)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// What the report says about the set-up.
struct Setup {
    notes: usize,
    rust_log: &'static str,
    max_connections: Option<u32>,
    pins: Vec<String>,
    python: String,
}

/// Prints the report; true when there was no error.
fn report(args: &Args, plan: &Plan, setup: &Setup, runs: &[Run]) -> bool {
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
    match args.format {
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

/// Sets up, measures, stops both servers; true when there was no error.
async fn bench(args: &Args, plan: Plan) -> Result<bool, String> {
    let requirements = recipe_dir().join("requirements.txt");
    let venv = args
        .venv
        .clone()
        .unwrap_or_else(|| target_dir().join("bench-vs-flask").join("venv"));
    ensure_venv(&args.python, &venv, &requirements)?;

    let dir = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    let db_dir = dir.path();
    // Like the repository's tenants.toml: the two tenants, no pool options.
    let mut toml = String::new();
    if let Some(n) = args.max_connections {
        toml.push_str(&format!("[defaults]\nmax_connections = {n}\n\n"));
    }
    for t in TENANTS {
        toml.push_str(&format!(
            "[tenants.{t}]\nurl = \"sqlite://{}/{t}.db?mode=rwc\"\n\n",
            db_dir.display()
        ));
    }
    let config = db_dir.join("tenants.toml");
    std::fs::write(&config, toml).map_err(|e| format!("write {}: {e}", config.display()))?;

    eprintln!("building notes-server (release) if needed...");
    tokio::task::spawn_blocking(e2e_tests::notes_server_binary)
        .await
        .map_err(|e| format!("building notes-server: {e}"))?;
    let rust_log = if args.quiet_log { "warn" } else { "info" };
    eprintln!("starting notes-server (RUST_LOG={rust_log}) on test1 and test2...");
    let notes_server = NotesServer::start_with_env(&config, &[], &[("RUST_LOG", rust_log)]).await;
    let notes = usize::from(args.notes);
    let expected = [(TENANTS[0], notes), (TENANTS[1], OTHER_TENANT_NOTES)];
    eprintln!(
        "seeding {notes} notes in test1, {OTHER_TENANT_NOTES} in test2 through POST /notes..."
    );
    for (tenant, count) in expected {
        for n in 0..count {
            let answer = notes_server
                .post_note(tenant, &format!("{tenant} note {n}"))
                .await
                .map_err(|e| format!("POST /notes?tenant={tenant}: {e}"))?;
            if answer.status != 201 {
                return Err(format!(
                    "POST /notes?tenant={tenant} answered {}: {}",
                    answer.status, answer.json
                ));
            }
        }
    }

    eprintln!(
        "starting the recipe: gunicorn -w {} app:app...",
        args.workers
    );
    let mut flask = Gunicorn::start(&venv, &recipe_dir(), db_dir, args.workers)?;
    let client = notes_server.client().clone();
    wait_flask_ready(&mut flask, &client, notes).await?;
    compare_answers(&client, &flask, &notes_server, &expected).await?;

    let spec_for = |addr: SocketAddr, duration: Duration| {
        LoadSpec::get(addr, TARGET)
            .connections(args.concurrency)
            .threads(args.client_threads)
            .duration(duration)
    };
    let mut runs = Vec::new();
    for round in 1..=plan.rounds {
        for server in [Server::Flask, Server::Notes] {
            let addr = match server {
                Server::Flask => flask.addr,
                Server::Notes => notes_server.addr(),
            };
            eprintln!(
                "round {round}/{}: {} ({:.1?} warm-up, {:.1?} measured)...",
                plan.rounds,
                server.label(),
                plan.warmup,
                plan.seconds
            );
            let (warmup_errors, warmup_first_error) = if plan.warmup.is_zero() {
                (0, None)
            } else {
                let warm = load(spec_for(addr, plan.warmup)).await?;
                (warm.errors(), warm.first_error)
            };
            let processes = match server {
                Server::Flask => Processes::Group(flask.child.id()),
                Server::Notes => Processes::Pid(notes_server.pid()),
            };
            let before = CpuSample::take(processes);
            let measured = load(spec_for(addr, plan.seconds)).await?;
            let after = CpuSample::take(processes);
            let cpu = before.zip(after).and_then(|(b, a)| b.until(&a));
            runs.push(Run {
                round,
                server,
                measured,
                warmup_errors,
                warmup_first_error,
                cpu,
            });
        }
        flask.check_running()?;
    }

    eprintln!("stopping both servers...");
    flask.stop();
    notes_server.terminate().await;
    let setup = Setup {
        notes,
        rust_log,
        max_connections: args.max_connections,
        pins: pins(&requirements, &REPORTED_PINS),
        python: python_version(&venv),
    };
    Ok(report(args, &plan, &setup, &runs))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted (Ctrl-C)",
        _ = term.recv() => "terminated (SIGTERM)",
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let plan = match args.plan() {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("bench-vs-flask: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bench-vs-flask: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Dropping the bench future (signal, error) drops the server guards: both stop.
    let outcome = runtime.block_on(async {
        tokio::select! {
            outcome = bench(&args, plan) => outcome,
            why = interrupted() => Err(why.to_owned()),
        }
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("bench-vs-flask: some requests were not answered 200 (see the report)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("bench-vs-flask: {e}");
            ExitCode::FAILURE
        }
    }
}
