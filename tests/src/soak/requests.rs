//! One soak request of a random kind (create, a page of the list, a read or
//! a delete by id), its tenant named by header or query, and what its answer
//! adds to the history.

use serde_json::{Value, json};

use super::history::{History, belongs_to, note_body};
use crate::scale::SplitMix64;
use crate::{NotesServer, notes_of};

/// One request of a random kind; returns the status (0: no answer).
pub async fn one_request(
    server: &NotesServer,
    client: &reqwest::Client,
    history: &History,
    tenant: &str,
    worker: usize,
    seq: u64,
    rng: &mut SplitMix64,
) -> u16 {
    let by_header = rng.below(2) == 0;
    let with_tenant = |req: reqwest::RequestBuilder| {
        if by_header {
            req.header("x-tenant", tenant)
        } else {
            req.query(&[("tenant", tenant)])
        }
    };
    let roll = rng.below(100);
    let live = history.live_id(tenant, |n| rng.below(n));
    let (req, kind) = match (roll, live) {
        (0..40, _) | (_, None) => {
            let body = note_body(tenant, worker, seq);
            (
                with_tenant(client.post(server.url("/notes"))).json(&json!({ "body": body })),
                Kind::Create(body),
            )
        }
        (40..70, Some(id)) => {
            let limit = 1 + rng.below(50);
            let mut req = with_tenant(client.get(server.url("/notes"))).query(&[("limit", limit)]);
            if rng.below(2) == 0 {
                req = req.query(&[("after_id", id.saturating_sub(rng.below(20) as i64))]);
            }
            (req, Kind::Read)
        }
        (70..85, Some(id)) => (
            with_tenant(client.get(server.url(&format!("/notes/{id}")))),
            Kind::Read,
        ),
        (_, Some(id)) => (
            with_tenant(client.delete(server.url(&format!("/notes/{id}")))),
            Kind::Delete(id),
        ),
    };
    let Ok(resp) = req.send().await else {
        if let Kind::Delete(id) = kind {
            history.maybe_deleted(tenant, id);
        }
        return 0;
    };
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    match kind {
        Kind::Create(sent) if status == 201 => {
            if let Some(id) = body["id"].as_i64() {
                history.created(tenant, id, sent);
            }
        }
        Kind::Read if status == 200 => {
            let notes = if body.is_array() {
                notes_of(&body)
            } else {
                notes_of(&Value::Array(vec![body]))
            };
            for (_, note) in notes {
                if !belongs_to(&note, tenant) {
                    history.foreign_answer(tenant, &note);
                }
            }
        }
        Kind::Delete(id) if status == 204 => history.deleted(tenant, id),
        Kind::Delete(_) if status == 404 => {}
        Kind::Delete(id) => history.maybe_deleted(tenant, id),
        _ => {}
    }
    status
}

enum Kind {
    Create(String),
    Read,
    Delete(i64),
}
