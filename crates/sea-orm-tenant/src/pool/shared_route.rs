//! A tenant's route on a pool it shares with other tenants, whatever the
//! backend: [`SharedRoute`] (schema and row tenants of a PostgreSQL database,
//! [`super::pg_route`]; database tenants of a MySQL or MariaDB server,
//! [`super::mysql_route`]) and the [`SharedPark`] of such a pool.

use std::convert::Infallible;
use std::sync::Arc;

use futures_util::stream::BoxStream;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use sea_orm::sqlx;
use sea_orm::{
    AccessMode, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    IsolationLevel, QueryResult, Statement,
};

#[cfg(any(feature = "postgres", feature = "mysql"))]
use super::park::Park;
use super::seat::Seat;
use crate::error::TenantError;
use crate::key::TenantKey;

/// The parked connections of a shared pool, by backend.
#[derive(Clone)]
pub(crate) enum SharedPark {
    #[cfg(feature = "postgres")]
    Postgres(Arc<Park<sqlx::Postgres>>),
    /// With the pool's URL, which names it among the process's pools.
    #[cfg(feature = "mysql")]
    MySql(Arc<Park<sqlx::MySql>>, Arc<str>),
    /// Keeps the enum inhabited by nothing when no server backend is enabled.
    #[allow(dead_code)]
    Never(Infallible),
}

impl SharedPark {
    /// A park for a shared pool of `backend`; `None` for SQLite.
    #[cfg_attr(
        not(any(feature = "postgres", feature = "mysql")),
        allow(unused_variables)
    )]
    pub(crate) fn new(
        backend: DbBackend,
        pool_url: &str,
        fresh_for: std::time::Duration,
        check_timeout: std::time::Duration,
    ) -> Option<Self> {
        match backend {
            #[cfg(feature = "postgres")]
            DbBackend::Postgres => Some(Self::Postgres(Arc::new(Park::new(
                fresh_for,
                check_timeout,
            )))),
            #[cfg(feature = "mysql")]
            DbBackend::MySql => Some(Self::MySql(
                Arc::new(Park::new(fresh_for, check_timeout)),
                pool_url.into(),
            )),
            _ => None,
        }
    }

    /// Gives every parked connection back: the pool is closing.
    pub(crate) fn close(&self) {
        match self {
            #[cfg(feature = "postgres")]
            Self::Postgres(park) => park.close(),
            #[cfg(feature = "mysql")]
            Self::MySql(park, _) => park.close(),
            Self::Never(never) => match *never {},
        }
    }
}

/// A shared pool's tenant's route: its calls run on connections of the
/// pool, each moved to the tenant's seat as the server confirms.
#[derive(Clone)]
pub(crate) enum SharedRoute {
    #[cfg(feature = "postgres")]
    Postgres(super::pg_route::PgRoute),
    #[cfg(feature = "mysql")]
    MySql(super::mysql_route::MySqlRoute),
    #[allow(dead_code)]
    Never(Infallible, Seat),
}

/// Calls `$method` on whichever route this is.
macro_rules! each_route {
    ($self:ident, $route:ident => $call:expr) => {
        match $self {
            #[cfg(feature = "postgres")]
            SharedRoute::Postgres($route) => $call,
            #[cfg(feature = "mysql")]
            SharedRoute::MySql($route) => $call,
            SharedRoute::Never(never, _) => match *never {},
        }
    };
}

impl SharedRoute {
    /// The route of `tenant` on `seat`, over the shared pool `db` and its `park`.
    #[cfg_attr(
        not(any(feature = "postgres", feature = "mysql")),
        allow(unused_variables)
    )]
    pub(crate) fn new(
        db: DatabaseConnection,
        park: &SharedPark,
        seat: Seat,
        tenant: TenantKey,
    ) -> Result<Self, TenantError> {
        match (park, &seat) {
            #[cfg(feature = "postgres")]
            (SharedPark::Postgres(park), Seat::Schema(_) | Seat::Row(_)) => Ok(Self::Postgres(
                super::pg_route::PgRoute::new(db, Arc::clone(park), seat, tenant)?,
            )),
            #[cfg(feature = "mysql")]
            (SharedPark::MySql(park, url), Seat::Database(_)) => {
                Ok(Self::MySql(super::mysql_route::MySqlRoute::new(
                    db,
                    Arc::clone(park),
                    Arc::clone(url),
                    seat,
                    tenant,
                )?))
            }
            _ => Err(TenantError::Unavailable {
                tenant,
                reason: "its placement does not match its server's backend".into(),
            }),
        }
    }

    pub(crate) fn seat(&self) -> &Seat {
        each_route!(self, r => r.seat())
    }

    pub(crate) async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        each_route!(self, r => r.execute_raw(stmt).await)
    }

    pub(crate) async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        each_route!(self, r => r.execute_unprepared(sql).await)
    }

    pub(crate) async fn query_one_raw(
        &self,
        stmt: Statement,
    ) -> Result<Option<QueryResult>, DbErr> {
        each_route!(self, r => r.query_one_raw(stmt).await)
    }

    pub(crate) async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        each_route!(self, r => r.query_all_raw(stmt).await)
    }

    pub(crate) async fn stream_raw(
        &self,
        stmt: Statement,
    ) -> Result<BoxStream<'static, Result<QueryResult, DbErr>>, DbErr> {
        each_route!(self, r => r.stream_raw(stmt).await)
    }

    pub(crate) async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        each_route!(self, r => r.begin_with_config(isolation_level, access_mode).await)
    }
}
