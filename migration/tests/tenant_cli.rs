//! `migration tenant ...` and `migration catalog init`: creating, listing and
//! dropping tenants from the command line, with a SQLite catalog; exit codes
//! 0, 1 (a tenant failed, named) and 2 (usage: nothing touched); a
//! quarantined tenant back to `active` after a successful `up`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::Value;

const M2: &str = "m20250101_000002_add_notes_title";

fn write_config(dir: &Path) -> PathBuf {
    let text = "[shared]\nurl = \"sqlite://shared.db?mode=rwc\"\n\n[catalog]\n\n\
                [provisioning]\nurl = \"sqlite://data/{tenant}.db?mode=rwc\"\n";
    let path = dir.join("tenants.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn migration(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_migration"))
        .env_remove("TENANTS_CONFIG")
        .env_remove("RUST_LOG")
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the migration binary")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("data"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".db"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn create_list_migrate_and_drop_tenants_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let out = migration(&config, &["catalog", "init"]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    // Usage errors: nothing created.
    let out = migration(&config, &["tenant", "create", "good", "../bad"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("../bad"));
    assert!(files(dir.path()).is_empty());

    let out = migration(
        &config,
        &["--format", "json", "tenant", "create", "acme", "globex"],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["ok"], 2);
    assert_eq!(report["tenants"][0]["version"], M2);
    assert_eq!(files(dir.path()), ["acme.db", "globex.db"]);

    // Bulk creation from a file, in parallel.
    let list = dir.path().join("names.txt");
    std::fs::write(&list, "# new customers\nt1\nt2\n\nt3\n").unwrap();
    let out = migration(
        &config,
        &[
            "-j",
            "3",
            "tenant",
            "create",
            "--from",
            list.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("3 tenants: 3 ok, 0 failed"),
        "{}",
        text(&out)
    );

    // A name taken, and an unreachable server: exit 1, the tenant named, nothing left.
    let out = migration(&config, &["tenant", "create", "acme"]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out).contains("tenant acme already exists"),
        "{}",
        text(&out)
    );
    let out = migration(
        &config,
        &[
            "tenant",
            "create",
            "remote",
            "--url",
            "postgres://u:pw@127.0.0.1:1/t_{tenant}",
        ],
    );
    assert_eq!(code(&out), 1);
    let said = text(&out);
    assert!(said.contains("remote") && !said.contains(":pw@"), "{said}");

    let out = migration(&config, &["--format", "json", "tenant", "list"]);
    assert_eq!(code(&out), 0);
    let listed = json(&out);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme", "globex", "t1", "t2", "t3"]);

    // A quarantined tenant comes back after a successful `up`.
    let shared = Database::connect(format!("sqlite://{}/shared.db", dir.path().display()))
        .await
        .unwrap();
    shared
        .execute_raw(Statement::from_string(
            DbBackend::Sqlite,
            "UPDATE tenants SET state = 'quarantined' WHERE name = 't2'",
        ))
        .await
        .unwrap();
    let out = migration(&config, &["up"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let state = shared
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT state FROM tenants WHERE name = 't2'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "state")
        .unwrap();
    assert_eq!(state, "active");

    // Disabled, then enabled again.
    let out = migration(&config, &["tenant", "disable", "t3"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = migration(&config, &["tenant", "list"]);
    assert!(
        text(&out)
            .lines()
            .any(|l| l.starts_with("t3") && l.contains("disabled")),
        "{}",
        text(&out)
    );
    let out = migration(&config, &["tenant", "enable", "t3"]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    let out = migration(&config, &["tenant", "drop", "acme", "--grace", "0s"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(files(dir.path()), ["globex.db", "t1.db", "t2.db", "t3.db"]);
    let out = migration(&config, &["tenant", "drop", "acme", "--grace", "0s"]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out).contains("tenant acme does not exist"),
        "{}",
        text(&out)
    );
    let out = migration(
        &config,
        &["tenant", "drop", "globex", "--keep-data", "--grace", "0s"],
    );
    assert_eq!(code(&out), 0);
    assert_eq!(files(dir.path()), ["globex.db", "t1.db", "t2.db", "t3.db"]);
    shared.close().await.ok();
}

/// `tenant move`: a SQLite tenant to another file (exit 0, the report in
/// JSON, the old file dropped after the grace), and usage errors (exit 2,
/// nothing touched): an unknown tenant, a target of another backend.
#[tokio::test]
async fn move_a_tenant_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    assert_eq!(code(&migration(&config, &["catalog", "init"])), 0);
    let out = migration(&config, &["tenant", "create", "acme"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let target = format!(
        "sqlite://{}/data/acme-moved.db?mode=rwc",
        dir.path().display()
    );

    let out = migration(&config, &["tenant", "move", "nosuch", "--to", &target]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let out = migration(
        &config,
        &[
            "tenant",
            "move",
            "acme",
            "--to",
            "postgres://u:pw@127.0.0.1:1/x",
        ],
    );
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(!text(&out).contains(":pw@"), "{}", text(&out));
    assert_eq!(files(dir.path()), ["acme.db"]);

    let out = migration(
        &config,
        &[
            "--format", "json", "tenant", "move", "acme", "--to", &target, "--grace", "0s",
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["result"]["source_dropped"], true, "{report}");
    assert_eq!(files(dir.path()), ["acme-moved.db"]);
    let out = migration(&config, &["--format", "json", "tenant", "list"]);
    assert!(text(&out).contains("acme-moved.db"), "{}", text(&out));
}
