//! `just bench-vs-flask`: notes-server side by side with the Flask-SQLAlchemy
//! multi-tenant recipe the project grows from (`tests/flask-recipe`), both
//! serving `GET /notes?tenant=test1` from the very same SQLite files.
//!
//! 1. A Python virtual environment of its own (`<target>/bench-vs-flask/venv`)
//!    gets `tests/flask-recipe/requirements.txt` (skipped when a stamp file
//!    shows those exact requirements are installed).
//! 2. notes-server (release, `RUST_LOG=info` as when run plainly: one log line
//!    per request; `--quiet-log` for `warn`) starts on two SQLite tenants,
//!    test1 and test2, in a temporary folder; its migrations make the `notes`
//!    table and 20 notes go into test1 (5 into test2) through its API.
//! 3. The recipe starts under gunicorn (`-w 2`, sync workers) on a free
//!    loopback port, reading the same files; both must answer the same 20 notes.
//! 4. The harness's load generator ([`e2e_tests::bench::load`]: raw TCP, one
//!    request in flight per connection, on its own thread) drives both in
//!    interleaved rounds (the recipe, then notes-server; a warm-up, then a
//!    measured period each). Prints requests/s, p50, p99 and errors per run,
//!    the medians and the ratio notes-server/flask (`--format json` as well).
//! 5. Stops both servers (gunicorn's whole process group), also after an error,
//!    a panic, Ctrl-C or SIGTERM. Exit codes: [`e2e_tests::bench::exit`] (1
//!    when any answer was not 200 or a server did not start; no bar).
//!
//! The parts: [`e2e_tests::vs_flask`].

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use e2e_tests::NotesServer;
use e2e_tests::bench::cleanup::{Runtime, main as main_until_interrupted};
use e2e_tests::bench::exit::Exit;
use e2e_tests::bench::load::{LoadSpec, run_in_background};
use e2e_tests::bench::rounds::interleaved;
use e2e_tests::vs_flask::answers::{compare_answers, wait_flask_ready};
use e2e_tests::vs_flask::args::{Args, OTHER_TENANT_NOTES, Plan, REPORTED_PINS, TARGET, TENANTS};
use e2e_tests::vs_flask::cpu::{CpuSample, Processes};
use e2e_tests::vs_flask::gunicorn::Gunicorn;
use e2e_tests::vs_flask::report::{Run, Server, Setup, report};
use e2e_tests::vs_flask::venv::{ensure_venv, pins, python_version, recipe_dir, target_dir};

/// Sets up, measures, stops both servers.
async fn bench(args: &Args, plan: Plan) -> Result<Exit, String> {
    let requirements = recipe_dir().join("requirements.txt");
    let venv = args
        .venv
        .clone()
        .unwrap_or_else(|| target_dir().join("bench-vs-flask").join("venv"));
    ensure_venv(&args.python, &venv, &requirements)?;

    let dir = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    let db_dir = dir.path();
    // Like the repository's tenants.toml: the two tenants, no pool options.
    let mut toml = String::new();
    if let Some(n) = args.max_connections {
        toml.push_str(&format!("[defaults]\nmax_connections = {n}\n\n"));
    }
    for t in TENANTS {
        toml.push_str(&format!(
            "[tenants.{t}]\nurl = \"sqlite://{}/{t}.db?mode=rwc\"\n\n",
            db_dir.display()
        ));
    }
    let config = db_dir.join("tenants.toml");
    std::fs::write(&config, toml).map_err(|e| format!("write {}: {e}", config.display()))?;

    eprintln!("building notes-server (release) if needed...");
    tokio::task::spawn_blocking(e2e_tests::notes_server_binary)
        .await
        .map_err(|e| format!("building notes-server: {e}"))?;
    let rust_log = if args.quiet_log { "warn" } else { "info" };
    eprintln!("starting notes-server (RUST_LOG={rust_log}) on test1 and test2...");
    let notes_server = NotesServer::start_with_env(&config, &[], &[("RUST_LOG", rust_log)]).await;
    let notes = usize::from(args.notes);
    let expected = [(TENANTS[0], notes), (TENANTS[1], OTHER_TENANT_NOTES)];
    eprintln!(
        "seeding {notes} notes in test1, {OTHER_TENANT_NOTES} in test2 through POST /notes..."
    );
    for (tenant, count) in expected {
        for n in 0..count {
            let answer = notes_server
                .post_note(tenant, &format!("{tenant} note {n}"))
                .await
                .map_err(|e| format!("POST /notes?tenant={tenant}: {e}"))?;
            if answer.status != 201 {
                return Err(format!(
                    "POST /notes?tenant={tenant} answered {}: {}",
                    answer.status, answer.json
                ));
            }
        }
    }

    eprintln!(
        "starting the recipe: gunicorn -w {} app:app...",
        args.workers
    );
    let mut flask = Gunicorn::start(&venv, &recipe_dir(), db_dir, args.workers)?;
    let client = notes_server.client().clone();
    wait_flask_ready(&mut flask, &client, notes).await?;
    compare_answers(&client, &flask, &notes_server, &expected).await?;

    let spec_for = |addr: SocketAddr, duration: Duration| {
        LoadSpec::get(addr, TARGET)
            .connections(args.concurrency)
            .threads(args.client_threads)
            .duration(duration)
    };
    let runs = interleaved(
        plan.rounds,
        &[Server::Flask, Server::Notes],
        async |round, server| {
            flask.check_running()?;
            let (addr, processes) = match server {
                Server::Flask => (flask.addr(), Processes::Group(flask.pgid())),
                Server::Notes => (notes_server.addr(), Processes::Pid(notes_server.pid())),
            };
            let (warmup_errors, warmup_first_error) = if plan.warmup.is_zero() {
                (0, None)
            } else {
                let warm = run_in_background(spec_for(addr, plan.warmup)).await?;
                (warm.errors(), warm.first_error)
            };
            let before = CpuSample::take(processes);
            let measured = run_in_background(spec_for(addr, plan.seconds)).await?;
            let after = CpuSample::take(processes);
            Ok::<_, String>(Run {
                round,
                server,
                warmup_errors,
                warmup_first_error,
                measured,
                cpu: before.zip(after).and_then(|(b, a)| b.until(&a)),
            })
        },
    )
    .await?;
    flask.check_running()?;
    let runs: Vec<Run> = runs.into_iter().map(|m| m.result).collect();

    eprintln!("stopping both servers...");
    flask.stop();
    notes_server.terminate().await;
    let setup = Setup {
        notes,
        rust_log,
        max_connections: args.max_connections,
        pins: pins(&requirements, &REPORTED_PINS),
        python: python_version(&venv),
    };
    if report(args, &plan, &setup, &runs) {
        Ok(Exit::Ok)
    } else {
        eprintln!("bench-vs-flask: some requests were not answered 200 (see the report)");
        Ok(Exit::Failed)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let plan = match args.plan() {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("bench-vs-flask: {e}");
            return Exit::Usage.into();
        }
    };
    // Dropping the bench future (signal, error) drops the server guards: both stop.
    main_until_interrupted("bench-vs-flask", Runtime::CurrentThread, bench(&args, plan))
}
