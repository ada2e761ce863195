//! One HTTP/1.1 exchange on a raw TCP connection: the request written, the
//! answer read with `httparse` exactly as framed (`Content-Length`,
//! `Transfer-Encoding: chunked`, or up to the end of the connection) and
//! discarded, and whether the connection can carry the next request.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Header slots given to `httparse` per answer.
const MAX_HEADERS: usize = 64;
/// Free buffer space ensured before each read.
const READ_CHUNK: usize = 16 * 1024;

/// An answer, read to its end.
pub(super) struct Answer {
    pub(super) status: u16,
    /// The server will not take another request on this connection.
    pub(super) close: bool,
    /// Connections opened for this request (0, or 1, or 2 after a stale keep-alive one).
    pub(super) connects: u64,
}

/// A request with no usable answer.
pub(super) struct Failure {
    pub(super) message: String,
    pub(super) connects: u64,
}

/// Sends `request` on `stream` (opened first when `None`) and reads the answer.
/// A kept-alive connection the server closed before answering is opened again
/// once, as HTTP clients do for idempotent requests.
pub(super) async fn exchange(
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
