//! [`TenantBody`]: a response body polled inside its tenant, holding the
//! request's lease until it is dropped; and [`FirstFrame`], which reads a
//! body's first frame while the request's scope is still entered.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use sea_orm_tenant::{TenantContext, TenantKey};
use sea_orm_tenant_http::{BodyStart, size_hint_with_first, start_body};

type FrameResult = Result<Frame<Bytes>, axum::BoxError>;

pin_project_lite::pin_project! {
    /// A response body whose every `poll_frame` runs with its tenant current.
    ///
    /// Streams and SSE are polled by the server after the handler has returned,
    /// outside the layer's task-local scope; without this wrapper a query inside
    /// the stream fails with `NoTenant`. The layer reads every response body's
    /// first frame in the tenant's scope and wraps the bodies that go on after
    /// it; use [`TenantBody::new`] for bodies built elsewhere. `size_hint` and `is_end_stream` are passed through, so `Content-Length`
    /// is kept. The context holds the request's lease on the tenant's pool (see
    /// [`TenantConnection::into_scope`](sea_orm_tenant::TenantConnection::into_scope)),
    /// so the pool is neither evicted nor closed by a removal while the body is
    /// still being sent.
    pub struct TenantBody<B> {
        context: TenantContext,
        // A frame already read (by `FirstFrame`), returned before `inner` is polled again.
        first: Option<FrameResult>,
        #[pin]
        inner: B,
    }
}

impl<B> TenantBody<B> {
    /// Wraps `body` so it is polled inside `context`'s tenant.
    pub fn new(body: B, context: TenantContext) -> Self {
        Self {
            context,
            first: None,
            inner: body,
        }
    }

    /// The tenant this body runs under.
    pub fn tenant(&self) -> &TenantKey {
        self.context.tenant()
    }
}

impl<B> std::fmt::Debug for TenantBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantBody")
            .field("tenant", self.context.tenant())
            .finish()
    }
}

impl<B> HttpBody for TenantBody<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = self.project();
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(first));
        }
        let inner = this.inner;
        match this.context.enter(|| inner.poll_frame(cx)) {
            Ok(poll) => poll.map(|frame| frame.map(|frame| frame.map_err(Into::into))),
            Err(err) => Poll::Ready(Some(Err(Box::new(err)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        size_hint_with_first(self.first.as_ref(), self.inner.size_hint())
    }
}

/// A response body that goes on after its first frame: what [`FirstFrame`]
/// read of it, and the rest.
pub(crate) struct BodyRest {
    first: Option<FrameResult>,
    inner: Body,
}

impl BodyRest {
    /// The rest polled inside `context`'s tenant.
    pub(crate) fn resume(self, context: TenantContext) -> Body {
        Body::new(TenantBody {
            context,
            first: self.first,
            inner: self.inner,
        })
    }
}

pin_project_lite::pin_project! {
    /// The inner service's future, its response's body's first frame read as
    /// soon as it is ready, in the same poll, so still inside the request's
    /// tenant scope. A body complete in one frame is then given back whole
    /// and needs no [`TenantBody`]; one that goes on comes back as a
    /// [`BodyRest`] to be wrapped.
    pub(crate) struct FirstFrame<F> {
        #[pin]
        inner: F,
    }
}

impl<F> FirstFrame<F> {
    pub(crate) fn new(inner: F) -> Self {
        Self { inner }
    }
}

impl<F, E, B> Future for FirstFrame<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    // The rest boxed (only a body that goes on has one): the output of
    // every poll is then small enough to be moved without `memcpy`.
    type Output = Result<(Response, Option<Box<BodyRest>>), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (parts, body) = ready!(self.project().inner.poll(cx))?.into_parts();
        let mut body = Body::new(body);
        let body = match start_body(Pin::new(&mut body), cx) {
            BodyStart::Ended => body,
            BodyStart::Empty => Body::empty(),
            BodyStart::Whole(data) => Body::from(data),
            BodyStart::GoesOn(first) => {
                let rest = Box::new(BodyRest {
                    first: first.map(|frame| frame.map_err(Into::into)),
                    inner: body,
                });
                return Poll::Ready(Ok((Response::from_parts(parts, Body::empty()), Some(rest))));
            }
        };
        Poll::Ready(Ok((Response::from_parts(parts, body), None)))
    }
}
