//! [`Signal`]: wakes the tasks waiting for the store's state to change (a
//! place for a pool, a pool gone idle), and costs one load when none waits.
//!
//! The end of every lease signals (its pool may have become idle). With
//! tokio's `Notify` alone, each one locked the waiter list, one lock shared
//! by every tenant and every worker thread, though almost always nobody
//! waited.

use std::sync::atomic::{AtomicUsize, Ordering, fence};

use tokio::sync::{Notify, futures::Notified};

/// A `Notify` whose [`notify_waiters`](Self::notify_waiters) does nothing
/// while no [`Watching`] is alive.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    notify: Notify,
    watching: AtomicUsize,
}

impl Signal {
    /// Wakes every task waiting on a [`Watching::notified`] made before this
    /// call. Call it after the change is made (and its lock released).
    pub(crate) fn notify_waiters(&self) {
        // Pairs with the fence in `Watching::notified`: either this load sees
        // the waiter counted, or the waiter's check, after its fence, sees
        // the change made before this one.
        fence(Ordering::SeqCst);
        if self.watching.load(Ordering::Relaxed) > 0 {
            self.notify.notify_waiters();
        }
    }

    /// Counts a waiter until the returned guard drops. Wait with
    /// [`Watching::notified`]: make it, enable it, check the condition, then
    /// await it.
    pub(crate) fn watch(&self) -> Watching<'_> {
        self.watching.fetch_add(1, Ordering::Relaxed);
        Watching(self)
    }
}

/// A waiter counted by its [`Signal`].
pub(crate) struct Watching<'a>(&'a Signal);

impl<'a> Watching<'a> {
    /// The next [`Signal::notify_waiters`]; check the condition after this.
    pub(crate) fn notified(&self) -> Notified<'a> {
        let notified = self.0.notify.notified();
        fence(Ordering::SeqCst);
        notified
    }
}

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        self.0.watching.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::*;

    #[test]
    fn nobody_watching_is_nothing_to_wake() {
        let signal = Signal::default();
        signal.notify_waiters();
        let watching = signal.watch();
        assert_eq!(signal.watching.load(Ordering::Relaxed), 1);
        drop(watching);
        assert_eq!(signal.watching.load(Ordering::Relaxed), 0);
    }

    /// A change made and signalled from another thread while the waiter
    /// checks is never missed: the waiter either sees it or is woken.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_change_signalled_while_the_waiter_checks_is_never_missed() {
        for _ in 0..2_000 {
            let signal = Arc::new(Signal::default());
            let done = Arc::new(AtomicBool::new(false));
            let changer = {
                let (signal, done) = (Arc::clone(&signal), Arc::clone(&done));
                tokio::spawn(async move {
                    done.store(true, Ordering::Relaxed);
                    signal.notify_waiters();
                })
            };
            let watching = signal.watch();
            loop {
                let notified = watching.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if done.load(Ordering::Relaxed) {
                    break;
                }
                tokio::time::timeout(std::time::Duration::from_secs(10), notified)
                    .await
                    .expect("a signalled change was missed");
            }
            changer.await.unwrap();
        }
    }
}
