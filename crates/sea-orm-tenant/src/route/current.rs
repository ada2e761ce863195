//! The current tenant: a task-local set by `with_tenant` and the middlewares.
//!
//! Like `tokio::task_local!`, a thread-local swapped in for each poll of the
//! scope's future and out after it (even if the poll panics), so it follows
//! the task from thread to thread. Owning it lets a scope read the tenant it
//! will enter for the switch check, rather than keep a second reference.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::TenantError;
use crate::key::TenantKey;
use crate::store::{Tenant, TenantConnection};

/// A captured tenant: the resolved entry, so routing needs no lookup, or the
/// shared lease of a scope's owner (a request), whose entry it is, so routed
/// calls use it instead of taking a lease each. One `Arc` either way, so a
/// capture is cheap to clone.
#[derive(Clone)]
pub(crate) enum Current {
    Tenant(Arc<Tenant>),
    Lease(Arc<TenantConnection>),
}

impl Current {
    /// The entry alone, with no lease.
    pub(crate) fn of(tenant: Arc<Tenant>) -> Self {
        Self::Tenant(tenant)
    }

    /// The current tenant's entry.
    pub(crate) fn tenant(&self) -> &Arc<Tenant> {
        match self {
            Self::Tenant(tenant) => tenant,
            Self::Lease(lease) => &lease.tenant,
        }
    }

    /// The scope owner's lease, if it gave one.
    pub(crate) fn lease(&self) -> Option<&Arc<TenantConnection>> {
        match self {
            Self::Tenant(_) => None,
            Self::Lease(lease) => Some(lease),
        }
    }
}

/// What a scope enters, and the task-local holds: a [`Current`], or the lease
/// of the scope's owner not shared yet. The lease goes into an `Arc` the
/// first time a routed call or a capture needs a reference to it
/// ([`share`]), so a request that makes no routed call allocates none.
pub(crate) enum Entered {
    Shared(Current),
    Owned(TenantConnection),
}

impl Entered {
    /// The entered tenant's entry.
    pub(crate) fn tenant(&self) -> &Arc<Tenant> {
        match self {
            Self::Shared(current) => current.tenant(),
            Self::Owned(lease) => &lease.tenant,
        }
    }

    /// The shareable form; an owned lease is put in an `Arc`.
    pub(crate) fn into_shared(self) -> Current {
        match self {
            Self::Shared(current) => current,
            Self::Owned(lease) => Current::Lease(Arc::new(lease)),
        }
    }
}

impl From<Current> for Entered {
    fn from(current: Current) -> Self {
        Self::Shared(current)
    }
}

/// `slot`'s value in its shareable form, made so in place: later readers of
/// the same slot find the shared lease.
fn share(slot: &mut Option<Entered>) -> Option<&Current> {
    if matches!(slot, Some(Entered::Owned(_))) {
        *slot = slot
            .take()
            .map(|entered| Entered::Shared(entered.into_shared()));
    }
    match slot {
        Some(Entered::Shared(current)) => Some(current),
        _ => None,
    }
}

thread_local! {
    /// The tenant of the scope being polled on this thread, if any.
    static CURRENT: RefCell<Option<Entered>> = const { RefCell::new(None) };
}

/// The tenant current in this task, if any.
///
/// `None` outside `with_tenant` (or the middleware), and inside a plain
/// `tokio::spawn`ed task: use [`spawn`](crate::spawn) to carry the tenant along.
pub fn current_tenant() -> Option<TenantKey> {
    with_current(|cur| cur.map(|c| c.tenant().key.clone()))
}

/// Runs `f` with the current tenant, if any, without cloning it.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Entered>) -> R) -> R {
    let mut f = Some(f);
    // Unreadable (the thread is exiting, or a scope is swapping): no tenant,
    // so routed calls fail with `NoTenant` rather than guess.
    let read = CURRENT.try_with(|cell| match cell.try_borrow() {
        Ok(cur) => (f.take().expect("called once"))(cur.as_ref()),
        Err(_) => (f.take().expect("called once"))(None),
    });
    match read {
        Ok(r) => r,
        Err(_) => (f.take().expect("called once"))(None),
    }
}

/// Like [`with_current`], with the current tenant in its shareable form, for
/// a caller that keeps a reference to it (a routed call, a capture).
pub(crate) fn with_current_shared<R>(f: impl FnOnce(Option<&Current>) -> R) -> R {
    let mut f = Some(f);
    let read = CURRENT.try_with(|cell| match cell.try_borrow_mut() {
        Ok(mut cur) => (f.take().expect("called once"))(share(&mut cur)),
        Err(_) => (f.take().expect("called once"))(None),
    });
    match read {
        Ok(r) => r,
        Err(_) => (f.take().expect("called once"))(None),
    }
}

/// The one switch rule: with `current` current, only `requested` of the same
/// name may be entered.
#[inline]
fn refuse_switch(current: &Tenant, requested: &TenantKey) -> Result<(), TenantError> {
    if current.key == *requested {
        return Ok(());
    }
    Err(TenantError::Switch {
        current: current.key.clone(),
        requested: requested.clone(),
    })
}

/// The switch check before entering `requested`: allowed when no tenant or the
/// same tenant is current. Returns the current entry when it is `requested`.
pub(crate) fn check_switch(requested: &TenantKey) -> Result<Option<Arc<Tenant>>, TenantError> {
    with_current(|cur| match cur {
        None => Ok(None),
        Some(c) => refuse_switch(c.tenant(), requested).map(|()| Some(Arc::clone(c.tenant()))),
    })
}

/// Puts the scope's value back in its slot, and the previous one back in the
/// task-local, when dropped (even when what ran in the scope panicked).
struct Restore<'a>(&'a mut Option<Entered>);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        CURRENT.with(|cell| std::mem::swap(self.0, &mut *cell.borrow_mut()));
    }
}

/// Runs `f` with `slot`'s tenant as the thread's current one, and puts the
/// previous one back after it, even if `f` panics.
// `f` runs outside `LocalKey::with` (not inlined): its output, a future or a
// response, is then not copied out through it.
#[inline(always)]
pub(crate) fn enter<R>(slot: &mut Option<Entered>, f: impl FnOnce() -> R) -> R {
    CURRENT.with(|cell| std::mem::swap(slot, &mut *cell.borrow_mut()));
    let _restore = Restore(slot);
    f()
}

/// Like [`enter`], and with `check`, the switch rule ([`refuse_switch`])
/// made on the value swapped out: [`TenantError::Switch`] (and `f` not run)
/// when another tenant is current. One thread-local access for both.
#[inline(always)]
pub(crate) fn enter_checked<R>(
    slot: &mut Option<Entered>,
    check: bool,
    f: impl FnOnce() -> R,
) -> Result<R, TenantError> {
    CURRENT.with(|cell| {
        let mut cur = cell.borrow_mut();
        if check && let (Some(was), Some(entering)) = (&*cur, &*slot) {
            let (was, entering) = (was.tenant(), entering.tenant());
            if !Arc::ptr_eq(was, entering) {
                refuse_switch(was, &entering.key)?;
            }
        }
        std::mem::swap(slot, &mut *cur);
        Ok::<(), TenantError>(())
    })?;
    let _restore = Restore(slot);
    Ok(f())
}

pin_project_lite::pin_project! {
    /// `F` polled, and dropped, with a tenant current: the task-local's scope.
    pub(crate) struct CurrentScope<F> {
        slot: Option<Entered>,
        #[pin]
        future: Option<F>,
    }

    impl<F> PinnedDrop for CurrentScope<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut future = this.future;
            // What the future drops (a transaction rolling back, a lease)
            // still sees its tenant; while the thread exits (the task-local
            // already gone) it is dropped without.
            if future.is_some() && this.slot.is_some() && CURRENT.try_with(|_| ()).is_ok() {
                enter(this.slot, || future.set(None));
            }
        }
    }
}

impl<F> CurrentScope<F> {
    /// Takes the tenant out, for what runs after `F` (a response body).
    pub(crate) fn take_current(self: Pin<&mut Self>) -> Option<Current> {
        self.project().slot.take().map(Entered::into_shared)
    }
}

impl<F: Future> CurrentScope<F> {
    /// Polls `F` in the tenant; with `check`, refuses (without polling) when
    /// another tenant is current, as [`check_switch`] would.
    #[inline(always)]
    pub(crate) fn poll_checked(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        check: bool,
    ) -> Poll<Result<F::Output, TenantError>> {
        let this = self.project();
        assert!(
            this.slot.is_some(),
            "scope polled after its tenant was taken"
        );
        let mut future = this.future;
        let polled = enter_checked(this.slot, check, || {
            let Some(fut) = future.as_mut().as_pin_mut() else {
                panic!("scope polled after completion");
            };
            let poll = fut.poll(cx);
            if poll.is_ready() {
                // Dropped here, inside the scope, like a pending one.
                future.set(None);
            }
            poll
        });
        match polled {
            Ok(poll) => poll.map(Ok),
            Err(err) => Poll::Ready(Err(err)),
        }
    }
}

impl<F: Future> Future for CurrentScope<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.poll_checked(cx, false) {
            Poll::Ready(Ok(output)) => Poll::Ready(output),
            Poll::Ready(Err(_)) => unreachable!("not checked"),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Polls `fut` with `current` as the task's tenant.
pub(crate) fn scope<F: Future>(current: impl Into<Entered>, fut: F) -> CurrentScope<F> {
    CurrentScope {
        slot: Some(current.into()),
        future: Some(fut),
    }
}

/// Runs `f` synchronously with `current` as the task's tenant.
pub(crate) fn sync_scope<R>(current: Current, f: impl FnOnce() -> R) -> R {
    enter(&mut Some(current.into()), f)
}
