//! Row tenancy made by migrations ([`sea_orm_tenant_migration::rows`]) and
//! checked by `migration audit`, on real PostgreSQL as an ordinary role.
//! Skipped, with a notice, without `TEST_POSTGRES_URL`.

use sea_orm::{ConnectionTrait, Database};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::rows::audit;
use sea_orm_tenant::testing::TestRowDatabase;
use sea_orm_tenant::{TenantConnections, TenantsConfig};
use sea_orm_tenant_migration::rows::{disable_row_tenancy, enable_row_tenancy, tenant_column};
use sea_orm_tenant_migration::{EXIT_FAILED, EXIT_OK, MigrationCli, Outcome, migrate_all};

struct CreateNotes;

impl MigrationName for CreateNotes {
    fn name(&self) -> &str {
        "m1_create_row_notes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateNotes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("notes")
                    .col(tenant_column())
                    .col(
                        ColumnDef::new("id")
                            .big_integer()
                            .not_null()
                            .auto_increment(),
                    )
                    .col(ColumnDef::new("body").text().not_null())
                    .primary_key(Index::create().col("tenant_id").col("id"))
                    .to_owned(),
            )
            .await?;
        enable_row_tenancy(manager, "notes").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        disable_row_tenancy(manager, "notes").await?;
        manager
            .drop_table(Table::drop().table("notes").to_owned())
            .await
    }
}

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateNotes)]
    }
}

#[tokio::test]
async fn the_helpers_make_a_table_the_audit_passes_and_undo_it() {
    let Some(db) = TestRowDatabase::new().await else {
        return;
    };
    let app = Database::connect(db.app_url()).await.unwrap();
    Migrator::up(&app, None).await.unwrap();
    let report = audit(&app).await.unwrap();
    assert!(report.is_protected(), "{report:?}");
    assert_eq!(report.tenant_tables, ["notes"]);
    // No tenant set: the default leaves the column NULL, and the insert fails.
    assert!(
        app.execute_unprepared("INSERT INTO notes (body) VALUES ('x')")
            .await
            .is_err()
    );
    Migrator::down(&app, None).await.unwrap();
    let report = audit(&app).await.unwrap();
    assert!(report.tenant_tables.is_empty(), "{report:?}");
    app.close().await.ok();
    db.cleanup().await;
}

#[tokio::test]
async fn migration_up_then_audit_on_a_row_database() {
    let Some(db) = TestRowDatabase::new().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tenants.toml");
    std::fs::write(
        &config,
        format!(
            "[databases.app]\nurl = \"{}\"\ntenants_are = \"rows\"\ntenants = [\"acme\", \"globex\"]\n",
            db.app_url()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let cli = MigrationCli::new::<Migrator>();
    let run = |verb: &'static str| {
        let cli = cli.clone();
        let config = config.to_owned();
        async move {
            cli.run_from(["migration", "--config", &config, "--format", "json", verb])
                .await
        }
    };
    // Migrated once for the database, reported for each of its tenants.
    let store =
        TenantConnections::from_config(TenantsConfig::from_toml_file(config).unwrap()).unwrap();
    let report = migrate_all::<Migrator>(&store).await;
    store.close().await;
    let mut seen: Vec<(String, Outcome, Option<String>)> = report
        .tenants
        .iter()
        .map(|t| (t.tenant.clone(), t.outcome, t.migrated_with.clone()))
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        [
            ("acme".to_owned(), Outcome::Migrated, None),
            (
                "globex".to_owned(),
                Outcome::Migrated,
                Some("acme".to_owned())
            ),
        ]
    );
    assert_eq!(report.tenants[0].migrations, ["m1_create_row_notes"]);
    assert_eq!(run("up").await, EXIT_OK);
    assert_eq!(run("audit").await, EXIT_OK);
    db.sql("ALTER TABLE notes NO FORCE ROW LEVEL SECURITY")
        .await;
    assert_eq!(run("audit").await, EXIT_FAILED);
    db.sql("ALTER TABLE notes FORCE ROW LEVEL SECURITY; CREATE UNIQUE INDEX notes_body ON notes (body)")
        .await;
    assert_eq!(run("audit").await, EXIT_FAILED);
    db.cleanup().await;
}
