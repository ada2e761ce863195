//! The router: the notes routes behind the tenant layer, `/health` and every
//! unknown route without it.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use sea_orm_tenant::TenantConnections;
use sea_orm_tenant_axum::{DEFAULT_HEADER, DEFAULT_QUERY_PARAM, Resolver, TenantLayer};
use serde_json::{Value, json};

use crate::error::json_error;
use crate::notes;

/// The app: notes routed to the tenant named by the `X-Tenant` header or the
/// `tenant` query parameter, `/health` with no tenant, JSON 404 and 405.
pub fn app(store: TenantConnections) -> Router {
    let resolver = Resolver::header(DEFAULT_HEADER)
        .expect("X-Tenant is a valid header name")
        .or(Resolver::query(DEFAULT_QUERY_PARAM));
    let notes = Router::new()
        .route("/notes", get(notes::list).post(notes::create))
        .route("/notes/{id}", get(notes::get).delete(notes::delete))
        // `route_layer`: only matched routes need a tenant; an unknown route is a 404.
        .route_layer(TenantLayer::new(store.clone(), resolver))
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .route("/health", get(health))
        .with_state(store)
        .merge(notes)
        .fallback(not_found)
}

/// `{"status": "ok", "out_of_service": [..]}`.
async fn health(State(store): State<TenantConnections>) -> Json<Value> {
    let out: Vec<String> = store
        .out_of_service()
        .into_iter()
        .map(|(tenant, _)| tenant.to_string())
        .collect();
    Json(json!({ "status": "ok", "out_of_service": out }))
}

async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "not found")
}

async fn method_not_allowed() -> Response {
    json_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}
