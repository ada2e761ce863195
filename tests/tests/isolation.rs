//! Isolation under load: 2,000 concurrent requests over 8 tenants; each tenant's
//! database, read directly, holds exactly the notes posted for it.

mod common;

use std::collections::BTreeSet;

use e2e_tests::{NotesServer, TenantsToml, notes_of};
use futures_util::future::join_all;
use sea_orm_tenant::testing::TestDatabases;

use common::{config_dir, read_direct};

const TENANTS: usize = 8;
const REQUESTS: usize = 2_000;

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
}

/// Runs the isolation scenario with tenant `i` on backend `i % backends.len()`.
async fn isolation_over(mut backends: Vec<TestDatabases>) {
    let names: Vec<String> = (0..TENANTS).map(|i| format!("iso{i}")).collect();
    let mut toml = TenantsToml::new();
    for (i, name) in names.iter().enumerate() {
        let n = backends.len();
        let url = backends[i % n].create(name).await;
        toml = toml.tenant(name, &url);
    }
    let dir = config_dir();
    let server = NotesServer::start(&toml.write_to(dir.path()), &[]).await;

    let requests = (0..REQUESTS).map(|i| {
        let server = &server;
        let tenant = i % TENANTS;
        let name = &names[tenant];
        async move {
            // Alternate header and query parameter; one request in four reads.
            let by_header = i % 2 == 0;
            let builder = if i % 4 == 3 {
                server.client().get(server.url("/notes?limit=1000"))
            } else {
                server
                    .client()
                    .post(server.url("/notes"))
                    .json(&serde_json::json!({ "body": format!("{name}:{i}") }))
            };
            let builder = if by_header {
                builder.header("X-Tenant", name.as_str())
            } else {
                builder.query(&[("tenant", name.as_str())])
            };
            let resp = builder.send().await.expect("request");
            let status = resp.status().as_u16();
            let json: serde_json::Value = resp.json().await.expect("JSON answer");
            if i % 4 == 3 {
                assert_eq!(status, 200, "{json}");
                let bodies = notes_of(&json).into_iter().map(|(_, b)| b).collect();
                Done::Listed { tenant, bodies }
            } else {
                assert_eq!(status, 201, "{json}");
                Done::Posted {
                    tenant,
                    id: json["id"].as_i64().expect("id"),
                    body: json["body"].as_str().expect("body").to_owned(),
                }
            }
        }
    });
    let done = join_all(requests).await;

    let mut posted: Vec<BTreeSet<(i64, String)>> = vec![BTreeSet::new(); TENANTS];
    for d in &done {
        match d {
            Done::Posted { tenant, id, body } => {
                assert!(body.starts_with(&format!("{}:", names[*tenant])));
                assert!(
                    posted[*tenant].insert((*id, body.clone())),
                    "id {id} given twice"
                );
            }
            Done::Listed { tenant, bodies } => {
                let prefix = format!("{}:", names[*tenant]);
                for body in bodies {
                    assert!(body.starts_with(&prefix), "{} saw {body}", names[*tenant]);
                }
            }
        }
    }
    assert_eq!(
        posted.iter().map(BTreeSet::len).sum::<usize>(),
        REQUESTS * 3 / 4
    );

    for (i, name) in names.iter().enumerate() {
        let n = backends.len();
        let stored: BTreeSet<(i64, String)> = read_direct(&backends[i % n], name)
            .await
            .into_iter()
            .collect();
        assert_eq!(
            stored, posted[i],
            "tenant {name}: database differs from what was posted"
        );
    }

    server.terminate().await;
    for dbs in backends {
        dbs.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_tenants_stay_isolated_under_2000_concurrent_requests() {
    isolation_over(vec![TestDatabases::sqlite()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_tenants_stay_isolated_under_2000_concurrent_requests() {
    let Some(pg) = TestDatabases::postgres() else {
        return;
    };
    isolation_over(vec![pg]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_tenants_stay_isolated_under_2000_concurrent_requests() {
    let Some(my) = TestDatabases::mysql() else {
        return;
    };
    isolation_over(vec![my]).await;
}

/// One server, tenants spread over SQLite, PostgreSQL and MariaDB (whichever are set).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tenants_mixing_sqlite_postgres_and_mysql_stay_isolated() {
    let backends = TestDatabases::all();
    if backends.len() == 1 {
        eprintln!("notice: no server database configured; the mixed config is SQLite only");
    }
    isolation_over(backends).await;
}
