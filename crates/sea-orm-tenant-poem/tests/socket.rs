//! The middleware behind a real server on a loopback socket: Content-Length
//! survives the body wrapper, streamed chunks and WebSocket callbacks see the
//! tenant, rejections reach the client.

mod common;

use futures_util::{SinkExt, StreamExt, TryStreamExt};
use poem::web::websocket::{Message, WebSocket};
use poem::{Body, EndpointExt, IntoResponse, Route, get, handler};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant_poem::{CurrentTenant, Resolver, TenantMiddleware, TenantWebSocketExt};

use common::{http_get, seed_of, seed_stream, serve, store_with, whoami};

#[handler]
fn chunks(tenant: CurrentTenant) -> Body {
    Body::from_bytes_stream(seed_stream(tenant, 3).map_ok(|(i, _, seed)| format!("{i}:{seed};")))
}

#[handler]
fn ws(ws: WebSocket, tenant: CurrentTenant) -> impl IntoResponse {
    ws.on_upgrade_in_tenant(move |mut socket| async move {
        while let Some(Ok(Message::Text(text))) = socket.next().await {
            let seed = seed_of(&tenant)
                .await
                .unwrap_or_else(|e| format!("error: {e}"));
            let current = sea_orm_tenant::current_tenant().map(|t| t.to_string());
            let reply = format!("{text} {current:?} {seed}");
            if socket.send(Message::Text(reply)).await.is_err() {
                break;
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_real_socket() {
    let mut dbs = TestDatabases::sqlite();
    let store = store_with(&mut dbs, &["acme", "globex"]).await;
    let app = Route::new()
        .at("/whoami", get(whoami))
        .at("/chunks", get(chunks))
        .at("/ws", get(ws))
        .with(TenantMiddleware::new(
            store,
            Resolver::header("X-Tenant")
                .unwrap()
                .or(Resolver::query("tenant")),
        ));
    let addr = serve(app).await;

    // A body of known length keeps its Content-Length through the wrapper.
    let (status, headers, body) = http_get(addr, "/whoami", &[("X-Tenant", "globex")]).await;
    assert_eq!(status, 200);
    assert_eq!(body.concat(), b"globex globex-seed");
    assert_eq!(headers["content-length"], "18");
    assert!(headers.get("transfer-encoding").is_none());

    // A stream is sent chunked; every chunk read the tenant's database.
    let (status, headers, body) = http_get(addr, "/chunks?tenant=acme", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["transfer-encoding"], "chunked");
    assert_eq!(body.concat(), b"0:acme-seed;1:acme-seed;2:acme-seed;");

    // Rejections reach the client with their JSON body.
    let (status, headers, body) = http_get(addr, "/whoami?tenant=nobody", &[]).await;
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body.concat()).unwrap(),
        serde_json::json!({"error": "unknown tenant nobody", "tenant": "nobody"})
    );

    // The WebSocket callback runs in a new task, inside the request's tenant.
    for tenant in ["globex", "acme"] {
        let (mut socket, _) =
            tokio_tungstenite::connect_async(format!("ws://{addr}/ws?tenant={tenant}"))
                .await
                .expect("websocket handshake");
        for n in 0..2 {
            socket
                .send(tokio_tungstenite::tungstenite::Message::text(format!(
                    "ping{n}"
                )))
                .await
                .unwrap();
            let reply = socket.next().await.unwrap().unwrap();
            assert_eq!(
                reply.into_text().unwrap().as_str(),
                format!("ping{n} Some(\"{tenant}\") {tenant}-seed")
            );
        }
        socket.close(None).await.ok();
    }
}
