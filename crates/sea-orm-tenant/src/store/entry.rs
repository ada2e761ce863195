//! A registered tenant's entry: its configuration, the state of its pool
//! (open or not, calls in flight), its placement and its counters.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sea_orm::DbBackend;

use super::heat::Heat;
use super::held::Hold;
use super::opening::Opening;
use super::signal::Signal;
use crate::config::TenantConfig;
use crate::key::TenantKey;
use crate::lock::lock;
use crate::pool::budget::ServerBudget;
use crate::pool::opened::OpenPool;
use crate::pool::seat::{Seat, SeatKind};

/// One registered tenant and the state of its pool.
///
/// In declaration order (`repr(C)`): what every lease writes comes first,
/// within the cache line of the `Arc`'s reference counts, which a lease
/// writes too; the per-query counters come last, after the configuration.
/// A lease and its drop then write one line of the entry, and the flags
/// every request reads are on lines that requests do not write.
#[repr(C)]
pub(crate) struct Tenant {
    /// Leases alive: raised under the slot's lock (eviction reads it there),
    /// lowered without it when a lease drops.
    pub(super) in_flight: AtomicUsize,
    /// Nanoseconds since the store started, at the last lease: how long the
    /// pool has been unused (idle eviction, cold pools for growth).
    pub(crate) last_used: AtomicU64,
    pub(super) slot: Mutex<Slot>,
    pub(crate) key: TenantKey,
    pub(crate) store_id: u64,
    pub(crate) backend: DbBackend,
    /// The database server's budget; `None` for SQLite.
    pub(crate) server: Option<Arc<ServerBudget>>,
    /// Single-flight opening of the pool.
    pub(crate) opening: Opening,
    /// A larger pool is being opened to replace this one's ([`super::growth`]).
    pub(super) growing: AtomicBool,
    removed: AtomicBool,
    /// Out of service: requests are refused (the reason is in `service`).
    out_of_service: AtomicBool,
    /// Why the tenant is out of service.
    service: Mutex<Option<String>>,
    /// Held for a move: new leases wait.
    pub(super) hold: Hold,
    /// Woken when the last lease of this tenant ends.
    pub(crate) idle: Arc<Signal>,
    /// For a schema or row tenant: its database's entry, which owns the
    /// shared pool, and its seat there. Its own slot then stays empty.
    pub(crate) placement: Option<SharedPlacement>,
    /// For a shared database's entry: the kind of its tenants (its pool
    /// parks connections per seat).
    pub(crate) shared_by: Option<SeatKind>,
    pub(crate) config: TenantConfig,
    /// Routed calls and their failures, for per-tenant statistics.
    pub(crate) queries: AtomicU64,
    pub(crate) errors: AtomicU64,
}

/// Where a schema or row tenant lives.
pub(crate) struct SharedPlacement {
    pub(crate) database: Arc<Tenant>,
    pub(crate) seat: Seat,
}

/// The pool, when open, and how much it has been used lately.
#[derive(Default)]
#[repr(C)]
pub(super) struct Slot {
    /// Its leases lately: the coldest idle pool is closed first to make room.
    pub(super) heat: Heat,
    pub(super) pool: Option<OpenPool>,
}

impl Tenant {
    pub(crate) fn new(
        key: TenantKey,
        store_id: u64,
        backend: DbBackend,
        config: TenantConfig,
        server: Option<Arc<ServerBudget>>,
        idle: Arc<Signal>,
    ) -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            key,
            store_id,
            backend,
            config,
            server,
            slot: Mutex::default(),
            opening: Opening::default(),
            growing: AtomicBool::new(false),
            last_used: AtomicU64::new(0),
            queries: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            removed: AtomicBool::new(false),
            out_of_service: AtomicBool::new(false),
            service: Mutex::new(None),
            hold: Hold::default(),
            idle,
            placement: None,
            shared_by: None,
        }
    }

    /// This entry with its server's budget.
    pub(crate) fn on_server(mut self, server: Option<Arc<ServerBudget>>) -> Self {
        self.server = server;
        self
    }

    /// This entry as a tenant placed on `seat` in `database`.
    pub(crate) fn placed(mut self, database: Arc<Tenant>, seat: Seat) -> Self {
        self.placement = Some(SharedPlacement { database, seat });
        self
    }

    /// This entry as a shared database's, whose pool its tenants (of `kind`) share.
    pub(crate) fn shared_by(mut self, kind: SeatKind) -> Self {
        self.shared_by = Some(kind);
        self
    }

    pub(crate) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    pub(crate) fn mark_removed(&self) {
        self.removed.store(true, Ordering::Release);
        // Held leases look for the entry that replaces this one.
        self.hold.wake();
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Calls in flight and how much the pool has been used lately, at `now`.
    pub(crate) fn in_flight_and_heat(&self, now: u64) -> (usize, f64) {
        let slot = lock(&self.slot);
        (self.in_flight(), slot.heat.at_time(now))
    }

    /// Takes the pool out if no call is using it.
    pub(crate) fn take_if_idle(&self) -> Option<OpenPool> {
        let mut slot = lock(&self.slot);
        // Leases are taken under this lock: none can start meanwhile.
        if self.in_flight() == 0 {
            slot.pool.take()
        } else {
            None
        }
    }

    /// Takes the pool out even if calls are using it (they keep their clones).
    pub(crate) fn take(&self) -> Option<OpenPool> {
        lock(&self.slot).pool.take()
    }

    /// Whether the pool this tenant uses is open now.
    pub(crate) fn is_open(&self) -> bool {
        match &self.placement {
            Some(p) => p.database.is_open(),
            None => lock(&self.slot).pool.is_some(),
        }
    }

    /// Whether closing the pool to make room or when idle loses nothing: an
    /// in-memory SQLite database vanishes with its pool, so it is never evicted.
    pub(crate) fn is_evictable(&self) -> bool {
        !self.config.is_sqlite_memory()
    }

    /// What a freshly opened pool of `size` connections may grow to
    /// ([`super::growth`]): a server tenant of its own whose pool size is not
    /// configured grows up to the built-in size, within the `budget`.
    pub(crate) fn grows_to(&self, size: u32, budget: usize) -> u32 {
        let elastic = self.server.is_some()
            && self.placement.is_none()
            && self.shared_by.is_none()
            && self.config.pool.max_connections.is_none();
        if !elastic {
            return size;
        }
        let most = self.config.pool.effective_max_connections(self.backend);
        most.min(budget.max(1) as u32).max(size)
    }

    /// Whether this tenant's pool counts against `server`'s budget.
    pub(crate) fn is_on(&self, server: &Arc<ServerBudget>) -> bool {
        self.server.as_ref().is_some_and(|s| Arc::ptr_eq(s, server))
    }

    /// Waits until no lease of this tenant is alive.
    pub(crate) async fn wait_idle(&self) {
        let watching = self.idle.watch();
        loop {
            let notified = watching.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Tenant {
    /// Counts a routed call and its failure in the tenant's statistics.
    pub(crate) fn count<T, E>(&self, result: &Result<T, E>) {
        self.queries.fetch_add(1, Ordering::Relaxed);
        if result.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Tenant {
    /// The key naming a schema database's entry in logs: `db-` and the database's
    /// name, reduced to what a key allows.
    pub(super) fn database_key(config: &TenantConfig) -> TenantKey {
        let name: String = url::Url::parse(config.url())
            .ok()
            .map(|u| u.path().trim_start_matches('/').to_ascii_lowercase())
            .unwrap_or_default()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(60)
            .collect();
        let key = if name.is_empty() {
            // A server's pool (database tenants sharing it).
            "server".to_owned()
        } else {
            format!("db-{name}")
        };
        TenantKey::new(key)
            .or_else(|_| TenantKey::new("db"))
            .expect("`db` is a valid key")
    }
}

/// Out of service: one flag read on every request, the reason kept beside it.
impl Tenant {
    /// Takes the tenant out of service (`Some(reason)`) or back in (`None`);
    /// returns whether it was out.
    pub(crate) fn set_out_of_service(&self, reason: Option<String>) -> bool {
        let mut service = lock(&self.service);
        self.out_of_service
            .store(reason.is_some(), Ordering::Release);
        std::mem::replace(&mut *service, reason).is_some()
    }

    /// Why the tenant is out of service, if it is.
    pub(crate) fn out_of_service(&self) -> Option<String> {
        if !self.out_of_service.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.service).clone()
    }
}
