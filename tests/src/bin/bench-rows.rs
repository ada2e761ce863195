//! `just bench-rows`: row tenants at scale, in one run.
//!
//! 1. Creates one PostgreSQL database owned by an ordinary role of its own,
//!    migrates it once with the workspace's `RowMigrator` (`notes` keyed by
//!    `(tenant_id, id)` under forced row-level security), and seeds a few
//!    notes for each of its tenants (100,000 by default) directly.
//! 2. Starts notes-server (release, `--no-migrate`) with the tenants in a
//!    `[databases.*]` table of rows within a per-server connection budget,
//!    and drives `GET /notes` with a random tenant per request against one
//!    hot tenant, in interleaved rounds, sampling the server's sessions every
//!    50 ms.
//! 3. Creates 10,000 row tenants through a PostgreSQL catalog, timed.
//! 4. For comparison, the same measurement on schema tenants (10,000 by
//!    default, `--schema-tenants 0` skips it): a database with a schema per
//!    tenant, migrated and seeded as `bench-schemas` does, behind a new
//!    notes-server with the same pool and budget.
//!
//! Prints the figures and the ratio random/hot of both, side by side; drops
//! the databases and the role at the end (also after Ctrl-C or a panic).
//! `--quick` is a short smoke run. The HTTP scenario and its flags:
//! [`e2e_tests::random_hot`]. Bars (row tenants only; the schema tenants are
//! a comparison): the ratio random/hot at least 0.90, no error, the peak of
//! sessions within the budget, 10,000 creations within 10 s. Exit codes:
//! [`e2e_tests::bench::exit`] (1 when a request was not answered 200 or a
//! migration failed, in either mode, 3 when a bar is missed).

#![forbid(unsafe_code)]

use clap::Parser;
use e2e_tests::bench::bar::Bars;
use e2e_tests::bench::cleanup::{Runtime, main as main_until_interrupted};
use e2e_tests::bench::exit::Exit;
use e2e_tests::random_hot::{Figures, Plan, RandomHotArgs, Served, serve, timed};
use e2e_tests::scale::{
    ServerDatabases, ServerKind, schema_tenants, seed_schema_notes, tenant_names,
};
use sea_orm_tenant::TenantConnections;
use sea_orm_tenant::sea_orm::{ConnectionTrait, Database};
use sea_orm_tenant_migration::TenantMigrator;

/// Row tenants at scale: one migration for the database, then HTTP load
/// with random tenants against one hot tenant.
#[derive(Debug, Parser)]
struct Args {
    /// Row tenants [default: 100000; --quick: 1000].
    #[arg(long)]
    tenants: Option<usize>,
    /// The row database's pool, shared by every tenant.
    #[arg(long, default_value_t = 20)]
    pool_size: u32,
    /// Seed of the random tenant choice.
    #[arg(long, default_value_t = 0x5C4E)]
    seed: u64,
    /// Row tenants created through a PostgreSQL catalog, timed [default: 10000; --quick: 1000].
    #[arg(long)]
    creations: Option<usize>,
    /// Creations in flight at once.
    #[arg(long, default_value_t = 8)]
    creation_concurrency: usize,
    /// Schema tenants measured the same way afterwards, for comparison; 0 skips them [default: 10000; --quick: 200].
    #[arg(long)]
    schema_tenants: Option<usize>,
    /// Schema tenants migrated at once.
    #[arg(long, default_value_t = 8)]
    schema_jobs: usize,
    #[command(flatten)]
    common: RandomHotArgs,
}

async fn scenario(args: &Args, dbs: &mut ServerDatabases) -> Result<Exit, String> {
    let common = &args.common;
    let plan = common.plan()?;
    let tenants = common.quick.or(args.tenants, 100_000, 1_000).max(1);
    let names = tenant_names(tenants);

    let (app_url, created) = timed(
        "creating the row database and its role",
        dbs.create_row_database(),
    )
    .await;
    let dir = tempfile::tempdir().expect("temporary folder");
    let pool_line = format!("max_connections = {}", args.pool_size);
    let config = dbs
        .tenants_toml(&[], common.budget)
        .row_database("app", &app_url, &names, &[&pool_line])
        .write_to(dir.path());

    let store = TenantConnections::from_toml_file(&config).expect("configuration");
    let migrator =
        TenantMigrator::new::<migration::Migrator>(store.clone()).rows::<migration::RowMigrator>();
    let (migrated, migrate_time) = timed("migrating the row database", migrator.up()).await;
    let migrated = migrated.expect("run starts");
    store.close().await;
    let once = migrated
        .tenants
        .iter()
        .filter(|t| t.migrated_with.is_none())
        .count();

    let (_, seed_time) = timed(
        &format!("seeding {} notes per tenant", common.notes),
        async {
            // As the server's superuser, whom row-level security does not hold.
            let db = Database::connect(dbs.url("rows")).await.expect("connect");
            for chunk in names.chunks(2_000) {
                let values: Vec<String> = chunk
                    .iter()
                    .flat_map(|t| (0..common.notes).map(move |n| format!("('{t}', '{t}:{n}')")))
                    .collect();
                let sql = format!(
                    "INSERT INTO notes (tenant_id, body) VALUES {}",
                    values.join(", ")
                );
                db.execute_unprepared(&sql).await.expect("seed notes");
            }
            db.execute_unprepared("ANALYZE notes")
                .await
                .expect("analyze");
            db.close().await.ok();
        },
    )
    .await;

    let creations = common.quick.or(args.creations, 10_000, 1_000);
    let (created_tenants, creation_time) = timed(
        &format!("creating {creations} row tenants through a PostgreSQL catalog"),
        create_through_catalog(dbs, &app_url, creations, args.creation_concurrency),
    )
    .await;
    let created_tenants = created_tenants?;

    let served = serve(dbs, &config, &names, (common, plan), args.seed).await?;

    println!(
        "{tenants} row tenants in one PostgreSQL database ({}); pool {} shared by all; budget {}",
        dbs.server_key(),
        args.pool_size,
        common.budget,
    );
    println!(
        "database created in {created:.1?}; migrated in {migrate_time:.1?} ({once} run for {} tenants, {} failed); notes seeded in {seed_time:.1?}",
        migrated.summary.total, migrated.summary.failed
    );
    served.print();
    let mut bars = Bars::new(common.quick.bars_enforced());
    let figures = served.figures();
    let (ratio, errors, peak) = (figures.ratio(), figures.errors(), figures.peak());
    println!(
        "median: random tenant {:.0} req/s, one hot tenant {:.0} req/s; ratio random/hot {ratio:.3} [bar >= 0.90: {}]",
        figures.random,
        figures.hot,
        bars.at_least("ratio random/hot requests/s", ratio, 0.90)
    );
    println!(
        "{created_tenants} row tenants created through a PostgreSQL catalog in {creation_time:.2?} \
         ({} at a time) [bar <= 10 s for 10,000: {}]",
        args.creation_concurrency,
        bars.at_most(
            "seconds to create 10,000 row tenants",
            creation_time.as_secs_f64() * 10_000.0 / created_tenants.max(1) as f64,
            10.0
        )
    );
    let kept = common.budget_bar(&mut bars, peak);
    println!(
        "errors {errors}; peak sessions {peak} (budget {}: {}); notes-server ERROR lines: {}",
        common.budget, kept, served.server_errors
    );

    let schema_tenants = common.quick.or(args.schema_tenants, 10_000, 200);
    let schemas = if schema_tenants == 0 {
        None
    } else {
        Some(schema_mode(args, dbs, plan, schema_tenants).await?)
    };
    let rows_line = Line::new("row tenants", tenants, &served, common.budget);
    let schema_line = schemas
        .as_ref()
        .map(|(served, _)| Line::new("schema tenants", schema_tenants, served, common.budget));
    print_side_by_side(&rows_line, schema_line.as_ref());
    bars.print();
    let schemas_ok = schemas
        .as_ref()
        .is_none_or(|(served, migrated)| *migrated && served.figures().errors() == 0);
    Ok(
        Exit::failed_unless(errors == 0 && migrated.summary.failed == 0 && once == 1 && schemas_ok)
            .worst(bars.exit()),
    )
}

/// The comparison: `count` schema tenants in a database of their own,
/// migrated and seeded as `bench-schemas` does, measured behind a new
/// notes-server with the row database's pool and budget. What was measured,
/// and whether every schema migrated.
async fn schema_mode(
    args: &Args,
    dbs: &mut ServerDatabases,
    plan: Plan,
    count: usize,
) -> Result<(Served, bool), String> {
    let common = &args.common;
    let names = tenant_names(count);
    let schemas = schema_tenants(dbs, &names, args.pool_size, common.budget).await;
    let (url, created, config) = (&schemas.url, schemas.created, &schemas.config);
    let store = TenantConnections::from_toml_file(config).expect("configuration");
    let migrator = TenantMigrator::new::<migration::Migrator>(store.clone()).jobs(args.schema_jobs);
    let (migrated, migrate_time) = timed("migrating every schema", migrator.up()).await;
    let migrated = migrated.expect("run starts");
    store.close().await;
    let (_, seed_time) = timed(
        &format!("seeding {} notes per schema tenant", common.notes),
        seed_schema_notes(url, &names, common.notes),
    )
    .await;
    let served = serve(dbs, config, &names, (common, plan), args.seed).await?;
    println!();
    println!(
        "for comparison: {count} schema tenants in one PostgreSQL database; pool {} shared by all; budget {}",
        args.pool_size, common.budget,
    );
    println!(
        "schemas created in {created:.1?}; migrated in {migrate_time:.1?} ({} tenants, {} failed, {} at a time); notes seeded in {seed_time:.1?}",
        migrated.summary.total, migrated.summary.failed, args.schema_jobs
    );
    served.print();
    Ok((served, migrated.summary.failed == 0))
}

/// One mode's figures in the side-by-side table.
struct Line {
    mode: &'static str,
    tenants: usize,
    figures: Figures,
    budget: u32,
    server_errors: usize,
}

impl Line {
    fn new(mode: &'static str, tenants: usize, served: &Served, budget: u32) -> Self {
        Self {
            mode,
            tenants,
            figures: served.figures(),
            budget,
            server_errors: served.server_errors,
        }
    }
}

/// Both modes' medians, errors and peaks, one line each.
fn print_side_by_side(rows: &Line, schemas: Option<&Line>) {
    println!();
    println!(
        "{:<15} {:>8} {:>13} {:>10} {:>7} {:>7} {:>14} {:>13}",
        "mode",
        "tenants",
        "random req/s",
        "hot req/s",
        "ratio",
        "errors",
        "peak sessions",
        "ERROR lines"
    );
    for line in std::iter::once(rows).chain(schemas) {
        let f = &line.figures;
        println!(
            "{:<15} {:>8} {:>13.0} {:>10.0} {:>7.3} {:>7} {:>14} {:>13}",
            line.mode,
            line.tenants,
            f.random,
            f.hot,
            f.ratio(),
            f.errors(),
            format!("{} / {}", f.peak(), line.budget),
            line.server_errors
        );
    }
    if schemas.is_none() {
        println!("schema tenants: skipped (--schema-tenants 0)");
    }
}

/// Creates `count` row tenants in the database at `app_url` as an
/// administrator would (`tenant create`): through a catalog in a PostgreSQL
/// database of its own, `concurrency` at a time. The tenants created.
async fn create_through_catalog(
    dbs: &mut ServerDatabases,
    app_url: &str,
    count: usize,
    concurrency: usize,
) -> Result<usize, String> {
    use futures_util::{StreamExt, TryStreamExt};
    use sea_orm_tenant::Catalog;
    use sea_orm_tenant_migration::sea_orm_migration::MigratorTrait;
    use sea_orm_tenant_migration::{CatalogMigrator, Placement, Provisioner};

    dbs.create(&["catalog".to_owned()], 1).await;
    let store = TenantConnections::builder()
        .shared(dbs.url("catalog"))
        .build()
        .map_err(|e| e.to_string())?;
    let shared = store.shared().await.map_err(|e| e.to_string())?;
    CatalogMigrator::up(&shared, None)
        .await
        .map_err(|e| e.to_string())?;
    let catalog = Catalog::open(&store).await.map_err(|e| e.to_string())?;
    let provisioner = Provisioner::new::<migration::Migrator>(store.clone()).catalog(catalog);
    let placement = Placement::Rows {
        url: app_url.to_owned(),
    };
    let created = futures_util::stream::iter(0..count)
        .map(|i| {
            let (provisioner, placement) = (&provisioner, &placement);
            async move { provisioner.create(&format!("new{i:06}"), placement).await }
        })
        .buffer_unordered(concurrency.max(1))
        .try_fold(0, |n, _| async move { Ok(n + 1) })
        .await
        .map_err(|e| e.to_string());
    provisioner.close().await;
    store.close().await;
    created
}

/// Runs the scenario, then drops its database and role (on a signal, its guard does).
async fn bench(args: &Args) -> Result<Exit, String> {
    let mut dbs = ServerDatabases::new(ServerKind::Postgres, &args.common.postgres_url);
    let exit = scenario(args, &mut dbs).await;
    dbs.drop_all().await;
    exit
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    main_until_interrupted("bench-rows", Runtime::MultiThread, bench(&args))
}
