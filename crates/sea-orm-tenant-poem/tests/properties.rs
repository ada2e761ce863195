//! Property tests of the resolvers (header, query, host, path segment) through
//! the middleware: whatever a client sends, the answer is 200 for the
//! registered tenant, a 4xx otherwise, never a 500 and never a panic; a
//! registered name round-trips from every source.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use poem::endpoint::make_sync;
use poem::http::{HeaderValue, StatusCode};
use poem::{Endpoint, EndpointExt, IntoResponse, Request};
use proptest::prelude::*;
use sea_orm_tenant::{TenantConnections, current_tenant};
use sea_orm_tenant_poem::{Resolver, TenantMiddleware};

const REGISTERED: &str = "acme";

struct Harness {
    runtime: tokio::runtime::Runtime,
    store: TenantConnections,
}

impl Harness {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let store = TenantConnections::from_urls([(REGISTERED, "sqlite::memory:")]).unwrap();
        Self { runtime, store }
    }

    /// The status for `req` through `resolver`, and the tenant the handler saw.
    fn call(&self, resolver: Resolver, req: Request) -> (StatusCode, Option<String>) {
        let ep = make_sync(|_| current_tenant().map(|t| t.to_string()).unwrap_or_default())
            .with(TenantMiddleware::new(self.store.clone(), resolver));
        self.runtime.block_on(async {
            match ep.call(req).await {
                Ok(resp) => {
                    let resp = resp.into_response();
                    let status = resp.status();
                    let body = resp.into_body().into_string().await.unwrap();
                    (status, Some(body))
                }
                Err(err) => (err.into_response().status(), None),
            }
        })
    }
}

fn check(status: StatusCode, seen: Option<String>, sent: &str) -> Result<(), TestCaseError> {
    prop_assert!(status != StatusCode::INTERNAL_SERVER_ERROR, "{sent:?}: 500");
    if status == StatusCode::OK {
        prop_assert_eq!(seen.as_deref(), Some(REGISTERED), "{:?} was routed", sent);
    } else {
        prop_assert!(status.is_client_error(), "{sent:?}: {status}");
    }
    Ok(())
}

thread_local! {
    static HARNESS: Harness = Harness::new();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    /// Any header bytes a client can send.
    #[test]
    fn any_header_value(bytes in prop::collection::vec(any::<u8>(), 0..70), registered in any::<bool>()) {
        let bytes = if registered { REGISTERED.as_bytes().to_vec() } else { bytes };
        let Ok(value) = HeaderValue::from_bytes(&bytes) else { return Ok(()) };
        let req = Request::builder().uri_str("/notes").header("x-tenant", value).finish();
        let (status, seen) = HARNESS.with(|h| h.call(Resolver::header("x-tenant").unwrap(), req));
        check(status, seen, &String::from_utf8_lossy(&bytes))?;
        if registered {
            prop_assert_eq!(status, StatusCode::OK);
        }
    }

    /// Any configured header name: a resolver or a typed error, never a panic;
    /// a valid name is matched whatever its case.
    #[test]
    fn any_header_name(name in any::<String>(), token in "[A-Za-z0-9-]{1,30}") {
        let valid = poem::http::HeaderName::from_bytes(name.as_bytes()).is_ok();
        match Resolver::header(&name) {
            Ok(_) => prop_assert!(valid, "{name:?} accepted"),
            Err(err) => {
                prop_assert!(!valid, "{name:?} refused");
                prop_assert_eq!(err.name, name);
            }
        }
        let resolver = Resolver::header(&token).unwrap();
        let req = Request::builder().uri_str("/notes").header(token.to_ascii_lowercase(), REGISTERED).finish();
        let (status, seen) = HARNESS.with(|h| h.call(resolver, req));
        prop_assert_eq!(status, StatusCode::OK);
        prop_assert_eq!(seen.as_deref(), Some(REGISTERED));
    }

    /// Any query string, raw or percent-encoded, invalid UTF-8 escapes included.
    #[test]
    fn any_query(value in any::<String>(), raw in "[ -~]{0,40}", encoded in any::<bool>(), registered in any::<bool>()) {
        let query = if registered {
            format!("tenant={REGISTERED}")
        } else if encoded {
            format!("tenant={}", utf8_percent_encode(&value, NON_ALPHANUMERIC))
        } else {
            format!("tenant={raw}&tenant=%ff%fe")
        };
        let Ok(uri) = format!("/notes?{query}").parse::<poem::http::Uri>() else { return Ok(()) };
        let req = Request::builder().uri(uri).finish();
        let (status, seen) = HARNESS.with(|h| h.call(Resolver::query("tenant"), req));
        check(status, seen, &query)?;
        if registered {
            prop_assert_eq!(status, StatusCode::OK);
        }
    }

    /// Any Host header.
    #[test]
    fn any_host(host in "[ -~]{0,60}", registered in any::<bool>()) {
        let host = if registered { format!("{REGISTERED}.example.com:8080") } else { host };
        let Ok(value) = HeaderValue::from_str(&host) else { return Ok(()) };
        let req = Request::builder().uri_str("/notes").header("host", value).finish();
        let (status, seen) = HARNESS.with(|h| h.call(Resolver::subdomain("example.com"), req));
        check(status, seen, &host)?;
        if registered {
            prop_assert_eq!(status, StatusCode::OK);
        }
    }

    /// Any path.
    #[test]
    fn any_path_segment(segment in "[ -~]{0,40}", rest in "(/[a-z0-9%]{0,8}){0,3}", registered in any::<bool>()) {
        let segment = if registered { REGISTERED.to_owned() } else { segment };
        let Ok(uri) = format!("/{segment}{rest}").parse::<poem::http::Uri>() else { return Ok(()) };
        let req = Request::builder().uri(uri).finish();
        let (status, seen) = HARNESS.with(|h| h.call(Resolver::path_segment(), req));
        check(status, seen, &segment)?;
        if registered {
            prop_assert_eq!(status, StatusCode::OK);
        }
    }
}
