//! Progress while a run goes on: an indicatif bar on a terminal (tenants done
//! out of total, failures so far, tenants in progress), plain lines otherwise.
//! Everything goes to standard error, so standard output keeps only the report.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::runner::{Outcome, TenantReport};

/// How a run shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// Nothing (the library default; the run still logs through `tracing`).
    #[default]
    Off,
    /// A bar when standard error is a terminal, plain lines otherwise (the CLI default).
    Auto,
    /// Always a bar.
    Bar,
    /// Always one line per finished tenant.
    Lines,
}

/// Tenants shown by name in the bar's message.
const SHOWN_CURRENT: usize = 3;

pub(crate) struct Progress {
    kind: Kind,
    total: usize,
    state: Mutex<State>,
}

enum Kind {
    Off,
    Bar(ProgressBar),
    Lines,
}

#[derive(Default)]
struct State {
    done: usize,
    failed: usize,
    current: BTreeSet<String>,
}

impl Progress {
    pub(crate) fn new(mode: ProgressMode, total: usize) -> Self {
        let bar = || {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            Kind::Bar(bar)
        };
        let kind = match mode {
            ProgressMode::Off => Kind::Off,
            ProgressMode::Bar => bar(),
            ProgressMode::Lines => Kind::Lines,
            ProgressMode::Auto if std::io::stderr().is_terminal() => bar(),
            ProgressMode::Auto => Kind::Lines,
        };
        Self {
            kind,
            total,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn started(&self, tenant: &str) {
        if let Kind::Bar(bar) = &self.kind {
            let mut state = self.state();
            state.current.insert(tenant.to_owned());
            bar.set_message(state.message());
        }
    }

    pub(crate) fn finished(&self, report: &TenantReport) {
        let detail = match (&report.error, report.migrations.len()) {
            (Some(why), _) if report.outcome != Outcome::Failed => format!(": {why}"),
            (Some(_), _) | (None, 0) => String::new(),
            (None, n) => format!(" ({n} migrations)"),
        };
        self.finished_tenant(
            &report.tenant,
            report.outcome.as_str(),
            report
                .error
                .as_deref()
                .filter(|_| report.outcome == Outcome::Failed),
            &detail,
            report.duration_ms,
        );
    }

    /// One tenant done: `outcome` is the word shown, `error` set when it failed.
    pub(crate) fn finished_tenant(
        &self,
        tenant: &str,
        outcome: &str,
        error: Option<&str>,
        detail: &str,
        duration_ms: u64,
    ) {
        if matches!(self.kind, Kind::Off) {
            return;
        }
        let mut state = self.state();
        state.done += 1;
        if error.is_some() {
            state.failed += 1;
        }
        state.current.remove(tenant);
        match &self.kind {
            Kind::Bar(bar) => {
                if let Some(error) = error {
                    bar.println(format!("{tenant}: failed: {error}"));
                }
                bar.set_position(state.done as u64);
                bar.set_message(state.message());
            }
            Kind::Lines => {
                let detail = match error {
                    Some(e) => format!(": {e}"),
                    None => detail.to_owned(),
                };
                eprintln!(
                    "[{}/{}] {tenant}: {outcome}{detail} in {duration_ms} ms",
                    state.done, self.total,
                );
            }
            Kind::Off => {}
        }
    }

    pub(crate) fn finish(&self) {
        if let Kind::Bar(bar) = &self.kind {
            bar.finish_and_clear();
        }
    }
}

impl State {
    fn message(&self) -> String {
        let mut current: Vec<&str> = self
            .current
            .iter()
            .take(SHOWN_CURRENT)
            .map(String::as_str)
            .collect();
        if self.current.len() > SHOWN_CURRENT {
            current.push("…");
        }
        format!("{} failed | now: {}", self.failed, current.join(", "))
    }
}
