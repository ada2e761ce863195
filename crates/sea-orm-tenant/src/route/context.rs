//! Carrying the current tenant across task boundaries.
//!
//! A task-local lives in one task: `tokio::spawn`, `spawn_blocking`, a
//! WebSocket upgrade or a response body polled after the handler returned all run
//! without it, and their queries fail with [`TenantError::NoTenant`](crate::TenantError::NoTenant)
//! rather than silently reaching some other database. These helpers capture the
//! tenant where it is known and re-enter it where the work runs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::sync::Arc;

use futures_util::Stream;
use tokio::task::JoinHandle;

use crate::error::TenantError;
use crate::key::TenantKey;
use crate::route::current::{self, Current, CurrentScope, Entered};
use crate::store::TenantConnection;

/// The current tenant, captured so that other tasks or later polls can re-enter it.
#[derive(Clone)]
pub struct TenantContext(Current);

impl std::fmt::Debug for TenantContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TenantContext")
            .field(&self.0.tenant().key)
            .finish()
    }
}

impl TenantContext {
    pub(crate) fn from_current(current: Current) -> Self {
        Self(current)
    }

    /// Captures the tenant current in this task; `None` when there is none.
    pub fn current() -> Option<Self> {
        current::with_current_shared(|cur| cur.cloned().map(Self))
    }

    /// The captured tenant.
    pub fn tenant(&self) -> &TenantKey {
        &self.0.tenant().key
    }

    /// Runs `fut` with the captured tenant current.
    ///
    /// Like [`with_tenant`](crate::TenantConnections::with_tenant), it refuses
    /// to switch: if another tenant is current where the returned future is
    /// polled, it resolves to [`TenantError::Switch`] without running `fut`.
    pub fn scope<F: Future>(&self, fut: F) -> ScopeFuture<F> {
        self.clone().into_scope(fut)
    }

    /// Like [`scope`](Self::scope), consuming the context (no clone);
    /// [`ScopeFuture::take_context`] gives it back.
    pub fn into_scope<F: Future>(self, fut: F) -> ScopeFuture<F> {
        ScopeFuture {
            checked: false,
            inner: current::scope(self.0, fut),
        }
    }

    /// Like [`into_scope`](Self::into_scope), with the future made by `make`
    /// inside the tenant too (a tower service doing work in `call`, not only
    /// in its future, sees it), and no clone of the context; or
    /// [`TenantError::Switch`] without calling `make` if another tenant is
    /// current.
    pub fn into_scope_with<F: Future>(
        self,
        make: impl FnOnce() -> F,
    ) -> Result<ScopeFuture<F>, TenantError> {
        scope_with(self.0.into(), make)
    }

    /// Runs `f` synchronously with the captured tenant current, or returns
    /// [`TenantError::Switch`] without running it if another tenant is current.
    pub fn enter<R>(&self, f: impl FnOnce() -> R) -> Result<R, TenantError> {
        current::enter_checked(&mut Some(self.0.clone().into()), true, f)
    }

    /// Wraps a future or a `Stream` so that every poll runs with the captured tenant
    /// current, wherever and whenever it is polled (response bodies, SSE).
    ///
    /// A poll where another tenant is current does not poll the inner value: the
    /// future resolves to [`TenantError::Switch`], the stream yields it once and ends.
    pub fn wrap<T>(&self, inner: T) -> Scoped<T> {
        Scoped {
            context: self.clone(),
            inner,
            failed: false,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`TenantContext::scope`]: the switch check on the first
    /// poll, then `F` polled with the tenant current. A plain future rather
    /// than an `async` block, which would store the inner future twice
    /// (captured, then awaited) and move both; it holds the context itself, so
    /// polls clone nothing.
    pub struct ScopeFuture<F> {
        checked: bool,
        #[pin]
        inner: CurrentScope<F>,
    }
}

/// A scope entering `entered`, with its future made inside it; refused
/// without calling `make` if another tenant is current.
fn scope_with<F: Future>(
    entered: Entered,
    make: impl FnOnce() -> F,
) -> Result<ScopeFuture<F>, TenantError> {
    current::check_switch(&entered.tenant().key)?;
    let mut slot = Some(entered);
    let fut = current::enter(&mut slot, make);
    let entered = slot.expect("entering puts the tenant back");
    Ok(ScopeFuture {
        checked: false,
        inner: current::scope(entered, fut),
    })
}

impl<F> ScopeFuture<F> {
    /// The context, taken out: for what runs after `F` has finished (a
    /// response body), once the future has given its output. `None` if
    /// already taken; polling after taking it panics. A scope entered with a
    /// lease ([`TenantConnection::into_scope`]) that is never taken drops
    /// the lease with the future.
    pub fn take_context(self: Pin<&mut Self>) -> Option<TenantContext> {
        self.project().inner.take_current().map(TenantContext)
    }
}

impl<F> std::fmt::Debug for ScopeFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopeFuture").finish_non_exhaustive()
    }
}

impl<F: Future> Future for ScopeFuture<F> {
    type Output = Result<F::Output, TenantError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The switch check on the first poll only, made as the tenant is
        // swapped in (no second thread-local access).
        let check = !std::mem::replace(this.checked, true);
        this.inner.poll_checked(cx, check)
    }
}

pin_project_lite::pin_project! {
    /// A future or stream that re-enters its tenant on every poll; see [`TenantContext::wrap`].
    #[derive(Debug)]
    pub struct Scoped<T> {
        context: TenantContext,
        #[pin]
        inner: T,
        failed: bool,
    }
}

impl<T> Scoped<T> {
    /// The tenant this value runs under.
    pub fn tenant(&self) -> &TenantKey {
        self.context.tenant()
    }

    /// The wrapped value.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: Future> Future for Scoped<T> {
    type Output = Result<T::Output, TenantError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        match this.context.enter(|| inner.poll(cx)) {
            Ok(poll) => poll.map(Ok),
            Err(err) => Poll::Ready(Err(err)),
        }
    }
}

impl<T: Stream> Stream for Scoped<T> {
    type Item = Result<T::Item, TenantError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        if *this.failed {
            return Poll::Ready(None);
        }
        let inner = this.inner;
        match this.context.enter(|| inner.poll_next(cx)) {
            Ok(poll) => poll.map(|item| item.map(Ok)),
            Err(err) => {
                *this.failed = true;
                Poll::Ready(Some(Err(err)))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

/// `tokio::spawn` that carries the current tenant into the new task.
///
/// Without a current tenant it behaves like `tokio::spawn`, and the task's
/// queries fail with `NoTenant`.
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match TenantContext::current() {
        // A new task has no tenant current, so entering cannot be refused.
        Some(cx) => tokio::spawn(current::scope(cx.0, fut)),
        None => tokio::spawn(fut),
    }
}

/// `tokio::task::spawn_blocking` that carries the current tenant into the closure,
/// so [`current_tenant`](crate::route::current_tenant) and `Handle::block_on` of routed
/// queries see it.
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    match TenantContext::current() {
        Some(cx) => tokio::task::spawn_blocking(move || current::sync_scope(cx.0, f)),
        None => tokio::task::spawn_blocking(f),
    }
}

impl TenantConnection {
    /// This connection's tenant as a [`TenantContext`](crate::TenantContext),
    /// to run work inside it with no second lookup.
    pub fn context(&self) -> crate::TenantContext {
        crate::TenantContext::from_current(Current::of(Arc::clone(&self.tenant)))
    }

    /// Like [`context`](Self::context), and the context keeps this lease:
    /// routed calls inside it use this pool without taking a lease each, and
    /// the pool stays open while any clone of the context lives (request
    /// middlewares: the request's lease serves all its queries).
    pub fn into_context(self) -> crate::TenantContext {
        crate::TenantContext::from_current(Current::Lease(Arc::new(self)))
    }

    /// Runs `fut` inside this connection's tenant, the lease serving every
    /// routed call in it, as [`into_context`](Self::into_context) and
    /// [`TenantContext::into_scope`] would; the lease is shared (put in an
    /// `Arc`) only when a routed call or a capture needs it, so a request
    /// middleware pays no allocation for a request that makes no query.
    /// [`ScopeFuture::take_context`] gives the context back after `fut`.
    pub fn into_scope<F: Future>(self, fut: F) -> ScopeFuture<F> {
        ScopeFuture {
            checked: false,
            inner: current::scope(Entered::Owned(self), fut),
        }
    }

    /// Like [`into_scope`](Self::into_scope), with the future made by `make`
    /// inside the tenant too, as [`TenantContext::into_scope_with`]; or
    /// [`TenantError::Switch`] without calling `make` if another tenant is current.
    pub fn into_scope_with<F: Future>(
        self,
        make: impl FnOnce() -> F,
    ) -> Result<ScopeFuture<F>, TenantError> {
        scope_with(Entered::Owned(self), make)
    }
}
