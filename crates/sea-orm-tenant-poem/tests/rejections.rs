//! Every rejection status and body, custom bodies, exempt routes, and an
//! unavailable tenant next to a healthy one (SQLite files; PostgreSQL when
//! TEST_POSTGRES_URL is set).

mod common;

use std::time::Duration;

use poem::http::StatusCode;
use poem::test::TestClient;
use poem::{Endpoint, EndpointExt, IntoResponse, Response, Route, get, handler};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{TenantConfig, TenantConnections, current_tenant};
use sea_orm_tenant_poem::{CurrentTenant, Resolver, TenantMiddleware, TenantRejection};
use serde_json::json;

use common::{pool, store_with, whoami};

fn resolver() -> Resolver {
    Resolver::header("X-Tenant")
        .unwrap()
        .or(Resolver::query("tenant"))
}

fn app(store: TenantConnections) -> impl Endpoint {
    Route::new()
        .at("/whoami", get(whoami))
        .with(TenantMiddleware::new(store, resolver()))
}

#[tokio::test]
async fn a_missing_tenant_is_400_naming_the_sources() {
    let mut dbs = TestDatabases::sqlite();
    let cli = TestClient::new(app(store_with(&mut dbs, &["acme"]).await));
    let resp = cli.get("/whoami").send().await;
    resp.assert_status(StatusCode::BAD_REQUEST);
    resp.assert_content_type("application/json");
    resp.assert_json(json!({
        "error": "no tenant given: expected header X-Tenant or query parameter tenant"
    }))
    .await;
    // An empty value is a malformed name, not a missing one.
    let resp = cli.get("/whoami?tenant=").send().await;
    resp.assert_status(StatusCode::BAD_REQUEST);
    resp.assert_json(
        json!({"error": "malformed tenant name from query parameter tenant: tenant name is empty"}),
    )
    .await;
}

#[tokio::test]
async fn malformed_names_are_400_without_a_tenant_field_and_create_nothing() {
    let mut dbs = TestDatabases::sqlite();
    let cli = TestClient::new(app(store_with(&mut dbs, &["acme"]).await));
    let before = dbs.existing().await;
    let long = "a".repeat(64);
    let cases = [
        (
            "Acme",
            "tenant name contains uppercase 'A' at position 0; use lowercase",
        ),
        (
            "../etc/passwd",
            "tenant name contains '.' at position 0; only a-z, 0-9, '_' and '-' are allowed",
        ),
        (
            "-acme",
            "tenant name must start with a letter or a digit, not '-'",
        ),
        (
            "acme;drop",
            "tenant name contains ';' at position 4; only a-z, 0-9, '_' and '-' are allowed",
        ),
        (
            "nul",
            "tenant name \"nul\" is reserved (a Windows device name)",
        ),
        (
            "acmé",
            "tenant name contains non-ASCII character 'é' at position 3",
        ),
        (
            long.as_str(),
            "tenant name is 64 characters long; at most 63 are allowed",
        ),
    ];
    for (name, reason) in cases {
        let resp = cli.get("/whoami").query("tenant", &name).send().await;
        resp.assert_status(StatusCode::BAD_REQUEST);
        resp.assert_json(json!({
            "error": format!("malformed tenant name from query parameter tenant: {reason}")
        }))
        .await;
    }
    // A header value that is not UTF-8 is malformed too, never a 500.
    let resp = cli
        .get("/whoami")
        .header(
            "X-Tenant",
            poem::http::HeaderValue::from_bytes(b"ac\xffme").unwrap(),
        )
        .send()
        .await;
    resp.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(dbs.existing().await, before, "a bad name created a file");
}

#[tokio::test]
async fn an_unknown_tenant_is_404_with_the_tenant_and_creates_nothing() {
    let mut dbs = TestDatabases::sqlite();
    let cli = TestClient::new(app(store_with(&mut dbs, &["acme"]).await));
    let before = dbs.existing().await;
    let resp = cli
        .get("/whoami")
        .header("X-Tenant", "initech")
        .send()
        .await;
    resp.assert_status(StatusCode::NOT_FOUND);
    resp.assert_json(json!({"error": "unknown tenant initech", "tenant": "initech"}))
        .await;
    assert_eq!(dbs.existing().await, before);
}

/// A tenant whose database cannot be opened answers 503 with Retry-After,
/// while another tenant of the same store keeps answering 200.
async fn unavailable_next_to_healthy(mut dbs: TestDatabases, unavailable_url: String) {
    let healthy = store_with(&mut dbs, &["acme"]).await;
    let url = healthy.tenant_config("acme").unwrap().url().to_owned();
    let store = TenantConnections::builder()
        .defaults(pool())
        .tenant("acme", url)
        .tenant_config("broken", TenantConfig::new(unavailable_url))
        .build()
        .unwrap();
    let cli = TestClient::new(app(store));
    for _ in 0..2 {
        let resp = cli.get("/whoami").header("X-Tenant", "broken").send().await;
        resp.assert_status(StatusCode::SERVICE_UNAVAILABLE);
        resp.assert_header("retry-after", "5");
        resp.assert_json(json!({
            "error": "the database of tenant broken is unavailable; retry later",
            "tenant": "broken"
        }))
        .await;
        cli.get("/whoami")
            .header("X-Tenant", "acme")
            .send()
            .await
            .assert_text("acme acme-seed")
            .await;
    }
    dbs.cleanup().await;
}

#[tokio::test]
async fn an_unavailable_sqlite_tenant_is_503_while_another_answers_200() {
    let dbs = TestDatabases::sqlite();
    // A file in a folder that does not exist, without `mode=rwc`: the open
    // fails and creates nothing.
    let missing = dbs.dir().join("no-such-folder").join("broken.db");
    let url = format!("sqlite://{}", missing.display());
    unavailable_next_to_healthy(dbs, url).await;
    assert!(!missing.exists());
}

#[tokio::test]
async fn an_unavailable_postgres_tenant_is_503_while_another_answers_200() {
    let Some(dbs) = TestDatabases::postgres() else {
        return;
    };
    // A database that was never created on the server.
    let url = dbs.url("never_created");
    unavailable_next_to_healthy(dbs, url).await;
}

#[tokio::test]
async fn rejection_bodies_can_be_replaced_and_503s_keep_retry_after() {
    let mut dbs = TestDatabases::sqlite();
    let healthy = store_with(&mut dbs, &["acme"]).await;
    healthy
        .add_tenant(
            "broken",
            TenantConfig::new(format!("sqlite://{}/nope/x.db", dbs.dir().display())),
        )
        .unwrap();
    let app = Route::new().at("/whoami", get(whoami)).with(
        TenantMiddleware::new(healthy, resolver())
            .retry_after(Duration::from_secs(30))
            .on_rejection(|rejection: &TenantRejection| {
                let code = match rejection {
                    TenantRejection::Missing { .. } => "missing",
                    TenantRejection::Malformed { .. } => "malformed",
                    TenantRejection::Unknown(_) => "unknown",
                    TenantRejection::Unavailable { .. } => "unavailable",
                    _ => "other",
                };
                Response::builder()
                    .status(rejection.status())
                    .content_type("text/plain")
                    .body(format!(
                        "custom {code} {:?}",
                        rejection.tenant().map(|t| t.as_str())
                    ))
            }),
    );
    let cli = TestClient::new(app);
    let resp = cli.get("/whoami").send().await;
    resp.assert_status(StatusCode::BAD_REQUEST);
    resp.assert_text("custom missing None").await;
    cli.get("/whoami?tenant=A")
        .send()
        .await
        .assert_text("custom malformed None")
        .await;
    let resp = cli.get("/whoami?tenant=zz").send().await;
    resp.assert_status(StatusCode::NOT_FOUND);
    resp.assert_text("custom unknown Some(\"zz\")").await;
    let resp = cli.get("/whoami?tenant=broken").send().await;
    resp.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    resp.assert_header("retry-after", "30");
    resp.assert_text("custom unavailable Some(\"broken\")")
        .await;
    cli.get("/whoami?tenant=acme")
        .send()
        .await
        .assert_text("acme acme-seed")
        .await;
}

#[tokio::test]
async fn outer_middlewares_see_the_rejection_as_error_data() {
    let mut dbs = TestDatabases::sqlite();
    let app =
        app(store_with(&mut dbs, &["acme"]).await).catch_all_error(|err: poem::Error| async move {
            let status = err
                .data::<TenantRejection>()
                .map(|r| r.status().as_u16().to_string())
                .unwrap_or_default();
            format!("outer saw {status}").into_response()
        });
    let cli = TestClient::new(app);
    cli.get("/whoami?tenant=nobody")
        .send()
        .await
        .assert_text("outer saw 404")
        .await;
}

#[handler]
fn health(tenant: Option<CurrentTenant>) -> String {
    format!(
        "ok {:?} {:?}",
        tenant.map(|t| t.to_string()),
        current_tenant()
    )
}

#[handler]
fn needs_tenant(tenant: CurrentTenant) -> String {
    tenant.to_string()
}

#[tokio::test]
async fn exempt_paths_and_prefixes_run_with_no_tenant() {
    let mut dbs = TestDatabases::sqlite();
    let store = store_with(&mut dbs, &["acme"]).await;
    let app = Route::new()
        .at("/health", get(health))
        .at("/health/", get(health))
        .at("/docs", get(health))
        .at("/docs/*rest", get(health))
        .at("/docsx", get(health))
        .at("/exempt-but-needs-tenant", get(needs_tenant))
        .with(
            TenantMiddleware::new(store, Resolver::path_segment())
                .exempt("/health/")
                .exempt("exempt-but-needs-tenant")
                .exempt_prefix("/docs"),
        );
    let cli = TestClient::new(app);
    for path in ["/health", "/health/", "/docs", "/docs/", "/docs/index.css"] {
        // Even with a tenant given, exempt routes run without one.
        let resp = cli.get(path).header("X-Tenant", "acme").send().await;
        assert_eq!(resp.0.status(), StatusCode::OK, "{path}");
        resp.assert_text("ok None None").await;
    }
    // `/docsx` is not under `/docs`: the path resolver reads `docsx` as the tenant.
    let resp = cli.get("/docsx").send().await;
    resp.assert_status(StatusCode::NOT_FOUND);
    resp.assert_json(json!({"error": "unknown tenant docsx", "tenant": "docsx"}))
        .await;
    // Extracting the tenant on an exempt route is a wiring bug: 500, said plainly.
    let resp = cli.get("/exempt-but-needs-tenant").send().await;
    resp.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
    resp.assert_json(json!({
        "error": "no tenant is current on this route (exempt or not behind TenantMiddleware)"
    }))
    .await;
}

#[handler]
fn held_open(tenant: CurrentTenant) -> poem::Body {
    // A body that never ends: the response keeps the tenant's lease while unread.
    let _ = tenant;
    poem::Body::from_bytes_stream(futures_util::stream::pending::<
        Result<bytes::Bytes, std::io::Error>,
    >())
}

#[tokio::test]
async fn a_busy_store_is_503_until_the_streaming_response_releases_its_pool() {
    let mut dbs = TestDatabases::sqlite();
    let seeded = store_with(&mut dbs, &["acme", "globex"]).await;
    let mut builder =
        TenantConnections::builder()
            .max_open_pools(1)
            .defaults(sea_orm_tenant::PoolOptions {
                acquire_timeout: Some(Duration::from_millis(200)),
                ..pool()
            });
    for tenant in ["acme", "globex"] {
        builder = builder.tenant(tenant, seeded.tenant_config(tenant).unwrap().url());
    }
    let app = Route::new()
        .at("/whoami", get(whoami))
        .at("/held", get(held_open))
        .with(TenantMiddleware::new(builder.build().unwrap(), resolver()));
    let cli = TestClient::new(app);

    // acme's only pool is leased by a response whose body is still unread.
    let held = cli.get("/held?tenant=acme").send().await;
    held.assert_status_is_ok();
    let resp = cli.get("/whoami?tenant=globex").send().await;
    resp.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    resp.assert_header("retry-after", "5");
    resp.assert_json(json!({
        "error": "too many tenant databases are busy; retry later (tenant globex)",
        "tenant": "globex"
    }))
    .await;
    // Dropping the response ends the lease; acme's idle pool is evicted for globex.
    drop(held);
    cli.get("/whoami?tenant=globex")
        .send()
        .await
        .assert_text("globex globex-seed")
        .await;
}

#[tokio::test]
async fn a_closed_store_is_503() {
    let mut dbs = TestDatabases::sqlite();
    let store = store_with(&mut dbs, &["acme"]).await;
    let cli = TestClient::new(app(store.clone()));
    cli.get("/whoami?tenant=acme")
        .send()
        .await
        .assert_text("acme acme-seed")
        .await;
    store.close().await;
    let resp = cli.get("/whoami?tenant=acme").send().await;
    resp.assert_status(StatusCode::SERVICE_UNAVAILABLE);
    resp.assert_header("retry-after", "5");
    resp.assert_json(json!({"error": "the tenant store is closed"}))
        .await;
}
