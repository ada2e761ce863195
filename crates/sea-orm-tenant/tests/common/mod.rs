//! Shared by the integration tests of this crate: a `note` entity and store set-up.
#![allow(dead_code)]

use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, Schema};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{PoolOptions, TenantConnections};

pub mod note {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "note")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        /// The tenant the writer believed it was writing for.
        pub owner: String,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates the `note` table on a plain connection.
pub async fn create_schema(conn: &impl ConnectionTrait) {
    let schema = Schema::new(conn.get_database_backend());
    let stmt = schema.create_table_from_entity(note::Entity);
    conn.execute(&stmt).await.expect("create note table");
}

/// Creates the `note` table in `tenant`'s new database (or schema), directly.
pub async fn create_note_table(dbs: &TestDatabases, tenant: &str) {
    let direct = if dbs.is_schemas() {
        dbs.connect_direct(tenant).await
    } else {
        sea_orm::Database::connect(dbs.url(tenant))
            .await
            .expect("connect to new tenant db")
    };
    create_schema(&direct).await;
    direct.close().await.ok();
}

/// Tenant names `t00`, `t01`, ...
pub fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t{i:02}")).collect()
}

/// Creates `n` tenant databases with the `note` table and a store over them.
pub async fn store_with(dbs: &mut TestDatabases, n: usize, pool: PoolOptions) -> TenantConnections {
    let mut builder = TenantConnections::builder();
    for name in names(n) {
        let config = dbs.create_config(&name).await;
        create_note_table(dbs, &name).await;
        builder = builder.tenant_config(&name, config.with_pool(pool.clone()));
    }
    builder.build().expect("build store")
}

/// Small pools: the servers' connection limits are shared by parallel tests.
pub fn small_pools() -> PoolOptions {
    PoolOptions {
        max_connections: Some(3),
        ..Default::default()
    }
}

/// Every `(owner, body)` row in `tenant`'s database, read directly (not through the router).
pub async fn rows_direct(dbs: &TestDatabases, tenant: &str) -> Vec<(String, String)> {
    let conn: DatabaseConnection = dbs.connect_direct(tenant).await;
    let rows = note::Entity::find()
        .all(&conn)
        .await
        .expect("read tenant db directly");
    conn.close().await.ok();
    let mut rows: Vec<_> = rows.into_iter().map(|m| (m.owner, m.body)).collect();
    rows.sort();
    rows
}

/// Runs `$body` (an async fn taking `TestDatabases`) once per backend: SQLite always,
/// PostgreSQL and MySQL when their `TEST_*_URL` variables are set.
#[macro_export]
macro_rules! on_every_backend {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(sea_orm_tenant::testing::TestDatabases::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if let Some(dbs) = sea_orm_tenant::testing::TestDatabases::postgres() {
                        super::$scenario(dbs).await;
                    }
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if let Some(dbs) = sea_orm_tenant::testing::TestDatabases::mysql() {
                        super::$scenario(dbs).await;
                    }
                }
            )*
        }
    };
}

/// Runs each scenario (an async fn taking `TestDatabases`) on MySQL database
/// tenants sharing their server's connections, when `TEST_MYSQL_URL` is set.
#[macro_export]
macro_rules! on_mysql_shared {
    ($($scenario:ident),* $(,)?) => {
        mod mysql_shared {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if let Some(dbs) = sea_orm_tenant::testing::TestDatabases::mysql_shared() {
                        super::$scenario(dbs).await;
                    }
                }
            )*
        }
    };
}

/// Runs each scenario (an async fn taking `TestDatabases`) on schema tenants:
/// one PostgreSQL database, a schema per tenant, when `TEST_POSTGRES_URL` is set.
#[macro_export]
macro_rules! on_schema_tenants {
    ($($scenario:ident),* $(,)?) => {
        mod postgres_schemas {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if let Some(dbs) = sea_orm_tenant::testing::TestDatabases::postgres_schemas() {
                        super::$scenario(dbs).await;
                    }
                }
            )*
        }
    };
}

/// A `note` table in `public` of the schema database: a fall-through target
/// that must stay empty.
pub async fn new_note_table_in_public(dbs: &TestDatabases) {
    let conn = sea_orm::Database::connect(dbs.url(""))
        .await
        .expect("connect to the schema database");
    conn.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS public.note (id SERIAL PRIMARY KEY, owner TEXT NOT NULL, body TEXT NOT NULL)",
    )
    .await
    .expect("create public.note");
    conn.close().await.ok();
}
pub mod session_attacks;

/// `mod postgres` and `mod mysql`, each with one `#[tokio::test]` per
/// scenario `fn(TestDatabases)` named, skipped with a notice when its server
/// URL is not set.
#[macro_export]
macro_rules! on_servers {
    ($($scenario:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    match sea_orm_tenant::testing::TestDatabases::postgres() {
                        Some(dbs) => super::$scenario(dbs).await,
                        None => eprintln!("notice: TEST_POSTGRES_URL unset; skipping"),
                    }
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    match sea_orm_tenant::testing::TestDatabases::mysql() {
                        Some(dbs) => super::$scenario(dbs).await,
                        None => eprintln!("notice: TEST_MYSQL_URL unset; skipping"),
                    }
                }
            )*
        }
    };
}
