//! Row tenancy made by migrations ([`sea_orm_tenant_migration::rows`]) and
//! checked by `migration audit`, on real PostgreSQL as an ordinary role.
//! Skipped, with a notice, without `TEST_POSTGRES_URL`.

use sea_orm::{ConnectionTrait, Database};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::rows::audit;
use sea_orm_tenant::testing::TestRowDatabase;
use sea_orm_tenant::{Catalog, TenantConnections, TenantsConfig};
use sea_orm_tenant_migration::rows::{disable_row_tenancy, enable_row_tenancy, tenant_column};
use sea_orm_tenant_migration::{
    CatalogMigrator, EXIT_FAILED, EXIT_OK, MigrationCli, Outcome, Placement, Provisioner,
    migrate_all,
};

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

/// Creating a row tenant is a catalog row (no DDL), served at once; dropping
/// it deletes its rows from every tenant table in one transaction, and no
/// other tenant's; `keep_data` keeps them. Creating 1,000 is timed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_tenants_are_created_as_catalog_rows_and_dropped_with_their_rows() {
    let Some(db) = TestRowDatabase::new().await else {
        return;
    };
    let app = Database::connect(db.app_url()).await.unwrap();
    Migrator::up(&app, None).await.unwrap();
    // A second tenant table referencing the first, so the deletes have an order.
    app.execute_unprepared(&format!(
        "CREATE TABLE replies ({}, id serial, note_id bigint NOT NULL, body text NOT NULL, \
           PRIMARY KEY (tenant_id, id), \
           FOREIGN KEY (tenant_id, note_id) REFERENCES notes (tenant_id, id)); {}",
        sea_orm_tenant::rows::RowTable::column_definition(),
        sea_orm_tenant::rows::RowTable::new("replies")
            .unwrap()
            .enable_statements()
            .join("; ")
    ))
    .await
    .unwrap();
    app.close().await.ok();
    let dir = tempfile::tempdir().unwrap();
    let store = TenantConnections::builder()
        .shared(format!(
            "sqlite://{}/shared.db?mode=rwc",
            dir.path().display()
        ))
        .build()
        .unwrap();
    CatalogMigrator::up(&store.shared().await.unwrap(), None)
        .await
        .unwrap();
    let catalog = Catalog::open(&store).await.unwrap();
    let provisioner = Provisioner::new::<Migrator>(store.clone()).catalog(catalog.clone());
    let placement = Placement::Rows { url: db.app_url() };
    let before = databases_and_schemas(&db).await;
    let started = std::time::Instant::now();
    for i in 0..1_000 {
        provisioner
            .create(&format!("r{i}"), &placement)
            .await
            .unwrap();
    }
    eprintln!("1,000 row tenants created in {:?}", started.elapsed());
    assert_eq!(
        databases_and_schemas(&db).await,
        before,
        "a row tenant made DDL"
    );
    let entry = catalog.get(&"r7".parse().unwrap()).await.unwrap().unwrap();
    assert!(entry.rows && entry.schema.is_none(), "{entry:?}");
    let conn = store.db();
    for t in ["r1", "r2", "r3"] {
        store
            .with_tenant(t, async {
                conn.execute_unprepared(
                    "INSERT INTO notes (id, body) VALUES (1, 'n'); \
                     INSERT INTO replies (note_id, body) VALUES (1, 'r')",
                )
                .await
            })
            .await
            .unwrap()
            .unwrap();
    }
    let dropped = provisioner.drop("r1", false).await.unwrap();
    assert!(dropped.storage_dropped);
    provisioner.drop("r2", true).await.unwrap();
    assert!(!store.contains("r1") && !store.contains("r2"));
    let owners = |table: &'static str| {
        let url = db.owner_url();
        async move {
            let conn = Database::connect(url).await.unwrap();
            let rows: Vec<String> = conn
                .query_all_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    format!("SELECT tenant_id FROM {table} ORDER BY tenant_id"),
                ))
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get("", "tenant_id").unwrap())
                .collect();
            conn.close().await.ok();
            rows
        }
    };
    assert_eq!(owners("notes").await, ["r2", "r3"]);
    assert_eq!(owners("replies").await, ["r2", "r3"]);
    store.close().await;
    db.cleanup().await;
}

/// The databases of the server (but other tests') and the schemas of the row database.
async fn databases_and_schemas(db: &TestRowDatabase) -> Vec<String> {
    let conn = Database::connect(db.owner_url()).await.unwrap();
    let names = conn
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT datname AS name FROM pg_database UNION ALL \
             SELECT nspname FROM pg_namespace ORDER BY 1",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("", "name").unwrap())
        // Other tests' databases come and go meanwhile.
        .filter(|n: &String| !n.starts_with("sot_") && !n.starts_with("scale_"))
        .collect();
    conn.close().await.ok();
    names
}
