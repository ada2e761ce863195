//! A database's part of a run turned into its [`TenantReport`]: under the
//! per-tenant timeout, with its outcome, migrations and error.

use std::future::Future;
use std::time::{Duration, Instant};

use super::apply::Applied;
use super::error::TenantFailure;
use super::operation::Operation;
use super::report::{Outcome, TenantReport};

/// What one database's part of a run gives: what was applied, or why not
/// (with where the database stands after the failure).
pub(super) type WorkResult = Result<Applied, (TenantFailure, Option<Applied>)>;

/// Runs `work` under the timeout and turns its result into a report.
pub(super) async fn finish(
    tenant: &str,
    op: Operation,
    timeout: Option<Duration>,
    work: impl Future<Output = WorkResult>,
) -> TenantReport {
    let started = Instant::now();
    let result = match timeout {
        Some(limit) => match tokio::time::timeout(limit, work).await {
            Ok(result) => result,
            Err(_) => Err((TenantFailure::Timeout(limit), None)),
        },
        None => work.await,
    };
    let elapsed = started.elapsed();
    match result {
        Ok(applied) => {
            let outcome = match op {
                Operation::Status if applied.pending.is_empty() => Outcome::UpToDate,
                Operation::Status => Outcome::Behind,
                _ if applied.changed.is_empty() => Outcome::UpToDate,
                _ => Outcome::Migrated,
            };
            tracing::info!(tenant, op = %op, outcome = %outcome, applied = applied.changed.len(), ms = elapsed.as_millis() as u64, "tenant done");
            TenantReport {
                tenant: tenant.to_owned(),
                outcome,
                migrations: applied.changed,
                pending: applied.pending,
                version: applied.version,
                duration_ms: elapsed.as_millis() as u64,
                error: None,
                migrated_with: None,
            }
        }
        Err((failure, after)) => {
            tracing::warn!(tenant, op = %op, error = %failure, "tenant failed");
            failed_report(tenant.to_owned(), failure, after, elapsed)
        }
    }
}

pub(super) fn failed_report(
    tenant: String,
    failure: TenantFailure,
    after: Option<Applied>,
    elapsed: Duration,
) -> TenantReport {
    let after = after.unwrap_or_default();
    TenantReport {
        tenant,
        outcome: Outcome::Failed,
        migrations: after.changed,
        pending: after.pending,
        version: after.version,
        duration_ms: elapsed.as_millis() as u64,
        error: Some(failure.to_string()),
        migrated_with: None,
    }
}
