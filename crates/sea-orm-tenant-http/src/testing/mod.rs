//! The cases every framework adapter is tested against (feature `testing`):
//! one store, one resolver chain, one exempt path, and the request each case
//! sends with the answer it must get. The poem and axum crates run these same
//! cases through their own middleware, so their answers cannot drift apart.
//!
//! The app under test routes `GET /whoami` to a handler answering the
//! current tenant's name as text and `GET /health` (exempt) to one answering
//! `ok`; its resolver is [`resolver`], and its store [`store`].
//!
//! [`hostile`] has the property tests' inputs: any header, query, host or
//! path a client can send, and the check that the answer is never a 500.
//! [`bench`] is the harness of both crates' overhead benchmarks.

pub mod bench;
pub mod hostile;

use std::path::Path;

use sea_orm_tenant::{KeyError, TenantConnections, TenantKey};
use serde_json::{Value, json};

use crate::{Resolver, TenantRejection};

/// The exempt path of the app under test.
pub const EXEMPT: &str = "/health";

/// Header `X-Tenant`, or query parameter `tenant`, or subdomain of `example.com`.
pub fn resolver<Req, E>() -> Resolver<Req, E> {
    Resolver::header("X-Tenant")
        .expect("a valid header name")
        .or(Resolver::query("tenant"))
        .or(Resolver::subdomain("example.com"))
}

/// Tenants `acme` and `globex` (in-memory SQLite), `broken` (a SQLite file
/// in a folder of `dir` that does not exist: it cannot be opened) and
/// `paused` (out of service).
pub fn store(dir: &Path) -> TenantConnections {
    let broken = dir.join("no-such-folder").join("broken.db");
    let store = TenantConnections::builder()
        .tenant("acme", "sqlite::memory:")
        .tenant("globex", "sqlite::memory:")
        .tenant("broken", format!("sqlite://{}", broken.display()))
        .tenant("paused", "sqlite::memory:")
        .build()
        .expect("a valid store");
    store
        .set_out_of_service("paused", "being migrated")
        .expect("paused is registered");
    store
}

/// What a case expects of the answer's body.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// This text.
    Text(String),
    /// This JSON.
    Json(Value),
    /// Anything (hostile inputs: only the status is checked).
    Any,
}

/// One request and the answer it must get.
#[derive(Debug, Clone)]
pub struct Case {
    /// What the case checks.
    pub name: &'static str,
    /// The request's path and query.
    pub uri: String,
    /// The request's headers (`Host` included).
    pub headers: Vec<(&'static str, String)>,
    /// The answer's status.
    pub status: u16,
    /// The answer's `Retry-After`, if it must have one.
    pub retry_after: Option<&'static str>,
    /// The answer's body.
    pub body: Expected,
}

impl Case {
    fn new(name: &'static str, uri: impl Into<String>, status: u16, body: Expected) -> Self {
        Self {
            name,
            uri: uri.into(),
            headers: Vec::new(),
            status,
            retry_after: None,
            body,
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn retry_after(mut self, value: &'static str) -> Self {
        self.retry_after = Some(value);
        self
    }
}

fn text(s: &str) -> Expected {
    Expected::Text(s.to_owned())
}

fn malformed(from: &str, name: &str) -> Expected {
    let reason: KeyError = TenantKey::new(name).expect_err("a malformed name");
    Expected::Json(TenantRejection::malformed(from, reason).body())
}

fn conflict(first_from: &str, first: &str, second_from: &str, second: &str) -> Expected {
    Expected::Json(TenantRejection::conflict(first_from, first, second_from, second).body())
}

/// Every case, in order.
pub fn cases() -> Vec<Case> {
    let missing = json!({
        "error": "no tenant given: expected header X-Tenant or query parameter tenant or subdomain of example.com"
    });
    vec![
        Case::new("header", "/whoami", 200, text("acme")).header("X-Tenant", "acme"),
        Case::new("query", "/whoami?tenant=globex", 200, text("globex")),
        Case::new(
            "percent-encoded query",
            "/whoami?tenant=%61cme",
            200,
            text("acme"),
        ),
        Case::new("subdomain", "/whoami", 200, text("acme"))
            .header("Host", "acme.example.com:8080"),
        Case::new("sources agree", "/whoami?tenant=acme", 200, text("acme"))
            .header("X-Tenant", "acme")
            .header("Host", "acme.example.com"),
        Case::new("missing", "/whoami", 400, Expected::Json(missing.clone())),
        Case::new(
            "another domain gives no name",
            "/whoami",
            400,
            Expected::Json(missing),
        )
        .header("Host", "acme.example.org"),
        Case::new(
            "malformed header",
            "/whoami",
            400,
            malformed("header X-Tenant", "Acme"),
        )
        .header("X-Tenant", "Acme"),
        Case::new(
            "malformed query",
            "/whoami?tenant=a%20b",
            400,
            malformed("query parameter tenant", "a b"),
        ),
        Case::new(
            "deeper subdomain",
            "/whoami",
            400,
            malformed("subdomain of example.com", "a.b"),
        )
        .header("Host", "a.b.example.com"),
        Case::new(
            "header and query disagree",
            "/whoami?tenant=globex",
            400,
            conflict(
                "header X-Tenant",
                "acme",
                "query parameter tenant",
                "globex",
            ),
        )
        .header("X-Tenant", "acme"),
        Case::new(
            "repeated query parameter disagrees",
            "/whoami?tenant=acme&tenant=globex",
            400,
            conflict(
                "query parameter tenant",
                "acme",
                "query parameter tenant",
                "globex",
            ),
        ),
        Case::new(
            "unknown",
            "/whoami",
            404,
            Expected::Json(json!({"error": "unknown tenant initech", "tenant": "initech"})),
        )
        .header("X-Tenant", "initech"),
        Case::new(
            "unavailable",
            "/whoami",
            503,
            Expected::Json(json!({
                "error": "the database of tenant broken is unavailable; retry later",
                "tenant": "broken"
            })),
        )
        .header("X-Tenant", "broken")
        .retry_after("5"),
        Case::new(
            "out of service",
            "/whoami",
            503,
            Expected::Json(json!({
                "error": "tenant paused is out of service; retry later",
                "tenant": "paused"
            })),
        )
        .header("X-Tenant", "paused")
        .retry_after("5"),
        Case::new("exempt", EXEMPT, 200, text("ok")),
        Case::new("exempt with a trailing slash", "/health/", 200, text("ok")),
        Case::new("exempt with a bad tenant", EXEMPT, 200, text("ok")).header("X-Tenant", "../x"),
        Case::new("path traversal", "/whoami", 400, Expected::Any).header("X-Tenant", "../../etc"),
        Case::new("NUL byte", "/whoami?tenant=%00", 400, Expected::Any),
        Case::new(
            "overlong name",
            format!("/whoami?tenant={}", "a".repeat(5000)),
            400,
            Expected::Any,
        ),
        Case::new(
            "non-UTF-8 query",
            "/whoami?tenant=%ff%fe",
            400,
            Expected::Any,
        ),
        Case::new("SQL in the name", "/whoami", 400, Expected::Any)
            .header("X-Tenant", "acme'; DROP TABLE note; --"),
        Case::new("Windows device name", "/whoami", 400, Expected::Any).header("X-Tenant", "con"),
    ]
}
