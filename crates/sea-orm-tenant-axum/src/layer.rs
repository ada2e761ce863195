//! [`TenantLayer`]: the `tower::Layer` choosing a request's tenant.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use sea_orm_tenant::TenantConnections;
use sea_orm_tenant_http::{DEFAULT_RETRY_AFTER, TenantRejection};
use tower_layer::Layer;

use crate::config::{Answer, Config};
use crate::resolver::{ConflictPolicy, Resolver};
use crate::service::TenantService;

/// Chooses the tenant once per request and runs the rest of the request in it.
///
/// For every request that is not [exempt](Self::exempt), the
/// [`TenantService`] it builds:
///
/// 1. resolves the tenant name with the [`Resolver`] (missing: 400; sources
///    disagree: 400);
/// 2. validates it (malformed: 400), looks it up (not registered: 404) and
///    leases its pool, opening it now, so an unreachable database is a 503
///    with `Retry-After` before the handler runs;
/// 3. puts the [`TenantDb`](sea_orm_tenant::TenantDb) in the request
///    extensions and calls the inner service inside the tenant's scope
///    (routing, extractors and handler see the tenant, in a tracing span
///    `tenant_request` with field `tenant`);
/// 4. wraps the response body in a [`TenantBody`](crate::TenantBody) that
///    re-enters the tenant on every poll and holds the request's lease until
///    the body is dropped, so a streamed body (SSE, chunked) still reaches the
///    tenant's database and its pool is not evicted while it is sent.
///
/// The rejection answers are those of the poem crate (same statuses, same
/// JSON bodies: [`TenantRejection`]); each rejection is also put in the
/// response's extensions. A path-segment resolver rewrites the URI before the
/// inner service runs; axum's `Router::layer` wraps each route *after*
/// routing, so with [`Resolver::path_segment`](sea_orm_tenant_http::Resolver::path_segment)
/// wrap the router itself (`TenantLayer::new(..).layer(router)`, served with
/// `axum::ServiceExt::into_make_service`) for the router to see the rewritten path.
#[derive(Clone)]
pub struct TenantLayer {
    config: Arc<Config>,
}

impl fmt::Debug for TenantLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantLayer")
            .field("resolver", &self.config.resolver)
            .field("conflict", &self.config.conflict)
            .field("exempt", &self.config.exempt)
            .field("retry_after", &self.config.answer.retry_after)
            .finish_non_exhaustive()
    }
}

impl TenantLayer {
    /// A layer choosing tenants of `store` with `resolver`
    /// (`Resolver::default()` reads the query parameter `tenant`).
    pub fn new(store: TenantConnections, resolver: Resolver) -> Self {
        Self {
            config: Arc::new(Config {
                store,
                resolver,
                conflict: ConflictPolicy::Reject,
                exempt: Default::default(),
                answer: Answer {
                    on_rejection: None,
                    retry_after: DEFAULT_RETRY_AFTER,
                },
            }),
        }
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Runs requests for exactly `path` (for example `/health`) with no tenant.
    /// A trailing slash is ignored (`/health/` is exempt too).
    pub fn exempt(mut self, path: impl AsRef<str>) -> Self {
        self.config().exempt.path(path.as_ref());
        self
    }

    /// Runs requests for `prefix` and every path under it (for example `/docs`:
    /// `/docs`, `/docs/`, `/docs/index.css`, but not `/docsx`) with no tenant.
    pub fn exempt_prefix(mut self, prefix: impl AsRef<str>) -> Self {
        self.config().exempt.prefix(prefix.as_ref());
        self
    }

    /// What to do when two sources disagree (default: reject with 400).
    pub fn conflict_policy(mut self, policy: ConflictPolicy) -> Self {
        self.config().conflict = policy;
        self
    }

    /// Replaces the default JSON rejection responses. A 503 the function
    /// returns without `Retry-After` gets one added.
    pub fn on_rejection<F>(mut self, f: F) -> Self
    where
        F: Fn(&TenantRejection) -> Response + Send + Sync + 'static,
    {
        self.config().answer.on_rejection = Some(Arc::new(f));
        self
    }

    /// The `Retry-After` of 503 answers (default 5 s; whole seconds, at least 1).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.config().answer.retry_after = retry_after;
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

impl<S> Layer<S> for TenantLayer {
    type Service = TenantService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TenantService::new(inner, Arc::clone(&self.config))
    }
}
