//! [`Resolver`]: where the tenant name of a request comes from: one source,
//! or a chain of them ([`chain`] checks that they agree), each a [`source`].

mod chain;
mod source;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::HeaderName;

use self::chain::Chain;
pub use self::chain::{Found, Rejected};
use self::source::{AsyncFn, Source};
use crate::request::RequestParts;

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
    /// Reject the request with 400 ([`TenantRejection::Conflict`](crate::TenantRejection::Conflict)). The default.
    #[default]
    Reject,
    /// Use the first source that gave a name; later sources are not consulted.
    FirstWins,
}

/// Where the tenant name of a request comes from: one source, or a chain of
/// sources built with [`or`](Self::or).
///
/// In a chain, the first source that gives a name wins. With the default
/// [`ConflictPolicy::Reject`], every source is consulted and if two give
/// different names the request is rejected with 400 (the adapters'
/// `conflict_policy` changes that).
///
/// `Req` is the request type the custom closures read (`poem::Request` in the
/// poem crate, `http::request::Parts` in the axum crate), `E` the error a
/// custom asynchronous source may answer with. The adapters name it
/// `Resolver` with both fixed.
///
/// ```
/// type Resolver = sea_orm_tenant_http::Resolver<http::request::Parts, std::convert::Infallible>;
///
/// // `X-Tenant: acme`, or else `?tenant=acme`.
/// let resolver = Resolver::header("X-Tenant")?.or(Resolver::query("tenant"));
/// assert_eq!(resolver.to_string(), "header X-Tenant or query parameter tenant");
/// # Ok::<(), sea_orm_tenant_http::InvalidHeaderName>(())
/// ```
pub struct Resolver<Req, E> {
    sources: Vec<Described<Req, E>>,
    /// Whether a source is asynchronous (then `resolve_now` cannot answer).
    has_async: bool,
}

impl<Req, E> Clone for Resolver<Req, E> {
    fn clone(&self) -> Self {
        Self {
            sources: self.sources.clone(),
            has_async: self.has_async,
        }
    }
}

/// A source and its description, computed once for error messages.
struct Described<Req, E> {
    source: Source<Req, E>,
    name: Arc<str>,
}

impl<Req, E> Clone for Described<Req, E> {
    fn clone(&self) -> Self {
        Self {
            source: self.source.clone(),
            name: Arc::clone(&self.name),
        }
    }
}

/// The query parameter `tenant`.
impl<Req, E> Default for Resolver<Req, E> {
    fn default() -> Self {
        Self::query(DEFAULT_QUERY_PARAM)
    }
}

impl<Req, E> Resolver<Req, E> {
    fn one(source: Source<Req, E>) -> Self {
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
    /// type Resolver = sea_orm_tenant_http::Resolver<http::request::Parts, ()>;
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
    /// Under a poem `Route::nest` poem strips the nest prefix first, so this
    /// reads the segment after it. For a middleware wrapping the whole app
    /// under a prefix, use [`path_segment_under`](Self::path_segment_under).
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
        F: Fn(&Req) -> Option<String> + Send + Sync + 'static,
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
    /// use http::StatusCode;
    ///
    /// type Resolver = sea_orm_tenant_http::Resolver<http::request::Parts, StatusCode>;
    ///
    /// let resolver = Resolver::custom("API key", |req: &http::request::Parts| {
    ///     let key = req.headers.get("x-api-key").cloned();
    ///     async move {
    ///         Ok(match key.as_ref().map(|k| k.as_bytes()) {
    ///             Some(b"secret-acme") => Some("acme".to_owned()),
    ///             Some(_) => return Err(StatusCode::UNAUTHORIZED),
    ///             None => None,
    ///         })
    ///     }
    /// });
    /// # let _ = resolver;
    /// ```
    pub fn custom<F, Fut>(description: impl Into<String>, f: F) -> Self
    where
        F: Fn(&Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<String>, E>> + Send + 'static,
    {
        let f: Arc<AsyncFn<Req, E>> =
            Arc::new(move |req: &Req| -> BoxFuture<'static, _> { Box::pin(f(req)) });
        Self::one(Source::Async(Arc::from(description.into()), f))
    }

    /// This chain followed by `next`'s sources.
    pub fn or(mut self, next: Resolver<Req, E>) -> Self {
        self.sources.extend(next.sources);
        self.has_async |= next.has_async;
        self
    }

    /// Whether a source is a [`custom`](Self::custom) asynchronous one.
    pub fn has_async(&self) -> bool {
        self.has_async
    }
}

impl<Req: RequestParts, E> Resolver<Req, E> {
    /// Finds the tenant name of `req` without waiting; `None` when the chain
    /// has an asynchronous source: call [`resolve`](Self::resolve) then.
    /// The name is not validated yet: the store does that when it is leased.
    pub fn resolve_now<'r>(
        &'r self,
        req: &'r Req,
        policy: ConflictPolicy,
    ) -> Option<Result<Option<Found<'r>>, Rejected<E>>> {
        if self.has_async {
            return None;
        }
        // One source (the usual resolver) has nothing to agree with.
        if let [only] = self.sources.as_slice() {
            return Some(only.source.resolve_now(req, &only.name));
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

    /// Finds the tenant name of `req`, awaiting asynchronous sources.
    pub async fn resolve<'r>(
        &'r self,
        req: &'r Req,
        policy: ConflictPolicy,
    ) -> Result<Option<Found<'r>>, Rejected<E>> {
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

impl<Req, E> fmt::Display for Resolver<Req, E> {
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

impl<Req, E> fmt::Debug for Resolver<Req, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Resolver").field(&self.to_string()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_describe_themselves() {
        let r = Resolver::<http::request::Parts, ()>::header(DEFAULT_HEADER)
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
