//! Keeping a store in step with the [`Catalog`]: loaded at start, re-read when
//! it changes, and re-read before a request for an unknown tenant is refused.
//!
//! Three ways a change reaches an instance, from fastest to surest:
//!
//! 1. PostgreSQL notifications (`LISTEN`), sent by every catalog write when it
//!    commits: usually within milliseconds. Best-effort: notifications are
//!    lost while the listening session reconnects and do not pass PgBouncer in
//!    transaction mode; a lost listening session triggers a re-read.
//! 2. A request naming a tenant the store does not know: before the store
//!    answers [`TenantError::Unknown`](crate::TenantError::Unknown), it waits
//!    for a catalog re-read that *started after* the request asked. Re-reads
//!    are single-flight (one at a time; concurrent askers share it) and at
//!    most one per `min_reread_interval`, so a flood of unknown names costs
//!    the catalog at most one read per interval, and a tenant created a
//!    moment ago on another instance is never refused.
//! 3. A poll every `poll_interval` of the catalog's generation counter (one
//!    tiny row), re-reading the rows when it moved: the bound for drops and
//!    state changes when notifications are off or lost. While a tenant is
//!    `moving`, the poll runs at least every [`MOVING_RENEW_INTERVAL`], so
//!    its live mover's renewals keep it held here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::entry::{CatalogEntry, TenantState};
use super::rows::{Catalog, CatalogError};
use crate::config::{CatalogOptions, ConfigError, MOVING_RENEW_INTERVAL};
use crate::key::TenantKey;
use crate::lock::lock;
use crate::store::Refresh;
use crate::store::TenantConnections;

/// Follows a catalog, registering its `active` and `quarantined` tenants in a
/// store and unregistering the others. Stops when dropped (all clones).
#[derive(Clone)]
pub struct CatalogSync {
    inner: Arc<SyncInner>,
    _tasks: Arc<Tasks>,
}

impl std::fmt::Debug for CatalogSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogSync")
            .field("options", &self.inner.options)
            .field("tenants", &lock(&self.inner.managed).len())
            .finish_non_exhaustive()
    }
}

struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

struct SyncInner {
    store: TenantConnections,
    catalog: Catalog,
    options: CatalogOptions,
    /// The tenants this sync registered, with the row they came from.
    managed: Mutex<HashMap<TenantKey, CatalogEntry>>,
    /// Every row, as last read.
    entries: RwLock<Arc<Vec<CatalogEntry>>>,
    /// Serialises re-reads; holds when the last one started.
    reread: tokio::sync::Mutex<Option<Instant>>,
    generation: AtomicI64,
    changes: watch::Sender<u64>,
}

impl CatalogSync {
    /// Loads the catalog into `store` (failing if it cannot be read, or if
    /// `options` are invalid: [`CatalogOptions::validate`]), then follows it
    /// in the background.
    pub async fn start(
        store: TenantConnections,
        catalog: Catalog,
        options: CatalogOptions,
    ) -> Result<Self, CatalogError> {
        options.validate().map_err(CatalogError::InvalidOptions)?;
        let inner = Arc::new(SyncInner {
            store,
            catalog,
            options,
            managed: Mutex::new(HashMap::new()),
            entries: RwLock::new(Arc::new(Vec::new())),
            reread: tokio::sync::Mutex::new(None),
            generation: AtomicI64::new(i64::MIN),
            changes: watch::channel(0).0,
        });
        inner.reread_since(Instant::now()).await?;
        let mut tasks = vec![tokio::spawn(poll(Arc::downgrade(&inner)))];
        if inner.options.listen && inner.catalog.notifies() {
            tasks.push(tokio::spawn(listen(Arc::downgrade(&inner))));
        }
        let weak: Weak<dyn Refresh> = Arc::downgrade(&inner) as Weak<dyn Refresh>;
        inner.store.set_refresher(Some(weak));
        Ok(Self {
            inner,
            _tasks: Arc::new(Tasks(tasks)),
        })
    }

    /// Re-reads the catalog now.
    pub async fn refresh(&self) -> Result<(), CatalogError> {
        self.inner.reread_since(Instant::now()).await
    }

    /// Every catalog row, as last read.
    pub fn entries(&self) -> Arc<Vec<CatalogEntry>> {
        Arc::clone(&self.inner.entries.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// A tenant's state, as last read.
    pub fn state(&self, name: &str) -> Option<TenantState> {
        self.entries()
            .iter()
            .find(|e| e.name.as_str() == name)
            .map(|e| e.state)
    }

    /// Changes after every re-read that applied rows.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }
}

impl Refresh for SyncInner {
    fn refresh_since(&self, since: Instant) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Err(error) = self.reread_since(since).await {
                tracing::warn!(%error, "tenant catalog re-read failed");
            }
        })
    }
}

impl SyncInner {
    /// Single-flight, rate-limited re-read: returns once a read that started at
    /// or after `since` finished.
    async fn reread_since(&self, since: Instant) -> Result<(), CatalogError> {
        let mut last = self.reread.lock().await;
        if let Some(started) = *last {
            if started >= since {
                return Ok(());
            }
            tokio::time::sleep_until(started + self.options.min_reread_interval).await;
        }
        *last = Some(Instant::now());
        // The generation first: a write after it is seen by the next poll.
        let generation = self.catalog.generation().await?;
        let rows = self.catalog.list().await?;
        self.generation.store(generation, Ordering::Release);
        self.apply(rows);
        Ok(())
    }

    /// A tenant the catalog moved to `quarantined` is out of service in the
    /// store, one it moved back to `active` in service again; one it marks
    /// `moving` is held, and released when it leaves that state or after
    /// `moving_expiry` (its mover died; a live mover renews its mark, see
    /// [`Catalog::renew_moving`](super::Catalog::renew_moving)). Only changes
    /// are followed (from `old`, `None` for a tenant registered now), so a
    /// tenant the app took out of service or held itself stays so.
    fn follow_state(&self, old: Option<TenantState>, entry: &CatalogEntry) {
        let name = entry.name.as_str();
        let changed = if entry.state == TenantState::Quarantined {
            self.store
                .set_out_of_service(name, "quarantined in the tenant catalog")
                .map(|()| true)
        } else {
            self.store.set_in_service(name)
        };
        let held = match (old, entry.state) {
            (_, TenantState::Moving) => self.store.hold_for(name, self.options.moving_expiry),
            (Some(TenantState::Moving), _) => self.store.release(name),
            _ => Ok(false),
        };
        if let Err(error) = changed.and(held) {
            tracing::debug!(tenant = %name, %error, "catalog service state");
        }
    }

    /// Registers what became servable, unregisters what stopped being so or
    /// moved. Removals wait for in-flight calls in the background; the name is
    /// unknown at once.
    fn apply(&self, rows: Vec<CatalogEntry>) {
        let wanted: HashMap<&TenantKey, &CatalogEntry> = rows
            .iter()
            .filter(|e| e.state.is_registered())
            .map(|e| (&e.name, e))
            .collect();
        let mut managed = lock(&self.managed);
        let gone: Vec<TenantKey> = managed
            .keys()
            .filter(|name| !wanted.contains_key(name))
            .cloned()
            .collect();
        for name in gone {
            managed.remove(&name);
            let removal = self.store.remove_tenant(name.as_str());
            tokio::spawn(async move {
                if let Err(error) = removal.await {
                    tracing::debug!(tenant = %name, %error, "catalog removal");
                }
            });
        }
        for (name, entry) in wanted {
            if let Some(old) = managed.get_mut(name) {
                let moved =
                    old.url != entry.url || old.schema != entry.schema || old.rows != entry.rows;
                let switched_here = moved
                    && entry
                        .config()
                        .is_ok_and(|c| self.store.tenant_config(name.as_str()) == Some(c));
                if switched_here {
                    // This instance's mover switched the store already.
                    self.follow_state(None, entry);
                } else if moved {
                    // A new placement: switched in one step, so no request
                    // (a held one included) meets an unknown name.
                    match entry.config().map_err(|e| e.to_string()).and_then(|c| {
                        self.store
                            .replace_tenant(name.as_str(), c)
                            .map_err(|e| e.to_string())
                    }) {
                        Ok(drained) => {
                            let switched = name.clone();
                            tokio::spawn(async move {
                                if let Err(error) = drained.await {
                                    tracing::debug!(tenant = %switched, %error, "catalog switch");
                                }
                            });
                            tracing::info!(tenant = %name, "tenant moved to a new placement by the catalog");
                            // The new entry starts in service and not held.
                            self.follow_state(None, entry);
                        }
                        Err(error) => {
                            tracing::warn!(tenant = %name, %error, "catalog placement not followed");
                        }
                    }
                } else if old.state != entry.state {
                    self.follow_state(Some(old.state), entry);
                } else if entry.state == TenantState::Moving
                    && old.updated_at_ms != entry.updated_at_ms
                {
                    // Its mover renewed the mark: alive, so the hold goes on
                    // for another `moving_expiry`.
                    let _ = self
                        .store
                        .hold_for(name.as_str(), self.options.moving_expiry);
                }
                *old = entry.clone();
                continue;
            }
            let config = match entry.config() {
                Ok(config) => config,
                Err(error) => {
                    tracing::warn!(tenant = %name, %error, "catalog tenant not registered");
                    continue;
                }
            };
            match self.store.add_tenant(name.as_str(), config.clone()) {
                Ok(()) => {
                    tracing::info!(tenant = %name, state = %entry.state, "tenant registered from the catalog");
                }
                // Registered already with the same placement (by the
                // provisioner of this instance): followed from now on.
                Err(ConfigError::AlreadyRegistered(_))
                    if self.store.tenant_config(name.as_str()).is_some_and(|c| {
                        c.url() == config.url() && c.schema() == config.schema()
                    }) => {}
                Err(error) => {
                    tracing::warn!(tenant = %name, %error, "catalog tenant not registered");
                    continue;
                }
            }
            if matches!(entry.state, TenantState::Quarantined | TenantState::Moving) {
                self.follow_state(None, entry);
            }
            managed.insert(name.clone(), entry.clone());
        }
        drop(managed);
        *self.entries.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rows);
        self.changes.send_modify(|n| *n += 1);
    }
}

async fn poll(inner: Weak<SyncInner>) {
    loop {
        let Some(mut changes) = inner.upgrade().map(|i| i.changes.subscribe()) else {
            return;
        };
        let since = Instant::now();
        // A re-read meanwhile (a notification, an unknown tenant) may mark a
        // tenant `moving`: the wait is shortened to the interval that calls for.
        loop {
            let Some(interval) = inner.upgrade().map(|i| i.poll_interval()) else {
                return;
            };
            tokio::select! {
                () = tokio::time::sleep_until(since + interval) => break,
                changed = changes.changed() => if changed.is_err() { return },
            }
        }
        let Some(sync) = inner.upgrade() else { return };
        match sync.catalog.generation().await {
            Ok(generation) if generation != sync.generation.load(Ordering::Acquire) => {
                if let Err(error) = sync.reread_since(Instant::now()).await {
                    tracing::warn!(%error, "tenant catalog re-read failed");
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "tenant catalog poll failed"),
        }
    }
}

impl SyncInner {
    /// How long the poll waits: `poll_interval`, or, while the catalog marks
    /// a tenant `moving`, at most [`MOVING_RENEW_INTERVAL`], so a live
    /// mover's renewals are seen in time whether notifications arrive or not
    /// (see [`CatalogOptions::least_moving_expiry`]).
    fn poll_interval(&self) -> Duration {
        let moving = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|entry| entry.state == TenantState::Moving);
        if moving {
            self.options.poll_interval.min(MOVING_RENEW_INTERVAL)
        } else {
            self.options.poll_interval
        }
    }
}

/// Listens on a session of its own (counted in the shared server's budget
/// like every connection), so the shared pool's connections all stay
/// available.
#[cfg(feature = "postgres")]
async fn listen(inner: Weak<SyncInner>) {
    use sea_orm::sqlx::postgres::PgListener;

    use crate::redact::scrub;
    let mut pause = Duration::from_millis(100);
    loop {
        let Some(store) = inner.upgrade().map(|sync| sync.store.clone()) else {
            return;
        };
        let listener = async {
            // A session of its own, within the shared server's budget.
            let session = store.shared_session().await.map_err(|e| e.to_string())?;
            let url = store.shared_config().map(|c| c.url()).unwrap_or_default();
            let pool = session.get_postgres_connection_pool().clone();
            let mut listener = PgListener::connect_with(&pool)
                .await
                .map_err(|e| scrub(&e.to_string(), url))?;
            listener
                .listen(super::rows::NOTIFY_CHANNEL)
                .await
                .map_err(|e| scrub(&e.to_string(), url))?;
            Ok::<_, String>((session, listener))
        }
        .await;
        // The follower must not keep the store alive while it listens.
        drop(store);
        match listener {
            Ok((_session, mut listener)) => {
                pause = Duration::from_millis(100);
                // The session is new: changes made before it listened are read now.
                let mut lost = true;
                loop {
                    if lost {
                        let Some(sync) = inner.upgrade() else { return };
                        if let Err(error) = sync.reread_since(Instant::now()).await {
                            tracing::warn!(%error, "tenant catalog re-read failed");
                        }
                    }
                    match listener.try_recv().await {
                        Ok(Some(_)) => {
                            let Some(sync) = inner.upgrade() else { return };
                            if let Err(error) = sync.reread_since(Instant::now()).await {
                                tracing::warn!(%error, "tenant catalog re-read failed");
                            }
                            lost = false;
                        }
                        // The session was lost and is reconnecting: notifications
                        // may have been missed.
                        Ok(None) => lost = true,
                        Err(_) => break,
                    }
                }
            }
            Err(error) => tracing::debug!(%error, "tenant catalog listener not connected"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

#[cfg(not(feature = "postgres"))]
async fn listen(_inner: Weak<SyncInner>) {}
