//! The pace of a benchmark's client workers (the soak's, `bench-move`'s):
//! first as fast as they can go (the warm-up, which measures what the
//! machine serves), then a fixed offered load below that.
//!
//! A closed loop at full speed keeps every core busy, so any extra work a
//! fault brings anywhere on the machine (a database server starting fifty
//! sessions again, on the cores the app and the load generator share) takes
//! throughput from every tenant, and "the others' throughput" measures the
//! machine rather than the app's isolation of tenants. Below saturation, the
//! others' throughput stays at their offered load unless the app itself holds
//! them up, which is what the soak checks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// How far behind its schedule a worker may fall and still catch up by
/// sending at once: a worker held up longer (on a restarting database)
/// resumes the schedule rather than bursting.
const MAX_BACKLOG: Duration = Duration::from_secs(1);

/// The time between two requests of one worker, shared by all of them:
/// zero while they go as fast as they can.
#[derive(Debug, Default)]
pub struct Pace {
    interval_ns: AtomicU64,
}

impl Pace {
    /// Every worker from now on sends `rate` requests per second in all,
    /// spread evenly over the `workers`.
    pub fn offer(&self, rate: f64, workers: usize) {
        let interval = workers as f64 / rate.max(f64::MIN_POSITIVE);
        let ns = Duration::try_from_secs_f64(interval).map_or(u64::MAX, |d| {
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
        });
        self.interval_ns.store(ns.max(1), Ordering::Relaxed);
    }

    fn interval(&self) -> Option<Duration> {
        match self.interval_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }
}

/// One worker's schedule.
#[derive(Debug, Default)]
pub struct Schedule {
    next: Option<Instant>,
}

impl Schedule {
    /// Waits for this worker's next send time: none while the pace is
    /// unset; then one interval after the previous send time, at once if
    /// that has passed (catching up at most `MAX_BACKLOG`).
    pub async fn wait(&mut self, pace: &Pace) {
        let Some(interval) = pace.interval() else {
            return;
        };
        let now = Instant::now();
        let due = match self.next {
            Some(next) => now
                .checked_sub(MAX_BACKLOG)
                .map_or(next, |floor| next.max(floor)),
            None => now,
        };
        self.next = Some(due + interval);
        tokio::time::sleep_until(due).await;
    }
}

/// `--load`: more than 0, at most 1.
pub fn load_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err(format!("{s:?} is not a fraction above 0 and at most 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn unpaced_workers_do_not_wait() {
        let (pace, mut schedule) = (Pace::default(), Schedule::default());
        let start = Instant::now();
        for _ in 0..100 {
            schedule.wait(&pace).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn paced_workers_send_at_the_offered_rate() {
        let pace = Pace::default();
        // 100 requests per second over 4 workers: 25 each, every 40 ms.
        pace.offer(100.0, 4);
        let mut schedule = Schedule::default();
        let start = Instant::now();
        for _ in 0..26 {
            schedule.wait(&pace).await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(1000));
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_worker_catches_up_at_most_a_second() {
        let pace = Pace::default();
        pace.offer(100.0, 1);
        let mut schedule = Schedule::default();
        schedule.wait(&pace).await;
        // Held up for 3 s by one slow request.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let late = Instant::now();
        // 1 s of backlog at 10 ms each goes out at once ...
        for _ in 0..101 {
            schedule.wait(&pace).await;
        }
        assert_eq!(late.elapsed(), Duration::ZERO);
        // ... then the schedule resumes.
        schedule.wait(&pace).await;
        assert_eq!(late.elapsed(), Duration::from_millis(10));
    }
}
