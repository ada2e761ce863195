//! One source of a tenant name: a query parameter, a header, the host's
//! subdomain, the first path segment, or a closure.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::uri::{Authority, PathAndQuery};
use http::{HeaderName, Uri, header};

use super::chain::{Found, Rejected};
use crate::rejection::TenantRejection;
use crate::request::RequestParts;

pub(super) type AsyncFn<Req, E> =
    dyn Fn(&Req) -> BoxFuture<'static, Result<Option<String>, E>> + Send + Sync + 'static;
pub(super) type SyncFn<Req> = dyn Fn(&Req) -> Option<String> + Send + Sync + 'static;

pub(super) enum Source<Req, E> {
    Query(Arc<str>),
    Header(HeaderName, Arc<str>),
    Subdomain(Arc<str>),
    PathSegment(Arc<str>),
    Sync(Arc<str>, Arc<SyncFn<Req>>),
    Async(Arc<str>, Arc<AsyncFn<Req, E>>),
}

impl<Req, E> Clone for Source<Req, E> {
    fn clone(&self) -> Self {
        match self {
            Source::Query(p) => Source::Query(Arc::clone(p)),
            Source::Header(h, n) => Source::Header(h.clone(), Arc::clone(n)),
            Source::Subdomain(b) => Source::Subdomain(Arc::clone(b)),
            Source::PathSegment(p) => Source::PathSegment(Arc::clone(p)),
            Source::Sync(d, f) => Source::Sync(Arc::clone(d), Arc::clone(f)),
            Source::Async(d, f) => Source::Async(Arc::clone(d), Arc::clone(f)),
        }
    }
}

impl<Req, E> fmt::Display for Source<Req, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Query(name) => write!(f, "query parameter {name}"),
            Source::Header(_, name) => write!(f, "header {name}"),
            Source::Subdomain(base) => write!(f, "subdomain of {base}"),
            Source::PathSegment(prefix) if prefix.is_empty() => f.write_str("first path segment"),
            Source::PathSegment(prefix) => write!(f, "path segment after {prefix}"),
            Source::Sync(desc, _) | Source::Async(desc, _) => f.write_str(desc),
        }
    }
}

impl<Req: RequestParts, E> Source<Req, E> {
    /// A synchronous source's answer; an asynchronous one gives none here.
    pub(super) fn resolve_now<'r>(
        &'r self,
        req: &'r Req,
        from: &'r str,
    ) -> Result<Option<Found<'r>>, Rejected<E>> {
        let found = |name: Cow<'r, str>| Found::from(name, from);
        let owned = |name: String| found(Cow::Owned(name));
        match self {
            Source::Query(param) => query_value(req, param, from).map(|v| v.map(found)),
            Source::Header(name, _) => header_value(req, name, from).map(|v| v.map(found)),
            Source::Subdomain(base) => Ok(subdomain(req, base).map(owned)),
            Source::PathSegment(prefix) => {
                Ok(path_segment(req.uri(), prefix).map(|(name, uri)| Found {
                    rewrite: Some(Box::new(uri)),
                    ..owned(name)
                }))
            }
            Source::Sync(_, f) => Ok(f(req).map(owned)),
            Source::Async(..) => Ok(None),
        }
    }
}

/// All values must agree; a repeated parameter with two values is a conflict.
fn agree<'r, E>(
    values: impl Iterator<Item = Cow<'r, str>>,
    from: &str,
) -> Result<Option<Cow<'r, str>>, Rejected<E>> {
    let mut first: Option<Cow<'r, str>> = None;
    for value in values {
        match &first {
            None => first = Some(value),
            Some(f) if *f == value => {}
            Some(f) => {
                return Err(Rejected::Tenant(TenantRejection::conflict(
                    from, f, from, &value,
                )));
            }
        }
    }
    Ok(first)
}

fn query_value<'r, E>(
    req: &'r impl RequestParts,
    param: &str,
    from: &str,
) -> Result<Option<Cow<'r, str>>, Rejected<E>> {
    let Some(query) = req.uri().query() else {
        return Ok(None);
    };
    agree(query_values(query, param), from)
}

/// The values of `param` in `query`, decoded as `application/x-www-form-urlencoded`.
fn query_values<'q, 'p>(query: &'q str, param: &'p str) -> QueryValues<'q, 'p> {
    QueryValues {
        rest: Some(query),
        param,
    }
}

/// [`query_values`]' iterator: the same pairs as `form_urlencoded::parse`
/// (split on `&`, empty ones skipped, then on the first `=`), in one pass
/// over the query; a pair with nothing to decode is borrowed, one with a `%`
/// or `+` is decoded by `form_urlencoded`.
struct QueryValues<'q, 'p> {
    rest: Option<&'q str>,
    param: &'p str,
}

impl<'q> Iterator for QueryValues<'q, '_> {
    type Item = Cow<'q, str>;

    fn next(&mut self) -> Option<Cow<'q, str>> {
        loop {
            let query = self.rest?;
            let bytes = query.as_bytes();
            let (mut end, mut eq, mut encoded) = (bytes.len(), None, false);
            for (i, &b) in bytes.iter().enumerate() {
                match b {
                    b'&' => {
                        end = i;
                        break;
                    }
                    b'=' if eq.is_none() => eq = Some(i),
                    b'%' | b'+' => encoded = true,
                    _ => {}
                }
            }
            self.rest = query.get(end + 1..);
            let pair = &query[..end];
            if pair.is_empty() {
                continue;
            }
            if encoded {
                match url::form_urlencoded::parse(pair.as_bytes()).next() {
                    Some((k, v)) if k == self.param => return Some(v),
                    _ => continue,
                }
            }
            let (k, v) = match eq {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, ""),
            };
            if k == self.param {
                return Some(Cow::Borrowed(v));
            }
        }
    }
}

fn header_value<'r, E>(
    req: &'r impl RequestParts,
    name: &HeaderName,
    from: &str,
) -> Result<Option<Cow<'r, str>>, Rejected<E>> {
    agree(
        req.headers()
            .get_all(name)
            .iter()
            .map(|v| match String::from_utf8_lossy(v.as_bytes()) {
                Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
                Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
            }),
        from,
    )
}

/// The request's host, lowercase, without port: URI authority first, then `Host`.
pub(crate) fn request_host(req: &impl RequestParts) -> Option<String> {
    let authority = match req.uri().authority() {
        Some(a) => a.clone(),
        None => {
            let host = req.headers().get(header::HOST)?.to_str().ok()?;
            Authority::from_str(host).ok()?
        }
    };
    Some(authority.host().trim_end_matches('.').to_ascii_lowercase())
}

fn subdomain(req: &impl RequestParts, base: &str) -> Option<String> {
    let host = request_host(req)?;
    let label = host.strip_suffix(base)?.strip_suffix('.')?;
    (!label.is_empty()).then(|| label.to_owned())
}

/// Splits the segment after `prefix` off `uri`: `(segment, uri without it)`.
pub(crate) fn path_segment(uri: &Uri, prefix: &str) -> Option<(String, Uri)> {
    let path = uri.path();
    let rest = path.strip_prefix(prefix)?;
    let rest = rest.strip_prefix('/')?;
    let (segment, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if segment.is_empty() {
        return None;
    }
    let mut new_path = format!("{prefix}{tail}");
    if new_path.is_empty() || (tail.is_empty() && !prefix.is_empty()) {
        new_path.push('/');
    }
    if let Some(query) = uri.query() {
        new_path.push('?');
        new_path.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::from_str(&new_path).ok()?);
    Some((segment.to_owned(), Uri::from_parts(parts).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(uri: &str, prefix: &str) -> Option<(String, String)> {
        let uri: Uri = uri.parse().unwrap();
        path_segment(&uri, prefix).map(|(s, u)| (s, u.to_string()))
    }

    #[test]
    fn path_segment_is_removed() {
        assert_eq!(
            split("/acme/notes/1", ""),
            Some(("acme".into(), "/notes/1".into()))
        );
        assert_eq!(split("/acme", ""), Some(("acme".into(), "/".into())));
        assert_eq!(split("/acme/", ""), Some(("acme".into(), "/".into())));
        assert_eq!(
            split("/acme/notes?x=1", ""),
            Some(("acme".into(), "/notes?x=1".into()))
        );
        assert_eq!(split("/", ""), None);
        assert_eq!(split("//notes", ""), None);
    }

    #[test]
    fn path_segment_under_a_prefix_keeps_the_prefix() {
        assert_eq!(
            split("/api/acme/notes", "/api"),
            Some(("acme".into(), "/api/notes".into()))
        );
        assert_eq!(
            split("/api/acme", "/api"),
            Some(("acme".into(), "/api/".into()))
        );
        assert_eq!(split("/apix/acme", "/api"), None);
        assert_eq!(split("/api", "/api"), None);
        assert_eq!(split("/other/acme", "/api"), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(10_000))]

        /// The borrowed fast path reads exactly what `form_urlencoded` decodes.
        #[test]
        fn query_values_are_those_form_urlencoded_decodes(
            query in "[ab =&%+24]{0,30}",
            param in "[ab +]{0,2}",
        ) {
            let expected: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
                .filter(|(k, _)| *k == param)
                .map(|(_, v)| v.into_owned())
                .collect();
            let got: Vec<String> = query_values(&query, &param).map(Cow::into_owned).collect();
            proptest::prop_assert_eq!(got, expected);
        }
    }
}
