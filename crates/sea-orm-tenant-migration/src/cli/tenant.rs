//! The `tenant` and `catalog` subcommands of [`MigrationCli`](crate::MigrationCli):
//! create, drop and list tenants at runtime, and make the catalog tables.
//!
//! ```text
//! migration tenant create NAME... [--url URL | --schema-in DATABASE] [--template [NAME]] [--from FILE]
//! migration tenant drop NAME [--keep-data] [--grace DURATION]
//! migration tenant list
//! migration tenant disable NAME | enable NAME
//! migration catalog init
//! ```
//!
//! Placement defaults to the configuration's `[provisioning]` table. Exit codes
//! as for the migration verbs: 0 success, 1 a tenant failed (named in the
//! report), 2 usage or configuration error (nothing touched).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Subcommand;
use futures_util::StreamExt;
use sea_orm_migration::MigratorTrait;
use sea_orm_tenant::{
    Catalog, CatalogEntry, SchemaName, TenantConnections, TenantKey, TenantsConfig, redact_url,
};

use crate::cli::exit::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, Format};
use crate::lifecycle::CatalogMigrator;
use crate::lifecycle::{DEFAULT_TEMPLATE, Placement, ProvisionError, Provisioner};
use crate::runner::progress::{Progress, ProgressMode};

/// `tenant` subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum TenantCommand {
    /// Create tenants: make their storage, migrate it, record them in the catalog.
    Create {
        /// Tenant names.
        names: Vec<String>,
        /// Also every name in this file (one per line; blank lines and `#` comments skipped).
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
        /// A database or SQLite file per tenant; `{tenant}` is replaced by the name.
        #[arg(long, value_name = "URL", conflicts_with = "schema_in")]
        url: Option<String>,
        /// A schema per tenant in this `[databases.*]` database.
        #[arg(long, value_name = "DATABASE")]
        schema_in: Option<String>,
        /// PostgreSQL: clone from this template database (default name `sea_orm_tenant_template`).
        #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = DEFAULT_TEMPLATE)]
        template: Option<String>,
    },
    /// Drop a tenant: stop serving it, drop its storage, remove it from the catalog.
    Drop {
        /// The tenant.
        name: String,
        /// Keep its database, schema or file.
        #[arg(long)]
        keep_data: bool,
        /// Wait this long after marking it `deleting`, for other instances to stop serving it.
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        grace: Option<Duration>,
    },
    /// List the tenants (the catalog's, or the configuration's).
    List,
    /// Switch a tenant off: every instance answers 404 for it; its data is kept.
    Disable {
        /// The tenant.
        name: String,
    },
    /// Switch a disabled tenant back on.
    Enable {
        /// The tenant.
        name: String,
    },
}

/// `catalog` subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum CatalogCommand {
    /// Make the catalog tables in the shared database (idempotent).
    Init,
}

/// One tenant's line in a create or drop report.
#[derive(Debug, Clone, serde::Serialize)]
struct Row {
    tenant: String,
    outcome: &'static str,
    place: Option<String>,
    version: Option<String>,
    from_template: bool,
    duration_ms: u64,
    error: Option<String>,
}

impl Row {
    fn failed(tenant: String, err: &ProvisionError, duration_ms: u64) -> Self {
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

/// Runs a `tenant` subcommand; returns the exit code.
pub(crate) async fn run_tenant(
    command: &TenantCommand,
    config_path: &std::path::Path,
    jobs: usize,
    format: Format,
    apply: crate::runner::apply::ApplyFn,
) -> u8 {
    let prepared = match prepare(config_path, apply) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let (config, mut provisioner) = prepared;
    if config.catalog.is_some() {
        match Catalog::open(provisioner.store()).await {
            Ok(catalog) => provisioner = provisioner.catalog(catalog),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_FAILED;
            }
        }
    }
    let code = match command {
        TenantCommand::Create {
            names,
            from,
            url,
            schema_in,
            template,
        } => {
            let mut names = names.clone();
            if let Some(file) = from {
                match std::fs::read_to_string(file) {
                    Ok(text) => names.extend(
                        text.lines()
                            .map(str::trim)
                            .filter(|l| !l.is_empty() && !l.starts_with('#'))
                            .map(str::to_owned),
                    ),
                    Err(e) => {
                        eprintln!("error: cannot read {}: {e}", file.display());
                        return EXIT_USAGE;
                    }
                }
            }
            if names.is_empty() {
                eprintln!("error: name at least one tenant, or give --from FILE");
                return EXIT_USAGE;
            }
            // Every name is checked before anything is created.
            for name in &names {
                if let Err(e) = TenantKey::new(name) {
                    eprintln!("error: invalid tenant name {name:?}: {e}");
                    return EXIT_USAGE;
                }
            }
            let placement = match placement(&config, url.as_deref(), schema_in.as_deref()) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_USAGE;
                }
            };
            let template = template
                .clone()
                .or_else(|| config.provisioning.as_ref()?.template.clone());
            if let Some(template) = template {
                match SchemaName::new(&template) {
                    Ok(t) => provisioner = provisioner.template(t),
                    Err(e) => {
                        eprintln!("error: invalid template name: {e}");
                        return EXIT_USAGE;
                    }
                }
            }
            create_all(&provisioner, &names, &placement, jobs, format).await
        }
        TenantCommand::Drop {
            name,
            keep_data,
            grace,
        } => {
            if let Some(grace) = grace {
                provisioner = provisioner.drop_grace(*grace);
            }
            let started = Instant::now();
            let row = match provisioner.drop(name, *keep_data).await {
                Ok(dropped) => Row {
                    tenant: dropped.tenant.to_string(),
                    outcome: "dropped",
                    place: None,
                    version: None,
                    from_template: false,
                    duration_ms: dropped.millis,
                    error: None,
                },
                Err(e) => Row::failed(name.clone(), &e, started.elapsed().as_millis() as u64),
            };
            print_rows("drop", &[row], format)
        }
        TenantCommand::Disable { name } | TenantCommand::Enable { name } => {
            let enabled = matches!(command, TenantCommand::Enable { .. });
            match provisioner.set_enabled(name, enabled).await {
                Ok(()) => {
                    println!("{name}: {}", if enabled { "active" } else { "disabled" });
                    EXIT_OK
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    EXIT_FAILED
                }
            }
        }
        TenantCommand::List => match provisioner.list().await {
            Ok(entries) => {
                print_list(&entries, format);
                EXIT_OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_FAILED
            }
        },
    };
    provisioner.close().await;
    provisioner.store().close().await;
    code
}

/// Runs a `catalog` subcommand; returns the exit code.
pub(crate) async fn run_catalog(command: CatalogCommand, config_path: &std::path::Path) -> u8 {
    let CatalogCommand::Init = command;
    let store = match TenantsConfig::from_toml_file(config_path).and_then(|mut c| {
        c.tenants.clear();
        c.databases.clear();
        TenantConnections::from_config(c)
    }) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if !store.has_shared() {
        eprintln!("error: {}", sea_orm_tenant::CatalogError::NoSharedDatabase);
        return EXIT_USAGE;
    }
    let result = match store.shared().await {
        Ok(db) => CatalogMigrator::up(&db, None)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    store.close().await;
    match result {
        Ok(()) => {
            println!("catalog ready");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: cannot make the catalog tables: {e}");
            EXIT_FAILED
        }
    }
}

fn prepare(
    config_path: &std::path::Path,
    apply: crate::runner::apply::ApplyFn,
) -> Result<(TenantsConfig, Provisioner), String> {
    let config = TenantsConfig::from_toml_file(config_path).map_err(|e| e.to_string())?;
    let store = TenantConnections::from_config(config.clone()).map_err(|e| e.to_string())?;
    Ok((config, Provisioner::with_apply(store, apply)))
}

/// The placement from the flags, else from `[provisioning]`.
fn placement(
    config: &TenantsConfig,
    url: Option<&str>,
    schema_in: Option<&str>,
) -> Result<Placement, String> {
    if let Some(url) = url {
        return Ok(Placement::Url(url.to_owned()));
    }
    if let Some(name) = schema_in {
        return Placement::schema_in(config, name);
    }
    Placement::from_config(config)?.ok_or_else(|| {
        "no placement: give --url or --schema-in, or set [provisioning] url or schema_in".to_owned()
    })
}

async fn create_all(
    provisioner: &Provisioner,
    names: &[String],
    placement: &Placement,
    jobs: usize,
    format: Format,
) -> u8 {
    let progress = Progress::new(
        if names.len() > 1 {
            ProgressMode::Auto
        } else {
            ProgressMode::Off
        },
        names.len(),
    );
    let rows: Vec<Row> = futures_util::stream::iter(names)
        .map(|name| {
            let progress = &progress;
            async move {
                progress.started(name);
                let started = Instant::now();
                let row = match provisioner.create(name, placement).await {
                    Ok(created) => Row {
                        tenant: created.tenant.to_string(),
                        outcome: "created",
                        place: Some(created.place),
                        version: created.version,
                        from_template: created.from_template,
                        duration_ms: created.millis,
                        error: None,
                    },
                    Err(e) => Row::failed(name.clone(), &e, started.elapsed().as_millis() as u64),
                };
                progress.finished_tenant(
                    &row.tenant,
                    row.outcome,
                    row.error.as_deref(),
                    "",
                    row.duration_ms,
                );
                row
            }
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    progress.finish();
    print_rows("create", &rows, format)
}

fn print_rows(action: &str, rows: &[Row], format: Format) -> u8 {
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

fn print_list(entries: &[CatalogEntry], format: Format) {
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
