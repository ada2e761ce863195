//! [`TenantMigrator`]: runs one [`Operation`] over many tenants in parallel.

use std::collections::{BTreeSet, HashMap};
use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use sea_orm::{DatabaseConnection, DbBackend};
use sea_orm_migration::MigratorTrait;
use sea_orm_tenant::{
    TenantConfig, TenantConnection, TenantConnections, TenantError, TenantKey, TenantSession,
};

use crate::apply::{Applied, ApplyFn, MigrationDb, apply_fn, is_empty_sqlite_file};
use crate::error::{MigrateError, TenantFailure};
use crate::lock::{TenantLock, lock_in_transaction};
use crate::operation::Operation;
use crate::progress::{Progress, ProgressMode};
use crate::report::{Outcome, RunReport, SHARED, TenantReport};
use crate::versions::{schema_versions, settled};

/// Default time a runner waits for another runner's lock on a tenant.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// How a run behaves. Build it through [`TenantMigrator`]'s methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// Tenants worked on at once. Default: the number of CPUs.
    pub jobs: usize,
    /// Start no new tenant after the first failure; running ones finish. Default: false.
    pub fail_fast: bool,
    /// Give up on a tenant after this long (connecting, lock wait and migrations
    /// included); it is reported failed. Default: none.
    pub tenant_timeout: Option<Duration>,
    /// How long to wait for another runner holding a tenant's lock before
    /// reporting it busy (failed). Default: [`DEFAULT_LOCK_TIMEOUT`].
    pub lock_timeout: Duration,
    /// Progress display. Default: [`ProgressMode::Off`].
    pub progress: ProgressMode,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            jobs: default_jobs(),
            fail_fast: false,
            tenant_timeout: None,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            progress: ProgressMode::Off,
        }
    }
}

/// The number of CPUs (at least 1).
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Runs a sea-orm-migration migrator over the tenants of a [`TenantConnections`]
/// store, each on its own connection, `jobs` at a time.
///
/// * Every selected tenant is attempted and failures are collected in the
///   [`RunReport`], unless [`fail_fast`](Self::fail_fast).
/// * Each tenant is worked on by one task at a time (the selection is a set),
///   and, across runners and processes, under its migration lock (see
///   [`lock_timeout`](Self::lock_timeout)).
/// * With a [`shared`](Self::shared) migrator and a store with a shared
///   database, the shared database is migrated first with the same operation;
///   if that fails, no tenant is attempted (all are reported skipped).
///
/// Cheap to clone.
#[derive(Clone)]
pub struct TenantMigrator {
    store: TenantConnections,
    tenant: ApplyFn,
    pub(crate) shared: Option<ApplyFn>,
    selection: Option<Vec<String>>,
    options: RunOptions,
}

impl std::fmt::Debug for TenantMigrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantMigrator")
            .field("store", &self.store)
            .field("shared", &self.shared.is_some())
            .field("selection", &self.selection)
            .field("options", &self.options)
            .finish()
    }
}

impl TenantMigrator {
    /// A runner applying migrator `M` to the tenants of `store`.
    pub fn new<M: MigratorTrait + 'static>(store: TenantConnections) -> Self {
        Self::with_apply(store, apply_fn::<M>())
    }

    pub(crate) fn with_apply(store: TenantConnections, tenant: ApplyFn) -> Self {
        Self {
            store,
            tenant,
            shared: None,
            selection: None,
            options: RunOptions::default(),
        }
    }

    /// Also migrate the store's shared database with migrator `S`, before the tenants.
    /// Ignored when the store has no shared database.
    pub fn shared<S: MigratorTrait + 'static>(mut self) -> Self {
        self.shared = Some(apply_fn::<S>());
        self
    }

    /// Only these tenants (default: every registered tenant). Names are checked
    /// when the run starts; duplicates are run once.
    pub fn select<I, S>(mut self, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.selection = Some(tenants.into_iter().map(Into::into).collect());
        self
    }

    /// Tenants worked on at once (at least 1).
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.options.jobs = jobs;
        self
    }

    /// Start no new tenant after the first failure.
    pub fn fail_fast(mut self, fail_fast: bool) -> Self {
        self.options.fail_fast = fail_fast;
        self
    }

    /// Give up on a tenant after this long; `None` for no limit.
    pub fn tenant_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.tenant_timeout = timeout;
        self
    }

    /// How long to wait for a tenant locked by another runner before reporting it busy.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.options.lock_timeout = timeout;
        self
    }

    /// How to show progress.
    pub fn progress(mut self, mode: ProgressMode) -> Self {
        self.options.progress = mode;
        self
    }

    /// All options at once.
    pub fn options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    /// The options in force.
    pub fn run_options(&self) -> &RunOptions {
        &self.options
    }

    /// The store.
    pub fn store(&self) -> &TenantConnections {
        &self.store
    }

    /// The selected tenants, checked against the store (no I/O). Fails on a
    /// malformed or unregistered name.
    pub fn selected(&self) -> Result<Vec<TenantKey>, MigrateError> {
        let keys: BTreeSet<TenantKey> = match &self.selection {
            None => self.store.tenants().into_iter().collect(),
            Some(names) => names
                .iter()
                .map(|n| self.store.check(n))
                .collect::<Result<_, TenantError>>()?,
        };
        Ok(keys.into_iter().collect())
    }

    /// Applies every pending migration (`up`).
    pub async fn up(&self) -> Result<RunReport, MigrateError> {
        self.run(Operation::UP).await
    }

    /// Reads every selected tenant's migration status; changes nothing.
    pub async fn status(&self) -> Result<RunReport, MigrateError> {
        self.run(Operation::Status).await
    }

    /// Runs `op` over the selected tenants. Fails only before touching any
    /// database (bad selection, `jobs` 0); per-tenant failures are in the report.
    pub async fn run(&self, op: Operation) -> Result<RunReport, MigrateError> {
        if self.options.jobs == 0 {
            return Err(MigrateError::ZeroJobs);
        }
        let keys = self.selected()?;
        Ok(self.run_keys(op, keys).await)
    }

    /// Boxed (type-erased) so callers' futures stay shallow enough for the
    /// compiler's default recursion limit.
    fn run_keys(&self, op: Operation, keys: Vec<TenantKey>) -> BoxFuture<'_, RunReport> {
        Box::pin(self.run_keys_inner(op, keys))
    }

    async fn run_keys_inner(&self, op: Operation, keys: Vec<TenantKey>) -> RunReport {
        let started = Instant::now();
        let progress = Progress::new(self.options.progress, keys.len());
        let shared = match self.shared {
            Some(apply) if self.store.has_shared() => Some(self.migrate_shared(apply, op).await),
            _ => None,
        };
        let tenants = match &shared {
            Some(s) if s.outcome == Outcome::Failed => keys
                .iter()
                .map(|k| {
                    TenantReport::skipped(k.as_str(), "not started: the shared database failed")
                })
                .collect(),
            _ => self.migrate_tenants(op, keys, &progress).await,
        };
        progress.finish();
        let report = RunReport::new(op, shared, tenants, started.elapsed());
        tracing::info!(
            op = %op,
            total = report.summary.total,
            migrated = report.summary.migrated,
            failed = report.summary.failed,
            skipped = report.summary.skipped,
            ms = report.duration_ms,
            "tenant migration run finished"
        );
        report
    }

    async fn migrate_shared(&self, apply: ApplyFn, op: Operation) -> TenantReport {
        let work = on_database(
            Target::Shared(&self.store),
            apply,
            op,
            self.options.lock_timeout,
        );
        finish(SHARED, op, self.options.tenant_timeout, work).await
    }

    /// Runs the tenants `jobs` at a time as futures of this task: no task
    /// spawning or cross-thread hand-over per tenant (the work is I/O-bound).
    /// A panicking tenant is caught and reported failed.
    async fn migrate_tenants(
        &self,
        op: Operation,
        keys: Vec<TenantKey>,
        progress: &Progress,
    ) -> Vec<TenantReport> {
        let mut reports = Vec::with_capacity(keys.len());
        // Schema tenants: their versions, read in a few round trips per
        // database; a tenant with nothing to do is reported without a lock.
        let known = match op {
            Operation::Up { steps: None } | Operation::Status => {
                schema_versions(&self.store, &keys).await
            }
            _ => HashMap::new(),
        };
        let names = if known.is_empty() {
            Vec::new()
        } else {
            (self.tenant.names)()
        };
        let mut to_run = Vec::with_capacity(keys.len());
        for key in keys {
            match known
                .get(&key)
                .and_then(|applied| settled(&key, applied, &names, op))
            {
                Some(report) => {
                    progress.started(key.as_str());
                    progress.finished(&report);
                    reports.push(report);
                }
                None => to_run.push(key),
            }
        }
        let mut queue = to_run.into_iter();
        let mut running = FuturesUnordered::new();
        let mut stopped = false;
        loop {
            while !stopped && running.len() < self.options.jobs {
                let Some(key) = queue.next() else { break };
                progress.started(key.as_str());
                let job = tenant_job(&self.store, key.clone(), self.tenant, op, &self.options);
                running.push(async move {
                    match AssertUnwindSafe(job).catch_unwind().await {
                        Ok(report) => report,
                        Err(panic) => failed_report(
                            key.to_string(),
                            TenantFailure::Panic(panic_text(&*panic)),
                            None,
                            Duration::ZERO,
                        ),
                    }
                });
            }
            let Some(report) = running.next().await else {
                break;
            };
            progress.finished(&report);
            if report.outcome == Outcome::Failed && self.options.fail_fast {
                stopped = true;
            }
            reports.push(report);
        }
        reports.extend(queue.map(|k| {
            TenantReport::skipped(k.as_str(), "not started: --fail-fast after a failure")
        }));
        reports
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a migration panicked".to_owned())
}

/// One tenant.
async fn tenant_job(
    store: &TenantConnections,
    key: TenantKey,
    apply: ApplyFn,
    op: Operation,
    options: &RunOptions,
) -> TenantReport {
    let work = on_database(Target::Tenant(store, &key), apply, op, options.lock_timeout);
    finish(key.as_str(), op, options.tenant_timeout, work).await
}

type WorkResult = Result<Applied, (TenantFailure, Option<Applied>)>;

/// The database an operation runs on.
#[derive(Clone, Copy)]
enum Target<'a> {
    Tenant(&'a TenantConnections, &'a TenantKey),
    Shared(&'a TenantConnections),
}

impl Target<'_> {
    fn config(self) -> Result<TenantConfig, TenantError> {
        match self {
            Target::Tenant(store, key) => store
                .tenant_config(key.as_str())
                .ok_or_else(|| TenantError::Unknown(key.clone())),
            Target::Shared(store) => store
                .shared_config()
                .cloned()
                .ok_or(TenantError::NoSharedDatabase),
        }
    }

    /// A dedicated session to this database, within its server's budget.
    async fn session(self) -> Result<TenantSession, TenantError> {
        match self {
            Target::Tenant(store, key) => store.session(key.as_str()).await,
            Target::Shared(store) => store.shared_session().await,
        }
    }

    /// The store's pool for this database, and the lease keeping it open.
    async fn pool(self) -> Result<(DatabaseConnection, Option<TenantConnection>), TenantError> {
        match self {
            Target::Tenant(store, key) => {
                let lease = store.connection(key.as_str()).await?;
                let conn =
                    lease
                        .to_database_connection()
                        .ok_or_else(|| TenantError::Unavailable {
                            tenant: key.clone(),
                            reason: "a schema tenant has no pool of its own".into(),
                        })?;
                Ok((conn, Some(lease)))
            }
            Target::Shared(store) => Ok((store.shared().await?, None)),
        }
    }
}

/// Applies `op` to one database under its migration lock (for operations that write).
///
/// * PostgreSQL and MySQL: on a dedicated session that takes the lock and then
///   runs the migrations (see [`crate::lock`]); the store's pool is not used.
/// * SQLite: on the store's pool, holding the lock file.
/// * `status`: on the store's pool, no lock.
async fn on_database(
    target: Target<'_>,
    apply: ApplyFn,
    op: Operation,
    lock_wait: Duration,
) -> WorkResult {
    let connect = |e| (TenantFailure::Connect(e), None);
    let config = target.config().map_err(connect)?;
    let backend = config
        .backend()
        .map_err(|e| connect(TenantError::Config(e)))?;
    if let (Target::Tenant(store, key), Some(_)) = (target, config.schema()) {
        return on_schema(store, key, apply, op, lock_wait).await;
    }
    let (lock, conn, lease) = if op.writes() && backend != DbBackend::Sqlite {
        let session = target.session().await.map_err(connect)?;
        let lock = TenantLock::on_session(session, lock_wait)
            .await
            .map_err(|e| (TenantFailure::Lock(e), None))?;
        let conn = lock
            .session()
            .cloned()
            .expect("a server lock has a session");
        (Some(lock), conn, None)
    } else {
        let (conn, lease) = target.pool().await.map_err(connect)?;
        let lock = if op.writes() {
            Some(
                TenantLock::sqlite(&config, lock_wait)
                    .await
                    .map_err(|e| (TenantFailure::Lock(e), None))?,
            )
        } else {
            None
        };
        (lock, conn, lease)
    };
    // Checked under the lock: a SQLite tenant migrated for the first time
    // needs no read of a migration table that cannot exist yet.
    let db = match config.sqlite_path() {
        Some(path) if lock.is_some() && is_empty_sqlite_file(&path) => MigrationDb::Empty(conn),
        _ => MigrationDb::Connection(conn),
    };
    let result = (apply.apply)(db, op).await;
    if let Some(lock) = lock {
        lock.release().await;
    }
    drop(lease);
    result.map_err(|f| (TenantFailure::Migration(f.error), f.after))
}

/// Applies `op` to a schema tenant: in one transaction on its schema, under
/// its lock, committed only if the whole operation succeeded.
async fn on_schema(
    store: &TenantConnections,
    key: &TenantKey,
    apply: ApplyFn,
    op: Operation,
    lock_wait: Duration,
) -> WorkResult {
    use sea_orm::TransactionTrait;
    let lease = store
        .connection(key.as_str())
        .await
        .map_err(|e| (TenantFailure::Connect(e), None))?;
    let txn = lease.begin().await.map_err(|e| {
        let failure = match TenantError::from_db_err(&e) {
            Some(tenant) => TenantFailure::Connect(tenant.clone()),
            None => TenantFailure::Migration(e),
        };
        (failure, None)
    })?;
    if op.writes() {
        lock_in_transaction(&txn, lock_wait)
            .await
            .map_err(|e| (TenantFailure::Lock(e), None))?;
    }
    let result = (apply.apply)(MigrationDb::Transaction(txn), op).await;
    drop(lease);
    result.map_err(|f| (TenantFailure::Migration(f.error), f.after))
}

/// Runs `work` under the timeout and turns its result into a report.
async fn finish(
    tenant: &str,
    op: Operation,
    timeout: Option<Duration>,
    work: impl Future<Output = WorkResult>,
) -> TenantReport {
    let started = Instant::now();
    let result = match timeout {
        Some(limit) => match tokio::time::timeout(limit, work).await {
            Ok(result) => result,
            Err(_) => Err((TenantFailure::Timeout(limit), None)),
        },
        None => work.await,
    };
    let elapsed = started.elapsed();
    match result {
        Ok(applied) => {
            let outcome = match op {
                Operation::Status if applied.pending.is_empty() => Outcome::UpToDate,
                Operation::Status => Outcome::Behind,
                _ if applied.changed.is_empty() => Outcome::UpToDate,
                _ => Outcome::Migrated,
            };
            tracing::info!(tenant, op = %op, outcome = %outcome, applied = applied.changed.len(), ms = elapsed.as_millis() as u64, "tenant done");
            TenantReport {
                tenant: tenant.to_owned(),
                outcome,
                migrations: applied.changed,
                pending: applied.pending,
                version: applied.version,
                duration_ms: elapsed.as_millis() as u64,
                error: None,
            }
        }
        Err((failure, after)) => {
            tracing::warn!(tenant, op = %op, error = %failure, "tenant failed");
            failed_report(tenant.to_owned(), failure, after, elapsed)
        }
    }
}

fn failed_report(
    tenant: String,
    failure: TenantFailure,
    after: Option<Applied>,
    elapsed: Duration,
) -> TenantReport {
    let after = after.unwrap_or_default();
    TenantReport {
        tenant,
        outcome: Outcome::Failed,
        migrations: after.changed,
        pending: after.pending,
        version: after.version,
        duration_ms: elapsed.as_millis() as u64,
        error: Some(failure.to_string()),
    }
}

/// Applies every pending migration of `M` to every tenant of `store`, `jobs` =
/// number of CPUs, no progress output: the call a server makes at start-up.
/// Failed tenants are in [`RunReport::failures`].
pub async fn migrate_all<M: MigratorTrait + 'static>(store: &TenantConnections) -> RunReport {
    let migrator = TenantMigrator::new::<M>(store.clone());
    let keys = store.tenants();
    migrator.run_keys(Operation::UP, keys).await
}

/// Like [`migrate_all`], for some tenants only. Fails, touching nothing, if a
/// name is malformed or not registered.
pub async fn migrate_tenants<M, I, S>(
    store: &TenantConnections,
    tenants: I,
) -> Result<RunReport, MigrateError>
where
    M: MigratorTrait + 'static,
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    TenantMigrator::new::<M>(store.clone())
        .select(tenants)
        .up()
        .await
}
