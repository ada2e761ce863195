//! What a load run did: answers, errors, connections, every latency.

use std::time::Duration;

use crate::bench::percentile::percentile;

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    /// Answers with status 200.
    pub ok: u64,
    /// Answers with another status.
    pub non_200: u64,
    /// Requests with no usable answer: connection refused or broken, malformed
    /// answer, or no answer within the request timeout.
    pub failed: u64,
    /// The first non-200 status or failure, for the report.
    pub first_error: Option<String>,
    /// TCP connections opened.
    pub connects: u64,
    /// Length of the run: the duration, or less when the request budget ran out first.
    pub elapsed: Duration,
    /// Latency of every answered request (200 or not), sorted.
    pub latencies: Vec<Duration>,
}

impl LoadResult {
    /// Answers 200 per second.
    pub fn requests_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// Non-200 answers and failed requests.
    pub fn errors(&self) -> u64 {
        self.non_200 + self.failed
    }

    /// The `p` percentile (a fraction, 0 to 1) of the latencies, by nearest
    /// rank (see [`crate::bench::percentile`]); zero when nothing was answered.
    pub fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }

    pub(super) fn merge(&mut self, other: Self) {
        self.ok += other.ok;
        self.non_200 += other.non_200;
        self.failed += other.failed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.connects += other.connects;
        self.latencies.extend(other.latencies);
    }

    pub(super) fn note_error(&mut self, error: String) {
        if self.first_error.is_none() {
            self.first_error = Some(error);
        }
    }
}
