//! `just bench-provision`: creating and dropping tenants, each way, in one run.
//!
//! Creates N tenants (1,000 by default) with the library's `Provisioner` and
//! this workspace's migrations as SQLite files, as PostgreSQL databases
//! (create + migrate), as PostgreSQL databases cloned from a migrated
//! template, and as PostgreSQL schemas (created and migrated in one
//! transaction); then drops them all. Prints wall time per tenant for each
//! way and the template path's speed-up over create + migrate.
//!
//! The PostgreSQL ways need `TEST_POSTGRES_URL` (the `just` recipe sets it).
//! Everything made is dropped at the end. `--quick` is a short smoke run.
//! Bars: a template clone at most 40 ms per tenant, 1,000 schema tenants
//! created and migrated within 60 s. Exit codes: [`e2e_tests::bench::exit`]
//! (1 when a tenant failed, 3 when a bar is missed in a full run, 130 on
//! Ctrl-C: the tenants of the way then running are not dropped).

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use clap::Parser;
use e2e_tests::bench::bar::Bars;
use e2e_tests::bench::cleanup::{Runtime, main as main_until_interrupted};
use e2e_tests::bench::cli::Quick;
use e2e_tests::bench::exit::Exit;
use futures_util::StreamExt;
use sea_orm_tenant::sea_orm::{ConnectionTrait, Database};
use sea_orm_tenant::{PoolOptions, SchemaName, TenantConnections};
use sea_orm_tenant_migration::{Placement, Provisioner};

/// Tenant creation and drop, each way.
#[derive(Debug, Parser)]
struct Args {
    /// Tenants per way [default: 1000; --quick: 20].
    #[arg(long)]
    tenants: Option<usize>,
    /// Tenants created (and dropped) at once.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    #[command(flatten)]
    quick: Quick,
}

struct Way {
    name: &'static str,
    create_ms_per_tenant: f64,
    drop_ms_per_tenant: f64,
    failures: usize,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    main_until_interrupted("bench-provision", Runtime::MultiThread, bench(&args))
}

async fn bench(args: &Args) -> Result<Exit, String> {
    let n = args.quick.or(args.tenants, 1000, 20);
    let names: Vec<String> = (0..n).map(|i| format!("p{i:05}")).collect();
    let prefix = format!("bp_{}", std::process::id());
    let mut ways = Vec::new();

    let dir = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    let sqlite = Placement::Url(format!(
        "sqlite://{}/{{tenant}}.db?mode=rwc",
        dir.path().display()
    ));
    ways.push(Box::pin(run_way("SQLite files", &names, &sqlite, None, args.jobs)).await);

    match std::env::var("TEST_POSTGRES_URL") {
        Ok(admin) => {
            let server = |db: &str| {
                let mut url = url::Url::parse(&admin).expect("TEST_POSTGRES_URL parses");
                url.set_path(&format!("/{db}"));
                url.to_string()
            };
            let created = Placement::Url(server(&format!("{prefix}_c_")) + "{tenant}");
            ways.push(
                Box::pin(run_way(
                    "PostgreSQL create + migrate",
                    &names,
                    &created,
                    None,
                    args.jobs,
                ))
                .await,
            );
            let template = SchemaName::new(&format!("{prefix}_tpl")).expect("valid name");
            let cloned = Placement::Url(server(&format!("{prefix}_t_")) + "{tenant}");
            ways.push(
                Box::pin(run_way(
                    "PostgreSQL template clone",
                    &names,
                    &cloned,
                    Some(template.clone()),
                    args.jobs,
                ))
                .await,
            );
            let schemas_db = format!("{prefix}_schemas");
            let admin_db = Database::connect(&admin).await.expect("connect");
            admin_db
                .execute_unprepared(&format!("CREATE DATABASE \"{schemas_db}\""))
                .await
                .expect("create the schema database");
            let schemas = Placement::Schema {
                url: server(&schemas_db),
                prefix: "t_".to_owned(),
            };
            ways.push(
                Box::pin(run_way(
                    "PostgreSQL schemas",
                    &names,
                    &schemas,
                    None,
                    args.jobs,
                ))
                .await,
            );
            for db in [schemas_db, template.to_string()] {
                let _ = admin_db
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
                    .await;
            }
            admin_db.close().await.ok();
        }
        Err(_) => eprintln!("TEST_POSTGRES_URL is not set: the PostgreSQL ways are skipped"),
    }

    println!("\n{n} tenants per way, {} at a time", args.jobs);
    println!(
        "{:<30}  {:>14}  {:>12}  {:>8}",
        "WAY", "CREATE/TENANT", "DROP/TENANT", "FAILED"
    );
    for w in &ways {
        println!(
            "{:<30}  {:>11.1} ms  {:>9.1} ms  {:>8}",
            w.name, w.create_ms_per_tenant, w.drop_ms_per_tenant, w.failures
        );
    }
    let per = |name: &str| {
        ways.iter()
            .find(|w| w.name == name)
            .map(|w| w.create_ms_per_tenant)
    };
    let mut bars = Bars::new(args.quick.bars_enforced());
    if let (Some(created), Some(cloned)) = (
        per("PostgreSQL create + migrate"),
        per("PostgreSQL template clone"),
    ) {
        println!(
            "\ntemplate clone speed-up over create + migrate: {:.2}x ({cloned:.1} ms vs {created:.1} ms per tenant; bar: <= 40 ms: {})",
            created / cloned,
            bars.at_most("template clone, ms per tenant", cloned, 40.0)
        );
    }
    if let Some(schemas) = per("PostgreSQL schemas") {
        // ms per tenant is s per 1,000 tenants.
        println!(
            "{n} schema tenants created and migrated in {:.1} s (bar for 1,000: <= 60 s: {})",
            schemas * n as f64 / 1000.0,
            bars.at_most(
                "schema tenants, s per 1,000 created and migrated",
                schemas,
                60.0
            )
        );
    }
    bars.print();
    let failed = ways.iter().any(|w| w.failures > 0);
    Ok(Exit::failed_unless(!failed).worst(bars.exit()))
}

/// Creates every tenant at `placement`, then drops them all; wall time per tenant.
async fn run_way(
    name: &'static str,
    names: &[String],
    placement: &Placement,
    template: Option<SchemaName>,
    jobs: usize,
) -> Way {
    let store = TenantConnections::builder()
        .defaults(PoolOptions {
            max_connections: Some(1),
            ..PoolOptions::default()
        })
        .build()
        .expect("store");
    let mut provisioner = Provisioner::new::<migration::Migrator>(store.clone());
    if let Some(template) = template {
        provisioner = provisioner.template(template);
        // The template is made (and migrated) once, outside the timing.
        provisioner
            .create("warmup", placement)
            .await
            .expect("warm-up tenant");
        provisioner
            .drop("warmup", false)
            .await
            .expect("warm-up drop");
    }
    let provisioner = &provisioner;
    eprintln!("{name}: creating {} tenants", names.len());
    let (create, create_failures) = each(name, names, jobs, |n| async move {
        provisioner.create(n, placement).await.map(drop)
    })
    .await;
    eprintln!("{name}: dropping");
    let (drop, drop_failures) = each(name, names, jobs, |n| async move {
        provisioner.drop(n, false).await.map(drop)
    })
    .await;
    provisioner.close().await;
    store.close().await;
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / names.len() as f64;
    Way {
        name,
        create_ms_per_tenant: per(create),
        drop_ms_per_tenant: per(drop),
        failures: create_failures + drop_failures,
    }
}

/// Runs `op` on every name, `jobs` at a time; the wall time and the failures (printed).
async fn each<'a, F, Fut>(way: &str, names: &'a [String], jobs: usize, op: F) -> (Duration, usize)
where
    F: Fn(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<(), sea_orm_tenant_migration::ProvisionError>>,
{
    let started = Instant::now();
    let failures = futures_util::stream::iter(names)
        .map(|n| op(n))
        .buffer_unordered(jobs)
        .filter_map(|r| async move { r.err() })
        .inspect(|e| eprintln!("{way}: {e}"))
        .count()
        .await;
    (started.elapsed(), failures)
}
