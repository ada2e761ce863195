//! Two `notes-server` instances on one tenant catalog: a tenant created through
//! instance A's admin API is served by instance B on its very next request,
//! with notifications (PostgreSQL catalog) and without (SQLite catalog, an
//! hour-long poll); a drop on A reaches B. The admin API's refusals.

use std::path::Path;
use std::time::{Duration, Instant};

use e2e_tests::NotesServer;
use reqwest::StatusCode;
use sea_orm_tenant::testing::TestDatabases;
use serde_json::{Value, json};

const TOKEN: &str = "test-admin-token-0123456789";

fn write_config(
    dir: &Path,
    shared_url: &str,
    listen: bool,
    tenant_url: &str,
) -> std::path::PathBuf {
    let text = format!(
        "[shared]\nurl = \"{shared_url}\"\n\n[catalog]\npoll_interval = \"1h\"\nlisten = {listen}\n\n\
         [provisioning]\nurl = \"{tenant_url}\"\n"
    );
    let path = dir.join("tenants.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn admin(
    server: &NotesServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = server
        .client()
        .request(method, server.url(path))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn notes(server: &NotesServer, tenant: &str) -> StatusCode {
    server
        .client()
        .get(server.url(&format!("/notes?tenant={tenant}")))
        .send()
        .await
        .unwrap()
        .status()
}

/// Creates on A, then reads on B at once; drops on A, then waits (bounded) for B to 404.
async fn create_on_a_served_by_b(config: &Path, tenant: &str) {
    let env = [("ADMIN_TOKEN", TOKEN), ("RUST_LOG", "warn")];
    let a = NotesServer::start_with_env(config, &[], &env).await;
    let b = NotesServer::start_with_env(config, &[], &env).await;
    assert_eq!(notes(&b, tenant).await, StatusCode::NOT_FOUND);
    let (status, body) = admin(
        &a,
        reqwest::Method::POST,
        "/admin/tenants",
        Some(json!({ "name": tenant })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // B's very next request: no 404.
    assert_eq!(notes(&b, tenant).await, StatusCode::OK);
    let created = b
        .client()
        .post(b.url(&format!("/notes?tenant={tenant}")))
        .json(&json!({ "body": "from b" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let (status, list) = admin(&b, reqwest::Method::GET, "/admin/tenants", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["name"], tenant);
    assert_eq!(list[0]["state"], "active");

    let (status, body) = admin(
        &a,
        reqwest::Method::DELETE,
        &format!("/admin/tenants/{tenant}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(notes(&a, tenant).await, StatusCode::NOT_FOUND);
    // B learns of the drop from the notification, or from the unknown-tenant
    // re-read of another name (an hour-long poll would not come in time).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let _ = notes(&b, "someone-else").await;
        match notes(&b, tenant).await {
            StatusCode::NOT_FOUND => break,
            status => {
                assert!(
                    Instant::now() < deadline,
                    "B still answers {status} for a dropped tenant"
                );
                tokio::task::yield_now().await;
            }
        }
    }
    a.terminate().await;
    b.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_created_on_one_instance_is_served_by_another_without_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "sqlite://shared.db?mode=rwc",
        false,
        "sqlite://data/{tenant}.db?mode=rwc",
    );
    create_on_a_served_by_b(&config, "acme").await;
    assert!(!dir.path().join("data/acme.db").exists(), "file dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_created_on_one_instance_is_served_by_another_with_notifications() {
    let Some(mut dbs) = TestDatabases::postgres() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shared = dbs.create("shared").await;
    let config = write_config(dir.path(), &shared, true, &dbs.url_template());
    create_on_a_served_by_b(&config, "acme").await;
    assert!(
        !dbs.existing().await.iter().any(|n| n.ends_with("_acme")),
        "database dropped"
    );
    dbs.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_refuses_what_it_must() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "sqlite://shared.db?mode=rwc",
        false,
        "sqlite://data/{tenant}.db?mode=rwc",
    );
    // Unset token: every admin path is 404.
    let off = NotesServer::start_with_env(&config, &[], &[("RUST_LOG", "warn")]).await;
    for path in ["/admin/tenants", "/admin/tenants/acme", "/admin"] {
        let status = off
            .client()
            .get(off.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    off.terminate().await;

    let on = NotesServer::start_with_env(
        &config,
        &[],
        &[("ADMIN_TOKEN", TOKEN), ("RUST_LOG", "warn")],
    )
    .await;
    // No token, a wrong token, a token with a matching prefix: 401.
    for token in [None, Some("wrong"), Some(&TOKEN[..TOKEN.len() - 1])] {
        let mut req = on
            .client()
            .post(on.url("/admin/tenants"))
            .json(&json!({ "name": "acme" }));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        assert_eq!(req.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    // Hostile names and bodies: 4xx, nothing created.
    for body in [
        json!({ "name": "../etc" }),
        json!({ "name": "a\"; DROP TABLE tenants; --" }),
        json!({ "name": "Acme" }),
        json!({ "name": "x".repeat(100) }),
        json!({ "name": null }),
        json!({ "name": ["acme"] }),
        json!({}),
        json!([1, 2]),
    ] {
        let (status, answer) = admin(
            &on,
            reqwest::Method::POST,
            "/admin/tenants",
            Some(body.clone()),
        )
        .await;
        assert!(
            status.is_client_error(),
            "{body} answered {status}: {answer}"
        );
    }
    let raw = on
        .client()
        .post(on.url("/admin/tenants"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, b'{'])
        .send()
        .await
        .unwrap();
    assert!(raw.status().is_client_error());
    let (status, list) = admin(&on, reqwest::Method::GET, "/admin/tenants", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([]));
    assert!(
        !dir.path().join("data").exists()
            || std::fs::read_dir(dir.path().join("data"))
                .unwrap()
                .next()
                .is_none()
    );
    // Dropping what does not exist: 404.
    let (status, _) = admin(&on, reqwest::Method::DELETE, "/admin/tenants/nobody", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    on.terminate().await;

    // Without a catalog: the list answers, create and drop are 409.
    let plain = dir.path().join("plain.toml");
    std::fs::write(
        &plain,
        "[tenants.test1]\nurl = \"sqlite://t1.db?mode=rwc\"\n",
    )
    .unwrap();
    let plain =
        NotesServer::start_with_env(&plain, &[], &[("ADMIN_TOKEN", TOKEN), ("RUST_LOG", "warn")])
            .await;
    let (status, list) = admin(&plain, reqwest::Method::GET, "/admin/tenants", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["name"], "test1");
    let (status, body) = admin(
        &plain,
        reqwest::Method::POST,
        "/admin/tenants",
        Some(json!({ "name": "acme" })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"].as_str().unwrap().contains("catalog"),
        "{body}"
    );
    let (status, _) = admin(
        &plain,
        reqwest::Method::DELETE,
        "/admin/tenants/test1",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    plain.terminate().await;
}

/// Waits (bounded) until `GET /notes` for `tenant` answers `want`.
async fn until_status(server: &NotesServer, tenant: &str, want: StatusCode) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = notes(server, tenant).await;
        if status == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{tenant}: still {status}, want {want}"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantined_tenant_in_the_catalog_answers_503_and_comes_back_without_a_restart() {
    use sea_orm_tenant::sea_orm::{ConnectionTrait, Database};
    let dir = tempfile::tempdir().unwrap();
    let text = "[shared]\nurl = \"sqlite://shared.db?mode=rwc\"\n\n[catalog]\npoll_interval = \"100ms\"\n\
                listen = false\n\n[provisioning]\nurl = \"sqlite://data/{tenant}.db?mode=rwc\"\n";
    let config = dir.path().join("tenants.toml");
    std::fs::write(&config, text).unwrap();
    let server = NotesServer::start_with_env(
        &config,
        &[],
        &[("ADMIN_TOKEN", TOKEN), ("RUST_LOG", "warn")],
    )
    .await;
    let (status, _) = admin(
        &server,
        reqwest::Method::POST,
        "/admin/tenants",
        Some(json!({ "name": "acme" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(notes(&server, "acme").await, StatusCode::OK);
    // What a failed `migration up` elsewhere records, written directly.
    let shared = Database::connect(format!("sqlite://{}/shared.db", dir.path().display()))
        .await
        .unwrap();
    let set_state = |state: &'static str| {
        let shared = shared.clone();
        async move {
            for sql in [
                format!("UPDATE tenants SET state = '{state}' WHERE name = 'acme'"),
                "UPDATE tenant_catalog_generation SET generation = generation + 1".to_owned(),
            ] {
                shared.execute_unprepared(&sql).await.unwrap();
            }
        }
    };
    set_state("quarantined").await;
    until_status(&server, "acme", StatusCode::SERVICE_UNAVAILABLE).await;
    let (_, list) = admin(&server, reqwest::Method::GET, "/admin/tenants", None).await;
    assert_eq!(list[0]["state"], "quarantined");
    let health: Value = server
        .client()
        .get(server.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["out_of_service"], json!(["acme"]));
    set_state("active").await;
    until_status(&server, "acme", StatusCode::OK).await;
    // Disabled: 404 on every instance, data kept.
    set_state("disabled").await;
    until_status(&server, "acme", StatusCode::NOT_FOUND).await;
    assert!(dir.path().join("data/acme.db").exists());
    shared.close().await.ok();
    server.terminate().await;
}
