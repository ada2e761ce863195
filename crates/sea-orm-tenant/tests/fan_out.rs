//! Fan-out over tenants: every tenant runs inside itself, at most `jobs` at
//! once; failures, panics, time limits and cancellation are reported per
//! tenant; read-only SQL never keeps a change. Rows are read back directly
//! from each tenant's database, not through the store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_tenant::fan_out::{ReadOnlyError, RunOutcome, read_only_query};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{TenantConnections, TenantError};

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t{i:02}")).collect()
}

/// A store over `tenants` of `dbs`, each with an empty `note (body)` table.
async fn store_with_notes(dbs: &mut TestDatabases, tenants: &[String]) -> TenantConnections {
    let store = TenantConnections::builder().build().expect("store");
    for t in tenants {
        let config = dbs.create_config(t).await;
        store.add_tenant(t, config).expect("add tenant");
        let direct = setup_connection(dbs, t).await;
        direct
            .execute_unprepared("CREATE TABLE note (body TEXT NOT NULL)")
            .await
            .expect("create note table");
        direct.close().await.ok();
    }
    store
}

/// A connection to `tenant`'s database for setting it up (the SQLite file
/// is created by it).
async fn setup_connection(dbs: &TestDatabases, tenant: &str) -> sea_orm::DatabaseConnection {
    if dbs.backend() == DbBackend::Sqlite {
        sea_orm::Database::connect(dbs.url(tenant))
            .await
            .expect("create the file")
    } else {
        dbs.connect_direct(tenant).await
    }
}

async fn bodies(dbs: &TestDatabases, tenant: &str) -> Vec<String> {
    let direct = dbs.connect_direct(tenant).await;
    let rows = direct
        .query_all_raw(Statement::from_string(
            dbs.backend(),
            "SELECT body FROM note ORDER BY body",
        ))
        .await
        .expect("read notes directly");
    direct.close().await.ok();
    rows.iter()
        .map(|r| r.try_get::<String>("", "body").expect("body"))
        .collect()
}

fn insert(tenant: &str) -> Statement {
    Statement::from_string(
        DbBackend::Sqlite,
        format!("INSERT INTO note (body) VALUES ('from {tenant}')"),
    )
}

#[tokio::test]
async fn every_tenant_runs_inside_itself_at_most_jobs_at_once() {
    let mut dbs = TestDatabases::sqlite();
    let tenants = names(12);
    let store = store_with_notes(&mut dbs, &tenants).await;
    let db = store.db();
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let progress = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&progress);
    let report = store
        .fan_out()
        .jobs(3)
        .on_progress(move |p| seen.lock().unwrap().push((p.finished, p.total)))
        .run(|tenant| {
            let (db, now, peak) = (db.clone(), Arc::clone(&now), Arc::clone(&peak));
            async move {
                let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(running, Ordering::SeqCst);
                // Yield so the other jobs start while this one is running.
                tokio::task::yield_now().await;
                let result = db.execute_raw(insert(tenant.as_str())).await;
                now.fetch_sub(1, Ordering::SeqCst);
                result.map(|r| r.rows_affected())
            }
        })
        .await
        .expect("fan-out runs");
    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.tenants.len(), tenants.len());
    assert!(!report.cancelled);
    let peak = peak.load(Ordering::SeqCst);
    assert!(
        (2..=3).contains(&peak),
        "peak {peak} tenants at once for jobs 3"
    );
    let progress = progress.lock().unwrap().clone();
    assert_eq!(progress.len(), tenants.len());
    assert_eq!(progress.last(), Some(&(tenants.len(), tenants.len())));
    for t in &tenants {
        assert_eq!(bodies(&dbs, t).await, vec![format!("from {t}")], "{t}");
    }
}

#[tokio::test]
async fn failures_and_panics_are_reported_per_tenant() {
    let mut dbs = TestDatabases::sqlite();
    let tenants = names(5);
    let store = store_with_notes(&mut dbs, &tenants).await;
    let db = store.db();
    let report = store
        .fan_out()
        .jobs(5)
        .run(|tenant| {
            let db = db.clone();
            async move {
                match tenant.as_str() {
                    "t01" => db
                        .execute_unprepared("SELECT * FROM missing_table")
                        .await
                        .map(|_| 0),
                    "t02" => panic!("boom in t02"),
                    _ => db
                        .execute_raw(insert(tenant.as_str()))
                        .await
                        .map(|r| r.rows_affected()),
                }
            }
        })
        .await
        .expect("fan-out runs");
    let outcome = |t: &str| report.tenant(t).expect("reported").outcome.clone();
    assert_eq!(outcome("t00"), RunOutcome::Done(1));
    assert!(matches!(outcome("t01"), RunOutcome::Failed(e) if e.contains("missing_table")));
    assert!(matches!(outcome("t02"), RunOutcome::Failed(e) if e.contains("boom in t02")));
    assert_eq!(outcome("t03"), RunOutcome::Done(1));
    assert_eq!(outcome("t04"), RunOutcome::Done(1));
    assert_eq!(report.failures().count(), 2);
    let json = serde_json::to_value(&report).expect("report as JSON");
    assert_eq!(json["tenants"].as_array().map(Vec::len), Some(5));
}

/// Only a tenant that never finishes meets the limit: the others finish on
/// their first poll (no I/O), so no timing decides the outcome.
#[tokio::test]
async fn a_tenant_past_its_time_limit_is_reported_timed_out() {
    let mut dbs = TestDatabases::sqlite();
    let store = store_with_notes(&mut dbs, &names(3)).await;
    let report = store
        .fan_out()
        .tenant_timeout(Some(Duration::from_millis(50)))
        .run(|tenant| async move {
            if tenant.as_str() == "t01" {
                std::future::pending::<()>().await;
            }
            Ok::<_, TenantError>(tenant.to_string())
        })
        .await
        .expect("fan-out runs");
    let outcome = |t: &str| report.tenant(t).expect("reported").outcome.clone();
    assert_eq!(outcome("t00"), RunOutcome::Done("t00".to_owned()));
    assert_eq!(outcome("t01"), RunOutcome::TimedOut);
    assert_eq!(outcome("t02"), RunOutcome::Done("t02".to_owned()));
}

#[tokio::test]
async fn a_cancelled_fan_out_starts_nothing_more_and_keeps_every_acknowledged_write() {
    let mut dbs = TestDatabases::sqlite();
    let tenants = names(20);
    let store = store_with_notes(&mut dbs, &tenants).await;
    let db = store.db();
    let (cancel_tx, cancel_rx) = tokio::sync::oneshot::channel::<()>();
    let cancel_tx = Mutex::new(Some(cancel_tx));
    let started = Arc::new(Mutex::new(Vec::new()));
    let starts = Arc::clone(&started);
    let report = store
        .fan_out()
        .jobs(2)
        .on_progress(move |p| {
            if p.finished == 5 {
                cancel_tx.lock().unwrap().take().map(|tx| tx.send(()));
            }
        })
        .run_until(
            |tenant| {
                let (db, starts) = (db.clone(), Arc::clone(&starts));
                async move {
                    starts.lock().unwrap().push(tenant.to_string());
                    db.execute_raw(insert(tenant.as_str())).await.map(|_| ())
                }
            },
            async {
                cancel_rx.await.ok();
            },
        )
        .await
        .expect("fan-out runs");
    assert!(report.cancelled);
    assert_eq!(report.tenants.len(), tenants.len(), "every tenant reported");
    let done: Vec<&str> = report
        .tenants
        .iter()
        .filter(|t| t.outcome.is_done())
        .map(|t| t.tenant.as_str())
        .collect();
    assert!(done.len() >= 5 && done.len() < tenants.len(), "{done:?}");
    // At most the two running when it was cancelled started after the fifth finished.
    assert!(
        started.lock().unwrap().len() <= 7,
        "{:?}",
        started.lock().unwrap()
    );
    for t in &tenants {
        let rows = bodies(&dbs, t).await;
        if done.contains(&t.as_str()) {
            assert_eq!(
                rows,
                vec![format!("from {t}")],
                "{t}: acknowledged write kept"
            );
        } else {
            assert!(rows.len() <= 1, "{t}: {rows:?}");
        }
    }
}

#[tokio::test]
async fn a_selection_runs_only_its_tenants_and_an_unknown_name_is_refused() {
    let mut dbs = TestDatabases::sqlite();
    let store = store_with_notes(&mut dbs, &names(4)).await;
    let err = store.fan_out().select(["t00", "nobody"]).unwrap_err();
    assert!(matches!(err, TenantError::Unknown(_)), "{err}");
    let err = store.fan_out().select(["../etc"]).unwrap_err();
    assert!(matches!(err, TenantError::InvalidKey(_)), "{err}");
    let report = store
        .fan_out()
        .select(["t02", "t00"])
        .unwrap()
        .run(|tenant| async move { Ok::<_, TenantError>(tenant.to_string()) })
        .await
        .unwrap();
    let mut ran: Vec<String> = report
        .tenants
        .iter()
        .map(|t| t.tenant.to_string())
        .collect();
    ran.sort();
    assert_eq!(ran, ["t00", "t02"]);
}

/// Each tenant's rows through `read_only_query`, and a write refused (or
/// rolled back) with nothing kept.
async fn read_only_sql_reads_each_tenant_and_keeps_no_write(mut dbs: TestDatabases) {
    let tenants = names(3);
    let store = store_with_notes(&mut dbs, &tenants).await;
    for t in &tenants {
        let direct = dbs.connect_direct(t).await;
        direct
            .execute_unprepared(&format!("INSERT INTO note (body) VALUES ('{t} own')"))
            .await
            .unwrap();
        direct.close().await.ok();
    }
    let db = store.db();
    let report = store
        .fan_out()
        .run(|_| {
            let db = db.clone();
            async move { read_only_query(&db, "SELECT body FROM note").await }
        })
        .await
        .unwrap();
    for t in &tenants {
        match &report.tenant(t).unwrap().outcome {
            RunOutcome::Done(rows) => {
                assert_eq!(rows.len(), 1, "{t}: {rows:?}");
                assert_eq!(rows[0]["body"], format!("{t} own"));
            }
            other => panic!("{t}: {other:?}"),
        }
    }
    let report = store
        .fan_out()
        .run(|_| {
            let db = db.clone();
            async move { read_only_query(&db, "DELETE FROM note").await }
        })
        .await
        .unwrap();
    for run in &report.tenants {
        match &run.outcome {
            RunOutcome::Failed(e) if dbs.backend() == DbBackend::Sqlite => {
                assert!(e.contains("may not write"), "{e}")
            }
            RunOutcome::Failed(e) => {
                let e = e.to_lowercase().replace('-', " ");
                assert!(e.contains("read only"), "{e}")
            }
            other => panic!("{}: {other:?}", run.tenant),
        }
    }
    for t in &tenants {
        assert_eq!(bodies(&dbs, t).await, vec![format!("{t} own")], "{t}");
    }
    store.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn read_only_sql_on_sqlite() {
    read_only_sql_reads_each_tenant_and_keeps_no_write(TestDatabases::sqlite()).await;
}

#[tokio::test]
async fn read_only_sql_on_postgres_schemas() {
    let Some(dbs) = TestDatabases::postgres_schemas() else {
        return;
    };
    read_only_sql_reads_each_tenant_and_keeps_no_write(dbs).await;
}

#[tokio::test]
async fn read_only_sql_on_mysql() {
    let Some(dbs) = TestDatabases::mysql() else {
        return;
    };
    read_only_sql_reads_each_tenant_and_keeps_no_write(dbs).await;
}

#[test]
fn read_only_error_says_what_to_do() {
    assert!(
        ReadOnlyError::Wrote(2)
            .to_string()
            .contains("may not write")
    );
}
