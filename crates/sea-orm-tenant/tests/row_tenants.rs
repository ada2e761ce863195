//! Row tenants on real PostgreSQL: tenants sharing `public.note`, told apart
//! by `tenant_id` under forced row-level security ([`RowTable`]), served
//! through the router as an ordinary role. Every table is read back directly
//! as a superuser, never through the router.
//!
//! Skipped, with a notice, without `TEST_POSTGRES_URL`.

use std::collections::BTreeMap;

use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, DbBackend, Set, Statement, TransactionTrait};
use sea_orm_tenant::rows::{RowFinding, RowTable, audit};
use sea_orm_tenant::testing::TestRowDatabase;
use sea_orm_tenant::{PoolOptions, TenantConfig, TenantConnections, TenantError};

use cancel_support::{Kind, Probe, Rng, Sampler, Server};
use std::sync::Arc;
use std::time::Duration;

mod cancel_support;
mod common;

mod note {
    use sea_orm::entity::prelude::*;

    /// A row tenant's note: the tenant column is part of the key and left to
    /// its default (the session's tenant) on insert.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "note")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key)]
        pub id: i32,
        pub owner: String,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A store of `tenants`, row tenants of `db` as its app role, pools of `max`.
fn store_of(db: &TestRowDatabase, tenants: &[&str], max: u32) -> TenantConnections {
    let mut builder = TenantConnections::builder();
    for t in tenants {
        builder = builder.tenant_config(
            *t,
            TenantConfig::new(db.app_url())
                .in_rows()
                .with_pool(PoolOptions {
                    max_connections: Some(max),
                    ..Default::default()
                }),
        );
    }
    builder.build().unwrap()
}

/// A database with `public.note` under row tenancy, or `None` (skipped).
async fn row_database() -> Option<TestRowDatabase> {
    let db = TestRowDatabase::new().await?;
    db.create_note_table().await;
    Some(db)
}

fn new_note(owner: &str, body: &str) -> note::ActiveModel {
    note::ActiveModel {
        owner: Set(owner.to_owned()),
        body: Set(body.to_owned()),
        ..Default::default()
    }
}

/// The notes `tenant` sees through the router.
async fn visible(store: &TenantConnections, tenant: &str) -> Result<Vec<note::Model>, DbErr> {
    let db = store.db();
    store
        .with_tenant(tenant, async { note::Entity::find().all(&db).await })
        .await
        .unwrap()
}

/// Rows whose tenant column is not the tenant that wrote them.
fn misplaced(rows: &[(String, String, String)]) -> Vec<&(String, String, String)> {
    rows.iter().filter(|(t, owner, _)| t != owner).collect()
}

#[tokio::test]
async fn row_tenants_see_and_write_only_their_own_rows() {
    let Some(db) = row_database().await else {
        return;
    };
    let tenants = ["acme", "globex", "initech"];
    for max in [1, 3] {
        let store = store_of(&db, &tenants, max);
        let conn = store.db();
        for round in 0..5 {
            for t in tenants {
                store
                    .with_tenant(t, new_note(t, &format!("{max}-{round}")).insert(&conn))
                    .await
                    .unwrap()
                    .unwrap();
            }
        }
        for t in tenants {
            let notes = visible(&store, t).await.unwrap();
            assert!(
                notes.iter().all(|n| n.owner == t && n.tenant_id == t),
                "{t} saw {notes:?}"
            );
        }
        store.close().await;
    }
    let rows = db.note_rows().await;
    assert!(misplaced(&rows).is_empty(), "{:?}", misplaced(&rows));
    let mut per_tenant = BTreeMap::<String, usize>::new();
    for (t, _, _) in &rows {
        *per_tenant.entry(t.clone()).or_default() += 1;
    }
    assert_eq!(
        per_tenant,
        tenants
            .iter()
            .map(|t| ((*t).to_owned(), 10))
            .collect::<BTreeMap<String, usize>>()
    );
    db.cleanup().await;
}

/// What a tenant's own SQL leaves in its session, aimed at `globex`.
const ATTACKS: &[(&str, &str)] = &[
    (
        "set_config",
        "SELECT set_config('sea_orm_tenant.id', 'globex', false)",
    ),
    ("SET", "SET sea_orm_tenant.id = 'globex'"),
    ("a function", "SELECT public.hop()"),
    (
        "Unicode escapes",
        r#"SELECT U&"set\005fconfig"(U&'sea\005form\005ftenant.id', 'globex', false)"#,
    ),
    (
        "PREPARE/EXECUTE",
        "PREPARE hop_p AS SELECT set_config('sea_orm_tenant.id', 'globex', false); EXECUTE hop_p",
    ),
    (
        "a DO block",
        "DO $$BEGIN PERFORM set_config('sea_orm_tenant.id', 'globex', false); END$$",
    ),
    ("RESET ALL", "RESET ALL"),
    ("DISCARD ALL", "DISCARD ALL"),
    ("RESET of the setting", "RESET sea_orm_tenant.id"),
    (
        "an emptied setting",
        "SELECT set_config('sea_orm_tenant.id', '', false)",
    ),
    (
        "a transaction left open",
        "BEGIN; SELECT set_config('sea_orm_tenant.id', 'globex', false)",
    ),
];

#[tokio::test]
async fn the_tenants_own_sql_never_makes_the_next_call_run_as_another() {
    let Some(db) = row_database().await else {
        return;
    };
    db.sql(
        "CREATE FUNCTION public.hop() RETURNS void LANGUAGE plpgsql AS \
         $$BEGIN PERFORM set_config('sea_orm_tenant.id', 'globex', false); END$$",
    )
    .await;
    let mut wrong = Vec::new();
    for max in [1, 3] {
        let store = store_of(&db, &["acme", "globex"], max);
        let conn = store.db();
        for (name, attack) in ATTACKS {
            for t in ["acme", "globex"] {
                store
                    .with_tenant(
                        t,
                        new_note(t, &format!("{max} before {name}")).insert(&conn),
                    )
                    .await
                    .unwrap()
                    .unwrap();
            }
            let _ = store
                .with_tenant("acme", conn.execute_unprepared(attack))
                .await
                .unwrap();
            for t in ["acme", "acme", "globex"] {
                let inserted = store
                    .with_tenant(t, new_note(t, &format!("{max} after {name}")).insert(&conn))
                    .await
                    .unwrap();
                if let Err(e) = inserted {
                    wrong.push(format!("{max} {name}: {t}'s insert failed: {e}"));
                }
                match visible(&store, t).await {
                    Ok(notes) if notes.iter().all(|n| n.owner == t) => {}
                    Ok(notes) => wrong.push(format!(
                        "{max} {name}: {t} read {} rows of another tenant",
                        notes.iter().filter(|n| n.owner != t).count()
                    )),
                    Err(e) => wrong.push(format!("{max} {name}: {t}'s read failed: {e}")),
                }
            }
        }
        store.close().await;
    }
    let rows = db.note_rows().await;
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(misplaced(&rows).is_empty(), "{:?}", misplaced(&rows));
    // Every acknowledged insert is there: 11 attacks x (2 before + 3 after) x 2 pools.
    assert_eq!(rows.len(), ATTACKS.len() * 5 * 2);
    db.cleanup().await;
}

#[tokio::test]
async fn with_no_tenant_set_a_session_sees_no_rows_and_writes_none() {
    let Some(db) = row_database().await else {
        return;
    };
    let store = store_of(&db, &["acme"], 1);
    let conn = store.db();
    store
        .with_tenant("acme", new_note("acme", "kept").insert(&conn))
        .await
        .unwrap()
        .unwrap();
    for unset in [
        "RESET ALL",
        "RESET sea_orm_tenant.id",
        "SELECT set_config('sea_orm_tenant.id', '', true)",
        "DISCARD ALL",
    ] {
        let outcome = store
            .with_tenant("acme", async {
                let txn = conn.begin().await?;
                if unset == "DISCARD ALL" {
                    // Not allowed in a transaction: its effect on the session, then one.
                    txn.rollback().await?;
                    conn.execute_unprepared("DISCARD ALL; BEGIN").await?;
                    let seen = note::Entity::find().all(&conn).await;
                    let written = new_note("acme", "unset").insert(&conn).await;
                    conn.execute_unprepared("ROLLBACK").await?;
                    return Ok::<_, DbErr>((seen?.len(), written.is_ok()));
                }
                txn.execute_unprepared(unset).await?;
                let seen = note::Entity::find().all(&txn).await?.len();
                let written = new_note("acme", "unset").insert(&txn).await.is_ok();
                txn.rollback().await?;
                Ok((seen, written))
            })
            .await
            .unwrap();
        match outcome {
            Ok((seen, written)) => {
                assert_eq!(seen, 0, "{unset}: rows seen with no tenant");
                assert!(!written, "{unset}: a row written with no tenant");
            }
            // The failed write aborted the statement: nothing written either.
            Err(e) => assert!(!e.to_string().contains("row-level"), "{unset}: {e}"),
        }
        let notes = visible(&store, "acme").await.unwrap();
        assert_eq!(notes.len(), 1, "{unset}: acme's next call");
    }
    // The app's role straight on the database, no tenant set at all.
    let direct = sea_orm::Database::connect(db.app_url()).await.unwrap();
    assert_eq!(note::Entity::find().all(&direct).await.unwrap().len(), 0);
    assert!(new_note("acme", "direct").insert(&direct).await.is_err());
    direct.close().await.ok();
    assert_eq!(db.note_rows().await.len(), 1);
    store.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn with_check_refuses_another_tenants_id() {
    let Some(db) = row_database().await else {
        return;
    };
    let store = store_of(&db, &["acme", "globex"], 2);
    let conn = store.db();
    for t in ["acme", "globex"] {
        store
            .with_tenant(t, new_note(t, "own").insert(&conn))
            .await
            .unwrap()
            .unwrap();
    }
    for attempt in [
        "INSERT INTO note (tenant_id, owner, body) VALUES ('globex', 'acme', 'planted')",
        "UPDATE note SET tenant_id = 'globex'",
        "UPDATE note SET body = 'changed' WHERE tenant_id = 'globex'",
        "DELETE FROM note WHERE tenant_id = 'globex'",
    ] {
        let _ = store
            .with_tenant("acme", conn.execute_unprepared(attempt))
            .await
            .unwrap();
    }
    let rows = db.note_rows().await;
    assert_eq!(
        rows,
        vec![
            ("acme".into(), "acme".into(), "own".into()),
            ("globex".into(), "globex".into(), "own".into()),
        ]
    );
    store.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn the_notes_query_uses_the_tenant_index() {
    let Some(db) = row_database().await else {
        return;
    };
    db.sql(
        "INSERT INTO public.note (tenant_id, owner, body) \
         SELECT 't' || (i % 500), 't' || (i % 500), 'x' FROM generate_series(1, 50000) i; \
         ANALYZE public.note",
    )
    .await;
    let store = store_of(&db, &["t7"], 1);
    let conn = store.db();
    let plan: Vec<String> = store
        .with_tenant("t7", async {
            conn.query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "EXPLAIN SELECT * FROM note ORDER BY id",
            ))
            .await
        })
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<String>("", "QUERY PLAN").unwrap())
        .collect();
    let plan = plan.join("\n");
    assert!(
        plan.contains("Index") && !plan.contains("Seq Scan"),
        "{plan}"
    );
    assert_eq!(visible(&store, "t7").await.unwrap().len(), 100);
    store.close().await;
    db.cleanup().await;
}

/// Opens a store of one row tenant and returns why its first call failed.
async fn refusal(db: &TestRowDatabase, url: String) -> Vec<RowFinding> {
    let store = TenantConnections::builder()
        .tenant_config("acme", TenantConfig::new(url).in_rows())
        .build()
        .unwrap();
    let conn = store.db();
    let err = store
        .with_tenant("acme", note::Entity::find().all(&conn))
        .await
        .unwrap()
        .expect_err("the store served a row tenant its database does not protect");
    store.close().await;
    let _ = db;
    match TenantError::from_db_err(&err) {
        Some(TenantError::RowsUnprotected { tenant, findings }) => {
            assert_eq!(tenant.as_str(), "acme");
            findings.clone()
        }
        other => panic!("expected RowsUnprotected, got {other:?} ({err})"),
    }
}

#[tokio::test]
async fn the_audit_refuses_each_broken_rule() {
    let Some(db) = row_database().await else {
        return;
    };
    let note = || "note".to_string();
    // Protected: served, and the audit says so.
    let app = sea_orm::Database::connect(db.app_url()).await.unwrap();
    let report = audit(&app).await.unwrap();
    assert!(report.is_protected(), "{report:?}");
    assert_eq!(report.tenant_tables, vec![note()]);
    app.close().await.ok();
    let store = store_of(&db, &["acme"], 1);
    assert!(visible(&store, "acme").await.is_ok());
    store.close().await;

    // The superuser.
    let findings = refusal(&db, db.owner_url()).await;
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, RowFinding::RoleIsSuperuser { .. })),
        "{findings:?}"
    );

    let role = db.name().to_owned();
    let cases: Vec<(String, String, RowFinding)> = vec![
        (
            format!("ALTER ROLE {role} BYPASSRLS"),
            format!("ALTER ROLE {role} NOBYPASSRLS"),
            RowFinding::RoleBypassesRls { role: role.clone() },
        ),
        (
            "ALTER TABLE note NO FORCE ROW LEVEL SECURITY".into(),
            "ALTER TABLE note FORCE ROW LEVEL SECURITY".into(),
            RowFinding::RlsNotForced { table: note() },
        ),
        (
            "ALTER TABLE note DISABLE ROW LEVEL SECURITY".into(),
            "ALTER TABLE note ENABLE ROW LEVEL SECURITY".into(),
            RowFinding::RlsNotEnabled { table: note() },
        ),
        (
            "DROP POLICY sea_orm_tenant_isolation ON note".into(),
            RowTable::new("note").unwrap().enable_statements().join("; "),
            RowFinding::NoTenantPolicy { table: note() },
        ),
        (
            "CREATE POLICY everyone ON note USING (true)".into(),
            "DROP POLICY everyone ON note".into(),
            RowFinding::PolicyIgnoresTenant {
                table: note(),
                policy: "everyone".into(),
            },
        ),
        (
            "INSERT INTO note (tenant_id, owner, body) VALUES ('x', 'x', 'x'); \
             CREATE POLICY leaky ON note USING \
             (tenant_id = current_setting('sea_orm_tenant.id', true) OR id > 0)"
                .into(),
            "DROP POLICY leaky ON note; DELETE FROM note".into(),
            RowFinding::VisibleWithoutTenant { table: note() },
        ),
        (
            "CREATE UNIQUE INDEX note_body_key ON note (body)".into(),
            "DROP INDEX note_body_key".into(),
            RowFinding::UniqueWithoutTenant {
                table: note(),
                index: "note_body_key".into(),
            },
        ),
        (
            format!(
                "CREATE TABLE reply ({}, id bigint, note_id bigint, PRIMARY KEY (tenant_id, id)); \
                 ALTER TABLE reply OWNER TO {role}; \
                 ALTER TABLE note ADD CONSTRAINT note_id_key UNIQUE (tenant_id, id, owner); \
                 CREATE UNIQUE INDEX note_id_only ON note (id); \
                 ALTER TABLE reply ADD CONSTRAINT reply_note_fkey FOREIGN KEY (note_id) REFERENCES note (id); \
                 {}",
                RowTable::column_definition(),
                RowTable::new("reply").unwrap().enable_statements().join("; ")
            ),
            "DROP TABLE reply; DROP INDEX note_id_only; ALTER TABLE note DROP CONSTRAINT note_id_key".into(),
            RowFinding::ForeignKeyWithoutTenant {
                table: "reply".into(),
                constraint: "reply_note_fkey".into(),
            },
        ),
        (
            "DROP INDEX note_tenant_id_idx; ALTER TABLE note DROP CONSTRAINT note_pkey".into(),
            "ALTER TABLE note ADD PRIMARY KEY (tenant_id, id); CREATE INDEX note_tenant_id_idx ON note (tenant_id)".into(),
            RowFinding::NoTenantIndex { table: note() },
        ),
    ];
    for (broken, fixed, expected) in cases {
        db.sql(&broken).await;
        let findings = refusal(&db, db.app_url()).await;
        assert!(
            findings.contains(&expected),
            "after {broken:?}: expected {expected:?}, got {findings:?}"
        );
        db.sql(&fixed).await;
        let app = sea_orm::Database::connect(db.app_url()).await.unwrap();
        let report = audit(&app).await.unwrap();
        app.close().await.ok();
        assert!(report.is_protected(), "after {fixed:?}: {report:?}");
    }
    db.cleanup().await;
}

#[tokio::test]
async fn row_schema_and_sqlite_tenants_mix_in_one_store() {
    let Some(db) = row_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("solo.db").display());
    let store = TenantConnections::builder()
        .tenant_config("acme", TenantConfig::new(db.app_url()).in_rows())
        .tenant_config("solo", TenantConfig::new(sqlite))
        .build()
        .unwrap();
    let conn = store.db();
    store
        .with_tenant("solo", async {
            conn.execute_unprepared(
                "CREATE TABLE note (tenant_id TEXT NOT NULL DEFAULT 'solo', id INTEGER, owner TEXT, body TEXT, PRIMARY KEY (tenant_id, id))",
            )
            .await
        })
        .await
        .unwrap()
        .unwrap();
    for t in ["acme", "solo"] {
        let mut model = new_note(t, "mixed");
        if t == "solo" {
            model.tenant_id = Set("solo".into());
            model.id = Set(1);
        }
        store
            .with_tenant(t, model.insert(&conn))
            .await
            .unwrap()
            .unwrap();
        let notes = visible(&store, t).await.unwrap();
        assert_eq!(notes.len(), 1, "{t}");
        assert_eq!(notes[0].owner, t);
    }
    assert_eq!(db.note_rows().await.len(), 1);
    store.close().await;
    db.cleanup().await;
}

/// 1,000 row tenants (ten of them hot) on one pool of 5: random inserts, transactions
/// (committed, rolled back, dropped), closures, partly read streams and the
/// tenants' own session changes (`session_attacks`, search path and tenant
/// setting), most cancelled at a random point. Read back directly: every
/// acknowledged row once, under its own tenant; nothing rolled back or
/// dropped; no stream saw another tenant's row; no session left in a
/// transaction; never more sessions than the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_under_pressure_with_the_tenants_own_session_changes() {
    const TENANTS: usize = 1_000;
    const POOL: u32 = 5;
    const OPS: usize = 6_000;
    const TASKS: usize = 1_000;
    let Some(db) = row_database().await else {
        return;
    };
    db.sql(common::session_attacks::SETUP).await;
    db.sql(common::session_attacks::ROW_SETUP).await;
    let tenants = common::names(TENANTS);
    let refs: Vec<&str> = tenants.iter().map(String::as_str).collect();
    let store = store_of(&db, &refs, POOL);
    let admin_url = std::env::var("TEST_POSTGRES_URL").unwrap();
    let probe = |admin| Server::of_database(admin, db.name());
    let server = probe(sea_orm::Database::connect(&admin_url).await.unwrap());
    let sampler = Sampler::on(
        probe(sea_orm::Database::connect(&admin_url).await.unwrap()),
        Duration::from_millis(20),
    );
    let mut kinds = Kind::ALL.to_vec();
    kinds.extend([
        Kind::Attack,
        Kind::RowAttack,
        Kind::RowAttack,
        Kind::RowAttack,
    ]);
    let mut rng = Rng::new(cancel_support::seed("ROWS_SOAK_SEED", 0x0505_7E4A));
    // First, 1,000 tasks over every tenant, half of the operations on ten
    // hot ones: connections queue on the pool and pass from tenant to
    // tenant. Then 4 tasks over two tenants: connections stay parked on a
    // tenant's seat and are taken again by it without a round trip.
    let mut picks = tenants.clone();
    for _ in 0..100 {
        picks.extend(tenants[..10].iter().cloned());
    }
    let plan_of = |rng: &mut Rng, picks: &[String], first: usize| {
        let mut ops =
            cancel_support::plan(rng, OPS / 2, picks, &kinds, Duration::from_millis(3), 8);
        for op in &mut ops {
            op.n += first;
        }
        ops
    };
    let crowded = plan_of(&mut rng, &picks, 0);
    let calm = plan_of(&mut rng, &tenants[..2], OPS / 2);
    let mut reports =
        cancel_support::run_plan(&store, Arc::new(crowded.clone()), TASKS, Arc::new(|| {})).await;
    reports
        .extend(cancel_support::run_plan(&store, Arc::new(calm.clone()), 4, Arc::new(|| {})).await);
    let plan: Vec<_> = crowded.into_iter().chain(calm).collect();
    eprintln!("rows: {}", cancel_support::summary(&plan, &reports));
    let open_txns = server
        .settle(Duration::from_secs(5), Probe::OpenTransactions)
        .await;
    cancel_support::must_return("store.close()", store.close()).await;
    let after = server
        .settle(Duration::from_secs(10), Probe::Sessions)
        .await;
    let (peak, samples) = sampler.finish().await;
    server.close().await;
    let found: Vec<(String, String, String)> = db.note_rows().await;
    let violations = cancel_support::verify_rows(&found, &plan, &reports);
    db.cleanup().await;
    eprintln!(
        "rows: {} rows, peak {peak} sessions over {samples} samples",
        found.len()
    );
    // Enough calls completed to show anything (a refused database completes none).
    assert!(found.len() >= 100, "only {} rows acknowledged", found.len());
    assert_eq!(open_txns, 0, "sessions left inside a transaction");
    assert_eq!(after, 0, "sessions left open after close");
    assert!(peak <= POOL as i64, "peak {peak} sessions > pool {POOL}");
    cancel_support::assert_no_violations("row tenants", &violations);
}

/// Row tenants are refused on SQLite and MySQL/MariaDB URLs, from a file, from
/// the builder and at runtime: a typed error with the password masked, and
/// nothing created (no SQLite file, no tenant registered). Needs no server.
#[test]
fn row_tenants_need_postgresql_and_a_refusal_creates_nothing() {
    use sea_orm_tenant::{ConfigError, TenantsConfig};

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rows.db");
    let sqlite = format!("sqlite://{}?mode=rwc", file.display());
    let mysql = "mysql://app:hunter2@127.0.0.1:3306/app".to_owned();
    let refused = |err: ConfigError, what: &str| {
        assert!(
            matches!(err, ConfigError::RowsNeedPostgres { ref target, .. } if target == "acme"),
            "{what}: {err}"
        );
        assert!(!err.to_string().contains("hunter2"), "{what}: {err}");
        assert!(!format!("{err:?}").contains("hunter2"), "{what}: {err:?}");
    };
    for url in [&sqlite, &mysql] {
        let text = format!(
            "[databases.main]\nurl = \"{url}\"\ntenants_are = \"rows\"\ntenants = [\"acme\"]\n"
        );
        let from_file = TenantsConfig::from_toml_str(&text, dir.path())
            .and_then(TenantConnections::from_config)
            .unwrap_err();
        refused(from_file, &format!("tenants.toml with {url}"));

        let built = TenantConnections::builder()
            .tenant_config("acme", TenantConfig::new(url).in_rows())
            .build()
            .unwrap_err();
        refused(built, &format!("builder with {url}"));

        let store = TenantConnections::from_urls([("other", "sqlite::memory:")]).unwrap();
        let added = store
            .add_tenant("acme", TenantConfig::new(url).in_rows())
            .unwrap_err();
        refused(added, &format!("add_tenant with {url}"));
        assert!(store.tenant_config("acme").is_none(), "{url}: registered");
    }
    assert!(
        !file.exists(),
        "a refused row tenant created its SQLite file"
    );
}
