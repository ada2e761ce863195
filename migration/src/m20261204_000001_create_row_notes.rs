//! Creates the `notes` table shared by row tenants: the tenant column first in
//! the key, under row-level security (`sea_orm_tenant_migration::rows`).

use sea_orm_migration::{prelude::*, schema::*};
use sea_orm_tenant_migration::rows::{disable_row_tenancy, enable_row_tenancy, tenant_column};

use crate::Notes;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Notes::Table)
                    .col(tenant_column())
                    .col(integer(Notes::Id).auto_increment())
                    .col(text(Notes::Body))
                    // Keys start with the tenant column: a key without it
                    // would tell one tenant what another holds.
                    .primary_key(Index::create().col("tenant_id").col(Notes::Id))
                    .to_owned(),
            )
            .await?;
        enable_row_tenancy(manager, "notes").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        disable_row_tenancy(manager, "notes").await?;
        manager
            .drop_table(Table::drop().table(Notes::Table).to_owned())
            .await
    }
}
