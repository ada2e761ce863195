//! [`Park`]'s choice between checking a connection right after its call and
//! parking it unchecked, on a real SQLite pool (the park does not care which
//! server). Time is paused once the one connection is open (the park then
//! never waits on the pool), so the delayed check runs only when told.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sea_orm::sqlx::Sqlite;
use sea_orm::sqlx::pool::{PoolConnection, PoolOptions};

use super::park::{AfterCall, Arrival, CHECK_UNTAKEN_AFTER, Park, Verdict};
use super::seat::Seat;
use crate::key::TenantKey;

fn seat(name: &str) -> Seat {
    Seat::Row(TenantKey::new(name).expect("a valid key"))
}

/// An `AfterCall` counting its checks in the static `$count`, answering
/// clean on the seat.
macro_rules! counted_check {
    ($name:ident, $count:ident) => {
        static $count: AtomicUsize = AtomicUsize::new(0);
        struct $name;
        impl AfterCall<Sqlite> for $name {
            async fn check(_: &mut PoolConnection<Sqlite>, _: &Seat) -> Verdict {
                $count.fetch_add(1, Ordering::SeqCst);
                Verdict::Clean(true)
            }
        }
    };
}

async fn pool_and_park() -> (sea_orm::sqlx::Pool<Sqlite>, Arc<Park<Sqlite>>) {
    let pool = PoolOptions::<Sqlite>::new()
        .max_connections(2)
        .connect("sqlite::memory:")
        .await
        .expect("an in-memory SQLite pool");
    let park = Arc::new(Park::new(Duration::from_secs(3600), Duration::from_secs(5)));
    (pool, park)
}

/// Takes a connection for `seat` (parked, else from the pool).
async fn checkout(
    park: &Arc<Park<Sqlite>>,
    pool: &sea_orm::sqlx::Pool<Sqlite>,
    seat: &Seat,
) -> (PoolConnection<Sqlite>, Arrival) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    park.connection(pool, seat, deadline)
        .await
        .expect("a connection")
}

/// Lets the tasks `finish` spawned run to their end.
async fn settle_tasks() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

counted_check!(HotCheck, HOT_CHECKS);

#[tokio::test]
async fn one_seat_after_another_is_checked_right_after_each_call() {
    let (pool, park) = pool_and_park().await;
    let hot = seat("hot");
    for call in 0..20 {
        let (conn, arrival) = checkout(&park, &pool, &hot).await;
        if call == 0 {
            tokio::time::pause();
        }
        if call > 0 {
            assert!(
                matches!(arrival, Arrival::OnSeat),
                "call {call}: {arrival:?}"
            );
        }
        Arc::clone(&park).finish::<HotCheck>(hot.clone(), conn);
        settle_tasks().await;
        assert_eq!(
            HOT_CHECKS.load(Ordering::SeqCst),
            call + 1,
            "checked after call {call}"
        );
    }
}

counted_check!(SwitchCheck, SWITCH_CHECKS);

#[tokio::test]
async fn seats_switching_on_every_call_are_checked_by_the_move_not_after_the_call() {
    let (pool, park) = pool_and_park().await;
    let seats: Vec<Seat> = (0..40).map(|i| seat(&format!("t{i}"))).collect();
    let mut unchecked = 0;
    for (call, seat) in seats.iter().enumerate() {
        let (conn, arrival) = checkout(&park, &pool, seat).await;
        if call == 0 {
            tokio::time::pause();
        }
        match arrival {
            Arrival::Unchecked { from_seat: false } => unchecked += 1,
            Arrival::Elsewhere => {}
            other => panic!("call {call}: {other:?}"),
        }
        Arc::clone(&park).finish::<SwitchCheck>(seat.clone(), conn);
        settle_tasks().await;
    }
    // Until most checkouts had missed their seat, calls were checked after
    // they finished; from then on, the next checkout's move checks them.
    let checked_after = SWITCH_CHECKS.load(Ordering::SeqCst);
    assert!(
        checked_after < 15,
        "{checked_after} of 40 checked after the call"
    );
    // Every later call's connection arrived unchecked but the last one's.
    assert_eq!(unchecked, 40 - checked_after - 1);

    // The last call's connection, not taken, is checked once the delay is over.
    tokio::time::advance(CHECK_UNTAKEN_AFTER + Duration::from_millis(1)).await;
    settle_tasks().await;
    assert_eq!(SWITCH_CHECKS.load(Ordering::SeqCst), checked_after + 1);
    let (_, arrival) = checkout(&park, &pool, &seats[39]).await;
    assert!(matches!(arrival, Arrival::OnSeat), "{arrival:?}");
}
