//! [`Hold`]: the state of a tenant's hold (see [`super::hold`] for what
//! holding does).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::lock::lock;

/// A tenant's hold: one flag read by every lease, and the waiters' wake-up.
#[derive(Default)]
pub(crate) struct Hold {
    held: AtomicBool,
    /// When a hold that nobody releases ends by itself (read only while
    /// `held` is set).
    until: Mutex<Option<Instant>>,
    pub(super) changed: Notify,
    /// Leases waiting for the hold to end.
    pub(super) waiting: AtomicUsize,
}

/// Counts a waiting lease while it lives.
pub(super) struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    pub(super) fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Hold {
    pub(crate) fn is_held(&self) -> bool {
        self.held.load(Ordering::Acquire) && self.until().is_none_or(|until| Instant::now() < until)
    }

    /// When the hold ends by itself, if it does.
    pub(super) fn until(&self) -> Option<Instant> {
        *lock(&self.until)
    }

    /// Sets the flag, until released; returns whether it was set before.
    /// Wakes the waiters when it is cleared.
    pub(super) fn set(&self, held: bool) -> bool {
        let was = self.is_held();
        *lock(&self.until) = None;
        self.held.store(held, Ordering::Release);
        if !held {
            self.changed.notify_waiters();
        }
        was
    }

    /// Sets the flag until `until` at the latest; returns whether it was
    /// set before.
    pub(super) fn set_until(&self, until: Instant) -> bool {
        let was = self.is_held();
        *lock(&self.until) = Some(until);
        self.held.store(true, Ordering::Release);
        was
    }

    /// Wakes the waiters (the entry was removed: they look for its successor).
    pub(crate) fn wake(&self) {
        self.changed.notify_waiters();
    }
}
