//! [`TenantMiddleware`] and its endpoint [`TenantEndpoint`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use sea_orm_tenant::{TenantConnections, TenantError};
use tracing::Instrument;

use crate::body::TenantBody;
use crate::error::{DEFAULT_RETRY_AFTER, TenantRejection, add_retry_after};
use crate::extract::CurrentTenant;
use crate::resolver::{ConflictPolicy, Rejected, Resolver};

type RejectionFn = dyn Fn(&TenantRejection) -> Response + Send + Sync + 'static;

#[derive(Clone)]
struct Config {
    store: TenantConnections,
    resolver: Resolver,
    conflict: ConflictPolicy,
    exempt_paths: Vec<String>,
    exempt_prefixes: Vec<String>,
    on_rejection: Option<Arc<RejectionFn>>,
    retry_after: Duration,
}

/// Chooses the tenant once per request and runs the rest of the request in it.
///
/// For every request that is not [exempt](Self::exempt):
///
/// 1. the [`Resolver`] finds the tenant name (missing: 400; sources disagree: 400);
/// 2. the name is validated as a [`TenantKey`](sea_orm_tenant::TenantKey) (malformed: 400) and looked up
///    (not registered: 404);
/// 3. the tenant's pool is opened now, so an unreachable database is a 503 with
///    `Retry-After` before the handler runs; the lease is held until the
///    response body is finished, so the pool is not evicted meanwhile;
/// 4. [`CurrentTenant`] and the `TenantDb` are put in the request data, and
///    the inner endpoint (routing, extractors, handler) runs inside the
///    tenant's scope (as `with_tenant` would, without a second lookup), in a tracing span `tenant_request` with field `tenant`;
/// 5. the response body is wrapped in a [`TenantBody`], so streams and SSE
///    polled later still see the tenant.
///
/// Rejections are returned as `poem::Error`s carrying the [`TenantRejection`]
/// as error data (outer middlewares read `err.data::<TenantRejection>()`); their
/// default body is JSON, replaceable
/// with [`on_rejection`](Self::on_rejection). No rejection is ever a 500 for a bad
/// tenant value, and nothing is created for a bad name.
///
/// A path-segment resolver rewrites the URI before the inner endpoint runs;
/// `Request::original_uri` keeps the path as sent.
#[derive(Clone)]
pub struct TenantMiddleware {
    config: Config,
}

impl fmt::Debug for TenantMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantMiddleware")
            .field("resolver", &self.config.resolver)
            .field("conflict", &self.config.conflict)
            .field("exempt_paths", &self.config.exempt_paths)
            .field("exempt_prefixes", &self.config.exempt_prefixes)
            .field("retry_after", &self.config.retry_after)
            .finish_non_exhaustive()
    }
}

impl TenantMiddleware {
    /// A middleware choosing tenants of `store` with `resolver`
    /// (`Resolver::default()` reads the query parameter `tenant`).
    pub fn new(store: TenantConnections, resolver: Resolver) -> Self {
        Self {
            config: Config {
                store,
                resolver,
                conflict: ConflictPolicy::Reject,
                exempt_paths: Vec::new(),
                exempt_prefixes: Vec::new(),
                on_rejection: None,
                retry_after: DEFAULT_RETRY_AFTER,
            },
        }
    }

    /// Runs requests for exactly `path` (for example `/health`) with no tenant.
    /// A trailing slash is ignored (`/health/` is exempt too).
    pub fn exempt(mut self, path: impl AsRef<str>) -> Self {
        self.config.exempt_paths.push(normalize(path.as_ref()));
        self
    }

    /// Runs requests for `prefix` and every path under it (for example `/docs`:
    /// `/docs`, `/docs/`, `/docs/index.css`, but not `/docsx`) with no tenant.
    pub fn exempt_prefix(mut self, prefix: impl AsRef<str>) -> Self {
        self.config.exempt_prefixes.push(normalize(prefix.as_ref()));
        self
    }

    /// What to do when two sources disagree (default: reject with 400).
    pub fn conflict_policy(mut self, policy: ConflictPolicy) -> Self {
        self.config.conflict = policy;
        self
    }

    /// Replaces the default JSON rejection responses. A 503 the function returns
    /// without `Retry-After` gets one added.
    ///
    /// ```
    /// use poem::{IntoResponse, http::StatusCode};
    /// use sea_orm_tenant::TenantConnections;
    /// use sea_orm_tenant_poem::{Resolver, TenantMiddleware};
    ///
    /// # let store = TenantConnections::from_urls([("acme", "sqlite::memory:")]).unwrap();
    /// let middleware = TenantMiddleware::new(store, Resolver::default()).on_rejection(|rejection| {
    ///     (rejection.status(), format!("sorry: {rejection}")).into_response()
    /// });
    /// ```
    pub fn on_rejection<F>(mut self, f: F) -> Self
    where
        F: Fn(&TenantRejection) -> Response + Send + Sync + 'static,
    {
        self.config.on_rejection = Some(Arc::new(f));
        self
    }

    /// The `Retry-After` of 503 answers (default 5 s; whole seconds, at least 1).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.config.retry_after = retry_after;
        self
    }

    /// The store the tenants come from.
    pub fn store(&self) -> &TenantConnections {
        &self.config.store
    }

    /// The resolver.
    pub fn resolver(&self) -> &Resolver {
        &self.config.resolver
    }
}

impl<E: Endpoint> Middleware<E> for TenantMiddleware {
    type Output = TenantEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        TenantEndpoint {
            inner: ep,
            config: Arc::new(self.config.clone()),
        }
    }
}

/// The endpoint built by [`TenantMiddleware`].
pub struct TenantEndpoint<E> {
    inner: E,
    config: Arc<Config>,
}

impl<E> fmt::Debug for TenantEndpoint<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantEndpoint")
            .field("resolver", &self.config.resolver)
            .finish_non_exhaustive()
    }
}

impl<E: Endpoint> Endpoint for TenantEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if self.config.is_exempt(req.uri().path()) {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        }
        let span = tracing::info_span!("tenant_request", tenant = tracing::field::Empty);
        // With no subscriber listening, skip the per-poll enter/exit (which
        // tracing's `log` feature, enabled by SeaORM, makes cost something).
        if span.is_disabled() {
            return self.call_in_tenant(req, span).await;
        }
        self.call_in_tenant(req, span.clone())
            .instrument(span)
            .await
    }
}

impl<E: Endpoint> TenantEndpoint<E> {
    async fn call_in_tenant(
        &self,
        mut req: Request,
        span: tracing::Span,
    ) -> poem::Result<Response> {
        let config = &*self.config;
        let found = match config.resolver.resolve(&req, config.conflict).await {
            Ok(Some(found)) => found,
            Ok(None) => {
                return Err(config.reject(TenantRejection::Missing {
                    expected: config.resolver.to_string(),
                }));
            }
            Err(Rejected::Tenant(rejection)) => return Err(config.reject(rejection)),
            Err(Rejected::Custom(err)) => return Err(err),
        };
        // The lease validates the name, checks it is registered and opens the
        // pool now: an unavailable database answers 503 before the handler runs.
        let lease = match config.store.connection(&found.name).await {
            Ok(lease) => lease,
            Err(TenantError::InvalidKey(reason)) => {
                return Err(config.reject(TenantRejection::malformed(&found.from, reason)));
            }
            Err(err) => return Err(config.reject_store(err)),
        };
        let key = lease.tenant().clone();
        span.record("tenant", key.as_str());
        if let Some(uri) = found.rewrite {
            *req.uri_mut() = uri;
        }
        let db = config.store.db();
        req.extensions_mut()
            .insert(CurrentTenant::new(key, db.clone()));
        req.extensions_mut().insert(db);
        // The lease gives the scope directly (no second lookup), and serves
        // every routed query of the request (no lease per query).
        let context = lease.into_context();
        // Like `with_tenant`, the scope refuses a switch: another tenant already
        // current here (a nested middleware) is rejected before the handler runs.
        let resp = match context.scope(self.inner.call(req)).await {
            Ok(resp) => resp?.into_response(),
            Err(TenantError::Switch { current, requested }) => {
                return Err(config.reject(TenantRejection::Switch { current, requested }));
            }
            Err(err) => return Err(config.reject(TenantRejection::from(err))),
        };
        let (parts, body) = resp.into_parts();
        Ok(Response::from_parts(parts, TenantBody::wrap(body, context)))
    }
}

impl Config {
    fn is_exempt(&self, path: &str) -> bool {
        if self.exempt_paths.is_empty() && self.exempt_prefixes.is_empty() {
            return false;
        }
        let path = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        self.exempt_paths.iter().any(|p| p == path)
            || self.exempt_prefixes.iter().any(|prefix| {
                prefix == "/"
                    || path
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
    }

    fn reject_store(&self, err: TenantError) -> poem::Error {
        if matches!(
            err,
            TenantError::Unavailable { .. }
                | TenantError::PoolLimit { .. }
                | TenantError::Busy { .. }
        ) {
            tracing::warn!(error = %err, "tenant database unavailable");
        }
        self.reject(TenantRejection::from(err))
    }

    fn reject(&self, rejection: TenantRejection) -> poem::Error {
        tracing::debug!(status = %rejection.status(), error = %rejection, "tenant rejection");
        let mut resp = match &self.on_rejection {
            Some(f) => f(&rejection),
            None => rejection.to_response(self.retry_after),
        };
        add_retry_after(&mut resp, self.retry_after);
        let mut err = poem::Error::from_response(resp);
        err.set_data(rejection);
        err
    }
}

/// `/health/` and `health` become `/health`; `/` stays `/`.
fn normalize(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    format!("/{trimmed}")
}
