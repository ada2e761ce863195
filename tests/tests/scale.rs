//! Many databases on one server within a connection budget: 150 tenant databases
//! on the local PostgreSQL (or MariaDB), `[servers."host:port"] max_connections =
//! 60`, notes-server migrating them all at start-up, then 10,000 requests at 64
//! concurrent connections, a random tenant each (seeded). A sampler counts the
//! server's sessions on those databases every 50 ms and opens a plain new
//! connection every 500 ms. Expected: no 5xx, no tenant seeing another's notes,
//! at most 60 sessions at any sample, the new connections always accepted, and
//! each database holding exactly the notes acknowledged for it.
//!
//! PostgreSQL allows 100 connections and MariaDB 151: 150 databases with a pool
//! each do not fit unless the budget is enforced.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use e2e_tests::scale::{SamplerReport, ServerDatabases, SplitMix64, tenant_names};
use e2e_tests::{NotesServer, notes_of};
use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};

const TENANTS: usize = 150;
const BUDGET: u32 = 60;
const REQUESTS: usize = 10_000;
const CONCURRENCY: usize = 64;
const SEED: u64 = 0x5CA1_E150;
/// One request in this many is a GET, the others POST.
const GET_EVERY: usize = 2;
/// The load stops here even if not every request was sent (a violation).
const LOAD_LIMIT: Duration = Duration::from_secs(300);
/// Sampling interval of the server's sessions.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// Interval between plain new connections to the server.
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// Violations of one kind quoted in the failure message.
const QUOTED: usize = 5;

/// The two scale tests run one after the other: they would compete for the 2 CPUs.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `(id, body)` pairs.
type Notes = Vec<(i64, String)>;

/// What one request did.
enum Done {
    Posted {
        tenant: usize,
        id: i64,
        body: String,
    },
    Listed {
        tenant: usize,
        bodies: Vec<String>,
    },
    /// Not the expected answer: status (`None`: no HTTP answer) and what came back.
    Failed {
        tenant: usize,
        post: bool,
        status: Option<u16>,
        text: String,
    },
}

/// Everything that went wrong, reported together at the end.
#[derive(Default)]
struct Violations(Vec<String>);

impl Violations {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }
}

fn quote<T: std::fmt::Debug>(items: &[T]) -> String {
    let mut text = format!("{:?}", &items[..items.len().min(QUOTED)]);
    if items.len() > QUOTED {
        let _ = write!(text, " and {} more", items.len() - QUOTED);
    }
    text
}

fn check_sampler(v: &mut Violations, phase: &str, report: &SamplerReport) {
    eprintln!("{phase}: {}", report.summary());
    v.check(report.samples > 0, || {
        format!("{phase}: no session count sampled")
    });
    v.check(report.errors.is_empty(), || {
        format!(
            "{phase}: sampling failed {} times: {}",
            report.errors.len(),
            quote(&report.errors)
        )
    });
    v.check(report.peak <= i64::from(BUDGET), || {
        format!(
            "{phase}: peak of {} sessions on the tenant databases (sampled at {:.1?}), budget {BUDGET}",
            report.peak, report.peak_at
        )
    });
    let failed = report.failed_probes();
    v.check(failed.is_empty(), || {
        format!(
            "{phase}: {} of {} plain new connections to the server failed: {}",
            failed.len(),
            report.probes.len(),
            quote(&failed)
        )
    });
}

async fn one_request(
    server: &NotesServer,
    name: &str,
    tenant: usize,
    i: usize,
    post: bool,
) -> Done {
    let client = server.client();
    let builder = if post {
        client
            .post(server.url("/notes"))
            .json(&serde_json::json!({ "body": format!("{name}:{i}") }))
    } else {
        client.get(server.url("/notes?limit=1000"))
    };
    // Alternate the two ways of naming the tenant.
    let builder = if i.is_multiple_of(2) {
        builder.header("X-Tenant", name)
    } else {
        builder.query(&[("tenant", name)])
    };
    let failed = |status, text| Done::Failed {
        tenant,
        post,
        status,
        text,
    };
    let resp = match builder.send().await {
        Ok(resp) => resp,
        Err(e) => return failed(None, e.to_string()),
    };
    let status = resp.status().as_u16();
    let text = match resp.text().await {
        Ok(text) => text,
        Err(e) => return failed(Some(status), format!("reading the body: {e}")),
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    match (post, status) {
        (true, 201) => match (json["id"].as_i64(), json["body"].as_str()) {
            (Some(id), Some(body)) => Done::Posted {
                tenant,
                id,
                body: body.to_owned(),
            },
            _ => failed(Some(status), text),
        },
        (false, 200) if json.is_array() => Done::Listed {
            tenant,
            bodies: notes_of(&json).into_iter().map(|(_, b)| b).collect(),
        },
        _ => failed(Some(status), text.chars().take(300).collect()),
    }
}

async fn scale_scenario(mut dbs: ServerDatabases) {
    let _serial = ONE_AT_A_TIME.lock().await;
    let backend = format!("{:?}", dbs.kind());
    let mut v = Violations::default();
    let names = tenant_names(TENANTS);

    let setup = Instant::now();
    dbs.create(&names, 4).await;
    eprintln!(
        "{backend}: created {TENANTS} databases {}_* in {:.1?}",
        dbs.prefix(),
        setup.elapsed()
    );
    let dir = tempfile::tempdir().expect("temporary folder for tenants.toml");
    let config = dbs.tenants_toml(&names, BUDGET).write_to(dir.path());

    // Start-up: notes-server migrates every tenant before it listens. Build it
    // first, so that the sampling covers the migrations, not cargo.
    tokio::task::spawn_blocking(e2e_tests::notes_server_binary)
        .await
        .expect("build notes-server");
    let sampler = dbs
        .sampler(SAMPLE_EVERY, Some(PROBE_EVERY), Duration::from_secs(150))
        .await;
    let started = Instant::now();
    let mut server = NotesServer::start_with_env(&config, &[], &[("RUST_LOG", "warn")]).await;
    let startup = sampler.stop().await;
    eprintln!(
        "{backend}: notes-server started (migrations included) in {:.1?}",
        started.elapsed()
    );
    check_sampler(&mut v, "start-up", &startup);
    let health = server.get("/health").await;
    let out_of_service = health.json["out_of_service"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    v.check(out_of_service.is_empty(), || {
        format!(
            "/health lists {} tenants out of service after start-up migrations: {}",
            out_of_service.len(),
            quote(&out_of_service)
        )
    });

    // The load: request i goes to plan[i], the same on every run.
    let mut rng = SplitMix64::new(SEED);
    let plan: Vec<(usize, bool)> = (0..REQUESTS)
        .map(|_| (rng.below(TENANTS), rng.below(GET_EVERY) != 0))
        .collect();
    let sampler = dbs
        .sampler(
            SAMPLE_EVERY,
            Some(PROBE_EVERY),
            LOAD_LIMIT + Duration::from_secs(10),
        )
        .await;
    let next = AtomicUsize::new(0);
    let load_started = Instant::now();
    let workers = (0..CONCURRENCY).map(|_| {
        let (server, names, plan, next) = (&server, &names, &plan, &next);
        async move {
            let mut done = Vec::new();
            while load_started.elapsed() < LOAD_LIMIT {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(tenant, post)) = plan.get(i) else {
                    break;
                };
                done.push(one_request(server, &names[tenant], tenant, i, post).await);
            }
            done
        }
    });
    let done: Vec<Done> = join_all(workers).await.into_iter().flatten().collect();
    let elapsed = load_started.elapsed();
    let load = sampler.stop().await;
    eprintln!(
        "{backend}: {} requests at concurrency {CONCURRENCY} in {elapsed:.1?} ({:.0} requests/s)",
        done.len(),
        done.len() as f64 / elapsed.as_secs_f64()
    );
    check_sampler(&mut v, "load", &load);
    v.check(done.len() == REQUESTS, || {
        format!(
            "only {} of {REQUESTS} requests done within {LOAD_LIMIT:?}",
            done.len()
        )
    });

    let mut posted: Vec<BTreeSet<(i64, String)>> = vec![BTreeSet::new(); TENANTS];
    let (mut server_errors, mut other_errors, mut leaks, mut duplicates) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut listed = 0;
    for d in done {
        match d {
            Done::Posted { tenant, id, body } => {
                if !body.starts_with(&format!("{}:", names[tenant])) {
                    leaks.push(format!("POST for {} answered body {body}", names[tenant]));
                }
                if !posted[tenant].insert((id, body)) {
                    duplicates.push(format!("{}: id {id} acknowledged twice", names[tenant]));
                }
            }
            Done::Listed { tenant, bodies } => {
                listed += 1;
                let own = format!("{}:", names[tenant]);
                leaks.extend(
                    bodies
                        .into_iter()
                        .filter(|b| !b.starts_with(&own))
                        .map(|b| format!("GET for {} returned {b}", names[tenant])),
                );
            }
            Done::Failed {
                tenant,
                post,
                status,
                text,
            } => {
                let what = format!(
                    "{} {}: {} {text}",
                    if post { "POST" } else { "GET" },
                    names[tenant],
                    status.map_or("no answer".to_owned(), |s| s.to_string())
                );
                if status.is_some_and(|s| s >= 500) {
                    server_errors.push(what);
                } else {
                    other_errors.push(what);
                }
            }
        }
    }
    let acknowledged: usize = posted.iter().map(BTreeSet::len).sum();
    eprintln!(
        "{backend}: {acknowledged} notes acknowledged, {listed} lists read, {} 5xx, {} other failures",
        server_errors.len(),
        other_errors.len()
    );
    v.check(server_errors.is_empty(), || {
        format!(
            "{} answers were 5xx: {}",
            server_errors.len(),
            quote(&server_errors)
        )
    });
    v.check(other_errors.is_empty(), || {
        format!(
            "{} requests failed otherwise: {}",
            other_errors.len(),
            quote(&other_errors)
        )
    });
    v.check(leaks.is_empty(), || {
        format!(
            "{} notes of another tenant seen: {}",
            leaks.len(),
            quote(&leaks)
        )
    });
    v.check(duplicates.is_empty(), || quote(&duplicates));

    let stopping = Instant::now();
    server.signal(e2e_tests::Signal::Term);
    let status = server.wait(Duration::from_secs(30)).await;
    eprintln!(
        "{backend}: notes-server stopped in {:.1?}",
        stopping.elapsed()
    );
    v.check(status.success(), || {
        format!("notes-server exited with {status}")
    });
    let reading = Instant::now();

    // Afterwards, each database read directly holds exactly its acknowledged notes.
    let stored: Vec<(usize, Result<Notes, String>)> = stream::iter(0..TENANTS)
        .map(|t| {
            let (dbs, names) = (&dbs, &names);
            async move {
                (
                    t,
                    dbs.read_notes(&names[t]).await.map_err(|e| e.to_string()),
                )
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut differing = Vec::new();
    for (t, rows) in stored {
        match rows {
            Ok(rows) => {
                let rows: BTreeSet<(i64, String)> = rows.into_iter().collect();
                if rows != posted[t] {
                    differing.push(format!(
                        "{}: {} rows stored, {} acknowledged, {} acknowledged but missing, {} not acknowledged",
                        names[t],
                        rows.len(),
                        posted[t].len(),
                        posted[t].difference(&rows).count(),
                        rows.difference(&posted[t]).count()
                    ));
                }
            }
            Err(e) => differing.push(format!("{}: cannot read: {e}", names[t])),
        }
    }
    differing.sort();
    eprintln!(
        "{backend}: {TENANTS} databases read directly in {:.1?}",
        reading.elapsed()
    );
    v.check(differing.is_empty(), || {
        format!(
            "{} databases do not hold exactly their acknowledged notes: {}",
            differing.len(),
            quote(&differing)
        )
    });

    let output = server.output();
    drop(server);
    let dropping = Instant::now();
    dbs.drop_all().await;
    eprintln!(
        "{backend}: databases dropped in {:.1?}; {:.1?} in all",
        dropping.elapsed(),
        setup.elapsed()
    );
    if !v.0.is_empty() {
        let log: Vec<&str> = output
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("WARN"))
            .collect();
        panic!(
            "{backend}: {TENANTS} databases, budget {BUDGET}: {} violations:\n- {}\nnotes-server warnings and errors ({}): {}",
            v.0.len(),
            v.0.join("\n- "),
            log.len(),
            quote(&log)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_150_databases_within_a_budget_of_60() {
    let Some(dbs) = ServerDatabases::postgres() else {
        return;
    };
    scale_scenario(dbs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_150_databases_within_a_budget() {
    let Some(dbs) = ServerDatabases::mysql() else {
        return;
    };
    scale_scenario(dbs).await;
}
