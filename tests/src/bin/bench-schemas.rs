//! `just bench-schemas`: schema tenants at scale, in one run.
//!
//! 1. Creates one PostgreSQL database with a schema per tenant (10,000 by
//!    default) and times the workspace migrations over all of them from
//!    scratch, then `up` with nothing to apply, then `status`, in-process with
//!    `TenantMigrator` (the same runner as `just migrate-all`).
//! 2. Seeds a few notes per tenant directly, starts notes-server (release,
//!    `--no-migrate`) with the tenants in a `[databases.*]` table within a
//!    per-server connection budget, and drives `GET /notes` with a random
//!    tenant per request against one hot tenant, in interleaved rounds,
//!    sampling the server's sessions every 50 ms.
//!
//! Prints the figures and the ratio random/hot; drops the database at the end
//! (also after Ctrl-C or a panic). `--quick` is a short smoke run. The HTTP
//! scenario and its flags: [`e2e_tests::random_hot`]. Bars: `up` with
//! nothing to apply within 30 s, the ratio random/hot at least 0.70, the
//! peak of sessions within the budget. Exit codes: [`e2e_tests::bench::exit`]
//! (1 when a request was not answered 200 or a tenant failed to migrate, 3
//! when a bar is missed).

#![forbid(unsafe_code)]

use std::time::Duration;

use clap::Parser;
use e2e_tests::bench::bar::Bars;
use e2e_tests::bench::cleanup::{Runtime, main as main_until_interrupted};
use e2e_tests::bench::exit::Exit;
use e2e_tests::random_hot::{RandomHotArgs, serve, timed};
use e2e_tests::scale::{
    ServerDatabases, ServerKind, schema_tenants, seed_schema_notes, tenant_names,
};
use sea_orm_tenant::TenantConnections;
use sea_orm_tenant_migration::{RunReport, TenantMigrator};

/// Schema tenants at scale: migrations over every schema, then HTTP load with
/// random tenants against one hot tenant.
#[derive(Debug, Parser)]
struct Args {
    /// Schema tenants [default: 10000; --quick: 200].
    #[arg(long)]
    tenants: Option<usize>,
    /// The schema database's pool, shared by every tenant.
    #[arg(long, default_value_t = 20)]
    pool_size: u32,
    /// Tenants migrated at once.
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    /// Seed of the random tenant choice.
    #[arg(long, default_value_t = 0x5C4E)]
    seed: u64,
    #[command(flatten)]
    common: RandomHotArgs,
}

fn summary(report: &RunReport) -> String {
    let s = &report.summary;
    format!(
        "{} tenants: {} migrated, {} up to date, {} behind, {} failed",
        s.total, s.migrated, s.up_to_date, s.behind, s.failed
    )
}

async fn scenario(args: &Args, dbs: &mut ServerDatabases) -> Result<Exit, String> {
    let common = &args.common;
    let plan = common.plan()?;
    let tenants = common.quick.or(args.tenants, 10_000, 200).max(1);
    let names = tenant_names(tenants);

    let schemas = schema_tenants(dbs, &names, args.pool_size, common.budget).await;
    let (url, created, config) = (&schemas.url, schemas.created, &schemas.config);

    // Migrations, in-process, as `just migrate-all` runs them.
    let store = TenantConnections::from_toml_file(config).expect("configuration");
    let migrator = TenantMigrator::new::<migration::Migrator>(store.clone()).jobs(args.jobs);
    let (scratch, scratch_time) = timed("migrating every schema from scratch", migrator.up()).await;
    let scratch = scratch.expect("run starts");
    let (again, again_time) = timed("up with nothing to apply", migrator.up()).await;
    let again = again.expect("run starts");
    let (status, status_time) = timed("status", migrator.status()).await;
    let status = status.expect("run starts");
    store.close().await;

    let (_, seed_time) = timed(
        &format!("seeding {} notes per tenant", common.notes),
        seed_schema_notes(url, &names, common.notes),
    )
    .await;

    let served = serve(dbs, config, &names, (common, plan), args.seed).await?;

    println!(
        "{tenants} schema tenants in one PostgreSQL database ({}); pool {} shared by all; budget {}; migration jobs {}",
        dbs.server_key(),
        args.pool_size,
        common.budget,
        args.jobs
    );
    println!("schemas created in {created:.1?}; notes seeded in {seed_time:.1?}");
    let per = |d: Duration| d / tenants as u32;
    println!(
        "migrations from scratch: {scratch_time:.1?} ({:.2?} per tenant) - {}",
        per(scratch_time),
        summary(&scratch)
    );
    let mut bars = Bars::new(common.quick.bars_enforced());
    println!(
        "up with nothing to apply: {again_time:.1?} ({:.2?} per tenant) - {} [bar: <= 30 s for 10,000: {}]",
        per(again_time),
        summary(&again),
        bars.at_most(
            "up with nothing to apply, s",
            again_time.as_secs_f64(),
            30.0
        )
    );
    println!(
        "status: {status_time:.1?} ({:.2?} per tenant) - {}",
        per(status_time),
        summary(&status)
    );
    served.print();
    let figures = served.figures();
    let (ratio, errors, peak) = (figures.ratio(), figures.errors(), figures.peak());
    println!(
        "median: random tenant {:.0} req/s, one hot tenant {:.0} req/s; ratio random/hot {ratio:.3} [bar >= 0.70: {}]",
        figures.random,
        figures.hot,
        bars.at_least("ratio random/hot requests/s", ratio, 0.70)
    );
    let kept = common.budget_bar(&mut bars, peak);
    println!(
        "errors {errors}; peak sessions {peak} (budget {}: {}); notes-server ERROR lines: {}",
        common.budget, kept, served.server_errors
    );
    bars.print();
    let migrated = [&scratch, &again, &status]
        .iter()
        .all(|r| r.summary.failed == 0);
    Ok(Exit::failed_unless(errors == 0 && migrated).worst(bars.exit()))
}

/// Runs the scenario, then drops its database (on a signal, its guard does).
async fn bench(args: &Args) -> Result<Exit, String> {
    let mut dbs = ServerDatabases::new(ServerKind::Postgres, &args.common.postgres_url);
    let exit = scenario(args, &mut dbs).await;
    dbs.drop_all().await;
    exit
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    main_until_interrupted("bench-schemas", Runtime::MultiThread, bench(&args))
}
