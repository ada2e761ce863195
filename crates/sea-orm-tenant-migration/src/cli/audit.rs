//! `migration audit`: whether every row database of the configuration keeps
//! its row tenants to their own rows, checked as the app's role
//! ([`sea_orm_tenant::rows::audit`]), for deploy pipelines.

use std::collections::BTreeSet;
use std::path::Path;

use sea_orm_tenant::rows::{RowAudit, audit};
use sea_orm_tenant::{TenantConfig, TenantConnections, TenantsConfig};
use serde::Serialize;

use super::exit::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, Format};

/// One row database's result.
#[derive(Debug, Serialize)]
struct DatabaseAudit {
    /// The database's URL, password masked.
    database: String,
    /// The audit, when it could run.
    #[serde(flatten)]
    audit: Option<RowAudit>,
    /// Why it could not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Audits every database holding row tenants; exit 0 when all are
/// protected, 1 on a finding or a database that could not be audited, 2 on
/// a configuration error.
pub(crate) async fn run_audit(config: &Path, format: Format) -> u8 {
    let config = match TenantsConfig::from_toml_file(config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let databases: BTreeSet<String> = config
        .tenants
        .values()
        .filter(|t| t.is_row_tenant())
        .map(|t| t.url().to_owned())
        .collect();
    let store = match TenantConnections::from_config(config) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let mut results = Vec::new();
    for url in databases {
        let target = TenantConfig::new(url);
        let database = target.redacted_url();
        let outcome = match store.open_outside(&target, 1).await {
            Ok(session) => {
                let outcome = audit(&session).await.map_err(|e| e.to_string());
                session.close().await;
                outcome
            }
            Err(e) => Err(e.to_string()),
        };
        results.push(match outcome {
            Ok(audit) => DatabaseAudit {
                database,
                audit: Some(audit),
                error: None,
            },
            Err(error) => DatabaseAudit {
                database,
                audit: None,
                error: Some(error),
            },
        });
    }
    store.close().await;
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&results).unwrap_or_default()
        ),
        Format::Text => print_text(&results),
    }
    let protected = results
        .iter()
        .all(|r| r.audit.as_ref().is_some_and(RowAudit::is_protected));
    if protected { EXIT_OK } else { EXIT_FAILED }
}

fn print_text(results: &[DatabaseAudit]) {
    if results.is_empty() {
        println!("no database holds row tenants");
    }
    for result in results {
        match (&result.audit, &result.error) {
            (Some(audit), _) if audit.is_protected() => println!(
                "{}: protected (role {}; tenant tables: {}; global tables: {})",
                result.database,
                audit.role,
                audit.tenant_tables.join(", "),
                audit.global_tables.join(", ")
            ),
            (Some(audit), _) => {
                println!("{}: NOT PROTECTED (role {})", result.database, audit.role);
                for finding in &audit.findings {
                    println!("  - {finding}");
                }
            }
            (None, error) => println!(
                "{}: could not be audited: {}",
                result.database,
                error.as_deref().unwrap_or("unknown error")
            ),
        }
    }
}
