//! [`OpenPool`]: a pool the opener opened, with its share of its server's
//! budget and what serves it (the park of a schema database, the read pool
//! of a SQLite file).

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::OwnedSemaphorePermit;

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
}
