//! [`Hold`]: the state of a tenant's hold (see [`super::hold`] for what
//! holding does).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// A tenant's hold: one flag read by every lease, and the waiters' wake-up.
#[derive(Default)]
pub(crate) struct Hold {
    held: AtomicBool,
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
        self.held.load(Ordering::Acquire)
    }

    /// Sets the flag; returns whether it was set before. Wakes the waiters
    /// when it is cleared.
    pub(super) fn set(&self, held: bool) -> bool {
        let was = self.held.swap(held, Ordering::AcqRel);
        if !held {
            self.changed.notify_waiters();
        }
        was
    }

    /// Wakes the waiters (the entry was removed: they look for its successor).
    pub(crate) fn wake(&self) {
        self.changed.notify_waiters();
    }
}
