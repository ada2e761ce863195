//! Schema tenants on two PostgreSQL servers (the stand-in for tenants spread
//! over several nodes): notes-server migrates and serves both; when one server
//! stops, only its tenants answer 503 while the others keep answering; when it
//! is back, they recover without a restart of the app. Needs
//! `TEST_POSTGRES_URL` and `TEST_POSTGRES_URL_2` (`.ci/run` creates the second
//! cluster on port 5433).

mod common;

use std::process::Command;
use std::time::Duration;

use e2e_tests::{NotesServer, TenantsToml};
use sea_orm_tenant::testing::{POSTGRES_2_VAR, TestDatabases};

use common::{config_dir, read_direct, until_status};

/// The `pg_ctlcluster` version and name of the local cluster on `port`.
fn cluster_on(port: u16) -> Option<(String, String)> {
    let out = Command::new("pg_lsclusters").arg("-h").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            (cols.get(2) == Some(&port.to_string().as_str()))
                .then(|| (cols[0].to_owned(), cols[1].to_owned()))
        })
}

fn pg_ctl(cluster: &(String, String), action: &str) {
    let status = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &cluster.0, &cluster.1, action])
        .args(if action == "stop" {
            &["-m", "fast"][..]
        } else {
            &[][..]
        })
        .status()
        .expect("run pg_ctlcluster");
    assert!(status.success(), "pg_ctlcluster {action} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_down_only_its_schema_tenants_answer_503_then_recover() {
    let (Some(mut one), Some(mut two)) = (
        TestDatabases::postgres_schemas(),
        TestDatabases::postgres_schemas_from(POSTGRES_2_VAR),
    ) else {
        return;
    };
    let port = reqwest::Url::parse(&two.url(""))
        .ok()
        .and_then(|u| u.port());
    let Some(cluster) = port.and_then(cluster_on) else {
        eprintln!(
            "notice: {POSTGRES_2_VAR} is not a local cluster pg_ctlcluster can stop; skipping"
        );
        return;
    };
    let (a, b) = (
        ["a0".to_owned(), "a1".to_owned()],
        ["b0".to_owned(), "b1".to_owned()],
    );
    for t in &a {
        one.create(t).await;
    }
    for t in &b {
        two.create(t).await;
    }
    let options = ["acquire_timeout = \"1s\"", "connect_timeout = \"1s\""];
    let toml = TenantsToml::new()
        .schema_database("one", &one.url(""), "s_", &a, &options)
        .schema_database("two", &two.url(""), "s_", &b, &options);
    let dir = config_dir();
    let server = NotesServer::start(&toml.write_to(dir.path()), &[]).await;
    for t in a.iter().chain(&b) {
        let posted = server.post_note(t, "before").await.expect("post");
        assert_eq!(posted.status, 201, "{t}");
    }

    pg_ctl(&cluster, "stop");
    until_status(&server, "b0", 503, Duration::from_secs(15)).await;
    assert_eq!(
        server.post_note("b1", "during").await.expect("post").status,
        503
    );
    for t in &a {
        assert_eq!(server.list_notes(t).await.len(), 1, "{t}");
        assert_eq!(
            server.post_note(t, "during").await.expect("post").status,
            201
        );
    }

    pg_ctl(&cluster, "start");
    until_status(&server, "b0", 200, Duration::from_secs(15)).await;
    assert_eq!(
        server.post_note("b0", "after").await.expect("post").status,
        201
    );
    server.terminate().await;

    let bodies = |rows: Vec<(i64, String)>| rows.into_iter().map(|(_, b)| b).collect::<Vec<_>>();
    assert_eq!(bodies(read_direct(&two, "b0").await), ["before", "after"]);
    assert_eq!(bodies(read_direct(&two, "b1").await), ["before"]);
    assert_eq!(bodies(read_direct(&one, "a0").await), ["before", "during"]);
    one.cleanup().await;
    two.cleanup().await;
}
