//! [`PoolOptions`]: a pool's settings, each optional, falling back to the
//! store's defaults and then to built-in ones.

use std::fmt;
use std::time::Duration;

use sea_orm::DbBackend;
use serde::Deserialize;

/// Read connections of a SQLite file in WAL mode when `sqlite_readers` is not set.
pub const DEFAULT_SQLITE_READERS: u32 = 4;

/// Pool settings. Every field is optional: unset fields fall back to the store's
/// `[defaults]`, then to the built-in defaults listed on each field.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolOptions {
    /// Most connections in one tenant's pool. Default: 1 for SQLite (one
    /// writer), 5 otherwise. When set, a server tenant's pool has this size
    /// (within its server's budget); when not, it opens with a fair share of
    /// the budget and grows up to the default under load while the budget
    /// has room (see `pool::budget`).
    pub max_connections: Option<u32>,
    /// Connections kept open while the pool is open. Default: 0.
    pub min_connections: Option<u32>,
    /// How long opening a connection may take. Default: 5 s.
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    /// How long a query may wait for a free connection. Default: 10 s.
    #[serde(default, with = "humantime_serde")]
    pub acquire_timeout: Option<Duration>,
    /// Close a connection unused for this long, so that an open pool shrinks to
    /// no idle connection. Default: 1 min. Not applied to SQLite, whose idle
    /// connections are file handles; its idle pools close as a whole
    /// (`pool_idle_timeout`).
    #[serde(default, with = "humantime_serde")]
    pub idle_timeout: Option<Duration>,
    /// Replace a connection after this long. Default: 30 min. Not applied to
    /// SQLite.
    #[serde(default, with = "humantime_serde")]
    pub max_lifetime: Option<Duration>,
    /// SQLite: wait this long for a lock instead of failing with `SQLITE_BUSY`. Default: 5 s.
    #[serde(default, with = "humantime_serde")]
    pub sqlite_busy_timeout: Option<Duration>,
    /// SQLite: use write-ahead logging with `synchronous = NORMAL` for file databases. Default: true.
    pub sqlite_wal: Option<bool>,
    /// SQLite files in WAL mode: connections of a second pool that serves
    /// statements starting with `SELECT` outside transactions, beside the
    /// pool of `max_connections` that serves everything else. WAL lets them
    /// read while the writer writes; each sees every write acknowledged before
    /// it started. 0 sends reads to the writer pool too. Default: 4 (each
    /// a thread while open; the pool grows on demand and idle ones close).
    pub sqlite_readers: Option<u32>,
    /// Log every statement through sqlx's logger. Default: false.
    pub sqlx_logging: Option<bool>,
}

/// Calls `$m!` with every `PoolOptions` field, so the list lives in one place.
macro_rules! pool_fields {
    ($m:ident) => {
        $m!(
            max_connections,
            min_connections,
            connect_timeout,
            acquire_timeout,
            idle_timeout,
            max_lifetime,
            sqlite_busy_timeout,
            sqlite_wal,
            sqlite_readers,
            sqlx_logging
        )
    };
}

impl fmt::Debug for PoolOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("PoolOptions");
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = &self.$field { d.field(stringify!($field), v); }
            )*};
        }
        pool_fields!(set);
        d.finish()
    }
}

impl PoolOptions {
    /// Fills every unset field of `self` from `fallback`.
    pub fn or(mut self, fallback: &PoolOptions) -> PoolOptions {
        macro_rules! fill {
            ($($field:ident),*) => {$( if self.$field.is_none() { self.$field = fallback.$field; } )*};
        }
        pool_fields!(fill);
        self
    }

    /// How long a connection may sit idle before it is closed (built-in default 1 min).
    pub fn effective_idle_timeout(&self) -> Duration {
        self.idle_timeout.unwrap_or(Duration::from_secs(60))
    }

    /// The connect timeout in force (built-in default 5 s).
    pub fn effective_connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(Duration::from_secs(5))
    }

    /// The pool size in force (built-in default 1 for SQLite, 5 for servers).
    pub fn effective_max_connections(&self, backend: DbBackend) -> u32 {
        self.max_connections
            .unwrap_or(if backend == DbBackend::Sqlite { 1 } else { 5 })
    }

    /// Connections of the read pool of a SQLite file in WAL mode (built-in
    /// default 4); 0 for other databases.
    pub fn effective_sqlite_readers(&self, backend: DbBackend, memory: bool) -> u32 {
        let wal = self.sqlite_wal.unwrap_or(true);
        if backend != DbBackend::Sqlite || memory || !wal {
            return 0;
        }
        self.sqlite_readers.unwrap_or(DEFAULT_SQLITE_READERS)
    }

    /// The acquire timeout in force (built-in default 10 s).
    pub fn effective_acquire_timeout(&self) -> Duration {
        self.acquire_timeout.unwrap_or(Duration::from_secs(10))
    }
}
