//! [`MigrationCli`]: turns a migrator into a complete command-line program,
//! the way sea-orm-migration's `run_cli` does for one database:
//!
//! ```text
//! migration [--config PATH] [--tenant NAME]... [--jobs N] [--fail-fast] [--format text|json]
//!           [--timeout DURATION] [--lock-timeout DURATION]
//!           <up [-n N] | down [-n N] | status [--check] | fresh | refresh | reset>
//! migration tenant <create NAME... | drop NAME | list | export NAME FILE | import NAME FILE>
//! migration catalog init
//! migration audit                                          (row tenants' protection)
//! migration query SQL                                      (read-only SQL over the tenants)
//! ```
//!
//! With a `[catalog]` table in the configuration, the migration verbs also
//! cover the catalog's tenants, and record each tenant's outcome there: a
//! tenant migrated successfully becomes `active` (a quarantined one comes back
//! into service on every instance), a failed one `quarantined`. The `tenant`
//! and `catalog` subcommands are described in [`TenantCommand`] and
//! [`CatalogCommand`].
//!
//! * `--config` defaults to the environment variable `TENANTS_CONFIG`, else
//!   `tenants.toml` in the working directory (the format of
//!   [`sea_orm_tenant::config`]).
//! * `audit` checks, as the app's role, that every database holding row
//!   tenants keeps each to its own rows ([`sea_orm_tenant::rows::audit`]);
//!   exit 1 on any finding.
//! * `query SQL` runs read-only SQL on every selected tenant, `--jobs` at a
//!   time within the servers' budgets, and prints each tenant's rows (JSON
//!   objects; `--format json` for the whole report); exit 1 if a tenant did
//!   not answer. See [`sea_orm_tenant::fan_out`].
//! * Exit codes: 0 success; 1 a tenant failed or was skipped, `status --check`
//!   found a tenant behind, or `audit` found a row database unprotected; 2 usage or configuration error (bad arguments,
//!   unreadable configuration, unknown tenant name), found before any database
//!   is opened.
//! * The report goes to standard output (a table, or JSON with `--format json`);
//!   progress and errors go to standard error. With `RUST_LOG` set, tracing
//!   output (sea-orm-migration's own log lines included) goes to standard error.

mod audit;
mod catalog;
pub(crate) mod exit;
mod query;
pub(crate) mod tenant;
mod tenant_report;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use sea_orm_migration::MigratorTrait;
use sea_orm_tenant::{Catalog, TenantConnections, TenantsConfig};

use crate::cli::audit::run_audit;
pub use crate::cli::catalog::CatalogCommand;
use crate::cli::catalog::run_catalog;
pub use crate::cli::exit::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, Format};
use crate::cli::query::run_query;
pub use crate::cli::tenant::TenantCommand;
use crate::cli::tenant::run_tenant;
use crate::lifecycle::record_outcomes;
use crate::runner::MigrateError;
use crate::runner::Operation;
use crate::runner::apply::{ApplyFn, apply_fn};
use crate::runner::progress::ProgressMode;
use crate::runner::{DEFAULT_LOCK_TIMEOUT, TenantMigrator, default_jobs};

/// The command line, as parsed.
#[derive(Debug, Clone, Parser)]
#[command(about = "Run this application's migrations on every tenant database")]
pub struct CliArgs {
    /// Tenant configuration file (TOML).
    #[arg(
        long,
        env = "TENANTS_CONFIG",
        default_value = "tenants.toml",
        global = true
    )]
    pub config: PathBuf,
    /// Only this tenant (repeat for several). Default: every tenant in the configuration.
    #[arg(long = "tenant", value_name = "NAME", global = true)]
    pub tenants: Vec<String>,
    /// Tenants migrated at once. Default: the number of CPUs.
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..), global = true)]
    pub jobs: Option<u16>,
    /// Start no new tenant after the first failure (running ones finish).
    #[arg(long, global = true)]
    pub fail_fast: bool,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub format: Format,
    /// Give up on a tenant after this long, e.g. `30s` or `5m`. Default: no limit.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, global = true)]
    pub timeout: Option<Duration>,
    /// Wait this long for a tenant another runner is migrating, then report
    /// it busy (`tenant move`: then refuse to move it).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, global = true)]
    pub lock_timeout: Option<Duration>,
    /// What to do.
    #[command(subcommand)]
    pub command: CliCommand,
}

/// The subcommands: the migration verbs as in `sea-orm-cli migrate`, plus
/// `tenant` and `catalog`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum CliCommand {
    /// Apply pending migrations.
    Up {
        /// Apply only this many pending migrations.
        #[arg(short = 'n', long = "num", value_name = "N")]
        num: Option<u32>,
    },
    /// Roll back applied migrations.
    Down {
        /// Roll back this many migrations.
        #[arg(short = 'n', long = "num", value_name = "N", default_value_t = 1)]
        num: u32,
    },
    /// Show which migrations each tenant has applied and which are pending.
    Status {
        /// Exit 1 if any tenant has a pending migration (a deploy gate).
        #[arg(long)]
        check: bool,
    },
    /// Drop all tables, then apply all migrations.
    Fresh,
    /// Roll back all migrations, then apply them all.
    Refresh,
    /// Roll back all migrations.
    Reset,
    /// Create, drop and list tenants.
    Tenant {
        /// What to do.
        #[command(subcommand)]
        action: TenantCommand,
    },
    /// The tenant catalog in the shared database.
    Catalog {
        /// What to do.
        #[command(subcommand)]
        action: CatalogCommand,
    },
    /// Check, as the app's role, that every database holding row tenants
    /// keeps each to its own rows (row-level security, keys); exit 1 on a finding.
    Audit,
    /// Run read-only SQL on every tenant (or each `--tenant`), `--jobs` at a
    /// time, and print each tenant's rows; exit 1 if a tenant did not answer.
    /// The SQL runs in a transaction that is rolled back (`READ ONLY` on
    /// PostgreSQL and MySQL, where a write is refused).
    Query {
        /// The SQL, for example `SELECT count(*) AS notes FROM notes`.
        sql: String,
    },
}

impl CliCommand {
    /// The [`Operation`] a migration verb runs; `None` for `tenant`, `catalog`, `audit` and `query`.
    pub fn operation(&self) -> Option<Operation> {
        Some(match *self {
            CliCommand::Up { num } => Operation::Up { steps: num },
            CliCommand::Down { num } => Operation::Down { steps: num },
            CliCommand::Status { .. } => Operation::Status,
            CliCommand::Fresh => Operation::Fresh,
            CliCommand::Refresh => Operation::Refresh,
            CliCommand::Reset => Operation::Reset,
            CliCommand::Tenant { .. }
            | CliCommand::Catalog { .. }
            | CliCommand::Audit
            | CliCommand::Query { .. } => {
                return None;
            }
        })
    }
}

/// A migration program for a tenant migrator (and optionally a shared one).
///
/// ```no_run
/// # struct Migrator;
/// # impl sea_orm_migration::MigratorTrait for Migrator {
/// #     fn migrations() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> { vec![] }
/// # }
/// use sea_orm_tenant_migration::MigrationCli;
///
/// #[tokio::main]
/// async fn main() -> std::process::ExitCode {
///     MigrationCli::new::<Migrator>().run().await
/// }
/// ```
#[derive(Clone)]
pub struct MigrationCli {
    tenant: ApplyFn,
    shared: Option<ApplyFn>,
    rows: Option<ApplyFn>,
    name: &'static str,
}

impl std::fmt::Debug for MigrationCli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrationCli")
            .field("name", &self.name)
            .field("shared", &self.shared.is_some())
            .finish()
    }
}

impl MigrationCli {
    /// A program applying migrator `M` to every tenant.
    pub fn new<M: MigratorTrait + 'static>() -> Self {
        Self {
            tenant: apply_fn::<M>(),
            shared: None,
            rows: None,
            name: "migration",
        }
    }

    /// Also migrate the configuration's `[shared]` database with `S`, before the tenants.
    pub fn shared<S: MigratorTrait + 'static>(mut self) -> Self {
        self.shared = Some(apply_fn::<S>());
        self
    }

    /// Migrate databases of row tenants with `R` (once per database) instead
    /// of the tenant migrator.
    pub fn rows<R: MigratorTrait + 'static>(mut self) -> Self {
        self.rows = Some(apply_fn::<R>());
        self
    }

    /// The program name shown in usage (default `migration`).
    pub fn name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// The clap command, e.g. to embed as a subcommand of a bigger program;
    /// run its matches with [`run_matches`](Self::run_matches).
    pub fn command(&self) -> clap::Command {
        CliArgs::command().name(self.name)
    }

    /// Runs with the process's arguments.
    pub async fn run(&self) -> ExitCode {
        ExitCode::from(self.run_from(std::env::args_os()).await)
    }

    /// Runs with these arguments (the first is the program name); returns the exit code.
    pub async fn run_from<I, T>(&self, args: I) -> u8
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        match self.command().try_get_matches_from(args) {
            Ok(matches) => self.run_matches(&matches).await,
            Err(e) => {
                let _ = e.print();
                if e.use_stderr() { EXIT_USAGE } else { EXIT_OK }
            }
        }
    }

    /// Runs already-parsed matches of [`command`](Self::command).
    pub async fn run_matches(&self, matches: &clap::ArgMatches) -> u8 {
        let args = match CliArgs::from_arg_matches(matches) {
            Ok(args) => args,
            Err(e) => {
                let _ = e.print();
                return EXIT_USAGE;
            }
        };
        self.run_args(args).await
    }

    /// Runs parsed arguments.
    pub async fn run_args(&self, args: CliArgs) -> u8 {
        init_tracing();
        let jobs = args.jobs.map_or_else(default_jobs, usize::from);
        let op = match &args.command {
            CliCommand::Tenant { action } => {
                // Boxed: keeps the CLI's future small (the provisioner's steps nest deeply).
                return Box::pin(run_tenant(
                    action,
                    &args.config,
                    jobs,
                    args.format,
                    args.lock_timeout,
                    self.tenant,
                ))
                .await;
            }
            CliCommand::Catalog { action } => {
                return Box::pin(run_catalog(*action, &args.config)).await;
            }
            CliCommand::Audit => return Box::pin(run_audit(&args.config, args.format)).await,
            CliCommand::Query { sql } => {
                let (migrator, _) = match self.prepare(&args).await {
                    Ok(m) => m,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return EXIT_USAGE;
                    }
                };
                let tenants = migrator.selected().unwrap_or_default();
                let store = migrator.store();
                let code = Box::pin(run_query(
                    store,
                    tenants,
                    sql,
                    jobs,
                    args.timeout,
                    args.format,
                ))
                .await;
                store.close().await;
                return code;
            }
            command => match command.operation() {
                Some(op) => op,
                None => return EXIT_USAGE,
            },
        };
        let (migrator, catalog) = match self.prepare(&args).await {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        };
        let report = match migrator.run(op).await {
            Ok(report) => report,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        };
        if let Some(catalog) = &catalog
            && op.writes()
            && let Err(error) = record_outcomes(catalog, &report).await
        {
            eprintln!("warning: tenant states not recorded in the catalog: {error}");
        }
        migrator.store().close().await;
        match args.format {
            Format::Text => print!("{}", report.to_table()),
            Format::Json => println!("{}", report.to_json()),
        }
        let check = matches!(args.command, CliCommand::Status { check: true });
        report.exit_code(check)
    }

    /// Reads the configuration (and the catalog's tenants, with one) and
    /// checks the selection.
    async fn prepare(
        &self,
        args: &CliArgs,
    ) -> Result<(TenantMigrator, Option<Catalog>), MigrateError> {
        let jobs = args.jobs.map_or_else(default_jobs, usize::from);
        let mut config = TenantsConfig::from_toml_file(&args.config)?;
        let follows_catalog = config.catalog.is_some();
        // Keep at most a few tenant pools open: a run visits each tenant once.
        let bound = config
            .store
            .max_open_pools
            .map_or(jobs + 1, |n| n.min(jobs + 1));
        config.store.max_open_pools = Some(bound);
        let store = TenantConnections::from_config(config)?;
        let catalog = if follows_catalog {
            let catalog = Catalog::open(&store).await?;
            for entry in catalog.list().await? {
                if entry.state.is_registered() {
                    store.add_tenant(entry.name.as_str(), entry.config()?)?;
                }
            }
            Some(catalog)
        } else {
            None
        };
        let mut migrator = TenantMigrator::with_apply(store, self.tenant)
            .jobs(jobs)
            .fail_fast(args.fail_fast)
            .tenant_timeout(args.timeout)
            .lock_timeout(args.lock_timeout.unwrap_or(DEFAULT_LOCK_TIMEOUT))
            .progress(ProgressMode::Auto);
        migrator.shared = self.shared;
        migrator.rows = self.rows;
        if !args.tenants.is_empty() {
            migrator = migrator.select(args.tenants.iter().cloned());
        }
        migrator.selected()?;
        Ok((migrator, catalog))
    }
}

/// With `RUST_LOG` set, logs to standard error; never panics if a subscriber exists.
fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
}
