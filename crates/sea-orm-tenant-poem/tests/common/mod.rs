//! Helpers shared by the integration tests: real tenant databases with a `note`
//! table, handlers that read them, and a server on a real socket.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use poem::listener::TcpAcceptor;
use poem::{Endpoint, Server, handler};
use sea_orm_tenant::sea_orm::{ConnectionTrait, Statement};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{PoolOptions, TenantConfig, TenantConnections};
use sea_orm_tenant_poem::{CurrentTenant, TenantResultExt};

/// Small pools: PostgreSQL allows 100 connections for every test binary running at once.
pub fn pool() -> PoolOptions {
    PoolOptions {
        max_connections: Some(2),
        connect_timeout: Some(Duration::from_secs(5)),
        ..Default::default()
    }
}

/// Creates each tenant's database with a `note (body TEXT)` table holding one
/// row `"<tenant>-seed"`, and a store routing to them.
pub async fn store_with(dbs: &mut TestDatabases, tenants: &[&str]) -> TenantConnections {
    let mut builder = TenantConnections::builder().defaults(pool());
    for tenant in tenants {
        let url = dbs.create(tenant).await;
        let direct = sea_orm_tenant::sea_orm::Database::connect(&url)
            .await
            .expect("open the new tenant database");
        direct
            .execute_unprepared("CREATE TABLE note (body TEXT NOT NULL)")
            .await
            .expect("create table");
        direct
            .execute_unprepared(&format!("INSERT INTO note (body) VALUES ('{tenant}-seed')"))
            .await
            .expect("seed row");
        direct.close().await.ok();
        builder = builder.tenant_config(tenant, TenantConfig::new(url));
    }
    builder.build().expect("valid store")
}

/// Every `body` in the `note` table, sorted.
pub async fn bodies(conn: &impl ConnectionTrait) -> Vec<String> {
    let backend = conn.get_database_backend();
    let rows = conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT body FROM note ORDER BY body",
        ))
        .await
        .expect("select bodies");
    rows.iter()
        .map(|r| r.try_get::<String>("", "body").expect("body column"))
        .collect()
}

/// The seed row of the current tenant's database, read through the router.
pub async fn seed_of(tenant: &CurrentTenant) -> poem::Result<String> {
    let db = tenant.db();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT body FROM note WHERE body LIKE '%-seed'",
        ))
        .await
        .into_poem()?
        .expect("seed row");
    Ok(row.try_get::<String>("", "body").expect("body column"))
}

/// `GET /whoami`: the tenant name and its seed row, read from its database.
#[handler]
pub async fn whoami(tenant: CurrentTenant) -> poem::Result<String> {
    let seed = seed_of(&tenant).await?;
    Ok(format!("{} {seed}", tenant.key()))
}

/// Serves `ep` on a fresh loopback port; the server task ends with the test's runtime.
pub async fn serve<E>(ep: E) -> SocketAddr
where
    E: Endpoint + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let acceptor = TcpAcceptor::from_tokio(listener).expect("poem acceptor");
    tokio::spawn(Server::new_with_acceptor(acceptor).run(ep));
    addr
}

/// One HTTP/1.1 request over a fresh connection: status, headers, and the body
/// frames as received.
pub async fn http_get(
    addr: SocketAddr,
    path_and_query: &str,
    headers: &[(&str, &str)],
) -> (u16, poem::http::HeaderMap, Vec<bytes::Bytes>) {
    use http_body_util::{BodyExt, Empty};
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let mut req = hyper::Request::get(path_and_query).header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Empty::<bytes::Bytes>::new()).unwrap())
        .await
        .expect("response");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut body = resp.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("body frame").into_data() {
            frames.push(data);
        }
    }
    (status, headers, frames)
}

/// `count` items, each read when polled: `(index, current tenant, seed row)`,
/// the seed row queried through the router at that moment.
pub fn seed_stream(
    tenant: CurrentTenant,
    count: usize,
) -> impl futures_util::Stream<Item = Result<(usize, String, String), std::io::Error>> + Send + 'static
{
    use futures_util::StreamExt;
    futures_util::stream::iter(0..count).then(move |i| {
        let tenant = tenant.clone();
        async move {
            let seed = seed_of(&tenant)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let current = sea_orm_tenant::current_tenant()
                .map(|t| t.to_string())
                .unwrap_or_default();
            Ok((i, current, seed))
        }
    })
}
