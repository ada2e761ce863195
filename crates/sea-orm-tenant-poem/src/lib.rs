//! A [poem] middleware that chooses the [`sea_orm_tenant`] tenant once per request.
//!
//! [`TenantMiddleware`] resolves the tenant (query parameter, header, subdomain,
//! path segment, custom closure, or a chain of them: [`Resolver`]), checks it,
//! opens its database, and runs the rest of the request, response body
//! included, with that tenant current: every query through a
//! [`TenantDb`](sea_orm_tenant::TenantDb) goes to the tenant's own database.
//!
//! | situation | answer |
//! |---|---|
//! | no tenant given | 400 |
//! | malformed tenant name | 400 |
//! | two sources disagree | 400 |
//! | tenant not registered | 404 |
//! | tenant database unavailable | 503 with `Retry-After` |
//! | `with_tenant` for another tenant inside a handler | 403 |
//!
//! Bodies are JSON `{"error": "...", "tenant": "..."}` (see [`TenantRejection`]);
//! replace them with [`TenantMiddleware::on_rejection`].
//!
//! ```
//! use poem::{EndpointExt, Route, get, handler, http::StatusCode, test::TestClient};
//! use sea_orm_tenant::TenantConnections;
//! use sea_orm_tenant::sea_orm::{ConnectionTrait, Statement};
//! use sea_orm_tenant_poem::{CurrentTenant, Resolver, TenantMiddleware, TenantResultExt};
//!
//! #[handler]
//! async fn count(tenant: CurrentTenant) -> poem::Result<String> {
//!     let db = tenant.db();
//!     db.execute_unprepared("CREATE TABLE IF NOT EXISTS hit (n INTEGER)").await.into_poem()?;
//!     db.execute_unprepared("INSERT INTO hit VALUES (1)").await.into_poem()?;
//!     let row = db
//!         .query_one_raw(Statement::from_string(db.get_database_backend(), "SELECT COUNT(*) AS n FROM hit"))
//!         .await
//!         .into_poem()?
//!         .expect("one row");
//!     let n: i64 = row.try_get("", "n").map_err(poem::error::InternalServerError)?;
//!     Ok(format!("{}: {n}", tenant.key()))
//! }
//!
//! #[handler]
//! fn health() -> &'static str {
//!     "ok"
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = TenantConnections::from_urls([
//!     ("acme", "sqlite::memory:"),
//!     ("globex", "sqlite::memory:"),
//! ])?;
//! let app = Route::new()
//!     .at("/count", get(count))
//!     .at("/health", get(health))
//!     .with(
//!         TenantMiddleware::new(store, Resolver::header("X-Tenant")?.or(Resolver::query("tenant")))
//!             .exempt("/health"),
//!     );
//! let cli = TestClient::new(app);
//!
//! cli.get("/count").header("X-Tenant", "acme").send().await.assert_text("acme: 1").await;
//! cli.get("/count").query("tenant", &"acme").send().await.assert_text("acme: 2").await;
//! cli.get("/count").header("X-Tenant", "globex").send().await.assert_text("globex: 1").await;
//!
//! let resp = cli.get("/count").header("X-Tenant", "initech").send().await;
//! resp.assert_status(StatusCode::NOT_FOUND);
//! resp.assert_json(serde_json::json!({"error": "unknown tenant initech", "tenant": "initech"})).await;
//! cli.get("/count").header("X-Tenant", "Acme").send().await.assert_status(StatusCode::BAD_REQUEST);
//! cli.get("/count").send().await.assert_status(StatusCode::BAD_REQUEST);
//! cli.get("/health").send().await.assert_text("ok").await;
//! # Ok(())
//! # }
//! ```
//!
//! # Where the scope reaches
//!
//! * Routing, extractors and the handler run inside `with_tenant`.
//! * Response bodies are polled after the handler returns. The middleware reads
//!   each body's first frame while the tenant is still current; a body that goes
//!   on after it (streams, SSE) is wrapped in a [`TenantBody`] that re-enters
//!   the tenant on every poll and keeps `Content-Length`.
//! * `tokio::spawn` starts a task without the tenant: use
//!   [`sea_orm_tenant::spawn`] instead.
//! * WebSocket callbacks run in a new task: use
//!   [`TenantWebSocketExt::on_upgrade_in_tenant`] (see [`websocket`]).
//! * Calling `with_tenant` for *another* tenant inside a request fails with
//!   `TenantError::Switch`; [`TenantResultExt::into_poem`] answers it with
//!   **403 Forbidden**: it is a cross-tenant access attempt by the code handling
//!   this tenant's request, not a bad client value. Re-entering the request's
//!   own tenant is allowed.
//!
//! # Exempt routes
//!
//! [`TenantMiddleware::exempt`] and [`TenantMiddleware::exempt_prefix`] let
//! health checks, docs and the OpenAPI spec run with no tenant (extracting
//! [`CurrentTenant`] there fails with 500; use `Option<CurrentTenant>`).
//!
//! # OpenAPI
//!
//! Take [`TenantHeader`] or [`TenantQuery`] in poem-openapi operations to declare
//! the tenant as an `apiKey` security scheme (see [`openapi`]).
//!
//! # Tracing
//!
//! Each request runs in an `info` span `tenant_request` whose field `tenant` is
//! recorded once the name is valid. Unavailable databases are logged at `warn`,
//! other rejections at `debug`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod body;
mod call;
mod config;
mod error;
mod extract;
mod middleware;
pub mod openapi;
mod request_tenant;
mod resolver;
pub mod websocket;

pub use body::TenantBody;
pub use error::{DEFAULT_RETRY_AFTER, TenantRejection, TenantResultExt};
pub use extract::CurrentTenant;
pub use middleware::{TenantEndpoint, TenantMiddleware};
pub use openapi::{ApiKeyIn, TenantApiKey, TenantApiKeySpec, TenantHeader, TenantQuery};
pub use request_tenant::{RequestTenant, RequestTenantSlot};
pub use resolver::{
    ConflictPolicy, DEFAULT_HEADER, DEFAULT_QUERY_PARAM, InvalidHeaderName, Resolver,
};
pub use websocket::{TenantWebSocketExt, in_current_tenant};
