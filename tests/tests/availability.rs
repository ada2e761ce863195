//! Unavailable tenant databases (SQLite, PostgreSQL, MariaDB): a tenant that
//! fails to migrate at start-up, or whose database becomes unavailable while the
//! server runs, answers 503 while the others keep answering 200; it recovers
//! when the database is back.

mod common;

use std::time::Duration;

use e2e_tests::{NotesServer, TenantsToml};
use sea_orm_tenant::sea_orm::ConnectionTrait;
use sea_orm_tenant::sea_orm::sqlx::{self, Connection, Executor};
use sea_orm_tenant::testing::TestDatabases;

use common::{config_dir, read_direct, until_status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_that_fails_to_migrate_answers_503_and_the_others_start() {
    let mut sqlite = TestDatabases::sqlite();
    let good = sqlite.create("good").await;
    // A folder where the database file should be: SQLite cannot open it.
    let broken = sqlite.sqlite_path("broken");
    std::fs::create_dir_all(&broken).expect("folder in the file's place");
    let mut toml = TenantsToml::new()
        .tenant("good", &good)
        .tenant("broken", &format!("sqlite://{}?mode=rwc", broken.display()));
    // A PostgreSQL database that does not exist (and must not be created).
    let pg = TestDatabases::postgres();
    if let Some(pg) = &pg {
        toml = toml.tenant_with(
            "pgmissing",
            &pg.url("pgmissing"),
            &["connect_timeout = \"2s\""],
        );
    }
    let dir = config_dir();
    let server = NotesServer::start(&toml.write_to(dir.path()), &[]).await;

    assert_eq!(
        server.post_note("good", "fine").await.expect("post").status,
        201
    );
    assert_eq!(server.list_notes("good").await.len(), 1);
    let mut out = vec!["broken"];
    if pg.is_some() {
        out.push("pgmissing");
    }
    for tenant in &out {
        let answer = server.get(&format!("/notes?tenant={tenant}")).await;
        assert_eq!(answer.status, 503, "{tenant}: {:?}", answer.json);
        assert!(answer.json["error"].as_str().unwrap().contains(tenant));
        assert_eq!(
            server.post_note(tenant, "x").await.expect("post").status,
            503
        );
    }
    let health = server.get("/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json["out_of_service"], serde_json::json!(out));
    let output = server.terminate().await;
    assert!(output.contains("migration failed"), "{output}");
    if let Some(pg) = pg {
        assert!(
            pg.existing().await.is_empty(),
            "a database was created for pgmissing"
        );
        pg.cleanup().await;
    }
    sqlite.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_tenant_locked_by_another_process_answers_503_then_recovers() {
    let mut dbs = TestDatabases::sqlite();
    let toml = TenantsToml::new()
        .tenant("free", &dbs.create("free").await)
        // Rollback journal, so another process's exclusive lock keeps readers out.
        .tenant_with(
            "locked",
            &dbs.create("locked").await,
            &["sqlite_wal = false", "sqlite_busy_timeout = \"100ms\""],
        );
    let dir = config_dir();
    let server = NotesServer::start(&toml.write_to(dir.path()), &[]).await;
    for tenant in ["free", "locked"] {
        assert_eq!(
            server
                .post_note(tenant, "before")
                .await
                .expect("post")
                .status,
            201
        );
    }

    let url = format!("sqlite://{}", dbs.sqlite_path("locked").display());
    let mut other = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open the file directly");
    other
        .execute("BEGIN EXCLUSIVE")
        .await
        .expect("take the exclusive lock");

    let answer = server.get("/notes?tenant=locked").await;
    assert_eq!(answer.status, 503, "{:?}", answer.json);
    assert_eq!(
        server
            .post_note("locked", "during")
            .await
            .expect("post")
            .status,
        503
    );
    assert_eq!(server.list_notes("free").await.len(), 1);
    assert_eq!(
        server
            .post_note("free", "during")
            .await
            .expect("post")
            .status,
        201
    );

    other.execute("COMMIT").await.expect("release the lock");
    other.close().await.ok();
    until_status(&server, "locked", 200, Duration::from_secs(10)).await;
    assert_eq!(
        server
            .post_note("locked", "after")
            .await
            .expect("post")
            .status,
        201
    );
    let bodies: Vec<String> = read_direct(&dbs, "locked")
        .await
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    assert_eq!(bodies, ["before", "after"]);
    server.terminate().await;
    dbs.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tenant_whose_database_refuses_connections_answers_503_then_recovers() {
    let Some(mut pg) = TestDatabases::postgres() else {
        return;
    };
    let options = ["acquire_timeout = \"1s\"", "connect_timeout = \"1s\""];
    let toml = TenantsToml::new()
        .tenant_with("pa", &pg.create("pa").await, &options)
        .tenant_with("pb", &pg.create("pb").await, &options);
    let dir = config_dir();
    let server = NotesServer::start(&toml.write_to(dir.path()), &[]).await;
    for tenant in ["pa", "pb"] {
        assert_eq!(
            server
                .post_note(tenant, "before")
                .await
                .expect("post")
                .status,
            201
        );
    }

    let admin = pg.admin().await;
    let name = pg.database_name("pa");
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"
        ))
        .await
        .expect("refuse connections");
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await
        .expect("end open sessions");

    until_status(&server, "pa", 503, Duration::from_secs(15)).await;
    assert_eq!(
        server.post_note("pa", "during").await.expect("post").status,
        503
    );
    assert_eq!(server.list_notes("pb").await.len(), 1);
    assert_eq!(
        server.post_note("pb", "during").await.expect("post").status,
        201
    );

    admin
        .execute_unprepared(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"))
        .await
        .expect("accept connections again");
    admin.close().await.ok();
    until_status(&server, "pa", 200, Duration::from_secs(15)).await;
    assert_eq!(
        server.post_note("pa", "after").await.expect("post").status,
        201
    );
    let bodies: Vec<String> = read_direct(&pg, "pa")
        .await
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    assert_eq!(bodies, ["before", "after"]);
    server.terminate().await;
    pg.cleanup().await;
}

/// `url` with its user and password replaced.
fn with_credentials(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}:{password}@{host}")
}

/// Drops a MariaDB account when the test ends, even by a panic.
struct DropUser {
    admin_url: String,
    user: String,
}

impl Drop for DropUser {
    fn drop(&mut self) {
        let (url, sql) = (
            self.admin_url.clone(),
            format!("DROP USER IF EXISTS '{}'@'%'", self.user),
        );
        // Own runtime on a thread: this may run inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async move {
                    if let Ok(admin) = sea_orm_tenant::sea_orm::Database::connect(url).await {
                        let _ = admin.execute_unprepared(&sql).await;
                        let _ = admin.close().await;
                    }
                });
            }
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_tenant_whose_account_is_locked_answers_503_then_recovers() {
    let Some(mut my) = TestDatabases::mysql() else {
        return;
    };
    let options = ["acquire_timeout = \"1s\"", "connect_timeout = \"1s\""];
    let ma = my.create("ma").await;
    let mb = my.create("mb").await;
    let database = my.database_name("ma");
    let user = format!("{}_u", my.prefix());
    let admin = my.admin().await;
    let _drop_user = DropUser {
        admin_url: std::env::var(sea_orm_tenant::testing::MYSQL_VAR)
            .expect("set when mysql() is Some"),
        user: user.clone(),
    };
    for sql in [
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'e2e-pw'"),
        format!("GRANT ALL ON `{database}`.* TO '{user}'@'%'"),
    ] {
        admin.execute_unprepared(&sql).await.expect(&sql);
    }
    let toml = TenantsToml::new()
        .tenant_with("ma", &with_credentials(&ma, &user, "e2e-pw"), &options)
        .tenant_with("mb", &mb, &options);
    let dir = config_dir();
    let server = NotesServer::start(&toml.write_to(dir.path()), &[]).await;
    for tenant in ["ma", "mb"] {
        assert_eq!(
            server
                .post_note(tenant, "before")
                .await
                .expect("post")
                .status,
            201
        );
    }

    admin
        .execute_unprepared(&format!("ALTER USER '{user}'@'%' ACCOUNT LOCK"))
        .await
        .expect("lock the account");
    let sessions = admin
        .query_all_raw(sea_orm_tenant::sea_orm::Statement::from_string(
            admin.get_database_backend(),
            format!("SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = '{user}'"),
        ))
        .await
        .expect("list the account's sessions");
    for row in sessions {
        let id: i64 = row.try_get("", "id").expect("session id");
        admin.execute_unprepared(&format!("KILL {id}")).await.ok();
    }

    until_status(&server, "ma", 503, Duration::from_secs(15)).await;
    assert_eq!(
        server.post_note("ma", "during").await.expect("post").status,
        503
    );
    assert_eq!(server.list_notes("mb").await.len(), 1);
    assert_eq!(
        server.post_note("mb", "during").await.expect("post").status,
        201
    );

    admin
        .execute_unprepared(&format!("ALTER USER '{user}'@'%' ACCOUNT UNLOCK"))
        .await
        .expect("unlock the account");
    until_status(&server, "ma", 200, Duration::from_secs(15)).await;
    assert_eq!(
        server.post_note("ma", "after").await.expect("post").status,
        201
    );
    let bodies: Vec<String> = read_direct(&my, "ma")
        .await
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    assert_eq!(bodies, ["before", "after"]);
    let output = server.terminate().await;
    assert!(!output.contains("e2e-pw"), "the password was logged");
    admin.close().await.ok();
    my.cleanup().await;
}

/// A request stuck on a database (its table locked by another session) is
/// answered 503 with `Retry-After` once `--request-timeout` has passed, never
/// a hang; the other tenant is served meanwhile, and the stuck tenant answers
/// again once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_stuck_on_a_lock_answers_503_after_the_request_timeout() {
    use sea_orm_tenant::sea_orm::TransactionTrait;
    let Some(mut pg) = TestDatabases::postgres() else {
        return;
    };
    let toml = TenantsToml::new()
        .tenant("pa", &pg.create("pa").await)
        .tenant("pb", &pg.create("pb").await);
    let dir = config_dir();
    let server = NotesServer::start(&toml.write_to(dir.path()), &["--request-timeout", "1"]).await;
    assert_eq!(
        server.post_note("pa", "before").await.expect("post").status,
        201
    );

    let direct = pg.connect_direct("pa").await;
    let lock = direct.begin().await.expect("begin");
    lock.execute_unprepared("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock the table");
    let started = std::time::Instant::now();
    let stuck = server
        .client()
        .get(server.url("/notes?tenant=pa"))
        .send()
        .await
        .expect("an answer");
    let waited = started.elapsed();
    assert_eq!(stuck.status(), 503);
    assert_eq!(
        stuck.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    // A hang guard, not a speed claim: the answer came from the timeout.
    assert!(
        waited < Duration::from_secs(15),
        "answered after {waited:?}"
    );
    assert_eq!(server.list_notes("pb").await.len(), 0);
    assert_eq!(
        server
            .post_note("pb", "meanwhile")
            .await
            .expect("post")
            .status,
        201
    );

    lock.commit().await.expect("release the lock");
    direct.close().await.ok();
    until_status(&server, "pa", 200, Duration::from_secs(15)).await;
    assert_eq!(server.list_notes("pa").await.len(), 1);
    server.terminate().await;
    pg.cleanup().await;
}
