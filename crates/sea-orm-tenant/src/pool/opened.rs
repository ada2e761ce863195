//! [`OpenPool`]: a pool the opener opened, with its share of its server's
//! budget and what serves it (the park of a schema database, the read pool
//! of a SQLite file).

use std::sync::{Arc, OnceLock};

use sea_orm::{DatabaseConnection, DatabaseConnectionType};
use tokio::sync::{OwnedSemaphorePermit, watch};

use super::shared_route::SharedPark;
use super::sqlite_readers::SqliteReaders;

/// An open pool and its share of the server's budget, given back when the
/// pool has closed.
pub(crate) struct OpenPool {
    pub(crate) conn: DatabaseConnection,
    pub(crate) permits: Option<OwnedSemaphorePermit>,
    /// The parked connections of a pool shared by tenants.
    pub(crate) park: Option<SharedPark>,
    /// The read pool of a SQLite file in WAL mode (`sqlite_readers`).
    pub(crate) readers: Option<Arc<SqliteReaders>>,
    /// Connections admitted by the server's budget (the pool's size).
    pub(crate) size: u32,
    /// The size a larger pool may replace this one with under load.
    pub(crate) grows_to: u32,
    /// Every lease holds its receiver (through `leased`): `closed()` resolves
    /// when the last lease of this pool (not of a pool that replaced it) has ended.
    pub(crate) users: watch::Sender<()>,
    /// What its leases share, made at the first lease (after the park and
    /// the read pool are set), with the one receiver of `users`. The pool's
    /// own reference is dropped when it closes: until then the end of a lease
    /// is never the last receiver's, so it does not wake `closed()`'s
    /// waiters (a lock taken on every request otherwise).
    pub(crate) leased: OnceLock<Arc<LeasedPool>>,
}

/// What every lease of one open pool holds, behind one `Arc`: taking and
/// ending a lease then writes one shared counter, not one per part (the
/// pool handle's, the read pool's, the users channel's), each a cache line
/// that moved between cores on every request served by both.
pub(crate) struct LeasedPool {
    pub(crate) conn: DatabaseConnection,
    pub(crate) park: Option<SharedPark>,
    pub(crate) readers: Option<Arc<SqliteReaders>>,
    /// Dropped with the last lease (and the pool's own reference): the
    /// pool's `users.closed()` resolves then.
    _user: watch::Receiver<()>,
}

impl OpenPool {
    /// `conn`, holding `permits`, of `size` connections.
    pub(crate) fn new(
        conn: DatabaseConnection,
        permits: Option<OwnedSemaphorePermit>,
        size: u32,
        grows_to: u32,
    ) -> Self {
        Self {
            conn,
            permits,
            park: None,
            readers: None,
            size,
            grows_to,
            users: watch::Sender::new(()),
            leased: OnceLock::new(),
        }
    }

    /// What a new lease of this pool holds.
    pub(crate) fn leased(&self) -> Arc<LeasedPool> {
        Arc::clone(self.leased.get_or_init(|| {
            Arc::new(LeasedPool {
                conn: self.conn.clone(),
                park: self.park.clone(),
                readers: self.readers.clone(),
                _user: self.users.subscribe(),
            })
        }))
    }

    /// Whether this pool should grow with `in_flight` leases: more than
    /// twice as many as its connections, and none of its connections idle
    /// now. A lease is a request, most of whose time is not spent on a
    /// connection: growing at the first extra lease made pools under uniform
    /// traffic hold permits for connections they never opened (`bench-scale`:
    /// 195 requests/s against 380 for pools of one), and growing on leases
    /// alone let the busiest tenants of skewed traffic hold most of the budget
    /// for connections that sat idle, so that the rest kept reopening.
    pub(crate) fn is_due_to_grow(&self, in_flight: usize) -> bool {
        self.size < self.grows_to
            && in_flight > 2 * self.size as usize
            && !self.has_idle_connection()
    }

    /// Whether a connection of this pool is open and idle now (the variant
    /// is matched first: the pool accessors panic on any other).
    fn has_idle_connection(&self) -> bool {
        match &self.conn.inner {
            #[cfg(feature = "postgres")]
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                self.conn.get_postgres_connection_pool().num_idle() > 0
            }
            #[cfg(feature = "mysql")]
            DatabaseConnectionType::SqlxMySqlPoolConnection(_) => {
                self.conn.get_mysql_connection_pool().num_idle() > 0
            }
            _ => false,
        }
    }
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use sea_orm::{ConnectOptions, Database};

    use super::OpenPool;

    /// More leases than twice the pool's size are not enough while one of
    /// its connections is idle; with both busy they are.
    #[tokio::test]
    async fn a_pool_grows_only_when_none_of_its_connections_is_idle() {
        let Ok(url) = std::env::var("TEST_POSTGRES_URL") else {
            eprintln!("skipped: TEST_POSTGRES_URL is not set");
            return;
        };
        let mut options = ConnectOptions::new(url);
        options.max_connections(2).min_connections(0);
        let pool = OpenPool::new(Database::connect(options).await.unwrap(), None, 2, 5);
        let pg = pool.conn.get_postgres_connection_pool().clone();
        let mut first = pg.acquire().await.unwrap();
        first.return_to_pool().await;
        assert!(pg.num_idle() > 0);
        assert!(!pool.is_due_to_grow(5), "grew with an idle connection");
        let busy = (pg.acquire().await.unwrap(), pg.acquire().await.unwrap());
        assert!(!pool.is_due_to_grow(4), "grew at twice its size");
        assert!(
            pool.is_due_to_grow(5),
            "did not grow with both connections busy"
        );
        drop(busy);
        pool.conn.close().await.unwrap();
    }
}
