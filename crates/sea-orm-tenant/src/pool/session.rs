//! [`TenantSession`]: a dedicated connection outside the tenant's pool,
//! counted against its server's connection budget.

use std::fmt;
use std::ops::Deref;

use sea_orm::DatabaseConnection;
use tokio::sync::OwnedSemaphorePermit;

use super::opened::OpenPool;

/// A single-connection session to one database, from
/// [`TenantConnections::session`](crate::TenantConnections::session). Its share
/// of the server's budget is given back when it is closed or dropped.
pub struct TenantSession {
    conn: DatabaseConnection,
    permits: Option<OwnedSemaphorePermit>,
}

impl TenantSession {
    pub(crate) fn new(pool: OpenPool) -> Self {
        Self {
            conn: pool.conn,
            permits: pool.permits,
        }
    }

    /// Closes the session and gives its budget back.
    pub async fn close(self) {
        let _ = self.conn.close_by_ref().await;
        drop(self.permits);
    }
}

impl Deref for TenantSession {
    type Target = DatabaseConnection;

    fn deref(&self) -> &DatabaseConnection {
        &self.conn
    }
}

impl AsRef<DatabaseConnection> for TenantSession {
    fn as_ref(&self) -> &DatabaseConnection {
        &self.conn
    }
}

impl fmt::Debug for TenantSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantSession")
            .field("backend", &self.conn.get_database_backend())
            .finish()
    }
}
