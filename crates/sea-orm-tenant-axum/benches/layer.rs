//! Overhead of `TenantLayer` on a trivial axum handler, against the same
//! app without it, in one run (harness: `sea_orm_tenant_http::testing::bench`,
//! whose docs say how the ratios are taken and why). The layer is measured
//! in both places an app can put it: on the router's routes (`Router::layer`,
//! the usual spelling, which axum applies after routing, to each route) and
//! around the router (`TenantLayer::layer(router)`, before routing, as a
//! path-segment resolver needs it). A fourth app has a layer that does
//! nothing (`tower::layer::util::Identity`) on its routes: axum's own cost of
//! any `Router::layer`, which it wraps in a second boxed route cloned per
//! request, and the baseline for the layer's own share on the routes.
//!
//! 1. criterion, in process (`oneshot` plus reading the body): the handler
//!    costs almost nothing here, so this shows the layer's absolute cost per
//!    request;
//! 2. the in-process throughput ratios: paired rounds in each of
//!    `IN_PROCESS_PROCESSES` (default 5) fresh processes, median over them;
//! 3. the loopback throughput ratios: rounds over real loopback HTTP/1.1
//!    keep-alive connections (`axum::serve` and a hyper client in this
//!    process), the three apps taking turns, the ratio that matters for a
//!    server.
//!
//! Run with `just bench-axum` (or `cargo bench -p sea-orm-tenant-axum --bench layer`);
//! it exits with status 1 when the loopback ratio of `Router::layer` is under
//! its bar (0.97). `BENCH_SAME_APP=1` runs the plain app on every side (the
//! ratios then show the harness's noise). `LOOPBACK_REQUESTS` (per round),
//! `LOOPBACK_CONNECTIONS` and `LOOPBACK_PAIRS` tune part 3;
//! `PROFILE_APP=plain`, `tenant`, `outer` or `identity` (and `PROFILE_CALLS`, default
//! 100,000) runs only that app's in-process calls, for callgrind.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use criterion::Criterion;
use http_body_util::BodyExt;
use sea_orm_tenant::TenantConnections;
use sea_orm_tenant_axum::{Resolver, TenantLayer, TenantService};
use sea_orm_tenant_http::testing::bench::{self, BODY, URI};
use tower::{Layer, Service, ServiceExt};

/// An app as the harness calls it: a cloneable axum service.
trait App:
    Service<http::Request<Body>, Response = Response, Error = Infallible, Future: Send>
    + Clone
    + Send
    + 'static
{
}

impl<S> App for S where
    S: Service<http::Request<Body>, Response = Response, Error = Infallible, Future: Send>
        + Clone
        + Send
        + 'static
{
}

async fn hello() -> &'static str {
    "hello"
}

// `with_state(())` turns the routes into services once, as `axum::serve`
// does (`into_make_service`); without it `oneshot` re-applies the layer to the
// route on every request, a cost of the in-process harness, not of the layer.
fn plain_app() -> Router {
    Router::new().route("/hello", get(hello)).with_state(())
}

fn tenant_app(store: TenantConnections) -> Router {
    Router::new()
        .route("/hello", get(hello))
        .layer(TenantLayer::new(store, Resolver::default()))
        .with_state(())
}

/// A layer that does nothing, on the routes.
fn identity_app() -> Router {
    Router::new()
        .route("/hello", get(hello))
        .layer(tower::layer::util::Identity::new())
        .with_state(())
}

/// The layer around the whole router (before routing).
fn tenant_outer_app(store: TenantConnections) -> TenantService<Router> {
    TenantLayer::new(store, Resolver::default()).layer(plain_app())
}

async fn call(app: &impl App) {
    let req = http::Request::get(URI).body(Body::empty()).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert!(resp.status().is_success());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], BODY);
}

async fn serve(app: impl App) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::ServiceExt::<http::Request<Body>>::into_make_service(app);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Paired in-process rounds of the plain app, the two tenant apps and the
/// no-op layer's: 41 pairs of 5,000 calls.
async fn in_process(
    plain: &impl App,
    tenant: &impl App,
    outer: &impl App,
    identity: &impl App,
) -> bench::Rounds {
    bench::rounds(41, 4, async |side| match side {
        0 => bench::calls_per_second(5_000, async || call(plain).await).await,
        1 => bench::calls_per_second(5_000, async || call(tenant).await).await,
        2 => bench::calls_per_second(5_000, async || call(outer).await).await,
        _ => bench::calls_per_second(5_000, async || call(identity).await).await,
    })
    .await
}

fn main() {
    let rt = bench::runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = bench::acme_store(dir.path());
    let plain = plain_app();
    let tenant = tenant_app(store.clone());
    let outer = tenant_outer_app(store.clone());
    let identity = identity_app();
    // Open the pool once, as a running server would have.
    rt.block_on(call(&tenant));
    if bench::is_child_process() {
        let rounds = if bench::same_app() {
            rt.block_on(in_process(&plain, &plain, &plain, &plain))
        } else {
            rt.block_on(in_process(&plain, &tenant, &outer, &identity))
        };
        bench::report_to_parent("routes", &rounds, 1);
        bench::report_to_parent("router", &rounds, 2);
        bench::report_to_parent("identity", &rounds, 3);
        return;
    }
    // `PROFILE_APP=plain|tenant|outer|identity`: only that app's in-process calls, for
    // `valgrind --tool=callgrind` (instructions per request: the difference
    // of two runs of different `PROFILE_CALLS`, divided by theirs).
    if let Ok(app) = std::env::var("PROFILE_APP") {
        let n = bench::env_or("PROFILE_CALLS", 100_000) as u32;
        let per_second = match app.as_str() {
            "plain" => rt.block_on(bench::calls_per_second(n, async || call(&plain).await)),
            "outer" => rt.block_on(bench::calls_per_second(n, async || call(&outer).await)),
            "identity" => rt.block_on(bench::calls_per_second(n, async || call(&identity).await)),
            _ => rt.block_on(bench::calls_per_second(n, async || call(&tenant).await)),
        };
        println!(
            "{app}: {n} in-process calls, {:.0} ns/req",
            1e9 / per_second
        );
        return;
    }

    let mut criterion = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(5));
    let mut group = criterion.benchmark_group("axum_in_process");
    group.bench_function("plain", |b| b.to_async(&rt).iter(|| call(&plain)));
    group.bench_function("tenant_layer", |b| b.to_async(&rt).iter(|| call(&tenant)));
    group.bench_function("tenant_layer_around_router", |b| {
        b.to_async(&rt).iter(|| call(&outer))
    });
    group.finish();

    let reports = bench::in_child_processes();
    let (routes_ratio, plain_per_s, routes_per_s, n) = bench::across_children(&reports, "routes");
    let (router_ratio, _, router_per_s, _) = bench::across_children(&reports, "router");
    let (identity_ratio, _, identity_per_s, _) = bench::across_children(&reports, "identity");
    let ns = |per_second: f64| 1e9 / per_second;
    println!(
        "in-process ({n} processes x 41 pairs of 5,000 calls; medians): plain {:.0} ns/req; \
         with TenantLayer on the routes {:.0} ns/req (+{:.0} ns, ratio {routes_ratio:.3}); \
         around the router {:.0} ns/req (+{:.0} ns, ratio {router_ratio:.3}); a no-op layer on the routes \
         {:.0} ns/req (+{:.0} ns, ratio {identity_ratio:.3}) (reported, no bar)",
        ns(plain_per_s),
        ns(routes_per_s),
        ns(routes_per_s) - ns(plain_per_s),
        ns(router_per_s),
        ns(router_per_s) - ns(plain_per_s),
        ns(identity_per_s),
        ns(identity_per_s) - ns(plain_per_s),
    );

    let per_round = bench::env_or("LOOPBACK_REQUESTS", 5_000);
    let connections = bench::env_or("LOOPBACK_CONNECTIONS", 4);
    let pairs = bench::env_or("LOOPBACK_PAIRS", 61);
    let loopback = rt.block_on(async {
        let addrs = if bench::same_app() {
            [
                serve(plain_app()).await,
                serve(plain_app()).await,
                serve(plain_app()).await,
                serve(plain_app()).await,
            ]
        } else {
            [
                serve(plain_app()).await,
                serve(tenant_app(store.clone())).await,
                serve(tenant_outer_app(store.clone())).await,
                serve(identity_app()).await,
            ]
        };
        for addr in addrs {
            bench::loopback_round(addr, connections, per_round).await;
        }
        bench::rounds(pairs, 4, async |side| {
            bench::loopback_round(addrs[side], connections, per_round).await
        })
        .await
    });
    let (routes, router, identity) = (loopback.ratio(1), loopback.ratio(2), loopback.ratio(3));
    let own_share = loopback.ratio_to(1, 3);
    println!(
        "loopback HTTP/1.1 ({connections} keep-alive connections, {pairs} rounds of {per_round} requests each): \
         plain {:.0} req/s; with TenantLayer on the router's routes (`Router::layer`) \
         {:.0} req/s, throughput ratio {routes:.3}; around the router {:.0} req/s, \
         throughput ratio {router:.3} (bar >= 0.97); a no-op layer on the routes {:.0} req/s, \
         throughput ratio {identity:.3}, and the layer on the routes against it {own_share:.3}",
        loopback.median(0),
        loopback.median(1),
        loopback.median(2),
        loopback.median(3),
    );
    criterion.final_summary();
    // `exit` runs no destructors: the temporary directory goes first.
    drop(dir);
    if routes < 0.97 {
        eprintln!("bar missed: loopback ratio of `Router::layer` under 0.97");
        std::process::exit(1);
    }
}
