//! A streamed axum response keeps its tenant and the request's lease until
//! it ends: every chunk is produced with the tenant current and reads its
//! database, and the tenant's pool can be neither evicted nor closed by a
//! removal while the body is being sent. Synchronised by a channel, no sleeps.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::get;
use futures_util::StreamExt;
use http::Request;
use http_body_util::BodyExt;
use sea_orm_tenant::TenantConnections;
use sea_orm_tenant::sea_orm::{ConnectionTrait, Statement};
use sea_orm_tenant_axum::{CurrentTenant, Resolver, TenantLayer};
use tokio::sync::{Mutex, mpsc};
use tower::ServiceExt;

/// Each message on the channel becomes a chunk `"<current tenant>:<rows in note>;"`.
fn streaming(tenant: CurrentTenant, rx: mpsc::UnboundedReceiver<()>) -> Body {
    let db = tenant.db().clone();
    let stream = futures_util::stream::unfold((rx, db), |(mut rx, db)| async move {
        rx.recv().await?;
        let who = sea_orm_tenant::current_tenant().map_or("none".to_owned(), |t| t.to_string());
        let backend = db.get_database_backend();
        let n = match db
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT COUNT(*) AS n FROM note",
            ))
            .await
        {
            Ok(Some(row)) => row.try_get::<i64>("", "n").unwrap_or(-1).to_string(),
            Ok(None) => "none".into(),
            Err(err) => format!("error {err}"),
        };
        Some((
            Ok::<_, Infallible>(Bytes::from(format!("{who}:{n};"))),
            (rx, db),
        ))
    });
    Body::from_stream(stream.boxed())
}

#[tokio::test]
async fn a_streamed_body_keeps_the_tenant_and_its_pool_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("acme.db").display());
    let store = TenantConnections::from_urls([("acme", url.as_str())]).unwrap();
    store
        .with_tenant("acme", async {
            let db = store.db();
            db.execute_unprepared("CREATE TABLE note (body TEXT)")
                .await
                .unwrap();
            db.execute_unprepared("INSERT INTO note VALUES ('a'), ('b')")
                .await
                .unwrap();
        })
        .await
        .unwrap();

    let (tx, rx) = mpsc::unbounded_channel();
    let rx = std::sync::Arc::new(Mutex::new(Some(rx)));
    let app = Router::new()
        .route(
            "/stream",
            get(move |tenant: CurrentTenant| {
                let rx = rx.clone();
                async move { streaming(tenant, rx.lock().await.take().unwrap()) }
            }),
        )
        .layer(TenantLayer::new(
            store.clone(),
            Resolver::header("X-Tenant").unwrap(),
        ));

    let resp = app
        .oneshot(
            Request::get("/stream")
                .header("X-Tenant", "acme")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();

    // The handler has returned; the body is polled out of its scope, here.
    assert_eq!(sea_orm_tenant::current_tenant(), None);
    tx.send(()).unwrap();
    let chunk = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&chunk[..], b"acme:2;");

    // The body holds the lease: its pool is in use, so not evicted.
    assert_eq!(store.evict_idle(Duration::ZERO).await, 0);
    assert!(store.tenant_stats()[0].open);

    // Removed while streaming: the tenant is unregistered at once (the core
    // then refuses new routed calls for it, even from the stream), but the
    // stream still runs in its tenant, and the pool is not closed under it:
    // the removal waits for the body's lease.
    let removal = tokio::spawn(store.remove_tenant("acme"));
    tx.send(()).unwrap();
    let chunk = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(chunk.starts_with(b"acme:"), "{chunk:?}");
    assert!(!removal.is_finished());

    // The stream ends; dropping the body gives the lease back and the removal closes the pool.
    drop(tx);
    assert!(body.frame().await.is_none());
    drop(body);
    removal.await.unwrap().unwrap();
    assert!(!store.contains("acme"));
}
