//! Restarts and shutdown: data survives a restart, and SIGTERM during load
//! loses no write the server acknowledged.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e_tests::{NotesServer, Signal, TenantsToml};
use sea_orm_tenant::testing::TestDatabases;
use tokio::sync::Notify;

use common::{config_dir, read_direct};

/// One tenant per available backend (SQLite always), named `<backend><n>`.
async fn one_tenant_per_backend(
    backends: &mut [TestDatabases],
    per_backend: usize,
) -> (TenantsToml, Vec<(usize, String)>) {
    let mut toml = TenantsToml::new();
    let mut tenants = Vec::new();
    for (b, dbs) in backends.iter_mut().enumerate() {
        for n in 0..per_backend {
            let name = format!("b{b}n{n}");
            toml = toml.tenant(&name, &dbs.create(&name).await);
            tenants.push((b, name));
        }
    }
    (toml, tenants)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_the_data() {
    let mut backends = TestDatabases::all();
    let (toml, tenants) = one_tenant_per_backend(&mut backends, 1).await;
    let dir = config_dir();
    let config = toml.write_to(dir.path());

    let server = NotesServer::start(&config, &[]).await;
    for (_, tenant) in &tenants {
        for i in 0..3 {
            let answer = server
                .post_note(tenant, &format!("{tenant}-{i}"))
                .await
                .expect("post");
            assert_eq!(answer.status, 201);
        }
    }
    let before: Vec<_> = {
        let mut all = Vec::new();
        for (_, tenant) in &tenants {
            all.push(server.list_notes(tenant).await);
        }
        all
    };
    server.terminate().await;

    let server = NotesServer::start(&config, &[]).await;
    for ((b, tenant), notes) in tenants.iter().zip(&before) {
        assert_eq!(notes.len(), 3);
        assert_eq!(
            &server.list_notes(tenant).await,
            notes,
            "{tenant} after restart"
        );
        assert_eq!(
            &read_direct(&backends[*b], tenant).await,
            notes,
            "{tenant} on disk"
        );
    }
    // Migrations are not re-applied: the restart found every tenant up to date.
    let output = server.terminate().await;
    assert!(output.contains("outcome=up-to-date"), "{output}");
    for dbs in backends {
        dbs.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_load_loses_no_acknowledged_write() {
    const WRITERS: usize = 16;
    const ACKED_BEFORE_SIGNAL: usize = 300;
    let mut backends = TestDatabases::all();
    let (toml, tenants) = one_tenant_per_backend(&mut backends, 2).await;
    let dir = config_dir();
    let mut server = NotesServer::start(&toml.write_to(dir.path()), &[]).await;

    let acked: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(Notify::new());
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (client, url) = (server.client().clone(), server.url("/notes"));
            let tenant_index = w % tenants.len();
            let tenant = tenants[tenant_index].1.clone();
            let (acked, count, progress) = (
                Arc::clone(&acked),
                Arc::clone(&count),
                Arc::clone(&progress),
            );
            tokio::spawn(async move {
                for n in 0.. {
                    let body = format!("w{w}-{n}");
                    let sent = client
                        .post(&url)
                        .query(&[("tenant", tenant.as_str())])
                        .json(&serde_json::json!({ "body": body }))
                        .send()
                        .await;
                    // Connection refused or reset: the server is gone. A 503
                    // (store closing) is not an acknowledgement either.
                    let Ok(resp) = sent else { break };
                    match resp.status().as_u16() {
                        201 => {
                            acked.lock().unwrap().push((tenant_index, body));
                            count.fetch_add(1, Ordering::SeqCst);
                            progress.notify_waiters();
                        }
                        503 => break,
                        other => panic!("unexpected status {other}"),
                    }
                }
            })
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(60);
    while count.load(Ordering::SeqCst) < ACKED_BEFORE_SIGNAL {
        let notified = progress.notified();
        if count.load(Ordering::SeqCst) >= ACKED_BEFORE_SIGNAL {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "load did not reach {ACKED_BEFORE_SIGNAL} writes"
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
    }
    let at_signal = count.load(Ordering::SeqCst);
    server.signal(Signal::Term);
    let status = server.wait(Duration::from_secs(60)).await;
    assert!(
        status.success(),
        "exit {status}; output:\n{}",
        server.output()
    );
    for writer in writers {
        writer.await.expect("writer task");
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= at_signal);
    assert!(server.output().contains("SIGTERM received"));

    for (t, (b, tenant)) in tenants.iter().enumerate() {
        let stored: BTreeSet<String> = read_direct(&backends[*b], tenant)
            .await
            .into_iter()
            .map(|(_, body)| body)
            .collect();
        let wanted: BTreeSet<String> = acked
            .iter()
            .filter(|(i, _)| *i == t)
            .map(|(_, body)| body.clone())
            .collect();
        let lost: Vec<_> = wanted.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "{tenant}: acknowledged but not stored: {lost:?}"
        );
    }
    eprintln!(
        "{} writes acknowledged, {at_signal} before SIGTERM; none lost",
        acked.len()
    );
    for dbs in backends {
        dbs.cleanup().await;
    }
}
