//! The CPU the database servers use during a soak, sampled from `/proc`
//! (Linux; empty elsewhere): on a machine where the app, the load generator
//! and the database servers share the cores, a database server's own work
//! after a fault (ending and starting dozens of sessions, a restart's
//! recovery) takes CPU from every tenant, and the report shows how much.
//! Counted per process, so sessions that end are neither lost nor counted
//! twice (see `interval_ticks`).

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
            let (mut previous, mut used) = (None, 0i64);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stopped => return,
                }
                let Some(now) = db_processes() else { return };
                used += previous.as_ref().map_or(0, |p| interval_ticks(p, &now));
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
        (span > 0.0).then(|| ((last.1 - first.1) / span).max(0.0))
    }
}

/// USER_HZ, the unit of `/proc/<pid>/stat` times: 100 on every Linux this runs on.
const TICKS_PER_SECOND: f64 = 100.0;

/// A database server process as last read: identified by pid and start time
/// (a pid can be reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ProcessId {
    pid: u32,
    started: u64,
}

/// Its parent and CPU ticks (user + system): its own, and those of its
/// children that ended (their whole life, added to it when each ends).
#[derive(Debug, Clone, Copy, Default)]
struct ProcessTicks {
    parent: u32,
    own: u64,
    ended_children: u64,
}

type Snapshot = std::collections::HashMap<ProcessId, ProcessTicks>;

/// The ticks used between two snapshots. Counted per process, so a session
/// that ends does not bring its whole life's time into the interval it ended
/// in (as summing the server's `cutime` would: a kill of 50 sessions looked
/// like seconds of CPU in one tenth of a second). The time a process used
/// since it was last seen, or in all if it was never seen (a session that
/// lived less than a sampling period), still counts: its parent's
/// ended-children time grew by its whole life, of which what was already
/// counted is subtracted. Signed: a session read just before it ended and
/// its parent read just after counts twice in one interval and is taken back
/// in the next, so only a sum over intervals is right.
fn interval_ticks(before: &Snapshot, now: &Snapshot) -> i64 {
    let mut used: i64 = 0;
    for (id, t) in now {
        match before.get(id) {
            Some(b) => {
                used += t.own as i64 - b.own as i64;
                used += t.ended_children as i64 - b.ended_children as i64;
            }
            // Started within the interval.
            None => used += (t.own + t.ended_children) as i64,
        }
    }
    let alive: std::collections::HashSet<u32> = now.keys().map(|id| id.pid).collect();
    for (id, b) in before {
        // Ended, and its parent (still here) took in its whole life: the
        // part already counted must not count twice. A process whose parent
        // is not a database process (a restarted server's main process)
        // just stops counting.
        if !now.contains_key(id) && alive.contains(&b.parent) {
            used -= (b.own + b.ended_children) as i64;
        }
    }
    used
}

/// Every PostgreSQL and MariaDB process now. The parents of others are read
/// again last: a session that ended while the snapshot was taken is then
/// either in it or in its parent's ended-children time, and counted in the
/// interval it ended in.
fn db_processes() -> Option<Snapshot> {
    let mut snapshot: Snapshot = std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().to_string_lossy().parse::<u32>().ok())
        .filter_map(db_process)
        .collect();
    let parents: std::collections::HashSet<u32> = snapshot.values().map(|t| t.parent).collect();
    let reread: Vec<u32> = snapshot
        .keys()
        .map(|id| id.pid)
        .filter(|pid| parents.contains(pid))
        .collect();
    for pid in reread {
        if let Some((id, ticks)) = db_process(pid) {
            snapshot.insert(id, ticks);
        }
    }
    Some(snapshot)
}

/// Process `pid`, if it is a database server's.
fn db_process(pid: u32) -> Option<(ProcessId, ProcessTicks)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let command = &stat[open + 1..close];
    if !(command.starts_with("postgres") || command.starts_with("mariadbd")) {
        return None;
    }
    // Fields after the command: state is the 1st, the parent's pid the 2nd,
    // utime, stime, cutime and cstime the 12th to 15th, the start time the
    // 20th.
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let sum = |range: std::ops::Range<usize>| range.filter_map(field).sum::<u64>();
    Some((
        ProcessId {
            pid,
            started: field(19)?,
        },
        ProcessTicks {
            parent: u32::try_from(field(1)?).ok()?,
            own: sum(11..13),
            ended_children: sum(13..15),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: u32, parent: u32, own: u64, ended_children: u64) -> (ProcessId, ProcessTicks) {
        let id = ProcessId {
            pid,
            started: u64::from(pid) * 7,
        };
        (
            id,
            ProcessTicks {
                parent,
                own,
                ended_children,
            },
        )
    }

    #[test]
    fn ended_sessions_count_once_and_only_their_last_interval() {
        // The server (pid 1) with sessions 10 and 11, which have used 500
        // and 300 ticks so far.
        let before: Snapshot = [
            process(1, 0, 100, 0),
            process(10, 1, 500, 0),
            process(11, 1, 300, 0),
        ]
        .into();
        // Session 10 ended after 20 more ticks (520 in all), session 13
        // started and ended within the interval (7 ticks), session 12 is new
        // (4 ticks), session 11 used 10 and the server 1.
        let now: Snapshot = [
            process(1, 0, 101, 520 + 7),
            process(11, 1, 310, 0),
            process(12, 1, 4, 0),
        ]
        .into();
        assert_eq!(interval_ticks(&before, &now), 20 + 7 + 4 + 10 + 1);
    }

    #[test]
    fn a_session_read_just_before_it_ended_is_taken_back_in_the_next_interval() {
        let first: Snapshot = [process(1, 0, 100, 0), process(10, 1, 10, 0)].into();
        // Session 10 read at 15 ticks, then ended, then its parent read.
        let second: Snapshot = [process(1, 0, 100, 15), process(10, 1, 15, 0)].into();
        let third: Snapshot = [process(1, 0, 100, 15)].into();
        assert_eq!(interval_ticks(&first, &second), 5 + 15);
        assert_eq!(interval_ticks(&second, &third), -15);
    }

    #[test]
    fn a_restarted_server_counts_only_its_new_processes() {
        let before: Snapshot = [process(1, 0, 100, 900), process(10, 1, 500, 0)].into();
        let now: Snapshot = [process(2, 0, 3, 0), process(20, 2, 2, 0)].into();
        assert_eq!(interval_ticks(&before, &now), 5);
    }

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
