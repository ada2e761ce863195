//! The adapters' shared cases (`sea_orm_tenant_http::testing`), through the
//! axum layer: the same requests get the same answers as through the poem
//! middleware (`sea-orm-tenant-poem/tests/cases.rs`).

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use http_body_util::BodyExt;
use sea_orm_tenant_axum::{CurrentTenant, TenantLayer};
use sea_orm_tenant_http::testing::{self, Expected};
use tower::ServiceExt;

async fn whoami(tenant: CurrentTenant) -> String {
    tenant.to_string()
}

#[tokio::test]
async fn the_shared_cases_answer_as_expected() {
    let dir = tempfile::tempdir().unwrap();
    let store = testing::store(dir.path());
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route(testing::EXEMPT, get(|| async { "ok" }))
        .route("/health/", get(|| async { "ok" }))
        .layer(TenantLayer::new(store, testing::resolver()).exempt(testing::EXEMPT));
    for case in testing::cases() {
        let mut req = Request::get(&case.uri);
        for (name, value) in &case.headers {
            req = req.header(*name, value);
        }
        let resp = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), case.status, "{}", case.name);
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        if let Some(expected) = case.retry_after {
            assert_eq!(retry_after.as_deref(), Some(expected), "{}", case.name);
        }
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
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
