//! MySQL/MariaDB database tenants sharing their server's connections
//! (`TenantConfig::sharing_server`): every call lands in its tenant's
//! database whatever the calls before it on the same connection did.
//! Each database is read directly, never through the router.

mod common;

use common::{names, note, rows_direct, store_with};
use futures_util::StreamExt;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, Set, Statement,
    StreamTrait, TransactionTrait,
};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{PoolOptions, TenantConnections, TenantError};

fn new_note(owner: &str, body: String) -> note::ActiveModel {
    note::ActiveModel {
        owner: Set(owner.to_owned()),
        body: Set(body),
        ..Default::default()
    }
}

fn pool_of(n: u32) -> PoolOptions {
    PoolOptions {
        max_connections: Some(n),
        ..Default::default()
    }
}

/// Rows of every tenant's database that another tenant wrote, read directly.
async fn misplaced(dbs: &TestDatabases, tenants: &[String]) -> Vec<String> {
    let mut wrong = Vec::new();
    for t in tenants {
        for (owner, body) in rows_direct(dbs, t).await {
            if &owner != t {
                wrong.push(format!("{owner}'s row {body} is in {t}'s database"));
            }
        }
    }
    wrong
}

async fn shared(pool: u32, tenants: usize) -> Option<(TestDatabases, TenantConnections)> {
    let mut dbs = TestDatabases::mysql_shared()?;
    let store = store_with(&mut dbs, tenants, pool_of(pool)).await;
    Some((dbs, store))
}

/// Runs `call` for each tenant in turn, `rounds` times, each inside the
/// tenant; in round `r` a call must read `r + 1` rows, all its tenant's.
async fn alternate(
    store: &TenantConnections,
    tenants: &[String],
    rounds: usize,
    call: impl AsyncFn(&str, usize) -> Result<Vec<note::Model>, sea_orm::DbErr>,
) -> Vec<String> {
    let mut wrong = Vec::new();
    for round in 0..rounds {
        for t in tenants {
            let rows = store.with_tenant(t, call(t, round)).await.unwrap().unwrap();
            if rows.len() != round + 1 || rows.iter().any(|r| &r.owner != t) {
                wrong.push(format!("round {round}: {t} read {rows:?}"));
            }
        }
    }
    wrong
}

/// Two tenants run the same SQL text, alternately, on the one connection of
/// the shared pool: sqlx caches a prepared statement by its text, and a
/// MySQL prepared statement keeps the database it was prepared in. Every
/// insert must land in its own tenant's database, every read see only it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_sql_alternating_on_one_connection_stays_in_each_database() {
    let Some((dbs, store)) = shared(1, 2).await else {
        return;
    };
    let db = store.db();
    let tenants = names(2);
    let mut wrong = alternate(&store, &tenants, 10, async |t, round| {
        new_note(t, format!("{t}-{round}")).insert(&db).await?;
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::MySql,
            "UPDATE note SET body = CONCAT(body, '!') WHERE owner = ?",
            [t.to_owned().into()],
        ))
        .await?;
        note::Entity::find().all(&db).await
    })
    .await;
    store.close().await;
    wrong.extend(misplaced(&dbs, &tenants).await);
    for t in &tenants {
        let rows = rows_direct(&dbs, t).await;
        if rows.len() != 10 || rows.iter().any(|(_, body)| !body.ends_with('!')) {
            wrong.push(format!("{t}'s database holds {rows:?}"));
        }
    }
    dbs.cleanup().await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The same with transactions: SeaORM prepares a transaction's statements
/// under their own text, so the connection's cache is cleared when it goes
/// back to the pool after one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_sql_in_transactions_alternating_on_one_connection_stays_in_each_database() {
    let Some((dbs, store)) = shared(1, 2).await else {
        return;
    };
    let db = store.db();
    let tenants = names(2);
    let mut wrong = alternate(&store, &tenants, 6, async |t, round| {
        let txn = db.begin().await?;
        new_note(t, format!("{t}-{round}")).insert(&txn).await?;
        let rows = note::Entity::find().all(&txn).await?;
        txn.commit().await?;
        // A routed call between transactions, on the same connection.
        note::Entity::find().count(&db).await?;
        Ok(rows)
    })
    .await;
    store.close().await;
    wrong.extend(misplaced(&dbs, &tenants).await);
    dbs.cleanup().await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// What a tenant's own SQL can leave in a shared session: after each, the
/// other tenant's next call on the same connection writes and reads its
/// own database only, and loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_session_state_moves_another_tenants_call() {
    let Some((dbs, store)) = shared(1, 2).await else {
        return;
    };
    let db = store.db();
    let victim_db = dbs.database_name("t01");
    let attacks: Vec<(&str, String)> = vec![
        ("USE of the other database", format!("USE `{victim_db}`")),
        (
            "a temporary table shadowing the other tenant's table",
            format!(
                "CREATE TEMPORARY TABLE `{victim_db}`.note (id INT AUTO_INCREMENT PRIMARY KEY, \
                 owner VARCHAR(255) NOT NULL, body VARCHAR(255) NOT NULL)"
            ),
        ),
        (
            "a transaction left open",
            "START TRANSACTION; INSERT INTO note (owner, body) VALUES ('t00', 'open')".to_owned(),
        ),
        ("autocommit turned off", "SET autocommit = 0".to_owned()),
        (
            "an SQL prepared statement left behind",
            "PREPARE sea_orm_tenant_probe FROM 'INSERT INTO note (owner, body) VALUES (''t01'', ''via-probe'')'"
                .to_owned(),
        ),
    ];
    let mut wrong = Vec::new();
    for (round, (attack, sql)) in attacks.iter().enumerate() {
        store
            .with_tenant("t00", db.execute_unprepared(sql))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{attack}: {e}"));
        let body = format!("after {attack}");
        let written = store
            .with_tenant("t01", async {
                new_note("t01", body.clone()).insert(&db).await?;
                // A leftover statement of t00's, executed by name, must not
                // write into t00's database.
                let _ = db.execute_unprepared("EXECUTE sea_orm_tenant_probe").await;
                note::Entity::find().all(&db).await
            })
            .await
            .unwrap();
        match written {
            Ok(rows) if rows.iter().all(|r| r.owner == "t01") => {}
            Ok(rows) => wrong.push(format!("{attack}: t01 read {rows:?}")),
            Err(e) => wrong.push(format!("{attack}: t01's call failed: {e}")),
        }
        let t01 = rows_direct(&dbs, "t01").await;
        if !t01.contains(&("t01".to_owned(), body.clone())) {
            wrong.push(format!(
                "{attack}: t01's acknowledged row is not in its database (round {round})"
            ));
        }
    }
    store.close().await;
    wrong.extend(misplaced(&dbs, &names(2)).await);
    dbs.cleanup().await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A stored procedure runs in its own database and gives the session back
/// where it was: the tenant's next call is still on its own database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_procedure_of_another_database_moves_nothing() {
    let Some((dbs, store)) = shared(1, 2).await else {
        return;
    };
    let direct = dbs.connect_direct("t01").await;
    direct
        .execute_unprepared(
            "CREATE PROCEDURE plant() INSERT INTO note (owner, body) VALUES ('t01', 'planted')",
        )
        .await
        .unwrap();
    direct.close().await.unwrap();
    let db = store.db();
    let other = dbs.database_name("t01");
    store
        .with_tenant("t00", async {
            db.execute_unprepared(&format!("CALL `{other}`.plant()"))
                .await?;
            new_note("t00", "after the call".into()).insert(&db).await
        })
        .await
        .unwrap()
        .unwrap();
    store.close().await;
    let wrong = misplaced(&dbs, &names(2)).await;
    let t00 = rows_direct(&dbs, "t00").await;
    dbs.cleanup().await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(t00, vec![("t00".to_owned(), "after the call".to_owned())]);
}

/// Transactions and streams stay on their tenant's database while other
/// tenants' calls share the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_and_streams_stay_on_their_database() {
    let Some((dbs, store)) = shared(2, 3).await else {
        return;
    };
    let db = store.db();
    let tenants = names(3);
    for t in &tenants {
        store
            .with_tenant(t, async {
                let txn = db.begin().await?;
                for n in 0..3 {
                    new_note(t, format!("{t}-txn-{n}")).insert(&txn).await?;
                }
                txn.commit().await?;
                let txn = db.begin().await?;
                new_note(t, format!("{t}-rolled-back")).insert(&txn).await?;
                txn.rollback().await
            })
            .await
            .unwrap()
            .unwrap();
    }
    // A stream of t00's rows, read while t01 and t02 use the pool.
    let streamed = store
        .with_tenant("t00", async {
            let stmt = Statement::from_string(DbBackend::MySql, "SELECT owner FROM note");
            let mut stream = db.stream_raw(stmt).await?;
            let mut owners = Vec::new();
            while let Some(row) = stream.next().await {
                owners.push(row?.try_get_by_index::<String>(0)?);
                let others = store
                    .with_tenant("t01", note::Entity::find().count(&db))
                    .await;
                assert!(matches!(others, Err(TenantError::Switch { .. })));
            }
            Ok::<_, sea_orm::DbErr>(owners)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(streamed, vec!["t00".to_owned(); 3]);
    store.close().await;
    let wrong = misplaced(&dbs, &tenants).await;
    let mut counts = Vec::new();
    for t in &tenants {
        counts.push(rows_direct(&dbs, t).await.len());
    }
    dbs.cleanup().await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(
        counts,
        vec![3, 3, 3],
        "committed rows only, in each database"
    );
}

/// A tenant whose database does not exist gets a typed error for calls and
/// transactions, and nothing lands anywhere else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_database_is_a_typed_error() {
    let Some((dbs, store)) = shared(1, 1).await else {
        return;
    };
    store
        .add_tenant("ghost", dbs.config("ghost"))
        .expect("register a tenant whose database does not exist");
    let db = store.db();
    // t00's call first, so the connection sits on an existing database.
    store
        .with_tenant("t00", note::Entity::find().count(&db))
        .await
        .unwrap()
        .unwrap();
    let call = store
        .with_tenant("ghost", new_note("ghost", "lost".into()).insert(&db))
        .await
        .unwrap();
    let txn = store.with_tenant("ghost", db.begin()).await.unwrap();
    store.close().await;
    let t00 = rows_direct(&dbs, "t00").await;
    dbs.cleanup().await;
    for (what, err) in [("call", call.err()), ("begin", txn.err())] {
        let err = err.unwrap_or_else(|| panic!("{what} on a missing database succeeded"));
        assert!(
            matches!(TenantError::from_db_err(&err), Some(TenantError::Unavailable { tenant, reason })
                if tenant.as_str() == "ghost" && reason.contains("does not exist")),
            "{what}: {err}"
        );
    }
    assert!(t00.is_empty(), "rows landed in another database: {t00:?}");
}
