//! What the `tenant` verbs print: a create or drop report, the catalog's
//! list, an export's or import's outcome (text or `--format json`).

use std::fmt::Write as _;

use sea_orm_tenant::{CatalogEntry, redact_url};

use crate::cli::exit::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, Format};
use crate::lifecycle::{MoveError, Moved, ProvisionError};
use crate::transfer::{TransferError, Transferred};

/// One tenant's line in a create or drop report.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct Row {
    pub(super) tenant: String,
    pub(super) outcome: &'static str,
    pub(super) place: Option<String>,
    pub(super) version: Option<String>,
    pub(super) from_template: bool,
    pub(super) duration_ms: u64,
    pub(super) error: Option<String>,
}

impl Row {
    pub(super) fn failed(tenant: String, err: &ProvisionError, duration_ms: u64) -> Self {
        Self {
            tenant,
            outcome: "failed",
            place: None,
            version: None,
            from_template: false,
            duration_ms,
            error: Some(err.to_string()),
        }
    }
}

pub(super) fn print_rows(action: &str, rows: &[Row], format: Format) -> u8 {
    let failed = rows.iter().filter(|r| r.error.is_some()).count();
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    match format {
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "action": action,
                "tenants": sorted,
                "ok": rows.len() - failed,
                "failed": failed,
            })
        ),
        Format::Text => {
            let w = sorted
                .iter()
                .map(|r| r.tenant.len())
                .max()
                .unwrap_or(0)
                .max(6);
            let mut out = format!(
                "{:<w$}  {:<8}  {:>9}  WHERE / VERSION\n",
                "TENANT", "OUTCOME", "TIME"
            );
            for r in &sorted {
                let detail = match (&r.place, &r.version) {
                    (Some(p), v) => format!(
                        "{p} / {}{}",
                        v.as_deref().unwrap_or("-"),
                        if r.from_template { " (template)" } else { "" }
                    ),
                    (None, _) => "-".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "{:<w$}  {:<8}  {:>9}  {detail}",
                    r.tenant,
                    r.outcome,
                    format!("{} ms", r.duration_ms)
                );
            }
            let _ = writeln!(
                out,
                "\n{action} {}: {} tenants: {} ok, {failed} failed",
                if failed == 0 { "ok" } else { "FAILED" },
                rows.len(),
                rows.len() - failed
            );
            if failed > 0 {
                let _ = writeln!(out, "\nFailed:");
                for r in sorted.iter().filter(|r| r.error.is_some()) {
                    let _ = writeln!(out, "  {}: {}", r.tenant, r.error.as_deref().unwrap_or(""));
                }
            }
            print!("{out}");
        }
    }
    if failed == 0 { EXIT_OK } else { EXIT_FAILED }
}

pub(super) fn print_list(entries: &[CatalogEntry], format: Format) {
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(entries).unwrap_or_else(|_| "[]".to_owned())
        ),
        Format::Text => {
            let w = entries
                .iter()
                .map(|e| e.name.as_str().len())
                .max()
                .unwrap_or(0)
                .max(6);
            println!(
                "{:<w$}  {:<12}  {:<40}  WHERE",
                "TENANT", "STATE", "VERSION"
            );
            for e in entries {
                let place = match &e.schema {
                    Some(s) => format!("schema {s} in {}", redact_url(&e.url)),
                    None => redact_url(&e.url),
                };
                println!(
                    "{:<w$}  {:<12}  {:<40}  {place}",
                    e.name.as_str(),
                    e.state.as_str(),
                    e.version.as_deref().unwrap_or("-"),
                );
            }
            println!("\n{} tenants", entries.len());
        }
    }
}

/// Prints an export's or import's outcome; returns the exit code (2 when the
/// request itself was wrong and nothing was touched, 1 when it failed).
pub(super) fn print_transfer(
    action: &str,
    result: Result<Transferred, TransferError>,
    format: Format,
) -> u8 {
    match result {
        Ok(done) => {
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::json!({ "action": action, "ok": true, "result": done })
                ),
                Format::Text => println!(
                    "{action}ed tenant {} ({}) {} {}: {} bytes in {} ms",
                    done.tenant,
                    done.kind.describe(),
                    if action == "export" { "to" } else { "from" },
                    done.file.display(),
                    done.bytes,
                    done.millis
                ),
            }
            EXIT_OK
        }
        Err(e) => {
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::json!({ "action": action, "ok": false, "error": e.to_string() })
                ),
                Format::Text => eprintln!("error: {e}"),
            }
            match e {
                TransferError::InvalidName { .. }
                | TransferError::UnknownTenant { .. }
                | TransferError::Unsupported { .. }
                | TransferError::FileExists { .. }
                | TransferError::ManifestMissing { .. }
                | TransferError::ManifestInvalid { .. }
                | TransferError::KindMismatch { .. } => EXIT_USAGE,
                _ => EXIT_FAILED,
            }
        }
    }
}

/// Prints what `tenant move` did; returns the exit code.
pub(super) fn print_move(result: Result<Moved, MoveError>, format: Format) -> u8 {
    match result {
        Ok(moved) => {
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::json!({ "action": "move", "ok": true, "result": moved })
                ),
                Format::Text => {
                    println!(
                        "moved tenant {} from {} to {}: {} tables, {} rows; copied in {} ms, held {} ms; source {}",
                        moved.tenant,
                        moved.from,
                        moved.to,
                        moved.tables,
                        moved.rows,
                        moved.copy_millis,
                        moved.held_millis,
                        if moved.source_dropped {
                            "dropped"
                        } else {
                            "kept, sealed against writes"
                        }
                    );
                    for warning in &moved.warnings {
                        eprintln!("warning: {warning}");
                    }
                }
            }
            EXIT_OK
        }
        Err(e) => {
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::json!({ "action": "move", "ok": false, "error": e.to_string() })
                ),
                Format::Text => eprintln!("error: {e}"),
            }
            match e {
                MoveError::InvalidName { .. }
                | MoveError::NotFound { .. }
                | MoveError::WrongState { .. }
                | MoveError::Unsupported { .. }
                | MoveError::TargetExists { .. } => EXIT_USAGE,
                _ => EXIT_FAILED,
            }
        }
    }
}
