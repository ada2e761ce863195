//! `migration`: applies this workspace's migrations to every tenant in `tenants.toml`.
//! Run `migration --help` for usage; see `sea_orm_tenant_migration::MigrationCli`.

#![forbid(unsafe_code)]

#[tokio::main]
async fn main() -> std::process::ExitCode {
    sea_orm_tenant_migration::MigrationCli::new::<migration::Migrator>()
        .rows::<migration::RowMigrator>()
        .run()
        .await
}
