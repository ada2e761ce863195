//! Schema tenants against their own SQL, on real PostgreSQL: every statement
//! of `common::session_attacks` (a function, a procedure, a `DO` block,
//! Unicode escapes, PREPARE/EXECUTE, temporary tables, cursors, a transaction
//! left open, `DISCARD ALL`, `DEALLOCATE ALL`, `RESET ALL`) run by tenant
//! `t00` and aimed at `t01`'s schema, on pools of 1 and 3; then `t00`, `t01`
//! and `t02` take turns writing and reading. Every acknowledged row is in its
//! own schema and nowhere else, no read returns another tenant's row, and no
//! call fails after the attack. Each schema is read directly, not through
//! the store.

mod cancel_support;
mod common;

use common::session_attacks::{self, Attack};
use common::{names, new_note_table_in_public, note};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, Set, Statement};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{PoolOptions, TenantConnections, TenantError};

const ROUNDS: usize = 8;

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

async fn admin_sql(dbs: &TestDatabases, sql: &str) {
    let admin = sea_orm::Database::connect(dbs.url("")).await.unwrap();
    admin.execute_unprepared(sql).await.unwrap();
    admin.close().await.ok();
}

/// Rows of `public.note`, read directly: the fall-through target.
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

/// How the attack's connection reaches the next call.
#[derive(Clone, Copy, Debug)]
enum Next {
    /// Calls run one after another: the connection is checked after the
    /// attack and parked.
    Later,
    /// This tenant's insert waits for the pool's only connection while the
    /// attack runs: the connection goes straight to it, unchecked, and the
    /// waiting call's own check must see what the attack left.
    Waiting(&'static str),
    /// Calls switch tenant on every call before the attack, so the park
    /// stops checking connections right after their calls: the attack's
    /// connection is parked unchecked, and the next call, another
    /// tenant's, takes it and must see what the attack left.
    Parked,
}

/// Calls that switch tenant each time, enough for the park to defer its
/// checks to the next checkout, whatever it did before.
const SWITCHES: usize = 24;

/// Advisory lock key that holds the attack until a call waits behind it.
const GATE: i64 = 7_231_023;

/// Runs `sql` as `t00` with `waiter`'s insert of `body` queued behind it
/// for the pool's only connection; the insert's outcome.
async fn attack_with_a_waiter(
    store: &TenantConnections,
    dbs: &TestDatabases,
    sql: &str,
    waiter: &'static str,
    body: String,
) -> Result<(), sea_orm::DbErr> {
    use sea_orm::sqlx::{Connection, PgConnection};
    let mut admin = PgConnection::connect(&dbs.url("")).await.unwrap();
    sea_orm::sqlx::raw_sql(sea_orm::sqlx::AssertSqlSafe(format!(
        "SELECT pg_advisory_lock({GATE})"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let gated =
        format!("SELECT pg_advisory_lock({GATE}); SELECT pg_advisory_unlock({GATE}); {sql}");
    let attack = tokio::spawn({
        let store = store.clone();
        async move {
            let db = store.db();
            let _ = store
                .with_tenant("t00", db.execute_unprepared(&gated))
                .await;
        }
    });
    // The attack holds the connection once its session waits on the gate.
    let waiting_sql = format!(
        "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' \
         AND objid = {GATE} AND NOT granted)"
    );
    while !sea_orm::sqlx::query_scalar::<_, bool>(sea_orm::sqlx::AssertSqlSafe(
        waiting_sql.as_str(),
    ))
    .fetch_one(&mut admin)
    .await
    .unwrap()
    {
        tokio::task::yield_now().await;
    }
    let insert = tokio::spawn({
        let store = store.clone();
        async move {
            let db = store.db();
            store
                .with_tenant(waiter, new_note(waiter, &body).insert(&db))
                .await
                .unwrap()
                .map(drop)
        }
    });
    // One thread: the insert runs until it waits in the queue (no I/O before).
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
    sea_orm::sqlx::raw_sql(sea_orm::sqlx::AssertSqlSafe(format!(
        "SELECT pg_advisory_unlock({GATE})"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    attack.await.unwrap();
    let inserted = insert.await.unwrap();
    admin.close().await.ok();
    inserted
}

/// Runs `attack` as `t00` aimed at `t01`, then the turns; returns what went wrong.
async fn attack_then_turns(
    store: &TenantConnections,
    dbs: &TestDatabases,
    attack: &Attack,
    n: usize,
    next: Next,
    acked: &mut Vec<(String, String)>,
) -> Vec<String> {
    let db = store.db();
    let tenants = names(3);
    let mut wrong = Vec::new();
    // Every tenant has a connection parked on its schema before the attack.
    for t in &tenants {
        let body = format!("{n}-before");
        match store
            .with_tenant(t, new_note(t, &body).insert(&db))
            .await
            .unwrap()
        {
            Ok(_) => acked.push((t.clone(), body)),
            Err(e) => wrong.push(format!("before {}: {t}'s insert failed: {e}", attack.name)),
        }
    }
    if matches!(next, Next::Parked) {
        for i in 0..SWITCHES {
            let t = &tenants[1 + i % 2];
            if let Err(e) = store
                .with_tenant(t, note::Entity::find().all(&db))
                .await
                .unwrap()
            {
                wrong.push(format!("before {}: {t}'s read failed: {e}", attack.name));
            }
        }
    }
    let target = format!("\"{}\"", dbs.schema_name("t01"));
    let sql = attack.sql(&target, n);
    // The attack's own result does not matter (a PREPARE may be refused).
    match next {
        Next::Later | Next::Parked => {
            let _ = store.with_tenant("t00", db.execute_unprepared(&sql)).await;
        }
        Next::Waiting(waiter) => {
            let body = format!("{n}-waiting");
            match attack_with_a_waiter(store, dbs, &sql, waiter, body.clone()).await {
                Ok(()) => acked.push((waiter.to_owned(), body)),
                Err(e) => wrong.push(format!(
                    "{}: {waiter}'s insert waiting behind it failed: {e}",
                    attack.name
                )),
            }
        }
    }
    // After a parked attack, another tenant's call comes first.
    let mut tenants = tenants;
    if matches!(next, Next::Parked) {
        tenants.rotate_left(1);
    }
    if attack.temp_note {
        // Not even the attacker's next call sees its temporary table.
        for t in &tenants {
            let temp = store
                .with_tenant(
                    t,
                    db.query_one_raw(Statement::from_string(
                        DbBackend::Postgres,
                        "SELECT count(*) AS n FROM pg_temp.note",
                    )),
                )
                .await
                .unwrap();
            if temp.is_ok() {
                wrong.push(format!("{}: {t} reached a temporary table", attack.name));
            }
        }
    }
    for round in 0..ROUNDS {
        for t in &tenants {
            let body = format!("{n}-after-{round}");
            match store
                .with_tenant(t, new_note(t, &body).insert(&db))
                .await
                .unwrap()
            {
                Ok(_) => acked.push((t.clone(), body)),
                Err(e) => wrong.push(format!("{}: {t}'s insert failed: {e}", attack.name)),
            }
            match store
                .with_tenant(t, note::Entity::find().all(&db))
                .await
                .unwrap()
            {
                Ok(rows) => {
                    for r in rows.iter().filter(|r| r.owner != *t) {
                        wrong.push(format!(
                            "{}: {t} read {}'s row {}",
                            attack.name, r.owner, r.body
                        ));
                    }
                }
                Err(e) => wrong.push(format!("{}: {t}'s read failed: {e}", attack.name)),
            }
        }
    }
    // A cursor the attacker kept open is not there for another tenant.
    let fetch = store
        .with_tenant(
            "t01",
            db.query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("FETCH ALL FROM hop_c{n}"),
            )),
        )
        .await
        .unwrap();
    if let Ok(rows) = fetch
        && !rows.is_empty()
    {
        wrong.push(format!("{}: t01 fetched from t00's cursor", attack.name));
    }
    wrong
}

/// Every row of every schema, read directly, against the acknowledged ones.
async fn misplaced(dbs: &TestDatabases, acked: &[(String, String)]) -> Vec<String> {
    let mut wrong = Vec::new();
    for t in names(3) {
        let rows = common::rows_direct(dbs, &t).await;
        for (owner, body) in &rows {
            if *owner != t {
                wrong.push(format!("{owner}'s row {body} is in {t}'s schema"));
            }
        }
        for (owner, body) in acked.iter().filter(|(o, _)| *o == t) {
            if !rows.iter().any(|(o, b)| o == owner && b == body) {
                wrong.push(format!(
                    "{owner}'s acknowledged row {body} is not in its schema"
                ));
            }
        }
    }
    if public_rows(dbs).await != 0 {
        wrong.push("rows fell through to public".to_owned());
    }
    wrong
}

async fn every_attack_on_a_pool_of(size: u32) {
    every_attack(size, &[Next::Later]).await;
}

async fn every_attack(size: u32, nexts: &[Next]) {
    let Some(mut dbs) = TestDatabases::postgres_schemas() else {
        return;
    };
    let store = common::store_with(&mut dbs, 3, pool(size)).await;
    new_note_table_in_public(&dbs).await;
    admin_sql(&dbs, session_attacks::SETUP).await;
    let mut acked = Vec::new();
    let mut wrong = Vec::new();
    let runs = session_attacks::ALL
        .iter()
        .flat_map(|attack| nexts.iter().map(move |next| (attack, *next)));
    for (n, (attack, next)) in runs.enumerate() {
        let found = attack_then_turns(&store, &dbs, attack, n, next, &mut acked).await;
        eprintln!(
            "pool of {size}, {next:?}: {:<40} {}",
            attack.name,
            if found.is_empty() { "ok" } else { "FAILED" }
        );
        wrong.extend(found);
    }
    store.close().await;
    wrong.extend(misplaced(&dbs, &acked).await);
    dbs.cleanup().await;
    assert!(
        wrong.is_empty(),
        "pool of {size}: {} problem(s):\n  {}",
        wrong.len(),
        wrong.join("\n  ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_session_change_moves_a_later_call_pool_of_1() {
    every_attack_on_a_pool_of(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_session_change_moves_a_later_call_pool_of_3() {
    every_attack_on_a_pool_of(3).await;
}

/// The attack's connection parked unchecked and taken by another tenant's
/// call, whose checkout checks it in the round trip that moves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_session_change_reaches_the_next_call_from_a_connection_parked_unchecked() {
    every_attack(1, &[Next::Parked]).await;
}

/// The attack's connection handed straight to a call waiting for it, of
/// the attacker itself and of a third tenant: that call checks the session
/// before it runs (one thread, so the waiting call is queued before the
/// attack ends).
#[tokio::test(flavor = "current_thread")]
async fn no_session_change_reaches_a_call_waiting_for_the_connection() {
    every_attack(1, &[Next::Waiting("t00"), Next::Waiting("t02")]).await;
}

/// `SET ROLE` by a tenant's call: the connection is not reused with that
/// role; every later call runs as the pool's own user and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_role_does_not_reach_later_calls() {
    let Some(mut dbs) = TestDatabases::postgres_schemas() else {
        return;
    };
    let store = common::store_with(&mut dbs, 3, pool(1)).await;
    let role = format!("{}_nobody", dbs.prefix());
    admin_sql(&dbs, &format!("CREATE ROLE {role} NOLOGIN")).await;
    let db = store.db();
    let set = store
        .with_tenant("t00", db.execute_unprepared(&format!("SET ROLE {role}")))
        .await
        .unwrap();
    let mut failures = Vec::new();
    for t in names(3) {
        for i in 0..3 {
            let insert = store
                .with_tenant(&t, new_note(&t, &format!("as-owner-{i}")).insert(&db))
                .await
                .unwrap();
            let user = store
                .with_tenant(
                    &t,
                    db.query_one_raw(Statement::from_string(
                        DbBackend::Postgres,
                        "SELECT current_user::text AS u",
                    )),
                )
                .await
                .unwrap()
                .map(|r| r.unwrap().try_get::<String>("", "u").unwrap());
            if insert.is_err() || user.as_deref() == Ok(role.as_str()) {
                failures.push(format!("{t}: {insert:?} as {user:?}"));
            }
        }
    }
    store.close().await;
    admin_sql(&dbs, &format!("DROP ROLE {role}")).await;
    dbs.cleanup().await;
    assert!(set.is_ok(), "{set:?}");
    assert!(failures.is_empty(), "{failures:?}");
}

/// A schema dropped while its tenant has connections parked on it: every
/// later call of that tenant is `SchemaMissing` (however the connection got
/// there), the other tenants are served, and nothing reaches `public`.
async fn dropped_schema_on_a_pool_of(size: u32) {
    let Some(mut dbs) = TestDatabases::postgres_schemas() else {
        return;
    };
    let store = common::store_with(&mut dbs, 2, pool(size)).await;
    new_note_table_in_public(&dbs).await;
    let db = store.db();
    // t00 last: a connection is parked on its schema when the schema goes.
    for t in ["t01", "t00"] {
        for _ in 0..size {
            store
                .with_tenant(t, new_note(t, "before").insert(&db))
                .await
                .unwrap()
                .unwrap();
        }
    }
    admin_sql(
        &dbs,
        &format!("DROP SCHEMA \"{}\" CASCADE", dbs.schema_name("t00")),
    )
    .await;
    let missing = |e: &sea_orm::DbErr| {
        matches!(
            TenantError::from_db_err(e),
            Some(TenantError::SchemaMissing { tenant, .. }) if tenant.as_str() == "t00"
        )
    };
    let mut wrong = Vec::new();
    for i in 0..4 {
        let insert = store
            .with_tenant("t00", new_note("t00", "after").insert(&db))
            .await
            .unwrap();
        if !insert.as_ref().is_err_and(missing) {
            wrong.push(format!("insert {i}: {insert:?}"));
        }
        let read = store
            .with_tenant("t00", note::Entity::find().all(&db))
            .await
            .unwrap();
        if !read.as_ref().is_err_and(missing) {
            wrong.push(format!("read {i}: {read:?}"));
        }
        let raw = store
            .with_tenant("t00", db.execute_unprepared("DELETE FROM note"))
            .await
            .unwrap();
        if !raw.as_ref().is_err_and(missing) {
            wrong.push(format!("raw {i}: {raw:?}"));
        }
        let other = store
            .with_tenant("t01", new_note("t01", "after").insert(&db))
            .await
            .unwrap();
        if other.is_err() {
            wrong.push(format!("t01 {i}: {other:?}"));
        }
    }
    store.close().await;
    let in_public = public_rows(&dbs).await;
    let t01 = common::rows_direct(&dbs, "t01").await.len();
    dbs.cleanup().await;
    assert!(wrong.is_empty(), "pool of {size}: {wrong:#?}");
    assert_eq!(in_public, 0);
    assert_eq!(t01, size as usize + 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_schema_is_schema_missing_pool_of_1() {
    dropped_schema_on_a_pool_of(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_schema_is_schema_missing_pool_of_3() {
    dropped_schema_on_a_pool_of(3).await;
}

/// A call cancelled while a transaction it opened is running: its connection
/// goes back to the pool, whose check fails inside that transaction (the
/// call also dropped the session's prepared statements, the check's among
/// them). The connection is closed, not left open inside the transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_whose_check_fails_is_closed() {
    use std::time::Duration;
    let Some(mut dbs) = TestDatabases::postgres_schemas() else {
        return;
    };
    let store = common::store_with(&mut dbs, 1, pool(1)).await;
    let db = store.db();
    store
        .with_tenant("t00", new_note("t00", "warm").insert(&db))
        .await
        .unwrap()
        .unwrap();
    let cancelled = tokio::time::timeout(
        Duration::from_millis(200),
        store.with_tenant(
            "t00",
            db.execute_unprepared("DEALLOCATE ALL; BEGIN; SELECT pg_sleep(0.5)"),
        ),
    )
    .await;
    assert!(
        cancelled.is_err(),
        "the call was not cancelled: {cancelled:?}"
    );
    let server = cancel_support::Server::new(&dbs).await.unwrap();
    let open = server
        .settle(Duration::from_secs(10), cancel_support::Probe::Busy)
        .await;
    server.close().await;
    store.close().await;
    cancel_support::cleanup(dbs).await;
    assert_eq!(
        open, 0,
        "a session stayed inside the cancelled call's transaction"
    );
}
