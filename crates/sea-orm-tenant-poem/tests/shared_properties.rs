//! The shared property tests of the resolvers
//! (`sea_orm_tenant_http::testing::hostile`, also run through the axum
//! layer), through the poem middleware.

use poem::endpoint::make_sync;
use poem::{Endpoint, EndpointExt, IntoResponse, Request};
use proptest::prelude::*;
use sea_orm_tenant::{TenantConnections, current_tenant};
use sea_orm_tenant_http::testing::hostile::{self, REGISTERED, Sent};
use sea_orm_tenant_poem::TenantMiddleware;

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
        let ep = make_sync(|_| current_tenant().map(|t| t.to_string()).unwrap_or_default()).with(
            TenantMiddleware::new(self.store.clone(), sent.source.resolver()),
        );
        let mut builder = Request::builder().uri(sent.request.uri().clone());
        for (name, value) in sent.request.headers() {
            builder = builder.header(name, value.clone());
        }
        let req = builder.finish();
        self.runtime.block_on(async {
            let resp = match ep.call(req).await {
                Ok(resp) => resp.into_response(),
                Err(err) => err.into_response(),
            };
            let status = resp.status().as_u16();
            (
                status,
                resp.into_body().into_string().await.unwrap_or_default(),
            )
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
