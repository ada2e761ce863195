//! Without the `postgres` feature there are no schema tenants: a schema needs
//! a PostgreSQL URL, refused at registration. These types keep the rest of the
//! crate free of feature gates and can never be built.

use std::convert::Infallible;
use std::sync::Arc;

use futures_util::stream::BoxStream;
use sea_orm::{
    AccessMode, DatabaseConnection, DatabaseTransaction, DbErr, ExecResult, IsolationLevel,
    QueryResult, Statement,
};

use crate::error::TenantError;
use crate::key::TenantKey;
use crate::schema::SchemaName;

pub(crate) struct Park(Infallible);

impl Park {
    pub(crate) fn close(&self) {
        match self.0 {}
    }
}

#[derive(Clone)]
pub(crate) enum SharedRoute {}

impl SharedRoute {
    pub(crate) fn schema(&self) -> &SchemaName {
        match *self {}
    }

    pub(crate) fn new(
        _db: DatabaseConnection,
        park: Arc<Park>,
        _schema: SchemaName,
        _tenant: TenantKey,
    ) -> Result<Self, TenantError> {
        match park.0 {}
    }

    pub(crate) async fn execute_raw(&self, _stmt: Statement) -> Result<ExecResult, DbErr> {
        match *self {}
    }

    pub(crate) async fn execute_unprepared(&self, _sql: &str) -> Result<ExecResult, DbErr> {
        match *self {}
    }

    pub(crate) async fn query_one_raw(
        &self,
        _stmt: Statement,
    ) -> Result<Option<QueryResult>, DbErr> {
        match *self {}
    }

    pub(crate) async fn query_all_raw(&self, _stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match *self {}
    }

    pub(crate) async fn stream_raw(
        &self,
        _stmt: Statement,
    ) -> Result<BoxStream<'static, Result<QueryResult, DbErr>>, DbErr> {
        match *self {}
    }

    pub(crate) async fn begin_with_config(
        &self,
        _isolation_level: Option<IsolationLevel>,
        _access_mode: Option<AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        match *self {}
    }
}
