//! The park of a shared database's pool: connections whose sessions the
//! server reported clean after their last call, each with the seat it is
//! on, and the checkouts waiting for one, served first come, first served.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{PgPool, Postgres};
use tokio::sync::oneshot;

use super::seat::Seat;
use crate::lock::lock;

/// Connections of one shared database, checked out of the sqlx pool (holding
/// its permits, within the pool's admitted size) until taken again, expired,
/// or given back to make room for a transaction or a close.
pub(crate) struct Park {
    state: Mutex<State>,
    /// A connection parked longer is given back to the pool instead of being
    /// reused, where it gets the ping every connection idle that long gets
    /// ([`crate::pool::release_check::PING_IF_IDLE_FOR`]): a server restart then
    /// costs no failed call.
    fresh_for: Duration,
    closed: AtomicBool,
    /// `begin()` calls waiting on the pool itself: while any waits, finished
    /// calls give their connections back to the pool, which serves its
    /// waiters first come, first served.
    begin_waiters: AtomicUsize,
    /// How long the check after a call may take before the connection is
    /// closed instead.
    pub(crate) check_timeout: Duration,
}

#[derive(Default)]
struct State {
    parked: Vec<Parked>,
    /// Checkouts that found no connection, oldest first.
    waiters: VecDeque<oneshot::Sender<Handed>>,
}

struct Parked {
    seat: Option<Seat>,
    conn: PoolConnection<Postgres>,
    since: Instant,
}

/// A connection handed to a waiting checkout, with the seat it is on.
pub(crate) struct Handed {
    pub(crate) conn: PoolConnection<Postgres>,
    pub(crate) seat: Option<Seat>,
    /// `false`: straight from a call, its session not checked since: the
    /// checkout checks it (together with moving it, for another seat), so
    /// the handover costs no round trip of its own.
    pub(crate) checked: bool,
}

/// What a checkout found: a connection (and whether it is on the seat
/// asked for), or its place in the queue.
pub(crate) enum Found {
    Parked(PoolConnection<Postgres>, bool),
    Queued(oneshot::Receiver<Handed>),
}

/// Counts a `begin()` among those waiting on the pool while it lives.
pub(crate) struct BeginWaiter<'a>(&'a Park);

impl Drop for BeginWaiter<'_> {
    fn drop(&mut self) {
        self.0.begin_waiters.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Park {
    pub(crate) fn new(fresh_for: Duration, check_timeout: Duration) -> Self {
        Self {
            state: Mutex::default(),
            fresh_for,
            closed: AtomicBool::new(false),
            begin_waiters: AtomicUsize::new(0),
            check_timeout,
        }
    }

    /// A parked connection, preferably one on `seat`; `true` if it is on it.
    /// With `queue`, a checkout that finds none takes a place in the queue
    /// under the same lock, so no connection parked meanwhile is missed.
    pub(crate) fn take(&self, seat: &Seat, queue: bool) -> Option<Found> {
        let (found, expired) = {
            let mut state = lock(&self.state);
            let parked = &mut state.parked;
            let now = Instant::now();
            let keep = parked
                .iter()
                .position(|p| now.duration_since(p.since) < self.fresh_for)
                .unwrap_or(parked.len());
            let expired: Vec<Parked> = parked.drain(..keep).collect();
            // Another seat's connection: the least recently parked, so the
            // next call of the tenants that just parked finds theirs.
            let found = match parked.iter().rposition(|p| p.seat.as_ref() == Some(seat)) {
                Some(i) => Some(Found::Parked(parked.remove(i).conn, true)),
                None if !parked.is_empty() => Some(Found::Parked(parked.remove(0).conn, false)),
                None if queue && !self.closed.load(Ordering::Acquire) => {
                    let (tx, rx) = oneshot::channel();
                    state.waiters.push_back(tx);
                    Some(Found::Queued(rx))
                }
                None => None,
            };
            (found, expired)
        };
        drop(expired);
        found
    }

    /// Whether a finished call's connection may be parked: not while the pool
    /// closes, nor while a `begin()` waits on the pool (it gets it instead).
    pub(crate) fn accepts(&self) -> bool {
        !self.closed.load(Ordering::Acquire) && self.begin_waiters.load(Ordering::Acquire) == 0
    }

    /// Hands a connection the server reported clean to the oldest waiting
    /// checkout, or parks it; gives it back to the pool if the park does not
    /// accept it now.
    pub(crate) fn put(&self, seat: Option<Seat>, conn: PoolConnection<Postgres>) {
        if !self.accepts() {
            return;
        }
        let mut state = lock(&self.state);
        let handed = Handed {
            conn,
            seat,
            checked: true,
        };
        let Err(handed) = hand(&mut state, handed) else {
            return;
        };
        state.parked.push(Parked {
            seat: handed.seat,
            conn: handed.conn,
            since: Instant::now(),
        });
    }

    /// Hands the connection of a call that just finished on `seat`, its
    /// session not checked yet, to the oldest waiting checkout; gives it back
    /// if none waits (it is then checked and [`put`](Self::put)).
    pub(crate) fn hand_unchecked(
        &self,
        seat: Seat,
        conn: PoolConnection<Postgres>,
    ) -> Result<(), PoolConnection<Postgres>> {
        let mut state = lock(&self.state);
        if state.waiters.is_empty() {
            return Err(conn);
        }
        let handed = Handed {
            conn,
            seat: Some(seat),
            checked: false,
        };
        hand(&mut state, handed).map_err(|back| back.conn)
    }

    /// Counts a `begin()` as waiting on the pool and gives one parked
    /// connection back to the pool if the pool has none idle and cannot open
    /// more: a `begin()` acquires from the pool itself.
    pub(crate) fn make_room(&self, pool: &PgPool) -> BeginWaiter<'_> {
        self.begin_waiters.fetch_add(1, Ordering::AcqRel);
        let waiting = BeginWaiter(self);
        if pool.num_idle() == 0 && pool.size() >= pool.options().get_max_connections() {
            let oldest = {
                let mut state = lock(&self.state);
                (!state.parked.is_empty()).then(|| state.parked.remove(0))
            };
            drop(oldest);
        }
        waiting
    }

    /// Gives every parked connection back, parks no more, and lets waiting
    /// checkouts go to the pool: the pool is closing.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let all = std::mem::take(&mut *lock(&self.state));
        drop(all);
    }
}

/// Sends `handed` to the oldest waiting checkout still there; back if none.
fn hand(state: &mut State, mut handed: Handed) -> Result<(), Handed> {
    while let Some(waiter) = state.waiters.pop_front() {
        match waiter.send(handed) {
            Ok(()) => return Ok(()),
            // That checkout is gone (served by the pool, timed out, cancelled).
            Err(back) => handed = back,
        }
    }
    Err(handed)
}
