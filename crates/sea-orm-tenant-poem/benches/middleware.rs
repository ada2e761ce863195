//! Overhead of `TenantMiddleware` on a trivial handler, against the same app
//! without it, in one run.
//!
//! 1. criterion, in process (`Endpoint::get_response` plus reading the body):
//!    the handler costs almost nothing here, so this shows the middleware's
//!    absolute cost per request;
//! 2. a bounded loop over real loopback HTTP/1.1 keep-alive connections
//!    (server and client in this process), alternating plain and tenant rounds;
//!    the median round throughput of each gives the ratio that matters for a
//!    server.
//!
//! Run with `just bench-poem` (or `cargo bench -p sea-orm-tenant-poem --bench middleware`);
//! it exits with status 1 when a ratio is under its bar (in process 0.75,
//! loopback 0.97).
//! `LOOPBACK_REQUESTS`, `LOOPBACK_CONNECTIONS` and `LOOPBACK_ROUNDS` tune part 2;
//! `PROFILE_APP=plain` or `tenant` (and `PROFILE_CALLS`, default 100,000) runs
//! only that app's in-process calls (with `PROFILE_LOOPBACK=1`: loopback
//! requests over 4 connections), for callgrind.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::Criterion;
use http_body_util::{BodyExt, Empty};
use poem::listener::TcpAcceptor;
use poem::{Endpoint, EndpointExt, Request, Route, Server, get, handler};
use sea_orm_tenant::TenantConnections;
use sea_orm_tenant_poem::{Resolver, TenantMiddleware};

const URI: &str = "/hello?tenant=acme";

#[handler]
fn hello() -> &'static str {
    "hello"
}

fn plain_app() -> impl Endpoint + 'static {
    Route::new().at("/hello", get(hello))
}

fn tenant_app(store: TenantConnections) -> impl Endpoint + 'static {
    Route::new()
        .at("/hello", get(hello))
        .with(TenantMiddleware::new(store, Resolver::default()))
}

async fn call(ep: &impl Endpoint) {
    let resp = ep
        .get_response(Request::builder().uri_str(URI).finish())
        .await;
    assert!(resp.status().is_success());
    let body = resp.into_body().into_bytes().await.unwrap();
    assert_eq!(&body[..], b"hello");
}

/// Nanoseconds per request of `n` sequential in-process calls.
async fn in_process_round(ep: &impl Endpoint, n: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        call(ep).await;
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

async fn serve(ep: impl Endpoint + 'static) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(Server::new_with_acceptor(acceptor).run(ep));
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
    // Open the pool once, as a running server would have.
    rt.block_on(call(&tenant));
    // `PROFILE_APP=plain|tenant`: only that app's in-process calls, for
    // `valgrind --tool=callgrind` (instructions per request: divide by the count).
    if let Ok(app) = std::env::var("PROFILE_APP") {
        let n = env_or("PROFILE_CALLS", 100_000);
        if std::env::var_os("PROFILE_LOOPBACK").is_some() {
            let rps = rt.block_on(async {
                let addr = match app.as_str() {
                    "plain" => serve(plain_app()).await,
                    _ => serve(tenant_app(store.clone())).await,
                };
                loopback_round(addr, 4, n).await
            });
            println!("{app}: {n} loopback requests, {rps:.0} req/s");
        } else {
            let ns = match app.as_str() {
                "plain" => rt.block_on(in_process_round(&plain, n as u32)),
                _ => rt.block_on(in_process_round(&tenant, n as u32)),
            };
            println!("{app}: {n} in-process calls, {ns:.0} ns/req");
        }
        return;
    }

    let mut criterion = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(5));
    let mut group = criterion.benchmark_group("poem_in_process");
    group.bench_function("plain", |b| b.to_async(&rt).iter(|| call(&plain)));
    group.bench_function("tenant_middleware", |b| {
        b.to_async(&rt).iter(|| call(&tenant))
    });
    group.finish();

    // In-process ratio from alternating rounds, same run.
    let (plain_ns, tenant_ns) = rt.block_on(async {
        let (mut p, mut t) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            p.push(in_process_round(&plain, 50_000).await);
            t.push(in_process_round(&tenant, 50_000).await);
        }
        (median(p), median(t))
    });
    println!(
        "in-process: plain {plain_ns:.0} ns/req, with TenantMiddleware {tenant_ns:.0} ns/req \
         (+{:.0} ns); throughput ratio {:.3} (bar >= 0.75)",
        tenant_ns - plain_ns,
        plain_ns / tenant_ns
    );

    let total = env_or("LOOPBACK_REQUESTS", 10_000);
    let connections = env_or("LOOPBACK_CONNECTIONS", 4);
    let rounds = env_or("LOOPBACK_ROUNDS", 20);
    let (plain_rps, tenant_rps) = rt.block_on(async {
        let plain_addr = serve(plain_app()).await;
        let tenant_addr = serve(tenant_app(store.clone())).await;
        loopback_round(plain_addr, connections, total / 10).await;
        loopback_round(tenant_addr, connections, total / 10).await;
        // ABBA order, so a drift in machine load (other processes on a shared
        // machine) weighs on both sides alike; medians drop the outliers.
        let (mut p, mut t) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            if round % 2 == 0 {
                p.push(loopback_round(plain_addr, connections, total).await);
                t.push(loopback_round(tenant_addr, connections, total).await);
            } else {
                t.push(loopback_round(tenant_addr, connections, total).await);
                p.push(loopback_round(plain_addr, connections, total).await);
            }
        }
        (median(p), median(t))
    });
    println!(
        "loopback HTTP/1.1 ({connections} keep-alive connections, {total} requests x {rounds} rounds each): \
         plain {plain_rps:.0} req/s, with TenantMiddleware {tenant_rps:.0} req/s; throughput ratio {:.3} (bar >= 0.97)",
        tenant_rps / plain_rps
    );
    criterion.final_summary();
    // `exit` runs no destructors: the temporary directory goes first.
    drop(dir);
    let mut missed = false;
    if plain_ns / tenant_ns < 0.75 {
        eprintln!("bar missed: in-process ratio under 0.75");
        missed = true;
    }
    if tenant_rps / plain_rps < 0.97 {
        eprintln!("bar missed: loopback ratio under 0.97");
        missed = true;
    }
    if missed {
        std::process::exit(1);
    }
}
