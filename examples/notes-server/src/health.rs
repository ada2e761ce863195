//! `GET /health`: answers 200 with no tenant, listing tenants out of service.

use poem::handler;
use poem::web::{Data, Json};
use sea_orm_tenant::TenantConnections;
use serde_json::{Value, json};

/// `{"status": "ok", "out_of_service": [..]}`.
#[handler]
pub fn health(store: Data<&Option<TenantConnections>>) -> Json<Value> {
    let out: Vec<String> = store
        .iter()
        .flat_map(|store| store.out_of_service())
        .map(|(tenant, _)| tenant.to_string())
        .collect();
    Json(json!({ "status": "ok", "out_of_service": out }))
}
