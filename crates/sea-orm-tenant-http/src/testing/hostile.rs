//! Property-test inputs shared by the adapters: whatever a client sends as a
//! header, query, host or path, the answer is 200 for the registered tenant
//! (and the handler sees it), a 4xx otherwise, never a 500 nor a panic.
//!
//! An adapter test builds an app for each [`Source`] (`source.resolver()`,
//! tenant [`REGISTERED`] in an in-memory store, a handler answering the
//! current tenant's name), sends [`Sent::request`], and passes the status and
//! the body to [`check`].

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;

use crate::Resolver;

/// The one registered tenant.
pub const REGISTERED: &str = "acme";

/// Which resolver a case goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Header `x-tenant`.
    Header,
    /// Query parameter `tenant`.
    Query,
    /// Subdomain of `example.com`.
    Subdomain,
    /// First path segment.
    PathSegment,
}

impl Source {
    /// The resolver for this source.
    pub fn resolver<Req, E>(self) -> Resolver<Req, E> {
        match self {
            Source::Header => Resolver::header("x-tenant").expect("a valid header name"),
            Source::Query => Resolver::query("tenant"),
            Source::Subdomain => Resolver::subdomain("example.com"),
            Source::PathSegment => Resolver::path_segment(),
        }
    }
}

/// One hostile (or, when `registered`, valid) request.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The resolver it goes through.
    pub source: Source,
    /// The request (`GET`, no body).
    pub request: http::Request<()>,
    /// Whether it names the registered tenant (then it must answer 200).
    pub registered: bool,
}

fn request(uri: &str, header: Option<(&str, http::HeaderValue)>) -> Option<http::Request<()>> {
    let uri: http::Uri = uri.parse().ok()?;
    let mut builder = http::Request::get(uri);
    if let Some((name, value)) = header {
        builder = builder.header(name, value);
    }
    builder.body(()).ok()
}

fn header_case() -> impl Strategy<Value = Option<Sent>> {
    (prop::collection::vec(any::<u8>(), 0..70), any::<bool>()).prop_map(|(bytes, registered)| {
        let bytes = if registered {
            REGISTERED.as_bytes().to_vec()
        } else {
            bytes
        };
        let value = http::HeaderValue::from_bytes(&bytes).ok()?;
        Some(Sent {
            source: Source::Header,
            request: request("/notes", Some(("x-tenant", value)))?,
            registered,
        })
    })
}

fn query_case() -> impl Strategy<Value = Option<Sent>> {
    (any::<String>(), "[ -~]{0,40}", any::<bool>(), any::<bool>()).prop_map(
        |(value, raw, encoded, registered)| {
            let query = if registered {
                format!("tenant={REGISTERED}")
            } else if encoded {
                format!("tenant={}", utf8_percent_encode(&value, NON_ALPHANUMERIC))
            } else {
                format!("tenant={raw}&tenant=%ff%fe")
            };
            Some(Sent {
                source: Source::Query,
                request: request(&format!("/notes?{query}"), None)?,
                registered,
            })
        },
    )
}

fn host_case() -> impl Strategy<Value = Option<Sent>> {
    ("[ -~]{0,60}", any::<bool>()).prop_map(|(host, registered)| {
        let host = if registered {
            format!("{REGISTERED}.example.com:8080")
        } else {
            host
        };
        let value = http::HeaderValue::from_str(&host).ok()?;
        Some(Sent {
            source: Source::Subdomain,
            request: request("/notes", Some(("host", value)))?,
            registered,
        })
    })
}

fn path_case() -> impl Strategy<Value = Option<Sent>> {
    ("[ -~]{0,40}", "(/[a-z0-9%]{0,8}){0,3}", any::<bool>()).prop_map(
        |(segment, rest, registered)| {
            let segment = if registered {
                REGISTERED.to_owned()
            } else {
                segment
            };
            Some(Sent {
                source: Source::PathSegment,
                request: request(&format!("/{segment}{rest}"), None)?,
                registered,
            })
        },
    )
}

/// Any request of any source; `None` for inputs `http` cannot even represent.
pub fn sent() -> impl Strategy<Value = Option<Sent>> {
    prop_oneof![header_case(), query_case(), host_case(), path_case()]
}

/// The answer's check: no 500; 200 only for the registered tenant (which the
/// handler saw as `body`), a 4xx otherwise.
pub fn check(sent: &Sent, status: u16, body: &str) -> Result<(), TestCaseError> {
    let what = format!("{:?} {:?}", sent.source, sent.request);
    prop_assert!(status != 500, "{}: 500", what);
    if status == 200 {
        prop_assert_eq!(body, REGISTERED, "{} was routed", what);
    } else {
        prop_assert!((400..500).contains(&status), "{}: {}", what, status);
    }
    if sent.registered {
        prop_assert_eq!(status, 200, "{}", what);
    }
    Ok(())
}
