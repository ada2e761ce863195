//! The per-server connection budget: at no instant does the process hold more
//! connections to one database server (`host:port`) than its budget, counting
//! every tenant pool on it, the shared database and migration sessions.
//!
//! Admission is per pool, as in ros-apartment v4: a pool takes as many permits
//! as its `max_connections` when it opens and gives them back when its close
//! has finished (sqlx keeps idle connections without a permit of its own, so a
//! semaphore around acquires would not bound open sockets). Permits are handed
//! out first come, first served (tokio's semaphore is fair), so a tenant
//! waiting for room is never starved by others; while it waits, the least
//! recently used idle pools on the same server are closed to make room.
//!
//! The budget of a server is, in order: its `[servers."host:port"]
//! max_connections`; the store's `server_max_connections`; or derived from the
//! server on first use: (`max_connections` − `superuser_reserved_connections`
//! on PostgreSQL, `@@max_connections` on MySQL/MariaDB) × 80 %, leaving a fifth
//! for other clients (psql, cron jobs, replicas), divided by `instances`.
//! SQLite files are not a server: `max_open_pools` bounds them.
//!
//! A server tenant whose pool size (`max_connections`) is not configured opens
//! with a fair share of its server's budget, `budget / tenants on the server`,
//! between 1 and 5: one hot tenant gets 5 connections, 150 tenants on a budget
//! of 60 get one each, so 60 of them stay open instead of 12. Under load, such
//! a pool grows up to 5 while the budget has room nobody waits for
//! (`store::growth`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tokio::sync::{OnceCell, Semaphore};

use super::opener::open_pool;
use crate::config::{ServerOptions, TenantConfig};
use crate::lock::lock;

/// Share of a server's connections a derived budget takes, in percent.
const DERIVED_SHARE_PERCENT: u64 = 80;
/// Budget used when the server cannot tell its limit.
const FALLBACK_BUDGET: u32 = 20;
/// How long the probe's connection may take to close.
const PROBE_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A database server as named in connection URLs: `host:port`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerKey(String);

impl ServerKey {
    /// The server of a PostgreSQL or MySQL URL; `None` for SQLite and URLs
    /// without a host.
    pub fn of(config: &TenantConfig, backend: DbBackend) -> Option<Self> {
        let default_port = match backend {
            DbBackend::Postgres => 5432,
            DbBackend::MySql => 3306,
            _ => return None,
        };
        let url = url::Url::parse(config.url()).ok()?;
        let host = match url.host_str() {
            Some(host) if !host.is_empty() => host.to_ascii_lowercase(),
            // A Unix socket given as `?host=/path`.
            _ => url
                .query_pairs()
                .find(|(k, _)| k == "host" || k == "socket")
                .map(|(_, v)| v.into_owned())?,
        };
        Some(Self(format!(
            "{host}:{}",
            url.port().unwrap_or(default_port)
        )))
    }

    /// `host:port`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Every server's budget, created on first use.
pub(crate) struct Budgets {
    configured: BTreeMap<String, ServerOptions>,
    default_max: Option<u32>,
    instances: u32,
    servers: Mutex<HashMap<ServerKey, Arc<ServerBudget>>>,
}

impl Budgets {
    pub(crate) fn new(
        configured: BTreeMap<String, ServerOptions>,
        default_max: Option<u32>,
        instances: Option<u32>,
    ) -> Self {
        Self {
            configured,
            default_max,
            instances: instances.unwrap_or(1),
            servers: Mutex::default(),
        }
    }

    /// The budget of the server `config` connects to, if it is a server.
    pub(crate) fn server_for(
        &self,
        config: &TenantConfig,
        backend: DbBackend,
    ) -> Option<Arc<ServerBudget>> {
        let key = ServerKey::of(config, backend)?;
        let mut servers = lock(&self.servers);
        let budget = servers.entry(key.clone()).or_insert_with(|| {
            let fixed = self
                .configured
                .get(key.as_str())
                .and_then(|s| s.max_connections)
                .or(self.default_max);
            Arc::new(ServerBudget {
                key,
                fixed,
                instances: self.instances,
                semaphore: OnceCell::new(),
                limit: AtomicUsize::new(0),
                waiting: AtomicUsize::new(0),
                closing: AtomicUsize::new(0),
                tenants: AtomicUsize::new(0),
                waited_nanos: AtomicU64::new(0),
                waits: AtomicU64::new(0),
                refusals: AtomicU64::new(0),
            })
        });
        Some(Arc::clone(budget))
    }

    /// Every server's figures, sorted by server.
    pub(crate) fn stats(&self) -> Vec<ServerStats> {
        let mut stats: Vec<_> = lock(&self.servers).values().map(|s| s.stats()).collect();
        stats.sort_by(|a, b| a.server.cmp(&b.server));
        stats
    }
}

/// One server's budget.
pub(crate) struct ServerBudget {
    pub(crate) key: ServerKey,
    fixed: Option<u32>,
    instances: u32,
    semaphore: OnceCell<Arc<Semaphore>>,
    limit: AtomicUsize,
    /// Callers waiting for permits now.
    pub(crate) waiting: AtomicUsize,
    /// Pools on this server being closed now.
    pub(crate) closing: AtomicUsize,
    /// Tenants registered on this server: the default pool size is a fair share.
    pub(crate) tenants: AtomicUsize,
    waited_nanos: AtomicU64,
    waits: AtomicU64,
    refusals: AtomicU64,
}

impl ServerBudget {
    /// The semaphore, creating it on first use (asking the server for its
    /// limit through `config` when no budget is configured).
    pub(crate) async fn semaphore(&self, config: &TenantConfig) -> Arc<Semaphore> {
        let semaphore = self
            .semaphore
            .get_or_init(|| async {
                let limit = match self.fixed {
                    Some(n) => n,
                    None => self.derive(config).await,
                };
                self.limit.store(limit as usize, Ordering::Relaxed);
                tracing::info!(server = %self.key, budget = limit, "connection budget");
                Arc::new(Semaphore::new(limit as usize))
            })
            .await;
        Arc::clone(semaphore)
    }

    /// The semaphore, if the budget is known already.
    pub(crate) fn semaphore_if_known(&self) -> Option<Arc<Semaphore>> {
        self.semaphore.get().cloned()
    }

    /// The derived budget: see the module docs.
    async fn derive(&self, config: &TenantConfig) -> u32 {
        match server_max_connections(config).await {
            Ok(max) => {
                let share = (max * DERIVED_SHARE_PERCENT / 100) / u64::from(self.instances);
                share.clamp(1, u64::from(u32::MAX)) as u32
            }
            Err(reason) => {
                tracing::warn!(server = %self.key, %reason, "cannot read the server's connection limit; budget {FALLBACK_BUDGET}");
                FALLBACK_BUDGET
            }
        }
    }

    /// The budget, once known (0 before first use).
    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    pub(crate) fn record_wait(&self, waited: Duration) {
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.waited_nanos
            .fetch_add(waited.as_nanos() as u64, Ordering::Relaxed);
    }

    pub(crate) fn record_refusal(&self) {
        self.refusals.fetch_add(1, Ordering::Relaxed);
    }

    fn stats(&self) -> ServerStats {
        let budget = self.limit.load(Ordering::Relaxed);
        let available = self
            .semaphore
            .get()
            .map(|s| s.available_permits())
            .unwrap_or(budget);
        ServerStats {
            server: self.key.clone(),
            budget,
            in_use: budget.saturating_sub(available),
            waiting: self.waiting.load(Ordering::Relaxed),
            waits: self.waits.load(Ordering::Relaxed),
            waited: Duration::from_nanos(self.waited_nanos.load(Ordering::Relaxed)),
            refusals: self.refusals.load(Ordering::Relaxed),
        }
    }
}

/// Asks the server how many client connections it takes, on one connection
/// opened by the opener like every other. It is the process's only
/// connection to the server at that moment: every other waits for the budget
/// this sizes.
async fn server_max_connections(config: &TenantConfig) -> Result<u64, String> {
    let backend = config.backend_for("budget").map_err(|e| e.to_string())?;
    let conn = open_pool(config, backend, 1, PROBE_CLOSE_TIMEOUT).await?;
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT CAST(current_setting('max_connections') AS BIGINT) \
             - CAST(current_setting('superuser_reserved_connections') AS BIGINT) AS n"
        }
        _ => "SELECT CAST(@@max_connections AS SIGNED) AS n",
    };
    let row = conn
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .map_err(|e| e.to_string());
    let _ = conn.close().await;
    row?.and_then(|r| r.try_get::<i64>("", "n").ok())
        .map(|n| n.max(1) as u64)
        .ok_or_else(|| "no answer".to_owned())
}

/// One database server's connection budget and use; see
/// [`TenantConnections::server_stats`](crate::TenantConnections::server_stats).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// `host:port`.
    pub server: ServerKey,
    /// Most connections this process may hold to the server (0 until first use).
    pub budget: usize,
    /// Connections counted against the budget now (pool maximums and sessions).
    pub in_use: usize,
    /// Callers waiting for room now.
    pub waiting: usize,
    /// Callers that had to wait for room.
    pub waits: u64,
    /// Their total waiting time.
    pub waited: Duration,
    /// Callers refused after waiting the acquire timeout.
    pub refusals: u64,
}
