//! What a fan-out did: one [`TenantRun`] per tenant.

use std::time::Duration;

use serde::Serialize;

use crate::key::TenantKey;

/// How one tenant's run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "value", rename_all = "kebab-case")]
pub enum RunOutcome<T> {
    /// The operation returned this.
    Done(T),
    /// The operation, or entering the tenant, failed (the error's message;
    /// passwords are never in it), or it panicked.
    Failed(String),
    /// The tenant's time limit passed first.
    TimedOut,
    /// The fan-out was cancelled before this tenant finished (or started).
    Cancelled,
}

impl<T> RunOutcome<T> {
    /// Whether the operation finished with a value.
    pub fn is_done(&self) -> bool {
        matches!(self, RunOutcome::Done(_))
    }

    /// The name used in reports: `done`, `failed`, `timed-out`, `cancelled`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunOutcome::Done(_) => "done",
            RunOutcome::Failed(_) => "failed",
            RunOutcome::TimedOut => "timed-out",
            RunOutcome::Cancelled => "cancelled",
        }
    }
}

/// One tenant's part of a fan-out.
#[derive(Debug, Clone, Serialize)]
pub struct TenantRun<T> {
    /// The tenant.
    pub tenant: TenantKey,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: RunOutcome<T>,
    /// Wall time spent on it (waiting for a connection included).
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
}

impl<T> TenantRun<T> {
    pub(super) fn cancelled(tenant: TenantKey) -> Self {
        Self {
            tenant,
            outcome: RunOutcome::Cancelled,
            duration: Duration::ZERO,
        }
    }
}

/// Passed to [`FanOut::on_progress`](super::FanOut::on_progress) as each
/// tenant finishes.
#[derive(Debug)]
pub struct FanOutProgress<'a> {
    /// The tenant that just finished.
    pub tenant: &'a TenantKey,
    /// Tenants finished so far, this one included.
    pub finished: usize,
    /// Of those, the ones that did not finish with a value.
    pub failed: usize,
    /// Tenants in the fan-out.
    pub total: usize,
}

/// Every tenant of a fan-out, in the order they finished (then the
/// cancelled ones, in selection order).
#[derive(Debug, Clone, Serialize)]
pub struct FanOutReport<T> {
    /// One entry per tenant selected.
    pub tenants: Vec<TenantRun<T>>,
    /// Wall time of the whole fan-out.
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    /// Whether it was cancelled.
    pub cancelled: bool,
}

impl<T> FanOutReport<T> {
    pub(super) fn new(tenants: Vec<TenantRun<T>>, duration: Duration, cancelled: bool) -> Self {
        Self {
            tenants,
            duration,
            cancelled,
        }
    }

    /// Whether every tenant finished with a value.
    pub fn is_success(&self) -> bool {
        self.tenants.iter().all(|t| t.outcome.is_done())
    }

    /// The tenants that did not finish with a value.
    pub fn failures(&self) -> impl Iterator<Item = &TenantRun<T>> {
        self.tenants.iter().filter(|t| !t.outcome.is_done())
    }

    /// The run of `tenant`, if it was selected.
    pub fn tenant(&self, tenant: &str) -> Option<&TenantRun<T>> {
        self.tenants.iter().find(|t| t.tenant.as_str() == tenant)
    }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
