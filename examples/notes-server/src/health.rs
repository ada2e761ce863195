//! `GET /health`: answers 200 with no tenant, listing tenants out of service.

use poem::handler;
use poem::web::{Data, Json};
use serde_json::{Value, json};

use crate::quarantine::Quarantine;

/// `{"status": "ok", "out_of_service": [..]}`.
#[handler]
pub fn health(quarantine: Data<&Quarantine>) -> Json<Value> {
    let out: Vec<String> = quarantine
        .tenants()
        .into_iter()
        .map(|t| t.to_string())
        .collect();
    Json(json!({ "status": "ok", "out_of_service": out }))
}
