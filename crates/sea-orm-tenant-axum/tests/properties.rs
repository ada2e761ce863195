//! The shared property tests of the resolvers
//! (`sea_orm_tenant_http::testing::hostile`), through the axum layer:
//! whatever a client sends, 200 for the registered tenant, a 4xx otherwise,
//! never a 500 and never a panic.

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use proptest::prelude::*;
use sea_orm_tenant::{TenantConnections, current_tenant};
use sea_orm_tenant_axum::TenantLayer;
use sea_orm_tenant_http::testing::hostile::{self, REGISTERED, Sent};
use tower::ServiceExt;

struct Harness {
    runtime: tokio::runtime::Runtime,
    store: TenantConnections,
}

impl Harness {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let store = TenantConnections::from_urls([(REGISTERED, "sqlite::memory:")]).unwrap();
        Self { runtime, store }
    }

    fn call(&self, sent: &Sent) -> (u16, String) {
        let app = Router::new()
            .fallback(|| async { current_tenant().map(|t| t.to_string()).unwrap_or_default() })
            .layer(TenantLayer::new(self.store.clone(), sent.source.resolver()));
        let req = sent.request.clone().map(|()| Body::empty());
        self.runtime.block_on(async {
            let resp = app.oneshot(req).await.unwrap();
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        })
    }
}

thread_local! {
    static HARNESS: Harness = Harness::new();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn any_request_is_200_for_the_tenant_or_a_4xx(sent in hostile::sent()) {
        let Some(sent) = sent else { return Ok(()) };
        let (status, body) = HARNESS.with(|h| h.call(&sent));
        hostile::check(&sent, status, &body)?;
    }
}
