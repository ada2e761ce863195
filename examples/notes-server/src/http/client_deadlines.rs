//! [`ClientDeadlinesAcceptor`]: the deadlines a client must keep on its
//! connection, so a slow or stalled client cannot hold a connection (and its
//! buffers) for ever:
//!
//! * idle: nothing read or written for `--idle-timeout` closes the
//!   connection, a client stopped half-way through its request included;
//! * headers: a request's headers must arrive in full within
//!   `--header-timeout` of its first byte, so a client trickling a byte now
//!   and then ("slowloris") is cut off too.
//!
//! poem sets no timer on hyper, so hyper's own `header_read_timeout` never
//! runs, and poem's `Server::idle_timeout` asks for a graceful shutdown, which
//! waits for the request in progress. Here the connection's pending read
//! fails with `TimedOut` instead, and hyper drops the connection.
//!
//! The end of the headers is found by watching the bytes read for an empty
//! line; a request has begun when bytes arrive after the previous response
//! was written. HTTP/2 (its preface) turns the header deadline off: its
//! frames are binary, and the idle deadline still applies.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How long a client may take.
#[derive(Debug, Clone, Copy)]
pub struct ClientTimeouts {
    /// Nothing read or written for this long closes the connection.
    pub idle: Duration,
    /// A request's headers must arrive within this long of its first byte.
    pub headers: Duration,
}

/// Wraps every connection of `inner` in [`ClientDeadlines`].
pub struct ClientDeadlinesAcceptor<A> {
    inner: A,
    timeouts: ClientTimeouts,
}

impl<A> ClientDeadlinesAcceptor<A> {
    /// Connections of `inner` keep `timeouts`.
    pub fn new(inner: A, timeouts: ClientTimeouts) -> Self {
        Self { inner, timeouts }
    }
}

impl<A: Acceptor> Acceptor for ClientDeadlinesAcceptor<A> {
    type Io = ClientDeadlines<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((
            ClientDeadlines::new(io, self.timeouts),
            local,
            remote,
            scheme,
        ))
    }
}

/// Where the connection is in its current request, as seen from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between requests: the next byte read begins one.
    Awaiting,
    /// Reading a request's headers, which must end by `until`.
    Headers {
        until: Instant,
        /// The last byte read ended a line (`\n`, or `\n` then `\r`).
        at_line_end: bool,
    },
    /// Headers read; the body, the handler and the response take their time
    /// (the request timeout bounds them).
    Request,
    /// An HTTP/2 connection: no header deadline.
    Http2,
}

/// The start of the HTTP/2 connection preface.
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// A connection whose pending read fails with `TimedOut` once its client
/// missed a deadline: nothing read or written for the idle timeout, or a
/// request's headers not complete within the header timeout.
pub struct ClientDeadlines<T> {
    inner: T,
    timeouts: ClientTimeouts,
    idle_until: Instant,
    phase: Phase,
    /// Bytes read so far, while that is fewer than the HTTP/2 preface.
    read_total: usize,
    // Boxed: poem needs the connection `Unpin`, and `Sleep` is not.
    // Set to the earlier of the two deadlines.
    timer: Pin<Box<Sleep>>,
}

impl<T> ClientDeadlines<T> {
    fn new(inner: T, timeouts: ClientTimeouts) -> Self {
        let idle_until = Instant::now() + timeouts.idle;
        Self {
            inner,
            timeouts,
            idle_until,
            phase: Phase::Awaiting,
            read_total: 0,
            timer: Box::pin(tokio::time::sleep_until(idle_until)),
        }
    }

    /// The deadline missed at `now`, if any.
    fn missed(&self, now: Instant) -> Option<&'static str> {
        match self.phase {
            Phase::Headers { until, .. } if now >= until => {
                Some("request headers not received within --header-timeout")
            }
            _ if now >= self.idle_until => Some("connection idle past --idle-timeout"),
            _ => None,
        }
    }

    fn rearm(&mut self) {
        let until = match self.phase {
            Phase::Headers { until, .. } => until.min(self.idle_until),
            _ => self.idle_until,
        };
        if self.timer.deadline() != until {
            self.timer.as_mut().reset(until);
        }
    }

    /// Follows the request through `bytes`, just read.
    fn on_read(&mut self, bytes: &[u8], now: Instant) {
        self.idle_until = now + self.timeouts.idle;
        if self.read_total < HTTP2_PREFACE.len() {
            let seen = self.read_total;
            self.read_total += bytes.len();
            let n = bytes.len().min(HTTP2_PREFACE.len() - seen);
            if bytes[..n] == HTTP2_PREFACE[seen..seen + n] {
                if self.read_total >= HTTP2_PREFACE.len() {
                    self.phase = Phase::Http2;
                }
            } else {
                // Not HTTP/2: stop comparing.
                self.read_total = usize::MAX;
            }
        }
        if self.phase == Phase::Awaiting {
            self.phase = Phase::Headers {
                until: now + self.timeouts.headers,
                at_line_end: false,
            };
        }
        if let Phase::Headers {
            until,
            mut at_line_end,
        } = self.phase
        {
            for &b in bytes {
                match b {
                    b'\n' if at_line_end => {
                        self.phase = Phase::Request;
                        break;
                    }
                    b'\n' => at_line_end = true,
                    b'\r' => {}
                    _ => at_line_end = false,
                }
            }
            if self.phase != Phase::Request {
                self.phase = Phase::Headers { until, at_line_end };
            }
        }
        self.rearm();
    }

    /// After writing `bytes`: a response other than an interim one (`1xx`)
    /// ends the request.
    fn on_write(&mut self, bytes: &[u8], now: Instant) {
        self.idle_until = now + self.timeouts.idle;
        let interim = bytes.starts_with(b"HTTP/1.1 1") || bytes.starts_with(b"HTTP/1.0 1");
        if matches!(self.phase, Phase::Headers { .. } | Phase::Request) && !interim {
            self.phase = Phase::Awaiting;
        }
        self.rearm();
    }

    /// `written`, after noting what was written.
    fn after_write(
        &mut self,
        written: Poll<io::Result<usize>>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = written
            && n > 0
        {
            self.on_write(&bytes[..n.min(bytes.len())], Instant::now());
        }
        written
    }
}

fn timed_out(reason: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, reason)
}

impl<T: AsyncRead + Unpin> AsyncRead for ClientDeadlines<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let now = Instant::now();
                // Bytes that came after a missed deadline do not save it.
                if let Some(reason) = this.missed(now) {
                    return Poll::Ready(Err(timed_out(reason)));
                }
                if buf.filled().len() > before {
                    this.on_read(&buf.filled()[before..], now);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // The timer is always at the earlier deadline in effect (every
            // read and write re-arms it), so when it fires one was missed.
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(timed_out(
                    this.missed(Instant::now())
                        .unwrap_or("connection idle past --idle-timeout"),
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ClientDeadlines<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.after_write(written, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
        this.after_write(written, first)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    const TIMEOUTS: ClientTimeouts = ClientTimeouts {
        idle: Duration::from_secs(60),
        headers: Duration::from_secs(10),
    };

    /// The server's side wrapped, and the client's side.
    fn connection() -> (ClientDeadlines<DuplexStream>, DuplexStream) {
        let (server, client) = tokio::io::duplex(4096);
        (ClientDeadlines::new(server, TIMEOUTS), client)
    }

    /// Reads what the client sent so far, or the error.
    async fn read(server: &mut ClientDeadlines<DuplexStream>) -> io::Result<Vec<u8>> {
        let mut buf = [0u8; 1024];
        let n = server.read(&mut buf).await?;
        Ok(buf[..n].to_vec())
    }

    /// Sends `bytes` one at a time, `every` apart, the server reading each:
    /// what it read, or its error.
    async fn trickle(
        server: &mut ClientDeadlines<DuplexStream>,
        client: &mut DuplexStream,
        bytes: &[u8],
        every: Duration,
    ) -> (Vec<u8>, Option<io::Error>) {
        let mut got = Vec::new();
        for b in bytes {
            client.write_all(&[*b]).await.unwrap();
            tokio::time::advance(every).await;
            match read(server).await {
                Ok(bytes) => got.extend(bytes),
                Err(e) => return (got, Some(e)),
            }
        }
        (got, None)
    }

    #[tokio::test(start_paused = true)]
    async fn headers_trickled_past_the_header_timeout_fail_the_read() {
        let (mut server, mut client) = connection();
        // One byte a second: never idle, but 31 s of headers.
        let request = b"GET /notes HTTP/1.1\r\nHost: x\r\n";
        let (got, error) = trickle(&mut server, &mut client, request, Duration::from_secs(1)).await;
        let error = error.expect("the header deadline fails the read");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(error.to_string().contains("--header-timeout"), "{error}");
        assert_eq!(got.len(), 10, "ten bytes arrived within the 10 s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pending_read_fails_when_the_header_deadline_passes() {
        let (mut server, mut client) = connection();
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        read(&mut server).await.unwrap();
        // Nothing more comes: the pending read fails at the header deadline,
        // long before the idle one.
        let started = Instant::now();
        let error = read(&mut server).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), TIMEOUTS.headers);
    }

    #[tokio::test(start_paused = true)]
    async fn complete_headers_lift_the_header_deadline_until_the_next_request() {
        let (mut server, mut client) = connection();
        for line_end in ["\r\n", "\n"] {
            let headers = format!("GET / HTTP/1.1{line_end}Host: x{line_end}{line_end}");
            let every = Duration::from_millis(100);
            let (got, error) = trickle(&mut server, &mut client, headers.as_bytes(), every).await;
            assert!(error.is_none(), "{error:?}");
            assert_eq!(got, headers.as_bytes());
            // The handler takes 30 s, then the body arrives: no deadline but idle.
            tokio::time::advance(Duration::from_secs(30)).await;
            client.write_all(b"{}").await.unwrap();
            assert_eq!(read(&mut server).await.unwrap(), b"{}");
            server.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
            let mut response = [0u8; 19];
            client.read_exact(&mut response).await.unwrap();
            // Keep-alive, 50 s idle: within the idle timeout, no request begun.
            tokio::time::advance(Duration::from_secs(50)).await;
        }
        // The next request's headers have their own deadline again.
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        read(&mut server).await.unwrap();
        let error = read(&mut server).await.unwrap_err();
        assert!(error.to_string().contains("--header-timeout"), "{error}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_interim_response_does_not_end_the_request() {
        let (mut server, mut client) = connection();
        client
            .write_all(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n")
            .await
            .unwrap();
        read(&mut server).await.unwrap();
        server
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .unwrap();
        // The body comes slowly, over 20 s: no header deadline applies to it.
        let body = b"{\"a\":\"xxxxxxxxxxxxxxxxxxxx\"}";
        let (got, error) = trickle(&mut server, &mut client, body, Duration::from_secs(1)).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(got, body);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_fails_its_read_at_the_idle_timeout() {
        let (mut server, _client) = connection();
        let started = Instant::now();
        let error = read(&mut server).await.unwrap_err();
        assert!(error.to_string().contains("--idle-timeout"), "{error}");
        assert_eq!(started.elapsed(), TIMEOUTS.idle);
    }

    #[tokio::test(start_paused = true)]
    async fn http2_has_no_header_deadline() {
        let (mut server, mut client) = connection();
        client.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
        read(&mut server).await.unwrap();
        // Binary frames trickling for 30 s, never an empty line.
        let (got, error) =
            trickle(&mut server, &mut client, &[0u8; 30], Duration::from_secs(1)).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(got.len(), 30);
    }
}
