//! Every request's outcome, and the figures of a fault drawn from them: the
//! affected tenants' answers during it, their recovery afterwards, and the
//! other tenants' throughput during it against before any fault.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// One request.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// When it was sent, since the run started.
    pub at: Duration,
    /// How long the answer took.
    pub took: Duration,
    /// The tenant's index.
    pub tenant: usize,
    /// The HTTP status; 0 when no answer came (connection error or client timeout).
    pub status: u16,
}

/// Every outcome of a run.
#[derive(Default)]
pub struct Outcomes(Mutex<Vec<Outcome>>);

impl Outcomes {
    /// Records one.
    pub fn push(&self, outcome: Outcome) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(outcome);
    }

    /// All of them, by sending time.
    pub fn sorted(&self) -> Vec<Outcome> {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        all.sort_by_key(|o| o.at);
        all
    }
}

/// Per-status counts.
pub fn by_status(outcomes: &[Outcome]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for o in outcomes {
        *counts.entry(o.status).or_default() += 1;
    }
    counts
}

/// What a fault did to the requests.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FaultFigures {
    /// The affected tenants' answers from the fault's start to its end, by status.
    pub affected_statuses: BTreeMap<u16, usize>,
    /// Seconds from the fault's end until every affected tenant answered 2xx
    /// again (`None`: one never did).
    pub recovery_s: Option<f64>,
    /// The other tenants' requests per second during the fault over theirs
    /// just before it (up to 5 s, after the previous fault's end).
    pub others_throughput_ratio: Option<f64>,
    /// The same ratio for a window as long, with no fault, just before the
    /// fault, against the time before that: how much the measure varies on
    /// its own.
    pub others_control_ratio: Option<f64>,
    /// The window measured as "during" (at least a second), in seconds since
    /// the run started.
    pub during_s: (f64, f64),
    /// The window measured as "before".
    pub before_s: (f64, f64),
    /// The longest answer of any request sent during the fault, in seconds.
    pub slowest_s: f64,
}

/// The figures of a fault from `start` to `end` affecting `affected`;
/// nothing before `quiet_since` (the previous fault's end) counts as the
/// others' normal throughput.
pub fn fault_figures(
    outcomes: &[Outcome],
    affected: &[usize],
    start: Duration,
    end: Duration,
    quiet_since: Duration,
) -> FaultFigures {
    let is_affected = |o: &Outcome| affected.contains(&o.tenant);
    let during: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.at >= start && o.at <= end)
        .collect();
    let mut affected_statuses = BTreeMap::new();
    for o in during.iter().filter(|o| is_affected(o)) {
        *affected_statuses.entry(o.status).or_default() += 1;
    }
    // Recovery: for each affected tenant, its first 2xx sent after the end.
    let mut recovery = Some(Duration::ZERO);
    for tenant in affected {
        let first_ok = outcomes
            .iter()
            .filter(|o| o.tenant == *tenant && o.at >= end && (200..300).contains(&o.status))
            .map(|o| o.at + o.took)
            .next();
        recovery = match (recovery, first_ok) {
            (Some(r), Some(t)) => Some(r.max(t.saturating_sub(end))),
            _ => None,
        };
    }
    let rate = |from: Duration, to: Duration| {
        let n = outcomes
            .iter()
            .filter(|o| !is_affected(o) && o.at >= from && o.at < to)
            .count();
        let secs = to.saturating_sub(from).as_secs_f64();
        (secs > 0.0).then(|| n as f64 / secs)
    };
    // A window of at least a second, so an instant fault is measured too.
    let window_end = end.max(start + Duration::from_secs(1));
    // Normal throughput: the quiet time just before, as the data then was
    // about the size it is during the fault (lists grow over a run).
    let before_from = quiet_since.max(start.saturating_sub(Duration::from_secs(5)));
    let ratio = |during: Option<f64>, before: Option<f64>| match (during, before) {
        (Some(during), Some(before)) if before > 0.0 => Some(during / before),
        _ => None,
    };
    let others_throughput_ratio = ratio(rate(start, window_end), rate(before_from, start));
    // The control: a window of the same length ending at the fault's start,
    // against at least a second before it.
    let control_from = start.saturating_sub(window_end - start);
    let others_control_ratio = (control_from >= before_from + Duration::from_secs(1))
        .then(|| ratio(rate(control_from, start), rate(before_from, control_from)))
        .flatten();
    FaultFigures {
        affected_statuses,
        recovery_s: recovery.map(|d| d.as_secs_f64()),
        others_throughput_ratio,
        others_control_ratio,
        during_s: (start.as_secs_f64(), window_end.as_secs_f64()),
        before_s: (before_from.as_secs_f64(), start.as_secs_f64()),
        slowest_s: during
            .iter()
            .map(|o| o.took.as_secs_f64())
            .fold(0.0, f64::max),
    }
}
