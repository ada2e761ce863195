//! [`Resolver`]: where the tenant name of a request comes from.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use poem::Request;
use poem::http::uri::{Authority, PathAndQuery};
use poem::http::{HeaderName, Uri, header};

use crate::error::TenantRejection;

/// The query parameter read by [`Resolver::default`], as in the Flask recipe (`?tenant=acme`).
pub const DEFAULT_QUERY_PARAM: &str = "tenant";
/// The header name suggested for [`Resolver::header`].
pub const DEFAULT_HEADER: &str = "X-Tenant";

/// A [`Resolver::header`] name that is not a valid HTTP header name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid header name {name:?}: use letters, digits and `-`")]
pub struct InvalidHeaderName {
    /// The name as given.
    pub name: String,
}

/// What to do when two sources of a chain both give a tenant name and disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConflictPolicy {
    /// Reject the request with 400 ([`TenantRejection::Conflict`]). The default.
    #[default]
    Reject,
    /// Use the first source that gave a name; later sources are not consulted.
    FirstWins,
}

type AsyncFn =
    dyn Fn(&Request) -> BoxFuture<'static, poem::Result<Option<String>>> + Send + Sync + 'static;
type SyncFn = dyn Fn(&Request) -> Option<String> + Send + Sync + 'static;

#[derive(Clone)]
enum Source {
    Query(Arc<str>),
    Header(HeaderName, Arc<str>),
    Subdomain(Arc<str>),
    PathSegment(Arc<str>),
    Sync(Arc<str>, Arc<SyncFn>),
    Async(Arc<str>, Arc<AsyncFn>),
}

/// Where the tenant name of a request comes from: one source, or a chain of
/// sources built with [`or`](Self::or).
///
/// In a chain, the first source that gives a name wins. With the default
/// [`ConflictPolicy::Reject`], every source is consulted and if two give
/// different names the request is rejected with 400; see
/// [`TenantMiddleware::conflict_policy`](crate::TenantMiddleware::conflict_policy).
///
/// ```
/// use sea_orm_tenant_poem::Resolver;
///
/// // `X-Tenant: acme`, or else `?tenant=acme`.
/// let resolver = Resolver::header("X-Tenant")?.or(Resolver::query("tenant"));
/// assert_eq!(resolver.to_string(), "header X-Tenant or query parameter tenant");
/// # Ok::<(), sea_orm_tenant_poem::InvalidHeaderName>(())
/// ```
#[derive(Clone)]
pub struct Resolver {
    sources: Vec<Described>,
    /// Whether a source is asynchronous (then `resolve_now` cannot answer).
    has_async: bool,
}

/// A source and its description, computed once for error messages.
#[derive(Clone)]
struct Described {
    source: Source,
    name: Arc<str>,
}

/// The query parameter `tenant`.
impl Default for Resolver {
    fn default() -> Self {
        Self::query(DEFAULT_QUERY_PARAM)
    }
}

impl Resolver {
    fn one(source: Source) -> Self {
        Self {
            has_async: matches!(source, Source::Async(..)),
            sources: vec![Described {
                name: Arc::from(source.to_string()),
                source,
            }],
        }
    }

    /// The query parameter `name` (`?tenant=acme`), percent-decoded.
    /// If it is repeated with different values, the sources disagree (400).
    pub fn query(name: impl Into<String>) -> Self {
        Self::one(Source::Query(Arc::from(name.into())))
    }

    /// The header `name` (for example [`DEFAULT_HEADER`], `X-Tenant`).
    ///
    /// A name that is not a valid HTTP header name (read from configuration,
    /// say) is an [`InvalidHeaderName`] error, never a panic.
    ///
    /// ```
    /// use sea_orm_tenant_poem::Resolver;
    ///
    /// assert!(Resolver::header("X-Tenant").is_ok());
    /// let err = Resolver::header("X Tenant").unwrap_err();
    /// assert_eq!(err.to_string(), "invalid header name \"X Tenant\": use letters, digits and `-`");
    /// ```
    pub fn header(name: impl AsRef<str>) -> Result<Self, InvalidHeaderName> {
        let name = name.as_ref();
        let header = HeaderName::from_str(name).map_err(|_| InvalidHeaderName {
            name: name.to_owned(),
        })?;
        Ok(Self::one(Source::Header(header, Arc::from(name))))
    }

    /// The first label of the host under `base_domain`:
    /// `acme.example.com` gives `acme` for `Resolver::subdomain("example.com")`.
    ///
    /// The host comes from the request URI's authority (HTTP/2 `:authority`,
    /// absolute-form HTTP/1.1 requests), else from the `Host` header. The port is
    /// ignored and the host is compared in lowercase (host names are
    /// case-insensitive). The bare `base_domain` or another domain gives no name;
    /// a deeper subdomain (`a.b.example.com`) gives `a.b`, which is malformed (400).
    /// `X-Forwarded-Host` is not read: put a proxy-aware custom resolver first if needed.
    pub fn subdomain(base_domain: impl AsRef<str>) -> Self {
        let base = base_domain.as_ref().trim_matches('.').to_ascii_lowercase();
        Self::one(Source::Subdomain(Arc::from(base)))
    }

    /// The first path segment: `/acme/notes` gives `acme`, and the inner
    /// endpoint (and its routing) sees `/notes`. `/acme` and `/acme/` are
    /// seen as `/`. `/` and paths starting with `//` give no name.
    ///
    /// Under a [`Route::nest`](poem::Route::nest) poem strips the nest prefix
    /// first, so this reads the segment after it. For a middleware wrapping the
    /// whole app, use [`path_segment_under`](Self::path_segment_under).
    pub fn path_segment() -> Self {
        Self::path_segment_under("")
    }

    /// The path segment right after `prefix`: with prefix `/api`,
    /// `/api/acme/notes` gives `acme` and the inner endpoint sees `/api/notes`.
    /// Paths outside the prefix give no name.
    pub fn path_segment_under(prefix: impl AsRef<str>) -> Self {
        let prefix = prefix.as_ref().trim_matches('/');
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("/{prefix}")
        };
        Self::one(Source::PathSegment(Arc::from(prefix)))
    }

    /// A synchronous custom source, for example a claim of an already verified
    /// token stored in the request by an earlier middleware. `description`
    /// names it in error messages.
    pub fn from_fn<F>(description: impl Into<String>, f: F) -> Self
    where
        F: Fn(&Request) -> Option<String> + Send + Sync + 'static,
    {
        Self::one(Source::Sync(Arc::from(description.into()), Arc::new(f)))
    }

    /// An asynchronous custom source, for example an API-key lookup. The closure
    /// reads what it needs from the request, then returns a `'static` future:
    ///
    /// * `Ok(Some(name))`: the tenant name (validated like any other);
    /// * `Ok(None)`: this source gives no name;
    /// * `Err(error)`: the request is answered with `error` as is (for example a
    ///   401 for a bad API key).
    ///
    /// ```
    /// use sea_orm_tenant_poem::Resolver;
    ///
    /// let resolver = Resolver::custom("API key", |req| {
    ///     let key = req.header("x-api-key").map(str::to_owned);
    ///     async move {
    ///         Ok(match key.as_deref() {
    ///             Some("secret-acme") => Some("acme".to_owned()),
    ///             Some(_) => return Err(poem::Error::from_status(poem::http::StatusCode::UNAUTHORIZED)),
    ///             None => None,
    ///         })
    ///     }
    /// });
    /// # let _ = resolver;
    /// ```
    pub fn custom<F, Fut>(description: impl Into<String>, f: F) -> Self
    where
        F: Fn(&Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = poem::Result<Option<String>>> + Send + 'static,
    {
        let f: Arc<AsyncFn> =
            Arc::new(move |req: &Request| -> BoxFuture<'static, _> { Box::pin(f(req)) });
        Self::one(Source::Async(Arc::from(description.into()), f))
    }

    /// This chain followed by `next`'s sources.
    pub fn or(mut self, next: Resolver) -> Self {
        self.sources.extend(next.sources);
        self.has_async |= next.has_async;
        self
    }

    /// Finds the tenant name of `req` without waiting; `None` when the chain
    /// has an asynchronous source: call [`resolve`](Self::resolve) then.
    pub(crate) fn resolve_now<'r>(
        &self,
        req: &'r Request,
        policy: ConflictPolicy,
    ) -> Option<Result<Option<Found<'r>>, Rejected>> {
        if self.has_async {
            return None;
        }
        let mut chain = Chain::new(policy);
        for described in &self.sources {
            let candidate = match described.source.resolve_now(req, &described.name) {
                Ok(candidate) => candidate,
                Err(rejected) => return Some(Err(rejected)),
            };
            match chain.add(candidate) {
                Ok(true) => {}
                Ok(false) => break,
                Err(rejected) => return Some(Err(rejected)),
            }
        }
        Some(Ok(chain.found))
    }

    /// Finds the tenant name of `req`.
    pub(crate) async fn resolve<'r>(
        &self,
        req: &'r Request,
        policy: ConflictPolicy,
    ) -> Result<Option<Found<'r>>, Rejected> {
        let mut chain = Chain::new(policy);
        for described in &self.sources {
            let candidate = match &described.source {
                Source::Async(_, f) => f(req)
                    .await
                    .map_err(Rejected::Custom)?
                    .map(|name| Found::from(Cow::Owned(name), &described.name)),
                source => source.resolve_now(req, &described.name)?,
            };
            if !chain.add(candidate)? {
                break;
            }
        }
        Ok(chain.found)
    }
}

/// The names a chain's sources gave so far.
struct Chain<'r> {
    policy: ConflictPolicy,
    found: Option<Found<'r>>,
}

impl<'r> Chain<'r> {
    fn new(policy: ConflictPolicy) -> Self {
        Self {
            policy,
            found: None,
        }
    }

    /// Adds a source's answer; `false` when the rest need not be consulted.
    fn add(&mut self, candidate: Option<Found<'r>>) -> Result<bool, Rejected> {
        let Some(candidate) = candidate else {
            return Ok(true);
        };
        let Some(first) = &mut self.found else {
            self.found = Some(candidate);
            return Ok(self.policy != ConflictPolicy::FirstWins);
        };
        if first.name != candidate.name {
            return Err(Rejected::Tenant(TenantRejection::conflict(
                &first.from,
                &first.name,
                &candidate.from,
                &candidate.name,
            )));
        }
        if first.rewrite.is_none() {
            first.rewrite = candidate.rewrite;
        }
        Ok(true)
    }
}

impl fmt::Display for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, described) in self.sources.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            f.write_str(&described.name)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Resolver").field(&self.to_string()).finish()
    }
}

impl fmt::Display for Source {
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

/// A tenant name found in a request; borrowed from it when it needed no decoding.
#[derive(Debug)]
pub(crate) struct Found<'r> {
    /// The raw name, not yet validated.
    pub(crate) name: Cow<'r, str>,
    /// The source that gave it, for error messages.
    pub(crate) from: Arc<str>,
    /// The URI the inner endpoint should see (path-segment resolver).
    pub(crate) rewrite: Option<Uri>,
}

/// Why resolution stopped.
#[derive(Debug)]
pub(crate) enum Rejected {
    /// A tenant rejection (conflict).
    Tenant(TenantRejection),
    /// An error returned by a custom resolver, answered as is.
    Custom(poem::Error),
}

impl<'r> Found<'r> {
    fn from(name: Cow<'r, str>, from: &Arc<str>) -> Self {
        Self {
            name,
            from: Arc::clone(from),
            rewrite: None,
        }
    }

    /// The same, owning its name, for keeping past the request's borrow.
    pub(crate) fn into_owned(self) -> Found<'static> {
        Found {
            name: Cow::Owned(self.name.into_owned()),
            from: self.from,
            rewrite: self.rewrite,
        }
    }
}

impl Source {
    /// A synchronous source's answer; an asynchronous one gives none here.
    fn resolve_now<'r>(
        &self,
        req: &'r Request,
        from: &Arc<str>,
    ) -> Result<Option<Found<'r>>, Rejected> {
        let found = |name: Cow<'r, str>| Found::from(name, from);
        let owned = |name: String| found(Cow::Owned(name));
        match self {
            Source::Query(param) => query_value(req, param, from).map(|v| v.map(found)),
            Source::Header(name, _) => header_value(req, name, from).map(|v| v.map(found)),
            Source::Subdomain(base) => Ok(subdomain(req, base).map(owned)),
            Source::PathSegment(prefix) => {
                Ok(path_segment(req.uri(), prefix).map(|(name, uri)| Found {
                    rewrite: Some(uri),
                    ..owned(name)
                }))
            }
            Source::Sync(_, f) => Ok(f(req).map(owned)),
            Source::Async(..) => Ok(None),
        }
    }
}

/// All values must agree; a repeated parameter with two values is a conflict.
fn agree<'r>(
    values: impl Iterator<Item = Cow<'r, str>>,
    from: &str,
) -> Result<Option<Cow<'r, str>>, Rejected> {
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

fn query_value<'r>(
    req: &'r Request,
    param: &str,
    from: &str,
) -> Result<Option<Cow<'r, str>>, Rejected> {
    let Some(query) = req.uri().query() else {
        return Ok(None);
    };
    agree(query_values(query, param), from)
}

/// The values of `param` in `query`, decoded as `application/x-www-form-urlencoded`.
fn query_values<'q, 'p>(query: &'q str, param: &'p str) -> QueryValues<'q, 'p> {
    if query.bytes().any(|b| b == b'%' || b == b'+') {
        QueryValues::Encoded(url::form_urlencoded::parse(query.as_bytes()), param)
    } else {
        QueryValues::Plain(Some(query), param)
    }
}

/// [`query_values`]' iterator.
enum QueryValues<'q, 'p> {
    /// Something to decode: `form_urlencoded` does it.
    Encoded(url::form_urlencoded::Parse<'q>, &'p str),
    /// Nothing to decode: the same pairs as `form_urlencoded::parse` (split on
    /// `&`, empty ones skipped, then on the first `=`), borrowed.
    Plain(Option<&'q str>, &'p str),
}

impl<'q> Iterator for QueryValues<'q, '_> {
    type Item = Cow<'q, str>;

    fn next(&mut self) -> Option<Cow<'q, str>> {
        match self {
            QueryValues::Encoded(pairs, param) => pairs.find(|(k, _)| k == param).map(|(_, v)| v),
            QueryValues::Plain(rest, param) => loop {
                let query = rest.take()?;
                let pair = match query.bytes().position(|b| b == b'&') {
                    Some(end) => {
                        *rest = Some(&query[end + 1..]);
                        &query[..end]
                    }
                    None => query,
                };
                let (k, v) = match pair.bytes().position(|b| b == b'=') {
                    Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                    None => (pair, ""),
                };
                if k == *param && !pair.is_empty() {
                    return Some(Cow::Borrowed(v));
                }
            },
        }
    }
}

fn header_value<'r>(
    req: &'r Request,
    name: &HeaderName,
    from: &str,
) -> Result<Option<Cow<'r, str>>, Rejected> {
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
pub(crate) fn request_host(req: &Request) -> Option<String> {
    let authority = match req.uri().authority() {
        Some(a) => a.clone(),
        None => {
            let host = req.headers().get(header::HOST)?.to_str().ok()?;
            Authority::from_str(host).ok()?
        }
    };
    Some(authority.host().trim_end_matches('.').to_ascii_lowercase())
}

fn subdomain(req: &Request, base: &str) -> Option<String> {
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

    #[test]
    fn chains_describe_themselves() {
        let r = Resolver::header(DEFAULT_HEADER)
            .unwrap()
            .or(Resolver::default())
            .or(Resolver::subdomain("example.com"))
            .or(Resolver::path_segment_under("/api/"));
        assert_eq!(
            r.to_string(),
            "header X-Tenant or query parameter tenant or subdomain of example.com or path segment after /api"
        );
    }
}
