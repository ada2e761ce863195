//! SeaORM's connection traits on a [`TenantConnection`]: each call goes to the
//! tenant's own pool, or, for a schema tenant, through its [`SharedRoute`]
//! (the shared pool, on the tenant's schema).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use futures_util::stream::BoxStream;
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, IsolationLevel, QueryResult, QueryStream, Statement, StreamTrait, TransactionError,
    TransactionOptions, TransactionTrait,
};

use crate::store::TenantConnection;

#[async_trait::async_trait]
impl ConnectionTrait for TenantConnection {
    fn get_database_backend(&self) -> DbBackend {
        self.tenant.backend
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match &self.shared {
            Some(route) => route.execute_raw(stmt).await,
            None => self.pool.conn.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match &self.shared {
            Some(route) => route.execute_unprepared(sql).await,
            None => self.pool.conn.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match &self.shared {
            Some(route) => route.query_one_raw(stmt).await,
            None => self.pool_for(&stmt).await.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match &self.shared {
            Some(route) => route.query_all_raw(stmt).await,
            None => self.pool_for(&stmt).await.query_all_raw(stmt).await,
        }
    }
}

#[async_trait::async_trait]
impl TransactionTrait for TenantConnection {
    type Transaction = DatabaseTransaction;

    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.begin_with_config(None, None).await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        match &self.shared {
            Some(route) => route.begin_with_config(isolation_level, access_mode).await,
            None => {
                self.pool
                    .conn
                    .begin_with_config(isolation_level, access_mode)
                    .await
            }
        }
    }

    async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<DatabaseTransaction, DbErr> {
        match &self.shared {
            Some(route) => {
                route
                    .begin_with_config(options.isolation_level, options.access_mode)
                    .await
            }
            None => self.pool.conn.begin_with_options(options).await,
        }
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
        if self.shared.is_none() {
            return self
                .pool
                .conn
                .transaction_with_config(callback, isolation_level, access_mode)
                .await;
        }
        let txn = self
            .begin_with_config(isolation_level, access_mode)
            .await
            .map_err(TransactionError::Connection)?;
        match callback(&txn).await {
            Ok(value) => {
                txn.commit().await.map_err(TransactionError::Connection)?;
                Ok(value)
            }
            Err(err) => {
                txn.rollback().await.map_err(TransactionError::Connection)?;
                Err(TransactionError::Transaction(err))
            }
        }
    }
}

/// Rows streamed from a tenant's database ([`TenantConnection`]'s
/// `StreamTrait::Stream`). Holds its connection until dropped.
pub enum RowStream {
    /// From the tenant's own pool.
    #[doc(hidden)]
    Pool(Pin<Box<QueryStream>>),
    /// From a schema tenant's checkout of the shared pool.
    #[doc(hidden)]
    Schema(BoxStream<'static, Result<QueryResult, DbErr>>),
}

impl Stream for RowStream {
    type Item = Result<QueryResult, DbErr>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut() {
            RowStream::Pool(s) => s.as_mut().poll_next(cx),
            RowStream::Schema(s) => s.as_mut().poll_next(cx),
        }
    }
}

impl TenantConnection {
    /// The read pool for a plain `SELECT` when the tenant has one (a SQLite
    /// file in WAL mode), else the tenant's pool. A query here is never inside
    /// a transaction: a transaction runs on its own `DatabaseTransaction`.
    async fn pool_for(&self, stmt: &Statement) -> &DatabaseConnection {
        let readers = match &self.pool.readers {
            Some(readers) => {
                readers
                    .for_statement(&stmt.sql, &self.holder().config)
                    .await
            }
            None => None,
        };
        readers.unwrap_or(&self.pool.conn)
    }

    pub(crate) async fn row_stream(&self, stmt: Statement) -> Result<RowStream, DbErr> {
        match &self.shared {
            Some(route) => route.stream_raw(stmt).await.map(RowStream::Schema),
            None => {
                let stream = self.pool_for(&stmt).await.stream_raw(stmt).await?;
                Ok(RowStream::Pool(Box::pin(stream)))
            }
        }
    }
}

impl StreamTrait for TenantConnection {
    type Stream<'a> = RowStream;

    fn get_database_backend(&self) -> DbBackend {
        self.tenant.backend
    }

    fn stream_raw<'a>(
        &'a self,
        stmt: Statement,
    ) -> Pin<Box<dyn Future<Output = Result<RowStream, DbErr>> + 'a + Send>> {
        Box::pin(self.row_stream(stmt))
    }
}
