//! The CPU shares of a measured run, from `/proc` (Linux): the server
//! under test, this process (the load generator), and every other process
//! (noise when high: the run is flagged).

/// Which processes are the server under test.
#[derive(Debug, Clone, Copy)]
pub enum Processes {
    /// One process (notes-server, all its threads).
    Pid(u32),
    /// A whole process group (gunicorn's master and workers).
    Group(u32),
}

/// CPU time from `/proc` (Linux), in clock ticks summed over all cores.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
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
pub struct CpuUse {
    /// The server's CPU, in % of one core (200 = two cores busy).
    pub server_percent: f64,
    /// This process (load generator included), in % of one core.
    pub own_percent: f64,
    /// Every other process, in % of the whole machine: noise when high.
    pub others_percent: f64,
}

/// Above this share of the machine used by other processes, a run is flagged.
pub const OTHERS_LIMIT_PERCENT: f64 = 10.0;

impl CpuSample {
    /// The counters now, `server` being the processes under test.
    pub fn take(server: Processes) -> Option<Self> {
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
    pub fn until(&self, end: &Self) -> Option<CpuUse> {
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
