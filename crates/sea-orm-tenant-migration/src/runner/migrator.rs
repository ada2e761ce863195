//! [`TenantMigrator`]: runs one [`Operation`] over many tenants in parallel.

use std::collections::{BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use sea_orm_migration::MigratorTrait;
use sea_orm_tenant::fan_out::panic_message;
use sea_orm_tenant::{TenantConfig, TenantConnections, TenantError, TenantKey};

use super::apply::{ApplyFn, apply_fn};
use super::error::{MigrateError, TenantFailure};
use super::finish::{failed_report, finish};
use super::operation::Operation;
use super::options::RunOptions;
use super::progress::{Progress, ProgressMode};
use super::report::{Outcome, RunReport, SHARED, TenantReport};
use super::target::{Target, on_database, tenant_job};
use super::versions::{schema_versions, settled};

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
    pub(crate) rows: Option<ApplyFn>,
    selection: Option<Vec<String>>,
    options: RunOptions,
}

impl std::fmt::Debug for TenantMigrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantMigrator")
            .field("store", &self.store)
            .field("shared", &self.shared.is_some())
            .field("rows", &self.rows.is_some())
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
            rows: None,
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

    /// Migrate the databases of row tenants with migrator `R` instead of the
    /// tenant migrator: their tables are shared and carry the tenant column
    /// under row-level security (see [`crate::rows`]). Each row database is
    /// migrated once.
    pub fn rows<R: MigratorTrait + 'static>(mut self) -> Self {
        self.rows = Some(apply_fn::<R>());
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

    /// Applies `op` to one database that no tenant of the store has yet (a
    /// tenant being created), under its migration lock, on connections of the
    /// store counted in its server's budget; `name` names it in the report
    /// and the logs. Not for schema tenants: their schema is migrated in the
    /// transaction that creates it.
    pub async fn run_database(
        &self,
        name: &TenantKey,
        config: &TenantConfig,
        op: Operation,
    ) -> TenantReport {
        let work = on_database(
            Target::Outside(&self.store, config),
            self.tenant,
            op,
            self.options.lock_timeout,
        );
        finish(name.as_str(), op, self.options.tenant_timeout, work).await
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
        // Row tenants share their database's tables: one run per database,
        // its outcome reported for every tenant in it.
        let (to_run, mut sharing) = one_per_row_database(&self.store, to_run);
        let mut queue = to_run.into_iter();
        let mut running = FuturesUnordered::new();
        let mut stopped = false;
        loop {
            while !stopped && running.len() < self.options.jobs {
                let Some(key) = queue.next() else { break };
                progress.started(key.as_str());
                let apply = match self.rows {
                    Some(rows) if self.is_row_tenant(&key) => rows,
                    _ => self.tenant,
                };
                let job = tenant_job(&self.store, key.clone(), apply, op, &self.options);
                running.push(async move {
                    match AssertUnwindSafe(job).catch_unwind().await {
                        Ok(report) => report,
                        Err(panic) => failed_report(
                            key.to_string(),
                            TenantFailure::Panic(panic_message(&*panic).to_owned()),
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
            let leader = TenantKey::new(&report.tenant).ok();
            for other in leader.and_then(|k| sharing.remove(&k)).unwrap_or_default() {
                progress.started(other.as_str());
                let copy = TenantReport {
                    tenant: other.to_string(),
                    migrated_with: Some(report.tenant.clone()),
                    ..report.clone()
                };
                progress.finished(&copy);
                reports.push(copy);
            }
            reports.push(report);
        }
        for k in queue {
            for other in sharing.remove(&k).unwrap_or_default() {
                reports.push(TenantReport::skipped(
                    other.as_str(),
                    "not started: --fail-fast after a failure",
                ));
            }
            reports.push(TenantReport::skipped(
                k.as_str(),
                "not started: --fail-fast after a failure",
            ));
        }
        reports
    }
}

impl TenantMigrator {
    fn is_row_tenant(&self, key: &TenantKey) -> bool {
        self.store
            .tenant_config(key.as_str())
            .is_some_and(|config| config.is_row_tenant())
    }
}

/// `keys` with the row tenants of each database reduced to one (the first),
/// and for that one the others of its database.
fn one_per_row_database(
    store: &TenantConnections,
    keys: Vec<TenantKey>,
) -> (Vec<TenantKey>, HashMap<TenantKey, Vec<TenantKey>>) {
    let mut leaders: HashMap<String, TenantKey> = HashMap::new();
    let mut sharing: HashMap<TenantKey, Vec<TenantKey>> = HashMap::new();
    let mut run = Vec::with_capacity(keys.len());
    for key in keys {
        let row_database = store
            .tenant_config(key.as_str())
            .filter(|config| config.is_row_tenant())
            .map(|config| config.url().to_owned());
        match row_database {
            Some(url) => match leaders.get(&url) {
                Some(leader) => sharing.entry(leader.clone()).or_default().push(key),
                None => {
                    leaders.insert(url, key.clone());
                    run.push(key);
                }
            },
            None => run.push(key),
        }
    }
    (run, sharing)
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
