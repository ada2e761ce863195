//! Overhead of `TenantMiddleware` on a trivial handler, against the same app
//! without it, in one run (harness: `sea_orm_tenant_http::testing::bench`,
//! whose docs say how the ratios are taken and why).
//!
//! 1. criterion, in process (`Endpoint::get_response` plus reading the body):
//!    the handler costs almost nothing here, so this shows the middleware's
//!    absolute cost per request;
//! 2. the in-process throughput ratio: paired rounds in each of
//!    `IN_PROCESS_PROCESSES` (default 5) fresh processes, median over them;
//! 3. the loopback throughput ratio: paired rounds over real loopback
//!    HTTP/1.1 keep-alive connections (server and client in this process),
//!    the ratio that matters for a server.
//!
//! Run with `just bench-poem` (or `cargo bench -p sea-orm-tenant-poem --bench middleware`);
//! it exits with status 1 when a ratio is under its bar (in process 0.75,
//! loopback 0.97). `BENCH_SAME_APP=1` runs the plain app on both sides (the
//! ratios then show the harness's noise). `LOOPBACK_REQUESTS` (per round),
//! `LOOPBACK_CONNECTIONS` and `LOOPBACK_PAIRS` tune part 3;
//! `PROFILE_APP=plain` or `tenant` (and `PROFILE_CALLS`, default 100,000) runs
//! only that app's in-process calls (with `PROFILE_LOOPBACK=1`: loopback
//! requests over 4 connections), for callgrind.

use std::net::SocketAddr;
use std::time::Duration;

use criterion::Criterion;
use poem::listener::TcpAcceptor;
use poem::{Endpoint, EndpointExt, Request, Route, Server, get, handler};
use sea_orm_tenant::TenantConnections;
use sea_orm_tenant_http::testing::bench::{self, BODY, URI};
use sea_orm_tenant_poem::{Resolver, TenantMiddleware};

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
    assert_eq!(&body[..], BODY);
}

async fn serve(ep: impl Endpoint + 'static) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(Server::new_with_acceptor(acceptor).run(ep));
    addr
}

/// Paired in-process rounds of the two apps: 41 pairs of 5,000 calls.
async fn in_process(plain: &impl Endpoint, tenant: &impl Endpoint) -> bench::Rounds {
    let apps = (plain, tenant);
    bench::rounds(41, 2, async |side| match side {
        0 => bench::calls_per_second(5_000, async || call(apps.0).await).await,
        _ => bench::calls_per_second(5_000, async || call(apps.1).await).await,
    })
    .await
}

/// `PROFILE_CALLS` calls of `ep` (default 100,000), in process or, with
/// `PROFILE_LOOPBACK`, over 4 loopback connections.
fn profile(rt: &tokio::runtime::Runtime, app: &str, ep: impl Endpoint + 'static) {
    let n = bench::env_or("PROFILE_CALLS", 100_000);
    if std::env::var_os("PROFILE_LOOPBACK").is_some() {
        let rps = rt.block_on(async { bench::loopback_round(serve(ep).await, 4, n).await });
        println!("{app}: {n} loopback requests, {rps:.0} req/s");
    } else {
        let per_second = rt.block_on(bench::calls_per_second(n as u32, async || call(&ep).await));
        println!(
            "{app}: {n} in-process calls, {:.0} ns/req",
            1e9 / per_second
        );
    }
}

fn main() {
    let rt = bench::runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = bench::acme_store(dir.path());
    let plain = plain_app();
    let tenant = tenant_app(store.clone());
    // Open the pool once, as a running server would have.
    rt.block_on(call(&tenant));
    if bench::is_child_process() {
        let rounds = if bench::same_app() {
            rt.block_on(in_process(&plain, &plain))
        } else {
            rt.block_on(in_process(&plain, &tenant))
        };
        bench::report_to_parent("in-process", &rounds, 1);
        return;
    }
    // `PROFILE_APP=plain|tenant`: only that app's calls, for
    // `valgrind --tool=callgrind` (instructions per request: divide by the count).
    if let Ok(app) = std::env::var("PROFILE_APP") {
        match app.as_str() {
            "plain" => profile(&rt, &app, plain),
            _ => profile(&rt, &app, tenant),
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

    let reports = bench::in_child_processes();
    let (in_process_ratio, plain_per_s, tenant_per_s, n) =
        bench::across_children(&reports, "in-process");
    let (plain_ns, tenant_ns) = (1e9 / plain_per_s, 1e9 / tenant_per_s);
    let each: Vec<String> = reports.iter().map(|r| format!("{:.3}", r.ratio)).collect();
    println!(
        "in-process ({n} processes x 41 pairs of 5,000 calls; median): plain {plain_ns:.0} ns/req, \
         with TenantMiddleware {tenant_ns:.0} ns/req (+{:.0} ns); throughput ratio {in_process_ratio:.3} \
         (each process: {}) (bar >= 0.75)",
        tenant_ns - plain_ns,
        each.join(", ")
    );

    let per_round = bench::env_or("LOOPBACK_REQUESTS", 5_000);
    let connections = bench::env_or("LOOPBACK_CONNECTIONS", 4);
    let pairs = bench::env_or("LOOPBACK_PAIRS", 61);
    let loopback = rt.block_on(async {
        let addrs = [
            serve(plain_app()).await,
            match bench::same_app() {
                true => serve(plain_app()).await,
                false => serve(tenant_app(store.clone())).await,
            },
        ];
        for addr in addrs {
            bench::loopback_round(addr, connections, per_round).await;
        }
        bench::rounds(pairs, 2, async |side| {
            bench::loopback_round(addrs[side], connections, per_round).await
        })
        .await
    });
    let loopback_ratio = loopback.ratio(1);
    println!(
        "loopback HTTP/1.1 ({connections} keep-alive connections, {pairs} pairs of {per_round}-request rounds): \
         plain {:.0} req/s, with TenantMiddleware {:.0} req/s; throughput ratio {loopback_ratio:.3} (bar >= 0.97)",
        loopback.median(0),
        loopback.median(1),
    );
    criterion.final_summary();
    // `exit` runs no destructors: the temporary directory goes first.
    drop(dir);
    let mut missed = false;
    if in_process_ratio < 0.75 {
        eprintln!("bar missed: in-process ratio under 0.75");
        missed = true;
    }
    if loopback_ratio < 0.97 {
        eprintln!("bar missed: loopback ratio under 0.97");
        missed = true;
    }
    if missed {
        std::process::exit(1);
    }
}
