//! Where the axum layer's scope reaches, and its options: path-segment
//! rewriting, custom resolvers' own answers, replaced rejection bodies,
//! exempt routes with `Option<CurrentTenant>`, a nested layer (403), the
//! rejection in the response extensions, and background work for a tenant
//! (`sea_orm_tenant::spawn` in a handler, a `TenantJob` run outside the request).

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use sea_orm_tenant::{TenantConnections, current_tenant};
use sea_orm_tenant_axum::{CurrentTenant, Resolver, TenantJob, TenantLayer, TenantRejection};
use tokio::sync::mpsc;
use tower::{Layer, ServiceExt};

fn store() -> TenantConnections {
    TenantConnections::from_urls([("acme", "sqlite::memory:"), ("globex", "sqlite::memory:")])
        .unwrap()
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

async fn whoami(tenant: CurrentTenant) -> String {
    tenant.to_string()
}

#[tokio::test]
async fn a_path_segment_names_the_tenant_and_is_removed_before_routing() {
    // `Router::layer` runs after routing: to rewrite the path the router
    // sees, the layer wraps the router.
    let app = TenantLayer::new(store(), Resolver::path_segment())
        .layer(Router::new().route("/whoami", get(whoami)));
    let send = async |req: Request<Body>| {
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    assert_eq!(
        send(get_req("/acme/whoami")).await,
        (StatusCode::OK, "acme".into())
    );
    assert_eq!(
        send(get_req("/globex/whoami?x=1")).await,
        (StatusCode::OK, "globex".into())
    );
    assert_eq!(
        send(get_req("/initech/whoami")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(send(get_req("/")).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_custom_resolver_answers_its_own_errors() {
    let resolver = Resolver::custom("API key", |parts: &http::request::Parts| {
        let key = parts.headers.get("x-api-key").cloned();
        async move {
            match key.as_ref().map(|k| k.as_bytes()) {
                Some(b"key-acme") => Ok(Some("acme".to_owned())),
                Some(_) => Err(StatusCode::UNAUTHORIZED.into_response()),
                None => Ok(None),
            }
        }
    });
    let app = Router::new()
        .route("/whoami", get(whoami))
        .layer(TenantLayer::new(store(), resolver));
    let with_key = |key: &str| {
        Request::get("/whoami")
            .header("x-api-key", key)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        send(&app, with_key("key-acme")).await,
        (StatusCode::OK, "acme".into())
    );
    assert_eq!(
        send(&app, with_key("wrong")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, get_req("/whoami")).await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn rejections_can_be_replaced_and_are_in_the_response_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let store = sea_orm_tenant_http::testing::store(dir.path());
    let app = Router::new().route("/whoami", get(whoami)).layer(
        TenantLayer::new(store, Resolver::default())
            .on_rejection(|r| {
                (
                    r.status(),
                    format!("sorry: {}", r.tenant().map_or("-", |t| t.as_str())),
                )
                    .into_response()
            })
            .retry_after(std::time::Duration::from_secs(30)),
    );
    let resp = app
        .clone()
        .oneshot(get_req("/whoami?tenant=broken"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "30");
    assert!(matches!(
        resp.extensions().get::<TenantRejection>(),
        Some(TenantRejection::Unavailable { .. })
    ));
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"sorry: broken");
}

#[tokio::test]
async fn exempt_routes_run_with_no_tenant() {
    async fn maybe(tenant: Option<CurrentTenant>) -> String {
        tenant.map_or("none".to_owned(), |t| t.to_string())
    }
    let app = Router::new()
        .route("/health", get(maybe))
        .route("/docs/{*rest}", get(maybe))
        .route("/needs", get(whoami))
        .layer(
            TenantLayer::new(store(), Resolver::default())
                .exempt("/health")
                .exempt_prefix("/docs")
                .exempt("/needs"),
        );
    assert_eq!(
        send(&app, get_req("/health?tenant=acme")).await,
        (StatusCode::OK, "none".into())
    );
    assert_eq!(
        send(&app, get_req("/docs/a.css")).await,
        (StatusCode::OK, "none".into())
    );
    // `CurrentTenant` where the layer chose none: a wiring bug, 500 with the JSON body.
    let (status, body) = send(&app, get_req("/needs")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, TenantRejection::NoTenant.body().to_string());
}

#[tokio::test]
async fn a_nested_layer_for_another_tenant_is_403() {
    let inner = Router::new()
        .route("/whoami", get(whoami))
        .layer(TenantLayer::new(
            store(),
            Resolver::header("x-inner").unwrap(),
        ));
    let app = inner.layer(TenantLayer::new(
        store(),
        Resolver::header("x-outer").unwrap(),
    ));
    let req = |inner: &str| {
        Request::get("/whoami")
            .header("x-outer", "acme")
            .header("x-inner", inner)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        send(&app, req("acme")).await,
        (StatusCode::OK, "acme".into())
    );
    assert_eq!(send(&app, req("globex")).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn background_work_keeps_its_tenant_in_a_task_and_through_a_queue() {
    let store = store();
    let (queue, mut jobs) = mpsc::unbounded_channel::<String>();
    let app = Router::new()
        .route(
            "/work",
            get(move || {
                let queue = queue.clone();
                async move {
                    // In the same process: a task that carries the tenant.
                    let task =
                        sea_orm_tenant::spawn(async { current_tenant().map(|t| t.to_string()) });
                    let in_task = task.await.unwrap().unwrap_or_default();
                    // Through a queue: a job that names its tenant, serialised.
                    let job = TenantJob::for_current(format!("report for {in_task}")).unwrap();
                    queue.send(serde_json::to_string(&job).unwrap()).unwrap();
                    in_task
                }
            }),
        )
        .layer(TenantLayer::new(store.clone(), Resolver::default()));
    assert_eq!(
        send(&app, get_req("/work?tenant=globex")).await,
        (StatusCode::OK, "globex".into())
    );

    // The worker, outside any request: no tenant here until the job re-enters its own.
    let json = jobs.recv().await.unwrap();
    assert_eq!(json, r#"{"tenant":"globex","payload":"report for globex"}"#);
    assert_eq!(current_tenant(), None);
    let job: TenantJob<String> = serde_json::from_str(&json).unwrap();
    let done = job
        .run(&store, |payload| async move {
            format!("{payload} in {}", current_tenant().unwrap())
        })
        .await
        .unwrap();
    assert_eq!(done, "report for globex in globex");

    // A job for a tenant removed meanwhile runs nothing.
    store.remove_tenant("acme").await.unwrap();
    let stale = TenantJob::new("acme", ()).unwrap();
    assert!(
        stale
            .run(&store, |()| async { unreachable!() })
            .await
            .is_err()
    );
    // Outside a request there is no current tenant to capture.
    assert!(TenantJob::for_current(()).is_err());
}

/// The rejection type answers with the poem crate's bodies (one implementation).
#[test]
fn the_rejection_response_is_the_shared_json() {
    let resp: Response =
        TenantRejection::Unknown(sea_orm_tenant::TenantKey::new("initech").unwrap())
            .into_response();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(resp.headers()["content-type"], "application/json");
}
