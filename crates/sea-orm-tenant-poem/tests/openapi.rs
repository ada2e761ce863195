//! poem-openapi: the tenant is declared in the document, operations get it, and
//! the spec and docs run exempt.

mod common;

use poem::http::StatusCode;
use poem::test::TestClient;
use poem::{EndpointExt, Route};
use poem_openapi::payload::PlainText;
use poem_openapi::{OpenApi, OpenApiService};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant_poem::{CurrentTenant, Resolver, TenantHeader, TenantMiddleware, TenantQuery};

use common::{seed_of, store_with};

struct Api;

#[OpenApi]
impl Api {
    /// The tenant, declared as the `X-Tenant` header.
    #[oai(path = "/by-header", method = "get")]
    async fn by_header(&self, tenant: TenantHeader) -> poem::Result<PlainText<String>> {
        Ok(PlainText(seed_of(&tenant).await?))
    }

    /// The tenant, declared as the `tenant` query parameter.
    #[oai(path = "/by-query", method = "get")]
    async fn by_query(&self, tenant: TenantQuery) -> poem::Result<PlainText<String>> {
        Ok(PlainText(seed_of(&tenant).await?))
    }

    /// The plain extractor works in operations too (undeclared).
    #[oai(path = "/plain", method = "get")]
    async fn plain(&self, tenant: CurrentTenant) -> PlainText<String> {
        PlainText(tenant.to_string())
    }
}

#[tokio::test]
async fn the_tenant_is_declared_as_api_key_schemes() {
    let service = OpenApiService::new(Api, "notes", "1.0");
    let spec: serde_json::Value = serde_json::from_str(&service.spec()).unwrap();
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["TenantHeader"]["type"], "apiKey");
    assert_eq!(schemes["TenantHeader"]["in"], "header");
    assert_eq!(schemes["TenantHeader"]["name"], "X-Tenant");
    assert_eq!(schemes["TenantQuery"]["type"], "apiKey");
    assert_eq!(schemes["TenantQuery"]["in"], "query");
    assert_eq!(schemes["TenantQuery"]["name"], "tenant");
    assert_eq!(
        spec["paths"]["/by-header"]["get"]["security"],
        serde_json::json!([{"TenantHeader": []}])
    );
    assert_eq!(
        spec["paths"]["/by-query"]["get"]["security"],
        serde_json::json!([{"TenantQuery": []}])
    );
}

#[tokio::test]
async fn operations_run_in_the_tenant_and_the_spec_is_exempt() {
    let mut dbs = TestDatabases::sqlite();
    let store = store_with(&mut dbs, &["acme", "globex"]).await;
    let service = OpenApiService::new(Api, "notes", "1.0");
    let spec = service.spec_endpoint();
    let app = Route::new()
        .nest("/api", service)
        .nest("/spec.json", spec)
        .with(
            TenantMiddleware::new(
                store,
                Resolver::header("X-Tenant")
                    .unwrap()
                    .or(Resolver::query("tenant")),
            )
            .exempt("/spec.json"),
        );
    let cli = TestClient::new(app);
    cli.get("/api/by-header")
        .header("X-Tenant", "globex")
        .send()
        .await
        .assert_text("globex-seed")
        .await;
    cli.get("/api/by-query?tenant=acme")
        .send()
        .await
        .assert_text("acme-seed")
        .await;
    cli.get("/api/plain?tenant=acme")
        .send()
        .await
        .assert_text("acme")
        .await;
    cli.get("/api/by-header")
        .send()
        .await
        .assert_status(StatusCode::BAD_REQUEST);
    let resp = cli.get("/spec.json").send().await;
    resp.assert_status_is_ok();
    resp.assert_content_type("application/json");
    assert!(
        resp.json()
            .await
            .value()
            .object()
            .get("openapi")
            .string()
            .starts_with("3.")
    );
}
