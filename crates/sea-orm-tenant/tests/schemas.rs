//! Schema tenants on real PostgreSQL: isolation under pressure with random
//! cancellation on one shared pool, missing and dropped schemas, names that
//! need quoting, and bad schema configuration. Every claim is checked by
//! reading each schema directly, not through the store.

mod cancel_support;
mod common;

use std::sync::Arc;
use std::time::Duration;

use cancel_support::{Kind, Probe, Rng, Sampler, Server};
use common::{names, new_note_table_in_public, note};
use sea_orm::{ActiveModelTrait, QueryFilter};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Set, Statement, TransactionTrait};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{
    ConfigError, PoolOptions, SchemaName, TenantConnections, TenantError, TenantsConfig,
};

fn pool(max: u32) -> PoolOptions {
    PoolOptions {
        max_connections: Some(max),
        ..Default::default()
    }
}

fn new_note(owner: &str, body: &str) -> note::ActiveModel {
    note::ActiveModel {
        owner: Set(owner.to_owned()),
        body: Set(body.to_owned()),
        ..Default::default()
    }
}

/// Rows of `public.note` in the schema database, read directly.
async fn public_rows(dbs: &TestDatabases) -> i64 {
    let conn = sea_orm::Database::connect(dbs.url("")).await.unwrap();
    let n = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM public.note",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    conn.close().await.ok();
    n
}

/// 3,000 operations (inserts, transactions committed, rolled back or dropped,
/// `transaction` closures, streams) over 100 schema tenants, 1,000 tasks at
/// once on one pool of at most 5 connections, most cancelled after a random
/// 0..3 ms. Each schema holds exactly its own acknowledged rows, read
/// directly; the server never saw more than 5 sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_under_pressure_on_one_shared_pool() {
    pressure(&Kind::ALL, 0x5C4E_3A11).await;
}

/// The same, with the tenants' own session-changing SQL
/// (`common::session_attacks`: functions, escapes, PREPARE/EXECUTE, a `DO`
/// block, temporary tables, cursors, transactions left open, `DISCARD ALL`,
/// `DEALLOCATE ALL`, `RESET ALL`) mixed in, cancelled at random like the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_under_pressure_with_the_tenants_own_session_changes() {
    let mut kinds = Kind::ALL.to_vec();
    kinds.extend([Kind::Attack; 3]);
    pressure(&kinds, 0xA77A_C4ED).await;
}

async fn pressure(kinds: &[Kind], default_seed: u64) {
    const TENANTS: usize = 100;
    const POOL: u32 = 5;
    const OPS: usize = 3_000;
    const TASKS: usize = 1_000;
    let Some(mut dbs) = TestDatabases::postgres_schemas() else {
        return;
    };
    let tenants = names(TENANTS);
    let mut builder = TenantConnections::builder().defaults(pool(POOL));
    for t in &tenants {
        let config = dbs.create_config(t).await;
        common::create_note_table(&dbs, t).await;
        builder = builder.tenant_config(t, config);
    }
    new_note_table_in_public(&dbs).await;
    let admin = sea_orm::Database::connect(dbs.url("")).await.unwrap();
    admin
        .execute_unprepared(common::session_attacks::SETUP)
        .await
        .unwrap();
    admin.close().await.ok();
    let store = builder.build().unwrap();
    let server = Server::new(&dbs).await.expect("a server");
    assert_eq!(
        server
            .settle(Duration::from_secs(10), Probe::Sessions)
            .await,
        0
    );
    let sampler = Sampler::start(&dbs, Duration::from_millis(20))
        .await
        .expect("a sampler");
    let mut rng = Rng::new(cancel_support::seed("SCHEMA_SOAK_SEED", default_seed));
    let plan = Arc::new(cancel_support::plan(
        &mut rng,
        OPS,
        &tenants,
        kinds,
        Duration::from_millis(3),
        8,
    ));
    let reports = cancel_support::run_plan(&store, plan.clone(), TASKS, Arc::new(|| {})).await;
    eprintln!("schemas: {}", cancel_support::summary(&plan, &reports));
    let open_txns = server
        .settle(Duration::from_secs(5), Probe::OpenTransactions)
        .await;
    cancel_support::must_return("store.close()", store.close()).await;
    let after = server
        .settle(Duration::from_secs(10), Probe::Sessions)
        .await;
    let (peak, samples) = sampler.finish().await;
    server.close().await;
    let in_public = public_rows(&dbs).await;
    let violations = cancel_support::verify(&dbs, &tenants, &plan, &reports).await;
    cancel_support::cleanup(dbs).await;
    eprintln!("schemas: peak {peak} sessions over {samples} samples");
    assert_eq!(open_txns, 0, "sessions left inside a transaction");
    assert_eq!(after, 0, "sessions left open after close");
    assert!(peak <= POOL as i64, "peak {peak} sessions > pool {POOL}");
    assert_eq!(in_public, 0, "rows fell through to public");
    cancel_support::assert_no_violations("schema tenants", &violations);
}

/// A tenant whose schema does not exist: every kind of call is a typed
/// error, and nothing reaches `public`, which has a table of the same name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_schema_is_a_typed_error_and_nothing_reaches_public() {
    let Some(mut dbs) = TestDatabases::postgres_schemas() else {
        return;
    };
    dbs.create("t00").await;
    new_note_table_in_public(&dbs).await;
    let ghost = dbs.config("ghost");
    let store = TenantConnections::builder()
        .tenant_config("ghost", ghost)
        .build()
        .unwrap();
    let db = store.db();
    let missing = |e: &sea_orm::DbErr| {
        matches!(
            TenantError::from_db_err(e),
            Some(TenantError::SchemaMissing { tenant, schema })
                if tenant.as_str() == "ghost" && schema.as_str() == "s_ghost"
        )
    };
    let insert = store
        .with_tenant("ghost", new_note("ghost", "lost").insert(&db))
        .await
        .unwrap();
    assert!(missing(insert.as_ref().unwrap_err()), "{insert:?}");
    let find = store
        .with_tenant("ghost", note::Entity::find().all(&db))
        .await
        .unwrap();
    assert!(missing(find.as_ref().unwrap_err()), "{find:?}");
    let begin = store.with_tenant("ghost", db.begin()).await.unwrap();
    assert!(missing(begin.as_ref().unwrap_err()));
    let stream = store
        .with_tenant("ghost", async {
            note::Entity::find().stream(&db).await.map(drop)
        })
        .await
        .unwrap();
    assert!(missing(stream.as_ref().unwrap_err()));
    let raw = store
        .with_tenant(
            "ghost",
            db.execute_unprepared("INSERT INTO note (owner, body) VALUES ('ghost', 'raw')"),
        )
        .await
        .unwrap();
    assert!(missing(raw.as_ref().unwrap_err()));
    assert_eq!(public_rows(&dbs).await, 0);
    store.close().await;
    dbs.cleanup().await;
}

/// A schema dropped while its tenant is being served: the next calls fail
/// (the connection on it finds no table; a fresh one finds no schema), the
/// other tenant is unaffected, and nothing is written to `public`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_dropped_while_serving_fails_closed() {
    let Some(mut dbs) = TestDatabases::postgres_schemas() else {
        return;
    };
    let store = common::store_with(&mut dbs, 2, pool(2)).await;
    new_note_table_in_public(&dbs).await;
    let db = store.db();
    for t in ["t00", "t01"] {
        store
            .with_tenant(t, new_note(t, "before").insert(&db))
            .await
            .unwrap()
            .unwrap();
    }
    let admin = sea_orm::Database::connect(dbs.url("")).await.unwrap();
    admin
        .execute_unprepared(r#"DROP SCHEMA "s_t00" CASCADE"#)
        .await
        .unwrap();
    admin.close().await.ok();
    for _ in 0..4 {
        let r = store
            .with_tenant("t00", new_note("t00", "after").insert(&db))
            .await
            .unwrap();
        assert!(r.is_err(), "a write to a dropped schema succeeded");
        let t01 = store
            .with_tenant("t01", new_note("t01", "after").insert(&db))
            .await
            .unwrap();
        assert!(t01.is_ok(), "{t01:?}");
    }
    assert_eq!(public_rows(&dbs).await, 0);
    assert_eq!(common::rows_direct(&dbs, "t01").await.len(), 5);
    store.close().await;
    dbs.cleanup().await;
}

/// Names that only work quoted: a `-` and a keyword.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_names_that_need_quoting_work() {
    let Some(mut dbs) = TestDatabases::postgres_schemas() else {
        return;
    };
    dbs.create("t00").await;
    let url = dbs.url("");
    let admin = sea_orm::Database::connect(&url).await.unwrap();
    for schema in [r#""user-1""#, r#""order""#] {
        admin
            .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap();
        admin
            .execute_unprepared(&format!(
                "CREATE TABLE {schema}.note (id SERIAL PRIMARY KEY, owner TEXT NOT NULL, body TEXT NOT NULL)"
            ))
            .await
            .unwrap();
    }
    let text = format!(
        "[databases.main]\nurl = \"{url}\"\ntenants = [\"user-1\"]\n\n[tenants.orders]\ndatabase = \"main\"\nschema = \"order\"\n"
    );
    let store =
        TenantConnections::from_config(TenantsConfig::from_toml_str(&text, ".").unwrap()).unwrap();
    let db = store.db();
    for (tenant, schema) in [("user-1", "user-1"), ("orders", "order")] {
        store
            .with_tenant(tenant, new_note(tenant, "quoted").insert(&db))
            .await
            .unwrap()
            .unwrap();
        let row = admin
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT owner FROM \"{schema}\".note"),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<String>("", "owner").unwrap(), tenant);
    }
    let count = store
        .with_tenant(
            "orders",
            note::Entity::find()
                .filter(sea_orm::ColumnTrait::eq(&note::Column::Owner, "orders"))
                .all(&db),
        )
        .await
        .unwrap()
        .unwrap()
        .len();
    assert_eq!(count, 1);
    admin.close().await.ok();
    store.close().await;
    dbs.cleanup().await;
}

/// Hostile or reserved schema names and prefixes are refused when the
/// configuration is read, before anything is opened.
#[test]
fn bad_schema_configuration_is_refused() {
    let url = "postgres://u:secret@127.0.0.1:1/app";
    for (text, what) in [
        (
            format!(
                "[databases.m]\nurl = \"{url}\"\nschema_prefix = \"x\\\"; DROP SCHEMA public; --\"\ntenants = [\"a\"]\n"
            ),
            "quote in prefix",
        ),
        (
            format!("[databases.m]\nurl = \"{url}\"\nschema_prefix = \"pg_\"\ntenants = [\"a\"]\n"),
            "reserved prefix",
        ),
        (
            format!(
                "[databases.m]\nurl = \"{url}\"\n[tenants.a]\ndatabase = \"m\"\nschema = \"public\"\n"
            ),
            "public",
        ),
        (
            format!(
                "[databases.m]\nurl = \"{url}\"\n[tenants.a]\ndatabase = \"m\"\nschema = \"A b\"\n"
            ),
            "space and uppercase",
        ),
    ] {
        let err = TenantsConfig::from_toml_str(&text, ".").unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidSchema { .. }),
            "{what}: {err}"
        );
        assert!(!err.to_string().contains("secret"), "{what}: {err}");
    }
    let unknown = "[tenants.a]\ndatabase = \"nowhere\"\n";
    assert!(matches!(
        TenantsConfig::from_toml_str(unknown, "."),
        Err(ConfigError::UnknownDatabase { .. })
    ));
    let sqlite = sea_orm_tenant::TenantConfig::new("sqlite::memory:")
        .in_schema(SchemaName::new("a").unwrap());
    let err = TenantConnections::builder()
        .tenant_config("a", sqlite)
        .build()
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::SchemaNeedsPostgres { .. }),
        "{err}"
    );
}

/// Plain calls, none cancelled: connections are reused across schemas all the
/// time (2,000 inserts and reads over 100 tenants, 50 at once, a pool of 3),
/// and every row lands in its own schema, read directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_connections_never_cross_schemas() {
    use futures_util::StreamExt;
    const TENANTS: usize = 100;
    const CALLS: usize = 2_000;
    let Some(mut dbs) = TestDatabases::postgres_schemas() else {
        return;
    };
    let store = common::store_with(&mut dbs, TENANTS, pool(3)).await;
    new_note_table_in_public(&dbs).await;
    let db = store.db();
    let tenants = names(TENANTS);
    futures_util::stream::iter(0..CALLS)
        .for_each_concurrent(50, |i| {
            let (store, db) = (store.clone(), db.clone());
            let tenant = tenants[(i * 7) % TENANTS].clone();
            async move {
                store
                    .with_tenant(&tenant, async {
                        let body = format!("call-{i}");
                        let m = new_note(&tenant, &body).insert(&db).await.unwrap();
                        let back = note::Entity::find_by_id(m.id).one(&db).await.unwrap();
                        assert_eq!(
                            back.map(|b| (b.owner, b.body)),
                            Some((tenant.clone(), body))
                        );
                    })
                    .await
                    .unwrap();
            }
        })
        .await;
    store.close().await;
    for t in &tenants {
        let rows = common::rows_direct(&dbs, t).await;
        assert_eq!(rows.len(), CALLS / TENANTS, "{t}");
        assert!(
            rows.iter().all(|(owner, _)| owner == t),
            "{t}: a foreign row"
        );
    }
    assert_eq!(public_rows(&dbs).await, 0);
    dbs.cleanup().await;
}

/// A connection going back to the pool after a transaction keeps its
/// session and the driver's prepared statements (no `DISCARD ALL`, which
/// would make every later call prepare everything again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_back_from_a_transaction_keeps_the_drivers_statements() {
    let Some(mut dbs) = TestDatabases::postgres_schemas() else {
        return;
    };
    let store = common::store_with(&mut dbs, 2, pool(1)).await;
    new_note_table_in_public(&dbs).await;
    let db = store.db();
    let tenants = names(2);
    let prepared_at = || async {
        let sql = "SELECT pg_backend_pid() AS pid, \
                   (SELECT min(prepare_time)::text FROM pg_prepared_statements \
                    WHERE NOT from_sql) AS at";
        let row = db
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .unwrap()
            .unwrap();
        (
            row.try_get::<i32>("", "pid").unwrap(),
            row.try_get::<Option<String>>("", "at").unwrap(),
        )
    };
    // This query is the driver's: prepared by the first call.
    store.with_tenant(&tenants[0], prepared_at()).await.unwrap();
    let before = store.with_tenant(&tenants[1], prepared_at()).await.unwrap();
    assert!(
        before.1.is_some(),
        "the driver's statement is prepared: {before:?}"
    );
    store
        .with_tenant(&tenants[0], async {
            let txn = db.begin().await.unwrap();
            new_note(&tenants[0], "in a transaction")
                .insert(&txn)
                .await
                .unwrap();
            txn.commit().await.unwrap();
        })
        .await
        .unwrap();
    let after = store.with_tenant(&tenants[1], prepared_at()).await.unwrap();
    assert_eq!(after, before, "same session, statements kept");
    store.close().await;
    dbs.cleanup().await;
}

/// A stream whose statement the driver cached runs after a call dropped the
/// session's prepared statements: refused before its first row, it is sent
/// again, as single calls are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_after_the_sessions_statements_were_dropped_runs() {
    use futures_util::TryStreamExt;
    let Some(mut dbs) = TestDatabases::postgres_schemas() else {
        return;
    };
    let store = common::store_with(&mut dbs, 1, pool(1)).await;
    new_note_table_in_public(&dbs).await;
    let db = store.db();
    let t = &names(1)[0];
    let streamed = store
        .with_tenant(t, async {
            new_note(t, "kept").insert(&db).await.unwrap();
            let stream = || async {
                note::Entity::find()
                    .stream(&db)
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            };
            // The stream's statement is in the driver's cache now.
            stream().await.unwrap();
            db.execute_unprepared("DEALLOCATE ALL").await.unwrap();
            stream().await
        })
        .await
        .unwrap();
    let rows = streamed.expect("the stream runs");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].owner, *t);
    store.close().await;
    dbs.cleanup().await;
}
