//! [`TenantService`]: the service a [`TenantLayer`](crate::TenantLayer) wraps
//! around the inner one.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::Request;
use sea_orm_tenant_http::TenantRejection;
use tower_service::Service;
use tracing::Instrument;

use crate::body::TenantBody;
use crate::config::Config;

/// The service built by [`TenantLayer`](crate::TenantLayer): chooses the
/// request's tenant and runs the inner service, and the response body, in it.
pub struct TenantService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> TenantService<S> {
    pub(crate) fn new(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }
}

impl<S: Clone> Clone for TenantService<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S> fmt::Debug for TenantService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantService")
            .field("resolver", &self.config.resolver)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TenantService<S>
where
    S: Service<Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The clone that was driven to readiness serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = Arc::clone(&self.config);
        if config.exempt.contains(req.uri().path()) {
            return Box::pin(async move { Ok(inner.call(req).await?.map(Body::new)) });
        }
        let span = tracing::info_span!("tenant_request", tenant = tracing::field::Empty);
        let call = async move {
            let (mut parts, body) = req.into_parts();
            let lease = match config.lease(&mut parts).await {
                Ok(lease) => lease,
                Err(resp) => return Ok(resp),
            };
            tracing::Span::current().record("tenant", lease.tenant().as_str());
            // One entry: the routing handle (`CurrentTenant` reads the task-local).
            parts.extensions.insert(config.store.db());
            // The context keeps the lease: it serves every routed query of the
            // request and keeps the pool open until the body is dropped.
            let context = lease.into_context();
            let req = Request::from_parts(parts, body);
            // `inner.call` runs inside the scope too: a service doing work in
            // `call` (not only in its future) sees the tenant.
            match context.scope(async move { inner.call(req).await }).await {
                Ok(Ok(resp)) => Ok(resp.map(|body| Body::new(TenantBody::new(body, context)))),
                Ok(Err(err)) => Err(err),
                // Another tenant current here already (a nested layer): refused.
                Err(switch) => Ok(config.reject(TenantRejection::from(switch))),
            }
        };
        Box::pin(call.instrument(span))
    }
}
