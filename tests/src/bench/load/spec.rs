//! What the load generator is asked to do: where, which paths and how they
//! are picked, how hard, for how long or how many requests.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Which of the spec's paths each request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Always the first (one hot tenant).
    First,
    /// A random one per request, from a generator seeded with this (and the
    /// connection's number): the same sequence on every machine.
    Random(u64),
    /// Each in turn, each connection starting at its own offset.
    Cycle,
}

/// What to request, how hard and for how long.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The server.
    pub addr: SocketAddr,
    /// Paths and queries of the `GET`s, each starting with `/`.
    pub paths: Vec<String>,
    /// Which path each request goes to.
    pub pick: Pick,
    /// Open connections, one request in flight on each.
    pub connections: usize,
    /// OS threads driving the connections (each a current-thread runtime).
    pub threads: usize,
    /// How long requests are sent. Answers still missing at the end are not counted.
    pub duration: Duration,
    /// At most this many requests are sent in all (`None`: no limit but the duration).
    pub max_requests: Option<u64>,
    /// A request unanswered this long counts as an error (its connection is dropped).
    pub request_timeout: Duration,
}

impl LoadSpec {
    /// `GET path_and_query` on `addr`: 32 connections, 1 thread, 8 s, no
    /// request limit, 10 s request timeout.
    pub fn get(addr: SocketAddr, path_and_query: &str) -> Self {
        Self::get_any(addr, vec![path_and_query.to_owned()], Pick::First)
    }

    /// `GET` one of `paths` per request, as `pick` says; otherwise as [`get`](Self::get).
    pub fn get_any(addr: SocketAddr, paths: Vec<String>, pick: Pick) -> Self {
        Self {
            addr,
            paths,
            pick,
            connections: 32,
            threads: 1,
            duration: Duration::from_secs(8),
            max_requests: None,
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

    /// Sets [`max_requests`](Self::max_requests).
    pub fn max_requests(mut self, max: u64) -> Self {
        self.max_requests = Some(max);
        self
    }

    /// Sets [`request_timeout`](Self::request_timeout).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// An error when the spec cannot be run.
    pub(super) fn check(&self) -> io::Result<()> {
        let invalid = |what: String| Err(io::Error::new(io::ErrorKind::InvalidInput, what));
        if self.connections == 0 {
            return invalid("at least one connection is needed".into());
        }
        if self.paths.is_empty() {
            return invalid("at least one path is needed".into());
        }
        if let Some(path) = self.paths.iter().find(|p| !p.starts_with('/')) {
            return invalid(format!("the path must start with '/': {path:?}"));
        }
        Ok(())
    }

    /// The bytes sent for each path's requests.
    pub(super) fn request_bytes(&self) -> Vec<Vec<u8>> {
        self.paths
            .iter()
            .map(|path| format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr).into_bytes())
            .collect()
    }
}
