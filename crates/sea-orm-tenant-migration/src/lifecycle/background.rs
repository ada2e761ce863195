//! [`Background`]: the work a provisioner's calls leave running when they
//! are dropped (the undo of a create, a move finishing or rolling back on
//! its own task), counted so that it can be waited for.

use std::future::Future;

use tokio::runtime::Handle;
use tokio_util::task::TaskTracker;

/// The provisioner's tasks. Cheap to clone; clones count the same tasks.
#[derive(Clone)]
pub(crate) struct Background {
    tasks: TaskTracker,
}

impl Background {
    pub(crate) fn new() -> Self {
        let tasks = TaskTracker::new();
        // A closed tracker still takes tasks; closed, its `wait` ends as
        // soon as none runs, which is what `settled` asks.
        tasks.close();
        Self { tasks }
    }

    /// Runs `work` on a task of its own, counted until it ends.
    pub(crate) fn spawn<F>(&self, work: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(work)
    }

    /// Runs `work` from a `Drop`: on the current runtime when there is one
    /// (without one, nothing could run it).
    pub(crate) fn spawn_from_drop<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Ok(runtime) = Handle::try_current() {
            self.tasks.spawn_on(work, &runtime);
        }
    }

    /// Waits until none of the tasks runs.
    pub(crate) async fn settled(&self) {
        self.tasks.wait().await;
    }
}
