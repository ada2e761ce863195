//! The notes requests the tests repeat, tenant sent as `?tenant=`.

use serde_json::{Value, json};

use crate::server::NotesServer;

/// What came back: status and JSON body (`Value::Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body, parsed.
    pub json: Value,
}

impl Answer {
    async fn read(resp: reqwest::Response) -> Self {
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Self {
            status,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }
}

impl NotesServer {
    /// `POST /notes?tenant=..` with `{"body": body}`.
    pub async fn post_note(&self, tenant: &str, body: &str) -> reqwest::Result<Answer> {
        let resp = self
            .client()
            .post(self.url("/notes"))
            .query(&[("tenant", tenant)])
            .json(&json!({ "body": body }))
            .send()
            .await?;
        Ok(Answer::read(resp).await)
    }

    /// `GET path_and_query` with no tenant added.
    pub async fn get(&self, path_and_query: &str) -> Answer {
        let resp = self
            .client()
            .get(self.url(path_and_query))
            .send()
            .await
            .expect("GET");
        Answer::read(resp).await
    }

    /// `GET /notes?tenant=..&limit=1000`: `(id, body)` pairs, panicking unless 200.
    pub async fn list_notes(&self, tenant: &str) -> Vec<(i64, String)> {
        let answer = self
            .get(&format!("/notes?tenant={tenant}&limit=1000"))
            .await;
        assert_eq!(
            answer.status, 200,
            "GET /notes for {tenant}: {:?}",
            answer.json
        );
        notes_of(&answer.json)
    }
}

/// `(id, body)` pairs of a JSON array of notes.
pub fn notes_of(json: &Value) -> Vec<(i64, String)> {
    json.as_array()
        .expect("a JSON array of notes")
        .iter()
        .map(|n| {
            (
                n["id"].as_i64().expect("integer id"),
                n["body"].as_str().expect("string body").to_owned(),
            )
        })
        .collect()
}
