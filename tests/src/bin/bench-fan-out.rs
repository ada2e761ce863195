//! `just bench-fan-out`: one read query over every schema tenant, in one run.
//!
//! 1. Creates one PostgreSQL database with a schema per tenant (10,000 by
//!    default), each with a `notes` table and a few notes, directly.
//! 2. Runs `SELECT count(*) FROM notes` for every tenant through the store's
//!    fan-out ([`sea_orm_tenant::fan_out`], the same path as `migration
//!    query`): read-only, `--jobs` tenants at a time on the schema database's
//!    shared pool, within a per-server budget, sampling the server's sessions
//!    every 20 ms.
//!
//! Prints the time, tenants per second and the peak of sessions; checks every
//! tenant's count against what was seeded. Bars: all tenants in at most 10 s,
//! every count right, the peak of sessions within the budget. Drops the
//! database at the end (also after Ctrl-C or a panic). `--quick` is a short
//! smoke run. Exit codes: [`e2e_tests::bench::exit`].

#![forbid(unsafe_code)]

use std::time::Duration;

use clap::Parser;
use e2e_tests::bench::bar::Bars;
use e2e_tests::bench::cleanup::{Runtime, main as main_until_interrupted};
use e2e_tests::bench::cli::Quick;
use e2e_tests::bench::exit::Exit;
use e2e_tests::random_hot::timed;
use e2e_tests::scale::{SCHEMA_PREFIX, ServerDatabases, ServerKind, schema_tenants, tenant_names};
use sea_orm_tenant::TenantConnections;
use sea_orm_tenant::fan_out::{RunOutcome, read_only_query};
use sea_orm_tenant::sea_orm::{ConnectionTrait, Database};

/// One read query over every schema tenant.
#[derive(Debug, Parser)]
struct Args {
    /// Schema tenants [default: 10000; --quick: 200].
    #[arg(long)]
    tenants: Option<usize>,
    /// Tenants queried at once.
    #[arg(long, default_value_t = 16)]
    jobs: usize,
    /// The schema database's pool, shared by every tenant.
    #[arg(long, default_value_t = 20)]
    pool_size: u32,
    /// The per-server budget of connections.
    #[arg(long, default_value_t = 24)]
    budget: u32,
    /// Notes seeded per tenant.
    #[arg(long, default_value_t = 3)]
    notes: usize,
    #[command(flatten)]
    quick: Quick,
    /// The PostgreSQL admin URL (the database is created from it).
    #[arg(
        long,
        env = "TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
}

async fn scenario(args: &Args, dbs: &mut ServerDatabases) -> Result<Exit, String> {
    let tenants = args.quick.or(args.tenants, 10_000, 200).max(1);
    let names = tenant_names(tenants);
    let schemas = schema_tenants(dbs, &names, args.pool_size, args.budget).await;
    let (url, created, config) = (&schemas.url, schemas.created, &schemas.config);
    let (_, seed_time) = timed(
        &format!("creating the notes tables, {} notes each", args.notes),
        async {
            let db = Database::connect(url.as_str()).await.expect("connect");
            for chunk in names.chunks(500) {
                let sql: Vec<String> = chunk
                    .iter()
                    .map(|t| {
                        let rows: Vec<String> =
                            (0..args.notes).map(|n| format!("('{t}:{n}')")).collect();
                        format!(
                            "CREATE TABLE \"{SCHEMA_PREFIX}{t}\".notes \
                             (id bigserial PRIMARY KEY, body text NOT NULL); \
                             INSERT INTO \"{SCHEMA_PREFIX}{t}\".notes (body) VALUES {}",
                            rows.join(", ")
                        )
                    })
                    .collect();
                db.execute_unprepared(&sql.join(";"))
                    .await
                    .expect("create and seed notes");
            }
            db.close().await.ok();
        },
    )
    .await;

    let store = TenantConnections::from_toml_file(config).expect("configuration");
    let db = store.db();
    let sampler = dbs
        .sampler(Duration::from_millis(20), None, Duration::from_secs(3600))
        .await;
    let (report, fan_out_time) = timed(
        &format!(
            "SELECT count(*) over {tenants} tenants, {} at once",
            args.jobs
        ),
        store.fan_out().jobs(args.jobs).run(|_| {
            let db = db.clone();
            async move { read_only_query(&db, "SELECT count(*) AS n FROM notes").await }
        }),
    )
    .await;
    let sessions = sampler.stop().await;
    store.close().await;
    let report = report.map_err(|e| e.to_string())?;
    let wrong: Vec<String> = report
        .tenants
        .iter()
        .filter_map(|run| match &run.outcome {
            RunOutcome::Done(rows)
                if rows.first().and_then(|r| r["n"].as_i64()) == Some(args.notes as i64) =>
            {
                None
            }
            other => Some(format!("{}: {other:?}", run.tenant)),
        })
        .collect();

    println!(
        "{tenants} schema tenants in one PostgreSQL database ({}); pool {} shared by all; budget {}; jobs {}",
        dbs.server_key(),
        args.pool_size,
        args.budget,
        args.jobs
    );
    println!("schemas created in {created:.1?}; tables and notes in {seed_time:.1?}");
    let mut bars = Bars::new(args.quick.bars_enforced());
    let seconds = fan_out_time.as_secs_f64();
    println!(
        "fan-out of SELECT count(*): {seconds:.2} s, {:.0} tenants/s, {} answered, {} wrong or failed [bar: <= 10 s for 10,000: {}]",
        tenants as f64 / seconds.max(f64::EPSILON),
        report.tenants.len() - wrong.len(),
        wrong.len(),
        bars.at_most("fan-out over every tenant, s", seconds, 10.0)
    );
    for line in wrong.iter().take(5) {
        println!("  {line}");
    }
    let peak = sessions.peak;
    println!(
        "server sessions sampling: {}; peak {peak} (budget {}: {})",
        sessions.summary(),
        args.budget,
        bars.check(
            &format!("peak server sessions <= budget {}", args.budget),
            peak,
            peak <= i64::from(args.budget)
        )
    );
    bars.print();
    Ok(Exit::failed_unless(wrong.is_empty()).worst(bars.exit()))
}

/// Runs the scenario, then drops its database (on a signal, its guard does).
async fn bench(args: &Args) -> Result<Exit, String> {
    let mut dbs = ServerDatabases::new(ServerKind::Postgres, &args.postgres_url);
    let exit = scenario(args, &mut dbs).await;
    dbs.drop_all().await;
    exit
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    main_until_interrupted("bench-fan-out", Runtime::MultiThread, bench(&args))
}
