//! [`TenantSession`]: connections of their own outside the tenants' pools,
//! counted against their server's connection budget until they are closed.

use std::fmt;
use std::ops::Deref;

use sea_orm::DatabaseConnection;
use tokio::sync::OwnedSemaphorePermit;

use super::opened::OpenPool;

/// A pool of its own to one database (a single connection from
/// [`TenantConnections::session`](crate::TenantConnections::session) and
/// [`shared_session`](crate::TenantConnections::shared_session); any size from
/// [`open_outside`](crate::TenantConnections::open_outside)). Its share of the
/// server's budget is given back once its connections are closed, by
/// [`close`](Self::close) or, when dropped, in the background: never while a
/// connection it opened may still be open.
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
    pub async fn close(mut self) {
        let _ = self.conn.close_by_ref().await;
        drop(self.permits.take());
    }
}

impl Drop for TenantSession {
    fn drop(&mut self) {
        let Some(permits) = self.permits.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let conn = self.conn.clone();
                runtime.spawn(async move {
                    let _ = conn.close_by_ref().await;
                    drop(permits);
                });
            }
            // No runtime left to close it on: the process is ending.
            Err(_) => drop(permits),
        }
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
