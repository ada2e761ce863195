//! Where the tenant scope reaches: streamed bodies, SSE, spawned tasks, and a
//! refused switch to another tenant inside a handler.

mod common;

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use poem::http::StatusCode;
use poem::test::TestClient;
use poem::web::sse::{Event, SSE};
use poem::{Body, Endpoint, EndpointExt, Route, get, handler};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{TenantConnections, current_tenant};
use sea_orm_tenant_poem::{CurrentTenant, Resolver, TenantMiddleware, TenantResultExt};
use serde_json::json;

use common::{seed_of, seed_stream, store_with};

/// Five chunks; each one runs a real query through the router when it is polled.
#[handler]
fn stream_body(tenant: CurrentTenant) -> Body {
    Body::from_bytes_stream(
        seed_stream(tenant, 5).map_ok(|(i, current, seed)| format!("{i}:{current}:{seed}\n")),
    )
}

#[handler]
fn sse(tenant: CurrentTenant) -> SSE {
    SSE::new(stream::iter(0..3).then(move |i| {
        let tenant = tenant.clone();
        async move {
            let seed = seed_of(&tenant)
                .await
                .unwrap_or_else(|e| format!("error: {e}"));
            Event::message(format!("{i}:{seed}"))
        }
    }))
}

/// A body of known length in two frames: the first ready at once, the second
/// naming the tenant current when it is polled (right-aligned in 8 bytes).
struct TwoFrames {
    first: Option<Bytes>,
    second_sent: bool,
}

impl http_body::Body for TwoFrames {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        if self.second_sent {
            return Poll::Ready(None);
        }
        self.second_sent = true;
        let tenant = current_tenant().map_or("none".to_owned(), |t| t.to_string());
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(format!("{tenant:>8}"))))))
    }

    fn size_hint(&self) -> SizeHint {
        let first = self.first.as_ref().map_or(0, |b| b.len() as u64);
        SizeHint::with_exact(first + if self.second_sent { 0 } else { 8 })
    }
}

#[handler]
fn two_frames() -> Body {
    Body::from(BoxBody::new(TwoFrames {
        first: Some(Bytes::from_static(b"head:")),
        second_sent: false,
    }))
}

/// Runs a query in a task started with the core's `spawn`.
#[handler]
async fn spawned(tenant: CurrentTenant) -> poem::Result<String> {
    let task = sea_orm_tenant::spawn(async move {
        let seed = seed_of(&tenant).await?;
        Ok::<_, poem::Error>(format!(
            "{:?} {seed}",
            current_tenant().map(|t| t.to_string())
        ))
    });
    task.await.map_err(poem::error::InternalServerError)?
}

/// Tries to reach another tenant's database from inside this request.
#[handler]
async fn switch(tenant: CurrentTenant) -> poem::Result<String> {
    let other = if tenant.as_str() == "acme" {
        "globex"
    } else {
        "acme"
    };
    let store = tenant.store().clone();
    let seed = store
        .with_tenant(other, async { seed_of(&tenant).await })
        .await
        .into_poem()??;
    Ok(seed)
}

/// Re-entering the request's own tenant is allowed.
#[handler]
async fn reenter(tenant: CurrentTenant) -> poem::Result<String> {
    let store = tenant.store().clone();
    store
        .with_tenant(tenant.as_str(), async { seed_of(&tenant).await })
        .await
        .into_poem()?
}

fn app(store: TenantConnections) -> impl Endpoint {
    Route::new()
        .at("/stream", get(stream_body))
        .at("/sse", get(sse))
        .at("/spawned", get(spawned))
        .at("/switch", get(switch))
        .at("/reenter", get(reenter))
        .at("/two-frames", get(two_frames))
        .with(TenantMiddleware::new(store, Resolver::default()))
}

#[tokio::test]
async fn a_body_going_on_after_a_ready_first_frame_keeps_its_length_and_its_tenant() {
    let mut dbs = TestDatabases::sqlite();
    let cli = TestClient::new(app(store_with(&mut dbs, &["acme", "globex"]).await));
    for tenant in ["acme", "globex"] {
        let resp = cli.get("/two-frames").query("tenant", &tenant).send().await;
        resp.assert_status_is_ok();
        let body = BoxBody::from(resp.0.into_body());
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(13));
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes, format!("head:{tenant:>8}"));
    }
}

#[tokio::test]
async fn a_streamed_body_reads_the_tenant_database_on_every_chunk() {
    let mut dbs = TestDatabases::sqlite();
    let cli = TestClient::new(app(store_with(&mut dbs, &["acme", "globex"]).await));
    for tenant in ["acme", "globex"] {
        let resp = cli.get("/stream").query("tenant", &tenant).send().await;
        resp.assert_status_is_ok();
        let expected: String = (0..5)
            .map(|i| format!("{i}:{tenant}:{tenant}-seed\n"))
            .collect();
        resp.assert_text(expected).await;
    }
}

#[tokio::test]
async fn sse_events_read_the_tenant_database_on_every_event() {
    let mut dbs = TestDatabases::sqlite();
    let cli = TestClient::new(app(store_with(&mut dbs, &["acme", "globex"]).await));
    for tenant in ["globex", "acme"] {
        let resp = cli.get("/sse").query("tenant", &tenant).send().await;
        resp.assert_status_is_ok();
        let events: Vec<String> = resp
            .0
            .into_body()
            .into_string()
            .await
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("data: ").map(str::to_owned))
            .collect();
        let expected: Vec<String> = (0..3).map(|i| format!("{i}:{tenant}-seed")).collect();
        assert_eq!(events, expected);
    }
}

#[tokio::test]
async fn a_task_started_with_the_core_spawn_sees_the_tenant() {
    let mut dbs = TestDatabases::sqlite();
    let cli = TestClient::new(app(store_with(&mut dbs, &["acme", "globex"]).await));
    cli.get("/spawned?tenant=globex")
        .send()
        .await
        .assert_text("Some(\"globex\") globex-seed")
        .await;
    cli.get("/spawned?tenant=acme")
        .send()
        .await
        .assert_text("Some(\"acme\") acme-seed")
        .await;
}

#[tokio::test]
async fn with_tenant_for_another_tenant_inside_a_handler_is_403() {
    let mut dbs = TestDatabases::sqlite();
    let cli = TestClient::new(app(store_with(&mut dbs, &["acme", "globex"]).await));
    let resp = cli.get("/switch?tenant=acme").send().await;
    resp.assert_status(StatusCode::FORBIDDEN);
    resp.assert_json(json!({
        "error": "cross-tenant access refused: this request belongs to tenant acme, not globex",
        "tenant": "acme"
    }))
    .await;
    cli.get("/reenter?tenant=globex")
        .send()
        .await
        .assert_text("globex-seed")
        .await;
}

#[tokio::test]
async fn a_nested_middleware_choosing_another_tenant_is_403() {
    let mut dbs = TestDatabases::sqlite();
    let store = store_with(&mut dbs, &["acme", "globex"]).await;
    let app = Route::new()
        .at("/whoami", get(common::whoami))
        .with(TenantMiddleware::new(
            store.clone(),
            Resolver::query("tenant"),
        ))
        .with(TenantMiddleware::new(
            store,
            Resolver::header("X-Tenant").unwrap(),
        ));
    let cli = TestClient::new(app);
    cli.get("/whoami?tenant=acme")
        .header("X-Tenant", "acme")
        .send()
        .await
        .assert_text("acme acme-seed")
        .await;
    let resp = cli
        .get("/whoami?tenant=globex")
        .header("X-Tenant", "acme")
        .send()
        .await;
    resp.assert_status(StatusCode::FORBIDDEN);
    resp.assert_json(json!({
        "error": "cross-tenant access refused: this request belongs to tenant acme, not globex",
        "tenant": "acme"
    }))
    .await;
}
