//! `migration query SQL`: read-only SQL over every tenant (or the selected
//! ones), a bounded number at once within the servers' budgets, each
//! tenant's rows reported ([`sea_orm_tenant::fan_out`]). For reports and
//! checks across tenants; Ctrl-C stops it and reports what ran.

use std::time::Duration;

use sea_orm_tenant::fan_out::{FanOutReport, RunOutcome, read_only_query};
use sea_orm_tenant::sea_orm::JsonValue;
use sea_orm_tenant::{TenantConnections, TenantKey};

use super::exit::{EXIT_FAILED, EXIT_OK, Format};

/// Runs `sql` read-only in each of `tenants`; exit 0 when every tenant
/// answered, 1 otherwise.
pub(crate) async fn run_query(
    store: &TenantConnections,
    tenants: Vec<TenantKey>,
    sql: &str,
    jobs: usize,
    timeout: Option<Duration>,
    format: Format,
) -> u8 {
    let db = store.db();
    let fan_out = match store
        .fan_out()
        .select(tenants.iter().map(TenantKey::as_str))
    {
        Ok(fan_out) => fan_out.jobs(jobs).tenant_timeout(timeout),
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILED;
        }
    };
    let interrupted = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let report = fan_out
        .run_until(
            |_| {
                let db = db.clone();
                async move { read_only_query(&db, sql).await }
            },
            interrupted,
        )
        .await;
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILED;
        }
    };
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Format::Text => print!("{}", text(&report)),
    }
    if report.is_success() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// Each tenant's rows, one JSON object a line, then a summary.
fn text(report: &FanOutReport<Vec<JsonValue>>) -> String {
    let mut runs: Vec<_> = report.tenants.iter().collect();
    runs.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    let mut out = String::new();
    let mut rows = 0;
    for run in runs {
        let ms = run.duration.as_millis();
        match &run.outcome {
            RunOutcome::Done(values) => {
                rows += values.len();
                out += &format!("{}: {} row(s) in {ms} ms\n", run.tenant, values.len());
                for value in values {
                    out += &format!("  {value}\n");
                }
            }
            RunOutcome::Failed(e) => out += &format!("{}: FAILED: {e}\n", run.tenant),
            other => out += &format!("{}: {}\n", run.tenant, other.as_str()),
        }
    }
    let failed = report.failures().count();
    out += &format!(
        "{} tenant(s), {failed} not answered, {rows} row(s) in {} ms{}\n",
        report.tenants.len(),
        report.duration.as_millis(),
        if report.cancelled {
            " (interrupted)"
        } else {
            ""
        }
    );
    out
}
