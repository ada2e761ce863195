//! The CPU the database servers use during a soak, sampled from `/proc`
//! (Linux; empty elsewhere): on a machine where the app, the load generator
//! and the database servers share the cores, a database server's own work
//! after a fault (ending and starting dozens of sessions, a restart's
//! recovery) takes CPU from every tenant, and the report shows how much.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the processes are read.
const EVERY: Duration = Duration::from_millis(100);

/// Samples of the database servers' CPU time, taken in the background.
#[derive(Clone, Default)]
pub struct DbCpu {
    /// (since the soak started, CPU seconds the database servers used since
    /// sampling began).
    samples: Arc<Mutex<Vec<(Duration, f64)>>>,
}

impl DbCpu {
    /// Samples every 100 ms from now until `stop` is dropped; times are
    /// since `started`.
    pub fn start(started: Instant) -> (Self, tokio::sync::oneshot::Sender<()>) {
        let cpu = Self::default();
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let samples = Arc::clone(&cpu.samples);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            let (mut previous, mut used) = (None, 0u64);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stopped => return,
                }
                let Some(now) = db_cpu_ticks() else { return };
                // A server that restarts takes its time back: that interval
                // counts as nothing.
                used += previous.map_or(0, |p| now.saturating_sub(p));
                previous = Some(now);
                samples
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((started.elapsed(), used as f64 / TICKS_PER_SECOND));
            }
        });
        (cpu, stop)
    }

    /// Cores the database servers used on average from `from` to `to`, or
    /// `None` without two samples there.
    pub fn cores(&self, from: Duration, to: Duration) -> Option<f64> {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let within: Vec<&(Duration, f64)> = samples
            .iter()
            .filter(|(at, _)| *at >= from && *at <= to)
            .collect();
        let (first, last) = (within.first()?, within.last()?);
        let span = last.0.saturating_sub(first.0).as_secs_f64();
        (span > 0.0).then(|| (last.1 - first.1) / span)
    }
}

/// USER_HZ, the unit of `/proc/<pid>/stat` times: 100 on every Linux this runs on.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU ticks (user + system) of every PostgreSQL and MariaDB process now,
/// with those of their children that ended: a PostgreSQL session's time,
/// its exit included, moves to the server's main process when it ends, so
/// sessions ended by the dozen (a kill) are counted, not lost with them.
fn db_cpu_ticks() -> Option<u64> {
    let mut ticks = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        if entry.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let command = &stat[open + 1..close];
        if !(command.starts_with("postgres") || command.starts_with("mariadbd")) {
            continue;
        }
        // Fields after the command: state is the 1st; utime, stime, cutime
        // and cstime the 12th to 15th.
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        ticks += (11..15)
            .filter_map(|i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
            .sum::<u64>();
    }
    Some(ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_are_the_cpu_time_used_over_the_span() {
        let cpu = DbCpu::default();
        {
            let mut s = cpu.samples.lock().unwrap();
            // 0.5 s of CPU per second, then none for 0.1 s, then 1.0 per second.
            for (ms, secs) in [(0, 0.0), (1000, 0.5), (2000, 1.0), (2100, 1.0), (3100, 2.0)] {
                s.push((Duration::from_millis(ms), secs));
            }
        }
        let cores = |a: u64, b: u64| {
            cpu.cores(Duration::from_millis(a), Duration::from_millis(b))
                .map(|c| (c * 100.0).round() / 100.0)
        };
        assert_eq!(cores(0, 2000), Some(0.5));
        assert_eq!(cores(2100, 3100), Some(1.0));
        assert_eq!(cores(0, 3100), Some(0.65));
        assert_eq!(cores(5000, 6000), None);
    }
}
