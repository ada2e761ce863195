//! A running `notes-server` process.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::binary::Flavor;

/// How long start-up (migrations included) may take before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long `/health` is polled after the server printed its address.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);
/// The line the server prints on stdout once it listens, after its name.
const LISTENING: &str = " listening on http://";

/// A signal to send to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM.
    Term,
    /// SIGINT (Ctrl-C).
    Int,
}

/// The real `notes-server` binary, started on `127.0.0.1:0` and ready
/// (`/health` answered 200). Killed on drop if still running.
#[derive(Debug)]
pub struct NotesServer {
    child: Child,
    addr: SocketAddr,
    output: Arc<Mutex<String>>,
    client: reqwest::Client,
    config: PathBuf,
}

impl NotesServer {
    /// Starts the server with `--config config` and `extra_args`, and waits until it is ready.
    /// `RUST_LOG` is `info` unless the test process sets it.
    pub async fn start(config: &Path, extra_args: &[&str]) -> Self {
        let log = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
        Self::start_with_env(config, extra_args, &[("RUST_LOG", &log)]).await
    }

    /// [`start`](Self::start) with these environment variables set for the server.
    pub async fn start_with_env(config: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_flavor(Flavor::Poem, config, extra_args, env).await
    }

    /// [`start_with_env`](Self::start_with_env) for the server of `flavor`
    /// (`notes-axum` takes only `--bind` and `--config`).
    pub async fn start_flavor(
        flavor: Flavor,
        config: &Path,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(flavor.binary())
            .args(["--bind", "127.0.0.1:0", "--config"])
            .arg(config)
            .args(extra_args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start notes-server");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        drain_lines(
            child.stdout.take().expect("stdout piped"),
            Arc::clone(&output),
            Some(tx),
            notes_server_listening,
        );
        drain_lines(
            child.stderr.take().expect("stderr piped"),
            Arc::clone(&output),
            None,
            notes_server_listening,
        );
        let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(START_TIMEOUT))
            .await
            .expect("wait for the address");
        let addr = match addr {
            Ok(addr) => addr,
            Err(_) => {
                let status = child.try_wait().ok().flatten();
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "notes-server did not start (exit: {status:?}); output:\n{}",
                    output.lock().unwrap()
                );
            }
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("HTTP client");
        let server = Self {
            child,
            addr,
            output,
            client,
            config: config.to_owned(),
        };
        server.wait_healthy().await;
        server
    }

    /// Polls `/health` until it answers 200, within [`HEALTH_TIMEOUT`].
    async fn wait_healthy(&self) {
        let deadline = Instant::now() + HEALTH_TIMEOUT;
        loop {
            if let Ok(resp) = self.client.get(self.url("/health")).send().await
                && resp.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "/health did not answer 200 within {HEALTH_TIMEOUT:?}; output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` + `path_and_query`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    /// An HTTP client (no proxy, 60 s timeout) for this server.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The configuration file the server was started with.
    pub fn config(&self) -> &Path {
        &self.config
    }

    /// Everything the server printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The most memory the server has had resident so far (Linux `VmHWM`),
    /// in bytes; `None` where `/proc` cannot tell.
    pub fn peak_memory_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: Signal) {
        let name = match signal {
            Signal::Term => "TERM",
            Signal::Int => "INT",
        };
        let status = Command::new("kill")
            .args(["-s", name, &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {name} failed");
    }

    /// Waits for the process to exit, within `timeout`.
    pub async fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("query the server process") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "notes-server did not exit within {timeout:?}; output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then waits (30 s at most) for a clean exit; returns the output.
    pub async fn terminate(mut self) -> String {
        self.signal(Signal::Term);
        let status = self.wait(Duration::from_secs(30)).await;
        let output = self.output();
        assert!(
            status.success(),
            "notes-server exited with {status}; output:\n{output}"
        );
        output
    }
}

impl Drop for NotesServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Copies `pipe` into `output` line by line on a thread; the first address
/// `listening` finds in a line goes to `addr`. Shared with the harnesses that
/// start other servers (gunicorn in `bench-vs-flask`).
pub fn drain_lines(
    pipe: impl Read + Send + 'static,
    output: Arc<Mutex<String>>,
    mut addr: Option<mpsc::Sender<SocketAddr>>,
    listening: impl Fn(&str) -> Option<SocketAddr> + Send + 'static,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if addr.is_some()
                && let Some(parsed) = listening(&line)
                && let Some(tx) = addr.take()
            {
                let _ = tx.send(parsed);
            }
            let mut out = output.lock().unwrap_or_else(|e| e.into_inner());
            out.push_str(&line);
            out.push('\n');
        }
    });
}

/// The address of notes-server's (or notes-axum's) "listening on" line.
fn notes_server_listening(line: &str) -> Option<SocketAddr> {
    let rest = line
        .strip_prefix("notes-server")
        .or_else(|| line.strip_prefix("notes-axum"))?;
    rest.strip_prefix(LISTENING)?.trim().parse().ok()
}
