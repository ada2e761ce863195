//! The background sampling of a set's databases: the server's sessions on
//! them counted every interval (with the peak of each window), and a plain
//! new connection probed now and then, on a thread of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use sea_orm_tenant::sea_orm::DatabaseConnection;

use super::server::{ServerKind, admin_pool, count_sessions, probe};

/// Starts counting the connected sessions on databases matching `like` (a
/// `LIKE` pattern) on an admin connection to `url`
/// every `every`, and probing a plain new connection every `probe_every` if
/// given; see [`super::ServerDatabases::sampler`].
pub(super) async fn start(
    (kind, url, like): (ServerKind, String, String),
    every: Duration,
    probe_every: Option<Duration>,
    limit: Duration,
) -> Sampler {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let window = Arc::new(AtomicI64::new(0));
    let window_peak = Arc::clone(&window);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
    let thread = std::thread::Builder::new()
        .name("session-sampler".to_owned())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for the sampler");
            rt.block_on(async move {
                let admin = match admin_pool(&url, 1).await {
                    Ok(admin) => admin,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return (Samples::default(), Vec::new());
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let started = Instant::now();
                let probes = probe_every.map(|probe_every| {
                    tokio::spawn(probe_loop(
                        kind,
                        url,
                        probe_every,
                        started,
                        limit,
                        Arc::clone(&flag),
                    ))
                });
                let samples =
                    sample_loop(&admin, &like, every, (started, limit), &flag, &window_peak).await;
                admin.close().await.ok();
                let probes = match probes {
                    Some(task) => task.await.unwrap_or_default(),
                    None => Vec::new(),
                };
                (samples, probes)
            })
        })
        .expect("start the sampler thread");
    ready_rx
        .await
        .expect("sampler thread")
        .expect("admin connection for the sampler");
    Sampler {
        stop,
        window,
        started: Instant::now(),
        thread: Some(thread),
    }
}

async fn sample_loop(
    admin: &DatabaseConnection,
    like: &str,
    every: Duration,
    (started, limit): (Instant, Duration),
    stop: &AtomicBool,
    window: &AtomicI64,
) -> Samples {
    let mut report = Samples::default();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<Instant> = None;
    while !stop.load(Ordering::Acquire) && started.elapsed() < limit {
        ticker.tick().await;
        match count_sessions(admin, like).await {
            Ok(n) => {
                let now = Instant::now();
                if let Some(last) = last {
                    report.longest_gap = report.longest_gap.max(now - last);
                }
                last = Some(now);
                report.count += 1;
                window.fetch_max(n, Ordering::AcqRel);
                if n > report.peak {
                    report.peak = n;
                    report.peak_at = started.elapsed();
                }
            }
            Err(e) => report.errors.push(e.to_string()),
        }
    }
    report
}

/// Probes every `every` (first after `every`), watching `stop` every 50 ms so
/// that a long interval does not delay [`Sampler::stop`].
async fn probe_loop(
    kind: ServerKind,
    url: String,
    every: Duration,
    started: Instant,
    limit: Duration,
    stop: Arc<AtomicBool>,
) -> Vec<Result<Duration, String>> {
    let mut results = Vec::new();
    let mut ticker = tokio::time::interval(every.min(Duration::from_millis(50)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut due = Instant::now() + every;
    loop {
        ticker.tick().await;
        if stop.load(Ordering::Acquire) || started.elapsed() >= limit {
            return results;
        }
        if Instant::now() >= due {
            results.push(probe(kind, url.clone()).await);
            due = Instant::now() + every;
        }
    }
}

#[derive(Debug, Default)]
struct Samples {
    count: usize,
    peak: i64,
    peak_at: Duration,
    longest_gap: Duration,
    errors: Vec<String>,
}

/// The background sampling of [`ServerDatabases::sampler`](super::ServerDatabases::sampler); dropping it stops it.
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    /// The peak since the last [`take_peak`](Sampler::take_peak).
    window: Arc<AtomicI64>,
    started: Instant,
    thread: Option<SamplerThread>,
}

type SamplerThread = std::thread::JoinHandle<(Samples, Vec<Result<Duration, String>>)>;

impl Sampler {
    /// The largest session count sampled since the previous call (or the start),
    /// starting a new window: one sampler (one admin connection, opened while the
    /// server still had room) can measure several phases.
    pub fn take_peak(&self) -> i64 {
        self.window.swap(0, Ordering::AcqRel)
    }

    /// Stops sampling and probing (within one interval, or one probe) and reports.
    pub async fn stop(mut self) -> SamplerReport {
        self.stop.store(true, Ordering::Release);
        let duration = self.started.elapsed();
        let thread = self.thread.take().expect("sampler stopped once");
        let (samples, probes) = tokio::task::spawn_blocking(move || thread.join())
            .await
            .expect("join the sampler thread")
            .expect("sampler thread");
        SamplerReport {
            duration,
            samples: samples.count,
            peak: samples.peak,
            peak_at: samples.peak_at,
            longest_gap: samples.longest_gap,
            errors: samples.errors,
            probes,
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// What a [`Sampler`] saw.
#[derive(Debug, Clone)]
pub struct SamplerReport {
    /// How long it ran.
    pub duration: Duration,
    /// Successful samples.
    pub samples: usize,
    /// The largest session count sampled.
    pub peak: i64,
    /// When the peak was first seen, from the start of sampling.
    pub peak_at: Duration,
    /// The longest time between two successful samples.
    pub longest_gap: Duration,
    /// Failed samples.
    pub errors: Vec<String>,
    /// Each probe connection: how long it took, or why it failed.
    pub probes: Vec<Result<Duration, String>>,
}

impl SamplerReport {
    /// The probes that failed.
    pub fn failed_probes(&self) -> Vec<&str> {
        self.probes
            .iter()
            .filter_map(|p| p.as_ref().err().map(String::as_str))
            .collect()
    }

    /// One line: samples, peak, gaps, probes.
    pub fn summary(&self) -> String {
        format!(
            "{} samples in {:.1?} (longest gap {:.0?}, {} failed), peak {} sessions at {:.1?}; \
             {} probe connections, {} failed",
            self.samples,
            self.duration,
            self.longest_gap,
            self.errors.len(),
            self.peak,
            self.peak_at,
            self.probes.len(),
            self.failed_probes().len()
        )
    }
}
