//! HTTP load for the benchmarks: `GET` by many workers for a fixed time, a
//! seeded random tenant per request or one hot tenant, with every latency.

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::NotesServer;
use crate::scale::{Sampler, SplitMix64};

/// The requests of one run.
#[derive(Debug, Default)]
pub struct Load {
    /// Answers 200.
    pub ok: usize,
    /// Other answers and requests with no answer.
    pub errors: usize,
    /// The first error, for the report.
    pub first_error: Option<String>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Every request's latency, sorted.
    pub latencies: Vec<Duration>,
}

/// One measured run.
#[derive(Debug)]
pub struct Run {
    /// Its requests.
    pub load: Load,
    /// Peak of the server's sessions on the test databases during the run.
    pub peak: i64,
}

impl Run {
    /// Successful requests per second.
    pub fn rps(&self) -> f64 {
        self.load.ok as f64 / self.load.elapsed.as_secs_f64()
    }

    /// The latency below which a fraction `p` of the requests answered.
    pub fn percentile(&self, p: f64) -> Duration {
        let latencies = &self.load.latencies;
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len());
        latencies[i - 1]
    }
}

/// Which tenants a run asks for.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// A seeded random URL per request.
    Random,
    /// Always the first URL.
    Hot,
}

/// GET `urls` by `concurrency` workers for `duration`: a seeded random URL per
/// request, or always the first. Errors are answers other than 200 and
/// requests with no answer.
pub async fn load(
    server: &NotesServer,
    urls: &[String],
    mode: Mode,
    concurrency: usize,
    duration: Duration,
    seed: u64,
) -> Load {
    let started = Instant::now();
    let workers = (0..concurrency).map(|w| {
        let client = server.client().clone();
        let mut rng = SplitMix64::new(seed ^ (w as u64).wrapping_mul(0x9E37_79B9));
        async move {
            let (mut ok, mut errors, mut first_error) = (0, 0, None);
            let mut latencies = Vec::new();
            while started.elapsed() < duration {
                let url = match mode {
                    Mode::Random => &urls[rng.below(urls.len())],
                    Mode::Hot => &urls[0],
                };
                let sent = Instant::now();
                let outcome = match client.get(url).send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        match resp.bytes().await {
                            Ok(_) if status == 200 => Ok(()),
                            Ok(body) => Err(format!(
                                "{status} {}",
                                String::from_utf8_lossy(&body)
                                    .chars()
                                    .take(200)
                                    .collect::<String>()
                            )),
                            Err(e) => Err(format!("{status}, body: {e}")),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                latencies.push(sent.elapsed());
                match outcome {
                    Ok(()) => ok += 1,
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (ok, errors, first_error, latencies)
        }
    });
    let results = join_all(workers).await;
    let mut total = Load {
        elapsed: started.elapsed(),
        ..Load::default()
    };
    for (ok, errors, first_error, latencies) in results {
        total.ok += ok;
        total.errors += errors;
        total.first_error = total.first_error.or(first_error);
        total.latencies.extend(latencies);
    }
    total.latencies.sort_unstable();
    total
}

/// A warm-up of `warmup`, then a measured run of `seconds` with the peak of
/// `sampler` over it.
pub async fn measure(
    server: &NotesServer,
    sampler: &Sampler,
    urls: &[String],
    mode: Mode,
    concurrency: usize,
    (warmup, seconds): (Duration, Duration),
    seed: u64,
) -> Run {
    let warm = seed.rotate_left(7);
    load(server, urls, mode, concurrency, warmup, warm).await;
    sampler.take_peak();
    let load = load(server, urls, mode, concurrency, seconds, seed).await;
    Run {
        load,
        peak: sampler.take_peak(),
    }
}

/// The median of `values` (the mean of the middle two for an even count; 0
/// for none): what the benchmarks report over interleaved rounds, so one round
/// disturbed by the machine does not move the figure.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}
