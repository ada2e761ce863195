//! The park of a shared database's pool: connections whose sessions the
//! server reported clean after their last call, each with the seat it is
//! on, and the checkouts waiting for one, served first come, first served.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::sqlx::pool::{Pool, PoolConnection};
use sea_orm::sqlx::{self, Database};
use tokio::sync::oneshot;

use super::seat::Seat;
use crate::lock::lock;

/// Connections of one shared database, checked out of the sqlx pool (holding
/// its permits, within the pool's admitted size) until taken again, expired,
/// or given back to make room for a transaction or a close.
pub(crate) struct Park<DB: Database> {
    state: Mutex<State<DB>>,
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

struct State<DB: Database> {
    parked: Vec<Parked<DB>>,
    /// Checkouts that found no connection, oldest first.
    waiters: VecDeque<oneshot::Sender<Handed<DB>>>,
}

impl<DB: Database> Default for State<DB> {
    fn default() -> Self {
        Self {
            parked: Vec::new(),
            waiters: VecDeque::new(),
        }
    }
}

struct Parked<DB: Database> {
    seat: Option<Seat>,
    conn: PoolConnection<DB>,
    since: Instant,
}

/// A connection handed to a waiting checkout, with the seat it is on.
pub(crate) struct Handed<DB: Database> {
    pub(crate) conn: PoolConnection<DB>,
    pub(crate) seat: Option<Seat>,
    /// `false`: straight from a call, its session not checked since: the
    /// checkout checks it (together with moving it, for another seat), so
    /// the handover costs no round trip of its own.
    pub(crate) checked: bool,
}

/// What a checkout found: a connection (and whether it is on the seat
/// asked for), or its place in the queue.
pub(crate) enum Found<DB: Database> {
    Parked(PoolConnection<DB>, bool),
    Queued(oneshot::Receiver<Handed<DB>>),
}

/// Where a finished call left its session, as its route's check found it.
pub(crate) enum Verdict {
    /// Nothing of the call is left that could reach another call: park it,
    /// on the call's seat (`true`) or not.
    Clean(bool),
    /// What the call left cannot be put back, or the check failed: close it.
    Close(String),
}

/// A route's check of a session after a call that completed on `seat`.
pub(crate) trait AfterCall<DB: Database>: 'static {
    fn check(
        conn: &mut PoolConnection<DB>,
        seat: &Seat,
    ) -> impl std::future::Future<Output = Verdict> + Send;
}

/// Counts a `begin()` among those waiting on the pool while it lives.
pub(crate) struct BeginWaiter<'a, DB: Database>(&'a Park<DB>);

impl<DB: Database> Drop for BeginWaiter<'_, DB> {
    fn drop(&mut self) {
        self.0.begin_waiters.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<DB: Database> Park<DB> {
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
    pub(crate) fn take(&self, seat: &Seat, queue: bool) -> Option<Found<DB>> {
        let (found, expired) = {
            let mut state = lock(&self.state);
            let parked = &mut state.parked;
            let now = Instant::now();
            let keep = parked
                .iter()
                .position(|p| now.duration_since(p.since) < self.fresh_for)
                .unwrap_or(parked.len());
            let expired: Vec<Parked<DB>> = parked.drain(..keep).collect();
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
    pub(crate) fn put(&self, seat: Option<Seat>, conn: PoolConnection<DB>) {
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
        conn: PoolConnection<DB>,
    ) -> Result<(), PoolConnection<DB>> {
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

    /// After a call that completed on `seat`: its connection goes to the
    /// oldest waiting checkout, which checks it in the round trip that moves
    /// it to its own seat; with none waiting, it is checked (`C`) off the
    /// caller's path and parked where the server says it is, or closed.
    pub(crate) fn finish<C: AfterCall<DB>>(self: Arc<Self>, seat: Seat, conn: PoolConnection<DB>) {
        if !self.accepts() {
            return;
        }
        let Err(mut conn) = self.hand_unchecked(seat.clone(), conn) else {
            return;
        };
        tokio::spawn(async move {
            match tokio::time::timeout(self.check_timeout, C::check(&mut conn, &seat)).await {
                Ok(Verdict::Clean(on_seat)) => self.put(on_seat.then_some(seat), conn),
                Ok(Verdict::Close(why)) => {
                    tracing::debug!(?seat, why, "closing a shared connection after a call");
                    conn.close_on_drop();
                }
                Err(_) => conn.close_on_drop(),
            }
        });
    }

    /// Counts a `begin()` as waiting on the pool and gives one parked
    /// connection back to the pool if the pool has none idle and cannot open
    /// more: a `begin()` acquires from the pool itself.
    pub(crate) fn make_room(&self, pool: &Pool<DB>) -> BeginWaiter<'_, DB> {
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

    /// A parked connection (preferably on `seat`), else one from the
    /// pool, else the first of either to come: a connection handed over by a
    /// call that finished (first come, first served among waiting checkouts),
    /// or one from the pool (a transaction's, or a new one replacing a
    /// closed connection). The wait on the pool is started once and kept: it
    /// may be opening a connection.
    pub(crate) async fn connection(
        self: &Arc<Self>,
        pool: &Pool<DB>,
        seat: &Seat,
        deadline: Instant,
    ) -> Result<(PoolConnection<DB>, Arrival), sqlx::Error> {
        let timed_out = || sqlx::Error::PoolTimedOut;
        if let Some(Found::Parked(conn, on_seat)) = self.take(seat, false) {
            return Ok((conn, Arrival::parked(on_seat)));
        }
        if let Some(conn) = pool.try_acquire() {
            return Ok((conn, Arrival::Elsewhere));
        }
        let room = pool.size() < pool.options().get_max_connections();
        let mut handed = match self.take(seat, true) {
            Some(Found::Parked(conn, on_seat)) => return Ok((conn, Arrival::parked(on_seat))),
            Some(Found::Queued(rx)) => Some(rx),
            None => None,
        };
        let acquire: Pin<Box<dyn Future<Output = _> + Send>> = if room {
            Box::pin(self.open_beside(pool, deadline))
        } else {
            Box::pin(pool.acquire())
        };
        tokio::pin!(acquire);
        let sleep = tokio::time::sleep_until(deadline.into());
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                got = async { handed.as_mut().expect("guarded").await }, if handed.is_some() => {
                    match got {
                        Ok(h) => {
                            let on_seat = h.seat.as_ref() == Some(seat);
                            let arrival = if h.checked {
                                Arrival::parked(on_seat)
                            } else {
                                Arrival::Unchecked { from_seat: on_seat }
                            };
                            return Ok((h.conn, arrival));
                        }
                        // The park closed: only the pool is left.
                        Err(_) => handed = None,
                    }
                }
                conn = &mut acquire => {
                    return conn.map(|c| (c, Arrival::Elsewhere));
                }
                _ = &mut sleep => return Err(timed_out()),
            }
        }
    }

    /// With room in the pool, a connection from it (often a new one), got by
    /// a task of its own: the checkout also waits in the queue, and when a
    /// connection is handed to it first, the open goes on rather than being
    /// dropped half-way (under load every open would be, and the pool would
    /// never grow) and its connection goes to the next waiting checkout or
    /// is parked. Without the queue, more checkouts than the room waited on
    /// the pool alone while every finished call's connection went to the
    /// park, and timed out.
    fn open_beside(
        self: &Arc<Self>,
        pool: &Pool<DB>,
        deadline: Instant,
    ) -> impl Future<Output = Result<PoolConnection<DB>, sqlx::Error>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let (park, pool) = (Arc::clone(self), pool.clone());
        tokio::spawn(async move {
            let got = match tokio::time::timeout_at(deadline.into(), pool.acquire()).await {
                Ok(got) => got,
                Err(_) => Err(sqlx::Error::PoolTimedOut),
            };
            if let Err(Ok(conn)) = tx.send(got) {
                park.put(None, conn);
            }
        });
        async move { rx.await.unwrap_or(Err(sqlx::Error::PoolTimedOut)) }
    }
}

/// Sends `handed` to the oldest waiting checkout still there; back if none.
fn hand<DB: Database>(state: &mut State<DB>, mut handed: Handed<DB>) -> Result<(), Handed<DB>> {
    while let Some(waiter) = state.waiters.pop_front() {
        match waiter.send(handed) {
            Ok(()) => return Ok(()),
            // That checkout is gone (served by the pool, timed out, cancelled).
            Err(back) => handed = back,
        }
    }
    Err(handed)
}

/// How a connection reached a checkout.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arrival {
    /// Checked after its last call, and on the seat.
    OnSeat,
    /// Checked, elsewhere (another seat, or new from the pool).
    Elsewhere,
    /// Straight from a call that finished, unchecked; on this seat before
    /// that call.
    Unchecked { from_seat: bool },
}

impl Arrival {
    pub(crate) fn parked(on_seat: bool) -> Self {
        if on_seat {
            Arrival::OnSeat
        } else {
            Arrival::Elsewhere
        }
    }
}
