//! The result of a run: one [`TenantReport`] per tenant, printed as a table
//! ([`RunReport::to_table`]) or as JSON ([`RunReport::to_json`]).

use std::fmt::{self, Write as _};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::runner::Operation;

/// What happened to one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The operation changed the schema: migrations were applied (`up`, `fresh`,
    /// `refresh`) or rolled back (`down`, `reset`).
    Migrated,
    /// Nothing to do: no pending migration for `up`, nothing applied for `down`;
    /// for `status`, no pending migration.
    UpToDate,
    /// `status` only: the tenant has pending migrations.
    Behind,
    /// The tenant could not be migrated; see [`TenantReport::error`].
    Failed,
    /// The tenant was not attempted (`fail_fast` after a failure, or the shared
    /// database failed first); see [`TenantReport::error`] for why.
    Skipped,
}

impl Outcome {
    /// The name used in the table and in JSON: `migrated`, `up-to-date`, `behind`, `failed`, `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Migrated => "migrated",
            Outcome::UpToDate => "up-to-date",
            Outcome::Behind => "behind",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to one tenant's database (or to the shared database).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantReport {
    /// The tenant's name; [`SHARED`] for the shared database.
    pub tenant: String,
    /// What happened.
    pub outcome: Outcome,
    /// Migrations applied (`up`, `fresh`, `refresh`) or rolled back (`down`,
    /// `reset`), in the order it happened. For a failed tenant, those that took
    /// effect before the failure.
    pub migrations: Vec<String>,
    /// Migrations pending afterwards (for `status`: the ones the tenant is behind by).
    /// Empty when the migration table could not be read.
    pub pending: Vec<String>,
    /// The last applied migration afterwards, if any and if it could be read.
    pub version: Option<String>,
    /// Wall time spent on the tenant, in milliseconds (lock wait included).
    pub duration_ms: u64,
    /// The error of a failed tenant, or why a tenant was skipped.
    pub error: Option<String>,
    /// For a row tenant: the tenant whose run migrated the tables it shares
    /// (a row database is migrated once, and every tenant in it is reported
    /// with that run's outcome). `None` for the tenant that ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrated_with: Option<String>,
}

/// The name reported for the shared database.
pub const SHARED: &str = "(shared)";

impl TenantReport {
    pub(crate) fn skipped(tenant: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            tenant: tenant.into(),
            outcome: Outcome::Skipped,
            migrations: Vec::new(),
            pending: Vec::new(),
            version: None,
            duration_ms: 0,
            error: Some(why.into()),
            migrated_with: None,
        }
    }

    /// The time spent, as a `Duration`.
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.duration_ms)
    }
}

/// Counts of tenants by outcome (the shared database not included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Tenants selected.
    pub total: usize,
    /// [`Outcome::Migrated`].
    pub migrated: usize,
    /// [`Outcome::UpToDate`].
    pub up_to_date: usize,
    /// [`Outcome::Behind`].
    pub behind: usize,
    /// [`Outcome::Failed`].
    pub failed: usize,
    /// [`Outcome::Skipped`].
    pub skipped: usize,
}

impl Summary {
    fn of(tenants: &[TenantReport]) -> Self {
        let mut s = Summary {
            total: tenants.len(),
            ..Summary::default()
        };
        for t in tenants {
            *match t.outcome {
                Outcome::Migrated => &mut s.migrated,
                Outcome::UpToDate => &mut s.up_to_date,
                Outcome::Behind => &mut s.behind,
                Outcome::Failed => &mut s.failed,
                Outcome::Skipped => &mut s.skipped,
            } += 1;
        }
        s
    }
}

/// The result of a whole run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// The operation run.
    pub operation: Operation,
    /// The shared database's report, when a shared migrator was given and the
    /// store has a shared database.
    pub shared: Option<TenantReport>,
    /// One report per selected tenant, sorted by tenant name.
    pub tenants: Vec<TenantReport>,
    /// Counts by outcome.
    pub summary: Summary,
    /// Wall time of the whole run, in milliseconds.
    pub duration_ms: u64,
}

impl RunReport {
    pub(crate) fn new(
        operation: Operation,
        shared: Option<TenantReport>,
        mut tenants: Vec<TenantReport>,
        duration: Duration,
    ) -> Self {
        tenants.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        Self {
            operation,
            shared,
            summary: Summary::of(&tenants),
            tenants,
            duration_ms: duration.as_millis() as u64,
        }
    }

    /// The failed reports: the shared database first, if it failed, then tenants.
    pub fn failures(&self) -> impl Iterator<Item = &TenantReport> {
        self.shared
            .iter()
            .chain(&self.tenants)
            .filter(|t| t.outcome == Outcome::Failed)
    }

    /// The tenants `status` found with pending migrations.
    pub fn behind(&self) -> impl Iterator<Item = &TenantReport> {
        self.shared
            .iter()
            .chain(&self.tenants)
            .filter(|t| t.outcome == Outcome::Behind)
    }

    /// The report of one tenant.
    pub fn tenant(&self, name: &str) -> Option<&TenantReport> {
        self.tenants.iter().find(|t| t.tenant == name)
    }

    /// True when nothing failed and nothing was skipped.
    pub fn is_success(&self) -> bool {
        self.failures().next().is_none() && self.summary.skipped == 0
    }

    /// The CLI's exit code: 0 on success, 1 when a tenant failed or was skipped,
    /// or (with `check`) when a tenant is behind.
    pub fn exit_code(&self, check: bool) -> u8 {
        if !self.is_success() || (check && self.behind().next().is_some()) {
            1
        } else {
            0
        }
    }

    /// The report as pretty-printed JSON (the same fields as this struct).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// The report as a text table, then a summary line, then the failed (and,
    /// for `status`, the behind) tenants with their errors or pending migrations.
    pub fn to_table(&self) -> String {
        let rows: Vec<&TenantReport> = self.shared.iter().chain(&self.tenants).collect();
        let width = |f: &dyn Fn(&TenantReport) -> usize, title: &str| {
            rows.iter()
                .map(|r| f(r))
                .max()
                .unwrap_or(0)
                .max(title.len())
        };
        let w_tenant = width(&|r| r.tenant.len(), "TENANT");
        let w_outcome = width(&|r| r.outcome.as_str().len(), "OUTCOME");
        let changed_title = match self.operation {
            Operation::Down { .. } | Operation::Reset => "ROLLED BACK",
            Operation::Status => "PENDING",
            _ => "APPLIED",
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<w_tenant$}  {:<w_outcome$}  {:>11}  {:>9}  VERSION",
            "TENANT", "OUTCOME", changed_title, "TIME"
        );
        for r in &rows {
            let count = match self.operation {
                Operation::Status => r.pending.len(),
                _ => r.migrations.len(),
            };
            let _ = writeln!(
                out,
                "{:<w_tenant$}  {:<w_outcome$}  {:>11}  {:>9}  {}",
                r.tenant,
                r.outcome.as_str(),
                count,
                format!("{} ms", r.duration_ms),
                r.version.as_deref().unwrap_or("-"),
            );
        }
        let s = &self.summary;
        let _ = writeln!(
            out,
            "\n{} {}: {} tenants: {} migrated, {} up-to-date, {} behind, {} failed, {} skipped in {} ms",
            self.operation,
            if self.is_success() { "ok" } else { "FAILED" },
            s.total,
            s.migrated,
            s.up_to_date,
            s.behind,
            s.failed,
            s.skipped,
            self.duration_ms
        );
        let failed: Vec<_> = self.failures().collect();
        if !failed.is_empty() {
            let _ = writeln!(out, "\nFailed:");
            for r in failed {
                let _ = writeln!(
                    out,
                    "  {}: {}",
                    r.tenant,
                    r.error.as_deref().unwrap_or("unknown error")
                );
            }
        }
        let behind: Vec<_> = self.behind().collect();
        if !behind.is_empty() {
            let _ = writeln!(out, "\nBehind:");
            for r in behind {
                let _ = writeln!(out, "  {}: {}", r.tenant, r.pending.join(", "));
            }
        }
        if s.skipped > 0 {
            let _ = writeln!(out, "\nSkipped:");
            for r in self
                .tenants
                .iter()
                .filter(|t| t.outcome == Outcome::Skipped)
            {
                let _ = writeln!(out, "  {}: {}", r.tenant, r.error.as_deref().unwrap_or(""));
            }
        }
        out
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_table())
    }
}
