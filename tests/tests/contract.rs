//! The HTTP contract of notes-server: every status, JSON errors, the OpenAPI
//! document and docs page, hostile tenant values, request logging, SIGINT.
//! The statuses and the hostile values run against notes-axum too (the same
//! test functions, parameterised by [`Flavor`]), and the statuses for row
//! tenants too (parameterised by [`Storage`]; needs `TEST_POSTGRES_URL`).

mod common;

use std::collections::BTreeSet;

use e2e_tests::{Flavor, NotesServer, Signal, TenantsToml, notes_of};
use futures_util::future::join_all;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use sea_orm_tenant::testing::{TestDatabases, TestRowDatabase};
use serde_json::{Value, json};

use common::config_dir;

/// Where the contract's tenants `test1` and `test2` live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Storage {
    /// A SQLite file each.
    SqliteFiles,
    /// Rows of one PostgreSQL database's shared tables (needs `TEST_POSTGRES_URL`).
    Rows,
}

/// The tenants' storage, dropped by [`cleanup`](Self::cleanup).
enum Tenants {
    Sqlite(TestDatabases),
    Rows(TestRowDatabase),
}

impl Tenants {
    async fn cleanup(self) {
        match self {
            Tenants::Sqlite(dbs) => dbs.cleanup().await,
            Tenants::Rows(db) => db.cleanup().await,
        }
    }
}

/// The `flavor`'s server with tenants `test1` and `test2` in `storage`;
/// `None` (skipped, with a notice) when that storage's server is not set.
async fn server_in(
    flavor: Flavor,
    storage: Storage,
) -> Option<(NotesServer, tempfile::TempDir, Tenants)> {
    match storage {
        Storage::SqliteFiles => {
            let mut dbs = TestDatabases::sqlite();
            let (server, dir) = sqlite_server_of(flavor, &mut dbs).await;
            Some((server, dir, Tenants::Sqlite(dbs)))
        }
        Storage::Rows => {
            let db = TestRowDatabase::new().await?;
            let tenants = ["test1".to_owned(), "test2".to_owned()];
            let toml = TenantsToml::new().row_database(
                "shared",
                &db.app_url(),
                &tenants,
                &["max_connections = 4"],
            );
            let dir = config_dir();
            let server = start(flavor, &toml.write_to(dir.path())).await;
            Some((server, dir, Tenants::Rows(db)))
        }
    }
}

/// A server with SQLite tenants `test1` and `test2`.
async fn sqlite_server(dbs: &mut TestDatabases) -> (NotesServer, tempfile::TempDir) {
    sqlite_server_of(Flavor::Poem, dbs).await
}

/// The `flavor`'s server with SQLite tenants `test1` and `test2`.
async fn sqlite_server_of(
    flavor: Flavor,
    dbs: &mut TestDatabases,
) -> (NotesServer, tempfile::TempDir) {
    let toml = TenantsToml::new()
        .tenant("test1", &dbs.create("test1").await)
        .tenant("test2", &dbs.create("test2").await);
    let dir = config_dir();
    let server = start(flavor, &toml.write_to(dir.path())).await;
    (server, dir)
}

/// The `flavor`'s server on `config`, logging at `RUST_LOG` (default `info`).
async fn start(flavor: Flavor, config: &std::path::Path) -> NotesServer {
    let log = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
    NotesServer::start_flavor(flavor, config, &[], &[("RUST_LOG", &log)]).await
}

/// Sends a request and checks status and, for errors, the JSON `{"error": string}` body.
async fn expect(
    server: &NotesServer,
    req: reqwest::RequestBuilder,
    status: u16,
    what: &str,
) -> Value {
    let resp = req.send().await.expect("request");
    let got = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = resp.text().await.expect("body");
    assert_eq!(
        got,
        status,
        "{what}: body {text}\nserver output:\n{}",
        server.output()
    );
    if status == 204 {
        assert!(text.is_empty(), "{what}: 204 with a body");
        return Value::Null;
    }
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content type {content_type}"
    );
    let json: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
    if status >= 400 {
        assert!(
            json["error"].is_string(),
            "{what}: no error message in {json}"
        );
    }
    json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_of_the_contract() {
    every_status(Flavor::Poem, Storage::SqliteFiles).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_of_the_contract_on_axum() {
    every_status(Flavor::Axum, Storage::SqliteFiles).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_of_the_contract_for_row_tenants() {
    every_status(Flavor::Poem, Storage::Rows).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_of_the_contract_for_row_tenants_on_axum() {
    every_status(Flavor::Axum, Storage::Rows).await;
}

async fn every_status(flavor: Flavor, storage: Storage) {
    let Some((server, _dir, tenants)) = server_in(flavor, storage).await else {
        return;
    };
    let c = server.client();
    let notes = server.url("/notes");
    let note = |id: &str| server.url(&format!("/notes/{id}"));
    let t1 = [("tenant", "test1")];

    // Open routes: no tenant needed.
    let health = expect(&server, c.get(server.url("/health")), 200, "health").await;
    assert_eq!(health["status"], "ok");
    if flavor == Flavor::Poem {
        // Only notes-server serves OpenAPI docs.
        let docs = c.get(server.url("/docs")).send().await.expect("docs");
        assert_eq!(docs.status(), 200);
        let html = docs.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
        assert!(html.starts_with("text/html"), "{html}");
    }
    expect(&server, c.get(server.url("/nope")), 404, "unknown route").await;

    // Create, read, list, page, delete.
    let created = expect(
        &server,
        c.post(&notes).query(&t1).json(&json!({"body": "first"})),
        201,
        "create",
    )
    .await;
    let id = created["id"].as_i64().expect("id");
    assert_eq!(created["body"], "first");
    let got = expect(&server, c.get(note(&id.to_string())).query(&t1), 200, "get").await;
    assert_eq!(got, created);
    expect(
        &server,
        c.get(note("999999")).query(&t1),
        404,
        "get missing",
    )
    .await;
    expect(
        &server,
        c.get(note("abc")).query(&t1),
        400,
        "get non-integer id",
    )
    .await;
    expect(
        &server,
        c.get(note("99999999999")).query(&t1),
        400,
        "get out-of-range id",
    )
    .await;

    let more = (0..105).map(|i| {
        let req = c
            .post(&notes)
            .query(&t1)
            .json(&json!({ "body": format!("n{i}") }));
        async move { req.send().await.expect("create").status().as_u16() }
    });
    let statuses = join_all(more).await;
    assert!(
        statuses.iter().all(|s| *s == 201),
        "105 concurrent creates answered {statuses:?}"
    );
    let all = notes_of(&expect(&server, c.get(&notes).query(&t1), 200, "list").await);
    assert_eq!(all.len(), 100, "default limit is 100");
    let ids: Vec<i64> = all.iter().map(|(id, _)| *id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "ordered by id");
    let thousand = notes_of(
        &expect(
            &server,
            c.get(&notes)
                .query(&[("tenant", "test1"), ("limit", "1000")]),
            200,
            "limit 1000",
        )
        .await,
    );
    assert_eq!(thousand.len(), 106);
    let page = notes_of(
        &expect(
            &server,
            c.get(&notes).query(&[
                ("tenant", "test1"),
                ("limit", "2"),
                ("after_id", &ids[1].to_string()),
            ]),
            200,
            "page",
        )
        .await,
    );
    assert_eq!(page, thousand[2..4].to_vec());
    for bad in ["0", "1001", "-1", "x"] {
        expect(
            &server,
            c.get(&notes).query(&[("tenant", "test1"), ("limit", bad)]),
            400,
            &format!("limit={bad}"),
        )
        .await;
    }
    expect(
        &server,
        c.get(&notes)
            .query(&[("tenant", "test1"), ("after_id", "x")]),
        400,
        "after_id=x",
    )
    .await;

    expect(
        &server,
        c.delete(note(&id.to_string())).query(&t1),
        204,
        "delete",
    )
    .await;
    expect(
        &server,
        c.delete(note(&id.to_string())).query(&t1),
        404,
        "delete again",
    )
    .await;
    expect(
        &server,
        c.get(note(&id.to_string())).query(&t1),
        404,
        "get deleted",
    )
    .await;
    expect(
        &server,
        c.delete(note("abc")).query(&t1),
        400,
        "delete non-integer id",
    )
    .await;

    // Bodies: 1 to 10,000 characters (not bytes), JSON only.
    let max = "é".repeat(10_000);
    let stored = expect(
        &server,
        c.post(&notes).query(&t1).json(&json!({"body": max})),
        201,
        "10,000 characters",
    )
    .await;
    assert_eq!(
        stored["body"].as_str().map(|b| b.chars().count()),
        Some(10_000)
    );
    for (body, what) in [
        (json!({"body": ""}), "empty body"),
        (json!({"body": "x".repeat(10_001)}), "10,001 characters"),
        (json!({}), "no body field"),
        (json!({"body": null}), "null body"),
        (json!({"body": {"x": 1}}), "body an object"),
        (json!({"body": ["x"]}), "body an array"),
        (json!(["body"]), "not an object"),
    ] {
        expect(&server, c.post(&notes).query(&t1).json(&body), 400, what).await;
    }
    let raw = c
        .post(&notes)
        .query(&t1)
        .header(CONTENT_TYPE, "application/json");
    expect(&server, raw.body("{\"body\": "), 400, "truncated JSON").await;
    expect(
        &server,
        c.post(&notes).query(&t1).body("{\"body\":\"x\"}"),
        400,
        "no content type",
    )
    .await;
    expect(
        &server,
        c.post(&notes)
            .query(&t1)
            .header(CONTENT_TYPE, "text/plain")
            .body("x"),
        400,
        "text/plain",
    )
    .await;

    // Tenant selection.
    expect(&server, c.get(&notes), 400, "no tenant").await;
    expect(
        &server,
        c.get(&notes).query(&[("tenant", "../test1")]),
        400,
        "malformed tenant",
    )
    .await;
    let unknown = expect(
        &server,
        c.get(&notes).query(&[("tenant", "ghost")]),
        404,
        "unknown tenant",
    )
    .await;
    assert_eq!(unknown["tenant"], "ghost");
    expect(
        &server,
        c.get(&notes).header("X-Tenant", "test2"),
        200,
        "header",
    )
    .await;
    expect(
        &server,
        c.get(&notes).query(&t1).header("X-Tenant", "test1"),
        200,
        "both, same",
    )
    .await;
    expect(
        &server,
        c.get(&notes).query(&t1).header("X-Tenant", "test2"),
        400,
        "both, different",
    )
    .await;
    expect(
        &server,
        c.get(&notes)
            .query(&[("tenant", "test1"), ("tenant", "test2")]),
        400,
        "query twice, different",
    )
    .await;
    expect(
        &server,
        c.post(&notes).json(&json!({"body": "x"})),
        400,
        "create with no tenant",
    )
    .await;

    // test2 never saw test1's notes.
    assert!(server.list_notes("test2").await.is_empty());
    server.terminate().await;
    tenants.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_declares_the_tenant_header_and_query_parameter() {
    let mut dbs = TestDatabases::sqlite();
    let (server, _dir) = sqlite_server(&mut dbs).await;
    let spec = expect(
        &server,
        server.client().get(server.url("/openapi.json")),
        200,
        "spec",
    )
    .await;
    let schemes = &spec["components"]["securitySchemes"];
    let declared: BTreeSet<(String, String)> = schemes
        .as_object()
        .expect("security schemes")
        .values()
        .map(|s| {
            (
                s["in"].as_str().unwrap().to_owned(),
                s["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        declared.contains(&("header".to_owned(), "X-Tenant".to_owned())),
        "{schemes}"
    );
    assert!(
        declared.contains(&("query".to_owned(), "tenant".to_owned())),
        "{schemes}"
    );
    for (path, method) in [
        ("/notes", "get"),
        ("/notes", "post"),
        ("/notes/{id}", "get"),
        ("/notes/{id}", "delete"),
    ] {
        let op = &spec["paths"][path][method];
        let security = op["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} has no security"));
        assert_eq!(
            security.len(),
            2,
            "{method} {path}: header or query: {security:?}"
        );
        for status in ["400", "404", "503"] {
            assert!(
                op["responses"][status].is_object(),
                "{method} {path} documents {status}"
            );
        }
    }
    server.terminate().await;
    dbs.cleanup().await;
}

/// Values that must never reach a file or database name.
fn hostile_values(prefix: &str) -> Vec<String> {
    let mut values: Vec<String> = [
        "",
        "..",
        ".",
        "../../etc/passwd",
        "..\\..\\windows",
        "test1/../test2",
        "test1/",
        "/tmp/x",
        "test1.db",
        "test1?mode=rwc",
        "a'b",
        "a\"b",
        "'; DROP DATABASE postgres; --",
        "a`b",
        "a\0b",
        "test1\0",
        "\0",
        "%2e%2e%2f",
        "%00",
        "TEST1",
        "Test1",
        " test1",
        "test1 ",
        "test1\n",
        "t\u{0435}st1",
        "test1\u{200b}",
        "-x",
        "_x",
        "nul",
        "con",
        "com1",
        "ghost",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    values.push("x".repeat(64));
    values.push("a".repeat(10 * 1024));
    values.push(format!("{prefix}_ghost"));
    values
}

/// Query strings sent as they are, not re-encoded.
const RAW_QUERIES: &[&str] = &[
    "tenant=%2e%2e%2fetc%2fpasswd",
    "tenant=%2E%2E",
    "tenant=test1%00",
    "tenant=%00",
    "tenant=%252e%252e%252f",
    "tenant=%C0%AE%C0%AE",
    "tenant=%FF",
    "tenant=%ZZ",
    "tenant=test1%2F..",
    "tenant=test1%27",
    "tenant=test1&tenant=test2",
    "tenant",
    "tenant=",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tenant_values_get_4xx_and_create_no_file_or_database() {
    hostile_tenant_values(Flavor::Poem).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tenant_values_get_4xx_and_create_no_file_or_database_on_axum() {
    hostile_tenant_values(Flavor::Axum).await;
}

async fn hostile_tenant_values(flavor: Flavor) {
    let mut sqlite = TestDatabases::sqlite();
    let mut servers: Vec<TestDatabases> = [TestDatabases::postgres(), TestDatabases::mysql()]
        .into_iter()
        .flatten()
        .collect();
    let mut toml = TenantsToml::new().tenant("test1", &sqlite.create("test1").await);
    for (i, dbs) in servers.iter_mut().enumerate() {
        let name = format!("srv{i}");
        toml = toml.tenant(&name, &dbs.create(&name).await);
    }
    let dir = config_dir();
    let server = start(flavor, &toml.write_to(dir.path())).await;
    // The server has opened and migrated every database: take the inventory now.
    let files_before = sqlite.existing().await;
    let mut databases_before = Vec::new();
    for dbs in &servers {
        databases_before.push(dbs.existing().await);
    }

    let c = server.client();
    let mut checked = 0;
    let mut check = async |req: reqwest::RequestBuilder, what: String| {
        let resp = req.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        assert!(
            matches!(status, 400 | 404),
            "{what}: status {status}, body {text}"
        );
        let json: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
        assert!(json["error"].is_string(), "{what}: {json}");
        checked += 1;
    };
    for value in hostile_values(sqlite.prefix()) {
        let shown: String = value.chars().take(40).collect();
        check(
            c.get(server.url("/notes")).query(&[("tenant", &value)]),
            format!("GET ?tenant={shown:?}"),
        )
        .await;
        check(
            c.post(server.url("/notes"))
                .query(&[("tenant", &value)])
                .json(&json!({"body": "x"})),
            format!("POST ?tenant={shown:?}"),
        )
        .await;
        // HTTP strips spaces around a header value: " test1" is "test1" there.
        if value.trim() != value {
            continue;
        }
        if let Ok(header) = HeaderValue::from_bytes(value.as_bytes()) {
            check(
                c.get(server.url("/notes")).header("X-Tenant", header),
                format!("X-Tenant: {shown:?}"),
            )
            .await;
        }
    }
    for raw in RAW_QUERIES {
        check(
            c.get(server.url(&format!("/notes?{raw}"))),
            format!("GET /notes?{raw}"),
        )
        .await;
        check(
            c.delete(server.url(&format!("/notes/1?{raw}"))),
            format!("DELETE /notes/1?{raw}"),
        )
        .await;
    }
    assert!(checked > 100, "only {checked} requests checked");

    assert_eq!(
        sqlite.existing().await,
        files_before,
        "a file appeared in the data folder"
    );
    for (dbs, before) in servers.iter().zip(&databases_before) {
        assert_eq!(
            &dbs.existing().await,
            before,
            "a database appeared on {:?}",
            dbs.backend()
        );
    }
    // The hostile values were answered without reaching the logs whole.
    assert!(
        !server.output().contains(&"a".repeat(1024)),
        "a 10 KB value was logged"
    );
    server.terminate().await;
    sqlite.cleanup().await;
    for dbs in servers {
        dbs.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_log_line_per_request_with_method_path_status_latency_and_tenant() {
    let mut dbs = TestDatabases::sqlite();
    let toml = TenantsToml::new().tenant("test1", &dbs.create("test1").await);
    let dir = config_dir();
    let config = toml.write_to(dir.path());
    let server = NotesServer::start_with_env(&config, &[], &[("RUST_LOG", "info")]).await;
    server.get("/notes?tenant=test1").await;
    server.get("/notes/424242?tenant=test1").await;
    server.get("/notes?tenant=ghost").await;
    server.get("/health").await;
    let output = server.terminate().await;
    let lines: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("notes_server::request"))
        .collect();
    for (method, path, status, tenant) in [
        ("GET", "/notes", 200, "test1"),
        ("GET", "/notes/424242", 404, "test1"),
        ("GET", "/notes", 404, "ghost"),
        ("GET", "/health", 200, "-"),
    ] {
        let wanted = [
            format!("method={method}"),
            format!("path={path} "),
            format!("status={status}"),
            format!("tenant={tenant}"),
            "latency=".to_owned(),
        ];
        assert!(
            lines
                .iter()
                .any(|l| wanted.iter().all(|w| l.contains(w.as_str()))),
            "no log line with {wanted:?} in:\n{}",
            lines.join("\n")
        );
    }
    // No line for the health poll of start-up is missing either: one per request.
    assert!(lines.len() >= 4);

    // RUST_LOG=warn silences the request lines.
    let quiet = NotesServer::start_with_env(&config, &[], &[("RUST_LOG", "warn")]).await;
    quiet.get("/notes?tenant=test1").await;
    let output = quiet.terminate().await;
    assert!(!output.contains("notes_server::request"), "{output}");
    dbs.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_shuts_down_gracefully() {
    let mut dbs = TestDatabases::sqlite();
    let (mut server, _dir) = sqlite_server(&mut dbs).await;
    assert_eq!(
        server
            .post_note("test1", "before")
            .await
            .expect("post")
            .status,
        201
    );
    server.signal(Signal::Int);
    let status = server.wait(std::time::Duration::from_secs(30)).await;
    assert!(
        status.success(),
        "exit {status}; output:\n{}",
        server.output()
    );
    assert!(server.output().contains("SIGINT received"));
    assert!(server.output().contains("pools closed"));
    dbs.cleanup().await;
}
