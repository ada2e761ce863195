//! The `tenant` subcommands of [`MigrationCli`](crate::MigrationCli): create,
//! drop, list, switch off and on, export and import tenants at runtime.
//!
//! ```text
//! migration tenant create NAME... [--url URL | --schema-in DATABASE] [--template [NAME]] [--from FILE]
//! migration tenant drop NAME [--keep-data] [--grace DURATION]
//! migration tenant list
//! migration tenant disable NAME | enable NAME
//! migration tenant export NAME FILE
//! migration tenant import NAME FILE
//! ```
//!
//! Placement defaults to the configuration's `[provisioning]` table. Exit codes
//! as for the migration verbs: 0 success, 1 a tenant failed (named in the
//! report), 2 usage or configuration error (nothing touched).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Subcommand;
use futures_util::StreamExt;
use sea_orm_tenant::{Catalog, SchemaName, TenantConnections, TenantKey, TenantsConfig};

use crate::cli::exit::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, Format};
use crate::cli::tenant_report::{Row, print_list, print_move, print_rows, print_transfer};
use crate::lifecycle::{DEFAULT_TEMPLATE, MoveOptions, Placement, Provisioner};
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
    /// Export a tenant's data to FILE, with the database's own tool (SQLite
    /// `VACUUM INTO`, PostgreSQL `pg_dump --format=custom`, of the schema for
    /// a schema tenant, `COPY` of a row tenant's rows, `mariadb-dump`), and a
    /// manifest beside it (`FILE.tenant.json`). Never overwrites. See [`crate::transfer`].
    Export {
        /// The tenant.
        name: String,
        /// The archive to write.
        file: PathBuf,
    },
    /// Move a PostgreSQL tenant, while it serves, to the database at URL
    /// (on this server or another; a schema tenant keeps its schema name;
    /// a row tenant is promoted to that database, or with `--schema` to a
    /// schema in it, its rows copied while it is held):
    /// the target is made and migrated, the data copied by logical
    /// replication, then the tenant is held for a moment while the copy
    /// catches up and the catalog switches it. The source server needs
    /// `wal_level = logical`. A SQLite file tenant is copied to the file
    /// at URL while it is held. A failed move leaves the tenant where it was;
    /// running it again finishes or undoes it.
    Move {
        /// The tenant.
        name: String,
        /// The target database's URL (`${VAR}` is kept in the catalog as written).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Promote a row tenant into this schema of the target database
        /// (which may be its rows' own); without it, a row tenant becomes
        /// the target database's.
        #[arg(long, value_name = "SCHEMA")]
        schema: Option<String>,
        /// Keep the source, sealed against writes, instead of dropping it.
        #[arg(long)]
        keep_source: bool,
        /// Wait this long after the switch before dropping the source.
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        grace: Option<Duration>,
        /// The longest the tenant's requests are held at the cut-over.
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        max_hold: Option<Duration>,
    },
    /// Import FILE (written by `tenant export`) into an empty tenant of the
    /// same kind (a SQLite file tenant whose file is missing or has no table,
    /// an existing PostgreSQL database with no table, an existing empty
    /// schema (a PostgreSQL archive imports into a database or a schema of
    /// any name), a row tenant with no row, or an existing
    /// MySQL/MariaDB database with no table); refused otherwise, with nothing
    /// changed.
    Import {
        /// The tenant.
        name: String,
        /// The archive to read.
        file: PathBuf,
    },
}

/// Runs a `tenant` subcommand; returns the exit code.
pub(crate) async fn run_tenant(
    command: &TenantCommand,
    config_path: &std::path::Path,
    jobs: usize,
    format: Format,
    lock_timeout: Option<Duration>,
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
        TenantCommand::Export { name, file } | TenantCommand::Import { name, file } => {
            let export = matches!(command, TenantCommand::Export { .. });
            if let Err(e) = register_from_catalog(&provisioner, name).await {
                eprintln!("error: {e}");
                provisioner.close().await;
                provisioner.store().close().await;
                return EXIT_FAILED;
            }
            let result = if export {
                provisioner.export(name, file).await
            } else {
                provisioner.import(name, file).await
            };
            print_transfer(if export { "export" } else { "import" }, result, format)
        }
        TenantCommand::Move {
            name,
            to,
            schema,
            keep_source,
            grace,
            max_hold,
        } => {
            if provisioner.catalog_ref().is_none() {
                eprintln!(
                    "error: tenant move needs the catalog ([catalog] in the configuration): without it, the apps' configuration would still name the old placement"
                );
                provisioner.close().await;
                provisioner.store().close().await;
                return EXIT_USAGE;
            }
            let mut options = MoveOptions::default().keep_source(*keep_source);
            if let Some(schema) = schema {
                match sea_orm_tenant::SchemaName::new(schema) {
                    Ok(schema) => options = options.into_schema(schema),
                    Err(e) => {
                        eprintln!("error: --schema {schema:?}: {e}");
                        provisioner.close().await;
                        provisioner.store().close().await;
                        return EXIT_USAGE;
                    }
                }
            }
            if let Some(grace) = grace {
                options = options.grace(*grace);
            }
            if let Some(max_hold) = max_hold {
                options = options.cut_over_timeout(*max_hold);
            }
            if let Some(wait) = lock_timeout {
                options = options.lock_wait(wait);
            }
            if let Err(e) = register_from_catalog(&provisioner, name).await {
                eprintln!("error: {e}");
                provisioner.close().await;
                provisioner.store().close().await;
                return EXIT_FAILED;
            }
            print_move(provisioner.move_tenant(name, to, &options).await, format)
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

/// With a catalog, registers tenant `name` from it in the store (when it is
/// not there already), so export and import find catalog tenants too.
async fn register_from_catalog(provisioner: &Provisioner, name: &str) -> Result<(), String> {
    let (Some(catalog), Ok(key)) = (provisioner.catalog_ref(), TenantKey::new(name)) else {
        return Ok(());
    };
    if provisioner.store().contains(key.as_str()) {
        return Ok(());
    }
    let Some(entry) = catalog.get(&key).await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    if !entry.state.is_registered() {
        return Ok(());
    }
    let config = entry.config().map_err(|e| e.to_string())?;
    match provisioner.store().add_tenant(key.as_str(), config) {
        Ok(()) | Err(sea_orm_tenant::ConfigError::AlreadyRegistered(_)) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
