//! The recipe under gunicorn: started in a process group of its own on a
//! free loopback port, its "Listening at" line awaited, stopped with the
//! whole group (on drop too).

use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::args::{FLASK_START_TIMEOUT, FLASK_STOP_TIMEOUT, GUNICORN_LISTENING};
use crate::drain_lines;

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
pub struct Gunicorn {
    child: Child,
    addr: SocketAddr,
    output: Arc<Mutex<String>>,
    stopped: bool,
}

impl Gunicorn {
    /// Starts `gunicorn -w workers -b 127.0.0.1:0 app:app` in `recipe`, on the
    /// SQLite files in `db_dir`, and waits until it listens.
    pub fn start(
        venv: &Path,
        recipe: &Path,
        db_dir: &Path,
        workers: usize,
    ) -> Result<Self, String> {
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

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process group (the master's pid).
    pub fn pgid(&self) -> u32 {
        self.child.id()
    }

    /// `http://addr` + `path_and_query`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// What it has written so far.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// An error when the master has exited.
    pub fn check_running(&mut self) -> Result<(), String> {
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
    pub fn stop(&mut self) -> Option<ExitStatus> {
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
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
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
