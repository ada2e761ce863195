//! The recipe's answers: awaited until it serves the seeded notes, and
//! compared with notes-server's for each tenant (the same JSON).

use std::time::{Duration, Instant};

use serde_json::Value;

use super::args::{FLASK_START_TIMEOUT, TARGET};
use super::gunicorn::Gunicorn;
use crate::NotesServer;

/// `GET url` parsed as JSON, with its status.
async fn get_json(client: &reqwest::Client, url: &str) -> Result<(u16, Value), String> {
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| format!("GET {url}: {e}"))?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Polls the recipe until `GET /notes?tenant=test1` answers 200 with `notes` rows.
pub async fn wait_flask_ready(
    flask: &mut Gunicorn,
    client: &reqwest::Client,
    notes: usize,
) -> Result<(), String> {
    let deadline = Instant::now() + FLASK_START_TIMEOUT;
    let url = flask.url(TARGET);
    loop {
        flask.check_running()?;
        let last = match get_json(client, &url).await {
            Ok((200, json)) if json.as_array().is_some_and(|a| a.len() == notes) => return Ok(()),
            Ok((status, json)) => format!("status {status}: {json}"),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "the recipe did not answer {TARGET} with 200 and {notes} notes within \
                 {FLASK_START_TIMEOUT:?} (last: {last}); output:\n{}",
                flask.output()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Both servers give the same JSON for each tenant's `GET /notes`.
pub async fn compare_answers(
    client: &reqwest::Client,
    flask: &Gunicorn,
    notes: &NotesServer,
    expected: &[(&str, usize)],
) -> Result<(), String> {
    for &(tenant, count) in expected {
        let path = format!("/notes?tenant={tenant}");
        let (fs, fj) = get_json(client, &flask.url(&path)).await?;
        let (ns, nj) = get_json(client, &notes.url(&path)).await?;
        if fs != 200 || ns != 200 {
            return Err(format!(
                "GET {path}: the recipe answered {fs}, notes-server {ns}"
            ));
        }
        let rows = nj.as_array().map_or(0, Vec::len);
        if fj != nj || rows != count {
            return Err(format!(
                "GET {path}: the answers differ or do not hold {count} notes\n  recipe:       {fj}\n  notes-server: {nj}"
            ));
        }
        eprintln!("GET {path}: both servers answer the same {rows} notes");
    }
    Ok(())
}
