//! Connections of the store outside the tenants' pools, each within its
//! server's budget like every pool: the shared database, a dedicated session
//! to a tenant's database (migration locks), and a pool to a database that is
//! no registered tenant's (administration, a tenant being created).

use sea_orm::DatabaseConnection;

use super::entry::Tenant;
use super::tenant_connections::TenantConnections;
use crate::config::TenantConfig;
use crate::error::TenantError;
use crate::pool::TenantSession;

impl TenantConnections {
    /// The shared database for global tables, reachable without a tenant.
    /// Opened on first use; a failed open is not cached.
    pub async fn shared(&self) -> Result<DatabaseConnection, TenantError> {
        let shared = self
            .inner
            .shared
            .as_ref()
            .ok_or(TenantError::NoSharedDatabase)?;
        if self.inner.capacity.is_closed() {
            return Err(TenantError::Closed);
        }
        let (conn, _) = shared
            .conn
            .get_or_try_init(|| async {
                let opened = self
                    .inner
                    .open_within_budget(&shared.config, shared.backend, &shared.server, None, None)
                    .await;
                opened
                    .map(|pool| (pool.conn, pool.permits))
                    .map_err(TenantError::for_shared)
            })
            .await?;
        Ok(conn.clone())
    }

    /// A dedicated single-connection session to tenant `name`'s database,
    /// outside its pool and counted against its server's budget: for work that
    /// needs a session of its own (migration locks). Closed on drop.
    pub async fn session(&self, name: &str) -> Result<TenantSession, TenantError> {
        if self.inner.capacity.is_closed() {
            return Err(TenantError::Closed);
        }
        let tenant = self.inner.resolve(name)?;
        // A tenant sharing a pool counts against its shared pool's server.
        let server = match &tenant.placement {
            Some(placement) => placement.database.server.clone(),
            None => tenant.server.clone(),
        };
        let pool = self
            .inner
            .open_within_budget(
                &tenant.config,
                tenant.backend,
                &server,
                Some(1),
                Some(&tenant.key),
            )
            .await?;
        Ok(TenantSession::new(pool))
    }

    /// Like [`session`](Self::session), for the shared database.
    pub async fn shared_session(&self) -> Result<TenantSession, TenantError> {
        let shared = self
            .inner
            .shared
            .as_ref()
            .ok_or(TenantError::NoSharedDatabase)?;
        if self.inner.capacity.is_closed() {
            return Err(TenantError::Closed);
        }
        let pool = self
            .inner
            .open_within_budget(
                &shared.config,
                shared.backend,
                &shared.server,
                Some(1),
                None,
            )
            .await
            .map_err(TenantError::for_shared)?;
        Ok(TenantSession::new(pool))
    }

    /// A pool of its own, of at most `max_connections`, to a database that is
    /// no registered tenant's (an administration database, a tenant being
    /// created), counted against its server's budget like every pool of the
    /// store until it is closed or dropped. It waits for room in the budget
    /// (closing idle tenant pools first) up to the acquire timeout.
    pub async fn open_outside(
        &self,
        config: &TenantConfig,
        max_connections: u32,
    ) -> Result<TenantSession, TenantError> {
        if self.inner.capacity.is_closed() {
            return Err(TenantError::Closed);
        }
        let key = Tenant::database_key(config);
        let backend = config
            .backend_for(key.as_str())
            .map_err(|e| TenantError::Unavailable {
                tenant: key.clone(),
                reason: e.to_string(),
            })?;
        let server = self.inner.budgets.server_for(config, backend);
        let pool = self
            .inner
            .open_within_budget(
                config,
                backend,
                &server,
                Some(max_connections.max(1)),
                Some(&key),
            )
            .await?;
        Ok(TenantSession::new(pool))
    }
}
