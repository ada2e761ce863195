//! The `migration` binary: the CLI contract, exit codes, `--format json`, and
//! two processes migrating the same tenants at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use migration::Migrator;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sea_orm_migration::MigratorTrait;
use sea_orm_tenant::testing::TestDatabases;
use serde_json::Value;

const M1: &str = "m20250101_000001_create_notes";
const M2: &str = "m20250101_000002_add_notes_title";

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t{i:02}")).collect()
}

/// Writes a `tenants.toml` for these tenants into `dir`, small pools.
fn write_config(dir: &Path, tenants: &[(String, String)]) -> PathBuf {
    let mut text = String::from("[defaults]\nmax_connections = 1\nconnect_timeout = \"3s\"\n");
    for (name, url) in tenants {
        text.push_str(&format!("\n[tenants.{name}]\nurl = \"{url}\"\n"));
    }
    let path = dir.join("tenants.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn migration(config: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    run(Command::new(env!("CARGO_BIN_EXE_migration"))
        .env_remove("TENANTS_CONFIG")
        .args(all))
}

fn run(cmd: &mut Command) -> Output {
    cmd.env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run the migration binary")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn recorded(db: &DatabaseConnection) -> Vec<String> {
    let pending = Migrator::get_pending_migrations(db).await.unwrap();
    let applied = Migrator::get_applied_migrations(db).await.unwrap();
    assert_eq!(pending.len() + applied.len(), 2);
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM seaql_migrations ORDER BY version",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String>("", "version").unwrap())
        .collect()
}

/// Checks that the JSON report and the text report say the same thing.
fn assert_json_matches_text(json: &str, text: &str) {
    let report: Value = serde_json::from_str(json).expect("--format json parses");
    let tenants = report["tenants"].as_array().unwrap();
    assert!(!tenants.is_empty());
    let op = report["operation"]["op"].as_str().unwrap();
    for t in tenants {
        let name = t["tenant"].as_str().unwrap();
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("text report has a row for {name}:\n{text}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[1], t["outcome"].as_str().unwrap(), "{line}");
        let count = if op == "status" {
            &t["pending"]
        } else {
            &t["migrations"]
        };
        assert_eq!(
            cols[2],
            count.as_array().unwrap().len().to_string(),
            "{line}"
        );
        assert_eq!(
            *cols.last().unwrap(),
            t["version"].as_str().unwrap_or("-"),
            "{line}"
        );
    }
    let s = &report["summary"];
    let summary = format!(
        "{} tenants: {} migrated, {} up-to-date, {} behind, {} failed, {} skipped",
        s["total"], s["migrated"], s["up_to_date"], s["behind"], s["failed"], s["skipped"]
    );
    assert!(text.contains(&summary), "{summary}\n{text}");
}

#[test]
fn usage_and_configuration_errors_exit_2_and_touch_no_database() {
    let dbs = TestDatabases::sqlite();
    let tenants: Vec<_> = names(2)
        .into_iter()
        .map(|t| (t.clone(), dbs.url(&t)))
        .collect();
    let config = write_config(dbs.dir(), &tenants);

    let out = migration(&config, &["--tenant", "ghost", "up"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("ghost"), "{}", stderr(&out));

    let out = migration(&config, &["--tenant", "t00", "--tenant", "../../etc", "up"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));

    let out = migration(&dbs.dir().join("missing.toml"), &["up"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));

    let bad = dbs.dir().join("bad.toml");
    std::fs::write(&bad, "[tenants.a]\nurl = 3\n").unwrap();
    assert_eq!(code(&migration(&bad, &["status"])), 2);

    assert_eq!(
        code(&migration(&config, &["sideways"])),
        2,
        "unknown subcommand"
    );
    assert_eq!(code(&migration(&config, &["--jobs", "0", "up"])), 2);
    assert_eq!(code(&migration(&config, &["--format", "yaml", "up"])), 2);
    assert_eq!(
        code(&migration(&config, &[])),
        2,
        "a subcommand is required"
    );

    let help = migration(&config, &["--help"]);
    assert_eq!(code(&help), 0);
    for word in [
        "up",
        "down",
        "status",
        "fresh",
        "refresh",
        "reset",
        "--tenant",
        "--jobs",
        "--fail-fast",
        "--format",
    ] {
        assert!(stdout(&help).contains(word), "help mentions {word}");
    }

    let files: Vec<String> = std::fs::read_dir(dbs.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".db"))
        .collect();
    assert!(files.is_empty(), "no database was created: {files:?}");
}

#[test]
fn config_comes_from_the_environment_or_the_working_directory() {
    let dbs = TestDatabases::sqlite();
    let config = write_config(dbs.dir(), &[("solo".to_owned(), dbs.url("solo"))]);

    let out = run(Command::new(env!("CARGO_BIN_EXE_migration"))
        .current_dir(dbs.dir())
        .env_remove("TENANTS_CONFIG")
        .args(["status", "--check"]));
    assert_eq!(
        code(&out),
        1,
        "tenants.toml in the working directory\n{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("solo"));

    let elsewhere = tempfile::tempdir().unwrap();
    let out = run(Command::new(env!("CARGO_BIN_EXE_migration"))
        .current_dir(elsewhere.path())
        .env("TENANTS_CONFIG", &config)
        .args(["up"]));
    let out = if code(&out) == 0 {
        out
    } else {
        panic!("{}", stderr(&out))
    };
    assert!(stdout(&out).contains("solo"));

    let out = run(Command::new(env!("CARGO_BIN_EXE_migration"))
        .current_dir(elsewhere.path())
        .env_remove("TENANTS_CONFIG")
        .args(["up"]));
    assert_eq!(code(&out), 2, "no tenants.toml here");
}

async fn contract(mut dbs: TestDatabases) {
    let backend = dbs.backend();
    let urls = dbs.create_many(&names(3)).await;
    let config = write_config(dbs.dir(), &urls);

    let out = migration(&config, &["status", "--check"]);
    assert_eq!(code(&out), 1, "{backend:?}: all behind\n{}", stdout(&out));
    assert!(stdout(&out).contains("Behind:"));

    let out = migration(&config, &["--tenant", "t01", "up", "-n", "1"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let json = migration(&config, &["--format", "json", "--tenant", "t01", "status"]);
    assert_eq!(code(&json), 0);
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["tenants"][0]["pending"], serde_json::json!([M2]));

    let text = migration(&config, &["--jobs", "2", "up"]);
    assert_eq!(code(&text), 0, "{}{}", stdout(&text), stderr(&text));
    assert!(stdout(&text).contains("3 migrated"), "{}", stdout(&text));

    for t in names(3) {
        let db = dbs.connect_direct(&t).await;
        assert_eq!(recorded(&db).await, [M1, M2], "{backend:?} {t}");
        // The schema the notes server relies on.
        db.execute_unprepared("INSERT INTO notes (body) VALUES ('hello')")
            .await
            .unwrap();
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT id, body, title FROM notes",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i32>("", "id").unwrap(), 1);
        assert_eq!(row.try_get::<String>("", "title").unwrap(), "");
        db.close().await.ok();
    }

    // A second `up` is a no-op; text and JSON agree.
    let text = migration(&config, &["up"]);
    let json = migration(&config, &["--format", "json", "up"]);
    assert_eq!((code(&text), code(&json)), (0, 0));
    assert!(stdout(&text).contains("3 up-to-date"), "{}", stdout(&text));
    assert_json_matches_text(&stdout(&json), &stdout(&text));

    assert_eq!(code(&migration(&config, &["status", "--check"])), 0);

    let out = migration(&config, &["--tenant", "t02", "down"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let check = migration(&config, &["status", "--check"]);
    assert_eq!(code(&check), 1);
    assert!(
        stdout(&check).contains(&format!("Behind:\n  t02: {M2}")),
        "{}",
        stdout(&check)
    );
    let json = migration(&config, &["--format", "json", "status"]);
    assert_eq!(code(&json), 0, "status without --check does not gate");
    assert_json_matches_text(&stdout(&json), &stdout(&check));

    for op in ["refresh", "reset", "fresh"] {
        let out = migration(&config, &[op]);
        assert_eq!(code(&out), 0, "{op}: {}{}", stdout(&out), stderr(&out));
    }
    assert_eq!(
        code(&migration(&config, &["status", "--check"])),
        0,
        "fresh re-applied everything"
    );

    dbs.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_contract_sqlite() {
    contract(TestDatabases::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_contract_postgres() {
    if let Some(dbs) = TestDatabases::postgres() {
        contract(dbs).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_contract_mysql() {
    if let Some(dbs) = TestDatabases::mysql() {
        contract(dbs).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_tenant_exits_1_and_is_named_fail_fast_skips_the_rest() {
    let mut dbs = TestDatabases::sqlite();
    let urls = dbs.create_many(&names(10)).await;
    let config = write_config(dbs.dir(), &urls);
    let broken = sea_orm::Database::connect(dbs.url("t03")).await.unwrap();
    broken
        .execute_unprepared("CREATE TABLE notes (other INTEGER)")
        .await
        .unwrap();
    broken.close().await.unwrap();

    let fast = migration(
        &config,
        &["--jobs", "1", "--fail-fast", "--format", "json", "up"],
    );
    assert_eq!(code(&fast), 1);
    let report: Value = serde_json::from_slice(&fast.stdout).unwrap();
    assert_eq!(report["summary"]["migrated"], 3, "{}", stdout(&fast));
    assert_eq!(report["summary"]["failed"], 1);
    assert_eq!(report["summary"]["skipped"], 6);

    let out = migration(&config, &["--jobs", "3", "up"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.contains("6 migrated"), "{text}");
    let failed = text.split("Failed:\n").nth(1).expect("a Failed section");
    assert!(
        failed.starts_with("  t03: ") && failed.contains("notes"),
        "{text}"
    );
}

async fn two_processes(mut dbs: TestDatabases) {
    let backend = dbs.backend();
    let tenants = names(20);
    let urls = dbs.create_many(&tenants).await;
    let config = write_config(dbs.dir(), &urls);
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_migration"))
            .args([
                "--config",
                config.to_str().unwrap(),
                "--jobs",
                "3",
                "--format",
                "json",
                "up",
            ])
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(
        (code(&a), code(&b)),
        (0, 0),
        "{backend:?}\n{}\n{}",
        stdout(&a),
        stdout(&b)
    );
    let (ra, rb): (Value, Value) = (
        serde_json::from_slice(&a.stdout).unwrap(),
        serde_json::from_slice(&b.stdout).unwrap(),
    );
    for (i, t) in tenants.iter().enumerate() {
        let outcomes = [&ra["tenants"][i], &rb["tenants"][i]];
        assert!(outcomes.iter().all(|r| r["tenant"] == t.as_str()));
        let migrated: Vec<_> = outcomes
            .iter()
            .filter(|r| r["outcome"] == "migrated")
            .collect();
        assert_eq!(
            migrated.len(),
            1,
            "{backend:?} {t}: migrated by exactly one process"
        );
        let db = dbs.connect_direct(t).await;
        assert_eq!(
            recorded(&db).await,
            [M1, M2],
            "{backend:?} {t}: each migration recorded once"
        );
        db.close().await.ok();
    }
    dbs.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_the_same_20_tenants_sqlite() {
    two_processes(TestDatabases::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_the_same_20_tenants_postgres() {
    if let Some(dbs) = TestDatabases::postgres() {
        two_processes(dbs).await;
    }
}

/// `query`: each tenant's own rows, as the tenant's database holds them; a
/// write is refused or undone and nothing changes; an unknown tenant is a usage error.
async fn query_contract(mut dbs: TestDatabases) {
    let urls = dbs.create_many(&names(3)).await;
    let config = write_config(dbs.dir(), &urls);
    assert_eq!(code(&migration(&config, &["up"])), 0);
    for (i, (name, _)) in urls.iter().enumerate() {
        let db = dbs.connect_direct(name).await;
        for n in 0..=i {
            db.execute_unprepared(&format!(
                "INSERT INTO notes (title, body) VALUES ('{name}', 'note {n}')"
            ))
            .await
            .unwrap();
        }
        db.close().await.ok();
    }
    let count = "SELECT count(*) AS notes, min(title) AS title FROM notes";
    let out = migration(
        &config,
        &["--format", "json", "--jobs", "2", "query", count],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).expect("JSON report");
    let tenants = report["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 3);
    for t in tenants {
        let name = t["tenant"].as_str().unwrap();
        let i: i64 = name[1..].parse().unwrap();
        assert_eq!(t["outcome"], "done", "{t}");
        assert_eq!(t["value"][0]["title"], name, "{t}");
        assert_eq!(t["value"][0]["notes"].as_i64(), Some(i + 1), "{t}");
    }
    let out = migration(&config, &["--tenant", "t01", "query", count]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("t01: 1 row(s)"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("t00"), "{}", stdout(&out));

    let out = migration(&config, &["query", "DELETE FROM notes"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert_eq!(
        stdout(&out).matches("FAILED").count(),
        3,
        "{}",
        stdout(&out)
    );
    for (i, (name, _)) in urls.iter().enumerate() {
        let db = dbs.connect_direct(name).await;
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT count(*) AS n FROM notes",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), i as i64 + 1, "{name}");
        db.close().await.ok();
    }
    let out = migration(&config, &["--tenant", "nobody", "query", count]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    dbs.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_reads_each_tenant_and_writes_nothing_sqlite() {
    query_contract(TestDatabases::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_reads_each_tenant_and_writes_nothing_postgres() {
    if let Some(dbs) = TestDatabases::postgres() {
        query_contract(dbs).await;
    }
}
