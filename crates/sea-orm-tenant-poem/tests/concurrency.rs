//! Two tenants, 1,000 concurrent requests each, never cross: every row read
//! back directly from each tenant's database is exactly one written for it.

mod common;

use std::sync::Arc;

use poem::test::TestClient;
use poem::web::Query;
use poem::{EndpointExt, Route, handler, post};
use sea_orm_tenant::sea_orm::{ConnectionTrait, Statement, Value};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant_poem::{CurrentTenant, Resolver, TenantMiddleware, TenantResultExt};
use serde::Deserialize;

use common::{bodies, store_with};

const REQUESTS_PER_TENANT: usize = 1_000;
const TENANTS: [&str; 2] = ["acme", "globex"];

#[derive(Deserialize)]
struct NewNote {
    body: String,
}

/// Inserts `body` through the router and answers with the tenant it went to.
#[handler]
async fn add_note(tenant: CurrentTenant, Query(note): Query<NewNote>) -> poem::Result<String> {
    let db = tenant.db();
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm_tenant::sea_orm::DbBackend::Postgres => "INSERT INTO note (body) VALUES ($1)",
        _ => "INSERT INTO note (body) VALUES (?)",
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [Value::from(note.body)],
    ))
    .await
    .into_poem()?;
    Ok(tenant.to_string())
}

async fn two_tenants_never_cross(mut dbs: TestDatabases) {
    let store = store_with(&mut dbs, &TENANTS).await;
    let app = Route::new()
        .at("/notes", post(add_note))
        .with(TenantMiddleware::new(
            store.clone(),
            Resolver::header("X-Tenant").unwrap(),
        ));
    let cli = Arc::new(TestClient::new(app));

    let mut tasks = Vec::with_capacity(REQUESTS_PER_TENANT * TENANTS.len());
    for i in 0..REQUESTS_PER_TENANT {
        for tenant in TENANTS {
            let cli = Arc::clone(&cli);
            tasks.push(tokio::spawn(async move {
                let resp = cli
                    .post("/notes")
                    .header("X-Tenant", tenant)
                    .query("body", &format!("{tenant}-{i}"))
                    .send()
                    .await;
                resp.assert_status_is_ok();
                resp.assert_text(tenant).await;
            }));
        }
    }
    for task in futures_util::future::join_all(tasks).await {
        task.expect("request task");
    }
    store.close().await;

    for tenant in TENANTS {
        let direct = dbs.connect_direct(tenant).await;
        let mut expected: Vec<String> = (0..REQUESTS_PER_TENANT)
            .map(|i| format!("{tenant}-{i}"))
            .chain([format!("{tenant}-seed")])
            .collect();
        expected.sort();
        assert_eq!(bodies(&direct).await, expected, "rows of {tenant}");
        direct.close().await.ok();
    }
    dbs.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sqlite_tenants_1000_concurrent_requests_each_never_cross() {
    two_tenants_never_cross(TestDatabases::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_tenants_1000_concurrent_requests_each_never_cross() {
    let Some(dbs) = TestDatabases::postgres() else {
        return;
    };
    two_tenants_never_cross(dbs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_mysql_tenants_1000_concurrent_requests_each_never_cross() {
    let Some(dbs) = TestDatabases::mysql() else {
        return;
    };
    two_tenants_never_cross(dbs).await;
}
