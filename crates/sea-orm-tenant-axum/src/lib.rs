//! A `tower` layer and [axum] extractors that choose the [`sea_orm_tenant`]
//! tenant once per request.
//!
//! [`TenantLayer`] resolves the tenant (query parameter, header, subdomain,
//! path segment, custom closure, or a chain of them: [`Resolver`]), checks
//! it, leases its database, and runs the rest of the request, response body
//! included, with that tenant current: every query through a
//! [`TenantDb`](sea_orm_tenant::TenantDb) goes to the tenant's own database.
//! The resolvers and rejections are those of `sea-orm-tenant-poem`, the same
//! code ([`sea_orm_tenant_http`]), so both answer alike:
//!
//! | situation | answer |
//! |---|---|
//! | no tenant given | 400 |
//! | malformed tenant name | 400 |
//! | two sources disagree | 400 |
//! | tenant not registered | 404 |
//! | tenant database unavailable, tenant out of service | 503 with `Retry-After` |
//! | `with_tenant` for another tenant inside a handler | 403 |
//!
//! Bodies are JSON `{"error": "...", "tenant": "..."}` (see [`TenantRejection`]);
//! replace them with [`TenantLayer::on_rejection`].
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use http::{Request, StatusCode};
//! use http_body_util::BodyExt;
//! use sea_orm_tenant::TenantConnections;
//! use sea_orm_tenant::sea_orm::{ConnectionTrait, Statement};
//! use sea_orm_tenant_axum::{CurrentTenant, ErrorResponse, Resolver, TenantLayer, TenantResultExt};
//! use tower::ServiceExt;
//!
//! async fn count(tenant: CurrentTenant) -> Result<String, ErrorResponse> {
//!     let db = tenant.db();
//!     db.execute_unprepared("CREATE TABLE IF NOT EXISTS hit (n INTEGER)").await.into_axum()?;
//!     db.execute_unprepared("INSERT INTO hit VALUES (1)").await.into_axum()?;
//!     let row = db
//!         .query_one_raw(Statement::from_string(db.get_database_backend(), "SELECT COUNT(*) AS n FROM hit"))
//!         .await
//!         .into_axum()?
//!         .expect("one row");
//!     let n: i64 = row.try_get("", "n").into_axum()?;
//!     Ok(format!("{}: {n}", tenant.key()))
//! }
//!
//! async fn send(app: &Router, req: Request<Body>) -> (StatusCode, String) {
//!     let resp = app.clone().oneshot(req).await.unwrap();
//!     let status = resp.status();
//!     let body = resp.into_body().collect().await.unwrap().to_bytes();
//!     (status, String::from_utf8(body.to_vec()).unwrap())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = TenantConnections::from_urls([
//!     ("acme", "sqlite::memory:"),
//!     ("globex", "sqlite::memory:"),
//! ])?;
//! let app = Router::new()
//!     .route("/count", get(count))
//!     .route("/health", get(|| async { "ok" }))
//!     .layer(
//!         TenantLayer::new(store, Resolver::header("X-Tenant")?.or(Resolver::query("tenant")))
//!             .exempt("/health"),
//!     );
//! let get = |uri: &str, tenant: Option<&str>| {
//!     let req = Request::get(uri);
//!     let req = match tenant { Some(t) => req.header("X-Tenant", t), None => req };
//!     req.body(Body::empty()).unwrap()
//! };
//!
//! assert_eq!(send(&app, get("/count", Some("acme"))).await, (StatusCode::OK, "acme: 1".into()));
//! assert_eq!(send(&app, get("/count?tenant=acme", None)).await, (StatusCode::OK, "acme: 2".into()));
//! assert_eq!(send(&app, get("/count", Some("globex"))).await, (StatusCode::OK, "globex: 1".into()));
//!
//! let (status, body) = send(&app, get("/count", Some("initech"))).await;
//! assert_eq!(status, StatusCode::NOT_FOUND);
//! assert_eq!(body, r#"{"error":"unknown tenant initech","tenant":"initech"}"#);
//! assert_eq!(send(&app, get("/count", Some("Acme"))).await.0, StatusCode::BAD_REQUEST);
//! assert_eq!(send(&app, get("/count", None)).await.0, StatusCode::BAD_REQUEST);
//! assert_eq!(send(&app, get("/health", None)).await, (StatusCode::OK, "ok".into()));
//! # Ok(())
//! # }
//! ```
//!
//! # Where the scope reaches
//!
//! * Routing, extractors and the handler run inside the tenant's scope.
//! * Response bodies are polled after the handler returns: the layer reads
//!   each body's first frame inside the scope, in the poll where the response
//!   is ready. A body complete in that frame (bytes, a string, JSON) is sent
//!   as it is; one that goes on is wrapped in a [`TenantBody`] that re-enters
//!   the tenant on every poll and holds the request's lease until the body is
//!   dropped, so a stream (SSE, chunked) reaches the tenant's database to its
//!   end and the tenant's pool is neither evicted nor closed meanwhile.
//! * `tokio::spawn` starts a task without the tenant: use
//!   [`sea_orm_tenant::spawn`]. For queued work, carry the tenant in the job
//!   ([`TenantJob`]) and re-enter it where the job runs.
//! * Calling `with_tenant` for *another* tenant inside a request fails with
//!   `TenantError::Switch`; [`TenantResultExt::into_axum`] answers it with 403.
//!
//! # Exempt routes
//!
//! [`TenantLayer::exempt`] and [`TenantLayer::exempt_prefix`] let health
//! checks and docs run with no tenant (extracting [`CurrentTenant`] there
//! fails with 500; use `Option<CurrentTenant>`).
//!
//! # Loco
//!
//! A Loco app is an axum app: add the layer in the `after_routes` hook of
//! its `Hooks` implementation (see the crate README).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod body;
mod config;
mod extract;
mod job;
mod layer;
mod resolver;
mod result;
mod service;

pub use body::TenantBody;
pub use extract::{CurrentTenant, RoutedDb};
pub use job::TenantJob;
pub use layer::TenantLayer;
pub use resolver::{
    ConflictPolicy, DEFAULT_HEADER, DEFAULT_QUERY_PARAM, InvalidHeaderName, Resolver,
};
pub use result::{ErrorResponse, TenantResultExt};
pub use sea_orm_tenant_http::{DEFAULT_RETRY_AFTER, TenantRejection};
pub use service::{TenantFuture, TenantService};
