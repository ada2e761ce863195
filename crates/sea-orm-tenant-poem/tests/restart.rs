//! A plain poem app written as the README shows (the middleware, a handler
//! ending its query with `into_poem()?`) while its PostgreSQL server
//! restarts: every answer is 200 or 503 with `Retry-After`, never a 500, and
//! the app answers 200 again once the server is back.
//!
//! Needs a server of its own to restart: `TEST_POSTGRES_URL_2` and
//! `TEST_POSTGRES_RESTART_2`, the command that restarts it (`.ci/run` sets
//! both); skipped with a notice otherwise.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use poem::http::{StatusCode, header};
use poem::test::TestClient;
use poem::{EndpointExt, Route, get, handler};
use sea_orm_tenant::sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_tenant::testing::{POSTGRES_2_VAR, TestDatabases};
use sea_orm_tenant::{PoolOptions, TenantConnections};
use sea_orm_tenant_poem::{CurrentTenant, Resolver, TenantMiddleware, TenantResultExt};

const RESTART_VAR: &str = "TEST_POSTGRES_RESTART_2";

#[handler]
async fn count(tenant: CurrentTenant) -> poem::Result<String> {
    let row = tenant
        .db()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM note",
        ))
        .await
        .into_poem()?;
    let n: i64 = row.map_or(Ok(0), |r| r.try_get("", "n")).into_poem()?;
    Ok(n.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarting_server_is_503_with_retry_after_never_500() {
    let Some(restart) = std::env::var(RESTART_VAR)
        .ok()
        .filter(|c| !c.trim().is_empty())
    else {
        eprintln!("notice: {RESTART_VAR} is not set; skipping the server restart test");
        return;
    };
    let Some(mut dbs) = TestDatabases::postgres_from(POSTGRES_2_VAR) else {
        return;
    };
    let config = dbs.create_config("acme").await;
    let direct = dbs.connect_direct("acme").await;
    direct
        .execute_unprepared("CREATE TABLE note (id INT PRIMARY KEY)")
        .await
        .unwrap();
    direct.close().await.ok();
    let store = TenantConnections::builder()
        .tenant_config(
            "acme",
            config.with_pool(PoolOptions {
                max_connections: Some(2),
                acquire_timeout: Some(Duration::from_millis(500)),
                connect_timeout: Some(Duration::from_millis(500)),
                ..Default::default()
            }),
        )
        .build()
        .unwrap();
    let app = Route::new()
        .at("/count", get(count))
        .with(TenantMiddleware::new(store.clone(), Resolver::default()));
    let client = Arc::new(TestClient::new(app));
    assert_eq!(
        client.get("/count?tenant=acme").send().await.0.status(),
        StatusCode::OK
    );

    let restarting = Arc::new(AtomicBool::new(true));
    let driver = {
        let (client, restarting) = (client.clone(), restarting.clone());
        tokio::spawn(async move {
            let mut answers = Vec::new();
            // Until the restart is over, then until the app answers 200 again.
            loop {
                let resp = client.get("/count?tenant=acme").send().await.0;
                let status = resp.status();
                let retry_after = resp.headers().contains_key(header::RETRY_AFTER);
                answers.push((status, retry_after));
                if !restarting.load(Ordering::Acquire) && status == StatusCode::OK {
                    return answers;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut parts = restart.split_whitespace();
    let program = parts.next().unwrap();
    let status = tokio::process::Command::new(program)
        .args(parts)
        .status()
        .await
        .expect("run the restart command");
    restarting.store(false, Ordering::Release);
    let answers = tokio::time::timeout(Duration::from_secs(60), driver)
        .await
        .expect("the app answers 200 again within 60 s")
        .unwrap();
    store.close().await;
    dbs.cleanup().await;

    assert!(status.success(), "{restart}: {status}");
    let unavailable = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    eprintln!(
        "{} answers during the restart, {unavailable} of them 503",
        answers.len()
    );
    let wrong: Vec<_> = answers
        .iter()
        .filter(|(s, retry)| {
            !(*s == StatusCode::OK || (*s == StatusCode::SERVICE_UNAVAILABLE && *retry))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "answers other than 200 or 503 with Retry-After: {wrong:?}"
    );
    assert!(unavailable > 0, "no request saw the restart: {answers:?}");
}
