//! Single-flight opening of a tenant's pool: concurrent first uses open it once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::TenantError;
use crate::lock::lock;

/// Single-flight state of one tenant's pool: concurrent first uses open it once.
///
/// A waiter shares the failure of an attempt that finished while it waited (so
/// twenty requests do not queue twenty connect timeouts), never an older one:
/// an attempt clears the previous error when it starts, and a cancelled
/// attempt leaves none, so its waiters try again themselves.
#[derive(Default)]
pub(crate) struct Opening {
    lock: tokio::sync::Mutex<()>,
    /// Attempts that ran to completion (success or failure).
    finished: AtomicU64,
    /// The failure of the last finished attempt, with its number in `finished`.
    last_error: Mutex<Option<(u64, TenantError)>>,
}

/// Held by the one task allowed to open the pool.
pub(crate) struct OpeningTurn<'a> {
    opening: &'a Opening,
    _guard: tokio::sync::MutexGuard<'a, ()>,
}

impl Opening {
    /// Waits for the turn to open. `Err` carries the failure of an attempt that
    /// started while this caller waited.
    pub(crate) async fn turn(&self) -> Result<OpeningTurn<'_>, TenantError> {
        let seen = self.finished.load(Ordering::Acquire);
        let guard = self.lock.lock().await;
        if let Some((attempt, err)) = &*lock(&self.last_error)
            && *attempt > seen
        {
            return Err(err.clone());
        }
        Ok(OpeningTurn {
            opening: self,
            _guard: guard,
        })
    }
}

impl OpeningTurn<'_> {
    /// Runs one attempt, recording its failure for the callers waiting behind it.
    pub(crate) async fn attempt<T>(
        self,
        open: impl Future<Output = Result<T, TenantError>>,
    ) -> Result<T, TenantError> {
        *lock(&self.opening.last_error) = None;
        let result = open.await;
        let attempt = self.opening.finished.fetch_add(1, Ordering::AcqRel) + 1;
        if let Err(err) = &result {
            *lock(&self.opening.last_error) = Some((attempt, err.clone()));
        }
        result
    }
}
