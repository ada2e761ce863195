//! `GET /metrics`: Prometheus text with the store's figures, no tenant needed.

mod common;

use e2e_tests::{NotesServer, TenantsToml};
use reqwest::header::CONTENT_TYPE;
use sea_orm_tenant::testing::TestDatabases;
use serde_json::json;

use common::config_dir;

/// The value of the sample `series` (name and labels exactly as rendered).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_store_and_each_tenant() {
    let mut dbs = TestDatabases::sqlite();
    let toml = TenantsToml::new()
        .tenant("test1", &dbs.create("test1").await)
        .tenant("test2", &dbs.create("test2").await);
    let dir = config_dir();
    let server = NotesServer::start(&toml.write_to(dir.path()), &[]).await;
    let c = server.client();

    let created = c
        .post(server.url("/notes?tenant=test1"))
        .json(&json!({"body": "counted"}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201, "{}", server.output());
    let listed = c
        .get(server.url("/notes?tenant=test1"))
        .send()
        .await
        .expect("list");
    assert_eq!(listed.status(), 200, "{}", server.output());

    // No tenant needed; a tenant given anyway changes nothing.
    for url in ["/metrics", "/metrics?tenant=nope"] {
        let resp = c.get(server.url(url)).send().await.expect("metrics");
        assert_eq!(resp.status(), 200, "{url}: {}", server.output());
        let content_type = resp.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{url}: {content_type}"
        );
        let text = resp.text().await.expect("body");

        let queries = sample(
            &text,
            r#"sea_orm_tenant_tenant_queries_total{tenant="test1"}"#,
        )
        .unwrap_or_else(|| panic!("{url}: no test1 query count in\n{text}"));
        assert!(queries >= 1.0, "{url}: {queries} queries in\n{text}");
        assert_eq!(
            sample(&text, r#"sea_orm_tenant_tenant_open{tenant="test1"}"#),
            Some(1.0),
            "{url}:\n{text}"
        );
        assert!(
            sample(
                &text,
                r#"sea_orm_tenant_tenant_queries_total{tenant="test2"}"#
            )
            .is_some(),
            "{url}:\n{text}"
        );
        assert_eq!(
            sample(&text, "sea_orm_tenant_registered_tenants"),
            Some(2.0),
            "{url}:\n{text}"
        );
        assert!(
            text.contains("# TYPE sea_orm_tenant_tenant_queries_total counter"),
            "{url}:\n{text}"
        );
        assert!(
            text.contains("# HELP sea_orm_tenant_registered_tenants "),
            "{url}:\n{text}"
        );
    }

    // Counts move with the traffic between scrapes.
    let before = scrape_queries(&server, "test2").await;
    for _ in 0..3 {
        let resp = c
            .get(server.url("/notes?tenant=test2"))
            .send()
            .await
            .expect("list");
        assert_eq!(resp.status(), 200);
    }
    let after = scrape_queries(&server, "test2").await;
    assert!(after >= before + 3.0, "test2 queries {before} then {after}");

    server.terminate().await;
}

async fn scrape_queries(server: &NotesServer, tenant: &str) -> f64 {
    let text = server
        .client()
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    sample(
        &text,
        &format!("sea_orm_tenant_tenant_queries_total{{tenant=\"{tenant}\"}}"),
    )
    .unwrap_or_else(|| panic!("no {tenant} query count in\n{text}"))
}
