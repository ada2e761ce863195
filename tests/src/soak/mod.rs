//! `just soak`: the release notes-server under sustained load over tenants on
//! every backend, with faults injected on a schedule, and every tenant's rows
//! read back directly afterwards and checked against what the client was told.
//!
//! * [`args`]: the flags;
//! * [`clients`]: which tenants each client worker sends its requests to;
//! * [`history`]: what the client was acknowledged, and the check of a
//!   tenant's rows against it;
//! * [`cpu`]: the database servers' CPU during the run;
//! * [`faults`]: the faults, how each is injected and undone, and which
//!   tenants it affects;
//! * [`outcome`]: every request's outcome, and the per-fault figures drawn
//!   from them;
//! * [`schedule`]: the tenants and the faults' schedule;
//! * [`requests`]: one request of a random kind, and what its answer adds
//!   to the history;
//! * [`read_back`]: a tenant's rows read directly;
//! * [`report`]: the text report.
//!
//! Its `--quick`, `--format`, percentiles, Ctrl-C clean-up, bar and exit
//! code come from the bench harness ([`crate::bench`]).

pub mod args;
pub mod clients;
pub mod cpu;
pub mod faults;
pub mod history;
pub mod outcome;
pub mod read_back;
pub mod report;
pub mod requests;
pub mod schedule;
