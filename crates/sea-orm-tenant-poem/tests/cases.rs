//! The adapters' shared cases (`sea_orm_tenant_http::testing`), through the
//! poem middleware: the same requests get the same answers as through the
//! axum layer (`sea-orm-tenant-axum/tests/cases.rs`).

use poem::test::TestClient;
use poem::{EndpointExt, Route, get, handler};
use sea_orm_tenant_http::testing::{self, Expected};
use sea_orm_tenant_poem::{CurrentTenant, TenantMiddleware};

#[handler]
fn whoami(tenant: CurrentTenant) -> String {
    tenant.to_string()
}

#[handler]
fn health() -> &'static str {
    "ok"
}

#[tokio::test]
async fn the_shared_cases_answer_as_expected() {
    let dir = tempfile::tempdir().unwrap();
    let store = testing::store(dir.path());
    let app = Route::new()
        .at("/whoami", get(whoami))
        .at(testing::EXEMPT, get(health))
        .at("/health/", get(health))
        .with(TenantMiddleware::new(store, testing::resolver()).exempt(testing::EXEMPT));
    let cli = TestClient::new(app);
    for case in testing::cases() {
        let mut req = cli.get(&case.uri);
        for (name, value) in &case.headers {
            req = req.header(*name, value);
        }
        let resp = req.send().await;
        let resp = resp.0;
        assert_eq!(resp.status().as_u16(), case.status, "{}", case.name);
        if let Some(expected) = case.retry_after {
            assert_eq!(
                resp.headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()),
                Some(expected),
                "{}",
                case.name
            );
        }
        let bytes = resp.into_body().into_bytes().await.unwrap();
        match &case.body {
            Expected::Text(text) => assert_eq!(&bytes[..], text.as_bytes(), "{}", case.name),
            Expected::Json(json) => assert_eq!(
                &serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
                json,
                "{}",
                case.name
            ),
            Expected::Any => {}
        }
    }
}
