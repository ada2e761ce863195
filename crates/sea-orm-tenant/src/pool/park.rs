//! The park of a shared database's pool: connections between calls, each
//! with the seat it is on, and the checkouts waiting for one, served first
//! come, first served.
//!
//! A connection is parked checked (the server reported its session clean
//! after its last call) or, while most checkouts move their connection to
//! another seat, unchecked: the next checkout checks it in the round trip
//! that moves it anyway, so a switch of tenant costs one round trip, not a
//! check and then a move. One not taken within [`CHECK_UNTAKEN_AFTER`] is
//! checked then, so what a call left (an open transaction and its locks) is
//! not kept longer.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::sqlx::pool::{Pool, PoolConnection};
use sea_orm::sqlx::{self, Database};
use tokio::sync::oneshot;

use super::seat::Seat;
use crate::lock::lock;

/// How long a connection parked unchecked waits for a checkout before it is
/// checked on its own.
pub(crate) const CHECK_UNTAKEN_AFTER: Duration = Duration::from_millis(100);

/// [`Park::on_seat_rate`] when every recent checkout found its seat: a
/// moving average over about 16 checkouts, in fixed point.
const ALL_ON_SEAT: u32 = 1 << 12;

/// Connections of one shared database, checked out of the sqlx pool (holding
/// its permits, within the pool's admitted size) until taken again, expired,
/// or given back to make room for a transaction or a close.
pub(crate) struct Park<DB: Database> {
    state: Mutex<State<DB>>,
    /// How often a checkout's connection was on its own seat (out of
    /// [`ALL_ON_SEAT`]). Above half, a check right after a call pays: the
    /// next call of that seat likely takes the connection as it is. Below,
    /// most checkouts move their connection anyway.
    on_seat_rate: AtomicU32,
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
    /// The id of the next connection parked unchecked.
    next_unchecked: u64,
}

impl<DB: Database> Default for State<DB> {
    fn default() -> Self {
        Self {
            parked: Vec::new(),
            waiters: VecDeque::new(),
            next_unchecked: 0,
        }
    }
}

struct Parked<DB: Database> {
    seat: Option<Seat>,
    conn: PoolConnection<DB>,
    since: Instant,
    /// `Some(id)`: straight from a call, its session not checked since.
    unchecked: Option<u64>,
}

impl<DB: Database> Parked<DB> {
    fn arrival(self, on_seat: bool) -> (PoolConnection<DB>, Arrival) {
        (self.conn, Arrival::of(self.unchecked.is_none(), on_seat))
    }
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

/// What a checkout found: a connection (and how it arrives), or its place
/// in the queue.
pub(crate) enum Found<DB: Database> {
    Parked(PoolConnection<DB>, Arrival),
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
            on_seat_rate: AtomicU32::new(ALL_ON_SEAT),
            closed: AtomicBool::new(false),
            begin_waiters: AtomicUsize::new(0),
            check_timeout,
        }
    }

    /// A parked connection, preferably one checked on `seat`, then one
    /// unchecked on it. With `queue`, a checkout that finds none takes a
    /// place in the queue under the same lock, so no connection parked
    /// meanwhile is missed.
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
            let on_seat = |p: &Parked<DB>| p.seat.as_ref() == Some(seat);
            let mine = parked
                .iter()
                .rposition(|p| on_seat(p) && p.unchecked.is_none())
                .or_else(|| parked.iter().rposition(on_seat))
                .map(|i| (i, true));
            // Another seat's connection: one not checked since its call
            // (its check rides on the move, and none is left to do), else the
            // least recently parked, so the next call of the tenants that
            // just parked finds theirs.
            let other = || {
                let i = parked.iter().position(|p| p.unchecked.is_some());
                i.or((!parked.is_empty()).then_some(0)).map(|i| (i, false))
            };
            let found = match mine.or_else(other) {
                Some((i, on_seat)) => {
                    let (conn, arrival) = parked.remove(i).arrival(on_seat);
                    self.count_checkout(on_seat);
                    Some(Found::Parked(conn, arrival))
                }
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

    /// Counts a checkout's connection, on its seat or not, in the rate.
    fn count_checkout(&self, on_seat: bool) {
        let _ = self
            .on_seat_rate
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |rate| {
                Some(rate - rate / 16 + if on_seat { ALL_ON_SEAT / 16 } else { 0 })
            });
    }

    fn checks_after_calls(&self) -> bool {
        self.on_seat_rate.load(Ordering::Relaxed) >= ALL_ON_SEAT / 2
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
            unchecked: None,
        });
    }

    /// After a call that completed on `seat`: its connection goes to the
    /// oldest waiting checkout, which checks it in the round trip that moves
    /// it to its own seat. With none waiting, it is checked (`C`) off the
    /// caller's path and parked where the server says it is, or closed;
    /// while most checkouts find no connection on their seat, it is parked
    /// unchecked instead, and checked after [`CHECK_UNTAKEN_AFTER`] if no
    /// checkout took it meanwhile.
    pub(crate) fn finish<C: AfterCall<DB>>(self: Arc<Self>, seat: Seat, conn: PoolConnection<DB>) {
        if !self.accepts() {
            return;
        }
        let unchecked = {
            let mut state = lock(&self.state);
            let handed = Handed {
                conn,
                seat: Some(seat.clone()),
                checked: false,
            };
            let Err(back) = hand(&mut state, handed) else {
                return;
            };
            if self.checks_after_calls() {
                Err(back.conn)
            } else {
                let id = state.next_unchecked;
                state.next_unchecked += 1;
                state.parked.push(Parked {
                    seat: back.seat,
                    conn: back.conn,
                    since: Instant::now(),
                    unchecked: Some(id),
                });
                Ok(id)
            }
        };
        tokio::spawn(async move {
            let conn = match unchecked {
                Err(conn) => conn,
                Ok(id) => {
                    tokio::time::sleep(CHECK_UNTAKEN_AFTER).await;
                    match self.take_unchecked(id) {
                        Some(conn) => conn,
                        None => return,
                    }
                }
            };
            self.check::<C>(seat, conn).await;
        });
    }

    /// The connection parked unchecked as `id`, if no checkout took it.
    fn take_unchecked(&self, id: u64) -> Option<PoolConnection<DB>> {
        let mut state = lock(&self.state);
        let i = state.parked.iter().position(|p| p.unchecked == Some(id))?;
        Some(state.parked.remove(i).conn)
    }

    /// Checks a connection a call on `seat` left and parks it, or closes it.
    async fn check<C: AfterCall<DB>>(&self, seat: Seat, mut conn: PoolConnection<DB>) {
        match tokio::time::timeout(self.check_timeout, C::check(&mut conn, &seat)).await {
            Ok(Verdict::Clean(on_seat)) => self.put(on_seat.then_some(seat), conn),
            Ok(Verdict::Close(why)) => {
                tracing::debug!(?seat, why, "closing a shared connection after a call");
                conn.close_on_drop();
            }
            Err(_) => conn.close_on_drop(),
        }
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
        if let Some(Found::Parked(conn, arrival)) = self.take(seat, false) {
            return Ok((conn, arrival));
        }
        if let Some(conn) = pool.try_acquire() {
            return Ok((conn, Arrival::Elsewhere));
        }
        let room = pool.size() < pool.options().get_max_connections();
        let mut handed = match self.take(seat, true) {
            Some(Found::Parked(conn, arrival)) => return Ok((conn, arrival)),
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
                            self.count_checkout(on_seat);
                            return Ok((h.conn, Arrival::of(h.checked, on_seat)));
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
    /// How a connection checked since its last call (or not) and on the
    /// checkout's seat (or not) arrives.
    fn of(checked: bool, on_seat: bool) -> Self {
        match (checked, on_seat) {
            (true, true) => Arrival::OnSeat,
            (true, false) => Arrival::Elsewhere,
            (false, from_seat) => Arrival::Unchecked { from_seat },
        }
    }
}
