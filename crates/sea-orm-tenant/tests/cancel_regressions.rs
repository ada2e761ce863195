//! Regressions around cancelled futures: a `begin` cancelled between `BEGIN` and its
//! reply, connections after many cancellations, open SQLite files under
//! `max_open_pools`, a cancelled pool open replaying a stale error, and
//! `remove_tenant` with a transaction still open.

mod cancel_support;
mod common;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use cancel_support::{Kind, Probe, Rng, Sampler, Server, must_return};
use common::{names, note, rows_direct, small_pools, store_with};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, Set, TransactionTrait};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{PoolOptions, TenantConfig, TenantConnections, TenantDb, TenantError};

fn new_note(owner: &str, body: impl Into<String>) -> note::ActiveModel {
    note::ActiveModel {
        owner: Set(owner.to_owned()),
        body: Set(body.into()),
        ..Default::default()
    }
}

/// Starts `db.begin()` and cancels it: strategy 0 polls it once and drops it (the
/// exact window after `BEGIN` is written and before its reply is read), the others
/// use `tokio::time::timeout` with zero or a few microseconds. Returns whether it
/// was cancelled (otherwise the transaction it returned was dropped, rolled back).
async fn cancel_begin(db: &TenantDb, attempt: usize) -> bool {
    match attempt % 3 {
        0 => {
            let mut begin = Box::pin(db.begin());
            match futures_util::poll!(begin.as_mut()) {
                Poll::Pending => true,
                Poll::Ready(txn) => {
                    drop(txn.expect("begin"));
                    false
                }
            }
        }
        k => {
            let limit = if k == 1 {
                Duration::ZERO
            } else {
                Duration::from_micros((attempt as u64 * 37) % 400)
            };
            match tokio::time::timeout(limit, db.begin()).await {
                Err(_) => true,
                Ok(txn) => {
                    drop(txn.expect("begin"));
                    false
                }
            }
        }
    }
}

/// A `begin` cancelled after `BEGIN` went out must not leave the pooled
/// connection inside a transaction: the next plain insert (pool of one) returned
/// `Ok`, so it must be committed, visible to others and still there after close.
async fn cancelled_begin_leaves_no_open_transaction(mut dbs: TestDatabases) {
    let pool = PoolOptions {
        max_connections: Some(1),
        ..Default::default()
    };
    let store = store_with(&mut dbs, 1, pool).await;
    let db = store.db();
    let server = Server::new(&dbs).await;
    let direct = dbs.connect_direct("t00").await;
    // Open the pool and its one connection, so `begin` gets it without waiting.
    store
        .with_tenant("t00", db.execute_unprepared("SELECT 1"))
        .await
        .unwrap()
        .unwrap();

    let mut written = Vec::new();
    let mut cancelled_begins = 0;
    let mut first_lost = None;
    for attempt in 0..200 {
        let body = format!("after-cancel-{attempt}");
        let cancelled = store
            .with_tenant("t00", async {
                let cancelled = cancel_begin(&db, attempt).await;
                new_note("t00", body.clone()).insert(&db).await?;
                Ok::<_, DbErr>(cancelled)
            })
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("insert after cancelled begin (attempt {attempt}): {e}"));
        written.push(body.clone());
        cancelled_begins += usize::from(cancelled);
        // An acknowledged insert is committed: another connection sees it.
        let visible = note::Entity::find()
            .all(&direct)
            .await
            .unwrap()
            .iter()
            .any(|m| m.body == body);
        if !visible {
            first_lost = Some(attempt);
            break;
        }
    }
    direct.close().await.ok();
    let open_txns = match &server {
        Some(s) => {
            s.settle(Duration::from_secs(2), Probe::OpenTransactions)
                .await
        }
        None => 0,
    };
    must_return("store.close()", store.close()).await;
    let present: HashSet<_> = rows_direct(&dbs, "t00")
        .await
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    let missing: Vec<_> = written.iter().filter(|b| !present.contains(*b)).collect();
    if let Some(s) = server {
        s.close().await;
    }
    cancel_support::cleanup(dbs).await;
    assert!(
        first_lost.is_none() && missing.is_empty() && open_txns == 0,
        "{} cancelled begins out of {} attempts; first acknowledged insert not visible to \
         another connection at attempt {first_lost:?}; sessions left in a transaction before \
         close: {open_txns}; acknowledged inserts missing after close: {missing:?}",
        cancelled_begins,
        written.len(),
    );
}

/// `remove_tenant` returns while a transaction of the tenant is still open (it
/// holds a connection, not a lease), and the tenant is gone afterwards.
async fn remove_tenant_with_open_transaction(mut dbs: TestDatabases) {
    let store = store_with(&mut dbs, 2, small_pools()).await;
    let db = store.db();
    let txn = store.with_tenant("t00", db.begin()).await.unwrap().unwrap();
    new_note("t00", "never committed")
        .insert(&txn)
        .await
        .unwrap();
    let removed = tokio::time::timeout(Duration::from_secs(30), store.remove_tenant("t00")).await;
    drop(txn);
    let Ok(removed) = removed else {
        let _ = tokio::time::timeout(Duration::from_secs(5), store.close()).await;
        cancel_support::cleanup(dbs).await;
        panic!(
            "remove_tenant did not return within 30 s while a transaction of the tenant \
             was open (hang)"
        );
    };
    removed.expect("remove_tenant");
    let err = store
        .with_tenant("t00", db.execute_unprepared("SELECT 1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TenantError::Unknown(ref t) if t.as_str() == "t00"),
        "{err:?}"
    );
    assert!(matches!(
        store.connection("t00").await,
        Err(TenantError::Unknown(_))
    ));
    // The other tenant is untouched.
    store
        .with_tenant("t01", new_note("t01", "still here").insert(&db))
        .await
        .unwrap()
        .unwrap();
    must_return("store.close()", store.close()).await;
    assert_eq!(
        rows_direct(&dbs, "t01").await,
        vec![("t01".to_owned(), "still here".to_owned())]
    );
    assert!(rows_direct(&dbs, "t00").await.is_empty());
    cancel_support::cleanup(dbs).await;
}

on_every_backend!(
    cancelled_begin_leaves_no_open_transaction,
    remove_tenant_with_open_transaction
);
on_schema_tenants!(
    cancelled_begin_leaves_no_open_transaction,
    remove_tenant_with_open_transaction
);
on_mysql_shared!(
    cancelled_begin_leaves_no_open_transaction,
    remove_tenant_with_open_transaction
);

/// MariaDB: 3 tenants, `max_open_pools = 3`, pools of 5, 2,000 operations each
/// cancelled after a random 0..3 ms, 16 at a time. The server never sees more than
/// 3 × 5 sessions of the test databases, and none after `close`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_connections_stay_bounded_under_cancellation() {
    const TENANTS: usize = 3;
    const MAX_OPEN_POOLS: usize = 3;
    const MAX_CONNECTIONS: u32 = 5;
    const BOUND: i64 = (MAX_OPEN_POOLS * MAX_CONNECTIONS as usize) as i64;
    let Some(mut dbs) = TestDatabases::mysql() else {
        return;
    };
    let tenants = names(TENANTS);
    let mut builder = TenantConnections::builder().max_open_pools(MAX_OPEN_POOLS);
    for t in &tenants {
        let url = dbs.create(t).await;
        let direct = sea_orm::Database::connect(&url).await.unwrap();
        common::create_schema(&direct).await;
        direct.close().await.unwrap();
        builder = builder.tenant_config(
            t,
            TenantConfig::new(url).with_pool(PoolOptions {
                max_connections: Some(MAX_CONNECTIONS),
                ..Default::default()
            }),
        );
    }
    let store = builder.build().unwrap();
    let server = Server::new(&dbs).await.unwrap();
    // Setup connections are gone before sampling starts.
    assert_eq!(
        server
            .settle(Duration::from_secs(10), Probe::Sessions)
            .await,
        0
    );
    let sampler = Sampler::start(&dbs, Duration::from_millis(5))
        .await
        .unwrap();

    let mut rng = Rng::new(cancel_support::seed("CANCEL_SEED", 0x5EED_0002));
    let kinds = [Kind::Insert, Kind::Commit, Kind::Stream, Kind::Closure];
    let plan = Arc::new(cancel_support::plan(
        &mut rng,
        2_000,
        &tenants,
        &kinds,
        Duration::from_millis(3),
        u64::MAX,
    ));
    let reports = cancel_support::run_plan(&store, plan.clone(), 16, Arc::new(|| {})).await;
    let during = server.sessions().await;
    eprintln!(
        "{}; sessions right after the run: {during}",
        cancel_support::summary(&plan, &reports)
    );

    // Hang detection, not timing: each gets 30 s; a hang is reported with the rest.
    let mut failures = Vec::new();
    let evicted = tokio::time::timeout(Duration::from_secs(30), store.evict_idle(Duration::ZERO))
        .await
        .ok();
    if evicted.is_none() {
        failures
            .push("store.evict_idle(Duration::ZERO) did not return within 30 s (hang)".to_owned());
    }
    if tokio::time::timeout(Duration::from_secs(30), store.close())
        .await
        .is_err()
    {
        failures.push("store.close() did not return within 30 s (hang)".to_owned());
    }
    let after_close = server
        .settle(Duration::from_secs(10), Probe::Sessions)
        .await;
    let (peak, samples) = sampler.finish().await;
    let stats = store.stats();
    let open_txns = server.open_transactions().await;
    server.close().await;
    let violations = cancel_support::verify(&dbs, &tenants, &plan, &reports).await;
    cancel_support::cleanup(dbs).await;
    eprintln!(
        "evicted {evicted:?}; peak {peak} sessions over {samples} samples; {after_close} after close; {stats:?}"
    );
    if peak > BOUND {
        failures.push(format!(
            "the server saw {peak} sessions of the test databases (bound {BOUND} = \
             {MAX_OPEN_POOLS} pools x {MAX_CONNECTIONS} connections)"
        ));
    }
    if after_close != 0 {
        failures.push(format!(
            "{after_close} session(s) of the test databases still open 10 s after close()"
        ));
    }
    if stats.open != 0 {
        failures.push(format!(
            "stats().open = {} after close ({stats:?})",
            stats.open
        ));
    }
    if open_txns != 0 {
        failures.push(format!("{open_txns} transaction(s) still open after close"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    cancel_support::assert_no_violations("rows after the run", &violations);
}

/// Distinct tenant database files (`<dir>/*.db`, not `-wal`/`-shm`) this process
/// has open now.
/// The tenant files under `dir` this process has open, from `/proc/self/fd`.
///
/// Listing the descriptors and reading where each points is not one atomic
/// step: a file closed after the listing and another opened on a reused
/// descriptor before it is read would both be counted, though never open at
/// once. So every descriptor is read twice, and a reading is kept only when
/// both passes agree (each file then open from its first reading to its
/// second, so all of them at the instant between the passes).
fn open_db_files(dir: &Path) -> HashSet<String> {
    let links = |fds: &[std::path::PathBuf]| -> Vec<Option<std::path::PathBuf>> {
        fds.iter().map(|fd| std::fs::read_link(fd).ok()).collect()
    };
    let mut pass = 0;
    loop {
        let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
            return HashSet::new();
        };
        let fds: Vec<_> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        let (first, second) = (links(&fds), links(&fds));
        pass += 1;
        // Under heavy churn, the files both passes saw at the same descriptor.
        if first == second || pass == 100 {
            return first
                .into_iter()
                .zip(second)
                .filter_map(|(a, b)| a.filter(|a| Some(a) == b.as_ref()))
                .filter(|p| p.starts_with(dir) && p.extension().is_some_and(|x| x == "db"))
                .map(|p| p.display().to_string())
                .collect();
        }
    }
}

/// 20 SQLite tenants used round robin by 8 concurrent workers: the process never
/// has more tenant files open than `max_open_pools`.
async fn sqlite_open_files_within_max_open_pools(max_open_pools: usize) {
    const TENANTS: usize = 20;
    const WORKERS: usize = 8;
    const ROUNDS: usize = 3;
    let mut dbs = TestDatabases::sqlite();
    let tenants = names(TENANTS);
    let mut builder = TenantConnections::builder().max_open_pools(max_open_pools);
    for t in &tenants {
        let url = dbs.create(t).await;
        let direct = sea_orm::Database::connect(&url).await.unwrap();
        common::create_schema(&direct).await;
        direct.close().await.unwrap();
        builder = builder.tenant_config(
            t,
            TenantConfig::new(url).with_pool(PoolOptions {
                max_connections: Some(1),
                ..Default::default()
            }),
        );
    }
    let store = builder.build().unwrap();
    let dir = dbs.dir().canonicalize().unwrap();
    assert!(open_db_files(&dir).is_empty(), "setup left files open");

    // The worst count seen after any step, and by a sampler between steps.
    let worst_step = Arc::new(Mutex::new((0usize, Vec::<String>::new())));
    let stop = Arc::new(AtomicBool::new(false));
    let sampled_peak = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (dir, stop, peak) = (dir.clone(), stop.clone(), sampled_peak.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            while !stop.load(Ordering::Acquire) {
                tick.tick().await;
                peak.fetch_max(open_db_files(&dir).len(), Ordering::Relaxed);
            }
        })
    };
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (store, tenants, dir, worst) = (
                store.clone(),
                tenants.clone(),
                dir.clone(),
                worst_step.clone(),
            );
            tokio::spawn(async move {
                let db = store.db();
                for i in (w..TENANTS * ROUNDS).step_by(WORKERS) {
                    let t = &tenants[i % TENANTS];
                    store
                        .with_tenant(t, new_note(t, format!("step-{i}")).insert(&db))
                        .await
                        .unwrap()
                        .unwrap_or_else(|e| panic!("step {i} on {t}: {e}"));
                    let open = open_db_files(&dir);
                    let mut worst = worst.lock().unwrap();
                    if open.len() > worst.0 {
                        let mut files: Vec<_> = open.into_iter().collect();
                        files.sort();
                        *worst = (files.len(), files);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    stop.store(true, Ordering::Release);
    sampler.await.unwrap();
    let stats = store.stats();
    must_return("store.close()", store.close()).await;
    let after_close = open_db_files(&dir);
    for (n, t) in tenants.iter().enumerate() {
        assert_eq!(
            rows_direct(&dbs, t).await.len(),
            (0..TENANTS * ROUNDS).filter(|i| i % TENANTS == n).count(),
            "{t}"
        );
    }
    let (worst, files) = std::mem::take(&mut *worst_step.lock().unwrap());
    let sampled = sampled_peak.load(Ordering::Relaxed);
    eprintln!(
        "max_open_pools {max_open_pools}: worst after a step {worst}, sampled peak {sampled}, {stats:?}"
    );
    assert!(
        worst <= max_open_pools && sampled <= max_open_pools,
        "max_open_pools = {max_open_pools} but {worst} tenant files were open after a step \
         ({files:?}) and {sampled} at a sample ({stats:?})"
    );
    assert!(
        after_close.is_empty(),
        "files open after close: {after_close:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_open_files_within_max_open_pools_2() {
    sqlite_open_files_within_max_open_pools(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_open_files_within_max_open_pools_4() {
    sqlite_open_files_within_max_open_pools(4).await;
}

/// A cancelled open must not make later callers replay the error of an older
/// failed attempt: the folder now exists, so the third insert succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_open_does_not_replay_a_stale_error() {
    let dbs = TestDatabases::sqlite();
    let folder = dbs.dir().join("missing");
    // A file where the folder should be: opening fails until it is replaced.
    std::fs::write(&folder, b"").unwrap();
    let url = format!("sqlite://{}/x.db?mode=rwc", folder.display());
    let store = TenantConnections::from_urls([("late", url.clone())]).unwrap();
    let db = store.db();
    let err = store
        .with_tenant("late", db.execute_unprepared("SELECT 1"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            TenantError::from_db_err(&err),
            Some(TenantError::Unavailable { .. })
        ),
        "{err}"
    );
    std::fs::remove_file(&folder).unwrap();
    std::fs::create_dir(&folder).unwrap();
    let direct = sea_orm::Database::connect(&url).await.unwrap();
    common::create_schema(&direct).await;
    direct.close().await.unwrap();

    let insert = |body: &'static str| {
        let (store, db) = (store.clone(), db.clone());
        async move {
            store
                .with_tenant("late", async { new_note("late", body).insert(&db).await })
                .await
                .unwrap()
        }
    };
    let mut first = Box::pin(insert("first"));
    let mut second = Box::pin(insert("second"));
    let mut third = Box::pin(insert("third"));
    assert!(
        futures_util::poll!(first.as_mut()).is_pending(),
        "the first open must still be in flight for this scenario"
    );
    assert!(futures_util::poll!(second.as_mut()).is_pending());
    assert!(futures_util::poll!(third.as_mut()).is_pending());
    drop(first);
    let second_once_more = futures_util::poll!(second.as_mut());
    drop(second);
    let third = must_return("the third insert", third).await;
    assert!(
        third.is_ok(),
        "the third insert failed after the folder was created: {} (the second, polled once \
         more after the first was cancelled, gave {:?})",
        third.as_ref().unwrap_err(),
        second_once_more.map(|r| r.map(|m| m.body).map_err(|e| e.to_string()))
    );
    must_return("store.close()", store.close()).await;
}
