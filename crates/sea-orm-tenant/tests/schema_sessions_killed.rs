//! Every session of a schema database killed (`pg_terminate_backend`) while
//! the cores are busy. In a file of its own: the threads keeping the cores
//! busy would slow the other tests of a shared test binary.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{names, note};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use sea_orm_tenant::PoolOptions;
use sea_orm_tenant::testing::TestDatabases;

const TENANTS: usize = 10;
const TASKS: usize = 24;
/// Threads spinning beside the test, more than this machine's 2 cores.
const BUSY_THREADS: usize = 3;

/// One call of task `i`: a write, a read or a delete on the current tenant.
async fn call(db: &sea_orm_tenant::TenantDb, i: usize) -> Result<(), sea_orm::DbErr> {
    match i % 3 {
        0 => note::ActiveModel {
            owner: Set("task".into()),
            body: Set(format!("call {i}")),
            ..Default::default()
        }
        .insert(db)
        .await
        .map(drop),
        1 => note::Entity::find().all(db).await.map(drop),
        _ => note::Entity::delete_many()
            .filter(note::Column::Id.eq((i % 50) as i32))
            .exec(db)
            .await
            .map(drop),
    }
}

/// 24 tasks write, read and delete on 10 schema tenants through one pool of
/// 6 with a 4 s acquire timeout, while more threads than cores spin. Every
/// session is killed: the calls on a killed session fail, the others get a
/// new session; none waits out the acquire timeout, and every tenant answers
/// again. Before the checkout kept its wait on the pool across parked
/// connections and handed finished connections to waiting calls first, 4 to
/// 14 calls of 3,000 here timed out after 4 s; and before a checkout that saw
/// room in the pool also queued for handed connections, 2 to 13 did (in 6 of
/// 11 runs): more checkouts than the room waited on the pool alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_sessions_are_replaced_on_busy_cores_without_waiting_out_the_acquire_timeout() {
    let Some(mut dbs) = TestDatabases::postgres_schemas() else {
        return;
    };
    let acquire_timeout = Duration::from_secs(4);
    let options = PoolOptions {
        max_connections: Some(6),
        acquire_timeout: Some(acquire_timeout),
        ..Default::default()
    };
    let store = common::store_with(&mut dbs, TENANTS, options).await;
    let tenants = Arc::new(names(TENANTS));
    let stop = Arc::new(AtomicBool::new(false));
    let busy: Vec<_> = (0..BUSY_THREADS)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let (done, mut results) = tokio::sync::mpsc::unbounded_channel();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (store, tenants, stop, done) =
                (store.clone(), tenants.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                let db = store.db();
                let mut i = task;
                while !stop.load(Ordering::Relaxed) {
                    i += 7;
                    let tenant = &tenants[i % TENANTS];
                    let started = Instant::now();
                    let result = store
                        .with_tenant(tenant, call(&db, i))
                        .await
                        .expect("a registered tenant");
                    let _ = done.send((tenant.clone(), started.elapsed(), result.err()));
                }
            })
        })
        .collect();
    drop(done);
    let mut next = async || results.recv().await.expect("the tasks run");
    for _ in 0..1_000 {
        let (_, _, error) = next().await;
        assert!(error.is_none(), "before the kill: {error:?}");
    }
    let admin = sea_orm::Database::connect(dbs.url("")).await.unwrap();
    admin
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await
        .unwrap();
    admin.close().await.ok();
    let (mut failed, mut slowest) = (Vec::new(), Duration::ZERO);
    let mut ok_after = std::collections::BTreeSet::new();
    for _ in 0..3_000 {
        let (tenant, took, error) = next().await;
        slowest = slowest.max(took);
        match error {
            Some(e) => failed.push((took, e.to_string())),
            None => {
                ok_after.insert(tenant);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    for thread in busy {
        thread.join().unwrap();
    }
    store.close().await;
    dbs.cleanup().await;
    eprintln!(
        "after the kill: {} calls failed, the slowest took {slowest:?}: {:?}",
        failed.len(),
        failed.iter().take(3).collect::<Vec<_>>()
    );
    let timed_out: Vec<&(Duration, String)> = failed
        .iter()
        .filter(|(_, e)| e.contains("timed out"))
        .collect();
    assert!(
        timed_out.is_empty(),
        "{} calls waited out the {acquire_timeout:?} acquire timeout: {timed_out:?}",
        timed_out.len()
    );
    assert_eq!(ok_after.len(), TENANTS, "every tenant answers again");
}
