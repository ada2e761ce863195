//! Running a SeaORM [`Statement`] on an sqlx connection of a shared pool:
//! the statement as an sqlx query, and sqlx's errors as SeaORM's.

use sea_orm::sea_query::Values;
use sea_orm::sqlx::{self, AssertSqlSafe};
use sea_orm::{DbErr, Statement};
use sea_query_sqlx::SqlxValues;

// SeaORM's own conversions of sqlx errors are crate-private; the same mapping.
pub(crate) fn sqlx_error_to_conn_err(err: sqlx::Error) -> DbErr {
    DbErr::Conn(sea_orm::RuntimeErr::SqlxError(err.into()))
}

pub(crate) fn sqlx_error_to_exec_err(err: sqlx::Error) -> DbErr {
    DbErr::Exec(sea_orm::RuntimeErr::SqlxError(err.into()))
}

pub(crate) fn sqlx_error_to_query_err(err: sqlx::Error) -> DbErr {
    DbErr::Query(sea_orm::RuntimeErr::SqlxError(err.into()))
}

/// `stmt` as an sqlx query, its values bound as SeaORM binds them.
pub(crate) fn sqlx_query<DB>(stmt: &Statement) -> sqlx::query::Query<'_, DB, SqlxValues>
where
    DB: sqlx::Database,
    SqlxValues: sqlx::IntoArguments<DB>,
{
    let values = stmt
        .values
        .as_ref()
        .map_or(Values(Vec::new()), |values| values.clone());
    sqlx::query_with(AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
}
