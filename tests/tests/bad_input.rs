//! Bad HTTP input against the real notes-server: a 1 MB header, a 10 MB body
//! (declared and chunked), invalid UTF-8 and percent-encoding in the query,
//! thousands of query parameters, slow clients. Each gets a 4xx or a closed
//! connection, never a 500, and the other clients are unaffected.

use std::io::Write;
use std::net::TcpStream;

use e2e_tests::{NotesServer, TenantsToml};
use reqwest::StatusCode;

async fn server(dir: &std::path::Path) -> NotesServer {
    server_with(dir, &[]).await
}

async fn server_with(dir: &std::path::Path, args: &[&str]) -> NotesServer {
    let db = dir.join("test1.db");
    let config = TenantsToml::new()
        .tenant("test1", &format!("sqlite://{}?mode=rwc", db.display()))
        .write_to(dir);
    NotesServer::start_with_env(&config, args, &[("RUST_LOG", "warn")]).await
}

async fn healthy(server: &NotesServer) {
    let status = server
        .client()
        .get(server.url("/notes?tenant=test1"))
        .send()
        .await
        .expect("a normal request is answered")
        .status();
    assert_eq!(status, StatusCode::OK);
}

/// The slow client's read ended with the server closing its connection (not
/// an answer, not the test's own bound), and a normal client is answered.
async fn closed_and_others_served(read: std::io::Result<usize>, server: NotesServer) {
    match read {
        Ok(n) => assert_eq!(n, 0, "the server answered instead of closing"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    healthy(&server).await;
    let output = server.terminate().await;
    assert!(!output.contains("panicked"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_4xx_or_a_closed_connection_and_others_are_unaffected() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let client = server.client();
    healthy(&server).await;
    let peak_before = server.peak_memory_bytes();

    // A slow client: headers never finished, held open during everything below.
    let mut slow = TcpStream::connect(server.addr()).unwrap();
    slow.write_all(b"POST /notes?tenant=test1 HTTP/1.1\r\nHost: x\r\nContent-Le")
        .unwrap();

    // 10 MB declared: 413 before it is read.
    let big = vec![b'a'; 10 * 1024 * 1024];
    let resp = client
        .post(server.url("/notes?tenant=test1"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await;
    match resp {
        Ok(resp) => assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE),
        // The server may answer and close before the client finished sending.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    healthy(&server).await;

    // 10 MB chunked (no declared length): cut at the limit, 400 (or the
    // connection closed once the server answered).
    let addr = server.addr();
    let status_line = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, BufReader};
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let head = "POST /notes?tenant=test1 HTTP/1.1\r\nHost: x\r\n\
                    Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        let _ = conn.write_all(head.as_bytes());
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..160 {
            if conn
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .is_err()
                || conn.write_all(&chunk).is_err()
                || conn.write_all(b"\r\n").is_err()
            {
                break;
            }
        }
        let _ = conn.write_all(b"0\r\n\r\n");
        let mut line = String::new();
        let _ = BufReader::new(conn).read_line(&mut line);
        line
    })
    .await
    .unwrap();
    if !status_line.is_empty() {
        assert!(status_line.starts_with("HTTP/1.1 4"), "{status_line:?}");
    }
    healthy(&server).await;

    // A 1 MB header.
    let resp = client
        .get(server.url("/notes?tenant=test1"))
        .header("x-padding", "p".repeat(1024 * 1024))
        .send()
        .await;
    if let Ok(resp) = resp {
        assert!(resp.status().is_client_error(), "{}", resp.status());
    }
    healthy(&server).await;

    // Invalid UTF-8 and percent-encoding in the query, and thousands of parameters.
    let many: Vec<String> = (0..5000).map(|i| format!("p{i}={i}")).collect();
    for query in [
        "tenant=%ff%fe".to_owned(),
        "tenant=test1&limit=%zz".to_owned(),
        "tenant=%".to_owned(),
        "tenant=test1&after_id=%c3%28".to_owned(),
        format!("tenant=test1&{}", many.join("&")),
        format!("{}&tenant=test1", "tenant=test1&".repeat(2000)),
    ] {
        let resp = client
            .get(server.url(&format!("/notes?{query}")))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        assert!(
            status.is_client_error() || status == StatusCode::OK,
            "{}…: {status}",
            &query[..query.len().min(40)]
        );
    }
    healthy(&server).await;
    // Memory stays bounded: none of the above is buffered whole (the 10 MB
    // bodies alone would add 20 MB).
    if let (Some(before), Some(after)) = (peak_before, server.peak_memory_bytes()) {
        let grown = after.saturating_sub(before);
        println!("peak resident memory: {before} bytes before, {after} after (+{grown})");
        assert!(grown < 16 << 20, "peak memory grew by {grown} bytes");
    }
    drop(slow);
    let output = server.terminate().await;
    assert!(!output.contains("panicked"), "{output}");
}

/// A client that stops half-way through its request headers is disconnected
/// once `--idle-timeout` has passed with nothing read or written, instead of
/// holding its connection (and its memory) for as long as it likes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_mid_request_is_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--request-timeout", "1", "--idle-timeout", "2"];
    let server = server_with(dir.path(), &args).await;
    let addr = server.addr();
    let read = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut slow = TcpStream::connect(addr).unwrap();
        slow.write_all(b"GET /notes?tenant=test1 HTTP/1.1\r\nHost: x\r\nAcc")
            .unwrap();
        // The bound of the test, not a synchronisation: the server closes
        // after 2 s; without the idle timeout this read ends in a timeout error.
        slow.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut buf = [0u8; 256];
        slow.read(&mut buf)
    })
    .await
    .unwrap();
    closed_and_others_served(read, server).await;
}

/// A client that keeps sending its headers a byte at a time, never idle, is
/// disconnected once `--header-timeout` has passed since their first byte
/// ("slowloris"), and other clients are still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_headers_is_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), &["--header-timeout", "1"]).await;
    let addr = server.addr();
    let read = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::time::Duration;
        let mut slow = TcpStream::connect(addr).unwrap();
        let mut reader = slow.try_clone().unwrap();
        // The bound of the test: the server closes after 1 s; without the
        // header deadline this read ends in a timeout error after 20 s.
        reader
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let closed = std::sync::Arc::new(AtomicBool::new(false));
        let trickler = {
            let closed = std::sync::Arc::clone(&closed);
            std::thread::spawn(move || {
                slow.write_all(b"GET /notes?tenant=test1 HTTP/1.1\r\nX-Pad: ")
                    .unwrap();
                // A byte every 200 ms, for up to 25 s: well inside the 60 s
                // idle timeout, and the headers never end.
                for _ in 0..125 {
                    if closed.load(Ordering::Relaxed) || slow.write_all(b"a").is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        };
        let mut buf = [0u8; 256];
        let read = reader.read(&mut buf);
        closed.store(true, Ordering::Relaxed);
        trickler.join().unwrap();
        read
    })
    .await
    .unwrap();
    closed_and_others_served(read, server).await;
}

/// An idle timeout a running request could outlast is refused at start-up,
/// with a message naming both flags.
#[test]
fn an_idle_timeout_not_above_the_request_timeout_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = TenantsToml::new()
        .tenant(
            "test1",
            &format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display()),
        )
        .write_to(dir.path());
    let output = std::process::Command::new(e2e_tests::notes_server_binary())
        .args([
            "--bind",
            "127.0.0.1:0",
            "--idle-timeout",
            "10",
            "--request-timeout",
            "10",
        ])
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--idle-timeout (10 s) must be longer than --request-timeout (10 s)"),
        "{stderr}"
    );
    assert!(!dir.path().join("t.db").exists(), "nothing is opened");
}
