//! A captured `TenantContext` refuses to switch tenant, like `with_tenant`
//! (the seed's rule: switching tenant in the middle of a request is an error).

mod common;

use common::{note, rows_direct, small_pools, store_with};
use futures_util::StreamExt;
use sea_orm::{ActiveModelTrait, Set};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{TenantContext, TenantError, current_tenant};

fn new_note_model(owner: &str, body: &str) -> note::ActiveModel {
    note::ActiveModel {
        owner: Set(owner.to_owned()),
        body: Set(body.to_owned()),
        ..Default::default()
    }
}

fn is_switch(err: &TenantError, current: &str, requested: &str) -> bool {
    matches!(err, TenantError::Switch { current: c, requested: r }
        if c.as_str() == current && r.as_str() == requested)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_context_cannot_switch_tenant() {
    let mut dbs = TestDatabases::sqlite();
    let store = store_with(&mut dbs, 2, small_pools()).await;
    let db = store.db();
    let ctx_a = store
        .with_tenant("t00", async { TenantContext::current().unwrap() })
        .await
        .unwrap();

    store
        .with_tenant("t01", async {
            // scope: refused, and the insert never runs.
            let err = ctx_a
                .scope(new_note_model("t00", "via scope").insert(&db))
                .await
                .map(drop)
                .unwrap_err();
            assert!(is_switch(&err, "t01", "t00"), "{err}");
            // enter: refused without calling the closure.
            let mut ran = false;
            let err = ctx_a.enter(|| ran = true).unwrap_err();
            assert!(is_switch(&err, "t01", "t00"), "{err}");
            assert!(!ran);
            // wrap (future): refused.
            let err = ctx_a
                .wrap(new_note_model("t00", "via wrap").insert(&db))
                .await
                .map(drop)
                .unwrap_err();
            assert!(is_switch(&err, "t01", "t00"), "{err}");
            // wrap (stream): one error, then the end.
            let items: Vec<_> = ctx_a
                .wrap(futures_util::stream::iter(0..3u8))
                .collect()
                .await;
            assert_eq!(items.len(), 1);
            assert!(is_switch(items[0].as_ref().unwrap_err(), "t01", "t00"));
        })
        .await
        .unwrap();

    // The same tenant, and no tenant, are fine.
    store
        .with_tenant("t00", async {
            ctx_a
                .scope(new_note_model("t00", "same tenant").insert(&db))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                ctx_a.enter(current_tenant).unwrap().unwrap().as_str(),
                "t00"
            );
        })
        .await
        .unwrap();
    ctx_a
        .scope(new_note_model("t00", "no tenant").insert(&db))
        .await
        .unwrap()
        .unwrap();

    // Read directly: tenant a holds exactly the two allowed rows, b none.
    let a = rows_direct(&dbs, "t00").await;
    assert_eq!(
        a,
        vec![
            ("t00".to_owned(), "no tenant".to_owned()),
            ("t00".to_owned(), "same tenant".to_owned()),
        ]
    );
    assert!(rows_direct(&dbs, "t01").await.is_empty());
    store.close().await;
    dbs.cleanup().await;
}

/// `into_scope` checks the switch like `scope`, and its future gives the
/// context back when it ends: with the request's lease in it, so the tenant
/// stays in use until the taken context is dropped (a streamed body's scope).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_gives_its_context_and_lease_back_when_it_ends() {
    use futures_util::FutureExt;

    let mut dbs = TestDatabases::sqlite();
    let store = store_with(&mut dbs, 2, small_pools()).await;
    let lease = store.connection("t00").await.unwrap();
    let mut scoped = std::pin::pin!(lease.into_context().into_scope(async { current_tenant() }));
    let seen = scoped.as_mut().await.unwrap();
    assert_eq!(seen.unwrap().as_str(), "t00");
    let context = scoped.as_mut().take_context().expect("given back once");
    assert!(scoped.as_mut().take_context().is_none());
    assert_eq!(context.tenant().as_str(), "t00");
    assert!(
        store.wait_idle("t00").now_or_never().is_none(),
        "the lease ended with the scope's future, not with its context"
    );
    drop(context);
    store.wait_idle("t00").await.unwrap();

    // Polled where another tenant is current: refused before running.
    let other = store.connection("t00").await.unwrap().into_context();
    let mut ran = false;
    let err = store
        .with_tenant("t01", other.into_scope(async { ran = true }))
        .await
        .unwrap()
        .unwrap_err();
    assert!(is_switch(&err, "t01", "t00"), "{err}");
    assert!(!ran);
    store.close().await;
    dbs.cleanup().await;
}

/// A lease entered directly (`TenantConnection::into_scope`, what the
/// middlewares do) serves the scope's routed calls, is kept by a context
/// captured inside after the scope has ended, and ends with the scope when
/// nothing took it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_entered_directly_serves_the_scope_and_what_it_captured() {
    use futures_util::FutureExt;

    let mut dbs = TestDatabases::sqlite();
    let store = store_with(&mut dbs, 2, small_pools()).await;
    let db = store.db();

    // Routed calls inside, then a capture that outlives the scope.
    let lease = store.connection("t00").await.unwrap();
    let captured = lease
        .into_scope(async {
            new_note_model("t00", "in the scope")
                .insert(&db)
                .await
                .unwrap();
            TenantContext::current().expect("the scope's tenant is current")
        })
        .await
        .unwrap();
    assert_eq!(captured.tenant().as_str(), "t00");
    assert!(
        store.wait_idle("t00").now_or_never().is_none(),
        "the captured context keeps the scope's lease"
    );
    captured
        .scope(new_note_model("t00", "after the scope").insert(&db))
        .await
        .unwrap()
        .unwrap();
    drop(captured);
    store.wait_idle("t00").await.unwrap();
    assert_eq!(
        rows_direct(&dbs, "t00").await,
        vec![
            ("t00".to_owned(), "after the scope".to_owned()),
            ("t00".to_owned(), "in the scope".to_owned()),
        ]
    );
    assert!(rows_direct(&dbs, "t01").await.is_empty());

    // Nothing taken: the lease ends with the scope's future, finished or not.
    let lease = store.connection("t00").await.unwrap();
    let mut scoped = Box::pin(lease.into_scope(async { current_tenant() }));
    assert_eq!(scoped.as_mut().await.unwrap().unwrap().as_str(), "t00");
    assert!(store.wait_idle("t00").now_or_never().is_none());
    drop(scoped);
    store.wait_idle("t00").await.unwrap();
    let lease = store.connection("t00").await.unwrap();
    drop(lease.into_scope(async {}));
    store.wait_idle("t00").await.unwrap();

    // Made where another tenant is current: refused before `make` runs.
    let lease = store.connection("t00").await.unwrap();
    let mut made = false;
    let err = store
        .with_tenant("t01", async {
            lease
                .into_scope_with(|| {
                    made = true;
                    async {}
                })
                .map(drop)
        })
        .await
        .unwrap()
        .unwrap_err();
    assert!(is_switch(&err, "t01", "t00"), "{err}");
    assert!(!made);
    store.wait_idle("t00").await.unwrap();
    store.close().await;
    dbs.cleanup().await;
}

/// Records the tenant current when it is dropped.
struct SeesTenantOnDrop(std::sync::Arc<std::sync::Mutex<Option<Option<String>>>>);

impl Drop for SeesTenantOnDrop {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(current_tenant().map(|t| t.as_str().to_owned()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_local_is_put_back_after_a_panic_a_drop_and_a_nested_scope() {
    use futures_util::FutureExt;
    use std::sync::{Arc, Mutex};

    let mut dbs = TestDatabases::sqlite();
    let store = store_with(&mut dbs, 2, small_pools()).await;
    let ctx_a = store
        .with_tenant("t00", async { TenantContext::current().unwrap() })
        .await
        .unwrap();

    // A poll that panics leaves no tenant behind on the thread.
    let panicked = std::panic::AssertUnwindSafe(ctx_a.scope(async {
        assert_eq!(current_tenant().unwrap().as_str(), "t00");
        panic!("inside the scope");
    }))
    .catch_unwind()
    .await;
    assert!(panicked.is_err());
    assert_eq!(
        current_tenant(),
        None,
        "a panicking poll left its tenant current"
    );

    // A scope dropped before it finished drops its future inside the tenant.
    let seen = Arc::new(Mutex::new(None));
    let guard = SeesTenantOnDrop(seen.clone());
    let pending = ctx_a.scope(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    let mut pending = Box::pin(pending);
    assert!(futures_util::poll!(pending.as_mut()).is_pending());
    assert_eq!(current_tenant(), None);
    drop(pending);
    assert_eq!(*seen.lock().unwrap(), Some(Some("t00".to_owned())));
    assert_eq!(current_tenant(), None);

    // Nested: the same tenant may be entered again, and the outer scope's
    // tenant is current again after the inner one.
    let inner_seen = store
        .with_tenant("t00", async {
            let inner = ctx_a
                .scope(async { current_tenant().map(|t| t.as_str().to_owned()) })
                .await
                .unwrap();
            (inner, current_tenant().map(|t| t.as_str().to_owned()))
        })
        .await
        .unwrap();
    assert_eq!(inner_seen, (Some("t00".into()), Some("t00".into())));

    // `into_scope_with` makes the future inside the tenant, and refuses to
    // make it under another tenant.
    let made_in = ctx_a
        .clone()
        .into_scope_with(|| {
            let at_make = current_tenant().map(|t| t.as_str().to_owned());
            async move { (at_make, current_tenant().map(|t| t.as_str().to_owned())) }
        })
        .unwrap()
        .await
        .unwrap();
    assert_eq!(made_in, (Some("t00".into()), Some("t00".into())));
    assert_eq!(current_tenant(), None);
    let refused = store
        .with_tenant("t01", async {
            let mut made = false;
            let result = ctx_a.clone().into_scope_with(|| {
                made = true;
                async {}
            });
            (result.err(), made)
        })
        .await
        .unwrap();
    assert!(refused.0.is_some_and(|e| is_switch(&e, "t01", "t00")));
    assert!(!refused.1, "the future was made under another tenant");
}

#[test]
fn a_scope_dropped_as_its_thread_exits_does_not_abort() {
    use std::cell::RefCell;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Context;

    type Parked = Pin<Box<dyn Future<Output = Result<(), TenantError>>>>;
    thread_local! {
        // Reached before the task-local on the thread below, so destroyed
        // after it: the parked scope is dropped with the task-local gone.
        static PARKED: RefCell<Vec<Parked>> = const { RefCell::new(Vec::new()) };
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut dbs = TestDatabases::sqlite();
    let (_store, ctx) = rt.block_on(async {
        let store = store_with(&mut dbs, 1, small_pools()).await;
        let ctx = store
            .with_tenant("t00", async { TenantContext::current().unwrap() })
            .await
            .unwrap();
        (store, ctx)
    });
    std::thread::spawn(move || {
        PARKED.with(|parked| parked.borrow_mut().clear());
        let mut scope: Parked = Box::pin(ctx.scope(std::future::pending::<()>()));
        let waker = futures_util::task::noop_waker();
        assert!(
            scope
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        PARKED.with(|parked| parked.borrow_mut().push(scope));
    })
    .join()
    .expect("the thread ended cleanly");
}
