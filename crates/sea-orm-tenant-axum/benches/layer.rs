//! Overhead of `TenantLayer` on a trivial axum handler, against the same
//! app without it, in one run. The layer is measured in both places an app
//! can put it: on the router's routes (`Router::layer`, the usual spelling,
//! which axum applies after routing, to each route) and around the router
//! (`TenantLayer::layer(router)`, before routing, as a path-segment resolver
//! needs it).
//!
//! 1. criterion, in process (`oneshot` plus reading the body): the handler
//!    costs almost nothing here, so this shows the layer's absolute cost per
//!    request;
//! 2. a bounded loop over real loopback HTTP/1.1 keep-alive connections
//!    (`axum::serve` and a hyper client in this process), the apps taking
//!    turns; the median round throughput of each gives the ratio that
//!    matters for a server.
//!
//! Run with `cargo bench -p sea-orm-tenant-axum --bench layer`; it exits
//! with status 1 when the loopback ratio of `Router::layer` is under its bar
//! (0.97). `LOOPBACK_REQUESTS`, `LOOPBACK_CONNECTIONS` and `LOOPBACK_ROUNDS`
//! tune part 2; `PROFILE_APP=plain`, `tenant` or `outer` (and `PROFILE_CALLS`,
//! default 100,000) runs only that app's in-process calls, for callgrind.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use criterion::Criterion;
use http_body_util::{BodyExt, Empty};
use sea_orm_tenant::TenantConnections;
use sea_orm_tenant_axum::{Resolver, TenantLayer, TenantService};
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

const URI: &str = "/hello?tenant=acme";

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

/// The layer around the whole router (before routing).
fn tenant_outer_app(store: TenantConnections) -> TenantService<Router> {
    TenantLayer::new(store, Resolver::default()).layer(plain_app())
}

async fn call(app: &impl App) {
    let req = http::Request::get(URI).body(Body::empty()).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert!(resp.status().is_success());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hello");
}

/// Nanoseconds per request of `n` sequential in-process calls.
async fn in_process_round(app: &impl App, n: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        call(app).await;
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

async fn serve(app: impl App) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::ServiceExt::<http::Request<Body>>::into_make_service(app);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Requests per second of `connections` keep-alive clients sending `total`
/// requests in all, one at a time each.
async fn loopback_round(addr: SocketAddr, connections: usize, total: usize) -> f64 {
    let per_conn = total / connections;
    let start = Instant::now();
    let clients = (0..connections).map(|_| {
        tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            for _ in 0..per_conn {
                sender.ready().await.unwrap();
                let req = hyper::Request::get(URI)
                    .header("host", "localhost")
                    .body(Empty::<bytes::Bytes>::new())
                    .unwrap();
                let resp = sender.send_request(req).await.unwrap();
                assert!(resp.status().is_success());
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(&body[..], b"hello");
            }
        })
    });
    for client in futures_util::future::join_all(clients.collect::<Vec<_>>()).await {
        client.unwrap();
    }
    (per_conn * connections) as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("acme.db").display());
    let store = TenantConnections::from_urls([("acme", url)]).unwrap();
    let plain = plain_app();
    let tenant = tenant_app(store.clone());
    let outer = tenant_outer_app(store.clone());
    // Open the pool once, as a running server would have.
    rt.block_on(call(&tenant));
    // `PROFILE_APP=plain|tenant|outer`: only that app's in-process calls, for
    // `valgrind --tool=callgrind` (instructions per request: the difference
    // of two runs of different `PROFILE_CALLS`, divided by theirs).
    if let Ok(app) = std::env::var("PROFILE_APP") {
        let n = env_or("PROFILE_CALLS", 100_000) as u32;
        let ns = match app.as_str() {
            "plain" => rt.block_on(in_process_round(&plain, n)),
            "outer" => rt.block_on(in_process_round(&outer, n)),
            _ => rt.block_on(in_process_round(&tenant, n)),
        };
        println!("{app}: {n} in-process calls, {ns:.0} ns/req");
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

    // In-process ratios from alternating rounds, same run.
    let [plain_ns, tenant_ns, outer_ns] = rt.block_on(async {
        let mut ns = [Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..7 {
            ns[0].push(in_process_round(&plain, 50_000).await);
            ns[1].push(in_process_round(&tenant, 50_000).await);
            ns[2].push(in_process_round(&outer, 50_000).await);
        }
        ns.map(median)
    });
    println!(
        "in-process: plain {plain_ns:.0} ns/req; with TenantLayer on the routes {tenant_ns:.0} ns/req \
         (+{:.0} ns, ratio {:.3}); around the router {outer_ns:.0} ns/req (+{:.0} ns, ratio {:.3}) \
         (reported, no bar)",
        tenant_ns - plain_ns,
        plain_ns / tenant_ns,
        outer_ns - plain_ns,
        plain_ns / outer_ns,
    );

    let total = env_or("LOOPBACK_REQUESTS", 10_000);
    let connections = env_or("LOOPBACK_CONNECTIONS", 4);
    let rounds = env_or("LOOPBACK_ROUNDS", 20);
    let (plain_rps, tenant_rps, outer_rps) = rt.block_on(async {
        let addrs = [
            serve(plain_app()).await,
            serve(tenant_app(store.clone())).await,
            serve(tenant_outer_app(store.clone())).await,
        ];
        for addr in addrs {
            loopback_round(addr, connections, total / 10).await;
        }
        // The three apps take turns, each round in another order, so a drift
        // in machine load (other processes on a shared machine) weighs on
        // all alike; medians drop the outliers.
        let mut rps = [Vec::new(), Vec::new(), Vec::new()];
        for round in 0..rounds {
            for i in 0..3 {
                let app = (round + i) % 3;
                rps[app].push(loopback_round(addrs[app], connections, total).await);
            }
        }
        let [p, t, o] = rps;
        (median(p), median(t), median(o))
    });
    println!(
        "loopback HTTP/1.1 ({connections} keep-alive connections, {total} requests x {rounds} rounds each): \
         plain {plain_rps:.0} req/s; with TenantLayer on the router's routes (`Router::layer`) \
         {tenant_rps:.0} req/s, throughput ratio {:.3}; around the router {outer_rps:.0} req/s, \
         throughput ratio {:.3} (bar >= 0.97)",
        tenant_rps / plain_rps,
        outer_rps / plain_rps
    );
    criterion.final_summary();
    // `exit` runs no destructors: the temporary directory goes first.
    drop(dir);
    if tenant_rps / plain_rps < 0.97 {
        eprintln!("bar missed: loopback ratio of `Router::layer` under 0.97");
        std::process::exit(1);
    }
}
