//! [`TenantBody`]: a response body polled inside its tenant, holding the
//! request's lease until it is dropped.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use sea_orm_tenant::{TenantContext, TenantKey};

pin_project_lite::pin_project! {
    /// A response body whose every `poll_frame` runs with its tenant current.
    ///
    /// Streams and SSE are polled by the server after the handler has returned,
    /// outside the layer's task-local scope; without this wrapper a query inside
    /// the stream fails with `NoTenant`. The layer wraps every response body in
    /// one. `size_hint` and `is_end_stream` are passed through, so `Content-Length`
    /// is kept. The context holds the request's lease on the tenant's pool (see
    /// [`TenantConnection::into_context`](sea_orm_tenant::TenantConnection::into_context)),
    /// so the pool is neither evicted nor closed by a removal while the body is
    /// still being sent.
    pub struct TenantBody<B> {
        context: TenantContext,
        #[pin]
        inner: B,
    }
}

impl<B> TenantBody<B> {
    /// Wraps `body` so it is polled inside `context`'s tenant.
    pub fn new(body: B, context: TenantContext) -> Self {
        Self {
            context,
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
        let inner = this.inner;
        match this.context.enter(|| inner.poll_frame(cx)) {
            Ok(poll) => poll.map(|frame| frame.map(|frame| frame.map_err(Into::into))),
            Err(err) => Poll::Ready(Some(Err(Box::new(err)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
