//! Fan-out: one async operation run for every tenant (or a selection), a
//! bounded number at a time, each inside its tenant, with a report.
//!
//! The answer to "loop over the tenants" that scales: the tenants run as
//! futures of the caller's task, at most `jobs` at once; each runs inside
//! [`with_tenant`](crate::TenantConnections::with_tenant), so its queries go
//! through the store, its pools and its per-server budgets like a request's
//! (a fan-out never opens a connection the budget does not count). Dropping
//! the future, or the `cancel` future of [`FanOut::run_until`] resolving,
//! stops it: running tenants are dropped at their next await, and the report
//! says which ran.

mod read_only;
mod report;

use std::collections::HashSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};

use crate::error::TenantError;
use crate::key::TenantKey;
use crate::store::TenantConnections;

pub use read_only::{ReadOnlyError, read_only_query};
pub use report::{FanOutProgress, FanOutReport, RunOutcome, TenantRun};

/// Tenants run at once when [`FanOut::jobs`] is not set.
pub const DEFAULT_FAN_OUT_JOBS: usize = 8;

type ProgressFn = dyn Fn(&FanOutProgress<'_>) + Send + Sync;

/// An operation to run over many tenants; built by
/// [`TenantConnections::fan_out`].
///
/// ```
/// use sea_orm::{ConnectionTrait, Statement};
/// use sea_orm_tenant::TenantConnections;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
/// let store = TenantConnections::from_urls([("acme", url("acme.db")), ("globex", url("globex.db"))])?;
/// let db = store.db();
/// // Every tenant gets the table, two at a time.
/// let report = store
///     .fan_out()
///     .jobs(2)
///     .run(|_tenant| {
///         let db = db.clone();
///         async move { db.execute_unprepared("CREATE TABLE note (body TEXT)").await.map(|_| ()) }
///     })
///     .await?;
/// assert!(report.is_success());
/// assert_eq!(report.tenants.len(), 2);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct FanOut {
    store: TenantConnections,
    tenants: Option<Vec<TenantKey>>,
    jobs: usize,
    tenant_timeout: Option<Duration>,
    progress: Option<Arc<ProgressFn>>,
}

impl std::fmt::Debug for FanOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanOut")
            .field("tenants", &self.tenants)
            .field("jobs", &self.jobs)
            .field("tenant_timeout", &self.tenant_timeout)
            .finish_non_exhaustive()
    }
}

impl TenantConnections {
    /// An operation over every tenant of the store (see [`FanOut`]).
    pub fn fan_out(&self) -> FanOut {
        FanOut {
            store: self.clone(),
            tenants: None,
            jobs: DEFAULT_FAN_OUT_JOBS,
            tenant_timeout: None,
            progress: None,
        }
    }
}

impl FanOut {
    /// Only these tenants, in this order (default: every tenant of the store,
    /// by name). An unknown or malformed name is an error of
    /// [`run`](Self::run), before any tenant runs.
    pub fn select<I, S>(mut self, tenants: I) -> Result<Self, TenantError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let keys = tenants
            .into_iter()
            .map(|name| self.store.check(name.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        self.tenants = Some(keys);
        Ok(self)
    }

    /// Tenants run at once (default [`DEFAULT_FAN_OUT_JOBS`]; 0 is taken as 1).
    /// Connections stay within each server's budget whatever this is: a
    /// tenant whose pool cannot open for now waits for room.
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// Gives up on a tenant after this long (its outcome is
    /// [`RunOutcome::TimedOut`]); default: no limit.
    pub fn tenant_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.tenant_timeout = timeout;
        self
    }

    /// Called as each tenant finishes, on the task running the fan-out.
    pub fn on_progress(mut self, f: impl Fn(&FanOutProgress<'_>) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Runs `op` for each tenant, inside it, and reports every tenant.
    pub async fn run<T, E, F, Fut>(&self, op: F) -> Result<FanOutReport<T>, TenantError>
    where
        F: Fn(TenantKey) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        self.run_until(op, std::future::pending::<()>()).await
    }

    /// [`run`](Self::run), stopped when `cancel` resolves: no tenant starts
    /// after that, running ones are dropped (their outcome is
    /// [`RunOutcome::Cancelled`], as is every tenant not started).
    pub async fn run_until<T, E, F, Fut>(
        &self,
        op: F,
        cancel: impl Future<Output = ()>,
    ) -> Result<FanOutReport<T>, TenantError>
    where
        F: Fn(TenantKey) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let started = Instant::now();
        let keys = match &self.tenants {
            Some(keys) => keys.clone(),
            None => self.store.tenants(),
        };
        let total = keys.len();
        let mut queue = keys.iter();
        let mut running = FuturesUnordered::new();
        let mut runs = Vec::with_capacity(total);
        let mut failed = 0;
        let mut cancel = std::pin::pin!(cancel.fuse());
        let mut cancelled = false;
        loop {
            while running.len() < self.jobs {
                let Some(key) = queue.next() else { break };
                running.push(self.one(key.clone(), op(key.clone())));
            }
            let run = futures_util::select_biased! {
                () = cancel => { cancelled = true; break; }
                run = running.next() => match run {
                    Some(run) => run,
                    None => break,
                },
            };
            if !run.outcome.is_done() {
                failed += 1;
            }
            if let Some(progress) = &self.progress {
                progress(&FanOutProgress {
                    tenant: &run.tenant,
                    finished: runs.len() + 1,
                    failed,
                    total,
                });
            }
            runs.push(run);
        }
        // Dropping the running futures cancels them at their next await.
        drop(running);
        if runs.len() < total {
            let reported: HashSet<TenantKey> = runs.iter().map(|r| r.tenant.clone()).collect();
            let unfinished = keys.into_iter().filter(|k| !reported.contains(k));
            runs.extend(unfinished.map(TenantRun::cancelled).collect::<Vec<_>>());
        }
        Ok(FanOutReport::new(runs, started.elapsed(), cancelled))
    }

    /// One tenant: inside it, under the time limit, a panic caught.
    async fn one<T, E, Fut>(&self, key: TenantKey, fut: Fut) -> TenantRun<T>
    where
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let started = Instant::now();
        let scoped = AssertUnwindSafe(self.store.with_tenant(&key, fut)).catch_unwind();
        let finished = match self.tenant_timeout {
            Some(limit) => tokio::time::timeout(limit, scoped).await.ok(),
            None => Some(scoped.await),
        };
        let outcome = match finished {
            None => RunOutcome::TimedOut,
            Some(Err(panic)) => RunOutcome::Failed(format!("panicked: {}", panic_message(&*panic))),
            Some(Ok(Err(err))) => RunOutcome::Failed(err.to_string()),
            Some(Ok(Ok(Err(err)))) => RunOutcome::Failed(err.to_string()),
            Some(Ok(Ok(Ok(value)))) => RunOutcome::Done(value),
        };
        TenantRun {
            tenant: key,
            outcome,
            duration: started.elapsed(),
        }
    }
}

/// The message of a caught panic (`"a panic"` when it carries no text).
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic")
}
