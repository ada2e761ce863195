//! `just soak`: the release notes-server under sustained load with faults
//! injected, then every tenant's database read directly and checked against
//! what the client was acknowledged. See `e2e_tests::soak`.
//!
//! Tenants: SQLite files, PostgreSQL databases, schemas and row tenants, and MariaDB
//! databases (the server kinds whose `TEST_*_URL` is set). Requests: creates,
//! pages of the list, reads and deletes by id, a random tenant per request
//! (from the worker's shard: workers are split between the database servers
//! and, within one, into shards, so a stalled tenant holds up only its shard's
//! workers, as independent clients would; see `e2e_tests::soak::clients`),
//! named by header or query. A warm-up at full speed measures what the
//! machine serves; the clients then offer a fixed fraction of that
//! (`--load`, see `e2e_tests::bench::pace`).
//! One fault of each kind is injected on a schedule; the report gives each
//! fault's window, the affected tenants' answers, their recovery and the other
//! tenants' throughput. Exit codes: [`e2e_tests::bench::exit`] (1 when a
//! check fails, 3 when the other tenants kept less than 0.90 of their
//! throughput during a fault in a full run, 130 on Ctrl-C or SIGTERM, after
//! the throw-away databases are dropped). The pacing is the soak's own;
//! `--quick`, `--format`, the percentiles (nearest rank), the clean-up, the
//! bar and the exit code are the harness's ([`e2e_tests::bench`]). The parts:
//! [`e2e_tests::soak`].

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use e2e_tests::bench::bar::Bars;
use e2e_tests::bench::cleanup::{Runtime, main as main_until_interrupted};
use e2e_tests::bench::exit::Exit;
use e2e_tests::bench::pace::{Pace, Schedule};
use e2e_tests::bench::percentile::percentile_of;
use e2e_tests::scale::{ServerDatabases, SplitMix64};
use e2e_tests::soak::args::Args;
use e2e_tests::soak::clients::shards;
use e2e_tests::soak::cpu::DbCpu;
use e2e_tests::soak::faults::{Target, Targets, inject};
use e2e_tests::soak::history::History;
use e2e_tests::soak::outcome::{Outcome, Outcomes, by_status, fault_figures};
use e2e_tests::soak::read_back::{read_rows, read_tenant_rows};
use e2e_tests::soak::report::print_text;
use e2e_tests::soak::requests::one_request;
use e2e_tests::soak::schedule::{Tenant, kinds, schedule};
use e2e_tests::{NotesServer, TenantsToml};
use serde_json::json;

/// After a fault, time that is not yet normal (recovery) ...
const AFTER_FAULT: Duration = Duration::from_secs(1);
/// ... and then at least this much normal time before the next fault: the
/// others' throughput before it (a second's throughput varies by ±15% here).
const BASELINE: Duration = Duration::from_secs(4);
/// How soon the tenants of a fault must answer again once it is over.
const RECOVERY_LIMIT: Duration = Duration::from_secs(5);

#[derive(serde::Serialize)]
struct FaultReport {
    fault: &'static str,
    affected: Vec<String>,
    /// Cores the database servers used before the fault and during it.
    db_cpu_cores_before: Option<f64>,
    db_cpu_cores_during: Option<f64>,
    start_s: f64,
    end_s: f64,
    error: Option<String>,
    #[serde(flatten)]
    figures: e2e_tests::soak::outcome::FaultFigures,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // On a signal the soak future is dropped: the server is killed and the
    // throw-away databases are dropped by their guards.
    main_until_interrupted("soak", Runtime::MultiThread, soak(&args))
}

async fn soak(args: &Args) -> Result<Exit, String> {
    let total = args.quick.or(args.requests, 100_000, 20_000);
    let dir = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;

    // Tenants on every backend available.
    let mut tenants: Vec<Tenant> = (0..20)
        .map(|i| {
            let name = format!("s{i:02}");
            Tenant {
                target: Target::SqliteFile(dir.path().join(format!("{name}.db"))),
                name,
                kind: "sqlite",
            }
        })
        .collect();
    let mut toml = TenantsToml::new()
        .default_option("max_connections", "3")
        .default_option("acquire_timeout", "\"4s\"");
    for t in &tenants {
        if let Target::SqliteFile(path) = &t.target {
            toml = toml.tenant(&t.name, &format!("sqlite://{}?mode=rwc", path.display()));
        }
    }
    let mut pg = ServerDatabases::postgres();
    let mut mysql = ServerDatabases::mysql();
    let mut schema_url = None;
    let mut rows_url = None;
    if let Some(pg) = &mut pg {
        let names: Vec<String> = (0..15).map(|i| format!("p{i:02}")).collect();
        pg.create(&names, 4).await;
        for name in &names {
            toml = toml.tenant(name, &pg.url(name));
            tenants.push(Tenant {
                name: name.clone(),
                kind: "postgres",
                target: Target::PgDatabase(pg.database_name(name)),
            });
        }
        let schemas: Vec<String> = (0..10).map(|i| format!("c{i:02}")).collect();
        let url = pg.create_schema_database(&schemas, "t_").await;
        toml = toml.schema_database("soak", &url, "t_", &schemas, &["max_connections = 6"]);
        for name in schemas {
            tenants.push(Tenant {
                name,
                kind: "postgres-schema",
                target: Target::Server,
            });
        }
        schema_url = Some(url);
        let rows: Vec<String> = (0..10).map(|i| format!("r{i:02}")).collect();
        let url = pg.create_row_database().await;
        toml = toml.row_database("soak_rows", &url, &rows, &["max_connections = 4"]);
        for name in rows {
            tenants.push(Tenant {
                name,
                kind: "postgres-rows",
                target: Target::Server,
            });
        }
        rows_url = Some(pg.url("rows"));
        toml = toml.server_option(&pg.server_key(), "max_connections", "60");
    }
    if let Some(mysql) = &mut mysql {
        let names: Vec<String> = (0..10).map(|i| format!("m{i:02}")).collect();
        mysql.create(&names, 4).await;
        for name in &names {
            toml = toml.tenant(name, &mysql.url(name));
            tenants.push(Tenant {
                name: name.clone(),
                kind: "mysql",
                target: Target::Server,
            });
        }
    }
    let targets = Targets {
        pg_admin: pg.as_ref().map(|p| p.admin_url().to_owned()),
        pg_prefix: pg
            .as_ref()
            .map(|p| p.prefix().to_owned())
            .unwrap_or_default(),
        mysql_admin: mysql.as_ref().map(|m| m.admin_url().to_owned()),
        mysql_prefix: mysql
            .as_ref()
            .map(|m| m.prefix().to_owned())
            .unwrap_or_default(),
    };
    let config = toml.write_to(dir.path());
    let schedule = schedule(&tenants);
    eprintln!(
        "soak: {} tenants ({}), {total} requests, {} clients, faults: {}",
        tenants.len(),
        kinds(&tenants),
        args.concurrency,
        schedule
            .iter()
            .map(|s| s.fault.name())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let timeout = args.request_timeout.to_string();
    // The server refuses an idle timeout not longer than the request timeout.
    let idle = (args.request_timeout + 60).to_string();
    let server = NotesServer::start_with_env(
        &config,
        &["--request-timeout", &timeout, "--idle-timeout", &idle],
        &[("RUST_LOG", &args.server_log_level)],
    )
    .await;
    let memory_at_start = server.peak_memory_bytes();
    let server = Arc::new(server);
    let history = Arc::new(History::default());
    let outcomes = Arc::new(Outcomes::default());
    let issued = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    // Load goes on past `total` until the last fault has had its recovery
    // time: a fast server would otherwise finish before a restarted database
    // is back, and its recovery could not be seen.
    let tail = Arc::new(AtomicBool::new(true));
    let pace = Arc::new(Pace::default());
    let started = Instant::now();
    let (db_cpu, stop_db_cpu) = DbCpu::start(started);
    let deadline = started + Duration::from_secs(args.max_seconds);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.request_timeout + 5))
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .expect("HTTP client");
    let names: Arc<Vec<String>> = Arc::new(tenants.iter().map(|t| t.name.clone()).collect());

    let servers: Vec<&str> = tenants
        .iter()
        .map(|t| t.kind.split('-').next().unwrap_or(t.kind))
        .collect();
    let workers: Vec<_> = shards(&servers, args.concurrency)
        .into_iter()
        .enumerate()
        .map(|(w, shard)| {
            let tail = Arc::clone(&tail);
            let pace = Arc::clone(&pace);
            let (server, history, outcomes, issued, done, client, names) = (
                Arc::clone(&server),
                Arc::clone(&history),
                Arc::clone(&outcomes),
                Arc::clone(&issued),
                Arc::clone(&done),
                client.clone(),
                Arc::clone(&names),
            );
            let seed = args.seed ^ (w as u64).wrapping_mul(0x9E37_79B9);
            tokio::spawn(async move {
                let mut rng = SplitMix64::new(seed);
                let mut schedule = Schedule::default();
                let mut seq = 0u64;
                while (issued.fetch_add(1, Ordering::Relaxed) < total
                    || tail.load(Ordering::Relaxed))
                    && Instant::now() < deadline
                {
                    schedule.wait(&pace).await;
                    let tenant = shard[rng.below(shard.len())];
                    seq += 1;
                    let at = started.elapsed();
                    let begun = Instant::now();
                    let status =
                        one_request(&server, &client, &history, &names[tenant], w, seq, &mut rng)
                            .await;
                    outcomes.push(Outcome {
                        at,
                        took: begun.elapsed(),
                        tenant,
                        status,
                    });
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    // The warm-up: what the clients get through as fast as they can go
    // (its first second, connections opening, not counted), then the
    // offered load.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (counted_from, done_before) = (Instant::now(), done.load(Ordering::Relaxed));
    tokio::time::sleep_until((started + Duration::from_secs(args.warm_up)).into()).await;
    let warm_up_rate =
        (done.load(Ordering::Relaxed) - done_before) as f64 / counted_from.elapsed().as_secs_f64();
    let offered_rate = (args.load < 1.0).then(|| {
        let rate = warm_up_rate * args.load;
        pace.offer(rate, args.concurrency);
        rate
    });
    let paced_since = started.elapsed();
    eprintln!(
        "soak: warm-up {warm_up_rate:.0} requests/s; offered from now: {}",
        offered_rate.map_or("as fast as the clients go".to_owned(), |r| format!(
            "{r:.0}/s"
        ))
    );

    // The faults, spread over the run by requests completed.
    let mut records = Vec::new();
    for (i, scheduled) in schedule.iter().enumerate() {
        let at = total as usize * (i + 1) / (schedule.len() + 1);
        while done.load(Ordering::Relaxed) < at && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Normal time before each fault (after the warm-up, or after the
        // previous fault), so each has a throughput to compare the others'
        // with.
        let normal_from = records
            .last()
            .map_or(paced_since, |(_, _, previous_end, _)| {
                *previous_end + AFTER_FAULT
            });
        let quiet: Instant = started + normal_from + BASELINE;
        tokio::time::sleep_until(quiet.min(deadline).into()).await;
        let start = started.elapsed();
        eprintln!(
            "soak: {} at {:.1} s",
            scheduled.fault.name(),
            start.as_secs_f64()
        );
        let error = inject(scheduled.fault, &scheduled.target, &targets)
            .await
            .err();
        if let Some(e) = &error {
            eprintln!("soak: {} failed: {e}", scheduled.fault.name());
        }
        records.push((scheduled, start, started.elapsed(), error));
    }
    if let Some((_, _, injected, _)) = records.last() {
        let until = started + *injected + RECOVERY_LIMIT + Duration::from_secs(1);
        tokio::time::sleep_until(until.min(deadline).into()).await;
    }
    tail.store(false, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("worker");
    }
    let elapsed = started.elapsed();
    drop(stop_db_cpu);
    let server = Arc::try_unwrap(server).expect("workers are done");
    let peak_memory = server.peak_memory_bytes();
    let server_output = server.terminate().await;
    if let Some(path) = &args.server_log
        && let Err(e) = std::fs::write(path, &server_output)
    {
        eprintln!("soak: cannot write {}: {e}", path.display());
    }

    // Every tenant read directly.
    let mut checks = BTreeMap::new();
    let mut read_errors = Vec::new();
    for t in &tenants {
        let rows = match (t.kind, &t.target) {
            ("sqlite", Target::SqliteFile(path)) => {
                read_rows(&format!("sqlite://{}?mode=ro", path.display()), None).await
            }
            ("postgres", _) => pg
                .as_ref()
                .expect("postgres")
                .read_notes(&t.name)
                .await
                .map_err(|e| e.to_string()),
            ("postgres-rows", _) => {
                read_tenant_rows(rows_url.as_deref().expect("rows"), &t.name).await
            }
            ("mysql", _) => mysql
                .as_ref()
                .expect("mysql")
                .read_notes(&t.name)
                .await
                .map_err(|e| e.to_string()),
            _ => {
                read_rows(
                    schema_url.as_deref().expect("schemas"),
                    Some(&format!("t_{}", t.name)),
                )
                .await
            }
        };
        match rows {
            Ok(rows) => {
                checks.insert(t.name.clone(), history.check(&t.name, &rows));
            }
            Err(e) => read_errors.push(format!("{}: {e}", t.name)),
        }
    }

    // Figures and checks.
    let outcomes = outcomes.sorted();
    if let Some(path) = &args.outcomes {
        let mut csv = String::from("sent_s,took_s,tenant,kind,status\n");
        for o in &outcomes {
            let t = &tenants[o.tenant];
            csv.push_str(&format!(
                "{:.4},{:.4},{},{},{}\n",
                o.at.as_secs_f64(),
                o.took.as_secs_f64(),
                t.name,
                t.kind,
                o.status
            ));
        }
        if let Err(e) = std::fs::write(path, csv) {
            eprintln!("soak: cannot write {}: {e}", path.display());
        }
    }
    let limit = Duration::from_secs(args.request_timeout + 2);
    let mut failures: Vec<String> = Vec::new();
    let statuses = by_status(&outcomes);
    for bad in [0u16, 500] {
        if let Some(n) = statuses.get(&bad) {
            failures.push(format!("{n} requests answered {bad}"));
        }
    }
    let slowest = outcomes.iter().map(|o| o.took).max().unwrap_or_default();
    if slowest > limit {
        failures.push(format!("a request took {slowest:?} (limit {limit:?})"));
    }
    let mut faults = Vec::new();
    let mut bars = Bars::new(args.quick.bars_enforced());
    let mut quiet_since = paced_since;
    for (scheduled, start, end, error) in records {
        // The previous fault and the time after it are not normal time.
        let figures = fault_figures(&outcomes, &scheduled.affected, start, end, quiet_since);
        quiet_since = end + AFTER_FAULT;
        let name = scheduled.fault.name();
        if let Some(e) = &error {
            failures.push(format!("{name}: not injected: {e}"));
        }
        for status in figures.affected_statuses.keys() {
            if !matches!(status, 200 | 201 | 204 | 404 | 503) {
                failures.push(format!("{name}: an affected tenant answered {status}"));
            }
        }
        match figures.recovery_s {
            Some(s) if s <= RECOVERY_LIMIT.as_secs_f64() => {}
            other => failures.push(format!(
                "{name}: recovery {other:?} s (limit {} s)",
                RECOVERY_LIMIT.as_secs()
            )),
        }
        if let Some(ratio) = figures.others_throughput_ratio {
            bars.at_least(
                &format!("{name}: the other tenants' throughput kept"),
                ratio,
                0.9,
            );
        }
        let secs = Duration::from_secs_f64;
        faults.push(FaultReport {
            fault: name,
            db_cpu_cores_before: db_cpu.cores(secs(figures.before_s.0), secs(figures.before_s.1)),
            db_cpu_cores_during: db_cpu.cores(secs(figures.during_s.0), secs(figures.during_s.1)),
            affected: scheduled
                .affected
                .iter()
                .map(|&t| names[t].clone())
                .collect(),
            start_s: start.as_secs_f64(),
            end_s: end.as_secs_f64(),
            error,
            figures,
        });
    }
    let foreign_answers = history.foreign_answers();
    if !foreign_answers.is_empty() {
        failures.push(format!(
            "{} answers held another tenant's notes",
            foreign_answers.len()
        ));
    }
    failures.extend(read_errors.iter().map(|e| format!("read back: {e}")));
    for (tenant, check) in &checks {
        if !check.is_clean() {
            failures.push(format!("{tenant}: {check:?}"));
        }
    }
    let (acked_creates, acked_deletes) = history.counts();
    let latencies: Vec<Duration> = outcomes.iter().map(|o| o.took).collect();
    let rows: usize = checks.values().map(|c| c.rows).sum();
    let report = json!({
        "requests": outcomes.len(),
        "seconds": elapsed.as_secs_f64(),
        "requests_per_second": outcomes.len() as f64 / elapsed.as_secs_f64(),
        "load": {
            "warm_up_requests_per_second": warm_up_rate,
            "fraction": args.load,
            "offered_requests_per_second": offered_rate,
        },
        "statuses": statuses,
        "p50_ms": percentile_of(latencies.clone(), 0.50).as_secs_f64() * 1000.0,
        "p99_ms": percentile_of(latencies, 0.99).as_secs_f64() * 1000.0,
        "slowest_ms": slowest.as_secs_f64() * 1000.0,
        "tenants": kinds(&tenants),
        "server_memory": {
            "peak_bytes_after_start": memory_at_start,
            "peak_bytes": peak_memory,
        },
        "faults": faults,
        "read_back": {
            "tenants": checks.len(),
            "rows": rows,
            "acknowledged_creates": acked_creates,
            "acknowledged_deletes": acked_deletes,
            "lost": checks.values().map(|c| c.lost.len()).sum::<usize>(),
            "resurrected": checks.values().map(|c| c.resurrected.len()).sum::<usize>(),
            "foreign_rows": checks.values().map(|c| c.foreign.len()).sum::<usize>(),
            "foreign_in_answers": foreign_answers.len(),
        },
        "bars": bars.json(),
        "bar_lines": bars.lines(),
        "failures": failures,
    });
    if args.format.json() {
        println!("{}", serde_json::to_string_pretty(&report).expect("JSON"));
    } else {
        print_text(&report);
    }
    if let Some(pg) = pg {
        pg.drop_all().await;
    }
    if let Some(mysql) = mysql {
        mysql.drop_all().await;
    }
    Ok(Exit::failed_unless(failures.is_empty()).worst(bars.exit()))
}
