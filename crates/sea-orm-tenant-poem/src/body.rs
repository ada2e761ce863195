//! [`TenantBody`]: a response body polled inside its tenant.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use poem::Body;
use sea_orm_tenant::TenantContext;

type BoxBody = http_body_util::combinators::BoxBody<Bytes, io::Error>;

/// A response body whose every `poll_frame` runs with its tenant current.
///
/// Byte streams and SSE are polled by the server after the handler has
/// returned, outside the middleware's task-local scope; without this wrapper a
/// query inside the stream fails with `NoTenant`. `size_hint` and
/// `is_end_stream` are passed through, so a body of known length keeps its
/// `Content-Length`. The middleware wraps every response body; use
/// [`TenantBody::wrap`] for bodies built elsewhere.
///
/// The middleware's context holds the request's lease on the tenant's pool
/// (see [`TenantConnection::into_context`](sea_orm_tenant::TenantConnection::into_context)),
/// so the pool is not evicted while a long stream is still being sent.
pub struct TenantBody {
    context: TenantContext,
    inner: BoxBody,
}

impl TenantBody {
    /// Wraps `body` so it is polled inside `context`'s tenant.
    pub fn wrap(body: Body, context: TenantContext) -> Body {
        Body::from(BoxBody::new(TenantBody {
            context,
            inner: body.into(),
        }))
    }

    /// The tenant this body runs under.
    pub fn tenant(&self) -> &sea_orm_tenant::TenantKey {
        self.context.tenant()
    }
}

impl std::fmt::Debug for TenantBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantBody")
            .field("tenant", self.context.tenant())
            .finish()
    }
}

impl HttpBody for TenantBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let inner = &mut this.inner;
        match this.context.enter(|| Pin::new(inner).poll_frame(cx)) {
            Ok(poll) => poll,
            Err(err) => Poll::Ready(Some(Err(io::Error::other(err)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
