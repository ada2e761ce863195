//! Locking a `std` mutex without poisoning: every critical section in this
//! crate leaves its data consistent, so a panic elsewhere must not turn
//! every later lock into one.

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, ignoring poisoning.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
