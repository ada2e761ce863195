//! The futures of [`TenantEndpoint`](crate::TenantEndpoint)'s calls: hand-written
//! so that the common case (name resolved and pool open without waiting) is the
//! inner endpoint's future in the tenant's scope plus a few words.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use poem::{IntoResponse, Response};
use sea_orm_tenant::{ScopeFuture, TenantError};

use crate::body::{FirstFrame, TenantBody};
use crate::config::Config;
use crate::error::TenantRejection;

pub(crate) fn into_response<T: IntoResponse>(result: poem::Result<T>) -> poem::Result<Response> {
    result.map(IntoResponse::into_response)
}

pin_project_lite::pin_project! {
    /// [`TenantEndpoint`]'s future.
    #[project = TenantCallProj]
    pub(crate) enum TenantCall<'a, X, F> {
        Exempt { inner: Pin<Box<X>> },
        Scoped { #[pin] inner: ScopedCall<'a, F> },
        Rejected { #[pin] inner: std::future::Ready<poem::Result<Response>> },
        Wait { inner: Pin<Box<dyn Future<Output = poem::Result<Response>> + Send + 'a>> },
    }
}

impl<X, F, T> Future for TenantCall<'_, X, F>
where
    X: Future<Output = poem::Result<Response>>,
    F: Future<Output = poem::Result<T>>,
    T: IntoResponse,
{
    type Output = poem::Result<Response>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            TenantCallProj::Exempt { inner } => inner.as_mut().poll(cx),
            TenantCallProj::Scoped { inner } => inner.poll(cx),
            TenantCallProj::Rejected { inner } => inner.poll(cx),
            TenantCallProj::Wait { inner } => inner.as_mut().poll(cx),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner endpoint's call in the tenant's scope (and span); a response
    /// body that goes on after its first frame is wrapped to be polled in the
    /// tenant too.
    pub(crate) struct ScopedCall<'a, F> {
        // Holds the tenant's context (and the request's lease) until the
        // call ends, then gives it to the body.
        #[pin]
        pub(crate) scoped: ScopeFuture<FirstFrame<F>>,
        pub(crate) config: &'a Config,
        pub(crate) span: tracing::Span,
    }
}

impl<F, T> Future for ScopedCall<'_, F>
where
    F: Future<Output = poem::Result<T>>,
    T: IntoResponse,
{
    type Output = poem::Result<Response>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut scoped = this.scoped;
        let result = {
            let _entered = (!this.span.is_disabled()).then(|| this.span.enter());
            ready!(scoped.as_mut().poll(cx))
        };
        Poll::Ready(match result {
            Ok(Ok((resp, None))) => Ok(resp),
            // Only a body that goes on takes the context (and the lease) along.
            Ok(Ok((mut resp, Some(rest)))) => match scoped.take_context() {
                Some(context) => {
                    resp.set_body(TenantBody::resume(*rest, context));
                    Ok(resp)
                }
                None => unreachable!("a scope's context is taken once, when its call ends"),
            },
            Ok(Err(err)) => Err(err),
            Err(TenantError::Switch { current, requested }) => Err(this
                .config
                .reject(TenantRejection::Switch { current, requested })),
            Err(err) => Err(this.config.reject(TenantRejection::from(err))),
        })
    }
}
