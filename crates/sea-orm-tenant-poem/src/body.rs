//! [`TenantBody`]: a response body polled inside its tenant, and [`FirstFrame`],
//! which reads a body's first frame while the request's scope is still entered.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use poem::{Body, IntoResponse, Response};
use sea_orm_tenant::TenantContext;
use sea_orm_tenant_http::{BodyStart, size_hint_with_first, start_body};

type BoxBody = http_body_util::combinators::BoxBody<Bytes, io::Error>;
type FrameResult = Result<Frame<Bytes>, io::Error>;
/// [`FirstFrame`]'s output: the response, and the rest of its body if it goes on.
/// The rest is boxed (only a body that goes on has one): the output of every
/// poll is then small enough to be moved without `memcpy`.
pub(crate) type Started = poem::Result<(Response, Option<Box<BodyRest>>)>;

/// A response body whose every `poll_frame` runs with its tenant current.
///
/// Byte streams and SSE are polled by the server after the handler has
/// returned, outside the middleware's task-local scope; without this wrapper a
/// query inside the stream fails with `NoTenant`. `size_hint` and
/// `is_end_stream` are passed through, so a body of known length keeps its
/// `Content-Length`. The middleware reads every response body's first frame in
/// the tenant's scope and wraps the bodies that go on after it; use
/// [`TenantBody::wrap`] for bodies built elsewhere.
///
/// The middleware's context holds the request's lease on the tenant's pool
/// (see [`TenantConnection::into_scope`](sea_orm_tenant::TenantConnection::into_scope)),
/// so the pool is not evicted while a long stream is still being sent.
pub struct TenantBody {
    context: TenantContext,
    /// A frame already read (by [`FirstFrame`]), returned before `inner` is polled again.
    first: Option<FrameResult>,
    inner: BoxBody,
}

impl TenantBody {
    /// Wraps `body` so it is polled inside `context`'s tenant.
    pub fn wrap(body: Body, context: TenantContext) -> Body {
        Self::resume(
            BodyRest {
                first: None,
                inner: body.into(),
            },
            context,
        )
    }

    /// The rest of a body [`FirstFrame`] started, polled inside `context`'s tenant.
    pub(crate) fn resume(rest: BodyRest, context: TenantContext) -> Body {
        Body::from(BoxBody::new(TenantBody {
            context,
            first: rest.first,
            inner: rest.inner,
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
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(first));
        }
        let inner = &mut this.inner;
        match this.context.enter(|| Pin::new(inner).poll_frame(cx)) {
            Ok(poll) => poll,
            Err(err) => Poll::Ready(Some(Err(io::Error::other(err)))),
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
    inner: BoxBody,
}

pin_project_lite::pin_project! {
    /// The inner endpoint's future, converted to a response whose body's first
    /// frame is read as soon as it is ready, in the same poll, so still inside
    /// the request's tenant scope. A body complete in one frame (every body built
    /// from bytes, a string or JSON) is then given back whole, and needs no
    /// [`TenantBody`] to be sent later; a body that goes on comes back as a
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

impl<F, T> Future for FirstFrame<F>
where
    F: Future<Output = poem::Result<T>>,
    T: IntoResponse,
{
    type Output = Started;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut resp = match ready!(self.project().inner.poll(cx)) {
            Ok(resp) => resp.into_response(),
            Err(err) => return Poll::Ready(Err(err)),
        };
        let mut inner = BoxBody::from(resp.take_body());
        match start_body(Pin::new(&mut inner), cx) {
            BodyStart::Ended => resp.set_body(Body::from(inner)),
            BodyStart::Empty => resp.set_body(Body::empty()),
            BodyStart::Whole(data) => resp.set_body(Body::from_bytes(data)),
            BodyStart::GoesOn(first) => {
                return Poll::Ready(Ok((resp, Some(Box::new(BodyRest { first, inner })))));
            }
        }
        Poll::Ready(Ok((resp, None)))
    }
}
