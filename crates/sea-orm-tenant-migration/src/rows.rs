//! Row tenancy in migrations: [`enable_row_tenancy`] puts a table under
//! row-level security for row tenants in a migration's `up`,
//! [`disable_row_tenancy`] takes it off in `down`.
//!
//! ```
//! use sea_orm_migration::prelude::*;
//! use sea_orm_tenant_migration::rows::{enable_row_tenancy, disable_row_tenancy, tenant_column};
//!
//! struct CreateNotes;
//!
//! impl MigrationName for CreateNotes {
//!     fn name(&self) -> &str {
//!         "m20261204_000001_create_notes"
//!     }
//! }
//!
//! #[async_trait::async_trait]
//! impl MigrationTrait for CreateNotes {
//!     async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
//!         manager
//!             .create_table(
//!                 Table::create()
//!                     .table("notes")
//!                     .col(tenant_column())
//!                     .col(ColumnDef::new("id").big_integer().not_null().auto_increment())
//!                     .col(ColumnDef::new("body").text().not_null())
//!                     // Keys start with the tenant column.
//!                     .primary_key(Index::create().col("tenant_id").col("id"))
//!                     .to_owned(),
//!             )
//!             .await?;
//!         enable_row_tenancy(manager, "notes").await
//!     }
//!
//!     async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
//!         disable_row_tenancy(manager, "notes").await?;
//!         manager.drop_table(Table::drop().table("notes").to_owned()).await
//!     }
//! }
//! ```

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_tenant::rows::{RowTable, TENANT_COLUMN, TENANT_SETTING};

/// The tenant column for a `Table::create()`: `tenant_id text NOT NULL`,
/// defaulting to the session's tenant, so inserts that leave it out get it
/// and inserts with no tenant set fail.
pub fn tenant_column() -> ColumnDef {
    ColumnDef::new(Alias::new(TENANT_COLUMN))
        .text()
        .not_null()
        .default(Expr::cust(format!(
            "NULLIF(pg_catalog.current_setting('{TENANT_SETTING}', true), '')"
        )))
        .to_owned()
}

/// Puts `table` (of the `public` schema) under row tenancy: the tenant column
/// when missing, an index on it, row-level security enabled and forced, and
/// the policy comparing the column with the session's tenant in `USING` and
/// `WITH CHECK` ([`RowTable::enable_statements`]). PostgreSQL only: any other
/// backend is an error, and nothing runs.
pub async fn enable_row_tenancy(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    run(manager, row_table(manager, table)?.enable_statements()).await
}

/// The reverse of [`enable_row_tenancy`], for `down`.
pub async fn disable_row_tenancy(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    run(manager, row_table(manager, table)?.disable_statements()).await
}

fn row_table(manager: &SchemaManager<'_>, table: &str) -> Result<RowTable, DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Err(DbErr::Migration(format!(
            "row tenancy on table {table} needs PostgreSQL's row-level security; \
             on MySQL/MariaDB or SQLite use a database or a file per tenant"
        )));
    }
    RowTable::new(table).map_err(|e| DbErr::Migration(e.to_string()))
}

async fn run(manager: &SchemaManager<'_>, statements: Vec<String>) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    for sql in statements {
        conn.execute_unprepared(&sql).await?;
    }
    Ok(())
}
