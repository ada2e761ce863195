//! [`CatalogMigrator`]: the library's own migration, making the tenant catalog
//! tables ([`sea_orm_tenant::Catalog`]) in the shared database.

use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;
use sea_orm_tenant::Catalog;

/// Makes the catalog tables. Its versions are kept in their own table,
/// `seaql_tenant_catalog_migrations`, apart from the application's shared
/// migrations.
///
/// ```no_run
/// # async fn f(shared: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
/// use sea_orm_migration::MigratorTrait;
/// sea_orm_tenant_migration::CatalogMigrator::up(shared, None).await
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CatalogMigrator;

impl MigratorTrait for CatalogMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateCatalog),
            Box::new(AddRowTenants),
            Box::new(AddMoveJournal),
        ]
    }

    fn migration_table_name() -> DynIden {
        "seaql_tenant_catalog_migrations".into_iden()
    }
}

struct CreateCatalog;

/// Adds the move journal (`tenant_moves`): a move killed after its switch
/// is finished by the next one from it.
struct AddMoveJournal;

impl MigrationName for AddMoveJournal {
    fn name(&self) -> &str {
        "m20261205_000001_tenant_move_journal"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddMoveJournal {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(super::moving::journal_table()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new(super::moving::MOVES_TABLE))
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}

/// Adds the row tenants' column, `in_rows`.
struct AddRowTenants;

impl MigrationName for AddRowTenants {
    fn name(&self) -> &str {
        "m20261204_000001_catalog_row_tenants"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddRowTenants {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&Catalog::row_tenants_sql())
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(sea_orm_tenant::CATALOG_TABLE)
                    .drop_column("in_rows")
                    .to_owned(),
            )
            .await
    }
}

impl MigrationName for CreateCatalog {
    fn name(&self) -> &str {
        "m20261126_000001_create_tenant_catalog"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCatalog {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in Catalog::tables() {
            manager.create_table(table).await?;
        }
        manager
            .get_connection()
            .execute_unprepared(&Catalog::seed_sql())
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            sea_orm_tenant::GENERATION_TABLE,
            sea_orm_tenant::CATALOG_TABLE,
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
