//! The load generator against small loopback servers: keep-alive,
//! `Connection: close`, chunked bodies with trailers, bodies to the end of
//! the connection, non-200 answers, refused connections, the request budget
//! and the ways of picking a path.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{LoadResult, LoadSpec, Pick, run_in_background};

/// A server answering every request on a connection with `answer`, then
/// closing when `close_after` is set.
async fn serve(answer: &'static [u8], close_after: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut have = Vec::new();
                loop {
                    let Ok(n) = conn.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    have.extend_from_slice(&buf[..n]);
                    while let Some(at) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                        have.drain(..at + 4);
                        if conn.write_all(answer).await.is_err() {
                            return;
                        }
                        if close_after {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn spec(addr: SocketAddr) -> LoadSpec {
    LoadSpec::get(addr, "/x")
        .connections(4)
        .duration(Duration::from_millis(300))
}

async fn run_async(spec: LoadSpec) -> LoadResult {
    run_in_background(spec).await.unwrap()
}

/// Load on a server answering `answer`; asserts more than `min_ok`
/// answers and no error.
async fn load_without_errors(answer: &'static [u8], close_after: bool, min_ok: u64) -> LoadResult {
    let result = run_async(spec(serve(answer, close_after).await)).await;
    assert!(result.ok > min_ok, "{result:?}");
    assert_eq!(result.errors(), 0, "{:?}", result.first_error);
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_content_length() {
    let result = load_without_errors(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        false,
        100,
    )
    .await;
    assert_eq!(result.connects, 4);
    assert_eq!(result.latencies.len() as u64, result.ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_reconnects() {
    let result = load_without_errors(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        true,
        10,
    )
    .await;
    assert_eq!(result.connects, result.ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_with_trailers_and_until_close() {
    load_without_errors(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n",
        false,
        100,
    )
    .await;
    load_without_errors(b"HTTP/1.0 200 OK\r\n\r\nbody to the end", true, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_200_and_refused_are_errors() {
    let addr = serve(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", false).await;
    let result = run_async(spec(addr)).await;
    assert_eq!(result.ok, 0);
    assert!(result.non_200 > 0);
    assert_eq!(result.first_error.as_deref(), Some("status 503"));

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let result = run_async(spec(addr)).await;
    assert_eq!(result.ok, 0);
    assert!(result.failed > 0);
    assert!(
        result
            .first_error
            .as_deref()
            .unwrap_or("")
            .contains("connect"),
        "{:?}",
        result.first_error
    );
}

/// A server answering 200 to `GET /a` and 404 to any other path, keeping
/// its connections alive.
async fn serve_a() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut have = Vec::new();
                while let Ok(n @ 1..) = conn.read(&mut buf).await {
                    have.extend_from_slice(&buf[..n]);
                    while let Some(at) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                        let answer: &[u8] = if have.starts_with(b"GET /a ") {
                            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                        } else {
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
                        };
                        have.drain(..at + 4);
                        if conn.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_budget_ends_the_run() {
    let addr = serve_a().await;
    let spec = LoadSpec::get(addr, "/a")
        .connections(3)
        .duration(Duration::from_secs(600))
        .max_requests(25);
    let result = run_async(spec).await;
    assert_eq!(result.ok, 25, "{result:?}");
    assert_eq!(result.errors(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_are_picked_first_in_turn_or_at_random() {
    let addr = serve_a().await;
    let paths = vec!["/a".to_owned(), "/b".to_owned()];
    let budget = |pick| {
        LoadSpec::get_any(addr, paths.clone(), pick)
            .connections(2)
            .duration(Duration::from_secs(600))
            .max_requests(40)
    };
    let first = run_async(budget(Pick::First)).await;
    assert_eq!((first.ok, first.non_200), (40, 0));
    // Each connection alternates /a and /b: half of each.
    let cycle = run_async(budget(Pick::Cycle)).await;
    assert_eq!((cycle.ok, cycle.non_200), (20, 20));
    let random = run_async(budget(Pick::Random(7))).await;
    assert_eq!(random.ok + random.non_200, 40);
    assert!(random.ok > 0 && random.non_200 > 0, "{random:?}");
}
