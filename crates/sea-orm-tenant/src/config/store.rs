//! [`StoreOptions`]: the store-wide limits (the `[store]` table).

use std::time::Duration;

use serde::Deserialize;

/// Store-wide limits (the `[store]` table).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreOptions {
    /// At most this many tenant pools are open at once; the coldest idle pool
    /// (the fewest uses lately, each counting half as much every 10 s) is
    /// closed to make room. Default: 100.
    pub max_open_pools: Option<usize>,
    /// Close a tenant's pool when no query has used it for this long. Default: 5 min.
    #[serde(default, with = "humantime_serde")]
    pub pool_idle_timeout: Option<Duration>,
    /// How long closing a pool (eviction, removal, [`close`](crate::TenantConnections::close))
    /// waits for its connections to come back before abandoning them; also bounds the
    /// check each connection gets when it is returned to its pool. A closing pool
    /// keeps counting against `max_open_pools`. Default: 5 s.
    #[serde(default, with = "humantime_serde")]
    pub close_timeout: Option<Duration>,
    /// Connection budget of every database server without a `[servers."host:port"]`
    /// entry. Default: derived from the server (see [`crate::pool::budget`]).
    pub server_max_connections: Option<u32>,
    /// How many app instances share the database servers: a derived budget is
    /// divided by this. Default: 1.
    pub instances: Option<u32>,
    /// How long a request waits for a tenant that is
    /// [held](crate::TenantConnections::hold) (being moved) before it is
    /// refused as out of service (503). Default: 10 s.
    #[serde(default, with = "humantime_serde")]
    pub max_hold: Option<Duration>,
}

impl StoreOptions {
    /// `max_open_pools` in force (built-in default 100: at most 100 SQLite
    /// worker threads, and a bounded number of server pools, for any number of
    /// registered tenants).
    pub fn effective_max_open_pools(&self) -> usize {
        self.max_open_pools.unwrap_or(100)
    }

    /// `pool_idle_timeout` in force (built-in default 5 min: a tenant that
    /// stopped calling gives its files, threads and connections back).
    pub fn effective_pool_idle_timeout(&self) -> Duration {
        self.pool_idle_timeout.unwrap_or(Duration::from_secs(300))
    }

    /// `max_hold` in force (built-in default 10 s).
    pub fn effective_max_hold(&self) -> Duration {
        self.max_hold.unwrap_or(Duration::from_secs(10))
    }

    /// The close timeout in force (built-in default 5 s).
    pub fn effective_close_timeout(&self) -> Duration {
        self.close_timeout.unwrap_or(Duration::from_secs(5))
    }
}
