//! [`TenantMiddleware`] and its endpoint [`TenantEndpoint`].

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use poem::http::Uri;
use poem::{Endpoint, Middleware, Request, Response};
use sea_orm_tenant::{TenantConnection, TenantConnections};
use tracing::Instrument;

use crate::body::FirstFrame;
use crate::call::{ScopedCall, TenantCall, into_response};
use crate::config::Config;
use crate::error::{DEFAULT_RETRY_AFTER, TenantRejection};
use crate::request_tenant::{RequestTenant, RequestTenantSlot};
use crate::resolver::{ConflictPolicy, Found, Resolver};

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
/// 4. [`CurrentTenant`](crate::CurrentTenant) and the `TenantDb` are put in the request data, and
///    the inner endpoint (routing, extractors, handler) runs inside the
///    tenant's scope (as `with_tenant` would, without a second lookup), in a tracing span `tenant_request` with field `tenant`;
/// 5. the response body's first frame is read in the tenant's scope; a body
///    that goes on after it (streams, SSE) is wrapped in a [`TenantBody`](crate::TenantBody), so
///    its later polls still see the tenant.
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
            .field("exempt_paths", &self.config.exempt.paths())
            .field("exempt_prefixes", &self.config.exempt.prefixes())
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
                exempt: Default::default(),
                on_rejection: None,
                retry_after: DEFAULT_RETRY_AFTER,
            },
        }
    }

    /// Runs requests for exactly `path` (for example `/health`) with no tenant.
    /// A trailing slash is ignored (`/health/` is exempt too).
    pub fn exempt(mut self, path: impl AsRef<str>) -> Self {
        self.config.exempt.path(path.as_ref());
        self
    }

    /// Runs requests for `prefix` and every path under it (for example `/docs`:
    /// `/docs`, `/docs/`, `/docs/index.css`, but not `/docsx`) with no tenant.
    pub fn exempt_prefix(mut self, prefix: impl AsRef<str>) -> Self {
        self.config.exempt.prefix(prefix.as_ref());
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

    // Not an `async fn`: when the name resolves and the pool is open (the
    // common case), resolving and leasing are done right here, and the future
    // is the inner endpoint's in its scope plus a few words. An `async fn`
    // would hold the request and the lookups' states beside the inner future,
    // doubling what every layer above moves on each call.
    fn call(&self, req: Request) -> impl Future<Output = poem::Result<Response>> + Send {
        let config = &*self.config;
        if config.is_exempt(req.uri().path()) {
            return TenantCall::Exempt {
                inner: Box::pin(self.inner.call(req).map(into_response::<E::Output>)),
            };
        }
        let span = sea_orm_tenant_http::request_span();
        let now = {
            // With no subscriber listening, skip entering the span (which
            // tracing's `log` feature, enabled by SeaORM, makes cost something).
            let _entered = (!span.is_disabled()).then(|| span.enter());
            self.prepare_now(&req)
        };
        let slot = req.extensions().get::<RequestTenantSlot>().cloned();
        if let Some(slot) = &slot {
            match &now {
                Prepared::Ready(_, lease) => slot.fill(RequestTenant::Name(lease.tenant().clone())),
                Prepared::Rejected(err) => slot.fill(of_error(err)),
                Prepared::Wait(_) => {}
            }
        }
        match now {
            Prepared::Ready(rewrite, lease) => TenantCall::Scoped {
                inner: self.enter(req, rewrite, lease, span),
            },
            Prepared::Rejected(err) => TenantCall::Rejected {
                inner: std::future::ready(Err(err)),
            },
            Prepared::Wait(found) if span.is_disabled() => TenantCall::Wait {
                inner: Box::pin(self.call_after_wait(req, found, span, slot)),
            },
            Prepared::Wait(found) => TenantCall::Wait {
                inner: Box::pin(
                    self.call_after_wait(req, found, span.clone(), slot)
                        .instrument(span),
                ),
            },
        }
    }
}

/// What [`TenantEndpoint::prepare_now`] could do without waiting.
enum Prepared {
    /// The URI rewrite, if any, and the tenant's lease: the request can run.
    Ready(Option<Box<Uri>>, TenantConnection),
    /// The request is answered with this error.
    Rejected(poem::Error),
    /// An asynchronous resolver must run, or the pool be opened; the name,
    /// if already resolved.
    Wait(Option<Found<'static>>),
}

impl<E: Endpoint> TenantEndpoint<E> {
    /// Resolves the name and leases the tenant's open pool, if that needs no waiting.
    fn prepare_now(&self, req: &Request) -> Prepared {
        let config = &*self.config;
        let found = match config.resolver.resolve_now(req, config.conflict) {
            None => return Prepared::Wait(None),
            Some(Ok(Some(found))) => found,
            Some(Ok(None)) => return Prepared::Rejected(config.missing()),
            Some(Err(rejected)) => return Prepared::Rejected(config.rejected(rejected)),
        };
        match config.store.connection_now(&found.name) {
            None => Prepared::Wait(Some(found.into_owned())),
            Some(Ok(lease)) => match lease.check_in_service() {
                Ok(()) => Prepared::Ready(found.rewrite, lease),
                Err(err) => Prepared::Rejected(config.lease_error(&found, err)),
            },
            Some(Err(err)) => Prepared::Rejected(config.lease_error(&found, err)),
        }
    }

    /// The rest of a request whose resolver or pool opening must be awaited.
    async fn call_after_wait(
        &self,
        req: Request,
        found: Option<Found<'static>>,
        span: tracing::Span,
        slot: Option<RequestTenantSlot>,
    ) -> poem::Result<Response> {
        let leased = self.lease_after_wait(&req, found).await;
        if let Some(slot) = &slot {
            slot.fill(match &leased {
                Ok((_, lease)) => RequestTenant::Name(lease.tenant().clone()),
                Err(err) => of_error(err),
            });
        }
        let (rewrite, lease) = leased?;
        // The span gets the tenant field; entering it again inside the
        // instrumented future is harmless.
        self.enter(req, rewrite, lease, span).await
    }

    /// Resolves (with an asynchronous resolver) and leases, opening the pool.
    async fn lease_after_wait(
        &self,
        req: &Request,
        found: Option<Found<'static>>,
    ) -> poem::Result<(Option<Box<Uri>>, TenantConnection)> {
        let config = &*self.config;
        Ok({
            let found = match found {
                Some(found) => found,
                None => match config.resolver.resolve(req, config.conflict).await {
                    Ok(Some(found)) => found,
                    Ok(None) => return Err(config.missing()),
                    Err(rejected) => return Err(config.rejected(rejected)),
                },
            };
            // The lease validates the name, checks it is registered and opens the
            // pool now: an unavailable database answers 503 before the handler runs.
            match config.store.connection(&found.name).await {
                Ok(lease) => match lease.check_in_service() {
                    Ok(()) => (found.rewrite, lease),
                    Err(err) => return Err(config.lease_error(&found, err)),
                },
                Err(err) => return Err(config.lease_error(&found, err)),
            }
        })
    }

    /// Puts the tenant in the request and starts the inner endpoint in its scope.
    // Inlined so the inner endpoint's future is built where the caller keeps
    // it, not built here and then moved (callgrind: 230 fewer instructions a request).
    #[inline(always)]
    fn enter(
        &self,
        mut req: Request,
        rewrite: Option<Box<Uri>>,
        lease: TenantConnection,
        span: tracing::Span,
    ) -> ScopedCall<'_, impl Future<Output = poem::Result<E::Output>> + Send + use<'_, E>> {
        let config = &*self.config;
        if !span.is_disabled() {
            span.record("tenant", lease.tenant().as_str());
        }
        if let Some(uri) = rewrite {
            *req.uri_mut() = *uri;
        }
        // One entry: `Data<&TenantDb>`; `CurrentTenant` reads the task-local.
        req.extensions_mut().insert(config.store.db());
        // The lease gives the scope directly (no second lookup), and serves
        // every routed query of the request (no lease per query).
        // Like `with_tenant`, the scope refuses a switch: another tenant already
        // current here (a nested middleware) is rejected before the handler runs.
        // The inner endpoint's future (2 KB for a small poem `Route`) is built
        // straight on the heap: each wrapper around it, and each layer above,
        // then moves a pointer, not the future (callgrind and perf: the moves
        // were a fifth of the middleware's time).
        let inner = Box::into_pin(Box::write(Box::new_uninit(), self.inner.call(req)));
        let scoped = lease.into_scope(FirstFrame::new(inner));
        ScopedCall {
            scoped,
            config,
            span,
        }
    }
}

/// What a refused request's error says about its tenant.
fn of_error(err: &poem::Error) -> RequestTenant {
    err.data::<TenantRejection>()
        .map_or(RequestTenant::None, RequestTenant::of_rejection)
}
