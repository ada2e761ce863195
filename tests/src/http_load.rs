//! A lean HTTP/1.1 load generator, in the manner of `wrk`: `connections` raw
//! TCP connections, one request in flight on each, the same pre-built `GET`
//! sent again as soon as the previous answer is read, for a fixed time. It runs
//! on its own OS threads, each with a current-thread tokio runtime, so on a
//! small machine it takes about as little CPU as `wrk -t1` and the servers
//! under test get the rest.
//!
//! Answers are parsed with `httparse`; the body is read exactly as framed
//! (`Content-Length`, `Transfer-Encoding: chunked`, or up to the end of the
//! connection) and discarded. A connection the server closes, or answers with
//! `Connection: close` (gunicorn's sync workers do after every request), is
//! opened again for the next request: that cost is the server's and is kept.
//! A request's latency runs from the moment it is due (before opening its
//! connection, when it needs one) to the last byte of its answer.
//!
//! ```no_run
//! use std::time::Duration;
//! use e2e_tests::http_load::{LoadSpec, run};
//!
//! let spec = LoadSpec::get("127.0.0.1:8000".parse().unwrap(), "/notes?tenant=test1")
//!     .connections(32)
//!     .duration(Duration::from_secs(8));
//! let result = run(&spec).expect("load threads");
//! println!("{:.0} requests/s, p99 {:?}", result.requests_per_sec(), result.percentile(0.99));
//! ```

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Header slots given to `httparse` per answer.
const MAX_HEADERS: usize = 64;
/// Free buffer space ensured before each read.
const READ_CHUNK: usize = 16 * 1024;
/// Pause after a failed exchange, so a refused connection does not spin.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// What to request, how hard and for how long.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The server.
    pub addr: SocketAddr,
    /// Path and query of the `GET`, starting with `/`.
    pub path_and_query: String,
    /// Open connections, one request in flight on each.
    pub connections: usize,
    /// OS threads driving the connections (each a current-thread runtime).
    pub threads: usize,
    /// How long requests are sent. Answers still missing at the end are not counted.
    pub duration: Duration,
    /// A request unanswered this long counts as an error (its connection is dropped).
    pub request_timeout: Duration,
}

impl LoadSpec {
    /// `GET path_and_query` on `addr`: 32 connections, 1 thread, 8 s, 10 s request timeout.
    pub fn get(addr: SocketAddr, path_and_query: &str) -> Self {
        Self {
            addr,
            path_and_query: path_and_query.to_owned(),
            connections: 32,
            threads: 1,
            duration: Duration::from_secs(8),
            request_timeout: Duration::from_secs(10),
        }
    }

    /// Sets [`connections`](Self::connections).
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections;
        self
    }

    /// Sets [`threads`](Self::threads).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Sets [`duration`](Self::duration).
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// Sets [`request_timeout`](Self::request_timeout).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The bytes sent for every request.
    fn request_bytes(&self) -> Vec<u8> {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\n\r\n",
            self.path_and_query, self.addr
        )
        .into_bytes()
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    /// Answers with status 200.
    pub ok: u64,
    /// Answers with another status.
    pub non_200: u64,
    /// Requests with no usable answer: connection refused or broken, malformed
    /// answer, or no answer within the request timeout.
    pub failed: u64,
    /// The first non-200 status or failure, for the report.
    pub first_error: Option<String>,
    /// TCP connections opened.
    pub connects: u64,
    /// Length of the run (the measured window).
    pub elapsed: Duration,
    /// Latency of every answered request (200 or not), sorted.
    pub latencies: Vec<Duration>,
}

impl LoadResult {
    /// Answers 200 per second.
    pub fn requests_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// Non-200 answers and failed requests.
    pub fn errors(&self) -> u64 {
        self.non_200 + self.failed
    }

    /// The latency below which a fraction `p` (0 to 1) of the answers came;
    /// zero when nothing was answered.
    pub fn percentile(&self, p: f64) -> Duration {
        let n = self.latencies.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let i = ((n as f64 * p).ceil() as usize).clamp(1, n);
        self.latencies[i - 1]
    }

    fn merge(&mut self, other: Self) {
        self.ok += other.ok;
        self.non_200 += other.non_200;
        self.failed += other.failed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.connects += other.connects;
        self.latencies.extend(other.latencies);
    }

    fn note_error(&mut self, error: String) {
        if self.first_error.is_none() {
            self.first_error = Some(error);
        }
    }
}

/// Runs the load described by `spec` and blocks until it is over (about
/// `spec.duration`). Fails only when a thread or its runtime cannot be
/// started; request failures are counted in the result.
pub fn run(spec: &LoadSpec) -> io::Result<LoadResult> {
    if spec.connections == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "at least one connection is needed",
        ));
    }
    if !spec.path_and_query.starts_with('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the path must start with '/': {:?}", spec.path_and_query),
        ));
    }
    let threads = spec.threads.clamp(1, spec.connections);
    let request: std::sync::Arc<[u8]> = spec.request_bytes().into();
    let started = Instant::now();
    let deadline = started + spec.duration;
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        // Connections t, t + threads, t + 2 * threads, ...
        let count = (spec.connections - t).div_ceil(threads);
        let request = std::sync::Arc::clone(&request);
        let (addr, timeout) = (spec.addr, spec.request_timeout);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = std::thread::Builder::new()
            .name(format!("http-load-{t}"))
            .spawn(move || {
                runtime.block_on(async {
                    let connections =
                        (0..count).map(|_| connection(addr, &request, deadline, timeout));
                    join_all(connections).await
                })
            })?;
        handles.push(handle);
    }
    let mut result = LoadResult::default();
    for handle in handles {
        let per_connection = handle
            .join()
            .map_err(|_| io::Error::other("a load thread panicked"))?;
        for one in per_connection {
            result.merge(one);
        }
    }
    result.elapsed = spec.duration;
    result.latencies.sort_unstable();
    Ok(result)
}

/// One connection's loop: request, read the answer, again, until `deadline`.
async fn connection(
    addr: SocketAddr,
    request: &[u8],
    deadline: Instant,
    timeout: Duration,
) -> LoadResult {
    let mut result = LoadResult {
        latencies: Vec::with_capacity(4096),
        ..LoadResult::default()
    };
    let mut stream: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(READ_CHUNK);
    loop {
        let due = Instant::now();
        if due >= deadline {
            break;
        }
        let cut = deadline.min(due + timeout);
        let exchanged =
            tokio::time::timeout_at(cut, exchange(&mut stream, &mut buf, addr, request)).await;
        match exchanged {
            // The run is over with this request in flight: not counted.
            Err(_) if Instant::now() >= deadline => break,
            Err(_) => {
                result.failed += 1;
                result.note_error(format!("no answer within {timeout:?}"));
                stream = None;
            }
            Ok(Ok(answer)) => {
                result.latencies.push(due.elapsed());
                result.connects += answer.connects;
                if answer.status == 200 {
                    result.ok += 1;
                } else {
                    result.non_200 += 1;
                    result.note_error(format!("status {}", answer.status));
                }
                if answer.close {
                    stream = None;
                }
            }
            Ok(Err(failure)) => {
                result.connects += failure.connects;
                result.failed += 1;
                result.note_error(failure.message);
                stream = None;
                tokio::time::sleep(ERROR_BACKOFF).await;
            }
        }
    }
    result
}

/// An answer, read to its end.
struct Answer {
    status: u16,
    /// The server will not take another request on this connection.
    close: bool,
    /// Connections opened for this request (0, or 1, or 2 after a stale keep-alive one).
    connects: u64,
}

/// A request with no usable answer.
struct Failure {
    message: String,
    connects: u64,
}

/// Sends `request` on `stream` (opened first when `None`) and reads the answer.
/// A kept-alive connection the server closed before answering is opened again
/// once, as HTTP clients do for idempotent requests.
async fn exchange(
    stream: &mut Option<TcpStream>,
    buf: &mut Vec<u8>,
    addr: SocketAddr,
    request: &[u8],
) -> Result<Answer, Failure> {
    let mut connects = 0;
    loop {
        let reused = stream.is_some();
        let conn = match stream {
            Some(conn) => conn,
            None => {
                let conn = TcpStream::connect(addr).await.map_err(|e| Failure {
                    message: format!("connect to {addr}: {e}"),
                    connects,
                })?;
                // Requests are one write each; never wait to coalesce them.
                let _ = conn.set_nodelay(true);
                connects += 1;
                stream.insert(conn)
            }
        };
        let sent = conn.write_all(request).await;
        let outcome = match sent {
            Ok(()) => read_answer(conn, buf).await,
            Err(e) => Err(ReadError::Io(e, true)),
        };
        match outcome {
            Ok((status, close)) => {
                return Ok(Answer {
                    status,
                    close,
                    connects,
                });
            }
            Err(ReadError::Io(_, true)) if reused => {
                // Closed while idle: open a new connection and send again.
                *stream = None;
            }
            Err(e) => {
                return Err(Failure {
                    message: e.to_string(),
                    connects,
                });
            }
        }
    }
}

/// Why an answer could not be read.
#[derive(Debug)]
enum ReadError {
    /// An I/O error or an early end of the connection; `true` when not a byte
    /// of the answer had arrived.
    Io(io::Error, bool),
    /// The bytes are not a valid HTTP/1.x answer.
    Malformed(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e, true) => write!(f, "connection failed before the answer: {e}"),
            Self::Io(e, false) => write!(f, "connection failed during the answer: {e}"),
            Self::Malformed(what) => write!(f, "malformed answer: {what}"),
        }
    }
}

/// How the body of an answer is delimited.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// Reads one answer (skipping 1xx interim answers) from `conn` into `buf`,
/// body included; returns its status and whether the connection must be closed.
async fn read_answer(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(u16, bool), ReadError> {
    buf.clear();
    loop {
        let (status, close, framing, head) = read_head(conn, buf).await?;
        if (100..200).contains(&status) {
            // An interim answer (100 Continue...): the real one follows.
            buf.drain(..head);
            continue;
        }
        let body_end = match framing {
            _ if status == 204 || status == 304 => head,
            Framing::Length(len) => {
                let end = head.checked_add(len).ok_or_else(|| {
                    ReadError::Malformed(format!("Content-Length {len} too large"))
                })?;
                fill(conn, buf, end).await?;
                end
            }
            Framing::Chunked => read_chunked(conn, buf, head).await?,
            Framing::UntilClose => {
                while read_more(conn, buf).await? > 0 {}
                buf.len()
            }
        };
        if buf.len() > body_end {
            return Err(ReadError::Malformed(format!(
                "{} bytes after the answer, no request was pipelined",
                buf.len() - body_end
            )));
        }
        let close = close || matches!(framing, Framing::UntilClose);
        return Ok((status, close));
    }
}

/// Reads until `buf` holds a complete status line and headers; returns the
/// status, whether the connection closes after this answer, the body framing
/// and the length of the head.
async fn read_head(
    conn: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Result<(u16, bool, Framing, usize), ReadError> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(buf) {
            Ok(httparse::Status::Complete(head)) => {
                let status = response.code.unwrap_or(0);
                let http10 = response.version == Some(0);
                let mut close = http10;
                let mut length = None;
                let mut chunked = false;
                for header in response.headers.iter() {
                    let value = String::from_utf8_lossy(header.value);
                    if header.name.eq_ignore_ascii_case("content-length") {
                        length = Some(value.trim().parse::<usize>().map_err(|_| {
                            ReadError::Malformed(format!("Content-Length {value:?}"))
                        })?);
                    } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                        chunked = value
                            .rsplit(',')
                            .next()
                            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
                    } else if header.name.eq_ignore_ascii_case("connection") {
                        for token in value.split(',').map(str::trim) {
                            if token.eq_ignore_ascii_case("close") {
                                close = true;
                            } else if token.eq_ignore_ascii_case("keep-alive") && http10 {
                                close = false;
                            }
                        }
                    }
                }
                let framing = match (chunked, length) {
                    (true, _) => Framing::Chunked,
                    (false, Some(len)) => Framing::Length(len),
                    (false, None) => Framing::UntilClose,
                };
                return Ok((status, close, framing, head));
            }
            Ok(httparse::Status::Partial) => {
                if read_more(conn, buf).await? == 0 {
                    return Err(ReadError::Io(
                        io::ErrorKind::UnexpectedEof.into(),
                        buf.is_empty(),
                    ));
                }
            }
            Err(e) => return Err(ReadError::Malformed(e.to_string())),
        }
    }
}

/// Reads a chunked body starting at `buf[start..]`; returns where it ends.
async fn read_chunked(
    conn: &mut TcpStream,
    buf: &mut Vec<u8>,
    start: usize,
) -> Result<usize, ReadError> {
    let mut pos = start;
    loop {
        match httparse::parse_chunk_size(&buf[pos..]) {
            Ok(httparse::Status::Complete((line, 0))) => {
                pos += line;
                // No trailers: one empty line. Trailers: lines up to an empty one.
                loop {
                    if buf.len() >= pos + 2 && &buf[pos..pos + 2] == b"\r\n" {
                        return Ok(pos + 2);
                    }
                    if let Some(at) = buf[pos..].windows(4).position(|w| w == b"\r\n\r\n") {
                        return Ok(pos + at + 4);
                    }
                    if read_more(conn, buf).await? == 0 {
                        return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into(), false));
                    }
                }
            }
            Ok(httparse::Status::Complete((line, size))) => {
                let size = usize::try_from(size)
                    .map_err(|_| ReadError::Malformed(format!("chunk of {size} bytes")))?;
                let end = pos + line + size;
                fill(conn, buf, end + 2).await?;
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(ReadError::Malformed("chunk not followed by CRLF".into()));
                }
                pos = end + 2;
            }
            Ok(httparse::Status::Partial) => {
                if read_more(conn, buf).await? == 0 {
                    return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into(), false));
                }
            }
            Err(_) => return Err(ReadError::Malformed("invalid chunk size".into())),
        }
    }
}

/// Reads until `buf` holds at least `len` bytes.
async fn fill(conn: &mut TcpStream, buf: &mut Vec<u8>, len: usize) -> Result<(), ReadError> {
    while buf.len() < len {
        if read_more(conn, buf).await? == 0 {
            return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into(), false));
        }
    }
    Ok(())
}

/// One read appended to `buf`; 0 at the end of the connection.
async fn read_more(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize, ReadError> {
    if buf.capacity() - buf.len() < READ_CHUNK / 2 {
        buf.reserve(READ_CHUNK);
    }
    let empty = buf.is_empty();
    conn.read_buf(buf)
        .await
        .map_err(|e| ReadError::Io(e, empty))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

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
        tokio::task::spawn_blocking(move || run(&spec).unwrap())
            .await
            .unwrap()
    }

    /// Load on a server answering `answer`; asserts more than `min_ok`
    /// answers and no error.
    async fn load_without_errors(
        answer: &'static [u8],
        close_after: bool,
        min_ok: u64,
    ) -> LoadResult {
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
}
