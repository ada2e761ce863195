//! One database's part of a run: the database an operation runs on
//! ([`Target`]), its migration lock, and the operation applied to it.

use std::time::Duration;

use sea_orm::{DatabaseConnection, DbBackend};
use sea_orm_tenant::{
    TenantConfig, TenantConnection, TenantConnections, TenantError, TenantKey, TenantSession,
};

use super::apply::{ApplyFn, MigrationDb, is_empty_sqlite_file};
use super::error::TenantFailure;
use super::finish::{WorkResult, finish};
use super::lock::{TenantLock, lock_in_transaction};
use super::operation::Operation;
use super::options::RunOptions;
use super::report::TenantReport;

/// One tenant.
pub(super) async fn tenant_job(
    store: &TenantConnections,
    key: TenantKey,
    apply: ApplyFn,
    op: Operation,
    options: &RunOptions,
) -> TenantReport {
    let work = on_database(Target::Tenant(store, &key), apply, op, options.lock_timeout);
    finish(key.as_str(), op, options.tenant_timeout, work).await
}

/// The database an operation runs on.
#[derive(Clone, Copy)]
pub(super) enum Target<'a> {
    /// A tenant registered in the store.
    Tenant(&'a TenantConnections, &'a TenantKey),
    /// The store's shared database.
    Shared(&'a TenantConnections),
    /// A database no tenant of the store has yet (a tenant being created):
    /// its connections are the store's, outside the tenants' pools.
    Outside(&'a TenantConnections, &'a TenantConfig),
}

/// What keeps a target's connection open while it is used.
pub(super) enum Keep {
    Lease(#[expect(dead_code, reason = "held: the lease keeps the pool open")] TenantConnection),
    Session(TenantSession),
}

impl Target<'_> {
    fn config(self) -> Result<TenantConfig, TenantError> {
        match self {
            Target::Tenant(store, key) => store
                .tenant_config(key.as_str())
                .ok_or_else(|| TenantError::Unknown(key.clone())),
            Target::Shared(store) => store
                .shared_config()
                .cloned()
                .ok_or(TenantError::NoSharedDatabase),
            Target::Outside(_, config) => Ok(config.clone()),
        }
    }

    /// A dedicated session to this database, within its server's budget.
    async fn session(self) -> Result<TenantSession, TenantError> {
        match self {
            Target::Tenant(store, key) => store.session(key.as_str()).await,
            Target::Shared(store) => store.shared_session().await,
            Target::Outside(store, config) => store.open_outside(config, 1).await,
        }
    }

    /// The store's pool for this database, and what keeps it open.
    async fn pool(self) -> Result<(DatabaseConnection, Option<Keep>), TenantError> {
        match self {
            Target::Tenant(store, key) => {
                let lease = store.connection(key.as_str()).await?;
                let conn =
                    lease
                        .to_database_connection()
                        .ok_or_else(|| TenantError::Unavailable {
                            tenant: key.clone(),
                            reason: "a schema tenant has no pool of its own".into(),
                        })?;
                Ok((conn, Some(Keep::Lease(lease))))
            }
            Target::Shared(store) => Ok((store.shared().await?, None)),
            Target::Outside(store, config) => {
                let session = store.open_outside(config, 1).await?;
                Ok((
                    DatabaseConnection::clone(&session),
                    Some(Keep::Session(session)),
                ))
            }
        }
    }
}

/// Applies `op` to one database under its migration lock (for operations that write).
///
/// * PostgreSQL and MySQL: on a dedicated session that takes the lock and then
///   runs the migrations (see [`crate::lock`]); the store's pool is not used.
/// * SQLite: on the store's pool, holding the lock file.
/// * `status`: on the store's pool, no lock.
pub(super) async fn on_database(
    target: Target<'_>,
    apply: ApplyFn,
    op: Operation,
    lock_wait: Duration,
) -> WorkResult {
    let connect = |e| (TenantFailure::Connect(e), None);
    let config = target.config().map_err(connect)?;
    let backend = config
        .backend()
        .map_err(|e| connect(TenantError::Config(e)))?;
    if let (Target::Tenant(store, key), Some(_)) = (target, config.schema()) {
        return on_schema(store, key, apply, op, lock_wait).await;
    }
    // A database tenant sharing its server's pool has no pool of its own:
    // its migrations (and their status) run on a session of its own.
    let on_session = backend != DbBackend::Sqlite && (op.writes() || config.shares_server());
    let (lock, conn, lease) = if on_session && op.writes() {
        let session = target.session().await.map_err(connect)?;
        let lock = TenantLock::on_session(session, lock_wait)
            .await
            .map_err(|e| (TenantFailure::Lock(e), None))?;
        let conn = lock
            .session()
            .cloned()
            .expect("a server lock has a session");
        (Some(lock), conn, None)
    } else if on_session {
        let session = target.session().await.map_err(connect)?;
        let conn = DatabaseConnection::clone(&session);
        (None, conn, Some(Keep::Session(session)))
    } else {
        let (conn, lease) = target.pool().await.map_err(connect)?;
        let lock = if op.writes() {
            Some(
                TenantLock::sqlite(&config, lock_wait)
                    .await
                    .map_err(|e| (TenantFailure::Lock(e), None))?,
            )
        } else {
            None
        };
        (lock, conn, lease)
    };
    // Checked under the lock: a SQLite tenant migrated for the first time
    // needs no read of a migration table that cannot exist yet.
    let db = match config.sqlite_path() {
        Some(path) if lock.is_some() && is_empty_sqlite_file(&path) => MigrationDb::Empty(conn),
        _ => MigrationDb::Connection(conn),
    };
    let result = (apply.apply)(db, op).await;
    if let Some(lock) = lock {
        lock.release().await;
    }
    if let Some(Keep::Session(session)) = lease {
        session.close().await;
    }
    result.map_err(|f| (TenantFailure::Migration(f.error), f.after))
}

/// Applies `op` to a schema tenant: in one transaction on its schema, under
/// its lock, committed only if the whole operation succeeded.
async fn on_schema(
    store: &TenantConnections,
    key: &TenantKey,
    apply: ApplyFn,
    op: Operation,
    lock_wait: Duration,
) -> WorkResult {
    use sea_orm::TransactionTrait;
    let lease = store
        .connection(key.as_str())
        .await
        .map_err(|e| (TenantFailure::Connect(e), None))?;
    let txn = lease.begin().await.map_err(|e| {
        let failure = match TenantError::from_db_err(&e) {
            Some(tenant) => TenantFailure::Connect(tenant.clone()),
            None => TenantFailure::Migration(e),
        };
        (failure, None)
    })?;
    if op.writes() {
        lock_in_transaction(&txn, lock_wait)
            .await
            .map_err(|e| (TenantFailure::Lock(e), None))?;
    }
    let result = (apply.apply)(MigrationDb::Transaction(txn), op).await;
    drop(lease);
    result.map_err(|f| (TenantFailure::Migration(f.error), f.after))
}
