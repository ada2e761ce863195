//! Shared by the cancellation tests: what the servers see of the test databases
//! (sessions, open transactions), a seeded random generator, and operations whose
//! durable outcome is known even when they are cancelled at any `.await`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, Set,
    Statement, TransactionTrait,
};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{TenantConnections, TenantDb, TenantError};

use crate::common::{note, rows_direct};

pub mod soak;

/// SplitMix64: small, seedable and good enough to pick operations and timeouts.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The seed from environment variable `var`, else `default`; printed so a failure
/// can be replayed.
pub fn seed(var: &str, default: u64) -> u64 {
    let seed = std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    eprintln!("seed: {seed} (set {var} to replay another)");
    seed
}

/// Runs `fut`, cancelling it (dropping it) after `limit`; `None` when cancelled.
pub async fn within<F: Future>(limit: Option<Duration>, fut: F) -> Option<F::Output> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, fut).await.ok(),
        None => Some(fut.await),
    }
}

/// Hang detection: fails the test if `fut` takes longer than 30 s.
pub async fn must_return<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not return within 30 s (hang)"))
}

/// A `LIKE` pattern matching exactly the databases of `dbs` (`_` escaped, since
/// `sot_1_2_1` must not match `sot_1_2_10`).
fn like_pattern(dbs: &TestDatabases) -> String {
    let prefix = dbs.prefix().replace('_', "\\_");
    if dbs.is_schemas() {
        // Schema tenants: the one database named after the prefix.
        prefix
    } else {
        format!("{prefix}\\_%")
    }
}

/// The server's view of one test's databases (PostgreSQL or MySQL/MariaDB).
pub struct Server {
    backend: DbBackend,
    admin: DatabaseConnection,
    pattern: String,
}

impl Server {
    /// `None` for SQLite.
    pub async fn new(dbs: &TestDatabases) -> Option<Self> {
        if dbs.backend() == DbBackend::Sqlite {
            return None;
        }
        Some(Self {
            backend: dbs.backend(),
            admin: dbs.admin().await,
            pattern: like_pattern(dbs),
        })
    }

    /// The server's view of one PostgreSQL database, `name`, through `admin`.
    pub fn of_database(admin: DatabaseConnection, name: &str) -> Self {
        Self {
            backend: DbBackend::Postgres,
            admin,
            pattern: name.replace('_', "\\_"),
        }
    }

    async fn count(&self, sql: String) -> i64 {
        self.admin
            .query_one_raw(Statement::from_string(self.backend, sql.clone()))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .expect("COUNT returns a row")
            .try_get::<i64>("", "n")
            .expect("COUNT is a bigint")
    }

    /// Every server session connected to one of the test's databases, as the
    /// server lists it (one cheap query; see [`sessions`](Self::sessions)).
    pub async fn listed_sessions(&self) -> i64 {
        let sql = match self.backend {
            DbBackend::Postgres => format!(
                "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname LIKE '{}'",
                self.pattern
            ),
            _ => format!(
                "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db LIKE '{}'",
                self.pattern
            ),
        };
        self.count(sql).await
    }

    /// Server sessions connected to one of the test's databases whose client
    /// end is still open.
    ///
    /// A session the client has closed stays in the server's list until the
    /// server's thread or backend has torn it down, a few milliseconds later on
    /// a busy server; a pool that closed one connection and opened another in
    /// that window would otherwise look one over its size. Where the process
    /// can read `/proc/net/tcp` (Linux), a session counts when its client port
    /// had an established TCP connection to the server just before or just
    /// after the server was asked; elsewhere every listed session counts.
    pub async fn sessions(&self) -> i64 {
        sea_orm_tenant::testing::connected_sessions(&self.admin, &self.pattern)
            .await
            .unwrap_or_else(|e| panic!("sessions on {}: {e}", self.pattern))
    }

    /// Sessions of the test's databases sitting inside a transaction: on PostgreSQL
    /// `idle in transaction` (or `(aborted)`), on MySQL/MariaDB a row of
    /// `information_schema.innodb_trx` whose thread uses one of the databases.
    pub async fn open_transactions(&self) -> i64 {
        let sql = match self.backend {
            DbBackend::Postgres => format!(
                "SELECT COUNT(*) AS n FROM pg_stat_activity \
                 WHERE datname LIKE '{}' AND state LIKE 'idle in transaction%'",
                self.pattern
            ),
            _ => format!(
                "SELECT COUNT(*) AS n FROM information_schema.innodb_trx t \
                 JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id \
                 WHERE p.db LIKE '{}'",
                self.pattern
            ),
        };
        self.count(sql).await
    }

    /// Sessions of the test's databases that are not idle: running a
    /// statement, or inside a transaction (PostgreSQL only).
    pub async fn busy(&self) -> i64 {
        self.count(format!(
            "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname LIKE '{}' AND state <> 'idle'",
            self.pattern
        ))
        .await
    }

    /// Polls `probe` until it returns 0 or `limit` passes; returns the last value.
    pub async fn settle(&self, limit: Duration, probe: Probe) -> i64 {
        let deadline = Instant::now() + limit;
        loop {
            let n = match probe {
                Probe::Sessions => self.sessions().await,
                Probe::OpenTransactions => self.open_transactions().await,
                Probe::Busy => self.busy().await,
            };
            if n == 0 || Instant::now() >= deadline {
                return n;
            }
            tokio::task::yield_now().await;
        }
    }

    /// Ends every session still connected to the test's databases, so dropping
    /// them cannot wait forever on a lock held by a session the library leaked.
    /// Returns how many there were.
    pub async fn kill_sessions(&self) -> usize {
        let sql = match self.backend {
            DbBackend::Postgres => format!(
                "SELECT CAST(pid AS BIGINT) AS id FROM pg_stat_activity WHERE datname LIKE '{}'",
                self.pattern
            ),
            _ => format!(
                "SELECT CAST(id AS SIGNED) AS id FROM information_schema.processlist \
                 WHERE db LIKE '{}'",
                self.pattern
            ),
        };
        let ids: Vec<i64> = self
            .admin
            .query_all_raw(Statement::from_string(self.backend, sql))
            .await
            .expect("list sessions")
            .iter()
            .filter_map(|r| r.try_get::<i64>("", "id").ok())
            .collect();
        for id in &ids {
            let kill = match self.backend {
                DbBackend::Postgres => format!("SELECT pg_terminate_backend({id})"),
                _ => format!("KILL {id}"),
            };
            // The session may have ended by itself meanwhile.
            let _ = self.admin.execute_unprepared(&kill).await;
        }
        ids.len()
    }

    pub async fn close(self) {
        self.admin.close().await.ok();
    }
}

/// Drops the test's databases after ending any session the library left behind
/// (a leaked session holding a lock would make `DROP DATABASE` wait forever on MySQL).
pub async fn cleanup(dbs: TestDatabases) {
    if let Some(server) = Server::new(&dbs).await {
        let killed = server.kill_sessions().await;
        if killed > 0 {
            eprintln!("cleanup: ended {killed} leftover session(s) of the test databases");
        }
        server.close().await;
    }
    dbs.cleanup().await;
}

#[derive(Clone, Copy, Debug)]
pub enum Probe {
    Sessions,
    OpenTransactions,
    Busy,
}

/// Samples [`Server::sessions`] every `period` in a background task until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    taken: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<(i64, usize)>,
}

impl Sampler {
    pub async fn start(dbs: &TestDatabases, period: Duration) -> Option<Self> {
        Some(Self::on(Server::new(dbs).await?, period))
    }

    /// Samples `server` every `period`.
    pub fn on(server: Server, period: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let taken = Arc::new(AtomicUsize::new(0));
        let (flag, count) = (stop.clone(), taken.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut peak, mut samples) = (0, 0);
            while !flag.load(Ordering::Acquire) {
                tick.tick().await;
                // The listed count bounds the open one: the client ends
                // (`/proc/net/tcp`, slow with many sockets) are read only
                // when it could raise the peak.
                if server.listed_sessions().await > peak {
                    peak = peak.max(server.sessions().await);
                }
                samples += 1;
                count.store(samples, Ordering::Release);
            }
            server.close().await;
            (peak, samples)
        });
        Self { stop, taken, task }
    }

    /// A live count of the samples taken so far, for a workload that must
    /// last until the sampler has seen enough of it: a loaded machine can
    /// delay the sampler's ticks past a fixed amount of work.
    pub fn taken(&self) -> Arc<AtomicUsize> {
        self.taken.clone()
    }

    /// The highest count seen and the number of samples.
    pub async fn finish(self) -> (i64, usize) {
        self.stop.store(true, Ordering::Release);
        self.task.await.expect("sampler task")
    }
}

/// What one operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A plain insert through the router.
    Insert,
    /// `begin`, insert, `commit`.
    Commit,
    /// `begin`, insert, `rollback`.
    Rollback,
    /// `begin`, insert, then the transaction is dropped.
    DropTxn,
    /// `transaction(|txn| insert)`.
    Closure,
    /// `note::Entity::find().stream(&db)`, read to the end.
    Stream,
    /// One of `common::session_attacks`, aimed at another tenant's schema
    /// (schema tenants only; their database needs `session_attacks::SETUP`).
    Attack,
    /// One of `common::session_attacks::ROWS`, aimed at another row tenant's
    /// id (its database needs `session_attacks::ROW_SETUP`).
    RowAttack,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Insert,
        Kind::Commit,
        Kind::Rollback,
        Kind::DropTxn,
        Kind::Closure,
        Kind::Stream,
    ];
}

/// What the operation's row may be afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The insert or the commit returned `Ok`: the row must be there.
    Acked,
    /// Rolled back, or stopped before `commit` was called: the row must not be there.
    MustNotExist,
    /// Cancelled or failed during the autocommit insert or during `commit`.
    Unknown,
    /// A read: no row of its own.
    Read,
}

const NOTHING_SENT: u8 = 0;
const IN_DOUBT: u8 = 1;
const ACKED: u8 = 2;

#[derive(Clone)]
pub struct Op {
    pub n: usize,
    pub tenant: String,
    pub kind: Kind,
    /// `None`: never cancelled.
    pub limit: Option<Duration>,
}

impl Op {
    pub fn body(&self) -> String {
        format!("op-{}", self.n)
    }
}

#[derive(Debug)]
pub struct Report {
    pub outcome: Outcome,
    pub cancelled: bool,
    pub error: Option<String>,
    /// Rows of another tenant seen by a stream: `(owner, body)`.
    pub foreign: Vec<(String, String)>,
}

/// A plan of `count` operations over `tenants`, `no_limit_one_in` of them never cancelled,
/// the others cancelled after a random 0..`max_limit`.
pub fn plan(
    rng: &mut Rng,
    count: usize,
    tenants: &[String],
    kinds: &[Kind],
    max_limit: Duration,
    no_limit_one_in: u64,
) -> Vec<Op> {
    (0..count)
        .map(|n| Op {
            n,
            tenant: tenants[rng.below(tenants.len() as u64) as usize].clone(),
            kind: kinds[rng.below(kinds.len() as u64) as usize],
            limit: (rng.below(no_limit_one_in) != 0)
                .then(|| Duration::from_micros(rng.below(max_limit.as_micros() as u64 + 1))),
        })
        .collect()
}

fn row(owner: &str, body: String) -> note::ActiveModel {
    note::ActiveModel {
        owner: Set(owner.to_owned()),
        body: Set(body),
        ..Default::default()
    }
}

/// Runs one operation inside `with_tenant`, the whole of it under the op's timeout.
pub async fn run_op(store: &TenantConnections, db: &TenantDb, op: &Op) -> Report {
    let stage = Arc::new(AtomicU8::new(NOTHING_SENT));
    let foreign = Mutex::new(Vec::new());
    let tenant = op.tenant.as_str();
    let work = async {
        match op.kind {
            Kind::Insert => {
                stage.store(IN_DOUBT, Ordering::SeqCst);
                row(tenant, op.body()).insert(db).await?;
                stage.store(ACKED, Ordering::SeqCst);
            }
            Kind::Commit => {
                let txn = db.begin().await?;
                row(tenant, op.body()).insert(&txn).await?;
                stage.store(IN_DOUBT, Ordering::SeqCst);
                txn.commit().await?;
                stage.store(ACKED, Ordering::SeqCst);
            }
            Kind::Rollback => {
                let txn = db.begin().await?;
                row(tenant, op.body()).insert(&txn).await?;
                txn.rollback().await?;
            }
            Kind::DropTxn => {
                let txn = db.begin().await?;
                row(tenant, op.body()).insert(&txn).await?;
                drop(txn);
            }
            Kind::Closure => {
                let (stage2, owner, body) = (stage.clone(), tenant.to_owned(), op.body());
                db.transaction::<_, (), DbErr>(move |txn| {
                    Box::pin(async move {
                        row(&owner, body).insert(txn).await?;
                        // From here on the closure returns Ok and SeaORM commits.
                        stage2.store(IN_DOUBT, Ordering::SeqCst);
                        Ok(())
                    })
                })
                .await
                .map_err(|e| match e {
                    sea_orm::TransactionError::Connection(e) => e,
                    sea_orm::TransactionError::Transaction(e) => e,
                })?;
                stage.store(ACKED, Ordering::SeqCst);
            }
            Kind::Attack => {
                let attacks = crate::common::session_attacks::ALL;
                let target = if tenant == "t00" { "t01" } else { "t00" };
                let sql = attacks[op.n % attacks.len()].sql(&format!("\"s_{target}\""), op.n);
                // Refused or not, it must change nothing for later calls.
                let _ = db.execute_unprepared(&sql).await;
            }
            Kind::RowAttack => {
                let attacks = crate::common::session_attacks::ROWS;
                let target = if tenant == "t00" { "t01" } else { "t00" };
                let sql = attacks[op.n % attacks.len()].sql(target, op.n);
                let _ = db.execute_unprepared(&sql).await;
            }
            Kind::Stream => {
                let mut rows = note::Entity::find().stream(db).await?;
                while let Some(r) = rows.next().await {
                    let r = r?;
                    if r.owner != tenant {
                        foreign.lock().unwrap().push((r.owner, r.body));
                    }
                }
            }
        }
        Ok::<(), DbErr>(())
    };
    let done = within(op.limit, store.with_tenant(tenant, work)).await;
    let (cancelled, error) = match done {
        None => (true, None),
        Some(Err(e)) => (false, Some(format!("with_tenant: {e}"))),
        Some(Ok(Err(e))) => (false, Some(describe(&e))),
        Some(Ok(Ok(()))) => (false, None),
    };
    let outcome = match (op.kind, stage.load(Ordering::SeqCst)) {
        (Kind::Stream | Kind::Attack | Kind::RowAttack, _) => Outcome::Read,
        (Kind::Rollback | Kind::DropTxn, _) => Outcome::MustNotExist,
        (_, ACKED) => Outcome::Acked,
        (_, IN_DOUBT) => Outcome::Unknown,
        _ => Outcome::MustNotExist,
    };
    Report {
        outcome,
        cancelled,
        error,
        foreign: foreign.into_inner().unwrap(),
    }
}

fn describe(e: &DbErr) -> String {
    match TenantError::from_db_err(e) {
        Some(t) => format!("TenantError::{t:?}"),
        None => e.to_string(),
    }
}

/// Runs the plan with `workers` concurrent workers taking operations in order.
pub async fn run_plan(
    store: &TenantConnections,
    plan: Arc<Vec<Op>>,
    workers: usize,
    after_each: Arc<dyn Fn() + Send + Sync>,
) -> Vec<Report> {
    let next = Arc::new(AtomicUsize::new(0));
    let results: Arc<Mutex<Vec<Option<Report>>>> =
        Arc::new(Mutex::new((0..plan.len()).map(|_| None).collect()));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (store, plan, next, results, after_each) = (
                store.clone(),
                plan.clone(),
                next.clone(),
                results.clone(),
                after_each.clone(),
            );
            tokio::spawn(async move {
                let db = store.db();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(op) = plan.get(i) else { break };
                    let report = run_op(&store, &db, op).await;
                    results.lock().unwrap()[i] = Some(report);
                    after_each();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("worker panicked");
    }
    let results = std::mem::take(&mut *results.lock().unwrap());
    results
        .into_iter()
        .map(|r| r.expect("every op ran"))
        .collect()
}

/// A summary line: outcomes and errors per kind.
pub fn summary(plan: &[Op], reports: &[Report]) -> String {
    let mut per: HashMap<(Kind, &'static str), usize> = HashMap::new();
    for (op, r) in plan.iter().zip(reports) {
        let what = match (r.cancelled, &r.error, r.outcome) {
            (true, _, _) => "cancelled",
            (_, Some(_), _) => "error",
            _ => "ok",
        };
        *per.entry((op.kind, what)).or_default() += 1;
    }
    let mut lines: Vec<String> = per
        .into_iter()
        .map(|((k, w), n)| format!("{k:?}/{w}={n}"))
        .collect();
    lines.sort();
    lines.join(" ")
}

/// Reads every tenant's database directly and checks each row against the plan.
/// Returns the violations found.
pub async fn verify(
    dbs: &TestDatabases,
    tenants: &[String],
    plan: &[Op],
    reports: &[Report],
) -> Vec<String> {
    let mut found = Vec::new();
    for t in tenants {
        for (owner, body) in rows_direct(dbs, t).await {
            found.push((t.clone(), owner, body));
        }
    }
    verify_rows(&found, plan, reports)
}

/// Checks rows read back directly, each as `(tenant it was found under,
/// owner, body)`, against the plan. Returns the violations found.
pub fn verify_rows(
    found: &[(String, String, String)],
    plan: &[Op],
    reports: &[Report],
) -> Vec<String> {
    let mut violations = Vec::new();
    let mut seen: HashMap<usize, Vec<String>> = HashMap::new();
    for (t, owner, body) in found {
        let Some(n) = body
            .strip_prefix("op-")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            violations.push(format!("unexpected row {body:?} (owner {owner}) in {t}"));
            continue;
        };
        if owner != t {
            violations.push(format!("row {body} owned by {owner} is in {t}'s data"));
        }
        if plan[n].tenant != *t {
            violations.push(format!(
                "row {body} of tenant {} is in {t}'s data",
                plan[n].tenant
            ));
        }
        seen.entry(n).or_default().push(t.clone());
    }
    for (op, r) in plan.iter().zip(reports) {
        let found = seen.get(&op.n).map(Vec::len).unwrap_or(0);
        let how = format!(
            "{:?}, {}",
            op.kind,
            match (&r.error, r.cancelled) {
                (Some(e), _) => format!("failed: {e}"),
                (None, true) => format!("cancelled after {:?}", op.limit.unwrap_or_default()),
                (None, false) => "completed".to_owned(),
            }
        );
        match r.outcome {
            Outcome::Acked if found != 1 => violations.push(format!(
                "ACKED op-{} ({how}) found {found} times (expected once in {})",
                op.n, op.tenant
            )),
            Outcome::MustNotExist if found != 0 => violations.push(format!(
                "MUST_NOT_EXIST op-{} ({how}) is present in {:?}",
                op.n,
                seen.get(&op.n)
            )),
            Outcome::Unknown if found > 1 => {
                violations.push(format!("op-{} ({how}) found {found} times", op.n))
            }
            Outcome::Read if found != 0 => violations.push(format!("read op-{} left a row", op.n)),
            _ => {}
        }
        for (owner, body) in &r.foreign {
            violations.push(format!(
                "stream op-{} in {} saw {body} of {owner}",
                op.n, op.tenant
            ));
        }
    }
    violations
}

/// Panics listing the first violations, if any.
pub fn assert_no_violations(what: &str, violations: &[String]) {
    if violations.is_empty() {
        return;
    }
    let shown: Vec<_> = violations.iter().take(15).cloned().collect();
    panic!(
        "{what}: {} violation(s), first {}:\n  {}",
        violations.len(),
        shown.len(),
        shown.join("\n  ")
    );
}
