//! Test migrators and helpers shared by this crate's integration tests.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{Catalog, CatalogOptions, CatalogSync, PoolOptions, TenantConnections};
use sea_orm_tenant_migration::CatalogMigrator;

pub const M1: &str = "m1_create_items";
pub const M2: &str = "m2_add_items_qty";
pub const M3: &str = "m3_fails_halfway";

/// `items (id, name)`.
pub struct CreateItems;
/// Adds `items.qty` (constant default, so SQLite accepts it).
pub struct AddQty;
/// Creates table `audit`, then runs invalid SQL: fails halfway.
pub struct FailsHalfway;

impl MigrationName for CreateItems {
    fn name(&self) -> &str {
        M1
    }
}
impl MigrationName for AddQty {
    fn name(&self) -> &str {
        M2
    }
}
impl MigrationName for FailsHalfway {
    fn name(&self) -> &str {
        M3
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateItems {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("items")
                .col(
                    ColumnDef::new("id")
                        .integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new("name").string().not_null())
                .to_owned(),
        )
        .await
    }
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("items").to_owned()).await
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddQty {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("items")
                .add_column(ColumnDef::new("qty").integer().not_null().default(0))
                .to_owned(),
        )
        .await
    }
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("items").drop_column("qty").to_owned())
            .await
    }
}

#[async_trait::async_trait]
impl MigrationTrait for FailsHalfway {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("audit")
                .col(ColumnDef::new("id").integer().not_null().primary_key())
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared("THIS IS NOT SQL")
            .await
            .map(|_| ())
    }
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("audit").to_owned()).await
    }
}

/// Two good migrations.
pub struct Migrator;
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateItems), Box::new(AddQty)]
    }
}

/// The two good migrations and a third that fails halfway.
pub struct FailingMigrator;
impl MigratorTrait for FailingMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateItems),
            Box::new(AddQty),
            Box::new(FailsHalfway),
        ]
    }
}

/// `n` tenant names `t00`, `t01`, ...
pub fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t{i:02}")).collect()
}

/// Small pools: the PostgreSQL server allows 100 connections in all.
pub fn small_pools() -> PoolOptions {
    PoolOptions {
        max_connections: Some(1),
        ..PoolOptions::default()
    }
}

/// Creates databases for `tenants` and a store over them.
pub async fn store(dbs: &mut TestDatabases, tenants: &[String]) -> TenantConnections {
    let mut builder = TenantConnections::builder().defaults(small_pools());
    for name in tenants {
        builder = builder.tenant_config(name, dbs.create_config(name).await);
    }
    builder.build().expect("store builds")
}

/// The versions recorded in `seaql_migrations`, in order (empty if the table is missing).
pub async fn recorded(db: &DatabaseConnection) -> Vec<String> {
    if !SchemaManager::new(db)
        .has_table("seaql_migrations")
        .await
        .unwrap()
    {
        return Vec::new();
    }
    let backend = db.get_database_backend();
    db.query_all_raw(Statement::from_string(
        backend,
        "SELECT version FROM seaql_migrations ORDER BY version",
    ))
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get::<String>("", "version").unwrap())
    .collect()
}

pub async fn has_table(db: &DatabaseConnection, table: &str) -> bool {
    SchemaManager::new(db).has_table(table).await.unwrap()
}

/// What a tenant's database really holds, read directly (not through the store).
pub async fn direct(dbs: &TestDatabases, tenant: &str) -> (Vec<String>, bool) {
    let db = dbs.connect_direct(tenant).await;
    let out = (recorded(&db).await, has_table(&db, "items").await);
    db.close().await.ok();
    out
}

/// A migration that panics.
pub struct Panics;
impl MigrationName for Panics {
    fn name(&self) -> &str {
        "m9_panics"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for Panics {
    async fn up(&self, _: &SchemaManager) -> Result<(), DbErr> {
        panic!("migration bug")
    }
}

/// One migration, which panics.
pub struct PanickingMigrator;
impl MigratorTrait for PanickingMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Panics)]
    }
}

/// A store whose shared database is the SQLite file `shared.db` in `dir`,
/// the catalog's tables made, and its catalog: one app instance.
pub async fn catalog_store(dir: &std::path::Path) -> (TenantConnections, Catalog) {
    let store = TenantConnections::builder()
        .defaults(small_pools())
        .shared(format!("sqlite://{}/shared.db?mode=rwc", dir.display()))
        .build()
        .unwrap();
    CatalogMigrator::up(&store.shared().await.unwrap(), None)
        .await
        .unwrap();
    let catalog = Catalog::open(&store).await.unwrap();
    (store, catalog)
}

/// Writers inserting `w<worker>-<n>` for `acme` through `store`'s router
/// until stopped; each returns the names acknowledged and the errors.
pub fn writers(
    store: &TenantConnections,
    stop: &Arc<AtomicBool>,
    first: usize,
) -> Vec<tokio::task::JoinHandle<(Vec<String>, Vec<String>)>> {
    (first..first + 2)
        .map(|worker| {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                let db = store.db();
                let (mut acked, mut errors) = (Vec::new(), Vec::new());
                let mut n = 0;
                while !stop.load(Ordering::Acquire) {
                    n += 1;
                    let name = format!("w{worker}-{n:05}");
                    let sql = format!("INSERT INTO items (name) VALUES ('{name}')");
                    match store.with_tenant("acme", db.execute_unprepared(&sql)).await {
                        Ok(Ok(_)) => acked.push(name),
                        Ok(Err(e)) => errors.push(e.to_string()),
                        Err(e) => errors.push(e.to_string()),
                    }
                }
                (acked, errors)
            })
        })
        .collect()
}

/// Stops `writers` ([`writers`]) and gathers what they acknowledged and
/// the errors they met.
pub async fn stop_writers(
    stop: &AtomicBool,
    writers: Vec<tokio::task::JoinHandle<(Vec<String>, Vec<String>)>>,
) -> (Vec<String>, Vec<String>) {
    stop.store(true, Ordering::Release);
    let (mut acked, mut errors) = (Vec::new(), Vec::new());
    for writer in writers {
        let (a, e) = writer.await.unwrap();
        acked.extend(a);
        errors.extend(e);
    }
    (acked, errors)
}

/// The first column of the first row of `sql`.
pub async fn scalar<T: sea_orm::TryGetable>(db: &impl ConnectionTrait, sql: &str) -> T {
    db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap()
}

/// The first column of `sql` in the database at `url`, on a connection of its own.
pub async fn count(url: &str, sql: &str) -> i64 {
    let db = Database::connect(url).await.unwrap();
    let n = scalar::<i64>(&db, sql).await;
    db.close().await.ok();
    n
}

/// Two app instances following one catalog, and the catalog.
pub struct Instances {
    pub a: TenantConnections,
    pub b: TenantConnections,
    pub catalog: Catalog,
    _syncs: (CatalogSync, CatalogSync),
    /// The catalog's directory (its SQLite file).
    pub dir: tempfile::TempDir,
}

/// Two app instances following one catalog: `a` by the provisioner's own
/// store, `b` by polling every 20 ms.
pub async fn instances() -> Instances {
    instances_with(CatalogOptions::default()).await
}

/// [`instances`], following the catalog with `options` (polling every 20 ms,
/// not listening).
/// How often the instances of [`instances_with`] poll their catalog.
const INSTANCES_POLL: Duration = Duration::from_millis(20);

/// The shortest `moving_expiry` the instances of [`instances_with`] accept:
/// how long they hold a tenant whose mover was killed.
pub fn shortest_moving_expiry() -> Duration {
    CatalogOptions {
        poll_interval: INSTANCES_POLL,
        ..CatalogOptions::default()
    }
    .least_moving_expiry()
}

pub async fn instances_with(options: CatalogOptions) -> Instances {
    let dir = tempfile::tempdir().unwrap();
    let (a, catalog) = catalog_store(dir.path()).await;
    let (b, catalog_b) = catalog_store(dir.path()).await;
    let options = CatalogOptions {
        poll_interval: INSTANCES_POLL,
        listen: false,
        ..options
    };
    let sync_a = CatalogSync::start(a.clone(), catalog.clone(), options.clone())
        .await
        .unwrap();
    let sync_b = CatalogSync::start(b.clone(), catalog_b, options)
        .await
        .unwrap();
    Instances {
        a,
        b,
        catalog,
        _syncs: (sync_a, sync_b),
        dir,
    }
}

/// Moves `tenant` to `to` from a third instance of the catalog in `dir`, on
/// a runtime of its own (as another process would), and kills it once
/// `reached` resolves: the runtime is shut down, so nothing of the move
/// runs again and its sessions end, as when a process is killed.
pub async fn kill_mover_when(
    dir: &std::path::Path,
    tenant: &str,
    to: &str,
    options: &sea_orm_tenant_migration::MoveOptions,
    reached: impl std::future::Future<Output = ()>,
) {
    let (kill, killed) = tokio::sync::oneshot::channel::<()>();
    let (ended, mover_ended) = tokio::sync::oneshot::channel::<String>();
    let (dir, tenant, to, options) = (
        dir.to_owned(),
        tenant.to_owned(),
        to.to_owned(),
        options.clone(),
    );
    let mover = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let (store, catalog) = catalog_store(&dir).await;
            let sync =
                CatalogSync::start(store.clone(), catalog.clone(), CatalogOptions::default())
                    .await
                    .unwrap();
            let provisioner =
                sea_orm_tenant_migration::Provisioner::new::<Migrator>(store).catalog(catalog);
            tokio::select! {
                result = provisioner.move_tenant(&tenant, &to, &options) => {
                    let _ = ended.send(format!("{result:?}"));
                }
                _ = killed => {}
            }
            drop(sync);
        });
        runtime.shutdown_background();
    });
    tokio::select! {
        () = reached => {}
        result = mover_ended => panic!("the move ended before it was killed: {result:?}"),
    }
    let _ = kill.send(());
    mover.join().unwrap();
}

/// Rows of the move journal (`tenant_moves`), read from the catalog's
/// database.
#[allow(dead_code)]
pub async fn journal_rows(catalog: &sea_orm_tenant::Catalog) -> i64 {
    let db = catalog.database();
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        "SELECT count(*) AS n FROM tenant_moves",
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<i64>(0)
    .unwrap()
}

/// Resolves once the catalog places `tenant` at `url` (its move switched).
#[allow(dead_code)]
pub async fn until_switched(catalog: &sea_orm_tenant::Catalog, tenant: &str, url: &str) {
    let key = sea_orm_tenant::TenantKey::new(tenant).unwrap();
    while catalog.get(&key).await.unwrap().unwrap().url != url {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}
