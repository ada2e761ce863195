//! Every resolver, chains, precedence and disagreement, against real SQLite files.

mod common;

use poem::http::StatusCode;
use poem::test::TestClient;
use poem::{EndpointExt, Request, Route, get, handler};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant_poem::{ConflictPolicy, CurrentTenant, Resolver, TenantMiddleware};
use serde_json::json;

use common::{seed_of, store_with, whoami};

/// The tenant, the seed row read from its database, and the URI the inner
/// endpoint sees.
#[handler]
async fn echo(req: &Request, tenant: CurrentTenant) -> poem::Result<String> {
    let seed = seed_of(&tenant).await?;
    Ok(format!("{} {seed} {}", tenant.key(), req.uri()))
}

async fn client(resolver: Resolver) -> (TestDatabases, TestClient<impl poem::Endpoint>) {
    let mut dbs = TestDatabases::sqlite();
    let store = store_with(&mut dbs, &["acme", "globex"]).await;
    let app = Route::new()
        .at("/whoami", get(whoami))
        .with(TenantMiddleware::new(store, resolver));
    (dbs, TestClient::new(app))
}

#[tokio::test]
async fn query_parameter_tenant_is_the_default_and_is_percent_decoded() {
    let (_dbs, cli) = client(Resolver::default()).await;
    cli.get("/whoami?tenant=acme")
        .send()
        .await
        .assert_text("acme acme-seed")
        .await;
    cli.get("/whoami?tenant=globex")
        .send()
        .await
        .assert_text("globex globex-seed")
        .await;
    cli.get("/whoami?x=1&tenant=%67lobex")
        .send()
        .await
        .assert_text("globex globex-seed")
        .await;
    cli.get("/whoami?tenant=acme&tenant=acme")
        .send()
        .await
        .assert_text("acme acme-seed")
        .await;
}

#[tokio::test]
async fn a_repeated_query_parameter_with_two_values_is_rejected() {
    let (_dbs, cli) = client(Resolver::default()).await;
    let resp = cli.get("/whoami?tenant=acme&tenant=globex").send().await;
    resp.assert_status(StatusCode::BAD_REQUEST);
    resp.assert_json(json!({
        "error": "tenant sources disagree: query parameter tenant gives \"acme\", query parameter tenant gives \"globex\""
    }))
    .await;
}

#[tokio::test]
async fn header_resolver_reads_the_named_header() {
    let (_dbs, cli) = client(Resolver::header("X-Tenant").unwrap()).await;
    cli.get("/whoami")
        .header("X-Tenant", "globex")
        .send()
        .await
        .assert_text("globex globex-seed")
        .await;
    cli.get("/whoami")
        .header("x-tenant", "acme")
        .send()
        .await
        .assert_text("acme acme-seed")
        .await;
    // The query parameter is not a configured source here.
    cli.get("/whoami?tenant=acme")
        .send()
        .await
        .assert_status(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn subdomain_resolver_reads_the_host_header_without_its_port() {
    let (_dbs, cli) = client(Resolver::subdomain("example.com")).await;
    cli.get("/whoami")
        .header("Host", "acme.example.com")
        .send()
        .await
        .assert_text("acme acme-seed")
        .await;
    cli.get("/whoami")
        .header("Host", "globex.example.com:8080")
        .send()
        .await
        .assert_text("globex globex-seed")
        .await;
    // Host names are case-insensitive.
    cli.get("/whoami")
        .header("Host", "ACME.Example.COM")
        .send()
        .await
        .assert_text("acme acme-seed")
        .await;
    // The bare domain and other domains give no tenant.
    for host in ["example.com", "acme.example.org", "notexample.com"] {
        let resp = cli.get("/whoami").header("Host", host).send().await;
        resp.assert_status(StatusCode::BAD_REQUEST);
        resp.assert_json(json!({"error": "no tenant given: expected subdomain of example.com"}))
            .await;
    }
    // A deeper subdomain is not a valid tenant name.
    let resp = cli
        .get("/whoami")
        .header("Host", "a.b.example.com")
        .send()
        .await;
    resp.assert_status(StatusCode::BAD_REQUEST);
    let json = resp.json().await;
    assert!(json.value().object().get_opt("tenant").is_none());
}

#[tokio::test]
async fn subdomain_resolver_reads_the_http2_authority_first() {
    let (_dbs, cli) = client(Resolver::subdomain("example.com")).await;
    // HTTP/2 requests carry `:authority`, which hyper puts in the URI; there may be no Host.
    cli.get("http://globex.example.com:8443/whoami")
        .send()
        .await
        .assert_text("globex globex-seed")
        .await;
    cli.get("https://acme.example.com/whoami")
        .header("Host", "globex.example.com")
        .send()
        .await
        .assert_text("acme acme-seed")
        .await;
}

fn path_app(resolver: Resolver, store: sea_orm_tenant::TenantConnections) -> impl poem::Endpoint {
    Route::new()
        .at("/", get(echo))
        .at("/notes", get(echo))
        .at("/notes/:id", get(echo))
        .with(TenantMiddleware::new(store, resolver))
}

#[tokio::test]
async fn path_segment_is_removed_before_routing() {
    let mut dbs = TestDatabases::sqlite();
    let store = store_with(&mut dbs, &["acme", "globex"]).await;
    let cli = TestClient::new(path_app(Resolver::path_segment(), store));
    cli.get("/acme/notes")
        .send()
        .await
        .assert_text("acme acme-seed /notes")
        .await;
    cli.get("/globex/notes/7?x=1")
        .send()
        .await
        .assert_text("globex globex-seed /notes/7?x=1")
        .await;
    // `/{tenant}` alone and with a trailing slash reach the root route.
    cli.get("/acme")
        .send()
        .await
        .assert_text("acme acme-seed /")
        .await;
    cli.get("/acme/")
        .send()
        .await
        .assert_text("acme acme-seed /")
        .await;
    // No segment: no tenant.
    cli.get("/")
        .send()
        .await
        .assert_status(StatusCode::BAD_REQUEST);
    // The inner routes never see the tenant segment.
    cli.get("/acme/acme/notes")
        .send()
        .await
        .assert_status(StatusCode::NOT_FOUND);
    // A segment that is no tenant name is rejected, not routed.
    cli.get("/Notes")
        .send()
        .await
        .assert_status(StatusCode::BAD_REQUEST);
    cli.get("/notes")
        .send()
        .await
        .assert_status(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn path_segment_works_under_a_nest_prefix() {
    let mut dbs = TestDatabases::sqlite();
    let store = store_with(&mut dbs, &["acme", "globex"]).await;

    // The middleware inside a nest: poem strips `/api` first.
    let nested = Route::new().nest(
        "/api",
        Route::new()
            .at("/notes", get(echo))
            .with(TenantMiddleware::new(
                store.clone(),
                Resolver::path_segment(),
            )),
    );
    let cli = TestClient::new(nested);
    cli.get("/api/acme/notes")
        .send()
        .await
        .assert_text("acme acme-seed /notes")
        .await;

    // The middleware around the whole app, told the prefix.
    let outer = Route::new()
        .nest("/api", Route::new().at("/notes", get(echo)))
        .with(TenantMiddleware::new(
            store,
            Resolver::path_segment_under("/api"),
        ));
    let cli = TestClient::new(outer);
    cli.get("/api/globex/notes")
        .send()
        .await
        .assert_text("globex globex-seed /notes")
        .await;
    cli.get("/other/acme/notes")
        .send()
        .await
        .assert_status(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn custom_async_resolver_maps_an_api_key_and_can_reject() {
    let resolver = Resolver::custom("API key", |req| {
        let key = req.header("x-api-key").map(str::to_owned);
        async move {
            tokio::task::yield_now().await;
            match key.as_deref() {
                None => Ok(None),
                Some("key-acme") => Ok(Some("acme".to_owned())),
                Some("key-globex") => Ok(Some("globex".to_owned())),
                Some(_) => Err(poem::Error::from_string(
                    "bad API key",
                    StatusCode::UNAUTHORIZED,
                )),
            }
        }
    });
    let (_dbs, cli) = client(resolver).await;
    cli.get("/whoami")
        .header("x-api-key", "key-globex")
        .send()
        .await
        .assert_text("globex globex-seed")
        .await;
    cli.get("/whoami")
        .header("x-api-key", "key-acme")
        .send()
        .await
        .assert_text("acme acme-seed")
        .await;
    let resp = cli
        .get("/whoami")
        .header("x-api-key", "stolen")
        .send()
        .await;
    resp.assert_status(StatusCode::UNAUTHORIZED);
    resp.assert_text("bad API key").await;
    let resp = cli.get("/whoami").send().await;
    resp.assert_status(StatusCode::BAD_REQUEST);
    resp.assert_json(json!({"error": "no tenant given: expected API key"}))
        .await;
}

#[tokio::test]
async fn custom_sync_resolver_reads_request_data() {
    #[derive(Clone)]
    struct Claims {
        tenant: String,
    }
    let resolver = Resolver::from_fn("token claim", |req| {
        req.data::<Claims>().map(|c| c.tenant.clone())
    });
    let mut dbs = TestDatabases::sqlite();
    let store = store_with(&mut dbs, &["acme", "globex"]).await;
    let app = Route::new()
        .at("/whoami", get(whoami))
        .with(TenantMiddleware::new(store, resolver))
        .before(|mut req: Request| async move {
            if let Some(tenant) = req.header("x-claim").map(str::to_owned) {
                req.set_data(Claims { tenant });
            }
            Ok(req)
        });
    let cli = TestClient::new(app);
    cli.get("/whoami")
        .header("x-claim", "globex")
        .send()
        .await
        .assert_text("globex globex-seed")
        .await;
    cli.get("/whoami")
        .send()
        .await
        .assert_status(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn in_a_chain_the_first_source_that_yields_wins() {
    let chain = || {
        Resolver::header("X-Tenant")
            .unwrap()
            .or(Resolver::query("tenant"))
    };
    let (_dbs, cli) = client(chain().clone()).await;
    // Only the second source yields: it is used.
    cli.get("/whoami?tenant=globex")
        .send()
        .await
        .assert_text("globex globex-seed")
        .await;
    // Only the first.
    cli.get("/whoami")
        .header("X-Tenant", "acme")
        .send()
        .await
        .assert_text("acme acme-seed")
        .await;
    // Both, agreeing.
    cli.get("/whoami?tenant=acme")
        .header("X-Tenant", "acme")
        .send()
        .await
        .assert_text("acme acme-seed")
        .await;

    // With FirstWins, the header beats the query parameter even when they differ.
    let mut dbs = TestDatabases::sqlite();
    let store = store_with(&mut dbs, &["acme", "globex"]).await;
    let app = Route::new()
        .at("/whoami", get(whoami))
        .with(TenantMiddleware::new(store, chain()).conflict_policy(ConflictPolicy::FirstWins));
    let cli = TestClient::new(app);
    cli.get("/whoami?tenant=globex")
        .header("X-Tenant", "acme")
        .send()
        .await
        .assert_text("acme acme-seed")
        .await;
    // Even a malformed later value is not consulted.
    cli.get("/whoami?tenant=BAD")
        .header("X-Tenant", "acme")
        .send()
        .await
        .assert_text("acme acme-seed")
        .await;
}

#[tokio::test]
async fn two_sources_that_disagree_are_rejected_with_400() {
    let (_dbs, cli) = client(
        Resolver::header("X-Tenant")
            .unwrap()
            .or(Resolver::query("tenant")),
    )
    .await;
    let resp = cli
        .get("/whoami?tenant=globex")
        .header("X-Tenant", "acme")
        .send()
        .await;
    resp.assert_status(StatusCode::BAD_REQUEST);
    resp.assert_json(json!({
        "error": "tenant sources disagree: header X-Tenant gives \"acme\", query parameter tenant gives \"globex\""
    }))
    .await;
}

#[tokio::test]
async fn path_segment_and_header_must_agree() {
    let mut dbs = TestDatabases::sqlite();
    let store = store_with(&mut dbs, &["acme", "globex"]).await;
    let cli = TestClient::new(path_app(
        Resolver::path_segment().or(Resolver::header("X-Tenant").unwrap()),
        store,
    ));
    cli.get("/acme/notes")
        .header("X-Tenant", "acme")
        .send()
        .await
        .assert_text("acme acme-seed /notes")
        .await;
    cli.get("/acme/notes")
        .header("X-Tenant", "globex")
        .send()
        .await
        .assert_status(StatusCode::BAD_REQUEST);
}
