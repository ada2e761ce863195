//! The routes: `/notes` and `/notes/{id}` (tenant-routed), `/health`,
//! `/metrics` (tenant server only), `/openapi.json` and `/docs` (no tenant).

use std::sync::Arc;
use std::time::Duration;

use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::{EndpointExt, IntoEndpoint, Response, Route, get};
use poem_openapi::error::ParsePathError;
use poem_openapi::{OpenApi, OpenApiService};
use sea_orm_tenant::{TenantConnection, TenantConnections};
use sea_orm_tenant_poem::{
    DEFAULT_HEADER, DEFAULT_QUERY_PARAM, Resolver, TenantMiddleware, TenantRejection,
};

use crate::admin_api::AdminApi;
use crate::error::json_error;
use crate::health::health;
use crate::http::body_limit::BodyLimit;
use crate::http::request_log::RequestLog;
use crate::http::request_timeout::RequestTimeout;
use crate::metrics::metrics_endpoint;
use crate::notes_api::NotesApi;
use crate::tenant_args::{Routed, Unrouted};

const TITLE: &str = "notes-server";

/// The server: notes routed to the tenant named by the `X-Tenant` header or the
/// `tenant` query parameter (both given and different: 400), and, when `admin`
/// is given (`ADMIN_TOKEN` set), the admin API under `/admin`.
pub fn tenant_app(
    store: &TenantConnections,
    request_timeout: Duration,
    admin: Option<AdminApi>,
) -> BoxEndpoint<'static, Response> {
    let notes = NotesApi::<_, Routed>::new(store.db());
    match admin {
        Some(admin) => routed_app((notes, admin), store, request_timeout, true),
        None => routed_app(notes, store, request_timeout, false),
    }
}

fn routed_app<A: OpenApi + 'static>(
    api: A,
    store: &TenantConnections,
    request_timeout: Duration,
    admin: bool,
) -> BoxEndpoint<'static, Response> {
    let api = OpenApiService::<_, ()>::new(api, TITLE, env!("CARGO_PKG_VERSION")).description(
        "Notes, one database per tenant. Send the tenant as the `X-Tenant` header or the \
         `tenant` query parameter (both given and different: 400). Errors are JSON \
         `{\"error\": \"...\"}`: no or malformed tenant 400, unknown tenant 404, invalid \
         body, id or query 400, tenant database unavailable or not migrated 503. \
         `/admin` (only with `ADMIN_TOKEN` set) creates, lists and drops tenants.",
    );
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let resolver = Resolver::header(DEFAULT_HEADER)
        .expect("X-Tenant is a valid header name")
        .or(Resolver::query(DEFAULT_QUERY_PARAM));
    let endpoint = api.with(TenantMiddleware::new(store.clone(), resolver).exempt_prefix("/admin"));
    let endpoint = Arc::new(endpoint.map_to_response());
    let mut route = notes_routes(Arc::clone(&endpoint), Some(store.clone()));
    if admin {
        route = route.at("/admin/*", endpoint);
    }
    finish(
        route
            .at("/metrics", get(metrics_endpoint(store.clone())))
            .at("/openapi.json", spec)
            .nest("/docs", docs),
        request_timeout,
    )
}

/// The benchmark baseline: the same notes API on one tenant's connection (its
/// pools as the routed server uses them), no tenant middleware, no routing.
pub fn single_db_app(
    db: TenantConnection,
    request_timeout: Duration,
) -> BoxEndpoint<'static, Response> {
    let api = OpenApiService::<_, ()>::new(
        NotesApi::<_, Unrouted>::new(db),
        TITLE,
        env!("CARGO_PKG_VERSION"),
    );
    let spec = api.spec_endpoint();
    finish(
        notes_routes(api, None).at("/openapi.json", spec),
        request_timeout,
    )
}

/// `/notes`, `/notes/*` and `/health` (which lists `store`'s tenants out of
/// service): other paths answer 404 with no tenant needed.
fn notes_routes<E>(notes: E, store: Option<TenantConnections>) -> Route
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    let notes = Arc::new(notes.into_endpoint().map_to_response());
    Route::new()
        .at("/notes", Arc::clone(&notes))
        .at("/notes/*", notes)
        .at("/health", get(health).data(store))
}

/// JSON errors everywhere, a bound on every request, one log line per request.
fn finish(route: Route, request_timeout: Duration) -> BoxEndpoint<'static, Response> {
    route
        .catch_all_error(|err: poem::Error| async move {
            if err.is_from_response() || err.is::<TenantRejection>() {
                return err.into_response();
            }
            // poem-openapi names path parameters `param0`..; the only one is the id.
            if let Some(path) = err.downcast_ref::<ParsePathError>() {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid note id: {}", path.reason),
                );
            }
            match err.status() {
                StatusCode::INTERNAL_SERVER_ERROR => {
                    json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
                }
                // The contract answers every invalid body with 400, a wrong
                // `Content-Type` included (poem-openapi says 415).
                StatusCode::UNSUPPORTED_MEDIA_TYPE => json_error(
                    StatusCode::BAD_REQUEST,
                    format!("{err}; send the body as `Content-Type: application/json`"),
                ),
                status => json_error(status, err.to_string()),
            }
        })
        .with(RequestTimeout(request_timeout))
        .with(BodyLimit)
        .with(RequestLog)
        .boxed()
}
