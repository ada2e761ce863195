//! The many-databases scenario shared by `tests/scale.rs` and `bench-scale`:
//! throw-away databases on one PostgreSQL or MariaDB server (created and dropped
//! a few at a time), a `tenants.toml` with a per-server connection budget, and a
//! background [`Sampler`] that counts the server's sessions on those databases
//! and checks that a plain new connection (what `psql` would open) still gets in.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use sea_orm_tenant::sea_orm::sqlx::{self, Connection as _};
use sea_orm_tenant::sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
};

use crate::config::TenantsToml;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// How long a probe connection may take before it counts as refused.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The kind of database server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// PostgreSQL (`TEST_POSTGRES_URL`).
    Postgres,
    /// MySQL or MariaDB (`TEST_MYSQL_URL`).
    MySql,
}

impl ServerKind {
    /// The environment variable naming the admin URL.
    pub fn env_var(self) -> &'static str {
        match self {
            Self::Postgres => "TEST_POSTGRES_URL",
            Self::MySql => "TEST_MYSQL_URL",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Self::Postgres => 5432,
            Self::MySql => 3306,
        }
    }

    fn backend(self) -> DbBackend {
        match self {
            Self::Postgres => DbBackend::Postgres,
            Self::MySql => DbBackend::MySql,
        }
    }

    fn quote(self, name: &str) -> String {
        match self {
            Self::Postgres => format!("\"{name}\""),
            Self::MySql => format!("`{name}`"),
        }
    }

    fn drop_sql(self, name: &str) -> String {
        match self {
            Self::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.quote(name)),
            Self::MySql => format!("DROP DATABASE IF EXISTS {}", self.quote(name)),
        }
    }
}

/// `t000`, `t001`, ...: `count` tenant names of equal length, so that no name
/// followed by `:` is a prefix of another.
pub fn tenant_names(count: usize) -> Vec<String> {
    let width = count.saturating_sub(1).max(1).to_string().len().max(3);
    (0..count).map(|i| format!("t{i:0width$}")).collect()
}

/// Uniquely named throw-away databases on one server, one per tenant. Dropped by
/// [`drop_all`](Self::drop_all), or on drop (a test that panicked first).
#[derive(Debug)]
pub struct ServerDatabases {
    kind: ServerKind,
    admin_url: String,
    prefix: String,
    created: Vec<String>,
}

impl ServerDatabases {
    /// Databases on the server of `TEST_POSTGRES_URL`, or `None` with a notice.
    pub fn postgres() -> Option<Self> {
        Self::from_env(ServerKind::Postgres)
    }

    /// Databases on the server of `TEST_MYSQL_URL`, or `None` with a notice.
    pub fn mysql() -> Option<Self> {
        Self::from_env(ServerKind::MySql)
    }

    fn from_env(kind: ServerKind) -> Option<Self> {
        match std::env::var(kind.env_var()) {
            Ok(url) if !url.is_empty() => Some(Self::new(kind, &url)),
            _ => {
                eprintln!(
                    "notice: {} is not set; skipping this {kind:?} test",
                    kind.env_var()
                );
                None
            }
        }
    }

    /// Databases on the server of `admin_url` (a URL naming an existing database
    /// the user may create databases from), with a prefix unique to this run.
    pub fn new(kind: ServerKind, admin_url: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let prefix = format!(
            "scale_{}_{}_{}",
            std::process::id(),
            nanos % 100_000,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        Self {
            kind,
            admin_url: admin_url.to_owned(),
            prefix,
            created: Vec::new(),
        }
    }

    /// The kind of server.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// The admin URL.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// The prefix of every database name this set creates.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The server as `host:port`, as written in the tenant URLs (the key of its
    /// `[servers."host:port"]` table).
    pub fn server_key(&self) -> String {
        let url = reqwest::Url::parse(&self.admin_url).expect("admin URL parses");
        format!(
            "{}:{}",
            url.host_str().expect("admin URL has a host"),
            url.port().unwrap_or(self.kind.default_port())
        )
    }

    /// The physical database name of `tenant`.
    pub fn database_name(&self, tenant: &str) -> String {
        format!("{}_{}", self.prefix, tenant.replace('-', "_"))
    }

    /// The URL of `tenant`'s database.
    pub fn url(&self, tenant: &str) -> String {
        let mut url = reqwest::Url::parse(&self.admin_url).expect("admin URL parses");
        url.set_path(&format!("/{}", self.database_name(tenant)));
        url.to_string()
    }

    /// A pool of at most `connections` connections to the admin database, kept
    /// open (no idle timeout) so that it keeps working when the server is full.
    pub async fn admin(&self, connections: u32) -> Result<DatabaseConnection, DbErr> {
        admin_pool(&self.admin_url, connections).await
    }

    /// Creates one empty database per tenant, `concurrency` at a time. Panics on
    /// failure; the databases are dropped on drop anyway.
    pub async fn create(&mut self, tenants: &[String], concurrency: usize) {
        let names: Vec<String> = tenants.iter().map(|t| self.database_name(t)).collect();
        // Recorded first: whatever happens next, drop removes them (IF EXISTS).
        self.created.extend(names.iter().cloned());
        let admin = self
            .admin(concurrency.max(1) as u32)
            .await
            .expect("connect to the test server");
        let kind = self.kind;
        let results: Vec<Result<(), String>> = stream::iter(names)
            .map(|name| {
                let admin = &admin;
                async move {
                    admin
                        .execute_unprepared(&format!("CREATE DATABASE {}", kind.quote(&name)))
                        .await
                        .map(drop)
                        .map_err(|e| format!("CREATE DATABASE {name}: {e}"))
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        admin.close().await.ok();
        let failed: Vec<String> = results.into_iter().filter_map(Result::err).collect();
        assert!(failed.is_empty(), "creating databases failed: {failed:?}");
    }

    /// Creates one database (`{prefix}_schemas`) holding an empty schema
    /// `{schema_prefix}{tenant}` per tenant, created in batches of one
    /// multi-statement round trip each; returns the database's URL.
    pub async fn create_schema_database(
        &mut self,
        tenants: &[String],
        schema_prefix: &str,
    ) -> String {
        let name = self.database_name("schemas");
        self.created.push(name.clone());
        let admin = self.admin(1).await.expect("connect to the test server");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {}", self.kind.quote(&name)))
            .await
            .expect("CREATE DATABASE for the schemas");
        admin.close().await.ok();
        let url = self.url("schemas");
        let db = admin_pool(&url, 1)
            .await
            .expect("connect to the schema database");
        for chunk in tenants.chunks(1_000) {
            let sql: Vec<String> = chunk
                .iter()
                .map(|t| format!("CREATE SCHEMA \"{schema_prefix}{t}\""))
                .collect();
            db.execute_unprepared(&sql.join(";"))
                .await
                .expect("CREATE SCHEMA batch");
        }
        db.close().await.ok();
        url
    }

    /// A `tenants.toml` listing `tenants` (databases made by [`create`](Self::create))
    /// with `[servers."host:port"] max_connections = budget`.
    pub fn tenants_toml(&self, tenants: &[String], budget: u32) -> TenantsToml {
        let mut toml = TenantsToml::new().server_option(
            &self.server_key(),
            "max_connections",
            &budget.to_string(),
        );
        for tenant in tenants {
            toml = toml.tenant(tenant, &self.url(tenant));
        }
        toml
    }

    /// The SQL counting the server's sessions on this set's databases.
    pub fn count_sessions_sql(&self) -> String {
        // `_` is a LIKE wildcard: escape it (backslash is the default escape in both).
        let pattern = self.prefix.replace('_', "\\_");
        match self.kind {
            ServerKind::Postgres => format!(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname LIKE '{pattern}%'"
            ),
            ServerKind::MySql => format!(
                "SELECT count(*) AS n FROM information_schema.processlist WHERE db LIKE '{pattern}%'"
            ),
        }
    }

    /// How many sessions the server has on this set's databases now.
    pub async fn count_sessions(&self, admin: &DatabaseConnection) -> Result<i64, DbErr> {
        count_sessions(admin, self.kind.backend(), &self.count_sessions_sql()).await
    }

    /// `(id, body)` of every note in `tenant`'s database, by id, read directly
    /// over a connection of its own.
    pub async fn read_notes(&self, tenant: &str) -> Result<Vec<(i64, String)>, DbErr> {
        read_notes_at(ConnectOptions::new(self.url(tenant))).await
    }

    /// Opens one plain connection to the admin database (what `psql` or `mysql`
    /// would do), pings it and closes it: how long that took, or why it failed.
    pub async fn probe(&self) -> Result<Duration, String> {
        probe(self.kind, self.admin_url.clone()).await
    }

    /// Starts sampling, on an admin connection of its own, the number of sessions on
    /// this set's databases every `every`, and probing a plain new connection every
    /// `probe_every` if given (first after `probe_every`). Both run on a thread of their own
    /// (so a busy test runtime does not delay them) and stop at [`Sampler::stop`],
    /// or after `limit` at the latest.
    pub async fn sampler(
        &self,
        every: Duration,
        probe_every: Option<Duration>,
        limit: Duration,
    ) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let window = Arc::new(AtomicI64::new(0));
        let window_peak = Arc::clone(&window);
        let (kind, url, sql) = (self.kind, self.admin_url.clone(), self.count_sessions_sql());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
        let thread = std::thread::Builder::new()
            .name("session-sampler".to_owned())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime for the sampler");
                rt.block_on(async move {
                    let admin = match admin_pool(&url, 1).await {
                        Ok(admin) => admin,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return (Samples::default(), Vec::new());
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let started = Instant::now();
                    let probes = probe_every.map(|probe_every| {
                        tokio::spawn(probe_loop(
                            kind,
                            url,
                            probe_every,
                            started,
                            limit,
                            Arc::clone(&flag),
                        ))
                    });
                    let samples = sample_loop(
                        &admin,
                        kind.backend(),
                        &sql,
                        every,
                        (started, limit),
                        &flag,
                        &window_peak,
                    )
                    .await;
                    admin.close().await.ok();
                    let probes = match probes {
                        Some(task) => task.await.unwrap_or_default(),
                        None => Vec::new(),
                    };
                    (samples, probes)
                })
            })
            .expect("start the sampler thread");
        ready_rx
            .await
            .expect("sampler thread")
            .expect("admin connection for the sampler");
        Sampler {
            stop,
            window,
            started: Instant::now(),
            thread: Some(thread),
        }
    }

    /// Drops every database this set created, a few at a time.
    pub async fn drop_all(mut self) {
        let names = std::mem::take(&mut self.created);
        drop_databases(self.kind, &self.admin_url, names).await;
    }
}

impl Drop for ServerDatabases {
    fn drop(&mut self) {
        let names = std::mem::take(&mut self.created);
        if names.is_empty() {
            return;
        }
        let (kind, url) = (self.kind, self.admin_url.clone());
        // Dropped without `drop_all` (a panic, an interrupted benchmark): drop the
        // databases from a thread with its own runtime, since we may be inside one.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for cleanup");
            rt.block_on(drop_databases(kind, &url, names));
        })
        .join();
    }
}

/// `(id, body)` of every note in the `notes` table at `options` (its URL,
/// and its schema search path when set), by id, over a connection of its own.
pub async fn read_notes_at(mut options: ConnectOptions) -> Result<Vec<(i64, String)>, DbErr> {
    options.max_connections(1).sqlx_logging(false);
    let conn = Database::connect(options).await?;
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT id, body FROM notes ORDER BY id",
        ))
        .await;
    conn.close().await.ok();
    rows?
        .iter()
        .map(|r| {
            let id = r
                .try_get::<i64>("", "id")
                .or_else(|_| r.try_get::<i32>("", "id").map(i64::from))?;
            Ok((id, r.try_get::<String>("", "body")?))
        })
        .collect()
}

async fn admin_pool(url: &str, connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(connections)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    Database::connect(options).await
}

async fn sample_loop(
    admin: &DatabaseConnection,
    backend: DbBackend,
    sql: &str,
    every: Duration,
    (started, limit): (Instant, Duration),
    stop: &AtomicBool,
    window: &AtomicI64,
) -> Samples {
    let mut report = Samples::default();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<Instant> = None;
    while !stop.load(Ordering::Acquire) && started.elapsed() < limit {
        ticker.tick().await;
        match count_sessions(admin, backend, sql).await {
            Ok(n) => {
                let now = Instant::now();
                if let Some(last) = last {
                    report.longest_gap = report.longest_gap.max(now - last);
                }
                last = Some(now);
                report.count += 1;
                window.fetch_max(n, Ordering::AcqRel);
                if n > report.peak {
                    report.peak = n;
                    report.peak_at = started.elapsed();
                }
            }
            Err(e) => report.errors.push(e.to_string()),
        }
    }
    report
}

/// Probes every `every` (first after `every`), watching `stop` every 50 ms so
/// that a long interval does not delay [`Sampler::stop`].
async fn probe_loop(
    kind: ServerKind,
    url: String,
    every: Duration,
    started: Instant,
    limit: Duration,
    stop: Arc<AtomicBool>,
) -> Vec<Result<Duration, String>> {
    let mut results = Vec::new();
    let mut ticker = tokio::time::interval(every.min(Duration::from_millis(50)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut due = Instant::now() + every;
    loop {
        ticker.tick().await;
        if stop.load(Ordering::Acquire) || started.elapsed() >= limit {
            return results;
        }
        if Instant::now() >= due {
            results.push(probe(kind, url.clone()).await);
            due = Instant::now() + every;
        }
    }
}

async fn drop_databases(kind: ServerKind, admin_url: &str, names: Vec<String>) {
    if names.is_empty() {
        return;
    }
    const AT_ONCE: usize = 8;
    let mut options = ConnectOptions::new(admin_url.to_owned());
    options
        .max_connections(AT_ONCE as u32)
        .acquire_timeout(Duration::from_secs(60))
        .sqlx_logging(false);
    let admin = match Database::connect(options).await {
        Ok(admin) => admin,
        Err(e) => {
            eprintln!(
                "warning: cannot connect to drop {} test databases ({}...): {e}",
                names.len(),
                names[0]
            );
            return;
        }
    };
    let failures: Vec<String> = stream::iter(names)
        .map(|name| {
            let admin = &admin;
            async move {
                admin
                    .execute_unprepared(&kind.drop_sql(&name))
                    .await
                    .err()
                    .map(|e| format!("{name}: {e}"))
            }
        })
        .buffer_unordered(AT_ONCE)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    admin.close().await.ok();
    for failure in failures {
        eprintln!("warning: dropping a test database failed: {failure}");
    }
}

async fn count_sessions(
    admin: &DatabaseConnection,
    backend: DbBackend,
    sql: &str,
) -> Result<i64, DbErr> {
    let row = admin
        .query_one_raw(Statement::from_string(backend, sql.to_owned()))
        .await?
        .ok_or_else(|| DbErr::Custom("count(*) returned no row".to_owned()))?;
    row.try_get::<i64>("", "n")
}

async fn probe(kind: ServerKind, url: String) -> Result<Duration, String> {
    let started = Instant::now();
    let attempt = async {
        match kind {
            ServerKind::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&url).await?;
                conn.ping().await?;
                conn.close().await
            }
            ServerKind::MySql => {
                let mut conn = sqlx::MySqlConnection::connect(&url).await?;
                conn.ping().await?;
                conn.close().await
            }
        }
    };
    match tokio::time::timeout(PROBE_TIMEOUT, attempt).await {
        Ok(Ok(())) => Ok(started.elapsed()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no connection within {PROBE_TIMEOUT:?}")),
    }
}

#[derive(Debug, Default)]
struct Samples {
    count: usize,
    peak: i64,
    peak_at: Duration,
    longest_gap: Duration,
    errors: Vec<String>,
}

/// The background sampling of [`ServerDatabases::sampler`]; dropping it stops it.
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    /// The peak since the last [`take_peak`](Sampler::take_peak).
    window: Arc<AtomicI64>,
    started: Instant,
    thread: Option<SamplerThread>,
}

type SamplerThread = std::thread::JoinHandle<(Samples, Vec<Result<Duration, String>>)>;

impl Sampler {
    /// The largest session count sampled since the previous call (or the start),
    /// starting a new window: one sampler (one admin connection, opened while the
    /// server still had room) can measure several phases.
    pub fn take_peak(&self) -> i64 {
        self.window.swap(0, Ordering::AcqRel)
    }

    /// Stops sampling and probing (within one interval, or one probe) and reports.
    pub async fn stop(mut self) -> SamplerReport {
        self.stop.store(true, Ordering::Release);
        let duration = self.started.elapsed();
        let thread = self.thread.take().expect("sampler stopped once");
        let (samples, probes) = tokio::task::spawn_blocking(move || thread.join())
            .await
            .expect("join the sampler thread")
            .expect("sampler thread");
        SamplerReport {
            duration,
            samples: samples.count,
            peak: samples.peak,
            peak_at: samples.peak_at,
            longest_gap: samples.longest_gap,
            errors: samples.errors,
            probes,
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// What a [`Sampler`] saw.
#[derive(Debug, Clone)]
pub struct SamplerReport {
    /// How long it ran.
    pub duration: Duration,
    /// Successful samples.
    pub samples: usize,
    /// The largest session count sampled.
    pub peak: i64,
    /// When the peak was first seen, from the start of sampling.
    pub peak_at: Duration,
    /// The longest time between two successful samples.
    pub longest_gap: Duration,
    /// Failed samples.
    pub errors: Vec<String>,
    /// Each probe connection: how long it took, or why it failed.
    pub probes: Vec<Result<Duration, String>>,
}

impl SamplerReport {
    /// The probes that failed.
    pub fn failed_probes(&self) -> Vec<&str> {
        self.probes
            .iter()
            .filter_map(|p| p.as_ref().err().map(String::as_str))
            .collect()
    }

    /// One line: samples, peak, gaps, probes.
    pub fn summary(&self) -> String {
        format!(
            "{} samples in {:.1?} (longest gap {:.0?}, {} failed), peak {} sessions at {:.1?}; \
             {} probe connections, {} failed",
            self.samples,
            self.duration,
            self.longest_gap,
            self.errors.len(),
            self.peak,
            self.peak_at,
            self.probes.len(),
            self.failed_probes().len()
        )
    }
}

/// A small seeded pseudo-random generator (SplitMix64): the same seed gives the
/// same sequence on every machine.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0; the bias is negligible for small `n`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_have_equal_length() {
        assert_eq!(tenant_names(3), ["t000", "t001", "t002"]);
        let many = tenant_names(1500);
        assert!(many.iter().all(|n| n.len() == 5));
    }

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let a: Vec<usize> = {
            let mut r = SplitMix64::new(7);
            (0..100).map(|_| r.below(150)).collect()
        };
        let b: Vec<usize> = {
            let mut r = SplitMix64::new(7);
            (0..100).map(|_| r.below(150)).collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().all(|&x| x < 150));
    }

    #[test]
    fn server_key_and_urls_follow_the_admin_url() {
        let dbs = ServerDatabases::new(
            ServerKind::Postgres,
            "postgres://postgres@127.0.0.1/postgres",
        );
        assert_eq!(dbs.server_key(), "127.0.0.1:5432");
        let url = dbs.url("t001");
        assert!(
            url.starts_with("postgres://postgres@127.0.0.1/scale_"),
            "{url}"
        );
        assert!(url.ends_with("_t001"), "{url}");
        let toml = dbs.tenants_toml(&["t001".to_owned()], 60).to_toml();
        assert!(
            toml.contains("[servers.\"127.0.0.1:5432\"]\nmax_connections = 60\n"),
            "{toml}"
        );
    }
}
