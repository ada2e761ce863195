//! [`TenantDb`]: SeaORM's connection traits, routed to the current tenant.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, ExecResult, IsolationLevel,
    QueryResult, Statement, StreamTrait, TransactionError, TransactionOptions, TransactionTrait,
};
use tracing::Instrument;

use super::scope::Routed;
use crate::error::TenantError;
use crate::key::TenantKey;
use crate::route::connection::RowStream;
use crate::store::{TenantConnection, TenantConnections};

/// The routing handle: a cheap `Clone` that implements SeaORM's
/// [`ConnectionTrait`], [`TransactionTrait`] and [`StreamTrait`] by sending each
/// call to the current tenant's database.
///
/// Every SeaORM API that takes `&impl ConnectionTrait` works unchanged. With no
/// tenant current, calls fail with [`TenantError::NoTenant`] (wrapped in a
/// `DbErr`); there is no default database.
///
/// # `get_database_backend`
///
/// SeaORM asks for the backend synchronously, before any query, and the answer
/// cannot fail. Inside a tenant it is that tenant's backend, so one store may mix
/// SQLite, PostgreSQL and MySQL tenants. With no tenant current it is the backend
/// all registered tenants share, or `DbBackend::Sqlite` when the store is empty or
/// mixes backends; any query built then still fails with `NoTenant`, so build
/// statements inside the tenant in a mixed store.
#[derive(Clone)]
pub struct TenantDb {
    store: TenantConnections,
}

impl fmt::Debug for TenantDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantDb")
            .field("current", &crate::route::current_tenant())
            .field("store", &self.store)
            .finish()
    }
}

impl TenantDb {
    pub(crate) fn new(store: TenantConnections) -> Self {
        Self { store }
    }

    /// The store this handle routes through.
    pub fn store(&self) -> &TenantConnections {
        &self.store
    }

    /// Same as [`TenantConnections::with_tenant`].
    pub async fn with_tenant<F: Future>(
        &self,
        name: impl AsRef<str>,
        fut: F,
    ) -> Result<F::Output, TenantError> {
        self.store.with_tenant(name, fut).await
    }

    /// The tenant current in this task, if any.
    pub fn current_tenant(&self) -> Option<TenantKey> {
        crate::route::current_tenant()
    }

    /// The current tenant's pool, for APIs that need a concrete `DatabaseConnection`.
    pub async fn connection(&self) -> Result<TenantConnection, TenantError> {
        let tenant = self.store.inner.current_tenant()?;
        self.store.inner.lease(&tenant).await
    }

    /// See the type-level docs; inherent so that `db.get_database_backend()` is
    /// not ambiguous between SeaORM's two traits.
    pub fn get_database_backend(&self) -> DbBackend {
        match self.store.inner.current_tenant() {
            Ok(tenant) => tenant.backend,
            Err(_) => self.store.common_backend().unwrap_or(DbBackend::Sqlite),
        }
    }

    /// Runs `f` on the current tenant's pool inside a span carrying `tenant`.
    async fn routed<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, DbErr>
    where
        F: FnOnce(Routed) -> Fut,
        Fut: Future<Output = Result<T, DbErr>>,
    {
        let conn = self.store.inner.routed_connection().await?;
        let entry = conn.entry();
        let span = tracing::debug_span!("tenant_db", tenant = %conn.tenant(), op);
        // Entering a disabled span still costs a little per poll (tracing's
        // `log` feature, which SeaORM enables): skip it when nobody listens.
        let result = if span.is_disabled() {
            f(conn).await
        } else {
            f(conn).instrument(span).await
        };
        entry.count(&result);
        result
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for TenantDb {
    fn get_database_backend(&self) -> DbBackend {
        TenantDb::get_database_backend(self)
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.routed("execute", |c| async move { c.execute_raw(stmt).await })
            .await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.routed("execute_unprepared", |c| async move {
            c.execute_unprepared(sql).await
        })
        .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.routed("query_one", |c| async move { c.query_one_raw(stmt).await })
            .await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.routed("query_all", |c| async move { c.query_all_raw(stmt).await })
            .await
    }
}

#[async_trait::async_trait]
impl TransactionTrait for TenantDb {
    type Transaction = DatabaseTransaction;

    /// Begins a transaction on the current tenant's database. The transaction
    /// holds its own connection and stays on that tenant whatever runs later.
    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.routed("begin", |c| async move { c.begin().await })
            .await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.routed("begin", |c| async move {
            c.begin_with_config(isolation_level, access_mode).await
        })
        .await
    }

    async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.routed(
            "begin",
            |c| async move { c.begin_with_options(options).await },
        )
        .await
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: fmt::Display + fmt::Debug + Send,
    {
        self.transaction_with_config(callback, None, None).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: fmt::Display + fmt::Debug + Send,
    {
        let conn = self
            .store
            .inner
            .routed_connection()
            .await
            .map_err(|e| TransactionError::Connection(e.into()))?;
        let span = tracing::debug_span!("tenant_db", tenant = %conn.tenant(), op = "transaction");
        let result = conn
            .transaction_with_config(callback, isolation_level, access_mode)
            .instrument(span)
            .await;
        conn.entry().count(&result);
        result
    }
}

pin_project_lite::pin_project! {
    /// A row stream from a tenant's database; it keeps the tenant's pool from
    /// being evicted until dropped.
    pub struct TenantStream {
        #[pin]
        inner: RowStream,
        conn: Routed,
    }
}

impl TenantStream {
    /// The tenant the rows come from.
    pub fn tenant(&self) -> &TenantKey {
        self.conn.tenant()
    }
}

impl fmt::Debug for TenantStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantStream")
            .field("tenant", self.conn.tenant())
            .finish()
    }
}

impl Stream for TenantStream {
    type Item = Result<QueryResult, DbErr>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.project().inner.poll_next(cx)
    }
}

impl StreamTrait for TenantDb {
    type Stream<'a> = TenantStream;

    fn get_database_backend(&self) -> DbBackend {
        TenantDb::get_database_backend(self)
    }

    fn stream_raw<'a>(
        &'a self,
        stmt: Statement,
    ) -> Pin<Box<dyn Future<Output = Result<TenantStream, DbErr>> + 'a + Send>> {
        Box::pin(async move {
            let conn = self.store.inner.routed_connection().await?;
            let span = tracing::debug_span!("tenant_db", tenant = %conn.tenant(), op = "stream");
            let inner = conn.row_stream(stmt).instrument(span).await;
            conn.entry().count(&inner);
            Ok(TenantStream {
                inner: inner?,
                conn,
            })
        })
    }
}

impl TenantConnections {
    /// The routing handle: pass `&db` to any SeaORM API.
    pub fn db(&self) -> TenantDb {
        TenantDb::new(self.clone())
    }
}
