//! [`TenantService`]: the service a [`TenantLayer`](crate::TenantLayer) wraps
//! around the inner one.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::Request;
use sea_orm_tenant::{ScopeFuture, TenantConnection};
use sea_orm_tenant_http::TenantRejection;
use tower_service::Service;
use tracing::Instrument;

use crate::body::FirstFrame;
use crate::config::{Answer, Config, LeasedNow};

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
    type Future = TenantFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if self.config.exempt.contains(req.uri().path()) {
            return TenantFuture::new(State::Exempt {
                inner: self.inner.call(req),
            });
        }
        let span = sea_orm_tenant_http::request_span();
        let (mut parts, body) = req.into_parts();
        let now = {
            // With no subscriber listening, skip entering the span (which
            // tracing's `log` feature, enabled by SeaORM, makes cost something).
            let _entered = (!span.is_disabled()).then(|| span.enter());
            self.config.lease_now(&mut parts)
        };
        match now {
            // The common case, done here: the future is the inner service's
            // in the tenant's scope plus a few words.
            // `inner` is called right here: the service driven to readiness
            // serves the request, with no clone of it.
            LeasedNow::Ready(lease) => {
                let req = Request::from_parts(parts, body);
                TenantFuture::new(enter(&self.config, &mut self.inner, req, lease, span))
            }
            LeasedNow::Rejected(resp) => TenantFuture::new(State::Answered {
                response: Some(resp),
            }),
            LeasedNow::Wait(found) => {
                // The service driven to readiness goes with the future, which
                // calls it later; a clone takes its place here.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let config = Arc::clone(&self.config);
                let waiting = async move {
                    let lease = match config.lease(&mut parts, found).await {
                        Ok(lease) => lease,
                        Err(resp) => return Ok(resp),
                    };
                    let req = Request::from_parts(parts, body);
                    let span = tracing::Span::current();
                    TenantFuture::new(enter(&config, &mut inner, req, lease, span)).await
                };
                TenantFuture::new(State::Wait {
                    inner: Box::pin(waiting.instrument(span)),
                })
            }
        }
    }
}

/// Puts the routing handle in the request and calls the inner service in the
/// tenant's scope.
fn enter<S, ReqBody, ResBody>(
    config: &Config,
    inner: &mut S,
    mut req: Request<ReqBody>,
    lease: TenantConnection,
    span: tracing::Span,
) -> State<S::Future, S::Error>
where
    S: Service<Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    if !span.is_disabled() {
        span.record("tenant", lease.tenant().as_str());
    }
    // One entry: the routing handle (`CurrentTenant` reads the task-local).
    req.extensions_mut().insert(config.store.db());
    // The scope keeps the lease: it serves every routed query of the
    // request and keeps the pool open until the body is dropped.
    // `inner.call` runs inside the scope too: a service doing work in `call`
    // (not only in its future) sees the tenant. Polls swap the lease in
    // and out of the task-local: no clone per poll, and no allocation
    // unless a routed call shares it; it comes back out for a body that goes
    // on after the call.
    let scoped = {
        let _entered = (!span.is_disabled()).then(|| span.enter());
        lease.into_scope_with(|| FirstFrame::new(inner.call(req)))
    };
    match scoped {
        Ok(inner) => State::Scoped {
            inner,
            answer: config.answer.clone(),
            span,
        },
        // Another tenant current here already (a nested layer): refused.
        Err(switch) => State::Answered {
            response: Some(config.reject(TenantRejection::from(switch))),
        },
    }
}

pin_project_lite::pin_project! {
    /// The future of [`TenantService`]'s calls.
    ///
    /// When the name resolves and the pool is open without waiting (the
    /// common case), it is the inner service's future polled in the tenant's
    /// scope: no allocation, no second lookup.
    pub struct TenantFuture<F, E> {
        #[pin]
        state: State<F, E>,
    }
}

impl<F, E> TenantFuture<F, E> {
    fn new(state: State<F, E>) -> Self {
        Self { state }
    }
}

impl<F, E> fmt::Debug for TenantFuture<F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantFuture").finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, E> {
        Exempt { #[pin] inner: F },
        Scoped {
            // Holds the context (and the request's lease), taken by the
            // response body when the call ends.
            #[pin]
            inner: ScopeFuture<FirstFrame<F>>,
            // What a refusal at poll time is answered with: no reference to
            // the configuration (none counted per request, unless a custom
            // rejection function is set).
            answer: Answer,
            span: tracing::Span,
        },
        Answered { response: Option<Response> },
        Wait { inner: BoxFuture<'static, Result<Response, E>> },
    }
}

impl<F, E, ResBody> Future for TenantFuture<F, E>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Exempt { inner } => inner.poll(cx).map_ok(|resp| resp.map(Body::new)),
            StateProj::Scoped {
                mut inner,
                answer,
                span,
            } => {
                let _entered = (!span.is_disabled()).then(|| span.enter());
                match ready!(inner.as_mut().poll(cx)) {
                    Ok(Ok((resp, None))) => Poll::Ready(Ok(resp)),
                    // Only a body that goes on takes the context (and the lease) along.
                    Ok(Ok((resp, Some(rest)))) => match inner.take_context() {
                        Some(context) => Poll::Ready(Ok(resp.map(|_| (*rest).resume(context)))),
                        None => unreachable!("a scope's context is taken once, when its call ends"),
                    },
                    Ok(Err(err)) => Poll::Ready(Err(err)),
                    // Polled where another tenant is current: refused.
                    Err(switch) => Poll::Ready(Ok(answer.reject(TenantRejection::from(switch)))),
                }
            }
            StateProj::Answered { response } => Poll::Ready(Ok(response
                .take()
                .expect("TenantFuture polled after completion"))),
            StateProj::Wait { inner } => inner.as_mut().poll(cx),
        }
    }
}
